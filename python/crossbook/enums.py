"""Names of order and book parameters, as string enums.

Every member *is* its string (``Side.Bid == "Bid"``), so the API accepts either the enum or
Backpack's spelling of the name, and results print readably.
"""

from __future__ import annotations

from enum import Enum


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class Side(_StrEnum):
    """``Bid`` buys, ``Ask`` sells."""

    Bid = "Bid"
    Ask = "Ask"


class OrderType(_StrEnum):
    Limit = "Limit"
    Market = "Market"


class TimeInForce(_StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class SelfTradePrevention(_StrEnum):
    """What happens when a taker meets a resting order of its own owner."""

    RejectTaker = "RejectTaker"
    RejectMaker = "RejectMaker"
    RejectBoth = "RejectBoth"
    Allow = "Allow"


class BookState(_StrEnum):
    Open = "Open"
    PostOnly = "PostOnly"
    CancelOnly = "CancelOnly"
    Closed = "Closed"


__all__ = ["BookState", "OrderType", "SelfTradePrevention", "Side", "TimeInForce"]
