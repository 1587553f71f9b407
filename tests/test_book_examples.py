"""Worked examples and the Python surface of the order book, on the Rust book and the reference book.

Every test runs on both :class:`crossbook.OrderBook` and :class:`crossbook.reference_book.ReferenceBook`
with concrete expected values, so a disagreement shows up as a failure on one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

import crossbook as cb
from crossbook import batch, reference_book
from crossbook.reference_book import ReferenceBook, event_tuple, order_tuple

I64_MAX = 2**63 - 1
A, B, C = 1, 2, 3  # owners


@pytest.fixture(params=[cb.OrderBook, ReferenceBook], ids=["rust", "reference"])
def make_book(request: pytest.FixtureRequest) -> Callable[..., Any]:
    factory: Callable[..., Any] = request.param
    return factory


def ticks(price: str, tick: str = "0.01") -> int:
    """A decimal price as a whole number of ticks."""
    count = Decimal(price) / Decimal(tick)
    assert count == count.to_integral_value(), f"{price} is off the tick {tick}"
    return int(count)


def events(result: Any) -> list[tuple[Any, ...]]:
    return [event_tuple(event) for event in result.events]


def orders(book: Any) -> list[tuple[int, int, str, int, int]]:
    return [order_tuple(order) for order in book.orders()]


def accepted(side: str, order_id: int, owner: int, price: int, quantity: int) -> tuple[Any, ...]:
    return ("Accepted", None, side, order_id, owner, price, quantity, 0, 0)


def fill(  # noqa: PLR0917 (an event's fields, in order)
    side: str, taker: int, owner: int, price: int, quantity: int, maker: int, maker_owner: int
) -> tuple[Any, ...]:
    return ("Fill", None, side, taker, owner, price, quantity, maker, maker_owner)


def order_event(  # noqa: PLR0917 (an event's fields, in order)
    kind: str, reason: str | None, side: str, order_id: int, owner: int, price: int, quantity: int
) -> tuple[Any, ...]:
    return (kind, reason, side, order_id, owner, price, quantity, 0, 0)


# ---------------------------------------------------------------------------------------------------
# SPEC §12 example 5: the book walk
# ---------------------------------------------------------------------------------------------------


def spec_asks(make_book: Callable[..., Any]) -> Any:
    """Asks 100.10 x 50, 100.20 x 100, 100.30 x 200 (tick 0.01) by owner B: ids 1, 2, 3."""
    book = make_book()
    for order_id, (price, quantity) in enumerate([("100.10", 50), ("100.20", 100), ("100.30", 200)], start=1):
        result = book.place("Ask", ticks(price), quantity, B)
        assert (result.order_id, result.status, result.is_resting) == (order_id, "New", True)
    return book


def test_spec_book_walk(make_book: Callable[..., Any]) -> None:
    book = spec_asks(make_book)
    assert book.depth() == ([], [(10010, 50), (10020, 100), (10030, 200)])

    result = book.place("Bid", None, 80, A)

    assert (result.order_id, result.status, result.reason, result.filled, result.remaining) == (
        4,
        "Filled",
        None,
        80,
        0,
    )
    assert not result.is_resting
    assert [(f.maker_order_id, f.maker_owner, f.price, f.quantity) for f in result.fills] == [
        (1, B, 10010, 50),
        (2, B, 10020, 30),
    ]
    assert events(result) == [
        accepted("Bid", 4, A, 0, 80),
        fill("Bid", 4, A, 10010, 50, 1, B),
        fill("Bid", 4, A, 10020, 30, 2, B),
    ]
    notional = sum(Decimal(f.price) * Decimal("0.01") * f.quantity for f in result.fills)
    assert notional / result.filled == Decimal("100.1375")
    # 70 @ 100.20 rests, still first in its level, and the book is otherwise as it was.
    assert book.depth() == ([], [(10020, 70), (10030, 200)])
    assert book.queue("Ask", 10020) == [2]
    assert order_tuple(book.order(2)) == (2, B, "Ask", 10020, 70)
    assert book.order(1) is None
    assert book.best_ask() == (10020, 70)
    assert len(book) == 2


def test_spec_book_walk_remainder_stays_ahead_of_later_orders(make_book: Callable[..., Any]) -> None:
    book = spec_asks(make_book)
    later = book.place("Ask", 10020, 10, C).order_id
    book.place("Bid", None, 80, A)
    assert book.queue("Ask", 10020) == [2, later]
    assert book.best_ask() == (10020, 80)
    # The next buy takes the partly filled order 2 first, then the later one.
    result = book.place("Bid", 10020, 75, A)
    assert [(f.maker_order_id, f.quantity) for f in result.fills] == [(2, 70), (later, 5)]


# ---------------------------------------------------------------------------------------------------
# The Python surface
# ---------------------------------------------------------------------------------------------------


def test_enums_and_plain_strings_are_interchangeable(make_book: Callable[..., Any]) -> None:
    with_enums, with_strings = make_book(state=cb.BookState.Open), make_book(state="Open")
    for book, names in [
        (with_enums, (cb.Side.Ask, cb.Side.Bid, cb.OrderType.Limit, cb.TimeInForce.IOC, cb.SelfTradePrevention.Allow)),
        (with_strings, ("Ask", "Bid", "Limit", "IOC", "Allow")),
    ]:
        ask, bid, limit, ioc, allow = names
        book.place(ask, 101, 5, A)
        result = book.place(bid, 101, 8, A, order_type=limit, time_in_force=ioc, self_trade_prevention=allow)
        assert events(result) == [
            accepted("Bid", 2, A, 101, 8),
            fill("Bid", 2, A, 101, 5, 1, A),
            order_event("Expired", "ImmediateOrCancel", "Bid", 2, A, 101, 3),
        ]
        book.place(ask, 103, 4, B)
        assert book.queue(ask, 103) == book.queue(str(ask), 103) == [3]
    # Names come back as plain strings.
    event = with_enums.place(cb.Side.Bid, 90, 1, A).events[0]
    assert type(event.side) is str
    assert type(event.kind) is str
    assert type(with_enums.state) is str
    assert orders(with_strings) == [(3, B, "Ask", 103, 4)]
    assert orders(with_enums) == [(3, B, "Ask", 103, 4), (4, A, "Bid", 90, 1)]


def test_place_result_attributes(make_book: Callable[..., Any]) -> None:
    book = make_book(price_band=(90, 110))
    book.place("Ask", 100, 3, B)

    partial = book.place("Bid", 101, 10, A)
    assert partial.order_id == 2
    assert partial.status == "PartiallyFilled"
    assert partial.reason is None and partial.reject_reason is None
    assert (partial.filled, partial.remaining, partial.is_resting) == (3, 7, True)
    [only_fill] = partial.fills
    assert (only_fill.maker_order_id, only_fill.maker_owner, only_fill.price, only_fill.quantity) == (1, B, 100, 3)

    rejected = book.place("Ask", 111, 4, B)
    assert (rejected.order_id, rejected.status, rejected.reason, rejected.reject_reason) == (
        3,
        "Rejected",
        "PriceBand",
        "PriceBand",
    )
    assert (rejected.filled, rejected.remaining, rejected.is_resting, rejected.fills) == (0, 4, False, [])
    assert events(rejected) == [order_event("Rejected", "PriceBand", "Ask", 3, B, 111, 4)]

    expired = book.place("Ask", 101, 9, B, time_in_force="IOC")
    assert (expired.status, expired.reason, expired.filled, expired.remaining) == ("Expired", "ImmediateOrCancel", 7, 2)
    assert not expired.is_resting

    new = book.place("Ask", 105, 2, C)
    assert (new.status, new.reason, new.filled, new.remaining, new.is_resting) == ("New", None, 0, 2, True)
    assert events(new) == [accepted("Ask", 5, C, 105, 2)]


def test_book_views(make_book: Callable[..., Any]) -> None:
    book = make_book()
    assert (book.best_bid(), book.best_ask(), book.depth(), len(book), book.next_order_id) == (
        None,
        None,
        ([], []),
        0,
        1,
    )
    assert book.orders() == [] and book.order(1) is None and book.queue("Bid", 100) == []
    for side, price, quantity, owner in [
        ("Bid", 99, 5, A),
        ("Bid", 98, 2, B),
        ("Bid", 99, 3, C),
        ("Ask", 101, 4, A),
        ("Ask", 103, 6, B),
        ("Ask", 102, 1, C),
        ("Bid", 97, 8, A),
    ]:
        assert book.place(side, price, quantity, owner).status == "New"
    assert book.best_bid() == (99, 8)
    assert book.best_ask() == (101, 4)
    assert book.depth() == ([(99, 8), (98, 2), (97, 8)], [(101, 4), (102, 1), (103, 6)])
    assert book.depth(2) == ([(99, 8), (98, 2)], [(101, 4), (102, 1)])
    assert book.depth(0) == ([], [])
    assert book.depth(None) == book.depth(10) == book.depth(3)  # None is the default, 10
    assert book.queue("Bid", 99) == [1, 3]
    assert book.queue(cb.Side.Ask, 102) == [6]
    assert book.queue("Ask", 99) == []
    order = book.order(5)
    assert (order.order_id, order.owner, order.side, order.price, order.quantity) == (5, B, "Ask", 103, 6)
    assert [o.order_id for o in book.orders()] == [1, 2, 3, 4, 5, 6, 7]
    assert (len(book), book.next_order_id) == (7, 8)
    assert book.cancel(3) is True
    assert book.cancel(3) is False  # no longer live
    assert (book.best_bid(), book.queue("Bid", 99), len(book), book.next_order_id) == ((99, 5), [1], 6, 8)


def test_cancel_all_cancels_one_owner_in_id_order(make_book: Callable[..., Any]) -> None:
    book = make_book()
    book.place("Ask", 105, 1, A)
    book.place("Bid", 95, 2, B)
    book.place("Bid", 96, 3, A)
    book.place("Ask", 104, 4, A)
    cancelled = book.cancel_all(A)
    assert [event_tuple(event) for event in cancelled] == [
        order_event("Cancelled", "CancelledByOwner", "Ask", 1, A, 105, 1),
        order_event("Cancelled", "CancelledByOwner", "Bid", 3, A, 96, 3),
        order_event("Cancelled", "CancelledByOwner", "Ask", 4, A, 104, 4),
    ]
    assert orders(book) == [(2, B, "Bid", 95, 2)]
    assert book.cancel_all(A) == []


def test_state_setter(make_book: Callable[..., Any]) -> None:
    book = make_book()
    assert book.state == "Open"
    book.place("Bid", 99, 5, A)  # 1

    book.state = cb.BookState.PostOnly
    assert book.state == "PostOnly"
    assert book.place("Bid", 98, 1, A).reason == "BookPostOnly"  # 2
    assert book.place("Bid", None, 1, A).reason == "BookPostOnly"  # 3
    assert book.place("Ask", 101, 1, B, post_only=True).status == "New"  # 4
    assert book.amend(1, quantity=4).kind == "Amended"

    book.state = "CancelOnly"
    rejected = book.place("Ask", 102, 1, B, post_only=True)  # 5
    assert events(rejected) == [order_event("Rejected", "BookCancelOnly", "Ask", 5, B, 102, 1)]
    assert event_tuple(book.amend(1, price=98)) == order_event("Rejected", "BookCancelOnly", "Bid", 1, A, 98, 4)

    book.state = "Closed"
    assert book.place("Bid", 99, 1, A).reason == "BookClosed"  # 6
    assert event_tuple(book.amend(1, quantity=2)) == order_event("Rejected", "BookClosed", "Bid", 1, A, 99, 2)
    assert book.cancel(4) is True
    assert [event.order_id for event in book.cancel_all(A)] == [1]
    assert (len(book), book.next_order_id) == (0, 7)

    book.state = "Open"
    assert book.place("Bid", 99, 1, A).status == "New"
    assert make_book(state="Closed").place("Bid", 99, 1, A).reason == "BookClosed"


def test_price_and_impact_bands(make_book: Callable[..., Any]) -> None:
    book = make_book(price_band=(95, 105))
    assert book.place("Bid", 94, 1, A).reason == "PriceBand"
    assert book.place("Ask", 106, 1, A).reason == "PriceBand"
    assert book.place("Bid", 95, 1, A).status == "New"
    book.set_price_band(None, 200)  # lower unbounded (1)
    assert book.place("Bid", 1, 1, A).status == "New"
    assert book.place("Ask", 201, 1, A).reason == "PriceBand"
    book.set_price_band()
    assert book.place("Ask", I64_MAX, 1, A).status == "New"

    book = make_book(impact_band=(90, 101))
    for price in (100, 101, 102):
        book.place("Ask", price, 10, B)
    result = book.place("Bid", None, 30, A)
    assert (result.status, result.reason, result.filled, result.remaining) == ("Expired", "ImpactBand", 20, 10)
    assert events(result)[-1] == order_event("Expired", "ImpactBand", "Bid", 4, A, 0, 10)
    book.set_impact_band(upper=None)
    result = book.place("Bid", None, 30, A)
    assert (result.status, result.reason, result.filled, result.remaining) == ("Expired", "NoLiquidity", 10, 20)
    # A market sell stops at the lower edge.
    for price in (99, 98, 97):
        book.place("Bid", price, 10, B)
    book.set_impact_band(98, None)
    result = book.place("Ask", None, 25, A, time_in_force="GTC")  # GTC is treated as IOC
    assert (result.status, result.reason, result.filled, result.remaining) == ("Expired", "ImpactBand", 20, 5)
    assert book.depth() == ([(97, 10)], [])


def test_quantity_limits(make_book: Callable[..., Any]) -> None:
    unlimited = make_book(min_quantity=None, max_quantity=None)  # None: the defaults, 1 and i64::MAX
    assert unlimited.place("Bid", 100, 1, A).status == unlimited.place("Bid", 100, I64_MAX - 1, A).status == "New"
    book = make_book(min_quantity=5, max_quantity=10)
    assert book.place("Bid", 100, 4, A).reason == "QuantityBelowMinimum"
    assert book.place("Bid", 100, 11, A).reason == "QuantityAboveMaximum"
    assert book.place("Bid", 100, 5, A).status == "New"  # 3
    assert event_tuple(book.amend(3, quantity=11)) == order_event(
        "Rejected", "QuantityAboveMaximum", "Bid", 3, A, 100, 11
    )
    # The limits are in lots; a quote-sized order is not held to them.
    book.place("Ask", 101, 10, B)
    result = book.place("Bid", None, None, A, quote_quantity=303)
    assert (result.status, result.filled, result.remaining) == ("Filled", 3, 0)


def test_quote_sized_market_orders(make_book: Callable[..., Any]) -> None:
    def asks() -> Any:
        book = make_book()
        book.place("Ask", 100, 10, B)
        book.place("Ask", 101, 10, C)
        return book

    # Spends down to exactly zero: 10 lots at 100, then 5 at 101.
    result = asks().place("Bid", None, None, A, quote_quantity=1505)
    assert (result.status, result.reason, result.filled, result.remaining) == ("Filled", None, 15, 0)
    assert [(f.price, f.quantity) for f in result.fills] == [(100, 10), (101, 5)]
    # 45 left cannot buy a lot at 101: filled, with the unspent quote as remaining.
    result = asks().place("Bid", None, None, A, quote_quantity=1550)
    assert (result.status, result.reason, result.filled, result.remaining) == ("Filled", None, 15, 45)
    # More quote than the book: the rest expires.
    result = asks().place("Bid", None, None, A, quote_quantity=2500)
    assert (result.status, result.reason, result.filled, result.remaining) == ("Expired", "NoLiquidity", 20, 490)
    assert events(result)[0] == accepted("Bid", 3, A, 0, 2500)
    # Not enough quote for a single lot.
    result = asks().place("Bid", None, None, A, quote_quantity=99)
    assert (result.status, result.reason, result.filled, result.remaining) == ("Expired", "NoLiquidity", 0, 99)


# Asks: 10@100 by B (id 1), 10@101 by A (id 2), 10@102 by C (id 3); A buys 25 up to 102 (id 4).
SELF_TRADE_CASES = {
    "RejectTaker": (
        [
            fill("Bid", 4, A, 100, 10, 1, B),
            order_event("Expired", "SelfTradePrevention", "Bid", 4, A, 102, 15),
        ],
        ("Expired", "SelfTradePrevention", 10, 15),
        ([], [(101, 10), (102, 10)]),
    ),
    "RejectMaker": (
        [
            fill("Bid", 4, A, 100, 10, 1, B),
            order_event("Cancelled", "SelfTradePrevention", "Ask", 2, A, 101, 10),
            fill("Bid", 4, A, 102, 10, 3, C),
        ],
        ("PartiallyFilled", None, 20, 5),
        ([(102, 5)], []),
    ),
    "RejectBoth": (
        [
            fill("Bid", 4, A, 100, 10, 1, B),
            order_event("Cancelled", "SelfTradePrevention", "Ask", 2, A, 101, 10),
            order_event("Expired", "SelfTradePrevention", "Bid", 4, A, 102, 15),
        ],
        ("Expired", "SelfTradePrevention", 10, 15),
        ([], [(102, 10)]),
    ),
    "Allow": (
        [fill("Bid", 4, A, 100, 10, 1, B), fill("Bid", 4, A, 101, 10, 2, A), fill("Bid", 4, A, 102, 5, 3, C)],
        ("Filled", None, 25, 0),
        ([], [(102, 5)]),
    ),
}


@pytest.mark.parametrize("mode", list(SELF_TRADE_CASES))
def test_self_trade_prevention(make_book: Callable[..., Any], mode: str) -> None:
    book = make_book()
    for price, owner in [(100, B), (101, A), (102, C)]:
        book.place("Ask", price, 10, owner)
    result = book.place("Bid", 102, 25, A, self_trade_prevention=mode)
    expected_events, summary, depth = SELF_TRADE_CASES[mode]
    assert events(result) == [accepted("Bid", 4, A, 102, 25), *expected_events]
    assert (result.status, result.reason, result.filled, result.remaining) == summary
    assert book.depth() == depth


@pytest.mark.parametrize(
    ("mode", "quantity", "filled"),
    [
        ("RejectTaker", 10, 10),
        ("RejectTaker", 11, 0),
        ("RejectMaker", 20, 20),
        ("RejectMaker", 21, 0),
        ("Allow", 30, 30),
    ],
)
def test_fill_or_kill_counts_own_orders_as_its_stp_mode_would(
    make_book: Callable[..., Any], mode: str, quantity: int, filled: int
) -> None:
    book = make_book()
    for price, owner in [(100, B), (101, A), (102, C)]:
        book.place("Ask", price, 10, owner)
    before = (orders(book), book.depth())
    result = book.place("Bid", 102, quantity, A, time_in_force="FOK", self_trade_prevention=mode)
    assert result.filled == filled
    if filled:
        assert (result.status, result.remaining) == ("Filled", 0)
    else:
        assert events(result) == [
            accepted("Bid", 4, A, 102, quantity),
            order_event("Expired", "FillOrKill", "Bid", 4, A, 102, quantity),
        ]
        assert (orders(book), book.depth()) == before


def test_post_only(make_book: Callable[..., Any]) -> None:
    book = make_book()
    book.place("Ask", 101, 5, B)
    taking = book.place("Bid", 101, 5, A, post_only=True)
    assert events(taking) == [
        accepted("Bid", 2, A, 101, 5),
        order_event("Expired", "PostOnlyWouldTake", "Bid", 2, A, 101, 5),
    ]
    assert book.place("Bid", 100, 5, A, post_only=True).status == "New"


def test_amend_priority(make_book: Callable[..., Any]) -> None:
    book = make_book()
    book.place("Ask", 110, 1, C)  # 1
    for owner in (A, B, C):
        book.place("Bid", 100, 5, owner)  # 2, 3, 4
    assert event_tuple(book.amend(2, quantity=3)) == order_event("Amended", None, "Bid", 2, A, 100, 3)
    assert book.queue("Bid", 100) == [2, 3, 4]  # less quantity keeps the place
    book.amend(3, quantity=5)
    assert book.queue("Bid", 100) == [2, 3, 4]  # the same quantity keeps it too
    book.amend(2, quantity=4)
    assert book.queue("Bid", 100) == [3, 4, 2]  # more quantity goes to the back
    book.amend(3, price=101)
    book.amend(3, price=100)
    assert book.queue("Bid", 100) == [4, 2, 3]  # a new price goes to the back of the new level
    assert book.depth() == ([(100, 14)], [(110, 1)])
    assert event_tuple(book.amend(4, price=110)) == order_event("Rejected", "AmendWouldCross", "Bid", 4, C, 110, 5)
    book.cancel(4)
    assert event_tuple(book.amend(4, price=99)) == order_event("Rejected", "OrderNotLive", "Bid", 4, 0, 0, 0)


def test_amend_moves_the_oldest_live_order(make_book: Callable[..., Any]) -> None:
    """Regression: this panicked the Rust book (``OrderStore::remove`` dropped the id from the front of
    its window, then ``OrderStore::insert`` computed ``id - first_id``, which underflowed), losing the
    order and leaving an empty level behind."""
    book = make_book()
    book.place("Bid", 100, 5, A)
    book.place("Bid", 101, 5, A)
    try:
        amended = book.amend(1, price=99)
    except BaseException as error:  # pyo3_runtime.PanicException is a BaseException
        pytest.fail(f"amend raised {type(error).__name__}: {error}")
    assert event_tuple(amended) == order_event("Amended", None, "Bid", 1, A, 99, 5)
    assert book.depth() == ([(101, 5), (99, 5)], [])
    assert orders(book) == [(1, A, "Bid", 99, 5), (2, A, "Bid", 101, 5)]
    # The oldest again (now order 2), this time growing it; then alone with a dead id issued after it.
    assert event_tuple(book.amend(2, quantity=6)) == order_event("Amended", None, "Bid", 2, A, 101, 6)
    book.cancel(1)
    assert event_tuple(book.amend(2, price=102)) == order_event("Amended", None, "Bid", 2, A, 102, 6)
    assert (orders(book), book.depth(), book.next_order_id) == ([(2, A, "Bid", 102, 6)], ([(102, 6)], []), 3)
    assert book.place("Ask", 102, 6, B).status == "Filled"
    assert len(book) == 0


def test_level_total_overflow(make_book: Callable[..., Any]) -> None:
    huge = 2**62
    book = make_book()
    book.place("Bid", 100, 1, A)  # 1
    assert book.place("Ask", 105, huge, B).status == "New"  # 2
    overflowing = book.place("Ask", 105, huge, C)  # 3: 2**63 would not fit the level's total
    assert events(overflowing) == [
        accepted("Ask", 3, C, 105, huge),
        order_event("Expired", "QuantityOverflow", "Ask", 3, C, 105, huge),
    ]
    assert book.place("Ask", 106, huge, C).status == "New"  # 4
    rejected = book.amend(4, price=105)
    assert event_tuple(rejected) == order_event("Rejected", "QuantityOverflow", "Ask", 4, C, 105, huge)
    assert event_tuple(book.amend(2, quantity=I64_MAX)) == order_event("Amended", None, "Ask", 2, B, 105, I64_MAX)
    assert book.depth() == ([(100, 1)], [(105, I64_MAX), (106, huge)])


def test_execute_batch_round_trip(make_book: Callable[..., Any]) -> None:
    book = make_book()
    rows = [
        # op, side, price, quantity, owner, order_id, flags
        (batch.OP_PLACE, 1, 101, 5, B, 0, 0),  # 1 rests
        (batch.OP_PLACE, 1, 102, 5, C, 0, batch.FLAG_POST_ONLY),  # 2 rests
        (batch.OP_PLACE, 0, 0, 7, A, 0, batch.FLAG_MARKET | batch.stp("RejectMaker")),  # 3 takes 5 + 2
        (batch.OP_AMEND, 0, 0, 2, 0, 2, 0),  # 2 down to 2 lots
        (batch.OP_CANCEL, 0, 0, 0, 0, 1, 0),  # 1 is gone
        (batch.OP_PLACE, 0, 0, 1000, A, 0, batch.FLAG_MARKET | batch.FLAG_QUOTE_QUANTITY),  # 4 buys 2 @ 102
        (batch.OP_PLACE, 0, 99, 3, A, 0, batch.FLAG_IOC),  # 5 nothing to take
        (batch.OP_PLACE, 0, 98, 3, A, 0, 0),  # 6 rests
        (batch.OP_CANCEL_ALL, 0, 0, 0, A, 0, 0),
    ]
    op, side, price, quantity, owner, order_id, flags = (np.array(column) for column in zip(*rows, strict=True))
    records = book.execute_batch(
        op.astype(np.uint8),
        side.astype(np.uint8),
        price.astype(np.int64),
        quantity.astype(np.int64),
        owner=owner.astype(np.uint64),
        order_id=order_id.astype(np.uint64),
        flags=flags.astype(np.uint16),
    )
    assert records.dtype == batch.EVENT_DTYPE
    decoded = [
        (row, batch.EVENT_KINDS[kind], batch.REASONS[reason], ("Bid", "Ask")[s], *rest)
        for row, kind, reason, s, *rest in records.tolist()
    ]
    assert decoded == [
        (0, "Accepted", "None", "Ask", 1, B, 101, 5, 0, 0),
        (1, "Accepted", "None", "Ask", 2, C, 102, 5, 0, 0),
        (2, "Accepted", "None", "Bid", 3, A, 0, 7, 0, 0),
        (2, "Fill", "None", "Bid", 3, A, 101, 5, 1, B),
        (2, "Fill", "None", "Bid", 3, A, 102, 2, 2, C),
        (3, "Amended", "None", "Ask", 2, C, 102, 2, 0, 0),
        (4, "Rejected", "OrderNotLive", "Bid", 1, 0, 0, 0, 0, 0),
        (5, "Accepted", "None", "Bid", 4, A, 0, 1000, 0, 0),
        (5, "Fill", "None", "Bid", 4, A, 102, 2, 2, C),
        (5, "Expired", "NoLiquidity", "Bid", 4, A, 0, 796, 0, 0),
        (6, "Accepted", "None", "Bid", 5, A, 99, 3, 0, 0),
        (6, "Expired", "ImmediateOrCancel", "Bid", 5, A, 99, 3, 0, 0),
        (7, "Accepted", "None", "Bid", 6, A, 98, 3, 0, 0),
        (8, "Cancelled", "CancelledByOwner", "Bid", 6, A, 98, 3, 0, 0),
    ]
    assert records["price"].tolist()[:3] == [101, 102, 0]  # a field is a column
    assert (len(book), book.next_order_id) == (0, 7)
    empty = book.execute_batch(*(np.zeros(0, dtype) for dtype in (np.uint8, np.uint8, np.int64, np.int64)))
    assert empty.shape == (0,) and empty.dtype == batch.EVENT_DTYPE


def test_reference_codes_match_the_compiled_module() -> None:
    assert reference_book.EVENT_KINDS == batch.EVENT_KINDS
    assert reference_book.REASONS == batch.REASONS
    assert reference_book.EVENT_DTYPE == batch.EVENT_DTYPE
    assert (
        reference_book.OP_PLACE,
        reference_book.OP_CANCEL,
        reference_book.OP_AMEND,
        reference_book.OP_CANCEL_ALL,
    ) == (
        batch.OP_PLACE,
        batch.OP_CANCEL,
        batch.OP_AMEND,
        batch.OP_CANCEL_ALL,
    )
    assert (
        reference_book.FLAG_MARKET,
        reference_book.FLAG_IOC,
        reference_book.FLAG_FOK,
        reference_book.FLAG_POST_ONLY,
        reference_book.FLAG_QUOTE_QUANTITY,
        reference_book.STP_SHIFT,
    ) == (
        batch.FLAG_MARKET,
        batch.FLAG_IOC,
        batch.FLAG_FOK,
        batch.FLAG_POST_ONLY,
        batch.FLAG_QUOTE_QUANTITY,
        batch.STP_SHIFT,
    )
    for code, mode in enumerate(reference_book.STP_BY_CODE):
        assert batch.stp(mode) == code << reference_book.STP_SHIFT


def test_event_tuple_reads_both_kinds_of_event() -> None:
    rust_event = cb.OrderBook().place("Bid", 100, 5, A).events[0]
    reference_event = ReferenceBook().place("Bid", 100, 5, A).events[0]
    assert event_tuple(rust_event) == event_tuple(reference_event) == accepted("Bid", 1, A, 100, 5)
    assert reference_event == reference_book.Event("Accepted", None, "Bid", 1, A, 100, 5)  # compared by value
    assert reference_event != reference_book.Event("Accepted", None, "Bid", 1, A, 100, 6)
