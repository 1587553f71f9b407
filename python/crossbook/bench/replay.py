"""The replay benchmark: recorded order-book flow through the full engine, events per second.

Workload (seeded): :func:`synthetic_l2` draws ``events`` rows of an L2 feed of SOL_USDC_PERP over one
hour of data: a mid price on a random walk in ticks, level updates (a new total, 0 removes the level)
at 1-25 ticks from it on both sides, and about 8% trades at the best price (the aggressor's side
random), in time order; what a Tardis ``incremental_book_L2`` + ``trades`` pair looks like once loaded.

Measured (median of ``repeats``, each on a fresh backtest; loading is not timed):

- ``no strategy``: :class:`crossbook.backtest.Backtest` over :class:`crossbook.backtest.Replay` alone;
  the rows go to the Rust replayer in chunks of one sample interval (60 s of data);
- ``strategy every 100 ms``: the same with a strategy that, at each 100 ms book snapshot, cancels its
  quote and joins the best bid again (one cancel and one insert per 100 ms of data, 1 ms latency), so the
  replay runs in 100 ms chunks between its callbacks and its orders trade against the replayed flow;
- ``Rust replayer alone``: the same rows applied by one ``Replayer.apply`` call (no runner, no scheduled
  jobs), the engine's ceiling.

Figures are events (rows) per second of wall time. The comparison figures (hftbacktest about 640 ns and
nautilus_trader about 430 ns per order-book event) are the issue's, measured on this machine; they are
quoted, not re-measured here. Every run must end with every asset reconciled (checked, raises if not).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from crossbook.backtest import Backtest, BookView, Context, Latency, OrderTicket, Replay, Strategy
from crossbook.backtest.data import LEVEL, TRADE, BookData
from crossbook.exchange import Exchange

MARKET = "SOL_USDC_PERP"
HOUR_MS = 3_600_000
COMPARISON_NS = (
    ("hftbacktest (issue's figure, this machine)", 640.0),
    ("nautilus_trader (issue's figure, this machine)", 430.0),
)


def synthetic_l2(events: int, seed: int = 17, start_ms: int = 1_700_000_000_000) -> BookData:
    """A seeded L2 feed with trades (see the module docs)."""
    rng = np.random.default_rng(seed)
    times = start_ms + np.sort(rng.integers(0, HOUR_MS, events))
    mid = 15_000 + np.cumsum(rng.choice(np.array([-1, 0, 0, 0, 1]), events))
    is_trade = rng.random(events) < 0.08
    side = rng.integers(0, 2, events).astype(np.uint8)
    offset = rng.integers(1, 26, events)
    level_price = np.where(side == 0, mid - offset, mid + offset)
    size = np.where(rng.random(events) < 0.15, 0, rng.integers(1, 5_000, events))
    trade_price = np.where(side == 0, mid + 1, mid - 1)
    trade_size = rng.integers(1, 200, events)
    return BookData(
        MARKET,
        times.astype(np.int64),
        np.where(is_trade, TRADE, LEVEL).astype(np.uint8),
        side,
        np.where(is_trade, trade_price, level_price).astype(np.int64),
        np.where(is_trade, trade_size, size).astype(np.int64),
        np.zeros(events, np.uint64),
    )


class JoinTheBid(Strategy):
    """At each book view: cancel the last quote and join the best bid with 1 SOL."""

    name = "join_the_bid"

    def __init__(self) -> None:
        self.deposits = {"USDC": "1000000"}
        self.quote: OrderTicket | None = None
        self.actions = 0

    def on_book(self, ctx: Context, book: BookView) -> None:
        if book.best_bid is None:
            return
        if self.quote is not None:
            ctx.cancel_order(MARKET, self.quote)
        self.quote = ctx.place_order(MARKET, "Bid", quantity="1", price=str(book.best_bid), post_only=True)
        self.actions += 1


@dataclass(frozen=True)
class ReplayBenchmark:
    events: int
    no_strategy: float
    """Median seconds of a run without a strategy."""
    with_strategy: float
    rust_alone: float
    strategy_actions: int
    trades: int

    def table(self) -> str:
        rows = [
            ("Backtest + Replay, no strategy", self.no_strategy),
            ("Backtest + Replay, strategy every 100 ms", self.with_strategy),
            ("Rust replayer alone (one call)", self.rust_alone),
        ]
        lines = [
            f"Replay: {self.events:,} L2 book events (8% trades) of {MARKET} over 1 h of data, median of runs",
            f"{'':<50}{'ns/event':>10}{'events/s':>14}",
        ]
        lines += [f"{name:<50}{s / self.events * 1e9:>10,.1f}{self.events / s:>14,.0f}" for name, s in rows]
        lines += [f"{name:<50}{ns:>10,.1f}{1e9 / ns:>14,.0f}" for name, ns in COMPARISON_NS]
        lines.append(
            f"the strategy acted {self.strategy_actions:,} times; {self.trades:,} trades replayed; "
            "every asset reconciled after every run"
        )
        return "\n".join(lines)


def _timed(book: BookData, strategy: Strategy | None) -> tuple[float, int]:
    strategies = [] if strategy is None else [strategy]
    backtest = Backtest(None, Replay([book]), strategies, latency=Latency(insert=1, cancel=1))
    start = time.perf_counter()
    results = backtest.run()
    seconds = time.perf_counter() - start
    if not results.summary["assets conserved"]:
        raise AssertionError("the replay left an asset unreconciled")
    return seconds, results.tables["trades"].height


def _rust_alone(book: BookData) -> float:
    exchange = Exchange()
    replay = Replay([book])
    replay.setup(exchange, "back")
    (replayer,) = replay.replayers()
    start = time.perf_counter()
    replayer.apply(
        exchange._engine, book.time_ms, book.action, book.side, book.price, book.quantity, book.order_key, 2**62
    )
    return time.perf_counter() - start


def run_replay_benchmark(events: int = 5_000_000, repeats: int = 3, seed: int = 17) -> ReplayBenchmark:
    """Times the three ways (see the module docs); raises if a run does not reconcile."""
    book = synthetic_l2(events, seed)
    plain, trades = zip(*(_timed(book, None) for _ in range(repeats)), strict=True)
    strategies = [JoinTheBid() for _ in range(repeats)]
    acting = [_timed(book, strategy)[0] for strategy in strategies]
    alone = [_rust_alone(book) for _ in range(repeats)]
    return ReplayBenchmark(
        events=events,
        no_strategy=statistics.median(plain),
        with_strategy=statistics.median(acting),
        rust_alone=statistics.median(alone),
        strategy_actions=strategies[0].actions,
        trades=trades[0],
    )


__all__ = ["ReplayBenchmark", "run_replay_benchmark", "synthetic_l2"]
