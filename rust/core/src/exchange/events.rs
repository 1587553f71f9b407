//! Exchange events: every effect of every command, numbered and timed.
//!
//! Events carry a global sequence number (1, 2, …) and the engine time of the command that caused
//! them. Amounts are integers in the units named on each field. Trading rejects and expiries are
//! events with a [`Reject`] reason; misuse is an error and produces no event.

use crate::book::Reason as BookReason;
use crate::types::{OrderId, Side};

use super::accounts::Setting;
use super::liquidation::LiquidationStep;

/// An account (subaccount) id: dense, from 0, in order of opening.
pub type AccountId = u32;

/// Why the exchange refused or ended an order (book reasons, plus the exchange's own checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reject {
    Book(BookReason),
    /// The order would take initial margin above 100% of net equity.
    InsufficientMargin,
    /// A spot order cannot lock what it may spend.
    InsufficientBalance,
    /// A reduce-only order that would not reduce the position.
    ReduceOnlyNotReducing,
    /// The market has no mark (perps) or index (spot) price yet.
    NoPrice,
    /// The subaccount is being liquidated.
    Liquidating,
}

impl Reject {
    /// The name Python sees.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Reject::Book(reason) => reason.name(),
            Reject::InsufficientMargin => "InsufficientMargin",
            Reject::InsufficientBalance => "InsufficientBalance",
            Reject::ReduceOnlyNotReducing => "ReduceOnlyNotReducing",
            Reject::NoPrice => "NoPrice",
            Reject::Liquidating => "Liquidating",
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    Deposit {
        account: AccountId,
        asset: usize,
        amount: i64,
    },
    Withdrawal {
        account: AccountId,
        asset: usize,
        amount: i64,
    },
    Transfer {
        from: AccountId,
        to: AccountId,
        asset: usize,
        amount: i64,
    },
    Lend {
        account: AccountId,
        asset: usize,
        amount: i64,
    },
    Redeem {
        account: AccountId,
        asset: usize,
        amount: i64,
    },
    /// A borrow of `amount` atoms; `entry_fee` (interest to the next boundary) was added to the debt.
    Borrow {
        account: AccountId,
        asset: usize,
        amount: i64,
        entry_fee: i64,
    },
    Repay {
        account: AccountId,
        asset: usize,
        amount: i64,
    },
    /// Collateral sold to the venue to pay a settlement: `sold` atoms of `asset` for `raised` atoms
    /// of the settlement asset.
    Conversion {
        account: AccountId,
        asset: usize,
        sold: i64,
        raised: i64,
    },
    /// One interval of funding: `amount` settlement atoms paid (positive) or received (negative).
    FundingPaid {
        account: AccountId,
        market: usize,
        amount: i64,
    },
    /// Unrealized PnL of a position moved into the settlement asset (negative: a loss paid).
    PnlRealized {
        account: AccountId,
        market: usize,
        amount: i64,
    },
    /// One interval of interest on a pool: borrowers owe `interest` more, lenders received `lenders`.
    InterestAccrued {
        asset: usize,
        interest: i64,
        lenders: i64,
    },
    LeverageChanged {
        account: AccountId,
        max_leverage: u32,
    },
    SettingChanged {
        account: AccountId,
        setting: Setting,
        on: bool,
    },
    /// One step of a liquidation (see `liquidation`).
    Liquidation(LiquidationStep),
    IndexPrice {
        asset: usize,
        price: i64,
    },
    MarkPrice {
        market: usize,
        price: i64,
    },
    /// `price` 0 for a market order; `quantity` in lots, or 0 with `quote_quantity` in quote atoms
    /// for an order sized by quote.
    OrderAccepted {
        account: AccountId,
        market: usize,
        order_id: OrderId,
        side: Side,
        price: i64,
        quantity: i64,
        quote_quantity: i64,
    },
    OrderRejected {
        account: AccountId,
        market: usize,
        order_id: Option<OrderId>,
        side: Side,
        reason: Reject,
    },
    /// One trade. `price` in ticks, `quantity` in lots; fees and realized PnL in settlement-asset
    /// atoms (fees in the quote asset for spot).
    Fill {
        market: usize,
        price: i64,
        quantity: i64,
        taker: AccountId,
        taker_order_id: OrderId,
        taker_side: Side,
        taker_fee: i64,
        taker_realized_pnl: i64,
        maker: AccountId,
        maker_order_id: OrderId,
        maker_fee: i64,
        maker_realized_pnl: i64,
    },
    /// A resting order left the book with `quantity` lots unfilled.
    OrderCancelled {
        account: AccountId,
        market: usize,
        order_id: OrderId,
        quantity: i64,
        reason: Reject,
    },
    /// The unfilled remainder of an incoming order did not rest.
    OrderExpired {
        account: AccountId,
        market: usize,
        order_id: OrderId,
        quantity: i64,
        reason: Reject,
    },
    /// A trigger order is waiting for `trigger_price`.
    TriggerAccepted {
        account: AccountId,
        market: usize,
        trigger_id: u64,
        side: Side,
        trigger_price: i64,
    },
    /// A trigger order's price was reached; the order placement follows.
    Triggered {
        account: AccountId,
        market: usize,
        trigger_id: u64,
    },
    TriggerCancelled {
        account: AccountId,
        market: usize,
        trigger_id: u64,
    },
    /// An amend that was refused; the order is unchanged.
    AmendRejected {
        account: AccountId,
        market: usize,
        order_id: OrderId,
        reason: Reject,
    },
    /// A resting order now has `price` and `quantity` lots left (an amend, or a reduce-only order
    /// shrunk with its position).
    OrderAmended {
        account: AccountId,
        market: usize,
        order_id: OrderId,
        price: i64,
        quantity: i64,
    },
}

/// One numbered, timed event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub sequence: u64,
    pub time_ms: i64,
    pub kind: EventKind,
}
