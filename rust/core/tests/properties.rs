//! Property tests of the order book through its public API.
//!
//! Random operation sequences on a narrow price range (95..=105) with three owners, so crossing,
//! self-trade prevention and queues of several orders are frequent. Every operation is checked
//! against an independent model of the contract: invariants, price-time priority (FIFO) of fills,
//! the outcome and reason of every place, conservation of every order's quantity, queue positions
//! after amends, and "nothing changed" for rejects and misuse. Sequences are also replayed through
//! `apply_batch` and on a second book, and must give the same events.

use std::collections::{BTreeMap, BTreeSet};

use crossbook_core::book::{flags, op, BookParams, OperationColumns, OrderStatus};
use crossbook_core::workload;
use crossbook_core::{
    BookError, BookState, Event, EventKind, EventSink, OrderBook, OrderId, OrderRequest, OrderType, OwnerId, Price,
    Qty, Reason, RestingOrder, SelfTradePrevention, Side, TimeInForce,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};

const CASES: u32 = 256;
const MAX_OPERATIONS: usize = 200;

// ---------------------------------------------------------------------------------------------
// Operations and their generators
// ---------------------------------------------------------------------------------------------

/// Which order an operation targets, resolved when it runs.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// One of the live orders (or any issued id when none is live).
    Live(usize),
    /// Any id issued so far, dead ones included.
    Any(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Place(OrderRequest),
    /// A place the book must refuse as misuse.
    Misuse(OrderRequest),
    Cancel(Target),
    Amend(Target, Option<Price>, Option<Qty>),
    /// An amend with neither field (misuse).
    AmendNeither(Target),
    CancelAll(OwnerId),
    /// Place a limit that cannot cross (price clamped when it runs), then cancel it.
    RestThenCancel {
        side: Side,
        price: Price,
        quantity: Qty,
        owner: OwnerId,
    },
    /// Cancel or amend an id `ahead` past the last one issued (misuse).
    Unknown {
        amend: bool,
        ahead: u64,
    },
    SetState(BookState),
}

fn stp_of(code: u8) -> SelfTradePrevention {
    match code {
        0 => SelfTradePrevention::RejectTaker,
        1 => SelfTradePrevention::RejectMaker,
        2 => SelfTradePrevention::RejectBoth,
        _ => SelfTradePrevention::Allow,
    }
}

fn side_of(bid: bool) -> Side {
    if bid {
        Side::Bid
    } else {
        Side::Ask
    }
}

fn place_strategy() -> impl Strategy<Value = Op> {
    (any::<bool>(), 0u8..20, 0i64..=7, 1i64..=20, 50i64..=2_500, 1u64..=3, 0u8..10, 0u8..5, 0u8..4).prop_map(
        |(bid, kind, offset, quantity, budget, owner, tif, variant, stp)| {
            let side = side_of(bid);
            // Bids 95..=102 and asks 98..=105: they cross often, and enough rests to cross into.
            let price = if bid { 95 + offset } else { 105 - offset };
            let time_in_force = match tif {
                0..=7 => TimeInForce::Gtc,
                8 => TimeInForce::Ioc,
                _ => TimeInForce::Fok,
            };
            // Takers are smaller than makers on average, so the book builds up.
            let quantity = if time_in_force == TimeInForce::Gtc { quantity } else { (quantity + 1) / 2 };
            let self_trade_prevention = stp_of(stp);
            let limit = OrderRequest {
                time_in_force,
                self_trade_prevention,
                ..OrderRequest::limit(side, price, quantity, owner)
            };
            match kind {
                0..=14 => Op::Place(OrderRequest { post_only: variant == 0, ..limit }),
                15..=16 => Op::Place(OrderRequest {
                    order_type: OrderType::Market,
                    price: 0,
                    quantity: (quantity + 1) / 2,
                    ..limit
                }),
                17 => Op::Place(OrderRequest {
                    order_type: OrderType::Market,
                    price: 0,
                    quantity: budget,
                    quote_quantity: true,
                    time_in_force: if time_in_force == TimeInForce::Fok { TimeInForce::Ioc } else { time_in_force },
                    ..limit
                }),
                _ => Op::Misuse(match variant {
                    0 => OrderRequest { order_type: OrderType::Market, post_only: true, ..limit },
                    1 => OrderRequest { quote_quantity: true, ..limit },
                    2 => OrderRequest {
                        order_type: OrderType::Market,
                        quote_quantity: true,
                        time_in_force: TimeInForce::Fok,
                        ..limit
                    },
                    3 => OrderRequest { quantity: -quantity + 1, ..limit },
                    _ => OrderRequest { price: -price + 95, ..limit },
                }),
            }
        },
    )
}

fn target_strategy() -> impl Strategy<Value = Target> {
    prop_oneof![3 => any::<usize>().prop_map(Target::Live), 1 => any::<usize>().prop_map(Target::Any)]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let amend_fields = prop_oneof![
        (95i64..=105).prop_map(|price| (Some(price), None)),
        (1i64..=20).prop_map(|quantity| (None, Some(quantity))),
        (95i64..=105, 1i64..=20).prop_map(|(price, quantity)| (Some(price), Some(quantity))),
    ];
    let state = prop_oneof![
        8 => Just(BookState::Open),
        2 => Just(BookState::PostOnly),
        1 => Just(BookState::CancelOnly),
        1 => Just(BookState::Closed),
    ];
    prop_oneof![
        30 => place_strategy(),
        2 => target_strategy().prop_map(Op::Cancel),
        4 => (target_strategy(), amend_fields).prop_map(|(target, (price, quantity))| Op::Amend(target, price, quantity)),
        1 => target_strategy().prop_map(Op::AmendNeither),
        1 => (1u64..=3).prop_map(Op::CancelAll),
        2 => (any::<bool>(), 95i64..=105, 1i64..=20, 1u64..=3).prop_map(|(bid, price, quantity, owner)| {
            Op::RestThenCancel { side: side_of(bid), price, quantity, owner }
        }),
        1 => (any::<bool>(), 0u64..3).prop_map(|(amend, ahead)| Op::Unknown { amend, ahead }),
        1 => state.prop_map(Op::SetState),
    ]
}

