//! Events: every outcome of every book operation, in the order it happened.
//!
//! A place emits `Accepted` or `Rejected`, then its `Fill`s (and `Cancelled` for resting orders
//! removed by self-trade prevention), then `Expired` for an unfilled remainder that does not rest.
//! A remainder that rests emits nothing more: it is live at `quantity − Σ fills` of its `Accepted`.
//! Events are written into an [`EventSink`] chosen by the caller, so the per-call and bulk paths
//! share one matching engine without copying.

use crate::types::{OrderId, OwnerId, Price, Qty, Side};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    /// A place passed every filter; `price`/`quantity` are the order's.
    Accepted = 0,
    /// A place, cancel or amend was refused; `reason` says why. Nothing changed.
    Rejected = 1,
    /// A trade: `order_id`/`owner`/`side` are the taker's, `maker_*` the resting order's,
    /// `price` the resting price and `quantity` the lots traded.
    Fill = 2,
    /// A resting order left the book with `quantity` lots unfilled.
    Cancelled = 3,
    /// The unfilled remainder `quantity` of an incoming order did not rest.
    Expired = 4,
    /// A resting order now has `price` and remaining `quantity`.
    Amended = 5,
}

impl EventKind {
    /// Every kind, indexed by its code (so `ALL[k as usize] == k`).
    pub const ALL: [EventKind; 6] = [
        EventKind::Accepted,
        EventKind::Rejected,
        EventKind::Fill,
        EventKind::Cancelled,
        EventKind::Expired,
        EventKind::Amended,
    ];

    /// The name Python sees.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Accepted => "Accepted",
            EventKind::Rejected => "Rejected",
            EventKind::Fill => "Fill",
            EventKind::Cancelled => "Cancelled",
            EventKind::Expired => "Expired",
            EventKind::Amended => "Amended",
        }
    }
}

/// Why a reject, expiry or cancel happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Reason {
    #[default]
    None = 0,
    /// The owner cancelled (one order or all of theirs).
    CancelledByOwner = 1,
    QuantityBelowMinimum = 2,
    QuantityAboveMaximum = 3,
    /// A limit price outside the book's price band.
    PriceBand = 4,
    /// The book is `PostOnly` and the order is not a post-only limit.
    BookPostOnly = 5,
    BookCancelOnly = 6,
    BookClosed = 7,
    /// An IOC limit's remainder.
    ImmediateOrCancel = 8,
    /// A FOK that could not fill completely at once.
    FillOrKill = 9,
    /// A post-only order that would have taken liquidity.
    PostOnlyWouldTake = 10,
    /// Self-trade prevention cancelled this order or remainder.
    SelfTradePrevention = 11,
    /// A market order reached the edge of its impact band.
    ImpactBand = 12,
    /// A market order ran out of resting liquidity (or of quote to buy one more lot).
    NoLiquidity = 13,
    /// Cancel or amend of an order that is no longer live (filled, cancelled or expired).
    OrderNotLive = 14,
    /// An amend whose new price would cross the opposite side.
    AmendWouldCross = 15,
    /// Resting the order would overflow its level's total quantity.
    QuantityOverflow = 16,
}

impl Reason {
    /// The name Python sees.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Reason::None => "None",
            Reason::CancelledByOwner => "CancelledByOwner",
            Reason::QuantityBelowMinimum => "QuantityBelowMinimum",
            Reason::QuantityAboveMaximum => "QuantityAboveMaximum",
            Reason::PriceBand => "PriceBand",
            Reason::BookPostOnly => "BookPostOnly",
            Reason::BookCancelOnly => "BookCancelOnly",
            Reason::BookClosed => "BookClosed",
            Reason::ImmediateOrCancel => "ImmediateOrCancel",
            Reason::FillOrKill => "FillOrKill",
            Reason::PostOnlyWouldTake => "PostOnlyWouldTake",
            Reason::SelfTradePrevention => "SelfTradePrevention",
            Reason::ImpactBand => "ImpactBand",
            Reason::NoLiquidity => "NoLiquidity",
            Reason::OrderNotLive => "OrderNotLive",
            Reason::AmendWouldCross => "AmendWouldCross",
            Reason::QuantityOverflow => "QuantityOverflow",
        }
    }

    /// Every reason, indexed by its code (so `ALL[r as usize] == r`).
    pub const ALL: [Reason; 17] = [
        Reason::None,
        Reason::CancelledByOwner,
        Reason::QuantityBelowMinimum,
        Reason::QuantityAboveMaximum,
        Reason::PriceBand,
        Reason::BookPostOnly,
        Reason::BookCancelOnly,
        Reason::BookClosed,
        Reason::ImmediateOrCancel,
        Reason::FillOrKill,
        Reason::PostOnlyWouldTake,
        Reason::SelfTradePrevention,
        Reason::ImpactBand,
        Reason::NoLiquidity,
        Reason::OrderNotLive,
        Reason::AmendWouldCross,
        Reason::QuantityOverflow,
    ];
}

/// One outcome. Fields that do not apply to a kind are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub reason: Reason,
    pub side: Side,
    pub order_id: OrderId,
    pub owner: OwnerId,
    pub price: Price,
    pub quantity: Qty,
    pub maker_order_id: OrderId,
    pub maker_owner: OwnerId,
}

impl Event {
    pub(crate) fn order(
        kind: EventKind,
        reason: Reason,
        side: Side,
        order_id: OrderId,
        owner: OwnerId,
        price: Price,
        quantity: Qty,
    ) -> Event {
        Event { kind, reason, side, order_id, owner, price, quantity, maker_order_id: 0, maker_owner: 0 }
    }
}

/// Where a book writes its events.
pub trait EventSink {
    /// Called before each operation of a batch with its row number.
    fn begin_operation(&mut self, _row: usize) {}
    fn push(&mut self, event: Event);
}

impl EventSink for Vec<Event> {
    #[inline]
    fn push(&mut self, event: Event) {
        Vec::push(self, event);
    }
}
