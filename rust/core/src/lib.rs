//! crossbook-core: the pure-Rust heart of crossbook.
//!
//! Contract: no Python, no clock, no randomness that is not seeded by the caller. Every amount is an
//! integer (ticks, lots, atoms); products go through `i128` with checked arithmetic, and overflow is
//! an error or a reject, never a wrap. The same sequence of operations produces the same events, bit
//! for bit.
//!
//! Modules:
//! - [`types`]: ids, sides, order parameters and the units they are counted in.
//! - [`book`]: a price-time priority order book for one market, with its events.
//! - [`exchange`]: the venue — accounts, spot and perpetual trading, pre-trade margin, audit.
//! - [`risk`]: collateral haircuts, IMF/MMF, the vectorized margin scan, liquidation prices.
//! - [`decimal`]: exact decimal strings to integer counts of a unit, and back.
//! - [`workload`]: the seeded, standard order-book workload that benchmarks run.
//! - [`baseline_book`]: the minimal array-of-levels book the book benchmark measures as its yardstick.
//! - [`journal`]: the write-ahead journal and snapshot file formats, decoder and writer.
//! - [`error`]: errors for misuse (trading outcomes are events, not errors).

pub mod baseline_book;
pub mod book;
pub mod decimal;
pub mod error;
pub mod exchange;
pub mod journal;
pub mod risk;
pub mod types;
pub mod workload;

pub use book::{Event, EventKind, EventSink, OrderBook, Reason, RestingOrder};
pub use error::BookError;
pub use types::{
    BookState, OrderId, OrderRequest, OrderType, OwnerId, Price, Qty, SelfTradePrevention, Side, TimeInForce,
};
