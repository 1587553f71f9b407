"""Example strategies: the demo's market maker and a trend follower (also the CLI's named strategies).

:class:`QuotingMaker` quotes one bid and one ask per market around the mid it sees, ``half_spread`` away,
skewed against its inventory; it replaces its quotes (cancel, then insert, each after its latency) when
the mid moves by more than ``requote`` of the price, and stops adding to a side beyond ``max_position``
units. :class:`TrendFollower` buys or sells ``quantity`` at market when the mid moved more than
``threshold`` over its last ``lookback`` book views, and closes on a reversal. Both keep only what they
are told through callbacks and tickets, as a live strategy would.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from crossbook.backtest.strategy import BookView, Context, OrderTicket, Strategy, StrategyFill


@dataclass
class _Quotes:
    center: Decimal | None = None
    tickets: list[OrderTicket] = field(default_factory=list)


class QuotingMaker(Strategy):
    """One quote per side per market, around the mid, skewed against inventory."""

    name = "quoting_maker"

    def __init__(
        self,
        quantities: dict[str, str],
        *,
        half_spread: str = "0.0008",
        requote: str = "0.0005",
        max_position: dict[str, str] | None = None,
        deposits: dict[str, str] | None = None,
        leverage: int = 10,
    ) -> None:
        self.quantities = {market: Decimal(quantity) for market, quantity in quantities.items()}
        self.half_spread = Decimal(half_spread)
        self.requote = Decimal(requote)
        self.max_position = {market: Decimal(limit) for market, limit in (max_position or {}).items()} or {
            market: quantity * 5 for market, quantity in self.quantities.items()
        }
        self.deposits = deposits if deposits is not None else {"USDC": "250000"}
        self.leverage = leverage
        self._quotes: dict[str, _Quotes] = {market: _Quotes() for market in self.quantities}
        self.inventory: dict[str, Decimal] = dict.fromkeys(self.quantities, Decimal(0))
        self.fills = 0

    def on_fill(self, ctx: Context, fill: StrategyFill) -> None:
        self.fills += 1
        signed = fill.quantity if fill.side == "Bid" else -fill.quantity
        self.inventory[fill.market] = self.inventory.get(fill.market, Decimal(0)) + signed

    def on_book(self, ctx: Context, book: BookView) -> None:
        quotes = self._quotes.get(book.market)
        mid = book.mid
        if quotes is None or mid is None:
            return
        if quotes.center is not None and abs(mid - quotes.center) <= self.requote * quotes.center:
            return
        for ticket in quotes.tickets:
            ctx.cancel_order(book.market, ticket)
        quotes.tickets.clear()
        quotes.center = mid
        spec = ctx.exchange.config.market(book.market)
        quantity = self.quantities[book.market]
        inventory = self.inventory.get(book.market, Decimal(0))
        skew = -inventory / quantity * self.half_spread / 4
        bid = (mid * (1 + skew - self.half_spread) / spec.tick_size).to_integral_value(ROUND_DOWN) * spec.tick_size
        ask = (mid * (1 + skew + self.half_spread) / spec.tick_size).to_integral_value(ROUND_UP) * spec.tick_size
        limit = self.max_position[book.market]
        if inventory < limit:
            quotes.tickets.append(
                ctx.place_order(book.market, "Bid", quantity=str(quantity), price=str(bid), post_only=True)
            )
        if inventory > -limit:
            quotes.tickets.append(
                ctx.place_order(book.market, "Ask", quantity=str(quantity), price=str(ask), post_only=True)
            )


class TrendFollower(Strategy):
    """Market orders on the trend of the mids it has seen."""

    name = "trend_follower"

    def __init__(
        self,
        market: str,
        quantity: str,
        *,
        lookback: int = 50,
        threshold: str = "0.004",
        deposits: dict[str, str] | None = None,
        leverage: int = 10,
    ) -> None:
        self.market = market
        self.quantity = Decimal(quantity)
        self.threshold = Decimal(threshold)
        self.mids: deque[Decimal] = deque(maxlen=lookback)
        self.deposits = deposits if deposits is not None else {"USDC": "50000"}
        self.leverage = leverage
        self.position = Decimal(0)

    def on_fill(self, ctx: Context, fill: StrategyFill) -> None:
        self.position += fill.quantity if fill.side == "Bid" else -fill.quantity

    def on_book(self, ctx: Context, book: BookView) -> None:
        mid = book.mid
        if book.market != self.market or mid is None:
            return
        self.mids.append(mid)
        if len(self.mids) < (self.mids.maxlen or 1):
            return
        trend = mid / self.mids[0] - 1
        if trend > self.threshold and self.position <= 0:
            size = self.quantity - self.position
            ctx.place_order(self.market, "Bid", order_type="Market", quantity=str(size))
            self.mids.clear()
        elif trend < -self.threshold and self.position >= 0:
            size = self.quantity + self.position
            ctx.place_order(self.market, "Ask", order_type="Market", quantity=str(size))
            self.mids.clear()
