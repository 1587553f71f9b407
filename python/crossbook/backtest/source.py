"""What feeds a backtest's market: the protocol every data source implements.

A source owns the historical or synthetic flow of a run. The runner asks it for the time of its next
event (:meth:`MarketSource.next_time`) and has it apply everything up to a time
(:meth:`MarketSource.run_until`), between the strategies' own operations; it may move the exchange's
clock forward to its events' times on the way (never past the time asked). Flow goes through the real
engine under accounts the source opens in :meth:`MarketSource.setup`, so the strategies trade against
it in the real books and every asset stays reconciled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from crossbook.exchange import Exchange


@dataclass
class SourceStep:
    """What one :meth:`MarketSource.run_until` did besides the engine's own events.

    ``changed`` names the markets whose books changed. ``trades`` are trades between the source's own
    orders that the engine did not settle (replayed history: one side's flow meeting the other's), as
    columns: ``market`` (index into the source's markets), ``time_ms``, ``price`` and ``quantity`` (in
    the market's units), ``aggressor`` (0 bid, 1 ask); empty when the source has none.
    """

    changed: set[str] = field(default_factory=set)
    trades: dict[str, npt.NDArray[np.generic]] | None = None


class MarketSource(Protocol):
    """A market's flow for a backtest (replayed data or a synthetic market)."""

    @property
    def markets(self) -> tuple[str, ...]:
        """The markets it trades (the ones the strategies see books of)."""
        ...

    @property
    def start_ms(self) -> int: ...

    @property
    def end_ms(self) -> int: ...

    def setup(self, exchange: Exchange, queue: str) -> None:
        """Opens and funds the source's accounts and sets the first prices; ``queue`` is the backtest's
        L2 queue model (``"back"`` or ``"front"``), for sources that replay price levels."""

    def next_time(self) -> int | None:
        """The time of the next event not yet applied, or None when there is none."""
        ...

    def run_until(self, exchange: Exchange, time_ms: int) -> SourceStep:
        """Applies every event at or before ``time_ms``."""
        ...

    def events_applied(self) -> int:
        """How many data events were applied so far (book updates, trades, prices)."""
        ...
