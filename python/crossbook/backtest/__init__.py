"""Backtests and simulations: replayed or synthetic markets through the full engine, with Python strategies.

- :class:`Backtest` runs a market source and strategies in data time (:mod:`crossbook.backtest.runner`);
- :class:`Strategy` and its :class:`Context` order API (:mod:`crossbook.backtest.strategy`);
- :class:`Latency` per operation kind, constants or seeded distributions (:mod:`crossbook.backtest.latency`);
- :class:`SyntheticMarket`, a seeded market with agents and a crash (:mod:`crossbook.backtest.synthetic`);
- :class:`Replay` of recorded books, trades and prices (:mod:`crossbook.backtest.replay`), loaded by
  :mod:`crossbook.backtest.data` (L3, L2, Tardis, Binance aggTrades; CSV or Parquet);
- :class:`Results`: polars tables, Parquet and the HTML report (:mod:`crossbook.backtest.results`).
"""

from __future__ import annotations

from crossbook.backtest.data import (
    BookData,
    PriceData,
    load_binance_aggtrades,
    load_l2,
    load_l3,
    load_prices,
    load_tardis_l2,
    load_tardis_trades,
    load_trades,
)
from crossbook.backtest.latency import Empirical, Latency, LogNormal, Uniform
from crossbook.backtest.replay import Replay
from crossbook.backtest.results import Results
from crossbook.backtest.runner import Backtest
from crossbook.backtest.strategies import QuotingMaker, TrendFollower
from crossbook.backtest.strategy import BookView, Context, MarketTrade, OrderTicket, Strategy, StrategyFill
from crossbook.backtest.synthetic import AssetPath, Crash, SyntheticConfig, SyntheticMarket

__all__ = [
    "AssetPath",
    "Backtest",
    "BookData",
    "BookView",
    "Context",
    "Crash",
    "Empirical",
    "Latency",
    "LogNormal",
    "MarketTrade",
    "OrderTicket",
    "PriceData",
    "QuotingMaker",
    "Replay",
    "Results",
    "Strategy",
    "StrategyFill",
    "SyntheticConfig",
    "SyntheticMarket",
    "TrendFollower",
    "Uniform",
    "load_binance_aggtrades",
    "load_l2",
    "load_l3",
    "load_prices",
    "load_tardis_l2",
    "load_tardis_trades",
    "load_trades",
]
