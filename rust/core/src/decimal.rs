//! Exact decimal strings ⇄ integer counts of a unit.
//!
//! Amounts cross into the engine as decimal strings (Python's `str(Decimal)`, including exponent
//! forms like `1E+3`) and become integer counts of a unit (an asset's atom, a market's tick or lot).
//! A value that is not a whole number of units is an error, never rounded: rounding is a ledger
//! decision taken where it is documented, not by the parser. Magnitudes are bounded by `i64`.

use std::fmt;

/// A decimal number `mantissa × 10^-scale` (scale may be negative for large exponents).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    pub mantissa: i128,
    pub scale: i32,
}

/// Why a decimal string could not become a count of units.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecimalError {
    #[error("{0:?} is not a decimal number")]
    Malformed(String),
    #[error("{value} is not a whole multiple of {unit}")]
    NotAMultiple { value: String, unit: String },
    #[error("{0} is out of range")]
    OutOfRange(String),
}

const MAX_DIGITS: usize = 36;

impl Decimal {
    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]`; no NaN, infinity, spaces or underscores.
    ///
    /// # Errors
    /// [`DecimalError::Malformed`] or [`DecimalError::OutOfRange`] (more than 36 digits).
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let malformed = || DecimalError::Malformed(text.to_owned());
        let (number, exponent) = match text.find(['e', 'E']) {
            Some(at) => {
                let exponent: i32 = text[at + 1..].parse().map_err(|_| malformed())?;
                (&text[..at], exponent)
            }
            None => (text, 0),
        };
        let (negative, digits) = match number.as_bytes().first() {
            Some(b'-') => (true, &number[1..]),
            Some(b'+') => (false, &number[1..]),
            _ => (false, number),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && fraction.is_empty()
            || !whole.bytes().chain(fraction.bytes()).all(|byte| byte.is_ascii_digit())
        {
            return Err(malformed());
        }
        let significant = whole.trim_start_matches('0').len() + fraction.len();
        if significant > MAX_DIGITS || exponent.unsigned_abs() > 1000 {
            return Err(DecimalError::OutOfRange(text.to_owned()));
        }
        let mut mantissa: i128 = 0;
        for byte in whole.bytes().chain(fraction.bytes()) {
            mantissa = mantissa * 10 + i128::from(byte - b'0');
        }
        let scale = i32::try_from(fraction.len()).map_err(|_| malformed())? - exponent;
        Ok(Decimal { mantissa: if negative { -mantissa } else { mantissa }, scale })
    }

    /// How many `unit`s make this value, exactly.
    ///
    /// # Errors
    /// [`DecimalError::NotAMultiple`] when it is not a whole number of units,
    /// [`DecimalError::OutOfRange`] when the count does not fit in `i64`.
    pub fn units_of(self, unit: Decimal) -> Result<i64, DecimalError> {
        let out_of_range = || DecimalError::OutOfRange(self.to_string());
        if unit.mantissa <= 0 {
            return Err(DecimalError::OutOfRange(unit.to_string()));
        }
        let common = self.scale.max(unit.scale);
        let value = rescale(self.mantissa, common - self.scale).ok_or_else(out_of_range)?;
        let step = rescale(unit.mantissa, common - unit.scale).ok_or_else(out_of_range)?;
        if value % step != 0 {
            return Err(DecimalError::NotAMultiple { value: self.to_string(), unit: unit.to_string() });
        }
        i64::try_from(value / step).map_err(|_| out_of_range())
    }

    /// `10^-decimals`: the atom of an asset with that many decimals.
    #[must_use]
    pub fn atom(decimals: u32) -> Decimal {
        Decimal { mantissa: 1, scale: i32::try_from(decimals).unwrap_or(i32::MAX) }
    }

    /// `count × unit` as a decimal.
    #[must_use]
    pub fn times(unit: Decimal, count: i64) -> Decimal {
        Decimal { mantissa: unit.mantissa * i128::from(count), scale: unit.scale }
    }

    /// The value as `f64` (for risk ratios only, never for ledger amounts).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 * 10f64.powi(-self.scale)
    }
}

/// `mantissa × 10^shift` for `shift >= 0`, checked.
fn rescale(mantissa: i128, shift: i32) -> Option<i128> {
    let shift = u32::try_from(shift).ok()?;
    10i128.checked_pow(shift).and_then(|factor| mantissa.checked_mul(factor))
}

impl fmt::Display for Decimal {
    /// Plain notation without exponent, trailing zeros trimmed (`Decimal::times(0.01, 150)` → `1.5`).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale <= 0 {
            let zeros = "0".repeat(usize::try_from(-self.scale).unwrap_or(0));
            return if self.mantissa == 0 {
                write!(formatter, "0")
            } else {
                write!(formatter, "{}{zeros}", self.mantissa)
            };
        }
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = usize::try_from(self.scale).unwrap_or(0);
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        let fraction = fraction.trim_end_matches('0');
        let sign = if self.mantissa < 0 { "-" } else { "" };
        if fraction.is_empty() {
            write!(formatter, "{sign}{whole}")
        } else {
            write!(formatter, "{sign}{whole}.{fraction}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(value: &str, unit: &str) -> Result<i64, DecimalError> {
        Decimal::parse(value)?.units_of(Decimal::parse(unit)?)
    }

    #[test]
    fn parses_plain_signed_and_exponent_forms() {
        assert_eq!(Decimal::parse("99990").unwrap(), Decimal { mantissa: 99990, scale: 0 });
        assert_eq!(Decimal::parse("-0.05").unwrap(), Decimal { mantissa: -5, scale: 2 });
        assert_eq!(Decimal::parse("1E+3").unwrap(), Decimal { mantissa: 1, scale: -3 });
        assert_eq!(Decimal::parse("2.5e-2").unwrap(), Decimal { mantissa: 25, scale: 3 });
        assert_eq!(Decimal::parse(".5").unwrap(), Decimal { mantissa: 5, scale: 1 });
    }

    #[test]
    fn rejects_what_is_not_a_finite_decimal() {
        for text in ["", "-", ".", "NaN", "inf", "1,5", " 1", "1_000", "0x10", "1e", "--1", "1.2.3"] {
            assert!(matches!(Decimal::parse(text), Err(DecimalError::Malformed(_))), "{text:?} parsed");
        }
        assert!(matches!(Decimal::parse("1e5000"), Err(DecimalError::OutOfRange(_))));
    }

    #[test]
    fn counts_units_exactly_or_refuses() {
        assert_eq!(units("99990.5", "0.1").unwrap(), 999_905);
        assert_eq!(units("0.5", "0.00001").unwrap(), 50_000);
        assert_eq!(units("10000", "0.000001").unwrap(), 10_000_000_000);
        assert_eq!(units("1E+3", "0.01").unwrap(), 100_000);
        assert_eq!(units("-2", "0.5").unwrap(), -4);
        assert!(matches!(units("0.123", "0.01"), Err(DecimalError::NotAMultiple { .. })));
        assert!(matches!(units("100000000000000000000", "0.000001"), Err(DecimalError::OutOfRange(_))));
    }

    #[test]
    fn displays_without_exponent_or_trailing_zeros() {
        assert_eq!(Decimal::times(Decimal::parse("0.01").unwrap(), 150).to_string(), "1.5");
        assert_eq!(Decimal::times(Decimal::atom(6), -2_500_000).to_string(), "-2.5");
        assert_eq!(Decimal::parse("1E+3").unwrap().to_string(), "1000");
        assert_eq!(Decimal::times(Decimal::atom(8), 1).to_string(), "0.00000001");
        assert_eq!(Decimal::times(Decimal::atom(2), 0).to_string(), "0");
    }
}
