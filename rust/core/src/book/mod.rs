//! A price-time priority order book for one market (SPEC §6).
//!
//! Contract:
//! - Orders match best price first, then earliest accepted; trades execute at the resting order's
//!   price. After every operation the book is uncrossed (best bid < best ask).
//! - Order ids are issued by the book, densely from 1, to every place (rejected ones included), so
//!   a caller that knows its operations knows their ids.
//! - Misuse (non-positive quantity or price, an id never issued, contradictory flags) is a
//!   [`BookError`] and changes nothing. Every trading outcome — filters, expiries, self-trade
//!   prevention, fills — is an [`Event`] written to the caller's [`EventSink`].
//! - Market orders are immediate (`GTC` is treated as `IOC`) and never trade beyond the impact band;
//!   limit orders outside the price band are rejected. Both bands are prices set by the caller
//!   (the exchange derives them from the mark), unbounded by default.
//! - Self-trade prevention is the taker's setting and applies when it meets a resting order of the
//!   same owner. A fill-or-kill order is checked against the book first (own orders counted as its
//!   STP mode would treat them) and then either fills completely or does nothing at all.
//! - An amend that lowers the quantity at the same price keeps its place; a new price or a larger
//!   quantity moves it to the back of its (new) level. An amend that would cross is rejected rather
//!   than traded, so amends never take liquidity.
//! - `Closed` and `CancelOnly` books accept cancels only, so owners can always take orders off.
//!
//! Layout: the two sides are `Ladder`s indexed by `Side as usize` (choosing a side is an
//! index, not a branch): a window of price levels addressed by `price - base` with an occupancy
//! bitmap (see `ladder`). Orders live in a slab of 48-byte nodes threaded into per-level FIFO lists
//! (head/tail in the level, prev/next in the node), found by id through a dense vector of slots (see
//! `store`), so cancel by id is O(1) with no hashing.
//!
//! Costs: place O(1) to rest in the dense window plus O(fills), cancel O(1) (plus a bitmap scan of
//! 64 ticks a word when the best level empties), amend as cancel + place, cancel-all O(live orders).
//! Sides too wide for the window (see `ladder`) fall back to O(log L) per level lookup.

mod batch;
mod events;
mod ladder;
mod store;

pub use batch::{flags, op, EventRecords, OperationColumns, Operations, EVENT_RECORD_FIELDS, EVENT_RECORD_SIZE};
pub use events::{Event, EventKind, EventSink, Reason};

use ladder::{key, Ladder, Level};
use store::{OrderNode, OrderStore, NIL};

use crate::error::BookError;
use crate::types::{
    BookState, OrderId, OrderRequest, OrderType, OwnerId, Price, Qty, SelfTradePrevention, Side, TimeInForce,
};

/// Parameters of a book; the defaults filter nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookParams {
    /// Smallest order quantity in lots (≥ 1).
    pub min_quantity: Qty,
    /// Largest order quantity in lots.
    pub max_quantity: Qty,
    /// Limit prices outside `[lower, upper]` are rejected.
    pub price_band: (Price, Price),
    /// Market buys trade at most at `upper`, market sells at least at `lower`.
    pub impact_band: (Price, Price),
    pub state: BookState,
}

impl Default for BookParams {
    fn default() -> Self {
        BookParams {
            min_quantity: 1,
            max_quantity: Qty::MAX,
            price_band: (1, Price::MAX),
            impact_band: (1, Price::MAX),
            state: BookState::Open,
        }
    }
}

/// Where a placed order ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderStatus {
    /// Resting, nothing filled.
    New = 0,
    /// Resting after some fills.
    PartiallyFilled = 1,
    /// Completely filled (a quote-sized order: its quote spent down to less than one lot).
    Filled = 2,
    /// The unfilled remainder did not rest (IOC, FOK, market, post-only, STP, band).
    Expired = 3,
    /// Refused by a filter before matching.
    Rejected = 4,
}

