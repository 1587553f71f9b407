//! Unit tests of the order book: one behaviour per test, exact events where they are short.

use super::*;

const A: OwnerId = 1;
const B: OwnerId = 2;
const C: OwnerId = 3;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn limit(side: Side, price: Price, quantity: Qty, owner: OwnerId) -> OrderRequest {
    OrderRequest::limit(side, price, quantity, owner)
}

fn market(side: Side, quantity: Qty, owner: OwnerId) -> OrderRequest {
    OrderRequest::market(side, quantity, owner)
}

fn quote_buy(budget: Qty, owner: OwnerId) -> OrderRequest {
    OrderRequest { quote_quantity: true, ..OrderRequest::market(Side::Bid, budget, owner) }
}

/// Places an order and returns its outcome and events; checks the invariants afterwards.
fn place(book: &mut OrderBook, request: OrderRequest) -> (PlaceOutcome, Vec<Event>) {
    let mut events = Vec::new();
    let outcome = book.place(&request, &mut events).expect("a well-formed request");
    book.check_invariants().unwrap();
    (outcome, events)
}

/// Places a resting order that must not trade; returns its id.
fn rest(book: &mut OrderBook, side: Side, price: Price, quantity: Qty, owner: OwnerId) -> OrderId {
    let (outcome, events) = place(book, limit(side, price, quantity, owner));
    assert_eq!(outcome.status, OrderStatus::New, "setup order should rest untouched: {events:?}");
    outcome.order_id
}

fn cancel(book: &mut OrderBook, order_id: OrderId) -> Vec<Event> {
    let mut events = Vec::new();
    book.cancel(order_id, &mut events).expect("an issued id");
    book.check_invariants().unwrap();
    events
}

fn amend(book: &mut OrderBook, order_id: OrderId, price: Option<Price>, quantity: Option<Qty>) -> Vec<Event> {
    let mut events = Vec::new();
    book.amend(order_id, price, quantity, &mut events).expect("a well-formed amend");
    book.check_invariants().unwrap();
    events
}

#[allow(clippy::too_many_arguments)]
fn fill(
    taker: OrderId,
    side: Side,
    owner: OwnerId,
    price: Price,
    quantity: Qty,
    maker: OrderId,
    maker_owner: OwnerId,
) -> Event {
    Event {
        kind: EventKind::Fill,
        reason: Reason::None,
        side,
        order_id: taker,
        owner,
        price,
        quantity,
        maker_order_id: maker,
        maker_owner,
    }
}

fn event(kind: EventKind, reason: Reason, side: Side, id: OrderId, owner: OwnerId, price: Price, qty: Qty) -> Event {
    Event::order(kind, reason, side, id, owner, price, qty)
}

fn accepted(request: &OrderRequest, id: OrderId) -> Event {
    event(EventKind::Accepted, Reason::None, request.side, id, request.owner, request.price, request.quantity)
}

fn expired(request: &OrderRequest, id: OrderId, reason: Reason, quantity: Qty) -> Event {
    event(EventKind::Expired, reason, request.side, id, request.owner, request.price, quantity)
}

fn not_live_event(id: OrderId) -> Event {
    event(EventKind::Rejected, Reason::OrderNotLive, Side::Bid, id, 0, 0, 0)
}

/// Everything observable about a book's contents, for "nothing changed" checks.
#[derive(Debug, PartialEq)]
struct Snapshot {
    orders: Vec<RestingOrder>,
    bids: Vec<(Price, Qty)>,
    asks: Vec<(Price, Qty)>,
    queues: Vec<(Side, Price, Vec<OrderId>)>,
    next_order_id: OrderId,
}

fn snapshot(book: &OrderBook) -> Snapshot {
    let bids = book.depth(Side::Bid, usize::MAX);
    let asks = book.depth(Side::Ask, usize::MAX);
    let queues = bids
        .iter()
        .map(|&(price, _)| (Side::Bid, price))
        .chain(asks.iter().map(|&(price, _)| (Side::Ask, price)))
        .map(|(side, price)| (side, price, book.queue(side, price)))
        .collect();
    Snapshot { orders: book.orders(), bids, asks, queues, next_order_id: book.next_order_id() }
}

/// The SPEC §12 ladder: asks 10010×50, 10020×100, 10030×200 (ids 1, 2, 3, owner B).
fn spec_asks() -> OrderBook {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 10_010, 50, B);
    rest(&mut book, Side::Ask, 10_020, 100, B);
    rest(&mut book, Side::Ask, 10_030, 200, B);
    book
}

/// Asks: 10@100 by B (id 1), 10@101 by A (id 2), 10@102 by C (id 3): an own order of A in the middle.
fn own_order_in_the_middle() -> OrderBook {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 10, B);
    rest(&mut book, Side::Ask, 101, 10, A);
    rest(&mut book, Side::Ask, 102, 10, C);
    book
}

fn params(f: impl FnOnce(&mut BookParams)) -> OrderBook {
    let mut p = BookParams::default();
    f(&mut p);
    OrderBook::new(p).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Price-time priority
// ---------------------------------------------------------------------------------------------

#[test]
fn better_price_fills_before_earlier_order() {
    let mut book = OrderBook::default();
    let worse = rest(&mut book, Side::Ask, 102, 5, B);
    let better = rest(&mut book, Side::Ask, 101, 5, C);
    let request = limit(Side::Bid, 102, 7, A);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(outcome.order_id, 3);
    assert_eq!(
        events,
        vec![accepted(&request, 3), fill(3, Side::Bid, A, 101, 5, better, C), fill(3, Side::Bid, A, 102, 2, worse, B)]
    );
    assert_eq!(outcome.status, OrderStatus::Filled);
    assert_eq!((outcome.filled, outcome.remaining), (7, 0));
    assert_eq!(book.order(worse).unwrap().quantity, 3);
}

#[test]
fn earlier_order_fills_first_within_a_level() {
    let mut book = OrderBook::default();
    let first = rest(&mut book, Side::Bid, 100, 4, B);
    let second = rest(&mut book, Side::Bid, 100, 4, C);
    let third = rest(&mut book, Side::Bid, 100, 4, B);
    let (outcome, events) = place(&mut book, limit(Side::Ask, 100, 6, A));
    assert_eq!(events[1..], [fill(4, Side::Ask, A, 100, 4, first, B), fill(4, Side::Ask, A, 100, 2, second, C)]);
    assert_eq!(outcome.status, OrderStatus::Filled);
    assert_eq!(book.queue(Side::Bid, 100), vec![second, third]);
    assert_eq!(book.order(second).unwrap().quantity, 2);
    assert_eq!(book.best(Side::Bid), Some((100, 6)));
    assert!(book.order(first).is_none());
}

#[test]
fn buy_trades_at_the_resting_ask_price_not_its_limit() {
    let mut book = OrderBook::default();
    let maker = rest(&mut book, Side::Ask, 100, 5, B);
    let (outcome, events) = place(&mut book, limit(Side::Bid, 105, 5, A));
    assert_eq!(events[1], fill(outcome.order_id, Side::Bid, A, 100, 5, maker, B));
    assert!(book.is_empty());
}

#[test]
fn sell_trades_at_the_resting_bid_price_not_its_limit() {
    let mut book = OrderBook::default();
    let maker = rest(&mut book, Side::Bid, 100, 5, B);
    let (outcome, events) = place(&mut book, limit(Side::Ask, 95, 3, A));
    assert_eq!(events[1], fill(outcome.order_id, Side::Ask, A, 100, 3, maker, B));
    assert_eq!(book.best(Side::Bid), Some((100, 2)));
}

#[test]
fn limit_does_not_trade_beyond_its_price() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    let far = rest(&mut book, Side::Ask, 102, 5, B);
    let (outcome, events) = place(&mut book, limit(Side::Bid, 101, 8, A));
    assert_eq!(events.iter().filter(|e| e.kind == EventKind::Fill).count(), 1);
    assert_eq!(outcome.status, OrderStatus::PartiallyFilled);
    assert_eq!(book.best(Side::Bid), Some((101, 3)));
    assert_eq!(book.order(far).unwrap().quantity, 5);
}

#[test]
fn spec_book_walk_market_buy_80() {
    let mut book = spec_asks();
    let request = market(Side::Bid, 80, A);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(outcome.order_id, 4);
    assert_eq!(
        events,
        vec![accepted(&request, 4), fill(4, Side::Bid, A, 10_010, 50, 1, B), fill(4, Side::Bid, A, 10_020, 30, 2, B),]
    );
    assert_eq!(
        outcome,
        PlaceOutcome { order_id: 4, status: OrderStatus::Filled, filled: 80, remaining: 0, reason: Reason::None }
    );
    // VWAP 100.1375 in ticks of 0.01: (50·10010 + 30·10020) / 80.
    assert_eq!(50 * 10_010 + 30 * 10_020, 801_100);
    assert_eq!(book.depth(Side::Ask, 10), vec![(10_020, 70), (10_030, 200)]);
    assert_eq!(book.queue(Side::Ask, 10_020), vec![2]);
    assert_eq!(book.order(2).unwrap().quantity, 70);
    assert!(book.order(1).is_none());
}

