"""The bulk interface of :class:`crossbook.OrderBook`: operations and events as numpy columns.

Operations (``OrderBook.execute_batch``), one row per index:

========== ======= =============================================================================
column     dtype   meaning
========== ======= =============================================================================
op         uint8   ``OP_PLACE``, ``OP_CANCEL``, ``OP_AMEND`` or ``OP_CANCEL_ALL``
side       uint8   0 Bid, 1 Ask (places)
price      int64   limit price in ticks (places); new price or 0 to keep it (amends)
quantity   int64   lots, or quote in tick-lots with ``FLAG_QUOTE_QUANTITY``; 0 keeps it (amends)
owner      uint64  owner id (places, cancel-all); optional, zeros if left out
order_id   uint64  target of a cancel or amend; optional
flags      uint16  ``FLAG_*`` bits, plus ``stp(mode)`` (places); optional
========== ======= =============================================================================

Events come back as one numpy structured array of dtype :data:`EVENT_DTYPE` (packed records
written by Rust and handed over without a copy); ``events["price"]`` is a column view. Fields:
``row`` (the operation that produced the event), ``kind`` (index into :data:`EVENT_KINDS`),
``reason`` (index into :data:`REASONS`), ``side``, ``order_id``, ``owner``, ``price``,
``quantity``, ``maker_order_id``, ``maker_owner``. A malformed row raises before any row runs, so
a batch is all-or-nothing for misuse.
"""

from __future__ import annotations

from crossbook._core import (
    EVENT_DTYPE,
    EVENT_KINDS,
    FLAG_FOK,
    FLAG_IOC,
    FLAG_MARKET,
    FLAG_POST_ONLY,
    FLAG_QUOTE_QUANTITY,
    OP_AMEND,
    OP_CANCEL,
    OP_CANCEL_ALL,
    OP_PLACE,
    REASONS,
    STP_SHIFT,
    standard_workload,
)
from crossbook.enums import SelfTradePrevention

_STP_CODES = {
    SelfTradePrevention.RejectTaker: 0,
    SelfTradePrevention.RejectMaker: 1,
    SelfTradePrevention.RejectBoth: 2,
    SelfTradePrevention.Allow: 3,
}


def stp(mode: SelfTradePrevention | str) -> int:
    """The ``flags`` bits selecting a self-trade prevention mode."""
    return _STP_CODES[SelfTradePrevention(mode)] << STP_SHIFT


__all__ = [
    "EVENT_DTYPE",
    "EVENT_KINDS",
    "FLAG_FOK",
    "FLAG_IOC",
    "FLAG_MARKET",
    "FLAG_POST_ONLY",
    "FLAG_QUOTE_QUANTITY",
    "OP_AMEND",
    "OP_CANCEL",
    "OP_CANCEL_ALL",
    "OP_PLACE",
    "REASONS",
    "standard_workload",
    "stp",
]