impl OrderStatus {
    /// The name Python sees (Backpack's `OrderStatusEnum` plus `Rejected`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::New => "New",
            OrderStatus::PartiallyFilled => "PartiallyFilled",
            OrderStatus::Filled => "Filled",
            OrderStatus::Expired => "Expired",
            OrderStatus::Rejected => "Rejected",
        }
    }
}

/// The summary of one place; the details are in the events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaceOutcome {
    pub order_id: OrderId,
    pub status: OrderStatus,
    /// Lots filled.
    pub filled: Qty,
    /// What was not filled: lots (or, for a quote-sized order, unspent quote in tick-lots),
    /// whether it rests, expired or was rejected.
    pub remaining: Qty,
    /// Why it was rejected or expired (`Reason::None` otherwise).
    pub reason: Reason,
}

/// A live order as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    pub order_id: OrderId,
    pub owner: OwnerId,
    pub side: Side,
    pub price: Price,
    /// Remaining quantity in lots.
    pub quantity: Qty,
}

/// Why matching stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Complete,
    BeyondLimit,
    OppositeEmpty,
    SelfTrade,
    BudgetExhausted,
}

/// A price-time priority order book; see the module docs for its contract.
#[derive(Clone, Debug)]
pub struct OrderBook {
    /// Indexed by `Side as usize` (bids, then asks), so choosing a side is an index, not a branch.
    ladders: [Ladder; 2],
    store: OrderStore,
    params: BookParams,
}

impl Default for OrderBook {
    fn default() -> Self {
        OrderBook {
            ladders: [Ladder::new(Side::Bid), Ladder::new(Side::Ask)],
            store: OrderStore::new(),
            params: BookParams::default(),
        }
    }
}

impl OrderBook {
    /// An empty book with validated parameters.
    ///
    /// # Errors
    /// [`BookError::InvalidParameter`] naming the bad parameter.
    pub fn new(params: BookParams) -> Result<Self, BookError> {
        let mut book = OrderBook::default();
        book.set_quantity_limits(params.min_quantity, params.max_quantity)?;
        book.set_price_band(params.price_band.0, params.price_band.1)?;
        book.set_impact_band(params.impact_band.0, params.impact_band.1)?;
        book.params.state = params.state;
        Ok(book)
    }

    #[must_use]
    pub fn params(&self) -> &BookParams {
        &self.params
    }

    pub fn set_state(&mut self, state: BookState) {
        self.params.state = state;
    }

    /// # Errors
    /// Unless `1 <= min_quantity <= max_quantity`.
    pub fn set_quantity_limits(&mut self, min_quantity: Qty, max_quantity: Qty) -> Result<(), BookError> {
        if min_quantity < 1 || max_quantity < min_quantity {
            return Err(BookError::InvalidParameter(format!(
                "quantity limits need 1 <= min_quantity <= max_quantity, got {min_quantity} and {max_quantity}"
            )));
        }
        self.params.min_quantity = min_quantity;
        self.params.max_quantity = max_quantity;
        Ok(())
    }

    /// # Errors
    /// Unless `1 <= lower <= upper`.
    pub fn set_price_band(&mut self, lower: Price, upper: Price) -> Result<(), BookError> {
        self.params.price_band = checked_band("price_band", lower, upper)?;
        Ok(())
    }

    /// # Errors
    /// Unless `1 <= lower <= upper`.
    pub fn set_impact_band(&mut self, lower: Price, upper: Price) -> Result<(), BookError> {
        self.params.impact_band = checked_band("impact_band", lower, upper)?;
        Ok(())
    }

    /// Number of live (resting) orders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.store.live_count()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id the next place will receive.
    #[must_use]
    pub fn next_order_id(&self) -> OrderId {
        self.store.next_id()
    }

    /// Best price and its total quantity.
    #[must_use]
    pub fn best(&self, side: Side) -> Option<(Price, Qty)> {
        self.ladder(side).best().map(|level| (level.price, level.total))
    }