#[test]
fn spec_book_walk_remainder_keeps_front_of_level() {
    let mut book = spec_asks();
    let behind = rest(&mut book, Side::Ask, 10_020, 10, C);
    place(&mut book, market(Side::Bid, 80, A));
    assert_eq!(book.queue(Side::Ask, 10_020), vec![2, behind]);
    assert_eq!(book.best(Side::Ask), Some((10_020, 80)));
}

// ---------------------------------------------------------------------------------------------
// Time in force
// ---------------------------------------------------------------------------------------------

#[test]
fn gtc_limit_with_nothing_to_take_rests_as_new() {
    let mut book = OrderBook::default();
    let request = limit(Side::Bid, 100, 5, A);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 1)]);
    assert_eq!(
        outcome,
        PlaceOutcome { order_id: 1, status: OrderStatus::New, filled: 0, remaining: 5, reason: Reason::None }
    );
    assert_eq!(book.order(1), Some(RestingOrder { order_id: 1, owner: A, side: Side::Bid, price: 100, quantity: 5 }));
}

#[test]
fn gtc_limit_partial_fill_rests_remainder_as_partially_filled() {
    let mut book = OrderBook::default();
    let maker = rest(&mut book, Side::Ask, 100, 3, B);
    let request = limit(Side::Bid, 101, 10, A);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 2), fill(2, Side::Bid, A, 100, 3, maker, B)]);
    assert_eq!(
        outcome,
        PlaceOutcome {
            order_id: 2,
            status: OrderStatus::PartiallyFilled,
            filled: 3,
            remaining: 7,
            reason: Reason::None
        }
    );
    assert_eq!(book.order(2), Some(RestingOrder { order_id: 2, owner: A, side: Side::Bid, price: 101, quantity: 7 }));
    assert_eq!(book.best(Side::Bid), Some((101, 7)));
    assert_eq!(book.best(Side::Ask), None);
}

#[test]
fn ioc_remainder_expires() {
    let mut book = OrderBook::default();
    let maker = rest(&mut book, Side::Ask, 100, 3, B);
    let request = limit(Side::Bid, 101, 10, A).with_time_in_force(TimeInForce::Ioc);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(
        events,
        vec![
            accepted(&request, 2),
            fill(2, Side::Bid, A, 100, 3, maker, B),
            expired(&request, 2, Reason::ImmediateOrCancel, 7),
        ]
    );
    assert_eq!(
        outcome,
        PlaceOutcome {
            order_id: 2,
            status: OrderStatus::Expired,
            filled: 3,
            remaining: 7,
            reason: Reason::ImmediateOrCancel
        }
    );
    assert!(book.is_empty());
}

#[test]
fn ioc_filled_completely_is_filled() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 10, B);
    let (outcome, events) = place(&mut book, limit(Side::Bid, 100, 4, A).with_time_in_force(TimeInForce::Ioc));
    assert_eq!(outcome.status, OrderStatus::Filled);
    assert_eq!(events.len(), 2);
    assert_eq!(book.best(Side::Ask), Some((100, 6)));
}

#[test]
fn fok_fills_completely_across_levels() {
    let mut book = spec_asks();
    let request = limit(Side::Bid, 10_020, 150, A).with_time_in_force(TimeInForce::Fok);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(
        events,
        vec![accepted(&request, 4), fill(4, Side::Bid, A, 10_010, 50, 1, B), fill(4, Side::Bid, A, 10_020, 100, 2, B)]
    );
    assert_eq!(outcome.status, OrderStatus::Filled);
    assert_eq!((outcome.filled, outcome.remaining), (150, 0));
    assert_eq!(book.depth(Side::Ask, 10), vec![(10_030, 200)]);
}

#[test]
fn fok_that_cannot_fill_does_nothing() {
    let mut book = spec_asks();
    let before = snapshot(&book);
    // 151 lots are available up to 10020 only if one more lot existed.
    let request = limit(Side::Bid, 10_020, 151, A).with_time_in_force(TimeInForce::Fok);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 4), expired(&request, 4, Reason::FillOrKill, 151)]);
    assert_eq!(
        outcome,
        PlaceOutcome {
            order_id: 4,
            status: OrderStatus::Expired,
            filled: 0,
            remaining: 151,
            reason: Reason::FillOrKill
        }
    );
    assert_eq!(snapshot(&book), Snapshot { next_order_id: 5, ..before });
}

#[test]
fn fok_market_that_cannot_fill_does_nothing() {
    let mut book = spec_asks();
    let before = snapshot(&book);
    let request = market(Side::Bid, 351, A).with_time_in_force(TimeInForce::Fok);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 4), expired(&request, 4, Reason::FillOrKill, 351)]);
    assert_eq!(outcome.status, OrderStatus::Expired);
    assert_eq!(snapshot(&book), Snapshot { next_order_id: 5, ..before });
}

#[test]
fn fok_market_respects_impact_band() {
    let mut book = spec_asks();
    book.set_impact_band(1, 10_020).unwrap();
    let before = snapshot(&book);
    // 350 lots rest, but only 150 inside the band.
    let request = market(Side::Bid, 200, A).with_time_in_force(TimeInForce::Fok);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 4), expired(&request, 4, Reason::FillOrKill, 200)]);
    assert_eq!(outcome.reason, Reason::FillOrKill);
    assert_eq!(snapshot(&book), Snapshot { next_order_id: 5, ..before });
}

#[test]
fn fok_reject_taker_with_own_order_in_the_way_does_nothing() {
    let mut book = own_order_in_the_middle();
    let before = snapshot(&book);
    let request =
        limit(Side::Bid, 102, 15, A).with_time_in_force(TimeInForce::Fok).with_stp(SelfTradePrevention::RejectTaker);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 4), expired(&request, 4, Reason::FillOrKill, 15)]);
    assert_eq!(outcome.status, OrderStatus::Expired);
    assert_eq!(snapshot(&book), Snapshot { next_order_id: 5, ..before });
}

#[test]
fn fok_reject_taker_fills_when_own_order_is_not_reached() {
    let mut book = own_order_in_the_middle();
    let request =
        limit(Side::Bid, 102, 10, A).with_time_in_force(TimeInForce::Fok).with_stp(SelfTradePrevention::RejectTaker);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 4), fill(4, Side::Bid, A, 100, 10, 1, B)]);
    assert_eq!(outcome.status, OrderStatus::Filled);
    assert_eq!(book.queue(Side::Ask, 101), vec![2]);
}

#[test]
fn fok_reject_both_with_own_order_in_the_way_does_nothing_and_keeps_own_order() {
    let mut book = own_order_in_the_middle();
    let before = snapshot(&book);
    let request =
        limit(Side::Bid, 102, 15, A).with_time_in_force(TimeInForce::Fok).with_stp(SelfTradePrevention::RejectBoth);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 4), expired(&request, 4, Reason::FillOrKill, 15)]);
    assert_eq!(outcome.status, OrderStatus::Expired);
    assert_eq!(snapshot(&book), Snapshot { next_order_id: 5, ..before });
}

#[test]
fn fok_reject_maker_does_not_count_own_liquidity() {
    let mut book = own_order_in_the_middle();
    let before = snapshot(&book);
    // 30 lots rest up to 102 but only 20 of them are someone else's.
    let request =
        limit(Side::Bid, 102, 21, A).with_time_in_force(TimeInForce::Fok).with_stp(SelfTradePrevention::RejectMaker);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 4), expired(&request, 4, Reason::FillOrKill, 21)]);
    assert_eq!(outcome.status, OrderStatus::Expired);
    assert_eq!(snapshot(&book), Snapshot { next_order_id: 5, ..before }, "own order must not be cancelled");
}

#[test]
fn fok_reject_maker_fills_past_own_order_cancelling_it() {
    let mut book = own_order_in_the_middle();
    let request =
        limit(Side::Bid, 102, 20, A).with_time_in_force(TimeInForce::Fok).with_stp(SelfTradePrevention::RejectMaker);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(
        events,
        vec![
            accepted(&request, 4),
            fill(4, Side::Bid, A, 100, 10, 1, B),
            event(EventKind::Cancelled, Reason::SelfTradePrevention, Side::Ask, 2, A, 101, 10),
            fill(4, Side::Bid, A, 102, 10, 3, C),
        ]
    );
    assert_eq!(outcome.status, OrderStatus::Filled);
    assert!(book.is_empty());
}

#[test]
fn fok_allow_counts_and_trades_own_liquidity() {
    let mut book = own_order_in_the_middle();
    let request =
        limit(Side::Bid, 102, 25, A).with_time_in_force(TimeInForce::Fok).with_stp(SelfTradePrevention::Allow);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(
        events,
        vec![
            accepted(&request, 4),
            fill(4, Side::Bid, A, 100, 10, 1, B),
            fill(4, Side::Bid, A, 101, 10, 2, A),
            fill(4, Side::Bid, A, 102, 5, 3, C),
        ]
    );
    assert_eq!(outcome.status, OrderStatus::Filled);
    assert_eq!(book.orders(), vec![RestingOrder { order_id: 3, owner: C, side: Side::Ask, price: 102, quantity: 5 }]);
}

// ---------------------------------------------------------------------------------------------
// Post-only
// ---------------------------------------------------------------------------------------------

