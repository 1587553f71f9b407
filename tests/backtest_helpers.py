"""A scripted market source for backtest tests: timed actions on the exchange, in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from crossbook.backtest.source import SourceStep
from crossbook.exchange import Exchange

Action = Callable[[Exchange, dict[str, int]], None]


class ScriptedMarket:
    """Opens a funded ``maker`` account and runs ``(time_ms, action)`` pairs at their times."""

    def __init__(
        self, actions: Sequence[tuple[int, Action]], end_ms: int, markets: tuple[str, ...] = ("SOL_USDC_PERP",)
    ):
        self.actions = sorted(actions, key=lambda pair: pair[0])
        self._end = end_ms
        self._markets = markets
        self._next = 0
        self.accounts: dict[str, int] = {}

    @property
    def markets(self) -> tuple[str, ...]:
        return self._markets

    @property
    def start_ms(self) -> int:
        return 0

    @property
    def end_ms(self) -> int:
        return self._end

    def setup(self, exchange: Exchange, queue: str = "back") -> None:
        maker = exchange.open_account("maker")
        exchange.deposit(maker, "USDC", "10000000")
        exchange.set_index_price("SOL", "100")
        self.accounts["maker"] = maker

    def next_time(self) -> int | None:
        return self.actions[self._next][0] if self._next < len(self.actions) else None

    def run_until(self, exchange: Exchange, time_ms: int) -> SourceStep:
        step = SourceStep()
        while self._next < len(self.actions) and self.actions[self._next][0] <= time_ms:
            at, action = self.actions[self._next]
            if at > exchange.time_ms:
                exchange.advance_to(at)
            action(exchange, self.accounts)
            step.changed.update(self._markets)
            self._next += 1
        return step

    def events_applied(self) -> int:
        return self._next
