"""Strategies: Python classes the backtest calls back, and the order API they act through.

Subclass :class:`Strategy` and override what you need; every callback gets a :class:`Context`:

- ``on_start(ctx)`` once, before the first event (deposits are made, prices may not be set yet);
- ``on_book(ctx, book)`` with a :class:`BookView` of one market, at most once per ``book_interval_ms`` of
  data time per market and only when the book changed, delayed by the market-data latency;
- ``on_trade(ctx, trades)`` with the market's trades (:class:`MarketTrade`) since the last call, on the
  same cadence and delay;
- ``on_fill(ctx, fill)`` for each of the strategy's own fills (:class:`StrategyFill`), when the venue
  makes it;
- ``on_liquidation(ctx, event)`` for every ``Liquidation`` event of the venue (``event["account"] ==
  ctx.subaccount`` is the strategy's own);
- ``on_timer(ctx, time_ms)`` every ``timer_interval_ms`` of data time.

The order API mirrors :meth:`crossbook.Exchange.place_order`, ``amend_order`` and ``cancel_order``
without the subaccount: each call returns an :class:`OrderTicket` at once and reaches the venue after
its latency (:mod:`crossbook.backtest.latency`); the ticket's ``result`` is filled in when it arrives.
Views (``ctx.margin()``, ``ctx.positions()``, ``ctx.exchange``) read the venue now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from crossbook.backtest.runner import Backtest
    from crossbook.exchange import Balance, Exchange, MarginSummary, Position

TicketKind = Literal["insert", "amend", "cancel"]


@dataclass(frozen=True)
class BookView:
    """One market's book as the strategy sees it: ``(price, quantity)`` levels, best first, as of ``time_ms``."""

    market: str
    time_ms: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2


@dataclass(frozen=True)
class MarketTrade:
    """A trade on the venue (anyone's): ``aggressor`` is the taker's side."""

    market: str
    time_ms: int
    price: Decimal
    quantity: Decimal
    aggressor: str


@dataclass(frozen=True)
class StrategyFill:
    """One of the strategy's fills; ``fee`` and ``realized_pnl`` in USDC (quote for spot)."""

    market: str
    time_ms: int
    order_id: int
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    realized_pnl: Decimal
    liquidity: str
    """``"maker"`` or ``"taker"``."""


@dataclass
class OrderTicket:
    """One request in flight or done. ``result`` is set when it arrives: the ``OrderResult`` of an insert,
    the reject reason or None of an amend, True/False of a cancel (False: the order was gone)."""

    ticket_id: int
    kind: TicketKind
    market: str
    sent_ms: int
    arrives_ms: int
    arguments: dict[str, Any] = field(repr=False)
    order_id: int | None = None
    result: Any = None
    arrived: bool = False


class Strategy:
    """Base class: every callback does nothing. ``deposits`` (asset -> amount) fund the strategy's own
    subaccount before ``on_start``; ``leverage`` is its maximum leverage setting."""

    name: str = "strategy"
    deposits: dict[str, str] = {"USDC": "100000"}  # noqa: RUF012 - a read-only default
    leverage: int = 10

    def on_start(self, ctx: Context) -> None:
        """Called once before the first event."""

    def on_book(self, ctx: Context, book: BookView) -> None:
        """A market's book changed (throttled, delayed)."""

    def on_trade(self, ctx: Context, trades: list[MarketTrade]) -> None:
        """A market's trades since the last call (throttled, delayed)."""

    def on_fill(self, ctx: Context, fill: StrategyFill) -> None:
        """One of the strategy's orders traded."""

    def on_liquidation(self, ctx: Context, event: dict[str, Any]) -> None:
        """A step of the venue's liquidation waterfall (anyone's)."""

    def on_timer(self, ctx: Context, time_ms: int) -> None:
        """Every ``timer_interval_ms``."""


class Context:
    """What a strategy sees and does: its subaccount, the time, the venue's views and the order API."""

    def __init__(self, backtest: Backtest, strategy_index: int, subaccount: int) -> None:
        self._backtest = backtest
        self._index = strategy_index
        self.subaccount = subaccount

    @property
    def time_ms(self) -> int:
        """Data time now (the venue's time)."""
        return self._backtest.time_ms

    @property
    def exchange(self) -> Exchange:
        """The venue, for read-only views (depth, pools, funding rates); act through the order API."""
        return self._backtest.exchange

    def margin(self) -> MarginSummary:
        return self._backtest.exchange.margin(self.subaccount)

    def positions(self) -> dict[str, Position]:
        return self._backtest.exchange.positions(self.subaccount)

    def balances(self) -> dict[str, Balance]:
        return self._backtest.exchange.balances(self.subaccount)

    def open_orders(self) -> list[Any]:
        return self._backtest.exchange.open_orders(self.subaccount)

    def place_order(self, market: str, side: str, **arguments: Any) -> OrderTicket:
        """Sends :meth:`crossbook.Exchange.place_order` (same keyword arguments); it arrives after the
        insert latency."""
        return self._backtest.send(self._index, "insert", market, {"side": side, **arguments})

    def amend_order(self, market: str, order: int | OrderTicket, **arguments: Any) -> OrderTicket:
        """Sends :meth:`crossbook.Exchange.amend_order` (``price=``, ``quantity=``) after the amend latency."""
        return self._backtest.send(self._index, "amend", market, {"order": order, **arguments})

    def cancel_order(self, market: str, order: int | OrderTicket) -> OrderTicket:
        """Sends :meth:`crossbook.Exchange.cancel_order` after the cancel latency; an order (or the
        ticket of an insert) whose insert has not arrived yet is not known to the venue: False."""
        return self._backtest.send(self._index, "cancel", market, {"order": order})
