"""crossbook: an exchange core as a Python library.

Price-time order books and (as the project grows) a Backpack-style cross-margin risk engine, with
the hot paths in compiled Rust. Start with :class:`OrderBook`, the bare book in integer ticks and
lots; :mod:`crossbook.batch` drives it in bulk over numpy columns.
"""

from __future__ import annotations

from crossbook._core import Event, Fill, OrderBook, PlaceResult, RestingOrder, __version__
from crossbook.enums import BookState, OrderType, SelfTradePrevention, Side, TimeInForce
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

__all__ = [
    "BookState",
    "CrossbookError",
    "Event",
    "Fill",
    "InvalidArgumentError",
    "InvalidOrderError",
    "InvalidParameterError",
    "InvalidPriceError",
    "InvalidQuantityError",
    "InvalidTypeError",
    "OrderBook",
    "OrderType",
    "PlaceResult",
    "RestingOrder",
    "SelfTradePrevention",
    "Side",
    "TimeInForce",
    "UnknownOrderError",
    "__version__",
]
