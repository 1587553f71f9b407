"""Misuse of the order book: each raises its ``CrossbookError`` subclass, names the argument and changes nothing.

Every case runs on the Rust book and on the reference book, which follows the documented exception
contract (``crossbook.exceptions``: an out-of-range quantity is an ``InvalidQuantityError``, an
out-of-range price an ``InvalidPriceError``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import crossbook as cb
from crossbook import batch
from crossbook.exceptions import (
    CrossbookError,
    InvalidArgumentError,
    InvalidOrderError,
    InvalidParameterError,
    InvalidPriceError,
    InvalidQuantityError,
    InvalidTypeError,
    UnknownOrderError,
)
from crossbook.reference_book import ReferenceBook, order_tuple

A, B, C = 1, 2, 3
BOOKS = {"rust": cb.OrderBook, "reference": ReferenceBook}

# Rust bugs (see the module docs).


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[Any], object]
    error: type[CrossbookError]
    match: str  # must name the argument


def cases_on_both_books(cases: list[Case]) -> list[Any]:
    params = []
    for book_name, factory in BOOKS.items():
        for case in cases:
            params.append(pytest.param(factory, case, id=f"{book_name}-{case.name}"))
    return params


def populated(make_book: Callable[..., Any]) -> Any:
    """Live orders 1 (bid 99x5), 3 (ask 101x3), 4 (ask 102x6); ids 2 (cancelled) and 5 (filled) are dead."""
    book = make_book()
    book.place("Bid", 99, 5, A)
    book.place("Bid", 98, 3, B)
    book.place("Ask", 101, 4, A)
    book.place("Ask", 102, 6, C)
    book.place("Bid", 101, 1, B)
    book.cancel(2)
    return book


def snapshot(book: Any) -> dict[str, Any]:
    bids, asks = book.depth(100)
    return {
        "orders": [order_tuple(order) for order in book.orders()],
        "depth": (bids, asks),
        "queues": [book.queue(side, price) for side, levels in (("Bid", bids), ("Ask", asks)) for price, _ in levels],
        "next_order_id": book.next_order_id,
        "len": len(book),
        "state": book.state,
    }


def test_populated_book_is_as_documented() -> None:
    for factory in BOOKS.values():
        assert snapshot(populated(factory)) == {
            "orders": [(1, A, "Bid", 99, 5), (3, A, "Ask", 101, 3), (4, C, "Ask", 102, 6)],
            "depth": ([(99, 5)], [(101, 3), (102, 6)]),
            "queues": [[1], [3], [4]],
            "next_order_id": 6,
            "len": 3,
            "state": "Open",
        }


def check_misuse(make_book: Callable[..., Any], case: Case) -> None:
    book = populated(make_book)
    before = snapshot(book)
    with pytest.raises(case.error, match=case.match):
        case.call(book)
    assert snapshot(book) == before
    # The book still works after the error.
    assert book.place("Bid", 100, 1, A).order_id == before["next_order_id"]


# ---------------------------------------------------------------------------------------------------
# place
# ---------------------------------------------------------------------------------------------------

PLACE_CASES = [
    Case("float-price", lambda b: b.place("Bid", 100.0, 5, A), InvalidTypeError, r"^price must be an int, got float"),
    Case("bool-price", lambda b: b.place("Bid", True, 5, A), InvalidTypeError, r"^price must be an int, got bool"),
    Case("str-price", lambda b: b.place("Bid", "100", 5, A), InvalidTypeError, r"^price must be an int, got str"),
    Case("float-quantity", lambda b: b.place("Bid", 100, 5.0, A), InvalidTypeError, r"^quantity must be an int"),
    Case("bool-quantity", lambda b: b.place("Bid", 100, True, A), InvalidTypeError, r"^quantity must be an int"),
    Case("str-quantity", lambda b: b.place("Bid", 100, "5", A), InvalidTypeError, r"^quantity must be an int"),
    Case(
        "float-quote", lambda b: b.place("Bid", None, None, A, quote_quantity=5.0), InvalidTypeError, "quote_quantity"
    ),
    Case("float-owner", lambda b: b.place("Bid", 100, 5, 1.0), InvalidTypeError, r"^owner must be an int"),
    Case("bool-owner", lambda b: b.place("Bid", 100, 5, True), InvalidTypeError, r"^owner must be an int"),
    Case("str-owner", lambda b: b.place("Bid", 100, 5, "alice"), InvalidTypeError, r"^owner must be an int"),
    Case("negative-owner", lambda b: b.place("Bid", 100, 5, -1), InvalidArgumentError, r"^owner must be >= 0"),
    Case("none-side", lambda b: b.place(None, 100, 5, A), InvalidTypeError, r"^side must be a str"),
    Case("int-side", lambda b: b.place(0, 100, 5, A), InvalidTypeError, r"^side must be a str"),
    Case("unknown-side", lambda b: b.place("Buy", 100, 5, A), InvalidArgumentError, r"^side must be one of.*Buy"),
    Case("lowercase-side", lambda b: b.place("bid", 100, 5, A), InvalidArgumentError, r"^side must be one of"),
    Case(
        "unknown-order-type",
        lambda b: b.place("Bid", 100, 5, A, order_type="Stop"),
        InvalidArgumentError,
        r"^order_type",
    ),
    Case(
        "int-order-type",
        lambda b: b.place("Bid", 100, 5, A, order_type=1),
        InvalidTypeError,
        r"^order_type must be a str",
    ),
    Case(
        "unknown-tif", lambda b: b.place("Bid", 100, 5, A, time_in_force="GTD"), InvalidArgumentError, r"^time_in_force"
    ),
    Case("bool-tif", lambda b: b.place("Bid", 100, 5, A, time_in_force=True), InvalidTypeError, r"^time_in_force"),
    Case(
        "unknown-stp",
        lambda b: b.place("Bid", 100, 5, A, self_trade_prevention="CancelBoth"),
        InvalidArgumentError,
        r"^self_trade_prevention must be one of",
    ),
    Case(
        "int-post-only",
        lambda b: b.place("Bid", 100, 5, A, post_only=1),
        InvalidTypeError,
        r"^post_only must be a bool",
    ),
    Case("str-post-only", lambda b: b.place("Bid", 100, 5, A, post_only="yes"), InvalidTypeError, r"^post_only"),
    Case("zero-quantity", lambda b: b.place("Bid", 100, 0, A), InvalidQuantityError, r"quantity .*got 0"),
    Case("negative-quantity", lambda b: b.place("Bid", 100, -5, A), InvalidQuantityError, r"quantity .*got -5"),
    Case("zero-market-quantity", lambda b: b.place("Ask", None, 0, A), InvalidQuantityError, r"quantity .*got 0"),
    Case(
        "zero-quote",
        lambda b: b.place("Bid", None, None, A, quote_quantity=0),
        InvalidQuantityError,
        r"quantity .*got 0",
    ),
    Case("zero-price", lambda b: b.place("Bid", 0, 5, A), InvalidPriceError, r"^price .*got 0"),
    Case("negative-price", lambda b: b.place("Ask", -100, 5, A), InvalidPriceError, r"^price .*got -100"),
    Case(
        "market-post-only",
        lambda b: b.place("Bid", None, 5, A, post_only=True),
        InvalidOrderError,
        r"market.*post.only",
    ),
    Case(
        "limit-without-price",
        lambda b: b.place("Bid", None, 5, A, order_type="Limit"),
        InvalidOrderError,
        r"needs a price",
    ),
    Case(
        "market-with-price",
        lambda b: b.place("Bid", 100, 5, A, order_type=cb.OrderType.Market),
        InvalidOrderError,
        "price",
    ),
    Case(
        "quantity-and-quote",
        lambda b: b.place("Bid", None, 5, A, quote_quantity=500),
        InvalidOrderError,
        "quantity and quote_quantity",
    ),
    Case("neither-quantity", lambda b: b.place("Bid", None, None, A), InvalidOrderError, "quantity and quote_quantity"),
    Case(
        "limit-quote", lambda b: b.place("Bid", 100, None, A, quote_quantity=500), InvalidOrderError, r"quote.quantity"
    ),
    Case(
        "quote-fok",
        lambda b: b.place("Bid", None, None, A, quote_quantity=500, time_in_force="FOK"),
        InvalidOrderError,
        r"quote.*fill-or-kill",
    ),
    Case(
        "huge-quantity", lambda b: b.place("Bid", 100, 2**63, A), InvalidArgumentError, r"^quantity 9223372036854775808"
    ),
    Case(
        "huge-quantity-class",
        lambda b: b.place("Bid", 100, 2**63, A),
        InvalidQuantityError,
        r"^quantity",
    ),
    Case("huge-price", lambda b: b.place("Bid", 2**63, 5, A), InvalidArgumentError, r"^price 9223372036854775808"),
    Case(
        "huge-price-class",
        lambda b: b.place("Bid", 2**63, 5, A),
        InvalidPriceError,
        r"^price",
    ),
    Case(
        "tiny-price", lambda b: b.place("Bid", -(2**63) - 1, 5, A), InvalidArgumentError, r"^price -9223372036854775809"
    ),
    Case(
        "huge-quote",
        lambda b: b.place("Bid", None, None, A, quote_quantity=2**63),
        InvalidArgumentError,
        "^quote_quantity",
    ),
    Case("huge-owner", lambda b: b.place("Bid", 100, 5, 2**63), InvalidArgumentError, r"^owner 9223372036854775808"),
    Case("u64-owner", lambda b: b.place("Bid", 100, 5, 2**64), InvalidArgumentError, r"^owner"),
]


@pytest.mark.parametrize(("make_book", "case"), cases_on_both_books(PLACE_CASES))
def test_place_misuse(make_book: Callable[..., Any], case: Case) -> None:
    check_misuse(make_book, case)


# ---------------------------------------------------------------------------------------------------
# cancel, amend, cancel_all and the views
# ---------------------------------------------------------------------------------------------------

ORDER_CASES = [
    Case("cancel-float", lambda b: b.cancel(1.0), InvalidTypeError, r"^order_id must be an int, got float"),
    Case("cancel-bool", lambda b: b.cancel(True), InvalidTypeError, r"^order_id must be an int, got bool"),
    Case("cancel-str", lambda b: b.cancel("1"), InvalidTypeError, r"^order_id must be an int"),
    Case("cancel-none", lambda b: b.cancel(None), InvalidTypeError, r"^order_id must be an int"),
    Case("cancel-negative", lambda b: b.cancel(-1), InvalidArgumentError, r"^order_id must be >= 0"),
    Case(
        "cancel-zero",
        lambda b: b.cancel(0),
        UnknownOrderError,
        r"order id 0 was never issued.*next id it will issue is 6",
    ),
    Case(
        "cancel-next-id",
        lambda b: b.cancel(6),
        UnknownOrderError,
        r"order id 6 was never issued.*next id it will issue is 6",
    ),
    Case("cancel-far-id", lambda b: b.cancel(10**12), UnknownOrderError, r"order id 1000000000000 was never issued"),
    Case("cancel-huge", lambda b: b.cancel(2**63), InvalidArgumentError, r"^order_id 9223372036854775808"),
    Case("amend-nothing", lambda b: b.amend(1), InvalidOrderError, r"amend needs a new price, a new quantity"),
    Case("amend-nothing-dead", lambda b: b.amend(2), InvalidOrderError, r"amend needs a new price, a new quantity"),
    Case("amend-zero-price", lambda b: b.amend(1, price=0), InvalidPriceError, r"^price .*got 0"),
    Case("amend-negative-price", lambda b: b.amend(1, price=-1), InvalidPriceError, r"^price .*got -1"),
    Case("amend-zero-quantity", lambda b: b.amend(1, quantity=0), InvalidQuantityError, r"^quantity .*got 0"),
    Case("amend-negative-quantity", lambda b: b.amend(3, quantity=-3), InvalidQuantityError, r"^quantity .*got -3"),
    Case("amend-float-price", lambda b: b.amend(1, price=99.5), InvalidTypeError, r"^price must be an int"),
    Case("amend-bool-quantity", lambda b: b.amend(1, quantity=True), InvalidTypeError, r"^quantity must be an int"),
    Case("amend-float-id", lambda b: b.amend(1.0, price=98), InvalidTypeError, r"^order_id must be an int"),
    Case("amend-never-issued", lambda b: b.amend(6, price=98), UnknownOrderError, r"order id 6 was never issued"),
    Case("amend-zero-id", lambda b: b.amend(0, quantity=1), UnknownOrderError, r"order id 0 was never issued"),
    Case(
        "amend-huge-quantity",
        lambda b: b.amend(1, quantity=2**63),
        InvalidArgumentError,
        r"^quantity 9223372036854775808",
    ),
    Case(
        "amend-huge-quantity-class",
        lambda b: b.amend(1, quantity=2**63),
        InvalidQuantityError,
        r"^quantity",
    ),
    Case(
        "amend-huge-price-class",
        lambda b: b.amend(1, price=2**63),
        InvalidPriceError,
        r"^price",
    ),
    Case("cancel-all-float", lambda b: b.cancel_all(1.0), InvalidTypeError, r"^owner must be an int"),
    Case("cancel-all-none", lambda b: b.cancel_all(None), InvalidTypeError, r"^owner must be an int"),
    Case("cancel-all-negative", lambda b: b.cancel_all(-1), InvalidArgumentError, r"^owner must be >= 0"),
    Case("queue-unknown-side", lambda b: b.queue("Up", 99), InvalidArgumentError, r"^side must be one of"),
    Case("queue-none-side", lambda b: b.queue(None, 99), InvalidTypeError, r"^side must be a str"),
    Case("queue-float-price", lambda b: b.queue("Bid", 99.0), InvalidTypeError, r"^price must be an int"),
    Case("order-negative", lambda b: b.order(-1), InvalidArgumentError, r"^order_id must be >= 0"),
    Case("order-float", lambda b: b.order(1.0), InvalidTypeError, r"^order_id must be an int"),
    Case("order-str", lambda b: b.order("1"), InvalidTypeError, r"^order_id must be an int"),
    Case(
        "state-unknown", lambda b: setattr(b, "state", "Halted"), InvalidArgumentError, r"^state must be one of.*Halted"
    ),
    Case("state-lowercase", lambda b: setattr(b, "state", "open"), InvalidArgumentError, r"^state must be one of"),
    Case("state-int", lambda b: setattr(b, "state", 1), InvalidTypeError, r"^state must be a str"),
    Case("state-none", lambda b: setattr(b, "state", None), InvalidTypeError, r"^state must be a str"),
    Case("price-band-zero", lambda b: b.set_price_band(0, 10), InvalidParameterError, r"price_band needs 1 <= lower"),
    Case("price-band-negative", lambda b: b.set_price_band(-5), InvalidParameterError, r"price_band needs 1 <= lower"),
    Case("price-band-inverted", lambda b: b.set_price_band(10, 5), InvalidParameterError, r"price_band .*got 10 and 5"),
    Case(
        "impact-band-inverted", lambda b: b.set_impact_band(5, 4), InvalidParameterError, r"impact_band .*got 5 and 4"
    ),
    Case("impact-band-zero", lambda b: b.set_impact_band(0), InvalidParameterError, r"impact_band needs 1 <= lower"),
    Case("price-band-float", lambda b: b.set_price_band(1.5), InvalidTypeError, r"lower"),
    Case("price-band-bool", lambda b: b.set_price_band(True, 5), InvalidTypeError, r"lower"),
    Case("price-band-str", lambda b: b.set_price_band(None, "9"), InvalidTypeError, r"upper"),
    Case(
        "impact-band-huge",
        lambda b: b.set_impact_band(None, 2**63),
        InvalidArgumentError,
        r"upper",
    ),
    Case("depth-negative", lambda b: b.depth(-1), InvalidArgumentError, r"^levels"),
    Case("depth-float", lambda b: b.depth(1.5), InvalidTypeError, r"^levels"),
    Case("depth-bool", lambda b: b.depth(True), InvalidTypeError, r"^levels"),
]


@pytest.mark.parametrize(("make_book", "case"), cases_on_both_books(ORDER_CASES))
def test_order_and_view_misuse(make_book: Callable[..., Any], case: Case) -> None:
    check_misuse(make_book, case)


def test_dead_ids_are_events_not_errors() -> None:
    """The other side of the line: an issued id that is no longer live is a normal outcome."""
    for factory in BOOKS.values():
        book = populated(factory)
        assert book.cancel(2) is False
        assert book.cancel(5) is False
        rejected = book.amend(5, price=98)
        assert (rejected.kind, rejected.reason, rejected.order_id) == ("Rejected", "OrderNotLive", 5)
        assert book.order(0) is None and book.order(99) is None
        assert book.cancel_all(99) == []


class Ticks(int):
    """An int subclass, as a caller's own unit type would be: still an int (bool is the one refused)."""


