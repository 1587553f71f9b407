"""Differential tests: the Rust book against the pure-Python reference book.

Hypothesis generates streams of operations (every kind of place, cancels and amends of live, dead
and never-issued ids, cancel-all, state and band changes) over a narrow price range with 1-3 owners,
so that crossing, self-trade prevention and time priority come up all the time. Both books must give
identical results and events for every operation, and identical contents (orders, depth, queues,
best prices, next id) after it. The same streams run through ``execute_batch`` in one call must give
the events of the per-call run.

A Rust panic is turned into an ordinary failure (``RustPanicError``) so that hypothesis shrinks it.
These tests found that amending the oldest live order to a new price or a larger quantity panicked
the Rust book (``OrderStore::insert`` re-inserted an id below its window); ``AMEND_PANIC_EXAMPLE``
and ``test_book_examples.test_amend_moves_the_oldest_live_order`` keep that case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import crossbook as cb
from crossbook import batch, reference_book
from crossbook.reference_book import ReferenceBook, event_tuple, order_tuple

OWNERS = st.integers(1, 3)
PRICES = st.integers(95, 105)
HUGE = 2**62  # two of these at one level overflow its i64 total
I64_MAX = 2**63 - 1  # any other order at its level overflows the total
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class RustPanicError(Exception):
    """The Rust book panicked (a ``pyo3_runtime.PanicException``, which is a ``BaseException``)."""


# ---------------------------------------------------------------------------------------------------
# Operations, with the ids of cancels and amends chosen when they run
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Which id a cancel or amend names: a live order, any issued id, or an id never issued."""

    pick: Literal["live", "issued", "never"]
    index: int

    def resolve(self, book: ReferenceBook) -> int:
        live = [order.order_id for order in book.orders()]
        issued = book.next_order_id - 1
        if self.pick == "live" and live:
            return live[self.index % len(live)]
        if self.pick in ("live", "issued") and issued > 0:
            return 1 + self.index % issued
        return 0 if self.index == 0 else book.next_order_id + self.index - 1


@dataclass(frozen=True)
class Place:
    kwargs: tuple[tuple[str, Any], ...]  # keyword arguments of place(), without defaults left out


@dataclass(frozen=True)
class Cancel:
    target: Target


Relative = Literal["same", "less", "more"]


@dataclass(frozen=True)
class Amend:
    """An amend; a ``Relative`` price or quantity is taken from the target order when it runs."""

    target: Target
    price: int | Relative | None
    quantity: int | Relative | None

    def resolve(self, book: ReferenceBook) -> tuple[int, int | None, int | None]:
        order_id = self.target.resolve(book)
        order = book.order(order_id) if order_id < 2**63 else None

        def value(given: int | Relative | None, current: int | None) -> int | None:
            if not isinstance(given, str):
                return given
            base = 5 if current is None else current
            # In range: out-of-range values are misuse, tested in test_book_bad_input.
            return {"same": base, "less": max(base - 1, 1), "more": min(base + 1, I64_MAX)}[given]

        return (
            order_id,
            value(self.price, None if order is None else order.price),
            value(self.quantity, None if order is None else order.quantity),
        )


@dataclass(frozen=True)
class CancelAll:
    owner: int


@dataclass(frozen=True)
class SetState:
    state: str | cb.BookState


@dataclass(frozen=True)
class SetBand:
    which: Literal["set_price_band", "set_impact_band"]
    lower: int | None
    upper: int | None


Operation = Place | Cancel | Amend | CancelAll | SetState | SetBand


def maybe(strategy: st.SearchStrategy[Any], none_weight: int = 1) -> st.SearchStrategy[Any]:
    """``strategy`` or None (None more often with a larger ``none_weight``)."""
    return st.one_of(*([st.none()] * none_weight), strategy)


quantities = st.integers(1, 13).map(lambda i: {12: HUGE, 13: I64_MAX}.get(i, i))
sides = st.sampled_from([cb.Side.Bid, cb.Side.Ask, "Bid", "Ask"])
stps = maybe(st.sampled_from([*cb.SelfTradePrevention, "RejectMaker", "Allow"]))


