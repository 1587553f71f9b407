//! Building blocks of the engine tests' specs (tests only): one asset, one SOL-sized market and one
//! venue, which each test module varies with struct update syntax.

use super::*;
use crate::risk::{Fraction, Haircut};

/// A collateral asset with 10% / 5% borrow IMF / MMF and no borrow/lend limit.
pub(super) fn asset(symbol: &str, decimals: u32, haircut: Haircut) -> AssetSpec {
    AssetSpec {
        symbol: symbol.to_owned(),
        decimals,
        haircut,
        borrow_imf: Fraction { base: 0.1, factor: 0.0 },
        borrow_mmf: Fraction { base: 0.05, factor: 0.0 },
        collateral: true,
        open_borrow_lend_limit: None,
    }
}

/// A market of `base` against asset 0 sized like SOL_USDC_PERP (tick 0.01, step 0.01: 100 atoms of
/// notional per tick-lot, 10^6 base atoms per lot) with the SPEC §2 functions and no fees.
pub(super) fn market(symbol: &str, kind: MarketKind, base: usize) -> MarketSpec {
    MarketSpec {
        symbol: symbol.to_owned(),
        kind,
        base,
        quote: 0,
        tick_size: Decimal::parse("0.01").expect("a decimal"),
        step_size: Decimal::parse("0.01").expect("a decimal"),
        notional_per_tick_lot: 100,
        base_atoms_per_lot: 1_000_000,
        min_quantity_lots: 1,
        max_quantity_lots: 1_000_000_000,
        max_multiplier: 2.0,
        min_multiplier: 0.5,
        impact_band: 0.05,
        mark_ema_span: 30,
        imf: Fraction { base: 0.02, factor: 0.00006 },
        mmf: Fraction { base: 0.0135, factor: 0.000036 },
        maker_fee_e8: 0,
        taker_fee_e8: 0,
        state: crate::types::BookState::Open,
    }
}

/// Ten subaccounts, leverage 10 (up to 50), hourly interest, throttle at 92%, a 0.5% conversion
/// discount.
pub(super) fn venue(auto_lend: bool) -> VenueSpec {
    VenueSpec {
        max_subaccounts: 10,
        default_leverage: 10,
        max_leverage: 50,
        interest_interval_ms: 3_600_000,
        throttle_threshold: 0.92,
        conversion_discount: 0.005,
        auto_lend,
        max_utilization: 1.0,
    }
}