fn params_strategy() -> impl Strategy<Value = BookParams> {
    (0u8..4, 0u8..4, 0u8..4, 0u8..4).prop_map(|(minimum, maximum, price_band, impact_band)| BookParams {
        min_quantity: if minimum == 0 { 2 } else { 1 },
        max_quantity: if maximum == 0 { 15 } else { Qty::MAX },
        price_band: if price_band == 0 { (96, 104) } else { (1, Price::MAX) },
        impact_band: if impact_band == 0 { (97, 103) } else { (1, Price::MAX) },
        state: BookState::Open,
    })
}

fn sequence_strategy() -> impl Strategy<Value = (BookParams, Vec<Op>)> {
    (params_strategy(), prop::collection::vec(op_strategy(), 1..=MAX_OPERATIONS))
}

/// Sequences without state changes or filters, for the busiest matching.
fn open_sequence_strategy() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op_strategy(), 1..=MAX_OPERATIONS)
        .prop_map(|ops| ops.into_iter().filter(|op| !matches!(op, Op::SetState(_))).collect())
}

// ---------------------------------------------------------------------------------------------
// Observations of a book
// ---------------------------------------------------------------------------------------------

/// Everything observable about a book's contents.
#[derive(Clone, Debug, PartialEq)]
struct Snap {
    orders: Vec<RestingOrder>,
    bids: Vec<(Price, Qty)>,
    asks: Vec<(Price, Qty)>,
    /// (side code, price) → ids first in line first.
    queues: BTreeMap<(u8, Price), Vec<OrderId>>,
    next: OrderId,
}

impl Snap {
    fn of(book: &OrderBook) -> Snap {
        let bids = book.depth(Side::Bid, usize::MAX);
        let asks = book.depth(Side::Ask, usize::MAX);
        let mut queues = BTreeMap::new();
        for (side, levels) in [(Side::Bid, &bids), (Side::Ask, &asks)] {
            for &(price, _) in levels {
                queues.insert((side as u8, price), book.queue(side, price));
            }
        }
        Snap { orders: book.orders(), bids, asks, queues, next: book.next_order_id() }
    }

    fn side(&self, side: Side) -> &[(Price, Qty)] {
        match side {
            Side::Bid => &self.bids,
            Side::Ask => &self.asks,
        }
    }

    fn best(&self, side: Side) -> Option<Price> {
        self.side(side).first().map(|&(price, _)| price)
    }

    fn order(&self, id: OrderId) -> Option<&RestingOrder> {
        self.orders.binary_search_by_key(&id, |order| order.order_id).ok().map(|index| &self.orders[index])
    }

    /// The resting orders of one side in matching order (best price, then queue).
    fn makers(&self, side: Side) -> Vec<RestingOrder> {
        self.side(side)
            .iter()
            .flat_map(|&(price, _)| self.queues[&(side as u8, price)].iter())
            .map(|&id| *self.order(id).expect("queued orders are live"))
            .collect()
    }
}

/// Whether a taker on `side` limited at `limit` may trade at `price`.
fn within(side: Side, price: Price, limit: Price) -> bool {
    match side {
        Side::Bid => price <= limit,
        Side::Ask => price >= limit,
    }
}

// ---------------------------------------------------------------------------------------------
// The checked runner
// ---------------------------------------------------------------------------------------------

/// Per order: what was submitted (adjusted by amends), filled, and cancelled or expired.
#[derive(Clone, Copy, Debug, Default)]
struct Ledger {
    submitted: Qty,
    filled: Qty,
    closed: Qty,
}

impl Ledger {
    fn open(self) -> Qty {
        self.submitted - self.filled - self.closed
    }
}

/// One replayable step: a batch row (op, side, price, quantity, owner, order id, flags) or a state change.
#[derive(Clone, Copy, Debug)]
enum Step {
    Row(u8, Side, Price, Qty, OwnerId, OrderId, u16),
    State(BookState),
}

fn place_flags(request: &OrderRequest) -> u16 {
    let mut bits = ((request.self_trade_prevention as u16) << flags::STP_SHIFT) & flags::STP_MASK;
    if request.order_type == OrderType::Market {
        bits |= flags::MARKET;
    }
    match request.time_in_force {
        TimeInForce::Gtc => {}
        TimeInForce::Ioc => bits |= flags::IOC,
        TimeInForce::Fok => bits |= flags::FOK,
    }
    if request.post_only {
        bits |= flags::POST_ONLY;
    }
    if request.quote_quantity {
        bits |= flags::QUOTE_QUANTITY;
    }
    bits
}

/// Counts of what a run exercised.
#[derive(Debug, Default)]
struct Coverage {
    reasons: BTreeSet<u8>,
    statuses: BTreeSet<u8>,
    fills: usize,
    partial_maker_fills: usize,
    amends_keeping_place: usize,
    amends_moving: usize,
    misuse: usize,
    restored_depth: usize,
}

struct Runner {
    book: OrderBook,
    ledgers: BTreeMap<OrderId, Ledger>,
    /// Events of every call, in order.
    events: Vec<Event>,
    steps: Vec<Step>,
    coverage: Coverage,
}

type Checked<T = ()> = Result<T, TestCaseError>;

impl Runner {
    fn new(params: BookParams) -> Runner {
        Runner {
            book: OrderBook::new(params).expect("valid parameters"),
            ledgers: BTreeMap::new(),
            events: Vec::new(),
            steps: Vec::new(),
            coverage: Coverage::default(),
        }
    }

    fn run(&mut self, ops: &[Op]) -> Checked {
        for op in ops {
            self.step(op)?;
        }
        Ok(())
    }

