"""crossbook: an exchange core as a Python library.

Price-time order books and a Backpack-style cross-margin risk engine, with the hot paths in compiled
Rust. :class:`Exchange` is the venue (accounts, spot and perpetual markets, margin); :class:`Config`
configures it; :class:`OrderBook` is one bare book in integer ticks and lots, and
:mod:`crossbook.batch` drives it in bulk over numpy columns. :meth:`Exchange.open` makes an exchange
durable (a write-ahead journal and snapshots in a directory, :mod:`crossbook.journal`), and
:func:`replay` rebuilds one from its journal.
"""

from __future__ import annotations

from crossbook._core import Event, Fill, OrderBook, PlaceResult, RestingOrder, __version__
from crossbook.config import (
    AssetConfig,
    Config,
    Haircut,
    LendingCurve,
    LiquidationConfig,
    MarginFunction,
    MarketConfig,
    VenueConfig,
)
from crossbook.enums import BookState, OrderType, SelfTradePrevention, Side, TimeInForce
from crossbook.exceptions import (
    ConfigError,
    CrossbookError,
    DurabilityError,
    InsufficientBalanceError,
    InsufficientMarginError,
    InvalidAmountError,
    InvalidArgumentError,
    InvalidOrderError,
    InvalidParameterError,
    InvalidPriceError,
    InvalidQuantityError,
    InvalidTypeError,
    JournalCorruptError,
    JournalError,
    JournalVersionError,
    LendingRefusedError,
    SubaccountLimitError,
    UnknownAccountError,
    UnknownNameError,
    UnknownOrderError,
    WrongOwnerError,
)
from crossbook.exchange import Exchange
from crossbook.journal import replay

__all__ = [
    "AssetConfig",
    "BookState",
    "Config",
    "ConfigError",
    "CrossbookError",
    "DurabilityError",
    "Event",
    "Exchange",
    "Fill",
    "Haircut",
    "InsufficientBalanceError",
    "InsufficientMarginError",
    "InvalidAmountError",
    "InvalidArgumentError",
    "InvalidOrderError",
    "InvalidParameterError",
    "InvalidPriceError",
    "InvalidQuantityError",
    "InvalidTypeError",
    "JournalCorruptError",
    "JournalError",
    "JournalVersionError",
    "LendingCurve",
    "LendingRefusedError",
    "LiquidationConfig",
    "MarginFunction",
    "MarketConfig",
    "OrderBook",
    "OrderType",
    "PlaceResult",
    "RestingOrder",
    "SelfTradePrevention",
    "Side",
    "SubaccountLimitError",
    "TimeInForce",
    "UnknownAccountError",
    "UnknownNameError",
    "UnknownOrderError",
    "VenueConfig",
    "WrongOwnerError",
    "__version__",
    "replay",
]