#[test]
fn post_only_that_would_take_expires_and_changes_nothing() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    rest(&mut book, Side::Bid, 98, 5, C);
    let before = snapshot(&book);
    let request = limit(Side::Bid, 100, 5, A).post_only();
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 3), expired(&request, 3, Reason::PostOnlyWouldTake, 5)]);
    assert_eq!(
        outcome,
        PlaceOutcome {
            order_id: 3,
            status: OrderStatus::Expired,
            filled: 0,
            remaining: 5,
            reason: Reason::PostOnlyWouldTake
        }
    );
    assert_eq!(snapshot(&book), Snapshot { next_order_id: 4, ..before });
}

#[test]
fn post_only_that_would_take_only_own_order_still_expires() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Bid, 100, 5, A);
    let before = snapshot(&book);
    let request = limit(Side::Ask, 99, 5, A).post_only().with_stp(SelfTradePrevention::RejectMaker);
    let (outcome, _) = place(&mut book, request);
    assert_eq!(outcome.reason, Reason::PostOnlyWouldTake);
    assert_eq!(snapshot(&book), Snapshot { next_order_id: 3, ..before });
}

#[test]
fn post_only_that_does_not_cross_rests() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    let request = limit(Side::Bid, 99, 5, A).post_only();
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 2)]);
    assert_eq!(outcome.status, OrderStatus::New);
    assert_eq!(book.best(Side::Bid), Some((99, 5)));
}

// ---------------------------------------------------------------------------------------------
// Self-trade prevention
// ---------------------------------------------------------------------------------------------

#[test]
fn stp_reject_taker_keeps_earlier_fills_and_expires_remainder() {
    let mut book = own_order_in_the_middle();
    let request = limit(Side::Bid, 102, 25, A).with_stp(SelfTradePrevention::RejectTaker);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(
        events,
        vec![
            accepted(&request, 4),
            fill(4, Side::Bid, A, 100, 10, 1, B),
            expired(&request, 4, Reason::SelfTradePrevention, 15),
        ]
    );
    assert_eq!(
        outcome,
        PlaceOutcome {
            order_id: 4,
            status: OrderStatus::Expired,
            filled: 10,
            remaining: 15,
            reason: Reason::SelfTradePrevention
        }
    );
    assert_eq!(book.depth(Side::Ask, 10), vec![(101, 10), (102, 10)]);
    assert_eq!(book.order(2).unwrap().owner, A);
    assert_eq!(book.best(Side::Bid), None, "a GTC taker stopped by STP must not rest");
}

#[test]
fn stp_is_the_default_reject_taker() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Bid, 100, 5, A);
    let (outcome, events) = place(&mut book, limit(Side::Ask, 100, 5, A));
    assert_eq!(outcome.reason, Reason::SelfTradePrevention);
    assert_eq!(events.len(), 2);
    assert_eq!(book.best(Side::Bid), Some((100, 5)));
}

#[test]
fn stp_reject_maker_cancels_own_order_and_matching_continues() {
    let mut book = own_order_in_the_middle();
    let request = limit(Side::Bid, 102, 25, A).with_stp(SelfTradePrevention::RejectMaker);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(
        events,
        vec![
            accepted(&request, 4),
            fill(4, Side::Bid, A, 100, 10, 1, B),
            event(EventKind::Cancelled, Reason::SelfTradePrevention, Side::Ask, 2, A, 101, 10),
            fill(4, Side::Bid, A, 102, 10, 3, C),
        ]
    );
    assert_eq!(
        outcome,
        PlaceOutcome {
            order_id: 4,
            status: OrderStatus::PartiallyFilled,
            filled: 20,
            remaining: 5,
            reason: Reason::None
        }
    );
    assert_eq!(book.orders(), vec![RestingOrder { order_id: 4, owner: A, side: Side::Bid, price: 102, quantity: 5 }]);
}

#[test]
fn stp_reject_maker_skips_own_order_within_a_level() {
    let mut book = OrderBook::default();
    let own = rest(&mut book, Side::Ask, 100, 5, A);
    let other = rest(&mut book, Side::Ask, 100, 5, B);
    let (_, events) = place(&mut book, limit(Side::Bid, 100, 3, A).with_stp(SelfTradePrevention::RejectMaker));
    assert_eq!(events[1], event(EventKind::Cancelled, Reason::SelfTradePrevention, Side::Ask, own, A, 100, 5));
    assert_eq!(events[2], fill(3, Side::Bid, A, 100, 3, other, B));
    assert_eq!(book.queue(Side::Ask, 100), vec![other]);
    assert_eq!(book.best(Side::Ask), Some((100, 2)));
}

#[test]
fn stp_reject_both_cancels_own_order_and_expires_taker() {
    let mut book = own_order_in_the_middle();
    let request = limit(Side::Bid, 102, 25, A).with_stp(SelfTradePrevention::RejectBoth);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(
        events,
        vec![
            accepted(&request, 4),
            fill(4, Side::Bid, A, 100, 10, 1, B),
            event(EventKind::Cancelled, Reason::SelfTradePrevention, Side::Ask, 2, A, 101, 10),
            expired(&request, 4, Reason::SelfTradePrevention, 15),
        ]
    );
    assert_eq!(
        outcome,
        PlaceOutcome {
            order_id: 4,
            status: OrderStatus::Expired,
            filled: 10,
            remaining: 15,
            reason: Reason::SelfTradePrevention
        }
    );
    assert_eq!(book.orders(), vec![RestingOrder { order_id: 3, owner: C, side: Side::Ask, price: 102, quantity: 10 }]);
}

#[test]
fn stp_allow_trades_with_own_order() {
    let mut book = own_order_in_the_middle();
    let request = limit(Side::Bid, 101, 15, A).with_stp(SelfTradePrevention::Allow);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(
        events,
        vec![accepted(&request, 4), fill(4, Side::Bid, A, 100, 10, 1, B), fill(4, Side::Bid, A, 101, 5, 2, A)]
    );
    assert_eq!(outcome.status, OrderStatus::Filled);
    assert_eq!(book.order(2).unwrap().quantity, 5);
}

#[test]
fn stp_is_the_takers_setting_not_the_makers() {
    let mut book = OrderBook::default();
    // The maker says Allow, the taker (same owner) says RejectTaker: no trade.
    let request = limit(Side::Ask, 100, 5, A).with_stp(SelfTradePrevention::Allow);
    place(&mut book, request);
    let (outcome, _) = place(&mut book, limit(Side::Bid, 100, 5, A).with_stp(SelfTradePrevention::RejectTaker));
    assert_eq!(outcome.reason, Reason::SelfTradePrevention);
    assert_eq!(book.best(Side::Ask), Some((100, 5)));
}

#[test]
fn stp_does_not_apply_between_different_owners() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    let (outcome, _) = place(&mut book, limit(Side::Bid, 100, 5, A).with_stp(SelfTradePrevention::RejectBoth));
    assert_eq!(outcome.status, OrderStatus::Filled);
}

// ---------------------------------------------------------------------------------------------
// Market orders
// ---------------------------------------------------------------------------------------------

#[test]
fn market_buy_stops_at_impact_band() {
    let mut book = spec_asks();
    book.set_impact_band(1, 10_020).unwrap();
    let request = market(Side::Bid, 200, A);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(
        events,
        vec![
            accepted(&request, 4),
            fill(4, Side::Bid, A, 10_010, 50, 1, B),
            fill(4, Side::Bid, A, 10_020, 100, 2, B),
            expired(&request, 4, Reason::ImpactBand, 50),
        ]
    );
    assert_eq!(
        outcome,
        PlaceOutcome {
            order_id: 4,
            status: OrderStatus::Expired,
            filled: 150,
            remaining: 50,
            reason: Reason::ImpactBand
        }
    );
    assert_eq!(book.depth(Side::Ask, 10), vec![(10_030, 200)]);
}

#[test]
fn market_sell_stops_at_lower_impact_band() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Bid, 100, 5, B);
    rest(&mut book, Side::Bid, 99, 5, B);
    rest(&mut book, Side::Bid, 98, 5, B);
    book.set_impact_band(99, 1_000).unwrap();
    let (outcome, events) = place(&mut book, market(Side::Ask, 12, A));
    assert_eq!(events.iter().filter(|e| e.kind == EventKind::Fill).map(|e| e.price).collect::<Vec<_>>(), [100, 99]);
    assert_eq!((outcome.status, outcome.filled, outcome.remaining), (OrderStatus::Expired, 10, 2));
    assert_eq!(outcome.reason, Reason::ImpactBand);
    assert_eq!(book.depth(Side::Bid, 10), vec![(98, 5)]);
}

#[test]
fn market_order_entirely_outside_impact_band_expires_without_fills() {
    let mut book = spec_asks();
    book.set_impact_band(1, 10_000).unwrap();
    let before = snapshot(&book);
    let request = market(Side::Bid, 10, A);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 4), expired(&request, 4, Reason::ImpactBand, 10)]);
    assert_eq!(outcome.filled, 0);
    assert_eq!(snapshot(&book), Snapshot { next_order_id: 5, ..before });
}