@st.composite
def places(draw: st.DrawFn) -> Place:
    market = draw(st.integers(0, 3)) == 0
    kwargs: dict[str, Any] = {"side": draw(sides), "owner": draw(OWNERS)}
    if market:
        kwargs["price"] = None
        if draw(st.booleans()):
            kwargs["order_type"] = draw(st.sampled_from([cb.OrderType.Market, "Market"]))
        if draw(st.integers(0, 2)) == 0:
            kwargs["quantity"] = None
            kwargs["quote_quantity"] = draw(st.integers(1, 2500))
        else:
            kwargs["quantity"] = draw(quantities)
        kwargs["time_in_force"] = draw(maybe(st.sampled_from(["GTC", "IOC", "FOK"]), none_weight=2))
        kwargs["post_only"] = draw(st.sampled_from([None, None, None, None, None, False, True]))  # True: misuse
    else:
        kwargs["price"] = draw(PRICES)
        kwargs["quantity"] = draw(quantities)
        if draw(st.booleans()):
            kwargs["order_type"] = draw(st.sampled_from([cb.OrderType.Limit, "Limit"]))
        kwargs["time_in_force"] = draw(maybe(st.sampled_from([*cb.TimeInForce, "IOC", "FOK"])))
        kwargs["post_only"] = draw(st.sampled_from([None, False, True]))
    kwargs["self_trade_prevention"] = draw(stps)
    return Place(
        tuple((key, value) for key, value in kwargs.items() if value is not None or key in ("price", "quantity"))
    )


targets = st.builds(Target, st.sampled_from(["live"] * 6 + ["issued", "never"]), st.integers(0, 6))
relative: st.SearchStrategy[Relative] = st.sampled_from(["same", "less", "more"])
amends = st.builds(
    Amend,
    targets,
    maybe(st.integers(94, 106) | st.just("same")),
    maybe(st.integers(1, 11).map(lambda i: {10: HUGE, 11: I64_MAX}.get(i, i)) | relative),
)
cancels = st.builds(Cancel, targets)
cancel_alls = st.builds(CancelAll, OWNERS)
states = st.builds(SetState, st.sampled_from([*cb.BookState, "Open", "Open", "Open", "Open", "PostOnly"]))
bands = st.builds(
    SetBand,
    st.sampled_from(["set_price_band", "set_impact_band"]),
    maybe(st.integers(90, 100)),
    maybe(st.integers(100, 110)),
)
# (strategy, weight): places dominate so that books get deep enough to cross, self-trade and queue.
BOOK_OPERATIONS = [(places(), 12), (cancels, 2), (amends, 4), (cancel_alls, 1)]
CONTROL_OPERATIONS = [(states, 1), (bands, 1)]


def weighted(choices: list[tuple[st.SearchStrategy[Operation], int]]) -> st.SearchStrategy[Operation]:
    """One of ``choices``, each drawn in proportion to its weight (``one_of`` would weigh them alike)."""
    indices = [index for index, (_, weight) in enumerate(choices) for _ in range(weight)]
    return st.sampled_from(indices).flatmap(lambda index: choices[index][0])


@st.composite
def operation_streams(draw: st.DrawFn, choices: list[tuple[st.SearchStrategy[Operation], int]]) -> list[Operation]:
    """1 to 80 operations, about 40 on average (a plain ``st.lists`` would average only a handful)."""
    length = draw(st.integers(1, 80))
    return draw(st.lists(weighted(choices), min_size=length, max_size=length))


streams = operation_streams(BOOK_OPERATIONS + CONTROL_OPERATIONS)
book_only_streams = operation_streams(BOOK_OPERATIONS)
book_parameters = st.fixed_dictionaries(
    {},
    optional={
        "min_quantity": st.integers(1, 2),
        "max_quantity": st.sampled_from([40, 2**63 - 1]),
        "price_band": st.tuples(st.integers(90, 99), st.integers(101, 110)),
        "impact_band": st.tuples(st.integers(90, 99), st.integers(101, 110)),
        "state": st.sampled_from(["Open", "Open", "Open", cb.BookState.PostOnly]),
    },
)

# ---------------------------------------------------------------------------------------------------
# Running a stream on both books
# ---------------------------------------------------------------------------------------------------

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def to_call(operation: Operation, reference: ReferenceBook) -> Call:
    """The concrete method call of an operation, given the book it is about to run on."""
    if isinstance(operation, Place):
        return ("place", (), dict(operation.kwargs))
    if isinstance(operation, Cancel):
        return ("cancel", (operation.target.resolve(reference),), {})
    if isinstance(operation, Amend):
        order_id, price, quantity = operation.resolve(reference)
        return ("amend", (order_id,), {"price": price, "quantity": quantity})
    if isinstance(operation, CancelAll):
        return ("cancel_all", (operation.owner,), {})
    if isinstance(operation, SetState):
        return ("set_state", (operation.state,), {})
    return (operation.which, (operation.lower, operation.upper), {})


