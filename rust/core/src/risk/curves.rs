//! The size-scaled curves of SPEC §4–5: the collateral weight of a holding and the margin fraction of
//! an exposure, as functions of its notional `N` in whole quote units (USD).
//!
//! Contract: each curve is one IEEE-754 expression evaluated in a fixed order, with no fused
//! operations, so numpy or Python evaluating the same expression gets the same bits. Weights fall
//! and fractions rise as `N` grows. The kernel evaluates them through `at_atoms`, which takes the
//! notional in atoms and returns the same bits as the expression at `atoms / quote_unit`, but skips
//! the division and square root on the flat part (`base`), where most positions are. A scan computes
//! where each curve's flat part ends once (`flat_end`) and passes it to `at_below`/`weight_below`,
//! which give the same bits. Parameters are not checked here; [`super::RiskParams::validate`]
//! requires them finite and non-negative, which keeps every result finite and non-negative for a
//! finite `N >= 0` (a fraction can still reach +inf when `factor * sqrt(N)` overflows, which the
//! rounding step reports as an overflow).

/// Numerator of Backpack's `inverseSqrt` haircut: the weight of a tiny holding before the cap.
const INVERSE_SQRT_NUMERATOR: f64 = 1.1;
/// How far (relative) the end of a flat part is pulled in before it is trusted: far more than the
/// few ulps by which f64 evaluation can move the square-root term, so below it the expression is
/// certain to pick `base`.
const FLAT_MARGIN: f64 = 1e-6;

/// How much of a holding's value counts as collateral.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Haircut {
    /// Weight 1 at every size (USDC).
    Identity,
    /// `min(base, 1.1 / (1 + penalty * sqrt(N)))`: `base` up to a size, then falling like `1/sqrt(N)`.
    InverseSqrt { base: f64, penalty: f64 },
}

impl Haircut {
    /// The weight of a holding worth `notional_usd` whole quote units.
    #[must_use]
    pub fn weight(&self, notional_usd: f64) -> f64 {
        match *self {
            Haircut::Identity => 1.0,
            Haircut::InverseSqrt { base, penalty } => {
                base.min(INVERSE_SQRT_NUMERATOR / (1.0 + penalty * notional_usd.sqrt()))
            }
        }
    }

    /// `self.weight(notional / quote_unit)`, bit for bit, for a notional `>= 0` in atoms.
    #[cfg(test)]
    pub(super) fn weight_at_atoms(&self, notional: i64, quote_unit: f64) -> f64 {
        self.weight_below(notional, quote_unit, self.flat_end(quote_unit))
    }

    /// Where the flat part ends, in atoms as f64: a notional below it weighs `base` (for
    /// [`Haircut::weight_below`]; computed once per scan, since it costs two divisions).
    pub(super) fn flat_end(&self, quote_unit: f64) -> f64 {
        match *self {
            Haircut::Identity => f64::INFINITY,
            Haircut::InverseSqrt { base, penalty } => {
                // 1.1 / (1 + penalty * sqrt(N)) >= base while sqrt(N) <= (1.1 / base - 1) / penalty;
                // when that room is tiny its rounding error is not, so then never take the shortcut.
                let room = INVERSE_SQRT_NUMERATOR / base - 1.0;
                if room >= FLAT_MARGIN {
                    flat_end_atoms(room / penalty, quote_unit)
                } else {
                    f64::NEG_INFINITY
                }
            }
        }
    }

    /// [`Haircut::weight_at_atoms`] given this curve's [`Haircut::flat_end`].
    #[inline]
    pub(super) fn weight_below(&self, notional: i64, quote_unit: f64, flat_end: f64) -> f64 {
        match *self {
            Haircut::Identity => 1.0,
            Haircut::InverseSqrt { base, .. } if (notional as f64) < flat_end => base,
            Haircut::InverseSqrt { .. } => self.weight(notional as f64 / quote_unit),
        }
    }
}

/// A margin fraction that grows with size: `max(base, factor * sqrt(N))` (Backpack's `sqrt` IMF/MMF).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fraction {
    pub base: f64,
    pub factor: f64,
}

impl Fraction {
    /// The fraction of an exposure worth `notional_usd` whole quote units.
    #[must_use]
    pub fn at(&self, notional_usd: f64) -> f64 {
        self.base.max(self.factor * notional_usd.sqrt())
    }