#[test]
fn market_order_on_empty_side_expires_no_liquidity() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Bid, 100, 5, B);
    let request = market(Side::Bid, 10, A);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 2), expired(&request, 2, Reason::NoLiquidity, 10)]);
    assert_eq!(
        outcome,
        PlaceOutcome {
            order_id: 2,
            status: OrderStatus::Expired,
            filled: 0,
            remaining: 10,
            reason: Reason::NoLiquidity
        }
    );
    assert_eq!(book.len(), 1);
}

#[test]
fn market_order_that_exhausts_the_side_expires_remainder_no_liquidity() {
    let mut book = spec_asks();
    let (outcome, events) = place(&mut book, market(Side::Bid, 400, A));
    assert_eq!(events.len(), 5);
    assert_eq!((outcome.filled, outcome.remaining, outcome.reason), (350, 50, Reason::NoLiquidity));
    assert!(book.is_empty());
}

#[test]
fn market_gtc_is_treated_as_ioc_and_never_rests() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    let request = market(Side::Bid, 10, A).with_time_in_force(TimeInForce::Gtc);
    let (outcome, _) = place(&mut book, request);
    assert_eq!((outcome.status, outcome.filled, outcome.remaining), (OrderStatus::Expired, 5, 5));
    assert!(book.is_empty());
}

#[test]
fn market_orders_are_not_subject_to_the_price_band() {
    let mut book = spec_asks();
    book.set_price_band(1, 100).unwrap();
    let (outcome, _) = place(&mut book, market(Side::Bid, 10, A));
    assert_eq!(outcome.status, OrderStatus::Filled);
}

// ---------------------------------------------------------------------------------------------
// Quote-sized market orders
// ---------------------------------------------------------------------------------------------

#[test]
fn quote_market_buy_spends_budget_level_by_level() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 3, B);
    rest(&mut book, Side::Ask, 110, 5, B);
    // 3 lots @100 cost 300; 300 left buys floor(300/110) = 2 lots @110 (220); 80 left < 110.
    let request = quote_buy(600, A);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(
        events,
        vec![accepted(&request, 3), fill(3, Side::Bid, A, 100, 3, 1, B), fill(3, Side::Bid, A, 110, 2, 2, B)]
    );
    assert_eq!(
        outcome,
        PlaceOutcome { order_id: 3, status: OrderStatus::Filled, filled: 5, remaining: 80, reason: Reason::None }
    );
    assert_eq!(book.depth(Side::Ask, 10), vec![(110, 3)]);
}

#[test]
fn quote_market_buy_spending_exactly_is_filled_with_nothing_left() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 10, B);
    let (outcome, _) = place(&mut book, quote_buy(500, A));
    assert_eq!((outcome.status, outcome.filled, outcome.remaining), (OrderStatus::Filled, 5, 0));
    assert_eq!(book.best(Side::Ask), Some((100, 5)));
}

#[test]
fn quote_market_buy_that_cannot_buy_one_lot_expires_no_liquidity() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 10, B);
    let before = snapshot(&book);
    let request = quote_buy(99, A);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events, vec![accepted(&request, 2), expired(&request, 2, Reason::NoLiquidity, 99)]);
    assert_eq!(
        outcome,
        PlaceOutcome {
            order_id: 2,
            status: OrderStatus::Expired,
            filled: 0,
            remaining: 99,
            reason: Reason::NoLiquidity
        }
    );
    assert_eq!(snapshot(&book), Snapshot { next_order_id: 3, ..before });
}

#[test]
fn quote_market_buy_on_empty_side_expires_no_liquidity() {
    let mut book = OrderBook::default();
    let (outcome, events) = place(&mut book, quote_buy(1_000, A));
    assert_eq!((outcome.status, outcome.remaining, outcome.reason), (OrderStatus::Expired, 1_000, Reason::NoLiquidity));
    assert_eq!(events.len(), 2);
}

#[test]
fn quote_market_buy_outrunning_liquidity_expires_unspent_quote() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 2, B);
    let request = quote_buy(1_000, A);
    let (outcome, events) = place(&mut book, request);
    assert_eq!(events[2], expired(&request, 2, Reason::NoLiquidity, 800));
    assert_eq!((outcome.status, outcome.filled, outcome.remaining), (OrderStatus::Expired, 2, 800));
}

#[test]
fn quote_market_buy_stops_at_impact_band() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 2, B);
    rest(&mut book, Side::Ask, 120, 2, B);
    book.set_impact_band(1, 110).unwrap();
    let (outcome, _) = place(&mut book, quote_buy(1_000, A));
    assert_eq!((outcome.status, outcome.filled, outcome.remaining), (OrderStatus::Expired, 2, 800));
    assert_eq!(outcome.reason, Reason::ImpactBand);
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

fn assert_rejected(book: &mut OrderBook, request: OrderRequest, reason: Reason) {
    let before = snapshot(book);
    let id = before.next_order_id;
    let (outcome, events) = place(book, request);
    assert_eq!(
        events,
        vec![event(EventKind::Rejected, reason, request.side, id, request.owner, request.price, request.quantity)]
    );
    assert_eq!(
        outcome,
        PlaceOutcome { order_id: id, status: OrderStatus::Rejected, filled: 0, remaining: request.quantity, reason }
    );
    assert_eq!(snapshot(book), Snapshot { next_order_id: id + 1, ..before });
}

#[test]
fn quantity_below_minimum_is_rejected() {
    let mut book = params(|p| p.min_quantity = 5);
    rest(&mut book, Side::Ask, 100, 5, B);
    assert_rejected(&mut book, limit(Side::Bid, 100, 4, A), Reason::QuantityBelowMinimum);
    assert_rejected(&mut book, market(Side::Bid, 4, A), Reason::QuantityBelowMinimum);
}

#[test]
fn quantity_above_maximum_is_rejected() {
    let mut book = params(|p| p.max_quantity = 10);
    rest(&mut book, Side::Ask, 100, 10, B);
    assert_rejected(&mut book, limit(Side::Bid, 100, 11, A), Reason::QuantityAboveMaximum);
    assert_rejected(&mut book, market(Side::Bid, 11, A), Reason::QuantityAboveMaximum);
}

#[test]
fn quantity_at_the_limits_is_accepted() {
    let mut book = params(|p| {
        p.min_quantity = 5;
        p.max_quantity = 10;
    });
    rest(&mut book, Side::Bid, 100, 5, A);
    rest(&mut book, Side::Bid, 100, 10, A);
    assert_eq!(book.best(Side::Bid), Some((100, 15)));
}

#[test]
fn limit_price_outside_band_is_rejected() {
    let mut book = params(|p| p.price_band = (90, 110));
    rest(&mut book, Side::Ask, 100, 5, B);
    assert_rejected(&mut book, limit(Side::Bid, 89, 1, A), Reason::PriceBand);
    assert_rejected(&mut book, limit(Side::Bid, 111, 1, A), Reason::PriceBand);
    assert_rejected(&mut book, limit(Side::Ask, 111, 1, A), Reason::PriceBand);
    rest(&mut book, Side::Bid, 90, 1, A);
    rest(&mut book, Side::Ask, 110, 1, A);
}

#[test]
fn book_params_are_validated() {
    assert!(matches!(
        OrderBook::new(BookParams { min_quantity: 0, ..BookParams::default() }),
        Err(BookError::InvalidParameter(_))
    ));
    assert!(matches!(
        OrderBook::new(BookParams { min_quantity: 5, max_quantity: 4, ..BookParams::default() }),
        Err(BookError::InvalidParameter(_))
    ));
    assert!(matches!(
        OrderBook::new(BookParams { price_band: (10, 9), ..BookParams::default() }),
        Err(BookError::InvalidParameter(_))
    ));
    assert!(matches!(
        OrderBook::new(BookParams { impact_band: (0, 9), ..BookParams::default() }),
        Err(BookError::InvalidParameter(_))
    ));
    let mut book = OrderBook::default();
    assert!(book.set_price_band(5, 4).is_err());
    assert_eq!(book.params(), &BookParams::default());
}

// ---------------------------------------------------------------------------------------------
// Book states
// ---------------------------------------------------------------------------------------------

#[test]
fn post_only_state_rejects_takers_and_plain_limits() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    book.set_state(BookState::PostOnly);
    assert_rejected(&mut book, limit(Side::Bid, 99, 5, A), Reason::BookPostOnly);
    assert_rejected(&mut book, market(Side::Bid, 5, A), Reason::BookPostOnly);
    assert_rejected(&mut book, quote_buy(500, A), Reason::BookPostOnly);
}

#[test]
fn post_only_state_accepts_post_only_limits_and_amends() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    book.set_state(BookState::PostOnly);
    let (outcome, _) = place(&mut book, limit(Side::Bid, 99, 5, A).post_only());
    assert_eq!(outcome.status, OrderStatus::New);
    let events = amend(&mut book, outcome.order_id, Some(98), None);
    assert_eq!(events, vec![event(EventKind::Amended, Reason::None, Side::Bid, 2, A, 98, 5)]);
    let (outcome, _) = place(&mut book, limit(Side::Bid, 100, 5, A).post_only());
    assert_eq!(outcome.reason, Reason::PostOnlyWouldTake);
}