    /// Up to `levels` (price, total quantity) pairs, best first.
    #[must_use]
    pub fn depth(&self, side: Side, levels: usize) -> Vec<(Price, Qty)> {
        self.ladder(side).iter().take(levels).map(|level| (level.price, level.total)).collect()
    }

    /// A live order.
    #[must_use]
    pub fn order(&self, order_id: OrderId) -> Option<RestingOrder> {
        self.store.slot_of(order_id).map(|slot| self.resting(slot))
    }

    /// The ids queued at one price, first in line first.
    #[must_use]
    pub fn queue(&self, side: Side, price: Price) -> Vec<OrderId> {
        let ladder = self.ladder(side);
        let Some(handle) = ladder.handle(price) else { return Vec::new() };
        let mut ids = Vec::new();
        let mut slot = ladder.at(handle).head;
        while slot != NIL {
            let node = &self.store.nodes[slot as usize];
            ids.push(node.id);
            slot = node.next;
        }
        ids
    }

    /// Every live order, by id.
    #[must_use]
    pub fn orders(&self) -> Vec<RestingOrder> {
        let mut all: Vec<RestingOrder> = self
            .ladders
            .iter()
            .flat_map(Ladder::iter)
            .flat_map(|level| QueueIter { nodes: &self.store.nodes, slot: level.head })
            .map(|slot| self.resting(slot))
            .collect();
        all.sort_unstable_by_key(|order| order.order_id);
        all
    }

    /// Places an order; see the module docs for what happens.
    ///
    /// # Errors
    /// Misuse only (see [`BookError`]); nothing changes and no id is issued.
    pub fn place<S: EventSink>(&mut self, request: &OrderRequest, sink: &mut S) -> Result<PlaceOutcome, BookError> {
        check_request(request)?;
        Ok(self.place_checked(request, sink))
    }

    /// [`OrderBook::place`] of a request that passed `check_request` (the batch path validates
    /// its rows up front).
    #[inline]
    fn place_checked<S: EventSink>(&mut self, request: &OrderRequest, sink: &mut S) -> PlaceOutcome {
        let order_id = self.store.issue_id();
        let outcome = |status, filled, remaining, reason| PlaceOutcome { order_id, status, filled, remaining, reason };
        let order_event = |kind, reason, quantity| {
            Event::order(kind, reason, request.side, order_id, request.owner, request.price, quantity)
        };
        if let Some(reason) = self.filter(request) {
            sink.push(order_event(EventKind::Rejected, reason, request.quantity));
            return outcome(OrderStatus::Rejected, 0, request.quantity, reason);
        }
        sink.push(order_event(EventKind::Accepted, Reason::None, request.quantity));

        let limit = match (request.order_type, request.side) {
            (OrderType::Limit, _) => request.price,
            (OrderType::Market, Side::Bid) => self.params.impact_band.1,
            (OrderType::Market, Side::Ask) => self.params.impact_band.0,
        };
        let expire = |sink: &mut S, reason, filled, remaining| {
            sink.push(order_event(EventKind::Expired, reason, remaining));
            outcome(OrderStatus::Expired, filled, remaining, reason)
        };
        if request.post_only && self.crosses(request.side, limit) {
            return expire(sink, Reason::PostOnlyWouldTake, 0, request.quantity);
        }
        if request.time_in_force == TimeInForce::Fok
            && !self.can_fill_completely(
                request.side,
                request.quantity,
                request.owner,
                request.self_trade_prevention,
                limit,
            )
        {
            return expire(sink, Reason::FillOrKill, 0, request.quantity);
        }

        // Most limit orders do not cross: one look at the opposite best level, and the matching
        // loop (with what it keeps in registers) is skipped.
        let (filled, remaining, stop) = match self.first_stop(request.side, limit) {
            Some(stop) => (0, request.quantity, stop),
            None => self.take(order_id, request, limit, sink),
        };
        let reason = match (stop, request.order_type) {
            (Stop::BudgetExhausted, _) if filled == 0 => Reason::NoLiquidity,
            (Stop::Complete | Stop::BudgetExhausted, _) => {
                return outcome(OrderStatus::Filled, filled, remaining, Reason::None);
            }
            (Stop::SelfTrade, _) => Reason::SelfTradePrevention,
            (Stop::BeyondLimit, OrderType::Market) => Reason::ImpactBand,
            (Stop::OppositeEmpty, OrderType::Market) => Reason::NoLiquidity,
            (_, OrderType::Limit) => match request.time_in_force {
                TimeInForce::Gtc => {
                    if self.rest(order_id, request.side, request.price, remaining, request.owner) {
                        let status = if filled == 0 { OrderStatus::New } else { OrderStatus::PartiallyFilled };
                        return outcome(status, filled, remaining, Reason::None);
                    }
                    Reason::QuantityOverflow
                }
                TimeInForce::Ioc => Reason::ImmediateOrCancel,
                TimeInForce::Fok => unreachable!("a fill-or-kill order passed its check and must fill completely"),
            },
        };
        expire(sink, reason, filled, remaining)
    }