    fn resolve(&self, target: Target) -> Option<OrderId> {
        let issued = self.book.next_order_id() - 1;
        match target {
            Target::Live(pick) => {
                let live = self.book.orders();
                if live.is_empty() {
                    self.resolve(Target::Any(pick))
                } else {
                    Some(live[pick % live.len()].order_id)
                }
            }
            Target::Any(_) if issued == 0 => None,
            Target::Any(pick) => Some(1 + pick as u64 % issued),
        }
    }

    fn step(&mut self, op: &Op) -> Checked {
        let before = Snap::of(&self.book);
        match *op {
            Op::Place(request) => self.place(&before, &request)?,
            Op::Misuse(request) => {
                let mut events = Vec::new();
                let result = self.book.place(&request, &mut events);
                prop_assert!(result.is_err(), "{:?} should be misuse, got {:?}", request, result);
                prop_assert!(events.is_empty());
                prop_assert_eq!(&Snap::of(&self.book), &before, "misuse changed the book");
                self.coverage.misuse += 1;
            }
            Op::Cancel(target) => {
                if let Some(id) = self.resolve(target) {
                    self.cancel(&before, id)?;
                }
            }
            Op::Amend(target, price, quantity) => {
                if let Some(id) = self.resolve(target) {
                    self.amend(&before, id, price, quantity)?;
                }
            }
            Op::AmendNeither(target) => {
                if let Some(id) = self.resolve(target) {
                    let mut events = Vec::new();
                    let result = self.book.amend(id, None, None, &mut events);
                    prop_assert!(matches!(result, Err(BookError::InvalidOrder(_))), "{:?}", result);
                    prop_assert!(events.is_empty());
                    prop_assert_eq!(&Snap::of(&self.book), &before);
                    self.coverage.misuse += 1;
                }
            }
            Op::CancelAll(owner) => self.cancel_all(&before, owner)?,
            Op::RestThenCancel { side, price, quantity, owner } => {
                self.rest_then_cancel(&before, side, price, quantity, owner)?;
            }
            Op::Unknown { amend, ahead } => {
                let id = before.next + ahead;
                let mut events = Vec::new();
                let result = if amend {
                    self.book.amend(id, Some(100), None, &mut events)
                } else {
                    self.book.cancel(id, &mut events)
                };
                prop_assert_eq!(result, Err(BookError::UnknownOrder(id, before.next)));
                prop_assert!(events.is_empty());
                prop_assert_eq!(&Snap::of(&self.book), &before);
                self.coverage.misuse += 1;
            }
            Op::SetState(state) => {
                self.book.set_state(state);
                self.steps.push(Step::State(state));
            }
        }
        if let Err(message) = self.book.check_invariants() {
            return Err(TestCaseError::fail(format!("invariants broken after {op:?}: {message}")));
        }
        self.check_ledgers()
    }

    /// Books the events into the per-order ledgers (conservation) and the run's event log.
    fn record(&mut self, events: &[Event], quote_taker: Option<OrderId>) -> Checked {
        for event in events {
            let is_quote = Some(event.order_id) == quote_taker;
            match event.kind {
                EventKind::Accepted if !is_quote => {
                    let ledger = Ledger { submitted: event.quantity, ..Ledger::default() };
                    let fresh = self.ledgers.insert(event.order_id, ledger).is_none();
                    prop_assert!(fresh, "order {} accepted twice", event.order_id);
                }
                EventKind::Fill => {
                    if !is_quote {
                        self.ledger(event.order_id)?.filled += event.quantity;
                    }
                    self.ledger(event.maker_order_id)?.filled += event.quantity;
                }
                EventKind::Cancelled => self.ledger(event.order_id)?.closed += event.quantity,
                EventKind::Expired if !is_quote => self.ledger(event.order_id)?.closed += event.quantity,
                EventKind::Amended => {
                    let ledger = self.ledger(event.order_id)?;
                    ledger.submitted += event.quantity - ledger.open();
                }
                _ => {}
            }
        }
        self.events.extend_from_slice(events);
        Ok(())
    }

    fn ledger(&mut self, id: OrderId) -> Checked<&mut Ledger> {
        match self.ledgers.get_mut(&id) {
            Some(ledger) => Ok(ledger),
            None => Err(TestCaseError::fail(format!("event for order {id}, which was never accepted"))),
        }
    }

    /// Conservation: for every order, submitted = filled + resting + cancelled/expired.
    fn check_ledgers(&self) -> Checked {
        let mut live = 0;
        for (&id, ledger) in &self.ledgers {
            let resting = self.book.order(id).map_or(0, |order| order.quantity);
            prop_assert_eq!(
                ledger.submitted,
                ledger.filled + resting + ledger.closed,
                "order {}: {:?} with {} resting",
                id,
                ledger,
                resting
            );
            prop_assert!(ledger.closed == 0 || resting == 0, "order {} was closed but rests", id);
            live += usize::from(resting > 0);
        }
        prop_assert_eq!(self.book.len(), live, "the book holds orders the events never accounted for");
        Ok(())
    }

    /// Orders never jump ahead in their queue: every level after an operation is its old queue,
    /// minus orders that left it, plus the one order that moved to its back (placed or amended).
    fn check_queues(&self, before: &Snap, after: &Snap, moved: Option<OrderId>) -> Checked {
        let keys: BTreeSet<(u8, Price)> = before.queues.keys().chain(after.queues.keys()).copied().collect();
        for key in keys {
            let stays = |id: &OrderId| {
                Some(*id) != moved && after.order(*id).is_some_and(|order| (order.side as u8, order.price) == key)
            };
            let mut expected: Vec<OrderId> =
                before.queues.get(&key).map_or_else(Vec::new, |queue| queue.iter().copied().filter(stays).collect());
            if let Some(id) = moved {
                if after.order(id).is_some_and(|order| (order.side as u8, order.price) == key) {
                    expected.push(id);
                }
            }
            let actual = after.queues.get(&key).cloned().unwrap_or_default();
            prop_assert_eq!(actual, expected, "queue at {:?}", key);
        }
        for order in &before.orders {
            if Some(order.order_id) == moved {
                continue;
            }
            if let Some(now) = after.order(order.order_id) {
                prop_assert_eq!((now.side, now.price, now.owner), (order.side, order.price, order.owner));
                prop_assert!(now.quantity <= order.quantity, "order {} grew without an amend", order.order_id);
            }
        }
        Ok(())
    }

