//! The engine's view of a configuration: integers and indices, validated once.
//!
//! Python's `Config` owns the human form (symbols, `Decimal`s, TOML) and its validation; this is the
//! derived form the engine runs on. It is validated again here (cheaply) so that the core never
//! trusts a caller: a malformed spec is a [`SpecError`] naming the field.

use crate::decimal::Decimal;
use crate::risk::{Fraction, Haircut};
use crate::types::BookState;

/// Spot or perpetual.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarketKind {
    Spot,
    Perp,
}

#[derive(Clone, Debug)]
pub struct AssetSpec {
    pub symbol: String,
    pub decimals: u32,
    pub haircut: Haircut,
    pub borrow_imf: Fraction,
    pub borrow_mmf: Fraction,
    /// Whether holdings count as collateral at all (weight 0 otherwise).
    pub collateral: bool,
    /// Atoms past which the pool takes no new lends nor borrows (Backpack's `openBorrowLendLimit`).
    pub open_borrow_lend_limit: Option<i64>,
}

impl AssetSpec {
    /// Atoms per whole unit, `10^decimals`.
    #[must_use]
    pub fn unit(&self) -> i64 {
        10i64.pow(self.decimals)
    }
}

#[derive(Clone, Debug)]
pub struct MarketSpec {
    pub symbol: String,
    pub kind: MarketKind,
    /// Asset indices.
    pub base: usize,
    pub quote: usize,
    pub tick_size: Decimal,
    pub step_size: Decimal,
    /// Quote atoms of one lot at one tick (exact by validation).
    pub notional_per_tick_lot: i64,
    /// Base atoms in one lot.
    pub base_atoms_per_lot: i64,
    pub min_quantity_lots: i64,
    pub max_quantity_lots: i64,
    /// Limit prices must lie within `[mark × min_multiplier, mark × max_multiplier]`.
    pub max_multiplier: f64,
    pub min_multiplier: f64,
    /// Market orders trade no further than this fraction from the best price.
    pub impact_band: f64,
    /// A derived perp mark smooths `mid − index` with an EMA of weight `2 / (span + 1)` per sample.
    pub mark_ema_span: u32,
    pub imf: Fraction,
    pub mmf: Fraction,
    /// Fee rates in units of 1e-8 (20 000 = 2 bp); negative maker fees are rebates.
    pub maker_fee_e8: i64,
    pub taker_fee_e8: i64,
    pub state: BookState,
}

#[derive(Clone, Debug)]
pub struct VenueSpec {
    pub max_subaccounts: usize,
    pub default_leverage: u32,
    pub max_leverage: u32,
    /// Interest accrues on multiples of this many milliseconds of engine time (an hour).
    pub interest_interval_ms: i64,
    /// New borrows and voluntary redemptions stop when a pool's utilization would pass this.
    pub throttle_threshold: f64,
    /// Collateral converted to pay a settlement goes at its index price times `1 − discount`.
    pub conversion_discount: f64,
    /// Whether new subaccounts start with `auto_lend` on.
    pub auto_lend: bool,
    /// Utilization that settlement borrows and redemptions may reach past the throttle.
    pub max_utilization: f64,
}

/// A whole configuration.
#[derive(Clone, Debug)]
pub struct EngineSpec {
    /// The asset perps settle in and fees are charged in (USDC).
    pub settlement_asset: usize,
    pub assets: Vec<AssetSpec>,
    pub markets: Vec<MarketSpec>,
    pub venue: VenueSpec,
}

/// A spec field that is out of range, named by its path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid engine spec: {field}: {problem}")]
pub struct SpecError {
    pub field: String,
    pub problem: String,
}

fn fail(field: impl Into<String>, problem: impl Into<String>) -> Result<(), SpecError> {
    Err(SpecError { field: field.into(), problem: problem.into() })
}

impl EngineSpec {
    /// Checks every cross-reference and range the engine relies on.
    ///
    /// # Errors
    /// The first [`SpecError`] found.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.assets.is_empty() || self.assets.len() > usize::from(u16::MAX) {
            return fail("assets", "need between 1 and 65535 assets");
        }
        if self.settlement_asset >= self.assets.len() {
            return fail("settlement_asset", "must index an asset");
        }
        for (index, asset) in self.assets.iter().enumerate() {
            if asset.decimals > 18 {
                return fail(format!("assets[{index}].decimals"), "must be 0..=18");
            }
        }
        if self.markets.len() > usize::from(u16::MAX) {
            return fail("markets", "at most 65535 markets");
        }
        for (index, market) in self.markets.iter().enumerate() {
            let field = |name: &str| format!("markets[{index}] ({}).{name}", market.symbol);
            if market.base >= self.assets.len() || market.quote >= self.assets.len() || market.base == market.quote {
                return fail(field("base/quote"), "must index two different assets");
            }
            if market.kind == MarketKind::Perp && market.quote != self.settlement_asset {
                return fail(field("quote"), "perpetuals settle in the settlement asset");
            }
            if market.notional_per_tick_lot <= 0 || market.base_atoms_per_lot <= 0 {
                return fail(field("notional_per_tick_lot"), "tick × step must be a positive whole number of atoms");
            }
            if market.min_quantity_lots < 1 || market.max_quantity_lots < market.min_quantity_lots {
                return fail(field("min_quantity_lots"), "need 1 <= min <= max");
            }
            if !(market.max_multiplier > 1.0 && market.min_multiplier > 0.0 && market.min_multiplier < 1.0) {
                return fail(field("max_multiplier"), "need max > 1 > min > 0");
            }
            if !(market.impact_band > 0.0 && market.impact_band < 1.0) {
                return fail(field("impact_band"), "must be in (0, 1)");
            }
            if !(1..=1_000_000).contains(&market.mark_ema_span) {
                return fail(field("mark_ema_span"), "must be in 1..=1000000");
            }
            if market.taker_fee_e8 < 0 || market.maker_fee_e8 < -market.taker_fee_e8 || market.taker_fee_e8 > 10_000_000
            {
                return fail(field("taker_fee_e8"), "need 0 <= taker <= 0.1 and maker >= -taker");
            }
        }
        let venue = &self.venue;
        if venue.max_subaccounts > 100 {
            return fail("venue.max_subaccounts", "at most 100");
        }
        if venue.interest_interval_ms <= 0 {
            return fail("venue.interest_interval_ms", "must be positive");
        }
        if !(0.0..1.0).contains(&venue.conversion_discount) {
            return fail("venue.conversion_discount", "must be in [0, 1)");
        }
        if !(venue.throttle_threshold <= venue.max_utilization && venue.max_utilization <= 1.0) {
            return fail("venue.max_utilization", "need throttle_threshold <= max_utilization <= 1");
        }
        if !(venue.throttle_threshold > 0.0 && venue.throttle_threshold <= 1.0) {
            return fail("venue.throttle_threshold", "must be in (0, 1]");
        }
        if !(1 <= venue.default_leverage && venue.default_leverage <= venue.max_leverage && venue.max_leverage <= 50) {
            return fail("venue.default_leverage", "need 1 <= default <= max <= 50");
        }
        Ok(())
    }
}