def normalize(value: Any) -> Any:
    """Results of either book as plain comparable values."""
    if isinstance(value, (cb.PlaceResult, reference_book.PlaceResult)):
        return (
            value.order_id,
            value.status,
            value.reason,
            value.reject_reason,
            value.filled,
            value.remaining,
            value.is_resting,
            [(f.maker_order_id, f.maker_owner, f.price, f.quantity) for f in value.fills],
            [event_tuple(event) for event in value.events],
        )
    if isinstance(value, list):
        return [event_tuple(event) for event in value]
    if hasattr(value, "kind"):
        return event_tuple(value)
    return value


def apply(book: Any, call: Call) -> tuple[str, Any]:
    """Runs a call: ("ok", normalized result) or ("error", exception class)."""
    name, args, kwargs = call
    try:
        if name == "set_state":
            book.state = args[0]
            return ("ok", None)
        return ("ok", normalize(getattr(book, name)(*args, **kwargs)))
    except cb.CrossbookError as error:
        return ("error", type(error))
    except BaseException as error:
        if type(error).__name__ == "PanicException":
            raise RustPanicError(f"{name}{args}{kwargs}: {error}") from None
        raise


def snapshot(book: Any) -> dict[str, Any]:
    """Everything observable about a book's contents."""
    bids, asks = book.depth(10**6)
    return {
        "orders": [order_tuple(order) for order in book.orders()],
        "depth": (bids, asks),
        "best": (book.best_bid(), book.best_ask()),
        "queues": {
            (side, price): book.queue(side, price)
            for side, levels in (("Bid", bids), ("Ask", asks))
            for price, _ in levels
        },
        "by_id": {i: None if (o := book.order(i)) is None else order_tuple(o) for i in range(book.next_order_id + 2)},
        "next_order_id": book.next_order_id,
        "len": len(book),
        "state": book.state,
    }


def run_both(parameters: dict[str, Any], stream: list[Operation]) -> list[Call]:
    """Runs a stream on a fresh Rust book and a fresh reference book, checking they agree after every
    step; returns the calls made."""
    rust = cb.OrderBook(**parameters)
    reference = ReferenceBook(**parameters)
    assert snapshot(rust) == snapshot(reference)
    ran: list[Call] = []
    for step, operation in enumerate(stream):
        call = to_call(operation, reference)
        expected = apply(reference, call)
        got = apply(rust, call)
        assert got == expected, f"step {step}: {call}"
        assert snapshot(rust) == snapshot(reference), f"after step {step}: {call}"
        best_bid, best_ask = reference.best_bid(), reference.best_ask()
        assert best_bid is None or best_ask is None or best_bid[0] < best_ask[0], "the book is crossed"
        ran.append(call)
    return ran


# ---------------------------------------------------------------------------------------------------
# Per-call streams
# ---------------------------------------------------------------------------------------------------

AMEND_PANIC_EXAMPLE = [  # used to panic the Rust book: move the oldest of two live orders
    Place((("side", "Bid"), ("price", 100), ("quantity", 5), ("owner", 1))),
    Place((("side", "Bid"), ("price", 101), ("quantity", 5), ("owner", 1))),
    Amend(Target("live", 0), price=99, quantity=None),
]


@SETTINGS
@example(parameters={}, stream=AMEND_PANIC_EXAMPLE)
@given(parameters=book_parameters, stream=streams)
def test_streams(parameters: dict[str, Any], stream: list[Operation]) -> None:
    run_both(parameters, stream)


# ---------------------------------------------------------------------------------------------------
# The same streams in one batch
# ---------------------------------------------------------------------------------------------------

TIME_IN_FORCE_FLAGS = {"GTC": 0, "IOC": batch.FLAG_IOC, "FOK": batch.FLAG_FOK}