    /// The reject reason the contract predicts for a place, if any.
    fn expected_filter(&self, request: &OrderRequest) -> Option<Reason> {
        let params = self.book.params();
        let post_only_limit = request.post_only && request.order_type == OrderType::Limit;
        match params.state {
            BookState::Open => {}
            BookState::PostOnly if post_only_limit => {}
            BookState::PostOnly => return Some(Reason::BookPostOnly),
            BookState::CancelOnly => return Some(Reason::BookCancelOnly),
            BookState::Closed => return Some(Reason::BookClosed),
        }
        if !request.quote_quantity {
            if request.quantity < params.min_quantity {
                return Some(Reason::QuantityBelowMinimum);
            }
            if request.quantity > params.max_quantity {
                return Some(Reason::QuantityAboveMaximum);
            }
        }
        let (lower, upper) = params.price_band;
        if request.order_type == OrderType::Limit && (request.price < lower || request.price > upper) {
            return Some(Reason::PriceBand);
        }
        None
    }

    #[allow(clippy::too_many_lines)]
    fn place(&mut self, before: &Snap, request: &OrderRequest) -> Checked {
        let expected_reject = self.expected_filter(request);
        let (lower, upper) = self.book.params().impact_band;
        let limit = match (request.order_type, request.side) {
            (OrderType::Limit, _) => request.price,
            (OrderType::Market, Side::Bid) => upper,
            (OrderType::Market, Side::Ask) => lower,
        };
        let mut events = Vec::new();
        let outcome = match self.book.place(request, &mut events) {
            Ok(outcome) => outcome,
            Err(error) => return Err(TestCaseError::fail(format!("{request:?} failed: {error}"))),
        };
        let id = before.next;
        let after = Snap::of(&self.book);
        prop_assert_eq!(outcome.order_id, id, "ids are dense");
        prop_assert_eq!(after.next, id + 1);
        self.coverage.statuses.insert(outcome.status as u8);
        self.coverage.reasons.insert(outcome.reason as u8);
        self.steps.push(Step::Row(
            op::PLACE,
            request.side,
            request.price,
            request.quantity,
            request.owner,
            0,
            place_flags(request),
        ));
        let unchanged = Snap { next: before.next + 1, ..before.clone() };

        if let Some(reason) = expected_reject {
            prop_assert_eq!(outcome.status, OrderStatus::Rejected);
            prop_assert_eq!(outcome.reason, reason);
            prop_assert_eq!(events.len(), 1);
            prop_assert_eq!((events[0].kind, events[0].reason, events[0].order_id), (EventKind::Rejected, reason, id));
            prop_assert_eq!(&after, &unchanged, "a rejected place changed the book");
            return self.record(&events, None);
        }
        prop_assert_eq!((events[0].kind, events[0].order_id), (EventKind::Accepted, id));
        prop_assert_eq!(
            (events[0].side, events[0].owner, events[0].quantity),
            (request.side, request.owner, request.quantity)
        );

        let opposite = request.side.opposite();
        let makers = before.makers(opposite);
        let stp = request.self_trade_prevention;
        let crosses = makers.first().is_some_and(|maker| within(request.side, maker.price, limit));

        if request.post_only && crosses {
            prop_assert_eq!(outcome.reason, Reason::PostOnlyWouldTake);
            prop_assert_eq!(events.len(), 2);
            prop_assert_eq!((events[1].kind, events[1].quantity), (EventKind::Expired, request.quantity));
            prop_assert_eq!(&after, &unchanged, "a post-only expiry changed the book");
            return self.record(&events, None);
        }
        if request.time_in_force == TimeInForce::Fok {
            // Model: walk the makers within the limit; own orders per the taker's STP mode.
            let mut needed = request.quantity;
            for maker in makers.iter().take_while(|maker| within(request.side, maker.price, limit)) {
                if maker.owner == request.owner {
                    match stp {
                        SelfTradePrevention::Allow => {}
                        SelfTradePrevention::RejectMaker => continue,
                        _ => break,
                    }
                }
                needed -= needed.min(maker.quantity);
                if needed == 0 {
                    break;
                }
            }
            if needed > 0 {
                prop_assert_eq!((outcome.status, outcome.reason), (OrderStatus::Expired, Reason::FillOrKill));
                prop_assert_eq!(events.len(), 2, "a killed FOK emits Accepted and Expired only");
                prop_assert_eq!((events[1].kind, events[1].quantity), (EventKind::Expired, request.quantity));
                prop_assert_eq!(&after, &unchanged, "a killed FOK changed the book");
                return self.record(&events, None);
            }
        }

        // FIFO: fills and STP cancels consume the makers strictly in matching order.
        let mut cursor = 0;
        let mut head_left = makers.first().map_or(0, |maker| maker.quantity);
        let mut filled = 0;
        let mut spent = 0;
        let mut stopped_by_cancel = false;
        let mut taker_done = false;
        let mut tail = events.len();
        for (index, event) in events.iter().enumerate().skip(1) {
            if !matches!(event.kind, EventKind::Fill | EventKind::Cancelled) {
                tail = index;
                break;
            }
            prop_assert!(!taker_done && !stopped_by_cancel, "matching went on after the taker was done: {:?}", events);
            prop_assert!(cursor < makers.len(), "a fill with no maker left: {:?}", events);
            let maker = makers[cursor];
            prop_assert!(within(request.side, maker.price, limit), "traded beyond the limit: {:?}", event);
            if event.kind == EventKind::Fill {
                prop_assert_eq!(
                    (event.order_id, event.side, event.owner),
                    (id, request.side, request.owner),
                    "fill names the taker"
                );
                prop_assert_eq!(event.maker_order_id, maker.order_id, "FIFO: wrong maker filled: {:?}", events);
                prop_assert_eq!(event.maker_owner, maker.owner);
                prop_assert_eq!(event.price, maker.price, "trades execute at the resting price");
                prop_assert!(event.quantity > 0 && event.quantity <= head_left);
                prop_assert!(
                    maker.owner != request.owner || stp == SelfTradePrevention::Allow,
                    "self-trade under {:?}",
                    stp
                );
                self.coverage.fills += 1;
                filled += event.quantity;
                spent += event.quantity * event.price;
                head_left -= event.quantity;
                if head_left > 0 {
                    taker_done = true;
                    self.coverage.partial_maker_fills += 1;
                }
            } else {
                prop_assert_eq!(event.reason, Reason::SelfTradePrevention);
                prop_assert_eq!(event.order_id, maker.order_id, "FIFO: wrong maker cancelled: {:?}", events);
                prop_assert_eq!((event.side, event.owner, event.price), (opposite, maker.owner, maker.price));
                prop_assert_eq!(event.quantity, head_left, "an STP cancel removes the whole remainder");
                prop_assert_eq!(maker.owner, request.owner);
                prop_assert!(matches!(stp, SelfTradePrevention::RejectMaker | SelfTradePrevention::RejectBoth));
                head_left = 0;
                stopped_by_cancel = stp == SelfTradePrevention::RejectBoth;
            }
            if head_left == 0 {
                cursor += 1;
                head_left = makers.get(cursor).map_or(0, |maker| maker.quantity);
            }
        }
        prop_assert_eq!(outcome.filled, filled);

        // Why matching stopped, as the contract says it must.
        let remaining = if request.quote_quantity { request.quantity - spent } else { request.quantity - filled };
        prop_assert_eq!(outcome.remaining, remaining);
        let next_maker = makers.get(cursor);
        let is_market = request.order_type == OrderType::Market;
        #[derive(Debug, PartialEq)]
        enum Stop {
            Complete,
            SelfTrade,
            Budget,
            Beyond,
            Empty,
        }
        let stop = if remaining == 0 {
            Stop::Complete
        } else if stopped_by_cancel {
            Stop::SelfTrade
        } else {
            match next_maker {
                None => Stop::Empty,
                Some(maker) if !within(request.side, maker.price, limit) => Stop::Beyond,
                Some(maker) if request.quote_quantity && remaining < maker.price => Stop::Budget,
                Some(maker) if maker.owner == request.owner && stp == SelfTradePrevention::RejectTaker => {
                    Stop::SelfTrade
                }
                Some(maker) => {
                    return Err(TestCaseError::fail(format!(
                        "matching stopped with {remaining} left although {maker:?} could trade: {events:?}"
                    )))
                }
            }
        };
        if request.time_in_force == TimeInForce::Fok {
            prop_assert_eq!(&stop, &Stop::Complete, "a FOK that passed its check must fill completely");
        }
        let expired_reason = match stop {
            Stop::Complete => None,
            Stop::Budget if filled > 0 => None,
            Stop::Budget => Some(Reason::NoLiquidity),
            Stop::SelfTrade => Some(Reason::SelfTradePrevention),
            Stop::Beyond if is_market => Some(Reason::ImpactBand),
            Stop::Empty if is_market => Some(Reason::NoLiquidity),
            Stop::Beyond | Stop::Empty => match request.time_in_force {
                TimeInForce::Ioc => Some(Reason::ImmediateOrCancel),
                _ => Some(Reason::None), // rests
            },
        };
        match expired_reason {
            None => {
                prop_assert_eq!((outcome.status, outcome.reason), (OrderStatus::Filled, Reason::None));
                prop_assert_eq!(tail, events.len(), "a filled order emits nothing after its fills");
                prop_assert!(after.order(id).is_none());
                if request.quote_quantity && remaining > 0 {
                    let best = after.best(opposite);
                    prop_assert!(
                        best.is_some_and(|price| remaining < price),
                        "quote left {} with {:?}",
                        remaining,
                        best
                    );
                }
            }
            Some(Reason::None) => {
                let status = if filled == 0 { OrderStatus::New } else { OrderStatus::PartiallyFilled };
                prop_assert_eq!((outcome.status, outcome.reason), (status, Reason::None));
                prop_assert_eq!(tail, events.len(), "a resting order emits nothing after its fills");
                let resting = after.order(id).copied();
                let expected = RestingOrder {
                    order_id: id,
                    owner: request.owner,
                    side: request.side,
                    price: request.price,
                    quantity: remaining,
                };
                prop_assert_eq!(resting, Some(expected));
            }
            Some(reason) => {
                prop_assert_eq!((outcome.status, outcome.reason), (OrderStatus::Expired, reason));
                prop_assert_eq!(tail + 1, events.len(), "exactly one Expired ends an expired place: {:?}", events);
                let last = events[tail];
                prop_assert_eq!((last.kind, last.reason, last.order_id), (EventKind::Expired, reason, id));
                prop_assert_eq!(last.quantity, remaining);
                prop_assert!(after.order(id).is_none());
            }
        }
        let moved = after.order(id).map(|order| order.order_id);
        self.check_queues(before, &after, moved)?;
        self.record(&events, request.quote_quantity.then_some(id))
    }