#[test]
fn cancel_only_state_rejects_places_and_amends() {
    let mut book = OrderBook::default();
    let id = rest(&mut book, Side::Ask, 100, 5, B);
    book.set_state(BookState::CancelOnly);
    assert_rejected(&mut book, limit(Side::Bid, 99, 5, A), Reason::BookCancelOnly);
    assert_rejected(&mut book, limit(Side::Bid, 99, 5, A).post_only(), Reason::BookCancelOnly);
    let before = snapshot(&book);
    let events = amend(&mut book, id, Some(101), None);
    assert_eq!(events, vec![event(EventKind::Rejected, Reason::BookCancelOnly, Side::Ask, id, B, 101, 5)]);
    assert_eq!(snapshot(&book), before);
}

#[test]
fn closed_state_rejects_places_and_amends() {
    let mut book = OrderBook::default();
    let id = rest(&mut book, Side::Ask, 100, 5, B);
    book.set_state(BookState::Closed);
    assert_rejected(&mut book, limit(Side::Bid, 100, 5, A), Reason::BookClosed);
    assert_rejected(&mut book, market(Side::Bid, 5, A), Reason::BookClosed);
    let events = amend(&mut book, id, None, Some(3));
    assert_eq!(events, vec![event(EventKind::Rejected, Reason::BookClosed, Side::Ask, id, B, 100, 3)]);
    assert_eq!(book.order(id).unwrap().quantity, 5);
}

#[test]
fn cancels_are_allowed_in_every_state() {
    for state in [BookState::Open, BookState::PostOnly, BookState::CancelOnly, BookState::Closed] {
        let mut book = OrderBook::default();
        let first = rest(&mut book, Side::Ask, 100, 5, B);
        rest(&mut book, Side::Bid, 90, 5, B);
        rest(&mut book, Side::Bid, 91, 5, C);
        book.set_state(state);
        let events = cancel(&mut book, first);
        assert_eq!(events, vec![event(EventKind::Cancelled, Reason::CancelledByOwner, Side::Ask, 1, B, 100, 5)]);
        let mut events = Vec::new();
        assert_eq!(book.cancel_all(B, &mut events), 1, "{state:?}");
        assert_eq!(events[0].kind, EventKind::Cancelled, "{state:?}");
        assert_eq!(book.orders().len(), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Cancel
// ---------------------------------------------------------------------------------------------

#[test]
fn cancel_removes_order_with_cancelled_by_owner() {
    let mut book = OrderBook::default();
    let id = rest(&mut book, Side::Bid, 100, 7, A);
    let events = cancel(&mut book, id);
    assert_eq!(events, vec![event(EventKind::Cancelled, Reason::CancelledByOwner, Side::Bid, id, A, 100, 7)]);
    assert!(book.order(id).is_none());
    assert!(book.is_empty());
    assert!(book.depth(Side::Bid, 10).is_empty());
}

#[test]
fn cancel_reports_the_remaining_quantity_after_fills() {
    let mut book = OrderBook::default();
    let id = rest(&mut book, Side::Bid, 100, 7, A);
    place(&mut book, limit(Side::Ask, 100, 3, B));
    let events = cancel(&mut book, id);
    assert_eq!(events, vec![event(EventKind::Cancelled, Reason::CancelledByOwner, Side::Bid, id, A, 100, 4)]);
}

#[test]
fn cancel_keeps_the_queue_order_of_the_others() {
    let mut book = OrderBook::default();
    let ids: Vec<OrderId> = (0..4).map(|_| rest(&mut book, Side::Ask, 100, 1, B)).collect();
    cancel(&mut book, ids[1]);
    assert_eq!(book.queue(Side::Ask, 100), vec![ids[0], ids[2], ids[3]]);
    cancel(&mut book, ids[0]);
    cancel(&mut book, ids[3]);
    assert_eq!(book.queue(Side::Ask, 100), vec![ids[2]]);
    assert_eq!(book.best(Side::Ask), Some((100, 1)));
}

#[test]
fn cancel_of_filled_order_is_rejected_order_not_live() {
    let mut book = OrderBook::default();
    let id = rest(&mut book, Side::Ask, 100, 5, B);
    place(&mut book, limit(Side::Bid, 100, 5, A));
    let before = snapshot(&book);
    assert_eq!(cancel(&mut book, id), vec![not_live_event(id)]);
    assert_eq!(snapshot(&book), before);
}

#[test]
fn cancel_of_expired_or_rejected_order_is_order_not_live() {
    let mut book = params(|p| p.max_quantity = 10);
    let (ioc, _) = place(&mut book, limit(Side::Bid, 100, 5, A).with_time_in_force(TimeInForce::Ioc));
    let (rejected, _) = place(&mut book, limit(Side::Bid, 100, 50, A));
    assert_eq!(rejected.status, OrderStatus::Rejected);
    assert_eq!(cancel(&mut book, ioc.order_id), vec![not_live_event(ioc.order_id)]);
    assert_eq!(cancel(&mut book, rejected.order_id), vec![not_live_event(rejected.order_id)]);
}

#[test]
fn cancel_twice_is_order_not_live_the_second_time() {
    let mut book = OrderBook::default();
    let id = rest(&mut book, Side::Ask, 100, 5, B);
    cancel(&mut book, id);
    assert_eq!(cancel(&mut book, id), vec![not_live_event(id)]);
}

#[test]
fn cancel_of_never_issued_id_is_an_error_and_changes_nothing() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    rest(&mut book, Side::Bid, 99, 5, B);
    let before = snapshot(&book);
    let mut events = Vec::new();
    assert_eq!(book.cancel(3, &mut events), Err(BookError::UnknownOrder(3, 3)));
    assert_eq!(book.cancel(0, &mut events), Err(BookError::UnknownOrder(0, 3)));
    assert_eq!(book.cancel(u64::MAX, &mut events), Err(BookError::UnknownOrder(u64::MAX, 3)));
    assert!(events.is_empty());
    assert_eq!(snapshot(&book), before);
}

#[test]
fn cancel_on_a_fresh_book_is_an_error() {
    let mut book = OrderBook::default();
    let mut events = Vec::new();
    assert_eq!(book.cancel(1, &mut events), Err(BookError::UnknownOrder(1, 1)));
    assert_eq!(book.next_order_id(), 1);
}

// ---------------------------------------------------------------------------------------------
// Amend
// ---------------------------------------------------------------------------------------------

/// Three bids of 5 at 100 by A, B, C (ids 1, 2, 3) and an ask at 105.
fn three_bids() -> OrderBook {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Bid, 100, 5, A);
    rest(&mut book, Side::Bid, 100, 5, B);
    rest(&mut book, Side::Bid, 100, 5, C);
    rest(&mut book, Side::Ask, 105, 5, C);
    book
}

#[test]
fn amend_quantity_down_keeps_priority() {
    let mut book = three_bids();
    let events = amend(&mut book, 1, None, Some(2));
    assert_eq!(events, vec![event(EventKind::Amended, Reason::None, Side::Bid, 1, A, 100, 2)]);
    assert_eq!(book.queue(Side::Bid, 100), vec![1, 2, 3]);
    assert_eq!(book.best(Side::Bid), Some((100, 12)));
    assert_eq!(book.order(1).unwrap().quantity, 2);
    // And it really is first in line.
    let (_, events) = place(&mut book, limit(Side::Ask, 100, 1, C));
    assert_eq!(events[1].maker_order_id, 1);
}

#[test]
fn amend_quantity_down_with_the_same_price_given_keeps_priority() {
    let mut book = three_bids();
    amend(&mut book, 1, Some(100), Some(4));
    assert_eq!(book.queue(Side::Bid, 100), vec![1, 2, 3]);
}

#[test]
fn amend_quantity_up_moves_to_back() {
    let mut book = three_bids();
    let events = amend(&mut book, 2, None, Some(6));
    assert_eq!(events, vec![event(EventKind::Amended, Reason::None, Side::Bid, 2, B, 100, 6)]);
    assert_eq!(book.queue(Side::Bid, 100), vec![1, 3, 2]);
    assert_eq!(book.best(Side::Bid), Some((100, 16)));
    assert_eq!(book.order(2).unwrap().quantity, 6);
}

#[test]
fn amend_price_moves_to_back_of_new_level() {
    let mut book = three_bids();
    let other = rest(&mut book, Side::Bid, 101, 5, B);
    let events = amend(&mut book, 2, Some(101), None);
    assert_eq!(events, vec![event(EventKind::Amended, Reason::None, Side::Bid, 2, B, 101, 5)]);
    assert_eq!(book.queue(Side::Bid, 101), vec![other, 2]);
    assert_eq!(book.queue(Side::Bid, 100), vec![1, 3]);
    assert_eq!(book.depth(Side::Bid, 10), vec![(101, 10), (100, 10)]);
    assert_eq!(book.order(2), Some(RestingOrder { order_id: 2, owner: B, side: Side::Bid, price: 101, quantity: 5 }));
}

#[test]
fn amend_price_away_and_back_loses_priority() {
    let mut book = three_bids();
    amend(&mut book, 2, Some(99), Some(3));
    assert_eq!(book.depth(Side::Bid, 10), vec![(100, 10), (99, 3)]);
    amend(&mut book, 2, Some(100), None);
    assert_eq!(book.queue(Side::Bid, 100), vec![1, 3, 2]);
    assert_eq!(book.order(2).unwrap().quantity, 3);
    assert_eq!(book.depth(Side::Bid, 10), vec![(100, 13)]);
}

#[test]
fn amend_quantity_up_of_the_oldest_live_order_moves_it_to_back() {
    let mut book = three_bids();
    let events = amend(&mut book, 1, None, Some(6));
    assert_eq!(events, vec![event(EventKind::Amended, Reason::None, Side::Bid, 1, A, 100, 6)]);
    assert_eq!(book.queue(Side::Bid, 100), vec![2, 3, 1]);
    assert_eq!(book.order(1).unwrap().quantity, 6);
}

#[test]
fn amend_price_of_the_only_live_order_moves_it() {
    let mut book = OrderBook::default();
    let id = rest(&mut book, Side::Bid, 100, 5, A);
    let events = amend(&mut book, id, Some(101), None);
    assert_eq!(events, vec![event(EventKind::Amended, Reason::None, Side::Bid, id, A, 101, 5)]);
    assert_eq!(book.order(id), Some(RestingOrder { order_id: id, owner: A, side: Side::Bid, price: 101, quantity: 5 }));
    assert_eq!(cancel(&mut book, id)[0].kind, EventKind::Cancelled);
}

#[test]
fn amend_price_of_the_only_live_order_after_a_later_id_moves_it() {
    let mut book = OrderBook::default();
    let id = rest(&mut book, Side::Bid, 100, 5, A);
    let (ioc, _) = place(&mut book, limit(Side::Bid, 90, 1, B).with_time_in_force(TimeInForce::Ioc));
    assert_eq!(ioc.status, OrderStatus::Expired);
    let events = amend(&mut book, id, Some(101), None);
    assert_eq!(events, vec![event(EventKind::Amended, Reason::None, Side::Bid, id, A, 101, 5)]);
    assert_eq!(book.order(id), Some(RestingOrder { order_id: id, owner: A, side: Side::Bid, price: 101, quantity: 5 }));
}

#[test]
fn amend_that_would_cross_is_rejected() {
    let mut book = three_bids();
    let before = snapshot(&book);
    let events = amend(&mut book, 2, Some(105), None);
    assert_eq!(events, vec![event(EventKind::Rejected, Reason::AmendWouldCross, Side::Bid, 2, B, 105, 5)]);
    assert_eq!(snapshot(&book), before);
    let events = amend(&mut book, 4, Some(99), Some(1));
    assert_eq!(events, vec![event(EventKind::Rejected, Reason::AmendWouldCross, Side::Ask, 4, C, 99, 1)]);
    assert_eq!(snapshot(&book), before);
}

#[test]
fn amend_to_just_inside_the_spread_is_accepted() {
    let mut book = three_bids();
    amend(&mut book, 2, Some(104), None);
    assert_eq!(book.best(Side::Bid), Some((104, 5)));
    assert_eq!(book.best(Side::Ask), Some((105, 5)));
}

#[test]
fn amend_of_dead_order_is_order_not_live() {
    let mut book = three_bids();
    cancel(&mut book, 3);
    place(&mut book, limit(Side::Bid, 105, 5, A)); // fills order 4
    let before = snapshot(&book);
    assert_eq!(amend(&mut book, 3, Some(101), None), vec![not_live_event(3)]);
    assert_eq!(amend(&mut book, 4, None, Some(1)), vec![not_live_event(4)]);
    assert_eq!(snapshot(&book), before);
}

#[test]
fn amend_outside_filters_is_rejected() {
    let mut book = params(|p| {
        p.price_band = (90, 110);
        p.max_quantity = 10;
    });
    let id = rest(&mut book, Side::Bid, 100, 5, A);
    let before = snapshot(&book);
    let events = amend(&mut book, id, Some(89), None);
    assert_eq!(events, vec![event(EventKind::Rejected, Reason::PriceBand, Side::Bid, id, A, 89, 5)]);
    let events = amend(&mut book, id, None, Some(11));
    assert_eq!(events, vec![event(EventKind::Rejected, Reason::QuantityAboveMaximum, Side::Bid, id, A, 100, 11)]);
    assert_eq!(snapshot(&book), before);
}

#[test]
fn amend_misuse_is_an_error_and_changes_nothing() {
    let mut book = three_bids();
    let before = snapshot(&book);
    let mut events = Vec::new();
    assert!(matches!(book.amend(1, None, None, &mut events), Err(BookError::InvalidOrder(_))));
    assert_eq!(book.amend(1, Some(0), None, &mut events), Err(BookError::NonPositivePrice(0)));
    assert_eq!(book.amend(1, Some(-3), Some(2), &mut events), Err(BookError::NonPositivePrice(-3)));
    assert_eq!(book.amend(1, None, Some(0), &mut events), Err(BookError::NonPositiveQuantity(0)));
    assert_eq!(book.amend(1, Some(101), Some(-1), &mut events), Err(BookError::NonPositiveQuantity(-1)));
    assert_eq!(book.amend(5, Some(101), None, &mut events), Err(BookError::UnknownOrder(5, 5)));
    assert_eq!(book.amend(0, Some(101), None, &mut events), Err(BookError::UnknownOrder(0, 5)));
    assert!(events.is_empty());
    assert_eq!(snapshot(&book), before);
}

// ---------------------------------------------------------------------------------------------
// Cancel-all
// ---------------------------------------------------------------------------------------------

#[test]
fn cancel_all_cancels_the_owners_orders_in_id_order() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Bid, 97, 2, B); // 1
    rest(&mut book, Side::Ask, 103, 1, A); // 2
    rest(&mut book, Side::Bid, 99, 3, A); // 3
    rest(&mut book, Side::Ask, 101, 4, A); // 4
    rest(&mut book, Side::Ask, 101, 5, C); // 5
    rest(&mut book, Side::Bid, 97, 6, A); // 6
    amend(&mut book, 2, Some(101), None); // now behind 4 in its queue: cancels still go by id
    assert_eq!(book.queue(Side::Ask, 101), vec![4, 5, 2]);
    let mut events = Vec::new();
    assert_eq!(book.cancel_all(A, &mut events), 4);
    book.check_invariants().unwrap();
    let cancelled =
        |id, side, price, qty| event(EventKind::Cancelled, Reason::CancelledByOwner, side, id, A, price, qty);
    assert_eq!(
        events,
        vec![
            cancelled(2, Side::Ask, 101, 1),
            cancelled(3, Side::Bid, 99, 3),
            cancelled(4, Side::Ask, 101, 4),
            cancelled(6, Side::Bid, 97, 6),
        ]
    );
    assert_eq!(book.orders().iter().map(|o| o.order_id).collect::<Vec<_>>(), vec![1, 5]);
    assert_eq!(book.depth(Side::Bid, 10), vec![(97, 2)]);
    assert_eq!(book.depth(Side::Ask, 10), vec![(101, 5)]);
}

