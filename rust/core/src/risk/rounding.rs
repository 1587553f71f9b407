//! Whole-atom results of the two products the risk kernel needs: an amount times a price ratio
//! (`amount * price / unit`, exact integers) and an amount times an f64 ratio (a weight or fraction).
//!
//! Contract for `amount * ratio`: the product is evaluated exactly from the f64 ratio (its mantissa
//! times a power of two, in `u128`) and rounded against the account — margins up, collateral down —
//! with one allowance: a ratio such as 0.02 or 0.95 is a decimal that f64 holds only to within
//! 2^-53 relative, so the exact product of `1e11` and f64 `0.02` is a hair above the
//! `2_000_000_000` the parameter means. A product within `min(x * 2^-50, 1/2)` of a whole number `k`
//! (a few ulps of the ratio) is therefore taken as `k`; otherwise the strict ceiling or floor
//! applies. So, for a product `x`, a margin lies in `[x * (1 - 2^-50), ceil(x)]` and a collateral in
//! `[floor(x), x * (1 + 2^-50)]`, never more than one atom from the strict rounding, and a whole
//! number is returned unchanged. Costs: a few f64 operations below 2^50 atoms unless the product
//! is within `x * 2^-48` of a whole number without being one, else a handful of integer
//! operations; no division.

/// The relative allowance for a ratio's representation and evaluation error, as a power of two.
const RATIO_SLACK_BITS: u32 = 50;

/// Which way a product that is not a whole number of atoms goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Toward {
    /// Up, for requirements and liabilities.
    Venue,
    /// Down, for collateral.
    Account,
}

/// `amount * ratio` in whole atoms (`amount >= 0`), rounded as the module docs say; `None` when
/// `ratio` is negative or not finite, or when the result does not fit an `i64`.
#[inline]
pub(super) fn mul_ratio(amount: i64, ratio: f64, toward: Toward) -> Option<i64> {
    // An infinite ratio makes the f64 product infinite or NaN, which `round_in_f64` declines.
    if ratio >= 0.0 {
        if let Some(rounded) = round_in_f64(amount, ratio, toward) {
            return Some(rounded);
        }
    }
    if !(ratio.is_finite() && ratio >= 0.0) {
        return None;
    }
    let (mantissa, exponent) = decompose(ratio);
    let product = u128::from(amount.unsigned_abs()) * u128::from(mantissa);
    if product == 0 {
        return Some(0);
    }
    let rounded = if exponent >= 0 {
        let shift = exponent.unsigned_abs();
        if product.leading_zeros() <= shift {
            return None;
        }
        product << shift
    } else {
        round_scaled(product, exponent.unsigned_abs(), toward)
    };
    i64::try_from(rounded).ok()
}

/// The common case in f64. Below 2^50 the f64 product is within `2^-52` relative of the exact one
/// (two roundings) and within 1/4 of it, so: an f64 product that is a whole number `k` means the
/// exact one is within its allowance of `k` (the answer is `k` either way); a fractional part
/// farther than `x * 2^-48` from both neighbours means the exact product has the same floor and is
/// beyond its allowance (the strict rounding applies). `None` otherwise.
#[inline]
fn round_in_f64(amount: i64, ratio: f64, toward: Toward) -> Option<i64> {
    const F64_FAST_BELOW: f64 = 1_125_899_906_842_624.0; // 2^50
    const CLEARANCE: f64 = 1.0 / 281_474_976_710_656.0; // 2^-48
    let product = amount as f64 * ratio;
    // NaN (an infinite ratio times zero) fails this too.
    if product.partial_cmp(&F64_FAST_BELOW) != Some(std::cmp::Ordering::Less) {
        return None;
    }
    // Signed conversions are single instructions; truncation is the floor of a non-negative number.
    let whole = product as i64;
    let fraction = product - whole as f64;
    if fraction == 0.0 {
        return Some(whole);
    }
    let clearance = product * CLEARANCE;
    if fraction <= clearance || fraction >= 1.0 - clearance {
        return None;
    }
    Some(match toward {
        Toward::Venue => whole + 1,
        Toward::Account => whole,
    })
}

