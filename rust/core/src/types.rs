//! Identifiers, units and order parameters shared by the book and everything built on it.
//!
//! Units: a [`Price`] is a count of the market's ticks, a [`Qty`] a count of its lots; both are
//! `i64` and must be positive wherever an order carries them. A quote amount (for orders sized by
//! quote) is counted in tick-lots: `price_ticks * qty_lots`, the exact notional in units of
//! `tick_size * step_size`.

/// A price, in ticks of the market.
pub type Price = i64;
/// A quantity, in lots (steps) of the market.
pub type Qty = i64;
/// An order id assigned by the book: 1, 2, 3, … in the order places were received.
pub type OrderId = u64;
/// The owner of an order, for self-trade prevention.
pub type OwnerId = u64;

/// Which side of the book an order is on (Backpack's spelling: `Bid` buys, `Ask` sells).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    Bid = 0,
    Ask = 1,
}

impl Side {
    /// The side this side trades against.
    #[must_use]
    pub fn opposite(self) -> Side {
        match self {
            Side::Bid => Side::Ask,
            Side::Ask => Side::Bid,
        }
    }

    /// Decodes the numeric code used by the bulk interface.
    #[must_use]
    pub fn from_code(code: u8) -> Option<Side> {
        match code {
            0 => Some(Side::Bid),
            1 => Some(Side::Ask),
            _ => None,
        }
    }

    /// The name as Backpack spells it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Side::Bid => "Bid",
            Side::Ask => "Ask",
        }
    }
}

/// A limit order rests at its price; a market order takes what its band allows and never rests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderType {
    Limit = 0,
    Market = 1,
}

/// How long the unfilled part of an order lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum TimeInForce {
    /// Good till cancelled: the remainder rests.
    #[default]
    Gtc = 0,
    /// Immediate or cancel: the remainder expires.
    Ioc = 1,
    /// Fill or kill: fills completely at once or does nothing.
    Fok = 2,
}

/// What happens when a taker meets a resting order of its own owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum SelfTradePrevention {
    /// The taker's remainder expires; fills before that stand.
    #[default]
    RejectTaker = 0,
    /// The resting order is cancelled and matching goes on.
    RejectMaker = 1,
    /// The resting order is cancelled and the taker's remainder expires.
    RejectBoth = 2,
    /// The two trade.
    Allow = 3,
}

/// What a book accepts (Backpack's order-book states).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum BookState {
    /// Everything.
    #[default]
    Open = 0,
    /// Only post-only limit orders, cancels and amends.
    PostOnly = 1,
    /// Only cancels.
    CancelOnly = 2,
    /// Only cancels (so owners can always take their orders off a closed book).
    Closed = 3,
}

/// One order as submitted to [`crate::OrderBook::place`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    pub side: Side,
    pub order_type: OrderType,
    /// Limit price in ticks; ignored (and conventionally 0) for market orders.
    pub price: Price,
    /// Quantity in lots, or for a market order sized by quote, the quote amount in tick-lots.
    pub quantity: Qty,
    /// When true, `quantity` is a quote amount (market orders only).
    pub quote_quantity: bool,
    pub owner: OwnerId,
    pub time_in_force: TimeInForce,
    pub post_only: bool,
    pub self_trade_prevention: SelfTradePrevention,
}

impl OrderRequest {
    /// A GTC limit order with default flags.
    #[must_use]
    pub fn limit(side: Side, price: Price, quantity: Qty, owner: OwnerId) -> Self {
        OrderRequest {
            side,
            order_type: OrderType::Limit,
            price,
            quantity,
            quote_quantity: false,
            owner,
            time_in_force: TimeInForce::Gtc,
            post_only: false,
            self_trade_prevention: SelfTradePrevention::RejectTaker,
        }
    }

    /// A market order for `quantity` lots.
    #[must_use]
    pub fn market(side: Side, quantity: Qty, owner: OwnerId) -> Self {
        OrderRequest {
            order_type: OrderType::Market,
            price: 0,
            time_in_force: TimeInForce::Ioc,
            ..OrderRequest::limit(side, 0, quantity, owner)
        }
    }

    /// Same order with another time in force.
    #[must_use]
    pub fn with_time_in_force(self, time_in_force: TimeInForce) -> Self {
        OrderRequest { time_in_force, ..self }
    }

    /// Same order with another self-trade prevention mode.
    #[must_use]
    pub fn with_stp(self, self_trade_prevention: SelfTradePrevention) -> Self {
        OrderRequest { self_trade_prevention, ..self }
    }

    /// Same order, post-only.
    #[must_use]
    pub fn post_only(self) -> Self {
        OrderRequest { post_only: true, ..self }
    }
}