    /// Cancels a live order.
    ///
    /// # Errors
    /// [`BookError::UnknownOrder`] for an id this book never issued. An id that was issued but is no
    /// longer live is a `Rejected` event with [`Reason::OrderNotLive`] (a normal race in trading).
    pub fn cancel<S: EventSink>(&mut self, order_id: OrderId, sink: &mut S) -> Result<(), BookError> {
        self.check_issued(order_id)?;
        self.cancel_issued(order_id, sink);
        Ok(())
    }

    /// [`OrderBook::cancel`] of an id known to be issued.
    #[inline(always)]
    fn cancel_issued<S: EventSink>(&mut self, order_id: OrderId, sink: &mut S) {
        let Some(slot) = self.store.slot_of(order_id) else {
            sink.push(not_live(order_id));
            return;
        };
        let order = self.resting(slot);
        self.detach(slot);
        sink.push(Event::order(
            EventKind::Cancelled,
            Reason::CancelledByOwner,
            order.side,
            order_id,
            order.owner,
            order.price,
            order.quantity,
        ));
    }

    /// Cancels every live order of `owner`, in id order; returns how many.
    pub fn cancel_all<S: EventSink>(&mut self, owner: OwnerId, sink: &mut S) -> usize {
        let mine: Vec<OrderId> =
            self.orders().into_iter().filter(|order| order.owner == owner).map(|order| order.order_id).collect();
        for &order_id in &mine {
            self.cancel(order_id, sink).expect("a live order's id was issued");
        }
        mine.len()
    }

