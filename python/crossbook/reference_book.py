"""A pure-Python reference order book: the executable specification of :class:`crossbook.OrderBook`.

:class:`ReferenceBook` implements the contract of the Rust book (the module docs of
``rust/core/src/book/mod.rs``, SPEC §6) with the same Python API, written to be read rather than
to be fast. The Rust book is tested against it: ``tests/test_book_differential.py`` feeds both the
same generated streams of operations and requires identical events, results and book contents
after every step. ``crossbook bench`` runs it as the slow baseline.

How it is built, so that it is obviously right:

- Each side is one list of live orders kept sorted by (price priority, arrival sequence): bids by
  descending price, asks by ascending price, then by the order in which they joined the back of
  their level. The first order of the opposite list is always the next one to trade.
- There are no level objects: a level's total, the depth and a queue are computed by scanning.
- A fill-or-kill order is checked by running the matching on a deep copy of the book and looking at
  whether it filled completely, which treats own orders exactly as its self-trade prevention would.
- Integers are Python ints; the limits of the Rust types (``i64`` prices and quantities, ``u64``
  ids and owners) are checked explicitly where the Rust book checks them.

Where the contract is silent this follows what the Rust book does: the order of the checks (misuse
errors, then book state, quantity filter, price band; post-only before fill-or-kill), the fields of
each event, a quote-sized order stopping at the first level where its quote no longer buys one lot,
and misuse checks of the Python arguments made in the order the arguments are listed.

Where the Rust book disagrees with its documented contract this follows the contract (the Rust
cases are strict ``xfail`` tests in ``tests/test_book_bad_input.py``): an out-of-range quantity or
price is an :class:`InvalidQuantityError` or :class:`InvalidPriceError`, since ``crossbook.exceptions``
files "out of range" under those classes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from crossbook.enums import BookState, OrderType, SelfTradePrevention, Side, TimeInForce
from crossbook.exceptions import (
    InvalidArgumentError,
    InvalidOrderError,
    InvalidParameterError,
    InvalidPriceError,
    InvalidQuantityError,
    InvalidTypeError,
    UnknownOrderError,
)

I64_MAX: Final = 2**63 - 1
"""Largest price, quantity or level total (Rust ``i64``)."""

# ---------------------------------------------------------------------------------------------------
# Names and codes of the bulk interface (stated here independently of the compiled module; the tests
# check they agree with ``crossbook.batch``).
# ---------------------------------------------------------------------------------------------------

EVENT_KINDS: Final = ("Accepted", "Rejected", "Fill", "Cancelled", "Expired", "Amended")
REASONS: Final = (
    "None",
    "CancelledByOwner",
    "QuantityBelowMinimum",
    "QuantityAboveMaximum",
    "PriceBand",
    "BookPostOnly",
    "BookCancelOnly",
    "BookClosed",
    "ImmediateOrCancel",
    "FillOrKill",
    "PostOnlyWouldTake",
    "SelfTradePrevention",
    "ImpactBand",
    "NoLiquidity",
    "OrderNotLive",
    "AmendWouldCross",
    "QuantityOverflow",
)
SIDES: Final = ("Bid", "Ask")

OP_PLACE: Final = 0
OP_CANCEL: Final = 1
OP_AMEND: Final = 2
OP_CANCEL_ALL: Final = 3

FLAG_MARKET: Final = 1
FLAG_IOC: Final = 1 << 1
FLAG_FOK: Final = 1 << 2
FLAG_POST_ONLY: Final = 1 << 3
FLAG_QUOTE_QUANTITY: Final = 1 << 4
STP_SHIFT: Final = 5
STP_MASK: Final = 0b11 << STP_SHIFT
FLAGS_ALL: Final = FLAG_MARKET | FLAG_IOC | FLAG_FOK | FLAG_POST_ONLY | FLAG_QUOTE_QUANTITY | STP_MASK
STP_BY_CODE: Final = (
    SelfTradePrevention.RejectTaker,
    SelfTradePrevention.RejectMaker,
    SelfTradePrevention.RejectBoth,
    SelfTradePrevention.Allow,
)

# ---------------------------------------------------------------------------------------------------
# What the book hands out
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One outcome of a book operation (fields that do not apply to its kind are 0).

    ``kind`` is one of :data:`EVENT_KINDS`, ``reason`` one of :data:`REASONS` other than ``"None"``,
    or ``None``. For a ``Fill``, ``order_id``/``owner``/``side`` are the taker's and ``maker_*`` the
    resting order's; ``price`` is the resting price and ``quantity`` the lots traded.
    """

    kind: str
    reason: str | None
    side: str
    order_id: int
    owner: int
    price: int
    quantity: int
    maker_order_id: int = 0
    maker_owner: int = 0