@pytest.mark.parametrize("make_book", BOOKS.values(), ids=BOOKS.keys())
def test_int_subclasses_are_ints(make_book: Callable[..., Any]) -> None:
    book = populated(make_book)
    resting = book.place("Bid", Ticks(100), Ticks(2), Ticks(B))
    assert (resting.status, resting.remaining) == ("New", 2)
    taken = book.place("Ask", Ticks(99), Ticks(7), Ticks(C), None, "IOC")
    assert [(fill.maker_order_id, fill.quantity) for fill in taken.fills] == [(resting.order_id, 2), (1, 5)]
    assert book.amend(Ticks(3), quantity=Ticks(2)).kind == "Amended"
    assert book.cancel(Ticks(3)) is True
    assert [(order.order_id, order.quantity) for order in book.orders()] == [(4, 6)]


# ---------------------------------------------------------------------------------------------------
# The constructor
# ---------------------------------------------------------------------------------------------------

CONSTRUCTOR_CASES = [
    Case("min-quantity-zero", lambda f: f(min_quantity=0), InvalidParameterError, r"min_quantity .*got 0"),
    Case("min-quantity-negative", lambda f: f(min_quantity=-1), InvalidParameterError, r"min_quantity"),
    Case(
        "max-below-min",
        lambda f: f(min_quantity=5, max_quantity=4),
        InvalidParameterError,
        r"max_quantity.*got 5 and 4",
    ),
    Case("price-band-zero", lambda f: f(price_band=(0, 5)), InvalidParameterError, r"price_band .*got 0 and 5"),
    Case("price-band-inverted", lambda f: f(price_band=(5, 1)), InvalidParameterError, r"price_band .*got 5 and 1"),
    Case("impact-band-inverted", lambda f: f(impact_band=(3, 2)), InvalidParameterError, r"impact_band .*got 3 and 2"),
    Case("state-unknown", lambda f: f(state="Halted"), InvalidArgumentError, r"^state must be one of"),
    Case("state-int", lambda f: f(state=1), InvalidTypeError, r"^state must be a str"),
    Case("min-quantity-float", lambda f: f(min_quantity=1.5), InvalidTypeError, r"min_quantity"),
    Case("min-quantity-bool", lambda f: f(min_quantity=True), InvalidTypeError, r"min_quantity"),
    Case(
        "max-quantity-huge",
        lambda f: f(max_quantity=2**63),
        InvalidArgumentError,
        r"max_quantity",
    ),
    Case("price-band-list", lambda f: f(price_band=[1, 5]), InvalidTypeError, r"price_band"),
    Case(
        "price-band-triple",
        lambda f: f(price_band=(1, 5, 7)),
        InvalidTypeError,
        r"^price_band must be a \(lower, upper\)",
    ),
    Case("price-band-half-none", lambda f: f(impact_band=(1, None)), InvalidTypeError, r"^impact_band must be an int"),
    Case("price-band-float", lambda f: f(price_band=(1.0, 5)), InvalidTypeError, r"price_band"),
]


