"""The replay benchmark runs at a tiny size: the strategy acts, trades are replayed, the table renders.
Benchmarks are measured, never asserted: nothing here looks at a time."""

from __future__ import annotations

import numpy as np

from crossbook.backtest.data import LEVEL, TRADE
from crossbook.bench.replay import run_replay_benchmark, synthetic_l2


def test_the_synthetic_feed_is_seeded_and_well_formed() -> None:
    feed = synthetic_l2(5_000, seed=3)
    assert (synthetic_l2(5_000, seed=3).price == feed.price).all()
    assert not (synthetic_l2(5_000, seed=4).price == feed.price).all()
    assert (np.diff(feed.time_ms) >= 0).all()
    assert set(np.unique(feed.action).tolist()) == {TRADE, LEVEL}
    assert (feed.price > 0).all() and (feed.quantity >= 0).all()


def test_a_tiny_replay_benchmark_acts_trades_and_renders() -> None:
    result = run_replay_benchmark(events=20_000, repeats=1)
    assert result.trades > 0
    assert result.strategy_actions > 1_000  # one per 100 ms of an hour of data, where the book changed
    table = result.table()
    assert "Replay: 20,000 L2 book events" in table
    assert "hftbacktest" in table and "nautilus_trader" in table