    /// Changes a live order's price and/or remaining quantity (see the module docs for priority).
    ///
    /// # Errors
    /// Misuse: an id never issued, neither field given, a non-positive price or quantity.
    pub fn amend<S: EventSink>(
        &mut self,
        order_id: OrderId,
        new_price: Option<Price>,
        new_quantity: Option<Qty>,
        sink: &mut S,
    ) -> Result<(), BookError> {
        self.check_issued(order_id)?;
        check_amend(new_price, new_quantity)?;
        let Some(slot) = self.store.slot_of(order_id) else {
            sink.push(not_live(order_id));
            return Ok(());
        };
        let order = self.resting(slot);
        let price = new_price.unwrap_or(order.price);
        let quantity = new_quantity.unwrap_or(order.quantity);
        let reject = |sink: &mut S, reason| {
            sink.push(Event::order(EventKind::Rejected, reason, order.side, order_id, order.owner, price, quantity));
            Ok(())
        };
        if let Some(reason) = self.state_refuses_amend() {
            return reject(sink, reason);
        }
        if let Some(reason) = self.quantity_filter(quantity).or_else(|| self.price_filter(price)) {
            return reject(sink, reason);
        }
        if price != order.price && self.crosses(order.side, price) {
            return reject(sink, Reason::AmendWouldCross);
        }
        let ladder = self.ladder(order.side);
        let level_total = ladder.handle(price).map_or(0, |handle| ladder.at(handle).total);
        let others_at_level = if price == order.price { level_total - order.quantity } else { level_total };
        if others_at_level.checked_add(quantity).is_none() {
            return reject(sink, Reason::QuantityOverflow);
        }

        if price == order.price && quantity <= order.quantity {
            let handle = self.ladder(order.side).handle(price).expect("a live order's level exists");
            self.ladder_mut(order.side).at_mut(handle).total -= order.quantity - quantity;
            self.store.nodes[slot as usize].quantity = quantity;
        } else {
            self.unlink(slot);
            let node = &mut self.store.nodes[slot as usize];
            node.price = price;
            node.quantity = quantity;
            self.link_at_back(slot);
        }
        sink.push(Event::order(EventKind::Amended, Reason::None, order.side, order_id, order.owner, price, quantity));
        Ok(())
    }

