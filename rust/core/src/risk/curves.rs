//! The size-scaled curves of SPEC §4–5: the collateral weight of a holding and the margin fraction of
//! an exposure, as functions of its notional `N` in whole quote units (USD).
//!
//! Contract: each curve is one IEEE-754 expression evaluated in a fixed order, with no fused
//! operations, so numpy or Python evaluating the same expression gets the same bits. Weights fall
//! and fractions rise as `N` grows. Parameters are not checked here; [`super::RiskParams::validate`]
//! requires them finite and non-negative, which keeps every result finite and non-negative for a
//! finite `N >= 0` (a fraction can still reach +inf when `factor * sqrt(N)` overflows, which the
//! rounding step reports as an overflow).

/// Numerator of Backpack's `inverseSqrt` haircut: the weight of a tiny holding before the cap.
const INVERSE_SQRT_NUMERATOR: f64 = 1.1;

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
}