    fn cancel(&mut self, before: &Snap, id: OrderId) -> Checked {
        let mut events = Vec::new();
        let result = self.book.cancel(id, &mut events);
        prop_assert_eq!(result, Ok(()));
        let after = Snap::of(&self.book);
        self.steps.push(Step::Row(op::CANCEL, Side::Bid, 0, 0, 0, id, 0));
        match before.order(id) {
            Some(order) => {
                prop_assert_eq!(events.len(), 1);
                let event = events[0];
                prop_assert_eq!(
                    (event.kind, event.reason, event.order_id),
                    (EventKind::Cancelled, Reason::CancelledByOwner, id)
                );
                prop_assert_eq!(
                    (event.side, event.owner, event.price, event.quantity),
                    (order.side, order.owner, order.price, order.quantity)
                );
                prop_assert!(after.order(id).is_none());
                prop_assert_eq!(after.orders.len(), before.orders.len() - 1);
                self.check_queues(before, &after, None)?;
            }
            None => {
                prop_assert_eq!(events.len(), 1);
                prop_assert_eq!(
                    (events[0].kind, events[0].reason, events[0].order_id),
                    (EventKind::Rejected, Reason::OrderNotLive, id)
                );
                prop_assert_eq!(&after, before);
            }
        }
        self.record(&events, None)
    }