    /// Checks every internal invariant (O(orders)); for tests and debugging.
    ///
    /// # Errors
    /// A description of the first broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut live = 0;
        for ladder in &self.ladders {
            let levels: Vec<&Level> = ladder.iter().collect();
            for pair in levels.windows(2) {
                if key(ladder.side, pair[0].price) <= key(ladder.side, pair[1].price) {
                    return Err(format!("{:?} levels out of order at {}", ladder.side, pair[1].price));
                }
            }
            if levels.len() != ladder.len() {
                return Err(format!("{:?} counts {} levels but walks {}", ladder.side, ladder.len(), levels.len()));
            }
            for level in levels {
                let mut total = 0;
                let mut previous = NIL;
                for slot in (QueueIter { nodes: &self.store.nodes, slot: level.head }) {
                    let node = &self.store.nodes[slot as usize];
                    if node.prev != previous || node.price != level.price || node.side != ladder.side {
                        return Err(format!("order {} is mislinked at level {}", node.id, level.price));
                    }
                    if node.quantity <= 0 || self.store.slot_of(node.id) != Some(slot) {
                        return Err(format!("order {} has quantity {} or a stale index", node.id, node.quantity));
                    }
                    total += node.quantity;
                    previous = slot;
                    live += 1;
                }
                if level.head == NIL || level.tail != previous || level.total != total {
                    return Err(format!(
                        "level {} total {} != {} or empty or bad tail",
                        level.price, level.total, total
                    ));
                }
            }
        }
        if live != self.store.live_count() {
            return Err(format!("{live} orders linked, {} counted live", self.store.live_count()));
        }
        if let (Some((bid, _)), Some((ask, _))) = (self.best(Side::Bid), self.best(Side::Ask)) {
            if bid >= ask {
                return Err(format!("book crossed: bid {bid} >= ask {ask}"));
            }
        }
        Ok(())
    }

    #[inline]
    fn ladder(&self, side: Side) -> &Ladder {
        &self.ladders[side as usize]
    }

    #[inline]
    fn ladder_mut(&mut self, side: Side) -> &mut Ladder {
        &mut self.ladders[side as usize]
    }

    fn resting(&self, slot: u32) -> RestingOrder {
        let node = &self.store.nodes[slot as usize];
        RestingOrder {
            order_id: node.id,
            owner: node.owner,
            side: node.side,
            price: node.price,
            quantity: node.quantity,
        }
    }

    fn check_issued(&self, order_id: OrderId) -> Result<(), BookError> {
        let next = self.store.next_id();
        if order_id == 0 || order_id >= next {
            return Err(BookError::UnknownOrder(order_id, next));
        }
        Ok(())
    }

    fn filter(&self, request: &OrderRequest) -> Option<Reason> {
        // An open book (the usual case) is one test, not a jump through the four states.
        if self.params.state != BookState::Open {
            let is_post_only_limit = request.post_only && request.order_type == OrderType::Limit;
            match self.params.state {
                BookState::Open => {}
                BookState::PostOnly if is_post_only_limit => {}
                BookState::PostOnly => return Some(Reason::BookPostOnly),
                BookState::CancelOnly => return Some(Reason::BookCancelOnly),
                BookState::Closed => return Some(Reason::BookClosed),
            }
        }
        if !request.quote_quantity {
            if let Some(reason) = self.quantity_filter(request.quantity) {
                return Some(reason);
            }
        }
        if request.order_type == OrderType::Limit {
            return self.price_filter(request.price);
        }
        None
    }

    fn state_refuses_amend(&self) -> Option<Reason> {
        match self.params.state {
            BookState::Open | BookState::PostOnly => None,
            BookState::CancelOnly => Some(Reason::BookCancelOnly),
            BookState::Closed => Some(Reason::BookClosed),
        }
    }

    fn quantity_filter(&self, quantity: Qty) -> Option<Reason> {
        if quantity < self.params.min_quantity {
            Some(Reason::QuantityBelowMinimum)
        } else if quantity > self.params.max_quantity {
            Some(Reason::QuantityAboveMaximum)
        } else {
            None
        }
    }

    fn price_filter(&self, price: Price) -> Option<Reason> {
        let (lower, upper) = self.params.price_band;
        (price < lower || price > upper).then_some(Reason::PriceBand)
    }

    /// Would an order on `side` limited at `limit` trade with the best opposite level?
    fn crosses(&self, side: Side, limit: Price) -> bool {
        let opposite = side.opposite();
        self.ladder(opposite).best().is_some_and(|level| key(opposite, level.price) >= key(opposite, limit))
    }

    /// Whether a fill-or-kill quantity order would fill completely; mirrors [`OrderBook::take`].
    /// Takes the fields it needs rather than the request: a reference would make every caller
    /// keep its request in memory.
    fn can_fill_completely(
        &self,
        side: Side,
        quantity: Qty,
        owner: OwnerId,
        self_trade_prevention: SelfTradePrevention,
        limit: Price,
    ) -> bool {
        let opposite = side.opposite();
        let limit_key = key(opposite, limit);
        let mut needed = quantity;
        for level in self.ladder(opposite).iter() {
            if key(opposite, level.price) < limit_key {
                break;
            }
            for slot in (QueueIter { nodes: &self.store.nodes, slot: level.head }) {
                let maker = &self.store.nodes[slot as usize];
                if maker.owner == owner {
                    match self_trade_prevention {
                        SelfTradePrevention::Allow => {}
                        SelfTradePrevention::RejectMaker => continue,
                        SelfTradePrevention::RejectTaker | SelfTradePrevention::RejectBoth => return false,
                    }
                }
                needed -= needed.min(maker.quantity);
                if needed == 0 {
                    return true;
                }
            }
        }
        false
    }

    /// Why [`OrderBook::take`] would stop before its first trade on the opposite side of `side`:
    /// that side is empty or its best level is beyond `limit` (None: the order crosses).
    #[inline(always)]
    fn first_stop(&self, side: Side, limit: Price) -> Option<Stop> {
        let opposite = side.opposite();
        match self.ladder(opposite).best() {
            None => Some(Stop::OppositeEmpty),
            Some(level) if key(opposite, level.price) < key(opposite, limit) => Some(Stop::BeyondLimit),
            Some(_) => None,
        }
    }

    /// Matches an incoming order against the opposite side; returns (lots filled, remaining, why
    /// it stopped). `remaining` is lots, or unspent quote for a quote-sized order.
    fn take<S: EventSink>(
        &mut self,
        taker_id: OrderId,
        request: &OrderRequest,
        limit: Price,
        sink: &mut S,
    ) -> (Qty, Qty, Stop) {
        let opposite = request.side.opposite();
        let limit_key = key(opposite, limit);
        let stp = request.self_trade_prevention;
        let OrderBook { ladders, store, .. } = self;
        let ladder = &mut ladders[opposite as usize];
        let mut remaining = request.quantity;
        let mut filled = 0;
        loop {
            if remaining == 0 {
                return (filled, 0, Stop::Complete);
            }
            let Some(handle) = ladder.best_handle() else {
                return (filled, remaining, Stop::OppositeEmpty);
            };
            let level = ladder.at_mut(handle);
            if key(opposite, level.price) < limit_key {
                return (filled, remaining, Stop::BeyondLimit);
            }
            let price = level.price;
            let mut stop = None;
            while level.head != NIL && remaining > 0 {
                let slot = level.head;
                let wanted = if request.quote_quantity { remaining / price } else { remaining };
                if wanted == 0 {
                    stop = Some(Stop::BudgetExhausted);
                    break;
                }
                let maker = &mut store.nodes[slot as usize];
                if maker.owner == request.owner && stp != SelfTradePrevention::Allow {
                    if stp == SelfTradePrevention::RejectTaker {
                        stop = Some(Stop::SelfTrade);
                        break;
                    }
                    sink.push(Event::order(
                        EventKind::Cancelled,
                        Reason::SelfTradePrevention,
                        opposite,
                        maker.id,
                        maker.owner,
                        price,
                        maker.quantity,
                    ));
                    pop_head(&mut store.nodes, level);
                    store.remove(slot);
                    if stp == SelfTradePrevention::RejectBoth {
                        stop = Some(Stop::SelfTrade);
                        break;
                    }
                    continue;
                }
                let quantity = wanted.min(maker.quantity);
                sink.push(Event {
                    kind: EventKind::Fill,
                    reason: Reason::None,
                    side: request.side,
                    order_id: taker_id,
                    owner: request.owner,
                    price,
                    quantity,
                    maker_order_id: maker.id,
                    maker_owner: maker.owner,
                });
                maker.quantity -= quantity;
                level.total -= quantity;
                filled += quantity;
                remaining -= if request.quote_quantity { quantity * price } else { quantity };
                if maker.quantity == 0 {
                    pop_head(&mut store.nodes, level);
                    store.remove(slot);
                }
            }
            if level.head == NIL {
                ladder.remove(handle);
            }
            if let Some(stop) = stop {
                return (filled, remaining, stop);
            }
        }
    }

    /// Appends a new resting order at the back of its level; false (and nothing changed) if the
    /// level's total would overflow. One level lookup.
    #[inline(always)]
    fn rest(&mut self, order_id: OrderId, side: Side, price: Price, quantity: Qty, owner: OwnerId) -> bool {
        let OrderBook { ladders, store, .. } = self;
        let ladder = &mut ladders[side as usize];
        let handle = match ladder.handle(price) {
            Some(handle) if ladder.at(handle).total.checked_add(quantity).is_none() => return false,
            Some(handle) => handle,
            None => ladder.insert(price),
        };
        let slot = store.insert(OrderNode { id: order_id, owner, price, quantity, prev: NIL, next: NIL, side });
        append(&mut store.nodes, ladder.at_mut(handle), slot);
        true
    }

    /// Links a stored order at the back of the level at its price (creating the level).
    fn link_at_back(&mut self, slot: u32) {
        let OrderBook { ladders, store, .. } = self;
        let node = &store.nodes[slot as usize];
        let (price, side) = (node.price, node.side);
        let ladder = &mut ladders[side as usize];
        let handle = match ladder.handle(price) {
            Some(handle) => handle,
            None => ladder.insert(price),
        };
        append(&mut store.nodes, ladder.at_mut(handle), slot);
    }

    /// Takes a live order out of its level (dropping the level if it empties); it stays stored.
    #[inline(always)]
    fn unlink(&mut self, slot: u32) {
        let OrderBook { ladders, store, .. } = self;
        let node = &store.nodes[slot as usize];
        let ladder = &mut ladders[node.side as usize];
        let handle = ladder.handle(node.price).expect("a live order's level exists");
        let level = ladder.at_mut(handle);
        let (prev, next, quantity) = (node.prev, node.next, node.quantity);
        if prev == NIL {
            level.head = next;
        } else {
            store.nodes[prev as usize].next = next;
        }
        if next == NIL {
            level.tail = prev;
        } else {
            store.nodes[next as usize].prev = prev;
        }
        level.total -= quantity;
        if level.head == NIL {
            ladder.remove(handle);
        }
    }

    /// Takes a live order out of its level and the store.
    #[inline(always)]
    fn detach(&mut self, slot: u32) {
        self.unlink(slot);
        self.store.remove(slot);
    }
}