/// Rounds `product / 2^shift` (with `product > 0`) to a whole number as the module docs say.
fn round_scaled(product: u128, shift: u32, toward: Toward) -> u128 {
    if shift >= u128::BITS {
        // product < 2^117, so the value is below 2^-11: no whole number is within its allowance.
        return match toward {
            Toward::Venue => 1,
            Toward::Account => 0,
        };
    }
    let whole = product >> shift;
    let remainder = product & ((1u128 << shift) - 1);
    if remainder == 0 {
        return whole;
    }
    // The allowance min(x * 2^-50, 1/2) in units of 2^-shift; comparing whole remainders against its
    // ceiling is the same as comparing the exact fractions against it.
    let relative = (product >> RATIO_SLACK_BITS) + u128::from(product & ((1u128 << RATIO_SLACK_BITS) - 1) != 0);
    let allowance = relative.min(1u128 << (shift - 1));
    match toward {
        Toward::Venue if remainder < allowance => whole,
        Toward::Venue => whole + 1,
        Toward::Account if (1u128 << shift) - remainder < allowance => whole + 1,
        Toward::Account => whole,
    }
}

/// A finite non-negative f64 as `mantissa * 2^exponent`, exactly.
fn decompose(value: f64) -> (u64, i32) {
    const FRACTION_BITS: u32 = 52;
    const EXPONENT_BIAS: i32 = 1075; // 1023 + FRACTION_BITS
    let bits = value.to_bits();
    let fraction = bits & ((1u64 << FRACTION_BITS) - 1);
    let biased = i32::try_from(bits >> FRACTION_BITS).unwrap_or(i32::MAX) & 0x7ff;
    if biased == 0 {
        (fraction, 1 - EXPONENT_BIAS)
    } else {
        (fraction | (1u64 << FRACTION_BITS), biased - EXPONENT_BIAS)
    }
}