    fn cancel_all(&mut self, before: &Snap, owner: OwnerId) -> Checked {
        let mut events = Vec::new();
        let count = self.book.cancel_all(owner, &mut events);
        let after = Snap::of(&self.book);
        self.steps.push(Step::Row(op::CANCEL_ALL, Side::Bid, 0, 0, owner, 0, 0));
        let mine: Vec<&RestingOrder> = before.orders.iter().filter(|order| order.owner == owner).collect();
        prop_assert_eq!(count, mine.len());
        prop_assert_eq!(events.len(), mine.len());
        for (event, order) in events.iter().zip(&mine) {
            prop_assert_eq!((event.kind, event.reason), (EventKind::Cancelled, Reason::CancelledByOwner));
            prop_assert_eq!(event.order_id, order.order_id, "cancel-all goes in id order");
            prop_assert_eq!(event.quantity, order.quantity);
        }
        prop_assert!(after.orders.iter().all(|order| order.owner != owner));
        prop_assert_eq!(after.orders.len(), before.orders.len() - mine.len());
        self.check_queues(before, &after, None)?;
        self.record(&events, None)
    }

    fn amend(&mut self, before: &Snap, id: OrderId, price: Option<Price>, quantity: Option<Qty>) -> Checked {
        let old = before.order(id).copied();
        let mut events = Vec::new();
        let result = self.book.amend(id, price, quantity, &mut events);
        prop_assert_eq!(result, Ok(()));
        let after = Snap::of(&self.book);
        self.steps.push(Step::Row(op::AMEND, Side::Bid, price.unwrap_or(0), quantity.unwrap_or(0), 0, id, 0));
        prop_assert_eq!(events.len(), 1);
        let event = events[0];
        prop_assert_eq!(event.order_id, id);
        let Some(old) = old else {
            prop_assert_eq!((event.kind, event.reason), (EventKind::Rejected, Reason::OrderNotLive));
            prop_assert_eq!(&after, before);
            return self.record(&events, None);
        };
        let new_price = price.unwrap_or(old.price);
        let new_quantity = quantity.unwrap_or(old.quantity);
        let params = self.book.params();
        let opposite_best = before.best(old.side.opposite());
        let expected_reject = match params.state {
            BookState::CancelOnly => Some(Reason::BookCancelOnly),
            BookState::Closed => Some(Reason::BookClosed),
            BookState::Open | BookState::PostOnly => {
                if new_quantity < params.min_quantity {
                    Some(Reason::QuantityBelowMinimum)
                } else if new_quantity > params.max_quantity {
                    Some(Reason::QuantityAboveMaximum)
                } else if new_price < params.price_band.0 || new_price > params.price_band.1 {
                    Some(Reason::PriceBand)
                } else if new_price != old.price && opposite_best.is_some_and(|best| within(old.side, best, new_price))
                {
                    Some(Reason::AmendWouldCross)
                } else {
                    None
                }
            }
        };
        prop_assert_eq!(
            (event.side, event.owner, event.price, event.quantity),
            (old.side, old.owner, new_price, new_quantity)
        );
        if let Some(reason) = expected_reject {
            prop_assert_eq!((event.kind, event.reason), (EventKind::Rejected, reason));
            prop_assert_eq!(&after, before, "a rejected amend changed the book");
            return self.record(&events, None);
        }
        prop_assert_eq!((event.kind, event.reason), (EventKind::Amended, Reason::None));
        prop_assert_eq!(
            after.order(id).copied(),
            Some(RestingOrder { price: new_price, quantity: new_quantity, ..old })
        );
        let moves = new_price != old.price || new_quantity > old.quantity;
        if moves {
            self.coverage.amends_moving += 1;
        } else {
            self.coverage.amends_keeping_place += 1;
        }
        self.check_queues(before, &after, moves.then_some(id))?;
        self.record(&events, None)
    }

    /// Property (d): a limit that cannot cross, placed and cancelled, leaves the book as it was.
    fn rest_then_cancel(&mut self, before: &Snap, side: Side, price: Price, quantity: Qty, owner: OwnerId) -> Checked {
        let params = *self.book.params();
        if params.state != BookState::Open {
            return Ok(());
        }
        let (lower, upper) = params.price_band;
        let price = match side {
            Side::Bid => before.best(Side::Ask).map_or(price, |ask| price.min(ask - 1)),
            Side::Ask => before.best(Side::Bid).map_or(price, |bid| price.max(bid + 1)),
        };
        if price < lower.max(1) || price > upper {
            return Ok(());
        }
        let quantity = quantity.clamp(params.min_quantity, params.max_quantity);
        let request = OrderRequest::limit(side, price, quantity, owner);
        let mut events = Vec::new();
        let outcome = self.book.place(&request, &mut events);
        prop_assert!(matches!(outcome, Ok(outcome) if outcome.status == OrderStatus::New), "{:?}", outcome);
        let id = before.next;
        self.steps.push(Step::Row(op::PLACE, side, price, quantity, owner, 0, place_flags(&request)));
        let queue = self.book.queue(side, price);
        prop_assert_eq!(queue.last(), Some(&id), "a new order joins the back of its level");
        self.book.check_invariants().map_err(TestCaseError::fail)?;
        self.book.cancel(id, &mut events).map_err(|error| TestCaseError::fail(error.to_string()))?;
        self.steps.push(Step::Row(op::CANCEL, Side::Bid, 0, 0, 0, id, 0));
        prop_assert_eq!(events.len(), 2);
        prop_assert_eq!((events[1].kind, events[1].quantity), (EventKind::Cancelled, quantity));
        let after = Snap::of(&self.book);
        prop_assert_eq!(&after.bids, &before.bids, "cancel after add must restore the bids");
        prop_assert_eq!(&after.asks, &before.asks, "cancel after add must restore the asks");
        prop_assert_eq!(&after, &Snap { next: before.next + 1, ..before.clone() });
        self.coverage.restored_depth += 1;
        self.record(&events, None)
    }
}

