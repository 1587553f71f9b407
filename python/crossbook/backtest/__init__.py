"""Backtests and simulations: replayed or synthetic markets through the full engine, with Python strategies.

- :class:`Backtest` runs a market source and strategies in data time (:mod:`crossbook.backtest.runner`);
- :class:`Strategy` and its :class:`Context` order API (:mod:`crossbook.backtest.strategy`);
- :class:`Latency` per operation kind, constants or seeded distributions (:mod:`crossbook.backtest.latency`);
- :class:`SyntheticMarket`, a seeded market with agents and a crash (:mod:`crossbook.backtest.synthetic`);
- :class:`Results`: polars tables, Parquet and the HTML report (:mod:`crossbook.backtest.results`).
"""

from __future__ import annotations

from crossbook.backtest.latency import Empirical, Latency, LogNormal, Uniform
from crossbook.backtest.results import Results
from crossbook.backtest.runner import Backtest
from crossbook.backtest.strategies import QuotingMaker, TrendFollower
from crossbook.backtest.strategy import BookView, Context, MarketTrade, OrderTicket, Strategy, StrategyFill
from crossbook.backtest.synthetic import AssetPath, Crash, SyntheticConfig, SyntheticMarket

__all__ = [
    "AssetPath",
    "Backtest",
    "BookView",
    "Context",
    "Crash",
    "Empirical",
    "Latency",
    "LogNormal",
    "MarketTrade",
    "OrderTicket",
    "QuotingMaker",
    "Results",
    "Strategy",
    "StrategyFill",
    "SyntheticConfig",
    "SyntheticMarket",
    "TrendFollower",
    "Uniform",
]
