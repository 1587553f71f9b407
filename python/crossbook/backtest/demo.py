"""The demo scenario behind ``crossbook demo``: a synthetic day of BTC and SOL with a crash and a strategy.

:func:`demo_backtest` builds it: the default :class:`crossbook.backtest.SyntheticConfig` (a day in 5 s
steps; a run-up from hour 12 and, at hour 14, a 32% fall of SOL and 18% of BTC over 30 minutes with a
gap; two market makers, 48 momentum traders at 5x-50x, lenders and a backstop provider of bounded
capacity), and a :class:`crossbook.backtest.QuotingMaker` quoting both perps with 5 ms insert and cancel
latency and 2 ms market-data delay. The crash cascades through every stage of the waterfall: on the
book, the backstop, auto-deleveraging (and lender payouts). About 15 s on a 2-core VM.
"""

from __future__ import annotations

from crossbook.backtest.latency import Latency
from crossbook.backtest.runner import Backtest
from crossbook.backtest.strategies import QuotingMaker
from crossbook.backtest.synthetic import SyntheticConfig, SyntheticMarket


def demo_backtest(seed: int = 7, *, progress: bool = False, duration_ms: int | None = None) -> Backtest:
    """The demo's backtest (not yet run); ``duration_ms`` shortens it (the crash is at hour 14)."""
    config = SyntheticConfig(seed=seed) if duration_ms is None else SyntheticConfig(seed=seed, duration_ms=duration_ms)
    strategy = QuotingMaker({"BTC_USDC_PERP": "0.05", "SOL_USDC_PERP": "20"})
    return Backtest(
        None,
        SyntheticMarket(config),
        [strategy],
        latency=Latency(insert=5, amend=5, cancel=5, market_data=2),
        seed=seed,
        book_interval_ms=1_000,
        progress=progress,
    )