// ---------------------------------------------------------------------------------------------
// Batch replay
// ---------------------------------------------------------------------------------------------

/// Records the batch row of every event.
#[derive(Debug, Default)]
struct RowSink {
    row: usize,
    rows: Vec<usize>,
    events: Vec<Event>,
}

impl EventSink for RowSink {
    fn begin_operation(&mut self, row: usize) {
        self.row = row;
    }

    fn push(&mut self, event: Event) {
        self.rows.push(self.row);
        self.events.push(event);
    }
}

/// Replays recorded steps on a fresh book: rows through `apply_batch`, split at state changes.
fn replay_in_batches(params: BookParams, steps: &[Step]) -> Result<(OrderBook, Vec<Event>), TestCaseError> {
    let mut book = OrderBook::new(params).expect("valid parameters");
    let mut sink = RowSink::default();
    let mut rows = OperationColumns::default();
    let flush = |book: &mut OrderBook, rows: &mut OperationColumns, sink: &mut RowSink| -> Checked {
        let start = sink.events.len();
        if let Err(error) = book.apply_batch(&rows.as_operations(), sink) {
            return Err(TestCaseError::fail(format!("batch failed: {error}")));
        }
        // Rows on events are in order and within the batch.
        let batch_rows = &sink.rows[start..];
        prop_assert!(batch_rows.windows(2).all(|pair| pair[0] <= pair[1]));
        prop_assert!(batch_rows.iter().all(|&row| row < rows.len()));
        book.check_invariants().map_err(TestCaseError::fail)?;
        *rows = OperationColumns::default();
        Ok(())
    };
    for step in steps {
        match *step {
            Step::Row(code, side, price, quantity, owner, order_id, bits) => {
                rows.push(code, side, price, quantity, owner, order_id, bits);
            }
            Step::State(state) => {
                flush(&mut book, &mut rows, &mut sink)?;
                book.set_state(state);
            }
        }
    }
    flush(&mut book, &mut rows, &mut sink)?;
    Ok((book, sink.events))
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// (a) invariants, (b) FIFO, (c) conservation, (d) cancel restores depth, plus the outcome
    /// model of every operation; all checked after every operation.
    #[test]
    fn every_operation_keeps_the_contract((params, ops) in sequence_strategy()) {
        let mut runner = Runner::new(params);
        runner.run(&ops)?;
    }

    /// The same, on an open book with no filters, where matching is busiest.
    #[test]
    fn every_operation_keeps_the_contract_on_an_open_book(ops in open_sequence_strategy()) {
        let mut runner = Runner::new(BookParams::default());
        runner.run(&ops)?;
    }

    /// (e) Determinism: the same sequence on two fresh books gives identical events and books.
    #[test]
    fn same_operations_give_same_events((params, ops) in sequence_strategy()) {
        let mut first = Runner::new(params);
        first.run(&ops)?;
        let mut second = Runner::new(params);
        second.run(&ops)?;
        prop_assert_eq!(&first.events, &second.events);
        prop_assert_eq!(first.book.orders(), second.book.orders());
        prop_assert_eq!(first.book.next_order_id(), second.book.next_order_id());
    }

    /// `apply_batch` gives the same events and the same book as the same operations one by one.
    #[test]
    fn batches_equal_operations_one_by_one((params, ops) in sequence_strategy()) {
        let mut runner = Runner::new(params);
        runner.run(&ops)?;
        let (book, events) = replay_in_batches(params, &runner.steps)?;
        prop_assert_eq!(&events, &runner.events);
        prop_assert_eq!(Snap::of(&book), Snap::of(&runner.book));
    }

    /// A malformed row anywhere in a batch fails the whole batch and leaves the book untouched.
    #[test]
    fn a_bad_batch_row_changes_nothing(
        (params, ops) in sequence_strategy(),
        position in any::<prop::sample::Index>(),
        defect in 0u8..5,
    ) {
        let mut runner = Runner::new(params);
        let half = ops.len() / 2;
        runner.run(&ops[..half])?;
        let rows: Vec<Step> = {
            let mut tail = Runner::new(params);
            tail.run(&ops[half..])?;
            tail.steps.into_iter().filter(|step| matches!(step, Step::Row(..))).collect()
        };
        let mut columns = OperationColumns::default();
        for step in &rows {
            if let Step::Row(code, side, price, quantity, owner, order_id, bits) = *step {
                columns.push(code, side, price, quantity, owner, order_id, bits);
            }
        }
        let bad_row = position.index(columns.len() + 1);
        let issued_by_then =
            runner.book.next_order_id() - 1 + columns.op[..bad_row].iter().filter(|&&code| code == op::PLACE).count() as u64;
        let bad = match defect {
            0 => (op::CANCEL, Side::Bid, 0, 0, 0, issued_by_then + 1, 0),
            1 => (op::AMEND, Side::Bid, 100, 0, 0, issued_by_then + 1, 0),
            2 => (7, Side::Bid, 100, 1, 1, 0, 0),
            3 => (op::PLACE, Side::Bid, 100, 1, 1, 0, flags::IOC | flags::FOK),
            _ => (op::PLACE, Side::Ask, 100, 0, 1, 0, 0),
        };
        let mut bad_columns = OperationColumns::default();
        for row in 0..=columns.len() {
            if row == bad_row {
                bad_columns.push(bad.0, bad.1, bad.2, bad.3, bad.4, bad.5, bad.6);
            }
            if row < columns.len() {
                bad_columns.push(columns.op[row], Side::from_code(columns.side[row]).unwrap(), columns.price[row],
                    columns.quantity[row], columns.owner[row], columns.order_id[row], columns.flags[row]);
            }
        }
        let before = Snap::of(&runner.book);
        let mut sink = RowSink::default();
        let result = runner.book.apply_batch(&bad_columns.as_operations(), &mut sink);
        match result {
            Err(BookError::BatchRow { row, source }) => {
                prop_assert_eq!(row, bad_row);
                if defect <= 1 {
                    prop_assert_eq!(*source, BookError::UnknownOrder(issued_by_then + 1, issued_by_then + 1));
                }
            }
            other => return Err(TestCaseError::fail(format!("expected a BatchRow error, got {other:?}"))),
        }
        prop_assert!(sink.events.is_empty());
        prop_assert_eq!(Snap::of(&runner.book), before);
    }
}