def encode(calls: list[Call]) -> dict[str, np.ndarray[Any, Any]]:
    """Per-call operations (that did not raise) as batch columns."""
    columns: dict[str, list[int]] = {
        name: [] for name in ("op", "side", "price", "quantity", "owner", "order_id", "flags")
    }

    def row(
        op: int, *, side: int = 0, price: int = 0, quantity: int = 0, owner: int = 0, order_id: int = 0, flags: int = 0
    ) -> None:
        for name, value in zip(columns, (op, side, price, quantity, owner, order_id, flags), strict=True):
            columns[name].append(value)

    for name, args, kwargs in calls:
        if name == "place":
            market = kwargs["price"] is None
            tif = kwargs.get("time_in_force") or ("IOC" if market else "GTC")
            flags = TIME_IN_FORCE_FLAGS[str(tif)] | batch.stp(kwargs.get("self_trade_prevention") or "RejectTaker")
            flags |= batch.FLAG_MARKET if market else 0
            flags |= batch.FLAG_POST_ONLY if kwargs.get("post_only") else 0
            quote = kwargs.get("quote_quantity")
            flags |= batch.FLAG_QUOTE_QUANTITY if quote is not None else 0
            side = 0 if str(kwargs["side"]) == "Bid" else 1
            quantity = quote if quote is not None else kwargs["quantity"]
            row(
                batch.OP_PLACE,
                side=side,
                price=kwargs["price"] or 0,
                quantity=quantity,
                owner=kwargs["owner"],
                flags=flags,
            )
        elif name == "cancel":
            row(batch.OP_CANCEL, order_id=args[0])
        elif name == "amend":
            row(batch.OP_AMEND, price=kwargs["price"] or 0, quantity=kwargs["quantity"] or 0, order_id=args[0])
        elif name == "cancel_all":
            row(batch.OP_CANCEL_ALL, owner=args[0])
        else:
            raise AssertionError(f"{name} has no batch encoding")
    dtypes = {
        "op": np.uint8,
        "side": np.uint8,
        "price": np.int64,
        "quantity": np.int64,
        "owner": np.uint64,
        "order_id": np.uint64,
        "flags": np.uint16,
    }
    return {name: np.array(values, dtype=dtypes[name]) for name, values in columns.items()}


def decode(records: np.ndarray[Any, Any]) -> list[tuple[int, tuple[Any, ...]]]:
    """Event records as (row, event tuple), names decoded through ``crossbook.batch``."""
    events = []
    for record in records.tolist():
        row, kind, reason, side, *numbers = record
        name = batch.REASONS[reason]
        events.append(
            (row, (batch.EVENT_KINDS[kind], None if name == "None" else name, ("Bid", "Ask")[side], *numbers))
        )
    return events


def per_call_events(book: Any, calls: list[Call]) -> list[tuple[int, tuple[Any, ...]]]:
    """Runs calls one at a time; every event with the index of its call."""
    events: list[tuple[int, tuple[Any, ...]]] = []
    for index, (name, args, kwargs) in enumerate(calls):
        if name == "cancel":  # cancel returns a bool: rebuild its one event from the order it names
            order = book.order(args[0])
            if book.cancel(args[0]):
                event = (
                    "Cancelled",
                    "CancelledByOwner",
                    order.side,
                    order.order_id,
                    order.owner,
                    order.price,
                    order.quantity,
                    0,
                    0,
                )
            else:
                event = ("Rejected", "OrderNotLive", "Bid", args[0], 0, 0, 0, 0, 0)
            events.append((index, event))
            continue
        result = getattr(book, name)(*args, **kwargs)
        produced = result.events if name == "place" else [result] if name == "amend" else result
        events.extend((index, event_tuple(event)) for event in produced)
    return events


@SETTINGS
@given(parameters=book_parameters, stream=book_only_streams)
def test_batch_matches_per_call(parameters: dict[str, Any], stream: list[Operation]) -> None:
    calls = run_both(parameters, stream)
    ok_calls = []
    probe = ReferenceBook(**parameters)
    for call in calls:  # keep the calls that did not raise (misuse never reaches a batch)
        if apply(probe, call)[0] == "ok":
            ok_calls.append(call)
    columns = encode(ok_calls)

    rust = cb.OrderBook(**parameters)
    batched = rust.execute_batch(**columns)
    reference = ReferenceBook(**parameters)
    reference_batched = reference.execute_batch(**columns)
    assert batched.dtype == reference_batched.dtype == batch.EVENT_DTYPE
    assert batched.tobytes() == reference_batched.tobytes()

    one_by_one = cb.OrderBook(**parameters)
    expected = per_call_events(one_by_one, ok_calls)
    got = decode(batched)
    assert got == expected
    assert snapshot(rust) == snapshot(one_by_one) == snapshot(reference)