@dataclass(frozen=True)
class Fill:
    """One trade of a placed order against a resting one."""

    maker_order_id: int
    maker_owner: int
    price: int
    quantity: int


@dataclass(frozen=True)
class RestingOrder:
    """A live order as seen from outside."""

    order_id: int
    owner: int
    side: str
    price: int
    quantity: int


@dataclass(frozen=True)
class PlaceResult:
    """What happened to one placed order; the details are in ``events``."""

    order_id: int
    status: str
    reason: str | None
    filled: int
    remaining: int
    events: list[Event]

    @property
    def reject_reason(self) -> str | None:
        """Why it was rejected or expired (same as ``reason``)."""
        return self.reason

    @property
    def is_resting(self) -> bool:
        """True when the remainder rests on the book."""
        return self.status in ("New", "PartiallyFilled")

    @property
    def fills(self) -> list[Fill]:
        return [
            Fill(event.maker_order_id, event.maker_owner, event.price, event.quantity)
            for event in self.events
            if event.kind == "Fill"
        ]


class EventLike(Protocol):
    """Anything shaped like an event: a :class:`crossbook.Event` or a reference :class:`Event`."""

    @property
    def kind(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def side(self) -> str: ...
    @property
    def order_id(self) -> int: ...
    @property
    def owner(self) -> int: ...
    @property
    def price(self) -> int: ...
    @property
    def quantity(self) -> int: ...
    @property
    def maker_order_id(self) -> int: ...
    @property
    def maker_owner(self) -> int: ...


class RestingOrderLike(Protocol):
    @property
    def order_id(self) -> int: ...
    @property
    def owner(self) -> int: ...
    @property
    def side(self) -> str: ...
    @property
    def price(self) -> int: ...
    @property
    def quantity(self) -> int: ...


EventTuple = tuple[str, "str | None", str, int, int, int, int, int, int]


def event_tuple(event: EventLike) -> EventTuple:
    """The fields of an event from either book, as a plain tuple (for comparing the two books)."""
    return (
        event.kind,
        event.reason,
        event.side,
        event.order_id,
        event.owner,
        event.price,
        event.quantity,
        event.maker_order_id,
        event.maker_owner,
    )


def order_tuple(order: RestingOrderLike) -> tuple[int, int, str, int, int]:
    """A resting order from either book as ``(order_id, owner, side, price, quantity)``."""
    return (order.order_id, order.owner, order.side, order.price, order.quantity)


# ---------------------------------------------------------------------------------------------------
# Argument conversion (the same checks, in the same order, as the compiled module)
# ---------------------------------------------------------------------------------------------------


def _integer(value: object, name: str, out_of_range: type[InvalidArgumentError] = InvalidArgumentError) -> int:
    """An ``int`` argument (not ``bool``, not ``float``) that fits in a signed 64-bit integer."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTypeError(f"{name} must be an int, got {type(value).__name__}")
    if not -(2**63) <= value <= I64_MAX:
        raise out_of_range(f"{name} {value} does not fit in a signed 64-bit integer")
    return int(value)


def _unsigned(value: object, name: str) -> int:
    """An id or owner: an ``int`` in ``0..=i64::MAX``."""
    number = _integer(value, name)
    if number < 0:
        raise InvalidArgumentError(f"{name} must be >= 0, got {number}")
    return number


def _name(value: object, argument: str, allowed: tuple[str, ...]) -> str:
    """A name given as a string enum or its plain string."""
    if not isinstance(value, str):
        raise InvalidTypeError(f"{argument} must be a str, got {type(value).__name__}")
    text = str.__str__(value)  # the string itself, whatever a subclass's __str__ says
    if text not in allowed:
        expected = ", ".join(repr(name) for name in allowed)
        raise InvalidArgumentError(f"{argument} must be one of {expected}, got {text!r}")
    return text


def _side(value: object) -> Side:
    return Side(_name(value, "side", SIDES))


def _book_state(value: object) -> BookState:
    return BookState(_name(value, "state", tuple(member.value for member in BookState)))


def _flag(value: object, name: str) -> bool:
    """A bool flag: only real bools (``0``/``1`` are refused to catch swapped arguments)."""
    if not isinstance(value, bool):
        raise InvalidTypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _band(value: object, name: str) -> tuple[int, int]:
    """A ``(lower, upper)`` tuple of ints, unbounded when ``None``."""
    if value is None:
        return (1, I64_MAX)
    if not isinstance(value, tuple) or len(value) != 2:
        raise InvalidTypeError(f"{name} must be a (lower, upper) tuple of ints or None, got {type(value).__name__}")
    return (_integer(value[0], name), _integer(value[1], name))


def _checked_band(name: str, lower: int, upper: int) -> tuple[int, int]:
    if not 1 <= lower <= upper:
        raise InvalidParameterError(
            f"invalid book parameter: {name} needs 1 <= lower <= upper, got {lower} and {upper}"
        )
    return (lower, upper)


def _opposite(side: Side) -> Side:
    return Side.Ask if side is Side.Bid else Side.Bid


def _reaches(taker_side: Side, limit: int, price: int) -> bool:
    """Whether a taker on ``taker_side`` limited at ``limit`` may trade at ``price``."""
    return price <= limit if taker_side is Side.Bid else price >= limit


# ---------------------------------------------------------------------------------------------------
# The book
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    """A checked order, as the core sees it (``quantity`` is quote for a quote-sized order)."""

    side: Side
    order_type: OrderType
    price: int
    quantity: int
    quote_quantity: bool
    owner: int
    time_in_force: TimeInForce
    post_only: bool
    self_trade_prevention: SelfTradePrevention


@dataclass
class _Order:
    """A live order. ``arrival`` orders the orders of one price level: smaller is earlier."""

    order_id: int
    owner: int
    side: Side
    price: int
    quantity: int
    arrival: int


@dataclass(frozen=True)
class _Outcome:
    order_id: int
    status: str
    filled: int
    remaining: int
    reason: str | None


class _Stop(Enum):
    """Why matching stopped."""

    COMPLETE = "complete"
    BEYOND_LIMIT = "beyond limit"
    OPPOSITE_EMPTY = "opposite empty"
    SELF_TRADE = "self trade"
    BUDGET_EXHAUSTED = "budget exhausted"


def _check_request(request: _Request) -> None:
    """Misuse that no book state can excuse."""
    if request.quantity <= 0:
        name = "quote_quantity" if request.quote_quantity else "quantity"
        raise InvalidQuantityError(f"{name} must be a positive number, got {request.quantity}")
    if request.order_type is OrderType.Limit:
        if request.price <= 0:
            raise InvalidPriceError(f"price must be a positive number of ticks, got {request.price}")
        if request.quote_quantity:
            raise InvalidOrderError("invalid order: only market orders can be sized by quote_quantity")
    else:
        if request.post_only:
            raise InvalidOrderError("invalid order: a market order cannot be post_only")
        if request.quote_quantity and request.time_in_force is TimeInForce.FOK:
            raise InvalidOrderError("invalid order: a quote_quantity market order cannot be fill-or-kill (FOK)")


def _check_amend(price: int | None, quantity: int | None) -> None:
    if price is None and quantity is None:
        raise InvalidOrderError("invalid order: an amend needs a new price, a new quantity or both")
    if price is not None and price <= 0:
        raise InvalidPriceError(f"price must be a positive number of ticks, got {price}")
    if quantity is not None and quantity <= 0:
        raise InvalidQuantityError(f"quantity must be a positive number of lots, got {quantity}")


class ReferenceBook:
    """A slow, plain price-time priority order book with the API and behaviour of :class:`crossbook.OrderBook`.

    Prices are integer ticks, quantities integer lots; see the module docs for the contract.
    """

    def __init__(
        self,
        *,
        min_quantity: int | None = None,
        max_quantity: int | None = None,
        price_band: tuple[int, int] | None = None,
        impact_band: tuple[int, int] | None = None,
        state: BookState | str | None = None,
    ) -> None:
        minimum = 1 if min_quantity is None else _integer(min_quantity, "min_quantity")
        maximum = I64_MAX if max_quantity is None else _integer(max_quantity, "max_quantity")
        price_lower_upper = _band(price_band, "price_band")
        impact_lower_upper = _band(impact_band, "impact_band")
        initial_state = BookState.Open if state is None else _book_state(state)
        if not 1 <= minimum <= maximum:
            raise InvalidParameterError(
                "invalid book parameter: quantity limits need 1 <= min_quantity <= max_quantity, "
                f"got {minimum} and {maximum}"
            )
        self._min_quantity = minimum
        self._max_quantity = maximum
        self._price_band = _checked_band("price_band", *price_lower_upper)
        self._impact_band = _checked_band("impact_band", *impact_lower_upper)
        self._state = initial_state
        self._bids: list[_Order] = []
        self._asks: list[_Order] = []
        self._next_id = 1
        self._arrivals = 0

    # -- parameters ---------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state.value

    @state.setter
    def state(self, state: BookState | str) -> None:
        self._state = _book_state(state)

    def set_price_band(self, lower: int | None = None, upper: int | None = None) -> None:
        """Limit orders priced outside ``[lower, upper]`` are rejected (``None`` for no bound)."""
        self._price_band = self._band_arguments("price_band", lower, upper)

    def set_impact_band(self, lower: int | None = None, upper: int | None = None) -> None:
        """Market buys trade at most at ``upper``, market sells at least at ``lower`` (``None``: no bound)."""
        self._impact_band = self._band_arguments("impact_band", lower, upper)

    @staticmethod
    def _band_arguments(name: str, lower: object, upper: object) -> tuple[int, int]:
        low = 1 if lower is None else _integer(lower, "lower")
        high = I64_MAX if upper is None else _integer(upper, "upper")
        return _checked_band(name, low, high)

    # -- looking at the book ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def __repr__(self) -> str:
        def show(best: tuple[int, int] | None) -> str:
            return "None" if best is None else f"{best[1]}@{best[0]}"

        return (
            f"ReferenceBook(orders={len(self)}, best_bid={show(self.best_bid())}, "
            f"best_ask={show(self.best_ask())}, state={self.state})"
        )

    @property
    def next_order_id(self) -> int:
        """The id the next place will receive."""
        return self._next_id

    def best_bid(self) -> tuple[int, int] | None:
        levels = self._levels(Side.Bid)
        return levels[0] if levels else None

    def best_ask(self) -> tuple[int, int] | None:
        levels = self._levels(Side.Ask)
        return levels[0] if levels else None

    def depth(self, levels: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks): up to ``levels`` (default 10) (price, total quantity) pairs per side, best first."""
        count = 10 if levels is None else _integer(levels, "levels")
        if count < 0:
            raise InvalidArgumentError(f"levels must be >= 0, got {count}")
        return (self._levels(Side.Bid)[:count], self._levels(Side.Ask)[:count])

    def order(self, order_id: int) -> RestingOrder | None:
        """The live order with this id, or ``None``."""
        live = self._find(_unsigned(order_id, "order_id"))
        return None if live is None else self._public(live)

    def orders(self) -> list[RestingOrder]:
        """Every live order, by id."""
        return [self._public(order) for order in sorted(self._bids + self._asks, key=lambda order: order.order_id)]

    def queue(self, side: Side | str, price: int) -> list[int]:
        """The ids queued at one price, first in line first."""
        book_side = _side(side)
        level_price = _integer(price, "price")
        return [order.order_id for order in self._orders_on(book_side) if order.price == level_price]

    # -- operations ---------------------------------------------------------------------------------

    def place(  # noqa: PLR0917 (the compiled API's positional signature)
        self,
        side: Side | str,
        price: int | None,
        quantity: int | None,
        owner: int | None = None,
        order_type: OrderType | str | None = None,
        time_in_force: TimeInForce | str | None = None,
        post_only: bool | None = None,
        self_trade_prevention: SelfTradePrevention | str | None = None,
        quote_quantity: int | None = None,
    ) -> PlaceResult:
        """Places an order. ``price=None`` makes a market order; ``quote_quantity`` sizes a market
        order by quote (tick-lots) instead of ``quantity``."""
        book_side = _side(side)
        owner_id = 0 if owner is None else _unsigned(owner, "owner")
        limit_price = None if price is None else _integer(price, "price", InvalidPriceError)
        given_type = None if order_type is None else OrderType(_name(order_type, "order_type", ("Limit", "Market")))
        if limit_price is not None and given_type in (None, OrderType.Limit):
            kind = OrderType.Limit
        elif limit_price is None and given_type in (None, OrderType.Market):
            kind = OrderType.Market
        elif given_type is OrderType.Limit:
            raise InvalidOrderError("a Limit order needs a price (price=None means a market order)")
        else:
            raise InvalidOrderError("a Market order takes no price; pass price=None")
        if quantity is not None and quote_quantity is None:
            amount, is_quote = _integer(quantity, "quantity", InvalidQuantityError), False
        elif quantity is None and quote_quantity is not None:
            amount, is_quote = _integer(quote_quantity, "quote_quantity", InvalidQuantityError), True
        else:
            raise InvalidOrderError("give exactly one of quantity and quote_quantity")
        if time_in_force is not None:
            tif = TimeInForce(_name(time_in_force, "time_in_force", ("GTC", "IOC", "FOK")))
        else:
            tif = TimeInForce.GTC if kind is OrderType.Limit else TimeInForce.IOC
        request = _Request(
            side=book_side,
            order_type=kind,
            price=0 if limit_price is None else limit_price,
            quantity=amount,
            quote_quantity=is_quote,
            owner=owner_id,
            time_in_force=tif,
            post_only=False if post_only is None else _flag(post_only, "post_only"),
            self_trade_prevention=SelfTradePrevention.RejectTaker
            if self_trade_prevention is None
            else SelfTradePrevention(
                _name(self_trade_prevention, "self_trade_prevention", tuple(mode.value for mode in SelfTradePrevention))
            ),
        )
        _check_request(request)
        events: list[Event] = []
        outcome = self._place(request, events)
        return PlaceResult(outcome.order_id, outcome.status, outcome.reason, outcome.filled, outcome.remaining, events)

    def cancel(self, order_id: int) -> bool:
        """Cancels a live order: True if cancelled, False if it is no longer live."""
        events: list[Event] = []
        self._cancel(_unsigned(order_id, "order_id"), events)
        return events[0].kind == "Cancelled"

    def amend(self, order_id: int, price: int | None = None, quantity: int | None = None) -> Event:
        """Changes price and/or remaining quantity; returns the ``Amended`` or ``Rejected`` event."""
        target = _unsigned(order_id, "order_id")
        new_price = None if price is None else _integer(price, "price", InvalidPriceError)
        new_quantity = None if quantity is None else _integer(quantity, "quantity", InvalidQuantityError)
        events: list[Event] = []
        self._amend(target, new_price, new_quantity, events)
        return events[0]

    def cancel_all(self, owner: int) -> list[Event]:
        """Cancels every live order of ``owner``; returns the ``Cancelled`` events in id order."""
        events: list[Event] = []
        self._cancel_all(_unsigned(owner, "owner"), events)
        return events

    def execute_batch(  # noqa: PLR0917 (the compiled API's positional signature)
        self,
        op: npt.NDArray[np.uint8],
        side: npt.NDArray[np.uint8],
        price: npt.NDArray[np.int64],
        quantity: npt.NDArray[np.int64],
        owner: npt.NDArray[np.uint64] | None = None,
        order_id: npt.NDArray[np.uint64] | None = None,
        flags: npt.NDArray[np.uint16] | None = None,
    ) -> npt.NDArray[np.void]:
        """Runs a batch of operations given as numpy columns (see :mod:`crossbook.batch`); returns every
        event as one structured array of dtype :data:`EVENT_DTYPE`, one record per event with ``row``
        naming the operation that produced it. A malformed row raises before anything runs."""
        ops = _column(op, "op", np.uint8)
        _contiguous(ops, "op")
        rows = len(ops)
        columns = [
            ops,
            _column(side, "side", np.uint8),
            _column(price, "price", np.int64),
            _column(quantity, "quantity", np.int64),
            _optional_column(owner, "owner", np.uint64, rows),
            _optional_column(order_id, "order_id", np.uint64, rows),
            _optional_column(flags, "flags", np.uint16, rows),
        ]
        for name, column in zip(_BATCH_COLUMNS, columns, strict=True):
            _contiguous(column, name)
        lengths = [len(column) for column in columns[1:]]
        if any(length != rows for length in lengths):
            raise InvalidParameterError(
                f"invalid book parameter: batch columns differ in length: op has {rows} rows, others {lengths}"
            )
        table = [[int(value) for value in column.tolist()] for column in columns]
        decoded = [_decode_row(_Row(*values), row) for row, values in enumerate(zip(*table, strict=True))]
        next_id = self._next_id
        for row, (name, arguments) in enumerate(decoded):
            if name == "place":
                next_id += 1
            elif name in ("cancel", "amend") and not 0 < arguments[0] < next_id:
                raise UnknownOrderError(
                    f"batch row {row}: order id {arguments[0]} was never issued by this book "
                    f"(the next id it will issue is {next_id})"
                )

        records: list[tuple[int, ...]] = []
        for row, (name, arguments) in enumerate(decoded):
            events: list[Event] = []
            if name == "place":
                self._place(arguments[0], events)
            elif name == "cancel":
                self._cancel(arguments[0], events)
            elif name == "amend":
                self._amend(arguments[0], arguments[1], arguments[2], events)
            else:
                self._cancel_all(arguments[0], events)
            records.extend((row, *_event_codes(event)) for event in events)
        result = np.zeros(len(records), dtype=EVENT_DTYPE)  # zeroed, padding included, as Rust writes it
        for index, name in enumerate(EVENT_DTYPE.names or ()):
            result[name] = [record[index] for record in records]
        return result

    # -- the engine ---------------------------------------------------------------------------------

    def _orders_on(self, side: Side) -> list[_Order]:
        """The live orders of one side, in priority order (the list itself, not a copy)."""
        return self._bids if side is Side.Bid else self._asks

    def _levels(self, side: Side) -> list[tuple[int, int]]:
        """Every (price, total quantity) of one side, best first."""
        levels: list[tuple[int, int]] = []
        for order in self._orders_on(side):
            if levels and levels[-1][0] == order.price:
                levels[-1] = (order.price, levels[-1][1] + order.quantity)
            else:
                levels.append((order.price, order.quantity))
        return levels

    def _level_total(self, side: Side, price: int) -> int:
        return sum(order.quantity for order in self._orders_on(side) if order.price == price)

    def _find(self, order_id: int) -> _Order | None:
        for order in self._bids + self._asks:
            if order.order_id == order_id:
                return order
        return None

    @staticmethod
    def _public(order: _Order) -> RestingOrder:
        return RestingOrder(order.order_id, order.owner, order.side.value, order.price, order.quantity)

    def _join_back_of_level(self, order: _Order) -> None:
        """Adds a live order behind every order already at its price, and re-sorts its side."""
        self._arrivals += 1
        order.arrival = self._arrivals
        orders = self._orders_on(order.side)
        orders.append(order)
        if order.side is Side.Bid:
            orders.sort(key=lambda each: (-each.price, each.arrival))
        else:
            orders.sort(key=lambda each: (each.price, each.arrival))

    def _rest(self, order_id: int, side: Side, price: int, quantity: int, owner: int) -> bool:
        """Rests an order at the back of its level; False (and nothing changed) if the level total
        would exceed ``i64::MAX``."""
        if self._level_total(side, price) + quantity > I64_MAX:
            return False
        self._join_back_of_level(_Order(order_id, owner, side, price, quantity, arrival=0))
        return True

    def _crosses(self, side: Side, limit: int) -> bool:
        """Would an order on ``side`` limited at ``limit`` trade with the best opposite order?"""
        opposite = self._orders_on(_opposite(side))
        return bool(opposite) and _reaches(side, limit, opposite[0].price)

    def _filter(self, request: _Request) -> str | None:
        """Why a well-formed order is rejected before matching, if it is."""
        if self._state is BookState.PostOnly:
            if not (request.post_only and request.order_type is OrderType.Limit):
                return "BookPostOnly"
        elif self._state is BookState.CancelOnly:
            return "BookCancelOnly"
        elif self._state is BookState.Closed:
            return "BookClosed"
        if not request.quote_quantity:
            reason = self._quantity_filter(request.quantity)
            if reason is not None:
                return reason
        if request.order_type is OrderType.Limit:
            return self._price_filter(request.price)
        return None

    def _quantity_filter(self, quantity: int) -> str | None:
        if quantity < self._min_quantity:
            return "QuantityBelowMinimum"
        if quantity > self._max_quantity:
            return "QuantityAboveMaximum"
        return None

    def _price_filter(self, price: int) -> str | None:
        lower, upper = self._price_band
        return None if lower <= price <= upper else "PriceBand"

    def _place(self, request: _Request, events: list[Event]) -> _Outcome:
        order_id = self._next_id
        self._next_id += 1

        def order_event(kind: str, reason: str | None, quantity: int) -> Event:
            return Event(kind, reason, request.side.value, order_id, request.owner, request.price, quantity)

        def expire(reason: str, filled: int, remaining: int) -> _Outcome:
            events.append(order_event("Expired", reason, remaining))
            return _Outcome(order_id, "Expired", filled, remaining, reason)

        rejected = self._filter(request)
        if rejected is not None:
            events.append(order_event("Rejected", rejected, request.quantity))
            return _Outcome(order_id, "Rejected", 0, request.quantity, rejected)
        events.append(order_event("Accepted", None, request.quantity))

        if request.order_type is OrderType.Limit:
            limit = request.price
        else:
            lower, upper = self._impact_band
            limit = upper if request.side is Side.Bid else lower
        if request.post_only and self._crosses(request.side, limit):
            return expire("PostOnlyWouldTake", 0, request.quantity)
        if request.time_in_force is TimeInForce.FOK and not self._would_fill_completely(request, limit):
            return expire("FillOrKill", 0, request.quantity)

        filled, remaining, stop = self._take(order_id, request, limit, events)
        if stop is _Stop.BUDGET_EXHAUSTED and filled == 0:
            return expire("NoLiquidity", filled, remaining)
        if stop in (_Stop.COMPLETE, _Stop.BUDGET_EXHAUSTED):
            return _Outcome(order_id, "Filled", filled, remaining, None)
        if stop is _Stop.SELF_TRADE:
            return expire("SelfTradePrevention", filled, remaining)
        if request.order_type is OrderType.Market:
            return expire("ImpactBand" if stop is _Stop.BEYOND_LIMIT else "NoLiquidity", filled, remaining)
        if request.time_in_force is TimeInForce.GTC:
            if self._rest(order_id, request.side, request.price, remaining, request.owner):
                return _Outcome(order_id, "New" if filled == 0 else "PartiallyFilled", filled, remaining, None)
            return expire("QuantityOverflow", filled, remaining)
        if request.time_in_force is TimeInForce.IOC:
            return expire("ImmediateOrCancel", filled, remaining)
        raise AssertionError("a fill-or-kill order passed its check and must have filled completely")

    def _would_fill_completely(self, request: _Request, limit: int) -> bool:
        """A fill-or-kill check: match on a throwaway copy of the book and see."""
        trial = copy.deepcopy(self)
        _, remaining, _ = trial._take(0, request, limit, [])
        return remaining == 0

    def _take(self, taker_id: int, request: _Request, limit: int, events: list[Event]) -> tuple[int, int, _Stop]:
        """Matches an incoming order against the opposite side, best first; returns (lots filled,
        remaining, why it stopped). ``remaining`` is lots, or unspent quote for a quote-sized order."""
        makers = self._orders_on(_opposite(request.side))
        stp = request.self_trade_prevention
        remaining = request.quantity
        filled = 0
        while True:
            if remaining == 0:
                return filled, 0, _Stop.COMPLETE
            if not makers:
                return filled, remaining, _Stop.OPPOSITE_EMPTY
            maker = makers[0]
            if not _reaches(request.side, limit, maker.price):
                return filled, remaining, _Stop.BEYOND_LIMIT
            wanted = remaining // maker.price if request.quote_quantity else remaining
            if wanted == 0:
                return filled, remaining, _Stop.BUDGET_EXHAUSTED
            if maker.owner == request.owner and stp is not SelfTradePrevention.Allow:
                if stp is SelfTradePrevention.RejectTaker:
                    return filled, remaining, _Stop.SELF_TRADE
                makers.pop(0)
                events.append(
                    Event(
                        "Cancelled",
                        "SelfTradePrevention",
                        maker.side.value,
                        maker.order_id,
                        maker.owner,
                        maker.price,
                        maker.quantity,
                    )
                )
                if stp is SelfTradePrevention.RejectBoth:
                    return filled, remaining, _Stop.SELF_TRADE
                continue
            quantity = min(wanted, maker.quantity)
            events.append(
                Event(
                    "Fill",
                    None,
                    request.side.value,
                    taker_id,
                    request.owner,
                    maker.price,
                    quantity,
                    maker.order_id,
                    maker.owner,
                )
            )
            maker.quantity -= quantity
            filled += quantity
            remaining -= quantity * maker.price if request.quote_quantity else quantity
            if maker.quantity == 0:
                makers.pop(0)

    def _check_issued(self, order_id: int) -> None:
        if not 0 < order_id < self._next_id:
            raise UnknownOrderError(
                f"order id {order_id} was never issued by this book (the next id it will issue is {self._next_id})"
            )

    def _cancel(self, order_id: int, events: list[Event]) -> None:
        self._check_issued(order_id)
        order = self._find(order_id)
        if order is None:
            events.append(Event("Rejected", "OrderNotLive", "Bid", order_id, 0, 0, 0))
            return
        self._orders_on(order.side).remove(order)
        events.append(
            Event("Cancelled", "CancelledByOwner", order.side.value, order_id, order.owner, order.price, order.quantity)
        )

    def _cancel_all(self, owner: int, events: list[Event]) -> None:
        for order in self.orders():
            if order.owner == owner:
                self._cancel(order.order_id, events)

    def _amend(self, order_id: int, new_price: int | None, new_quantity: int | None, events: list[Event]) -> None:
        self._check_issued(order_id)
        _check_amend(new_price, new_quantity)
        order = self._find(order_id)
        if order is None:
            events.append(Event("Rejected", "OrderNotLive", "Bid", order_id, 0, 0, 0))
            return
        price = order.price if new_price is None else new_price
        quantity = order.quantity if new_quantity is None else new_quantity
        reason: str | None = None
        if self._state in (BookState.CancelOnly, BookState.Closed):
            reason = "BookCancelOnly" if self._state is BookState.CancelOnly else "BookClosed"
        else:
            reason = self._quantity_filter(quantity) or self._price_filter(price)
        if reason is None and price != order.price and self._crosses(order.side, price):
            reason = "AmendWouldCross"
        if reason is None:
            others = self._level_total(order.side, price) - (order.quantity if price == order.price else 0)
            if others + quantity > I64_MAX:
                reason = "QuantityOverflow"
        if reason is not None:
            events.append(Event("Rejected", reason, order.side.value, order_id, order.owner, price, quantity))
            return

        keeps_priority = price == order.price and quantity <= order.quantity
        if keeps_priority:
            order.quantity = quantity
        else:
            self._orders_on(order.side).remove(order)
            order.price, order.quantity = price, quantity
            self._join_back_of_level(order)
        events.append(Event("Amended", None, order.side.value, order_id, order.owner, price, quantity))


# ---------------------------------------------------------------------------------------------------
# Batch columns
# ---------------------------------------------------------------------------------------------------

_BATCH_COLUMNS: Final = ("op", "side", "price", "quantity", "owner", "order_id", "flags")

EVENT_DTYPE: Final = np.dtype(
    {
        "names": [
            "row",
            "kind",
            "reason",
            "side",
            "order_id",
            "owner",
            "price",
            "quantity",
            "maker_order_id",
            "maker_owner",
        ],
        "formats": ["<u4", "u1", "u1", "u1", "<u8", "<u8", "<i8", "<i8", "<u8", "<u8"],
        "offsets": [0, 4, 5, 6, 8, 16, 24, 32, 40, 48],
        "itemsize": 56,
    }
)
"""One event record of a batch: the operation's row, then the event with names as codes (``kind``
indexes :data:`EVENT_KINDS`, ``reason`` :data:`REASONS`, ``side`` 0 Bid / 1 Ask); the layout of
the Rust record, so the two books' results compare byte for byte."""


def _event_codes(event: Event) -> tuple[int, ...]:
    """An event's fields as the codes of an event record (without the row)."""
    return (
        EVENT_KINDS.index(event.kind),
        REASONS.index(event.reason or "None"),
        SIDES.index(event.side),
        event.order_id,
        event.owner,
        event.price,
        event.quantity,
        event.maker_order_id,
        event.maker_owner,
    )


def _column(value: object, name: str, dtype: type[np.generic]) -> npt.NDArray[Any]:
    """A 1-D numpy array of exactly ``dtype``."""
    expected = np.dtype(dtype)
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype == expected:
        return value
    got = f"a {value.ndim}-D array of {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
    raise InvalidTypeError(f"column {name} must be a 1-D numpy array of {expected}, got {got}")


def _optional_column(value: object, name: str, dtype: type[np.generic], rows: int) -> npt.NDArray[Any]:
    return np.zeros(rows, dtype=dtype) if value is None else _column(value, name, dtype)


def _contiguous(column: npt.NDArray[Any], name: str) -> None:
    if not column.flags.c_contiguous:
        raise InvalidArgumentError(f"column {name} must be a C-contiguous numpy array")


class _Row(NamedTuple):
    """One row of a batch, as Python ints."""

    op: int
    side: int
    price: int
    quantity: int
    owner: int
    order_id: int
    flags: int


def _decode_row(values: _Row, row: int) -> tuple[str, tuple[Any, ...]]:
    """One batch row as (operation, arguments), checked as the per-call operation would be."""
    try:
        return _decode(values)
    except InvalidArgumentError as error:
        raise type(error)(f"batch row {row}: {error}") from None


def _decode(values: _Row) -> tuple[str, tuple[Any, ...]]:
    op, side, price, quantity, owner, order_id, flags = values
    if op == OP_PLACE:
        if side not in (0, 1):
            raise InvalidOrderError("invalid order: side must be 0 (Bid) or 1 (Ask)")
        if flags & ~FLAGS_ALL:
            raise InvalidOrderError("invalid order: flags has undefined bits set")
        if flags & FLAG_IOC and flags & FLAG_FOK:
            raise InvalidOrderError("invalid order: flags sets both IOC and FOK")
        market = bool(flags & FLAG_MARKET)
        tif = TimeInForce.IOC if flags & FLAG_IOC else TimeInForce.FOK if flags & FLAG_FOK else TimeInForce.GTC
        request = _Request(
            side=Side(SIDES[side]),
            order_type=OrderType.Market if market else OrderType.Limit,
            price=0 if market else price,
            quantity=quantity,
            quote_quantity=bool(flags & FLAG_QUOTE_QUANTITY),
            owner=owner,
            time_in_force=tif,
            post_only=bool(flags & FLAG_POST_ONLY),
            self_trade_prevention=STP_BY_CODE[(flags & STP_MASK) >> STP_SHIFT],
        )
        _check_request(request)
        return ("place", (request,))
    if op == OP_CANCEL:
        return ("cancel", (order_id,))
    if op == OP_AMEND:
        new_price = price if price != 0 else None
        new_quantity = quantity if quantity != 0 else None
        _check_amend(new_price, new_quantity)
        return ("amend", (order_id, new_price, new_quantity))
    if op == OP_CANCEL_ALL:
        return ("cancel_all", (owner,))
    raise InvalidOrderError("invalid order: op must be 0 (place), 1 (cancel), 2 (amend) or 3 (cancel all)")


__all__ = [
    "EVENT_DTYPE",
    "EVENT_KINDS",
    "REASONS",
    "Event",
    "EventLike",
    "Fill",
    "PlaceResult",
    "ReferenceBook",
    "RestingOrder",
    "event_tuple",
    "order_tuple",
]