/// Links the stored order at `slot` at the back of `level`, adding its quantity to the total.
#[inline]
fn append(nodes: &mut [OrderNode], level: &mut Level, slot: u32) {
    let tail = level.tail;
    if tail == NIL {
        level.head = slot;
    } else {
        nodes[tail as usize].next = slot;
    }
    level.tail = slot;
    let node = &mut nodes[slot as usize];
    level.total += node.quantity;
    node.prev = tail;
    node.next = NIL;
}

/// Unlinks the first order of a level, taking its remaining quantity off the level's total.
#[inline]
fn pop_head(nodes: &mut [OrderNode], level: &mut Level) {
    let head = &nodes[level.head as usize];
    let (next, quantity) = (head.next, head.quantity);
    level.total -= quantity;
    level.head = next;
    if next == NIL {
        level.tail = NIL;
    } else {
        nodes[next as usize].prev = NIL;
    }
}

/// Walks a level's queue by slot.
struct QueueIter<'a> {
    nodes: &'a [OrderNode],
    slot: u32,
}

impl Iterator for QueueIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        (self.slot != NIL).then(|| {
            let current = self.slot;
            self.slot = self.nodes[current as usize].next;
            current
        })
    }
}

fn checked_band(name: &str, lower: Price, upper: Price) -> Result<(Price, Price), BookError> {
    if lower < 1 || upper < lower {
        return Err(BookError::InvalidParameter(format!("{name} needs 1 <= lower <= upper, got {lower} and {upper}")));
    }
    Ok((lower, upper))
}