/// The generators really produce the situations the properties are about.
#[test]
fn generated_sequences_exercise_every_outcome() {
    let mut test_runner = TestRunner::deterministic();
    let strategy = sequence_strategy();
    let mut coverage = Coverage::default();
    for _ in 0..64 {
        let (params, ops) = strategy.new_tree(&mut test_runner).unwrap().current();
        let mut runner = Runner::new(params);
        runner.run(&ops).unwrap();
        let c = runner.coverage;
        coverage.reasons.extend(c.reasons);
        coverage.statuses.extend(c.statuses);
        coverage.fills += c.fills;
        coverage.partial_maker_fills += c.partial_maker_fills;
        coverage.amends_keeping_place += c.amends_keeping_place;
        coverage.amends_moving += c.amends_moving;
        coverage.misuse += c.misuse;
        coverage.restored_depth += c.restored_depth;
    }
    let reasons = [
        Reason::None,
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
    ];
    for reason in reasons {
        assert!(coverage.reasons.contains(&(reason as u8)), "no place ended with {reason:?}: {coverage:?}");
    }
    assert_eq!(coverage.statuses.len(), 5, "{coverage:?}");
    assert!(coverage.fills > 500, "{coverage:?}");
    assert!(coverage.partial_maker_fills > 100, "{coverage:?}");
    assert!(coverage.amends_keeping_place > 50 && coverage.amends_moving > 50, "{coverage:?}");
    assert!(coverage.misuse > 100 && coverage.restored_depth > 100, "{coverage:?}");
}

/// A model-free sanity check of the runner itself: it rejects a book that broke FIFO.
#[test]
fn the_fifo_check_catches_a_wrong_maker() {
    let runner = Runner::new(BookParams::default());
    let mut book = OrderBook::default();
    let mut events = Vec::new();
    for _ in 0..2 {
        book.place(&OrderRequest::limit(Side::Ask, 100, 5, 1), &mut events).unwrap();
    }
    let before = Snap::of(&book);
    // Pretend the second order had been filled first: the queue check must object.
    let mut after = before.clone();
    after.queues.insert((Side::Ask as u8, 100), vec![2, 1]);
    assert!(runner.check_queues(&before, &after, None).is_err());
    assert!(runner.check_queues(&before, &before, None).is_ok());
}

/// (f) The standard workload runs through `apply_batch` and keeps the invariants.
#[test]
fn standard_workload_runs_through_apply_batch() {
    let (warm, measured) = workload::standard(42, 1_000, 5_000);
    assert_eq!((warm.len(), measured.len()), (1_000, 5_000));
    let mut book = OrderBook::default();
    let mut sink = RowSink::default();
    book.apply_batch(&warm.as_operations(), &mut sink).unwrap();
    book.check_invariants().unwrap();
    assert_eq!(book.next_order_id(), 1_001);
    let warm_events = sink.events.len();
    book.apply_batch(&measured.as_operations(), &mut sink).unwrap();
    book.check_invariants().unwrap();

    let measured_events = &sink.events[warm_events..];
    let count = |kind: EventKind, reason: Reason| {
        measured_events.iter().filter(|event| event.kind == kind && event.reason == reason).count()
    };
    let cancel_rows = measured.op.iter().filter(|&&code| code == op::CANCEL).count();
    assert!(cancel_rows > 1_000);
    assert!(count(EventKind::Fill, Reason::None) > 100);
    assert_eq!(count(EventKind::Cancelled, Reason::CancelledByOwner), cancel_rows, "the workload cancels live orders");
    assert_eq!(count(EventKind::Rejected, Reason::OrderNotLive), 0);
    assert!(count(EventKind::Expired, Reason::ImmediateOrCancel) > 0);
    assert!(count(EventKind::Expired, Reason::SelfTradePrevention) > 0, "64 owners make self-trades happen");
    let places = warm.op.iter().chain(&measured.op).filter(|&&code| code == op::PLACE).count() as u64;
    assert_eq!(book.next_order_id(), places + 1);

    // The same rows one by one give the same events.
    let mut one_by_one = OrderBook::default();
    let mut events = Vec::new();
    for rows in [&warm, &measured] {
        for row in 0..rows.len() {
            let side = Side::from_code(rows.side[row]).unwrap();
            match rows.op[row] {
                op::PLACE => {
                    let request = OrderRequest::limit(side, rows.price[row], rows.quantity[row], rows.owner[row]);
                    let request = if rows.flags[row] & flags::IOC != 0 {
                        request.with_time_in_force(TimeInForce::Ioc)
                    } else {
                        request
                    };
                    assert_eq!(rows.flags[row] & !flags::IOC, 0);
                    one_by_one.place(&request, &mut events).unwrap();
                }
                op::CANCEL => one_by_one.cancel(rows.order_id[row], &mut events).unwrap(),
                other => panic!("the workload has no op {other}"),
            }
        }
    }
    assert_eq!(events, sink.events);
    assert_eq!(one_by_one.orders(), book.orders());
}
