"""Latency: operations reach the venue after their delay, and a late cancel loses the race to a fill."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from backtest_helpers import ScriptedMarket
from crossbook.backtest import Backtest, Context, Latency, LogNormal, OrderTicket, Strategy, StrategyFill, Uniform
from crossbook.backtest.latency import Empirical, LatencyModel
from crossbook.exceptions import CrossbookError
from crossbook.exchange import Exchange

MARKET = "SOL_USDC_PERP"


class RestThenCancel(Strategy):
    """Rests a bid at start; sends a cancel at ``cancel_at``."""

    def __init__(self, cancel_at: int | None = None) -> None:
        self.cancel_at = cancel_at
        self.insert: OrderTicket | None = None
        self.cancel: OrderTicket | None = None
        self.fills: list[StrategyFill] = []
        self.deposits = {"USDC": "100000"}

    def on_start(self, ctx: Context) -> None:
        self.insert = ctx.place_order(MARKET, "Bid", quantity="5", price="99")

    def on_timer(self, ctx: Context, time_ms: int) -> None:
        if time_ms == self.cancel_at and self.insert is not None:
            self.cancel = ctx.cancel_order(MARKET, self.insert)

    def on_fill(self, ctx: Context, fill: StrategyFill) -> None:
        self.fills.append(fill)


def _sell_at_99(exchange: Exchange, accounts: dict[str, int]) -> None:
    exchange.place_order(accounts["maker"], MARKET, "Ask", quantity="5", price="99", time_in_force="IOC")


def _run(strategy: Strategy, latency: Latency, actions: list[Any], end_ms: int = 1_000) -> Backtest:
    backtest = Backtest(None, ScriptedMarket(actions, end_ms), [strategy], latency=latency, timer_interval_ms=10)
    backtest.run()
    return backtest


@pytest.mark.parametrize("insert_ms", [0, 7, 250])
def test_an_order_sent_at_t_arrives_at_t_plus_the_insert_latency(insert_ms: int) -> None:
    strategy = RestThenCancel()
    backtest = _run(strategy, Latency(insert=insert_ms), [])
    ticket = strategy.insert
    assert ticket is not None and ticket.arrived
    assert (ticket.sent_ms, ticket.arrives_ms) == (0, insert_ms)
    assert ticket.result.status == "New"
    orders = backtest.exchange.open_orders(backtest._contexts[0].subaccount)
    assert [(order.order_id, order.price) for order in orders] == [(ticket.order_id, Decimal(99))]


def test_an_order_in_flight_misses_a_trade_before_it_arrives() -> None:
    """The market sells through 99 at 100 ms: an order arriving at 150 ms is not there to be hit."""
    early, late = RestThenCancel(), RestThenCancel()
    _run(early, Latency(insert=50), [(100, _sell_at_99)])
    _run(late, Latency(insert=150), [(100, _sell_at_99)])
    assert [(fill.time_ms, fill.quantity) for fill in early.fills] == [(100, Decimal(5))]
    assert late.fills == []


def test_a_cancel_that_arrives_before_the_fill_wins() -> None:
    strategy = RestThenCancel(cancel_at=50)
    _run(strategy, Latency(insert=0, cancel=20), [(100, _sell_at_99)])
    assert strategy.cancel is not None and strategy.cancel.arrives_ms == 70
    assert strategy.cancel.result is True
    assert strategy.fills == []


def test_a_cancel_racing_a_fill_loses_when_it_arrives_late() -> None:
    strategy = RestThenCancel(cancel_at=50)
    _run(strategy, Latency(insert=0, cancel=80), [(100, _sell_at_99)])
    assert strategy.cancel is not None and strategy.cancel.arrives_ms == 130
    assert [fill.quantity for fill in strategy.fills] == [Decimal(5)]
    assert strategy.cancel.result is False


def test_market_data_is_delayed_by_its_latency() -> None:
    class Watcher(Strategy):
        def __init__(self) -> None:
            self.seen: list[tuple[int, int]] = []

        def on_book(self, ctx: Context, book: Any) -> None:
            self.seen.append((book.time_ms, ctx.time_ms))

    watcher = Watcher()
    _run(watcher, Latency(market_data=30), [(100, _sell_at_99)])
    assert watcher.seen and all(received == taken + 30 for taken, received in watcher.seen)


def test_distributions_draw_the_same_delays_from_the_same_seed() -> None:
    latency = Latency(insert=Uniform(1, 9), cancel=LogNormal(5, 0.5), amend=Empirical((3, 4, 11)))
    models = [LatencyModel(latency, seed) for seed in (1, 1, 2)]
    draws = [[model.delay(kind) for kind in ("insert", "cancel", "amend") * 20] for model in models]
    assert draws[0] == draws[1] != draws[2]
    assert all(1 <= d <= 9 for d in draws[0][0::3]) and set(draws[0][2::3]) <= {3, 4, 11}


@pytest.mark.parametrize(
    "values",
    [{"insert": -1}, {"insert": 1.5}, {"warp": 3}, {"cancel": {"uniform": [5, 1]}}, {"cancel": {"gamma": [1, 2]}}],
)
def test_bad_latency_raises(values: dict[str, Any]) -> None:
    with pytest.raises(CrossbookError):
        Latency.from_mapping(values)


def test_latency_from_a_toml_table() -> None:
    latency = Latency.from_mapping({"insert": 5, "cancel": {"uniform": [2, 8]}, "market_data": {"lognormal": [3, 0.2]}})
    assert latency == Latency(insert=5, cancel=Uniform(2, 8), market_data=LogNormal(3.0, 0.2))