fn not_live(order_id: OrderId) -> Event {
    Event::order(EventKind::Rejected, Reason::OrderNotLive, Side::Bid, order_id, 0, 0, 0)
}

fn check_request(request: &OrderRequest) -> Result<(), BookError> {
    if request.quantity <= 0 {
        return Err(BookError::NonPositiveQuantity(request.quantity));
    }
    match request.order_type {
        OrderType::Limit => {
            if request.price <= 0 {
                return Err(BookError::NonPositivePrice(request.price));
            }
            if request.quote_quantity {
                return Err(BookError::InvalidOrder("only market orders can be sized by quote quantity"));
            }
        }
        OrderType::Market => {
            if request.post_only {
                return Err(BookError::InvalidOrder("a market order cannot be post-only"));
            }
            if request.quote_quantity && request.time_in_force == TimeInForce::Fok {
                return Err(BookError::InvalidOrder("a quote-sized market order cannot be fill-or-kill"));
            }
        }
    }
    Ok(())
}

fn check_amend(new_price: Option<Price>, new_quantity: Option<Qty>) -> Result<(), BookError> {
    match (new_price, new_quantity) {
        (None, None) => Err(BookError::InvalidOrder("an amend needs a new price, a new quantity or both")),
        (Some(price), _) if price <= 0 => Err(BookError::NonPositivePrice(price)),
        (_, Some(quantity)) if quantity <= 0 => Err(BookError::NonPositiveQuantity(quantity)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