#[test]
fn cancel_all_with_nothing_live_does_nothing() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 103, 1, B);
    let before = snapshot(&book);
    let mut events = Vec::new();
    assert_eq!(book.cancel_all(A, &mut events), 0);
    assert!(events.is_empty());
    assert_eq!(snapshot(&book), before);
}

// ---------------------------------------------------------------------------------------------
// Ids and misuse
// ---------------------------------------------------------------------------------------------

#[test]
fn order_ids_are_dense_from_one_including_rejected_and_expired() {
    let mut book = params(|p| p.max_quantity = 100);
    assert_eq!(book.next_order_id(), 1);
    let outcomes: Vec<PlaceOutcome> = [
        limit(Side::Bid, 100, 5, A),                                      // rests
        limit(Side::Bid, 100, 500, A),                                    // rejected
        market(Side::Bid, 5, A),                                          // expires, no liquidity
        limit(Side::Ask, 100, 5, B).with_time_in_force(TimeInForce::Fok), // fills
        limit(Side::Ask, 90, 5, B).post_only(),                           // rests
        limit(Side::Bid, 95, 5, A).post_only(),                           // would take: expires
    ]
    .into_iter()
    .map(|request| place(&mut book, request).0)
    .collect();
    assert_eq!(outcomes.iter().map(|o| o.order_id).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        outcomes.iter().map(|o| o.status).collect::<Vec<_>>(),
        vec![
            OrderStatus::New,
            OrderStatus::Rejected,
            OrderStatus::Expired,
            OrderStatus::Filled,
            OrderStatus::New,
            OrderStatus::Expired
        ]
    );
    assert_eq!(book.next_order_id(), 7);
}

#[test]
fn ids_keep_counting_when_the_book_empties() {
    let mut book = OrderBook::default();
    let first = rest(&mut book, Side::Bid, 100, 5, A);
    cancel(&mut book, first);
    let (outcome, _) = place(&mut book, limit(Side::Ask, 100, 5, B));
    assert_eq!(outcome.order_id, 2);
    assert_eq!(book.order(2).unwrap().quantity, 5);
    assert!(book.order(1).is_none());
    assert_eq!(book.next_order_id(), 3);
}