    /// `self.at(notional / quote_unit)`, bit for bit, for a notional `>= 0` in atoms.
    #[cfg(test)]
    pub(super) fn at_atoms(&self, notional: i64, quote_unit: f64) -> f64 {
        self.at_below(notional, quote_unit, self.flat_end(quote_unit))
    }

    /// Where the flat part ends, in atoms as f64: a notional below it gets `base` (for
    /// [`Fraction::at_below`]; computed once per scan, since it costs a division).
    pub(super) fn flat_end(&self, quote_unit: f64) -> f64 {
        // factor * sqrt(N) <= base while sqrt(N) <= base / factor.
        flat_end_atoms(self.base / self.factor, quote_unit)
    }

    /// [`Fraction::at_atoms`] given this curve's [`Fraction::flat_end`].
    #[inline]
    pub(super) fn at_below(&self, notional: i64, quote_unit: f64, flat_end: f64) -> f64 {
        if (notional as f64) < flat_end {
            self.base
        } else {
            self.at(notional as f64 / quote_unit)
        }
    }
}

/// Safely below `(root_usd)^2` whole quote units, in atoms, where a curve is flat. `root_usd` may be
/// +inf (flat everywhere: a zero factor or penalty), 0 or negative or NaN (`0 / 0`: never flat), all
/// of which the comparison `notional < end` handles.
fn flat_end_atoms(root_usd: f64, quote_unit: f64) -> f64 {
    let end_usd = root_usd * root_usd.abs();
    end_usd * quote_unit * (1.0 - FLAT_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const USDC: f64 = 1e6;

    #[test]
    fn the_flat_part_ends_where_the_square_root_takes_over() {
        let sol = Fraction { base: 0.02, factor: 0.00006 };
        // sqrt(N) = base / factor at N = 111,111.1 USDC.
        assert!(111_000_000_000.0 < sol.flat_end(USDC));
        assert!(111_112_000_000.0 >= sol.flat_end(USDC));
        assert_eq!(sol.at_atoms(111_000_000_000, USDC), 0.02);
        assert_eq!(sol.at_atoms(250_000_000_000, USDC).to_bits(), sol.at(250_000.0).to_bits());
        let haircut = Haircut::InverseSqrt { base: 0.95, penalty: 0.001 };
        assert_eq!(haircut.weight_at_atoms(24_930_000_000, USDC), 0.95);
        assert_eq!(haircut.weight_at_atoms(100_000_000_000, USDC).to_bits(), haircut.weight(100_000.0).to_bits());
    }

    fn bits_agree(fraction: Fraction, haircut: Haircut, notional: i64, quote_unit: f64) -> Result<(), TestCaseError> {
        let usd = notional as f64 / quote_unit;
        prop_assert_eq!(fraction.at_atoms(notional, quote_unit).to_bits(), fraction.at(usd).to_bits());
        prop_assert_eq!(haircut.weight_at_atoms(notional, quote_unit).to_bits(), haircut.weight(usd).to_bits());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        /// Skipping the square root never changes a bit: anywhere, and right at the end of the
        /// flat part, where rounding is most likely to matter.
        #[test]
        fn at_atoms_gives_the_bits_of_the_expression(
            base in prop_oneof![Just(0.0), Just(0.02), Just(1.1), Just(1.099_999_999_9), 0.0..1.5],
            factor in prop_oneof![Just(0.0), Just(5e-324), 0.0..0.01],
            notional in 0i64..(1 << 62),
            quote_unit in prop_oneof![Just(1.0), Just(USDC)],
            nudge in -1_000i64..1_000,
        ) {
            let fraction = Fraction { base, factor };
            let haircut = Haircut::InverseSqrt { base, penalty: factor };
            bits_agree(fraction, haircut, notional, quote_unit)?;
            for root in [base / factor, (INVERSE_SQRT_NUMERATOR / base - 1.0) / factor] {
                let end = root * root * quote_unit;
                if end.is_finite() && end > 0.0 && end < 9e18 {
                    bits_agree(fraction, haircut, (end as i64 + nudge).max(0), quote_unit)?;
                }
            }
        }
    }
}
