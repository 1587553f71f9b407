//! The estimated liquidation price of a position (SPEC §5): the mark of its market, in ticks, at which
//! the account's MMR reaches exactly 100% with every other price and balance held.
//!
//! Contract:
//! - The price is a real number: the account is valued exactly as [`super::account_margin`] does
//!   except that this market's terms are continuous in the mark (no rounding to atoms), so the
//!   answer is the root of `health(p) = net_equity(p) - maintenance_margin(p)`.
//! - A long loses health as the price falls, a short as it rises; the search stays on that side,
//!   where health is monotone: all prices for a short; for a long, prices below the point where the
//!   position's marginal MMF reaches 1 (beyond it, a huge enough long needs more margin than it gains
//!   in value, a second root that is no liquidation price). The root is bracketed and bisected to
//!   1e-12 relative.
//! - `None` when the position is flat, when no positive price on that side reaches 100% (a long safe
//!   at any price down to zero, a short safe until its notional overflows an `i64`, an account
//!   already beyond help on the monotone side) or when the account's margin cannot be computed.
//!
//! Cost: one margin computation and at most `MAX_BISECTIONS` evaluations of a closed-form health.

use super::{account_margin, position_terms, AccountState, Fraction, Leverage, MarketConstants, RiskParams};

/// Bisection stops when the bracket is this small relative to the price.
const RELATIVE_TOLERANCE: f64 = 1e-12;
/// Enough halvings to go from `i64::MAX` ticks to 1e-12 relative at one tick.
const MAX_BISECTIONS: u32 = 200;

/// The mark of `market` at which the account's MMR is exactly 1, if there is one on the losing side
/// of the position; see the module docs.
#[must_use]
pub fn liquidation_price(params: &RiskParams, account: &AccountState<'_>, market: usize) -> Option<f64> {
    let curve = HealthCurve::new(params, account, market)?;
    let health_at_zero = curve.health(0.0);
    if curve.long {
        if health_at_zero >= 0.0 {
            return None;
        }
        let top = curve.monotone_limit()?;
        (curve.health(top) >= 0.0).then(|| curve.bisect(top))
    } else {
        if health_at_zero <= 0.0 {
            return None;
        }
        let top = curve.overflow_limit;
        (curve.health(top) <= 0.0).then(|| curve.bisect(top))
    }
}

/// Net equity minus maintenance margin as a function of one market's mark.
#[derive(Clone, Copy, Debug)]
pub(super) struct HealthCurve {
    /// Net equity without this position's `net_qty * mark * c`.
    equity_elsewhere: f64,
    /// Maintenance margin of everything but this position.
    maintenance_elsewhere: f64,
    /// `|net_qty| * c`: quote atoms per tick of the position.
    atoms_per_tick: f64,
    long: bool,
    mmf: Fraction,
    quote_unit: f64,
    /// The mark beyond which the position's notional overflows an `i64`.
    pub(super) overflow_limit: f64,
}

impl HealthCurve {
    pub(super) fn new(params: &RiskParams, account: &AccountState<'_>, market: usize) -> Option<HealthCurve> {
        let margin = account_margin(params, account).ok()?;
        let risk = params.markets.get(market)?;
        let net_qty = account.net_qty[market];
        if net_qty == 0 {
            return None;
        }
        let quote_unit = params.quote_unit as f64;
        let constants = MarketConstants::of(risk, quote_unit);
        let leverage = Leverage::new(account.max_leverage);
        let terms = position_terms(risk, &constants, account, market, leverage, quote_unit).ok()?;
        let signed_notional = terms.unrealized_pnl + i128::from(account.net_cost[market]);
        let atoms_per_tick = i128::from(net_qty).abs() * i128::from(risk.notional_per_tick_lot);
        Some(HealthCurve {
            equity_elsewhere: (i128::from(margin.net_equity) - signed_notional) as f64,
            maintenance_elsewhere: (margin.maintenance_margin - terms.maintenance_margin) as f64,
            atoms_per_tick: atoms_per_tick as f64,
            long: net_qty > 0,
            mmf: risk.mmf,
            quote_unit,
            overflow_limit: (i64::MAX as f64 / atoms_per_tick as f64).floor(),
        })
    }

    fn position_notional(&self, mark: f64) -> f64 {
        self.atoms_per_tick * mark
    }

    fn position_maintenance(&self, mark: f64) -> f64 {
        let notional = self.position_notional(mark);
        notional * self.mmf.at(notional / self.quote_unit)
    }

    fn net_equity(&self, mark: f64) -> f64 {
        let value = self.position_notional(mark);
        self.equity_elsewhere + if self.long { value } else { -value }
    }

    pub(super) fn health(&self, mark: f64) -> f64 {
        self.net_equity(mark) - (self.maintenance_elsewhere + self.position_maintenance(mark))
    }

    /// The continuous MMR at `mark` (+inf when net equity is not positive).
    #[cfg(test)]
    pub(super) fn mmr(&self, mark: f64) -> f64 {
        let net_equity = self.net_equity(mark);
        if net_equity <= 0.0 {
            f64::INFINITY
        } else {
            (self.maintenance_elsewhere + self.position_maintenance(mark)) / net_equity
        }
    }

    /// The size of the amounts that make up health at `mark`, for error bounds.
    #[cfg(test)]
    pub(super) fn scale(&self, mark: f64) -> f64 {
        self.equity_elsewhere.abs() + self.position_notional(mark) + self.maintenance_elsewhere
    }

    /// How many times larger the amounts that make up net equity are than net equity at `mark`.
    #[cfg(test)]
    pub(super) fn cancellation(&self, mark: f64) -> f64 {
        self.scale(mark) / self.net_equity(mark).abs()
    }

    /// For a long: the highest mark up to which health rises with the price, i.e. where the
    /// derivative of `N * mmf(N)` stays below 1 (it is `base` on the flat part and `1.5 * factor *
    /// sqrt(N)` on the square-root part); `None` when it never does.
    pub(super) fn monotone_limit(&self) -> Option<f64> {
        let Fraction { base, factor } = self.mmf;
        if base >= 1.0 {
            return None;
        }
        if factor <= 0.0 {
            return Some(self.overflow_limit);
        }
        let root_notional_usd = base.max(2.0 / 3.0) / factor;
        let limit = root_notional_usd * root_notional_usd * self.quote_unit / self.atoms_per_tick;
        Some(limit.min(self.overflow_limit))
    }

    /// The root of health in `(0, top]`, given a sign change across the bracket.
    fn bisect(&self, top: f64) -> f64 {
        let rising = self.long;
        let (mut low, mut high) = (0.0_f64, top);
        for _ in 0..MAX_BISECTIONS {
            if high - low <= high * RELATIVE_TOLERANCE {
                break;
            }
            let middle = 0.5 * (low + high);
            if (self.health(middle) < 0.0) == rising {
                low = middle;
            } else {
                high = middle;
            }
        }
        0.5 * (low + high)
    }
}