#[test]
fn a_taker_that_empties_the_book_can_still_rest() {
    // The taker's id is issued while an older order is live; the fill removes the older one.
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    let (outcome, _) = place(&mut book, limit(Side::Bid, 100, 8, A));
    assert_eq!(outcome.order_id, 2);
    assert_eq!(book.order(2), Some(RestingOrder { order_id: 2, owner: A, side: Side::Bid, price: 100, quantity: 3 }));
    assert_eq!(cancel(&mut book, 2)[0].quantity, 3);
    assert_eq!(cancel(&mut book, 1), vec![not_live_event(1)]);
}

fn assert_misuse(request: OrderRequest, expected: &BookError) {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    rest(&mut book, Side::Bid, 99, 5, B);
    let before = snapshot(&book);
    let mut events = Vec::new();
    let result = book.place(&request, &mut events);
    match (&result, expected) {
        (Err(BookError::InvalidOrder(_)), BookError::InvalidOrder(_)) => {}
        (Err(error), expected) => assert_eq!(error, expected),
        (Ok(outcome), _) => panic!("{request:?} should be misuse, got {outcome:?}"),
    }
    assert!(events.is_empty());
    assert_eq!(snapshot(&book), before, "misuse must issue no id and change nothing");
}

#[test]
fn zero_or_negative_quantity_is_an_error() {
    assert_misuse(limit(Side::Bid, 100, 0, A), &BookError::NonPositiveQuantity(0));
    assert_misuse(limit(Side::Bid, 100, -5, A), &BookError::NonPositiveQuantity(-5));
    assert_misuse(market(Side::Bid, 0, A), &BookError::NonPositiveQuantity(0));
    assert_misuse(quote_buy(-1, A), &BookError::NonPositiveQuantity(-1));
}

#[test]
fn zero_or_negative_limit_price_is_an_error() {
    assert_misuse(limit(Side::Bid, 0, 5, A), &BookError::NonPositivePrice(0));
    assert_misuse(limit(Side::Ask, -100, 5, A), &BookError::NonPositivePrice(-100));
}

#[test]
fn contradictory_flags_are_errors() {
    assert_misuse(OrderRequest { post_only: true, ..market(Side::Bid, 5, A) }, &BookError::InvalidOrder(""));
    assert_misuse(OrderRequest { quote_quantity: true, ..limit(Side::Bid, 100, 5, A) }, &BookError::InvalidOrder(""));
    assert_misuse(quote_buy(500, A).with_time_in_force(TimeInForce::Fok), &BookError::InvalidOrder(""));
}

#[test]
fn market_order_price_is_ignored() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 100, 5, B);
    let (outcome, events) = place(&mut book, OrderRequest { price: -7, ..market(Side::Bid, 5, A) });
    assert_eq!(outcome.status, OrderStatus::Filled);
    assert_eq!(events[1].price, 100);
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

/// A sink that records the batch row of every event.
#[derive(Debug, Default)]
struct RowSink {
    row: usize,
    events: Vec<(usize, Event)>,
}

impl EventSink for RowSink {
    fn begin_operation(&mut self, row: usize) {
        self.row = row;
    }

    fn push(&mut self, event: Event) {
        self.events.push((self.row, event));
    }
}

const STP_ALLOW: u16 = 3 << flags::STP_SHIFT;
const STP_REJECT_MAKER: u16 = 1 << flags::STP_SHIFT;
const STP_REJECT_BOTH: u16 = 2 << flags::STP_SHIFT;

/// A batch touching every op code and most flags; ids 1..=10 are issued by its places.
fn mixed_batch() -> OperationColumns {
    let mut rows = OperationColumns::default();
    rows.push(op::PLACE, Side::Bid, 90, 1, B, 0, 0); // 1: stays
    rows.push(op::PLACE, Side::Ask, 101, 5, B, 0, 0); // 2
    rows.push(op::PLACE, Side::Ask, 102, 5, A, 0, 0); // 3
    rows.push(op::PLACE, Side::Ask, 103, 5, C, 0, flags::POST_ONLY); // 4
    rows.push(op::PLACE, Side::Bid, 99, 5, A, 0, 0); // 5
    rows.push(op::AMEND, Side::Bid, 0, 3, 0, 5, 0); // 5 → 3 lots
    rows.push(op::PLACE, Side::Bid, 102, 7, A, 0, STP_REJECT_MAKER); // 6: fills 2, cancels 3, rests 2
    rows.push(op::CANCEL, Side::Bid, 0, 0, 0, 3, 0); // not live
    rows.push(op::PLACE, Side::Ask, 0, 3, B, 0, flags::MARKET); // 7: fills 6, then 1 lot of 5
    rows.push(op::PLACE, Side::Bid, 0, 250, B, 0, flags::MARKET | flags::QUOTE_QUANTITY); // 8: 2 lots of 4
    rows.push(op::PLACE, Side::Bid, 103, 9, C, 0, flags::FOK | STP_ALLOW); // 9: FOK, not enough
    rows.push(op::PLACE, Side::Ask, 98, 2, A, 0, flags::IOC | STP_REJECT_BOTH); // 10: self-trade with 5
    rows.push(op::AMEND, Side::Bid, 104, 0, 0, 4, 0); // 4 moves to 104
    rows.push(op::AMEND, Side::Bid, 100, 0, 0, 5, 0); // 5 is gone
    rows.push(op::CANCEL_ALL, Side::Bid, 0, 0, C, 0, 0);
    rows.push(op::CANCEL, Side::Bid, 0, 0, 0, 10, 0);
    rows
}

/// Runs the rows one call at a time, as the batch would.
fn run_one_by_one(book: &mut OrderBook, rows: &OperationColumns, sink: &mut RowSink) {
    for row in 0..rows.len() {
        sink.begin_operation(row);
        let bits = rows.flags[row];
        let side = Side::from_code(rows.side[row]).unwrap();
        match rows.op[row] {
            op::PLACE => {
                let market = bits & flags::MARKET != 0;
                let request = OrderRequest {
                    side,
                    order_type: if market { OrderType::Market } else { OrderType::Limit },
                    price: if market { 0 } else { rows.price[row] },
                    quantity: rows.quantity[row],
                    quote_quantity: bits & flags::QUOTE_QUANTITY != 0,
                    owner: rows.owner[row],
                    time_in_force: if bits & flags::IOC != 0 {
                        TimeInForce::Ioc
                    } else if bits & flags::FOK != 0 {
                        TimeInForce::Fok
                    } else {
                        TimeInForce::Gtc
                    },
                    post_only: bits & flags::POST_ONLY != 0,
                    self_trade_prevention: match (bits & flags::STP_MASK) >> flags::STP_SHIFT {
                        0 => SelfTradePrevention::RejectTaker,
                        1 => SelfTradePrevention::RejectMaker,
                        2 => SelfTradePrevention::RejectBoth,
                        _ => SelfTradePrevention::Allow,
                    },
                };
                book.place(&request, sink).unwrap();
            }
            op::CANCEL => book.cancel(rows.order_id[row], sink).unwrap(),
            op::AMEND => {
                let price = (rows.price[row] != 0).then_some(rows.price[row]);
                let quantity = (rows.quantity[row] != 0).then_some(rows.quantity[row]);
                book.amend(rows.order_id[row], price, quantity, sink).unwrap();
            }
            op::CANCEL_ALL => {
                book.cancel_all(rows.owner[row], sink);
            }
            other => panic!("bad op {other}"),
        }
        book.check_invariants().unwrap();
    }
}

#[test]
fn batch_equals_the_same_operations_one_by_one() {
    let rows = mixed_batch();
    let mut one = OrderBook::default();
    let mut one_sink = RowSink::default();
    run_one_by_one(&mut one, &rows, &mut one_sink);

    let mut batched = OrderBook::default();
    let mut batch_sink = RowSink::default();
    batched.apply_batch(&rows.as_operations(), &mut batch_sink).unwrap();
    batched.check_invariants().unwrap();

    assert_eq!(batch_sink.events, one_sink.events);
    assert_eq!(snapshot(&batched), snapshot(&one));
    assert_eq!(batched.next_order_id(), 11);
    assert_eq!(batched.orders(), vec![RestingOrder { order_id: 1, owner: B, side: Side::Bid, price: 90, quantity: 1 }]);
    // The batch really exercised matching, STP, expiries and not-live rejects.
    let kinds: Vec<EventKind> = batch_sink.events.iter().map(|(_, e)| e.kind).collect();
    for kind in [EventKind::Fill, EventKind::Cancelled, EventKind::Expired, EventKind::Rejected, EventKind::Amended] {
        assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
    }
    assert!(batch_sink
        .events
        .iter()
        .any(|(row, e)| *row == 6 && e.reason == Reason::SelfTradePrevention && e.order_id == 3));
    assert!(batch_sink.events.iter().any(|(row, e)| *row == 12 && e.kind == EventKind::Amended && e.price == 104));
}

#[test]
fn batch_event_records_carry_the_row_of_each_event() {
    let rows = mixed_batch();
    let mut book = OrderBook::default();
    let mut records = EventRecords::default();
    book.apply_batch(&rows.as_operations(), &mut records).unwrap();
    let mut reference = OrderBook::default();
    let mut sink = RowSink::default();
    run_one_by_one(&mut reference, &rows, &mut sink);
    assert_eq!(records.len(), sink.events.len());
    for (i, (row, event)) in sink.events.iter().enumerate() {
        let (recorded_row, recorded) = records.get(i).expect("record exists");
        assert_eq!(recorded_row as usize, *row);
        assert_eq!(recorded, *event);
    }
    assert!(records.get(sink.events.len()).is_none());
}