@pytest.mark.parametrize(("factory", "case"), cases_on_both_books(CONSTRUCTOR_CASES))
def test_constructor_misuse(factory: Callable[..., Any], case: Case) -> None:
    with pytest.raises(case.error, match=case.match):
        case.call(factory)


# ---------------------------------------------------------------------------------------------------
# execute_batch
# ---------------------------------------------------------------------------------------------------

COLUMN_DTYPES = {
    "op": np.uint8,
    "side": np.uint8,
    "price": np.int64,
    "quantity": np.int64,
    "owner": np.uint64,
    "order_id": np.uint64,
    "flags": np.uint16,
}
# Rows 0-2 are good and would change the populated book (ids 6 and 7, cancel of 1); row 3 is replaced
# by each bad row; row 4 issues id 8.
GOOD_ROWS = [
    (batch.OP_PLACE, 0, 100, 2, A, 0, 0),
    (batch.OP_CANCEL, 0, 0, 0, 0, 1, 0),
    (batch.OP_PLACE, 1, 103, 1, B, 0, 0),
    (batch.OP_CANCEL_ALL, 0, 0, 0, C, 0, 0),
    (batch.OP_PLACE, 1, 104, 1, B, 0, batch.FLAG_POST_ONLY),
]


def columns(bad_row: tuple[int, ...] | None = None) -> dict[str, Any]:
    rows = list(GOOD_ROWS)
    if bad_row is not None:
        rows[3] = bad_row
    return {
        name: np.array(values, dtype=dtype)
        for (name, dtype), values in zip(COLUMN_DTYPES.items(), zip(*rows, strict=True), strict=True)
    }