/// `floor(amount * price / unit)` (`Toward::Account`) or its ceiling (`Toward::Venue`), exactly;
/// `None` when it does not fit an `i64`. Arguments are non-negative, `unit > 0`.
#[inline]
pub(super) fn mul_div(amount: u64, price: u64, unit: u64, toward: Toward) -> Option<i64> {
    let (quotient, remainder) = match amount.checked_mul(price) {
        // A division costs tens of cycles; callers reduce the ratio so the unit is often 1.
        Some(product) if unit == 1 => (u128::from(product), 0),
        Some(product) => (u128::from(product / unit), product % unit),
        None => {
            let product = u128::from(amount) * u128::from(price);
            let unit = u128::from(unit);
            (product / unit, u64::try_from(product % unit).ok()?)
        }
    };
    let rounded = match toward {
        Toward::Venue if remainder != 0 => quotient + 1,
        _ => quotient,
    };
    i64::try_from(rounded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_parameters_give_the_round_numbers_they_mean() {
        // f64 0.02 is a hair above the decimal, 0.0135 and 0.95 a hair below.
        assert_eq!(mul_ratio(100_000_000_000, 0.0135, Toward::Venue), Some(1_350_000_000));
        assert_eq!(mul_ratio(100_000_000_000, 0.02, Toward::Venue), Some(2_000_000_000));
        assert_eq!(mul_ratio(10_000_000_000, 0.95, Toward::Account), Some(9_500_000_000));
        assert_eq!(mul_ratio(20_000_000_000, 0.95, Toward::Account), Some(19_000_000_000));
        assert_eq!(mul_ratio(1_000_000_000_000, 0.55, Toward::Account), Some(550_000_000_000));
    }

    #[test]
    fn products_away_from_whole_numbers_round_against_the_account() {
        assert_eq!(mul_ratio(3, 0.5, Toward::Venue), Some(2));
        assert_eq!(mul_ratio(3, 0.5, Toward::Account), Some(1));
        assert_eq!(mul_ratio(10, 0.95, Toward::Venue), Some(10));
        assert_eq!(mul_ratio(10, 0.95, Toward::Account), Some(9));
        assert_eq!(mul_ratio(1, 0.000_001, Toward::Venue), Some(1));
        assert_eq!(mul_ratio(1, 0.000_001, Toward::Account), Some(0));
        assert_eq!(mul_ratio(7, 1.0, Toward::Account), Some(7));
        assert_eq!(mul_ratio(7, 1.0, Toward::Venue), Some(7));
    }

    #[test]
    fn the_allowance_is_relative_and_at_most_half_an_atom() {
        // x = 2^52 + 1/2 (allowance 4 > 1/2 is capped): a tie, which goes against the account.
        let x_twice = (1i64 << 53) + 1;
        assert_eq!(mul_ratio(x_twice, 0.5, Toward::Venue), Some((1 << 52) + 1));
        assert_eq!(mul_ratio(x_twice, 0.5, Toward::Account), Some(1 << 52));
        // x = 2^55 + 1/4: within half an atom of 2^55, so taken as it from both sides.
        let x_four_times = (1i64 << 57) + 1;
        assert_eq!(mul_ratio(x_four_times, 0.25, Toward::Venue), Some(1 << 55));
        assert_eq!(mul_ratio(x_four_times, 0.25, Toward::Account), Some(1 << 55));
        // x = 1 + 2^-52: the allowance is 2^-50 of it, so 1 from both sides.
        assert_eq!(mul_ratio(1, 1.0 + f64::EPSILON, Toward::Venue), Some(1));
        assert_eq!(mul_ratio(3, 1.0 - f64::EPSILON, Toward::Account), Some(3));
        // x = 1 + 2^-40 is beyond the allowance.
        assert_eq!(mul_ratio(1, 1.0 + 2f64.powi(-40), Toward::Venue), Some(2));
    }

    #[test]
    fn tiny_and_subnormal_ratios() {
        assert_eq!(mul_ratio(i64::MAX, f64::MIN_POSITIVE, Toward::Venue), Some(1));
        assert_eq!(mul_ratio(i64::MAX, f64::MIN_POSITIVE, Toward::Account), Some(0));
        assert_eq!(mul_ratio(5, 5e-324, Toward::Venue), Some(1));
        assert_eq!(mul_ratio(0, 0.3, Toward::Venue), Some(0));
        assert_eq!(mul_ratio(9, 0.0, Toward::Venue), Some(0));
    }

    #[test]
    fn bad_ratios_and_overflow_are_none() {
        assert_eq!(mul_ratio(1, f64::NAN, Toward::Venue), None);
        assert_eq!(mul_ratio(1, f64::INFINITY, Toward::Venue), None);
        assert_eq!(mul_ratio(1, -0.5, Toward::Venue), None);
        assert_eq!(mul_ratio(1 << 62, 2.0, Toward::Venue), None);
        assert_eq!(mul_ratio(1 << 61, 2.0, Toward::Venue), Some(1 << 62));
        assert_eq!(mul_ratio(1, 2f64.powi(70), Toward::Venue), None);
    }

    #[test]
    fn mul_div_is_exact_beyond_64_bits() {
        assert_eq!(mul_div(7, 3, 2, Toward::Account), Some(10));
        assert_eq!(mul_div(7, 3, 2, Toward::Venue), Some(11));
        assert_eq!(mul_div(6, 3, 2, Toward::Venue), Some(9));
        // 1 BTC at 100,000 USDC: 10^8 atoms * 10^11 overflows u64 before the division.
        assert_eq!(mul_div(100_000_000, 100_000_000_000, 100_000_000, Toward::Account), Some(100_000_000_000));
        assert_eq!(mul_div(100_000_001, 100_000_000_000, 100_000_000, Toward::Venue), Some(100_000_001_000));
        assert_eq!(mul_div(u64::MAX, u64::MAX, 1, Toward::Account), None);
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]

            /// With `ratio = mantissa / 2^shift` known exactly, the result is the floor or ceiling of
            /// `x = amount * ratio`, is the strict one unless `x` is within `min(x/2^50, 1/2)` of the
            /// other, and never crosses `x * (1 ∓ 2^-50)` the wrong way.
            #[test]
            fn rounding_is_strict_outside_the_allowance(
                amount in 0i64..(1 << 62),
                mantissa in (1u64 << 52)..(1u64 << 53),
                shift in 53u32..=64,
            ) {
                let ratio = mantissa as f64 / 2f64.powi(i32::try_from(shift).unwrap());
                let exact = u128::from(amount.unsigned_abs()) * u128::from(mantissa); // x = exact / 2^shift
                let floor = exact >> shift;
                let ceiling = floor + u128::from(exact % (1 << shift) != 0);
                let up = u128::try_from(mul_ratio(amount, ratio, Toward::Venue).unwrap()).unwrap();
                let down = u128::try_from(mul_ratio(amount, ratio, Toward::Account).unwrap()).unwrap();
                prop_assert!(up == floor || up == ceiling);
                prop_assert!(down == floor || down == ceiling);
                // up * 2^shift >= x * 2^shift * (1 - 2^-50), i.e. the shortfall is at most exact / 2^50.
                prop_assert!((up << shift) + (exact >> 50) + 1 >= exact);
                prop_assert!((down << shift) <= exact + (exact >> 50) + 1);
                let below = exact - (floor << shift); // distance above the floor, in 2^-shift
                let above = (ceiling << shift) - exact;
                let allowance = (exact >> 50).min(1 << (shift - 1));
                if below > allowance + 1 {
                    prop_assert_eq!(up, ceiling);
                }
                if above > allowance + 1 {
                    prop_assert_eq!(down, floor);
                }
            }
        }
    }
}