#[test]
fn batch_continues_ids_of_a_book_in_use() {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 105, 1, B);
    rest(&mut book, Side::Ask, 106, 1, B);
    let mut rows = OperationColumns::default();
    rows.push(op::PLACE, Side::Bid, 100, 1, A, 0, 0); // 3
    rows.push(op::CANCEL, Side::Bid, 0, 0, 0, 3, 0);
    rows.push(op::CANCEL, Side::Bid, 0, 0, 0, 1, 0);
    let mut sink = RowSink::default();
    book.apply_batch(&rows.as_operations(), &mut sink).unwrap();
    let cancelled: Vec<OrderId> =
        sink.events.iter().filter(|(_, e)| e.kind == EventKind::Cancelled).map(|(_, e)| e.order_id).collect();
    assert_eq!(cancelled, vec![3, 1]);
    assert_eq!(book.orders().iter().map(|o| o.order_id).collect::<Vec<_>>(), vec![2]);
}

/// A book with a few orders, and a batch whose rows 0..3 are fine.
fn book_and_good_prefix() -> (OrderBook, OperationColumns) {
    let mut book = OrderBook::default();
    rest(&mut book, Side::Ask, 101, 5, B);
    rest(&mut book, Side::Bid, 99, 5, C);
    let mut rows = OperationColumns::default();
    rows.push(op::PLACE, Side::Bid, 101, 3, A, 0, 0); // 3: fills
    rows.push(op::CANCEL, Side::Bid, 0, 0, 0, 2, 0);
    rows.push(op::PLACE, Side::Ask, 100, 3, A, 0, 0); // 4
    (book, rows)
}

fn assert_batch_fails_at_row_3(book: &mut OrderBook, rows: &OperationColumns, expected: &BookError) {
    let before = snapshot(book);
    let mut sink = RowSink::default();
    match book.apply_batch(&rows.as_operations(), &mut sink) {
        Err(BookError::BatchRow { row, source }) => {
            assert_eq!(row, 3);
            match (source.as_ref(), expected) {
                (BookError::InvalidOrder(_), BookError::InvalidOrder(_)) => {}
                (source, expected) => assert_eq!(source, expected),
            }
        }
        other => panic!("expected a row 3 error, got {other:?}"),
    }
    assert!(sink.events.is_empty());
    assert_eq!(snapshot(book), before);
    book.check_invariants().unwrap();
}

#[test]
fn batch_cancelling_an_id_not_yet_issued_fails_and_changes_nothing() {
    let (mut book, mut rows) = book_and_good_prefix();
    rows.push(op::CANCEL, Side::Bid, 0, 0, 0, 5, 0); // ids so far run to 4
    rows.push(op::PLACE, Side::Bid, 95, 1, A, 0, 0); // 5, too late for row 3
    assert_batch_fails_at_row_3(&mut book, &rows, &BookError::UnknownOrder(5, 5));
}

#[test]
fn batch_amending_id_zero_fails_and_changes_nothing() {
    let (mut book, mut rows) = book_and_good_prefix();
    rows.push(op::AMEND, Side::Bid, 100, 0, 0, 0, 0);
    assert_batch_fails_at_row_3(&mut book, &rows, &BookError::UnknownOrder(0, 5));
}

#[test]
fn batch_with_bad_op_code_fails_and_changes_nothing() {
    let (mut book, mut rows) = book_and_good_prefix();
    rows.push(4, Side::Bid, 100, 1, A, 0, 0);
    assert_batch_fails_at_row_3(&mut book, &rows, &BookError::InvalidOrder(""));
}

#[test]
fn batch_with_ioc_and_fok_flags_fails_and_changes_nothing() {
    let (mut book, mut rows) = book_and_good_prefix();
    rows.push(op::PLACE, Side::Bid, 100, 1, A, 0, flags::IOC | flags::FOK);
    assert_batch_fails_at_row_3(&mut book, &rows, &BookError::InvalidOrder(""));
}

#[test]
fn batch_with_undefined_flag_bits_fails_and_changes_nothing() {
    let (mut book, mut rows) = book_and_good_prefix();
    rows.push(op::PLACE, Side::Bid, 100, 1, A, 0, 1 << 7);
    assert_batch_fails_at_row_3(&mut book, &rows, &BookError::InvalidOrder(""));
}

#[test]
fn batch_with_bad_side_fails_and_changes_nothing() {
    let (mut book, mut rows) = book_and_good_prefix();
    rows.push(op::PLACE, Side::Bid, 100, 1, A, 0, 0);
    rows.side[3] = 2;
    assert_batch_fails_at_row_3(&mut book, &rows, &BookError::InvalidOrder(""));
}

#[test]
fn batch_with_misuse_row_fails_and_changes_nothing() {
    let (mut book, mut rows) = book_and_good_prefix();
    rows.push(op::PLACE, Side::Bid, 0, 1, A, 0, 0);
    assert_batch_fails_at_row_3(&mut book, &rows, &BookError::NonPositivePrice(0));
    let (mut book, mut rows) = book_and_good_prefix();
    rows.push(op::PLACE, Side::Bid, 100, -2, A, 0, 0);
    assert_batch_fails_at_row_3(&mut book, &rows, &BookError::NonPositiveQuantity(-2));
    let (mut book, mut rows) = book_and_good_prefix();
    rows.push(op::AMEND, Side::Bid, 0, 0, 0, 1, 0);
    assert_batch_fails_at_row_3(&mut book, &rows, &BookError::InvalidOrder(""));
    let (mut book, mut rows) = book_and_good_prefix();
    rows.push(op::PLACE, Side::Bid, 0, 500, A, 0, flags::MARKET | flags::QUOTE_QUANTITY | flags::FOK);
    assert_batch_fails_at_row_3(&mut book, &rows, &BookError::InvalidOrder(""));
}

#[test]
fn batch_with_unequal_columns_fails_and_changes_nothing() {
    let (mut book, mut rows) = book_and_good_prefix();
    rows.flags.pop();
    let before = snapshot(&book);
    let mut sink = RowSink::default();
    assert!(matches!(book.apply_batch(&rows.as_operations(), &mut sink), Err(BookError::InvalidParameter(_))));
    assert!(sink.events.is_empty());
    assert_eq!(snapshot(&book), before);
}

#[test]
fn empty_batch_does_nothing() {
    let (mut book, _) = book_and_good_prefix();
    let before = snapshot(&book);
    let mut sink = RowSink::default();
    book.apply_batch(&OperationColumns::default().as_operations(), &mut sink).unwrap();
    assert!(sink.events.is_empty());
    assert_eq!(snapshot(&book), before);
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

#[test]
fn reason_codes_index_reason_all() {
    for (code, reason) in Reason::ALL.iter().enumerate() {
        assert_eq!(*reason as usize, code);
    }
    assert_eq!(Reason::SelfTradePrevention.name(), "SelfTradePrevention");
    assert_eq!(OrderStatus::PartiallyFilled.name(), "PartiallyFilled");
    assert_eq!(EventKind::Amended.name(), "Amended");
}

// ---------------------------------------------------------------------------------------------
// The id index over long runs
// ---------------------------------------------------------------------------------------------

/// Thousands of orders die oldest first and at random, so the id index drops its dead front in
/// bulk many times (and reopens an emptied window under a resting taker): every id still maps to
/// its live order, and only to it.
#[test]
fn the_id_index_keeps_every_live_order_across_bulk_drops() {
    let mut book = OrderBook::default();
    let mut rng = crate::workload::SplitMix64::new(7);
    let mut live: Vec<OrderId> = Vec::new();
    let mut issued: OrderId = 0;
    for step in 0..12_000u64 {
        let mut events = Vec::new();
        if step % 3 != 2 || live.is_empty() {
            // Mostly passive adds around 1,000; now and then a bid through the whole ask side.
            let crossing = step % 97 == 0;
            let side = if crossing || rng.below(2) == 0 { Side::Bid } else { Side::Ask };
            let offset = i64::try_from(rng.below(20)).unwrap() + 1;
            let price = match side {
                Side::Bid if crossing => 2_000,
                Side::Bid => 1_000 - offset,
                Side::Ask => 1_000 + offset,
            };
            let quantity = i64::try_from(rng.below(5)).unwrap() + 1;
            let owner = 1 + rng.below(1_000);
            book.place(&limit(side, price, quantity, owner), &mut events).unwrap();
            issued += 1;
        } else {
            // Oldest first two times in three, else a random live order.
            let at = if step % 9 == 8 { usize::try_from(rng.below(live.len() as u64)).unwrap() } else { 0 };
            book.cancel(live[at], &mut events).unwrap();
        }
        live = book.orders().iter().map(|order| order.order_id).collect();
        if step % 1_000 == 0 {
            book.check_invariants().unwrap();
        }
    }
    book.check_invariants().unwrap();
    assert_eq!(book.next_order_id(), issued + 1);
    let live: std::collections::HashSet<OrderId> = live.into_iter().collect();
    for id in 1..=issued {
        assert_eq!(book.order(id).is_some(), live.contains(&id), "order {id}");
    }
}