def with_column(name: str, value: Any) -> Callable[[Any], object]:
    def call(book: Any) -> object:
        arguments = columns()
        arguments[name] = value
        return book.execute_batch(**arguments)

    return call


def with_row(*row: int) -> Callable[[Any], object]:
    return lambda book: book.execute_batch(**columns(row))


MARKET = batch.FLAG_MARKET
BATCH_CASES = [
    Case(
        "op-list",
        with_column("op", [0, 1, 0, 3, 0]),
        InvalidTypeError,
        r"^column op must be a 1-D numpy array of uint8",
    ),
    Case(
        "price-float",
        with_column("price", np.zeros(5)),
        InvalidTypeError,
        r"^column price .*int64, got a 1-D array of float64",
    ),
    Case(
        "quantity-int32", with_column("quantity", np.ones(5, np.int32)), InvalidTypeError, r"^column quantity .*int32"
    ),
    Case("owner-signed", with_column("owner", np.ones(5, np.int64)), InvalidTypeError, r"^column owner .*uint64"),
    Case("order-id-float", with_column("order_id", np.ones(5)), InvalidTypeError, r"^column order_id"),
    Case("flags-uint8", with_column("flags", np.zeros(5, np.uint8)), InvalidTypeError, r"^column flags .*uint16"),
    Case(
        "side-2d", with_column("side", np.zeros((5, 1), np.uint8)), InvalidTypeError, r"^column side .*got a 2-D array"
    ),
    Case("price-big-endian", with_column("price", np.ones(5, ">i8")), InvalidTypeError, r"^column price"),
    Case(
        "price-strided",
        with_column("price", np.full(10, 100, np.int64)[::2]),
        InvalidArgumentError,
        r"^column price .*C-contiguous",
    ),
    Case("flags-short", with_column("flags", np.zeros(4, np.uint16)), InvalidParameterError, r"differ in length"),
    Case(
        "cancel-id-issued-later",
        with_row(batch.OP_CANCEL, 0, 0, 0, 0, 8, 0),
        UnknownOrderError,
        r"^batch row 3: order id 8 was never issued.*next id it will issue is 8",
    ),
    Case("amend-id-zero", with_row(batch.OP_AMEND, 0, 99, 0, 0, 0, 0), UnknownOrderError, r"^batch row 3: order id 0"),
    Case("unknown-op", with_row(7, 0, 100, 1, A, 0, 0), InvalidOrderError, r"^batch row 3: .*op must be"),
    Case(
        "unknown-side", with_row(batch.OP_PLACE, 2, 100, 1, A, 0, 0), InvalidOrderError, r"^batch row 3: .*side must be"
    ),
    Case(
        "undefined-flag", with_row(batch.OP_PLACE, 0, 100, 1, A, 0, 1 << 7), InvalidOrderError, r"^batch row 3: .*flags"
    ),
    Case(
        "ioc-and-fok",
        with_row(batch.OP_PLACE, 0, 100, 1, A, 0, batch.FLAG_IOC | batch.FLAG_FOK),
        InvalidOrderError,
        r"^batch row 3: .*IOC and FOK",
    ),
    Case(
        "zero-quantity", with_row(batch.OP_PLACE, 0, 100, 0, A, 0, 0), InvalidQuantityError, r"^batch row 3: quantity"
    ),
    Case("zero-price", with_row(batch.OP_PLACE, 0, 0, 1, A, 0, 0), InvalidPriceError, r"^batch row 3: price .*got 0"),
    Case("negative-price", with_row(batch.OP_PLACE, 1, -5, 1, A, 0, 0), InvalidPriceError, r"^batch row 3: price"),
    Case(
        "market-post-only",
        with_row(batch.OP_PLACE, 0, 0, 1, A, 0, MARKET | batch.FLAG_POST_ONLY),
        InvalidOrderError,
        r"^batch row 3: .*post.only",
    ),
    Case(
        "quote-fok",
        with_row(batch.OP_PLACE, 0, 0, 500, A, 0, MARKET | batch.FLAG_QUOTE_QUANTITY | batch.FLAG_FOK),
        InvalidOrderError,
        r"^batch row 3: .*fill-or-kill",
    ),
    Case(
        "limit-quote",
        with_row(batch.OP_PLACE, 0, 100, 500, A, 0, batch.FLAG_QUOTE_QUANTITY),
        InvalidOrderError,
        r"^batch row 3: .*quote",
    ),
    Case(
        "amend-nothing", with_row(batch.OP_AMEND, 0, 0, 0, 0, 3, 0), InvalidOrderError, r"^batch row 3: .*amend needs"
    ),
    Case(
        "amend-negative-price", with_row(batch.OP_AMEND, 0, -1, 0, 0, 3, 0), InvalidPriceError, r"^batch row 3: price"
    ),
    Case(
        "amend-negative-quantity",
        with_row(batch.OP_AMEND, 0, 0, -2, 0, 3, 0),
        InvalidQuantityError,
        r"^batch row 3: quantity",
    ),
]


@pytest.mark.parametrize(("make_book", "case"), cases_on_both_books(BATCH_CASES))
def test_batch_misuse(make_book: Callable[..., Any], case: Case) -> None:
    check_misuse(make_book, case)


def test_good_batch_rows_do_change_the_book() -> None:
    """The batch the misuse cases start from is good and changes the book (so 'unchanged' means something)."""
    for factory in BOOKS.values():
        book = populated(factory)
        records = book.execute_batch(**columns())
        assert len(records) == 5
        assert snapshot(book)["orders"] == [
            (3, A, "Ask", 101, 3),
            (6, A, "Bid", 100, 2),
            (7, B, "Ask", 103, 1),
            (8, B, "Ask", 104, 1),
        ]
        assert book.next_order_id == 9
