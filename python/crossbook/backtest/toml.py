"""Backtests described in TOML: what ``crossbook backtest CONFIG.toml`` and ``crossbook sweep`` read.

A file has these tables (all optional but a market: ``[synthetic]`` or ``[data]``)::

    [backtest]             # seed, book_interval_ms, timer_interval_ms, sample_interval_ms, queue,
    seed = 7               # report (an HTML path), parquet (a directory), venue (a Config TOML path)
    report = "report.html"

    [latency]              # per kind: milliseconds or {uniform = [lo, hi]}, {lognormal = [median, sigma]},
    insert = 5             # {empirical = [ms, ...]}
    cancel = {uniform = [2, 8]}

    [synthetic]            # any SyntheticConfig field (seed comes from [backtest]); crash_at_ms = -1: no crash
    traders = 48

    [[data.market]]        # a replay instead: see crossbook.backtest.replay.source_from_table
    market = "SOL_USDC_PERP"
    tardis_l2 = "book.csv.gz"
    tardis_trades = "trades.csv.gz"

    [[strategy]]           # "module:Class" and its keyword arguments
    class = "crossbook.backtest.strategies:QuotingMaker"
    quantities = {SOL_USDC_PERP = "20"}

    [sweep]                # only for crossbook sweep: dotted keys of this file to vary, and seeds
    seeds = [1, 2, 3]
    grid = {"strategy.0.half_spread" = ["0.0005", "0.001"]}

Relative paths are relative to the file. Errors name the table and key (:class:`crossbook.ConfigError`).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossbook.backtest.latency import Latency
from crossbook.backtest.replay import source_from_table
from crossbook.backtest.runner import Backtest
from crossbook.backtest.source import MarketSource
from crossbook.backtest.strategy import Strategy
from crossbook.backtest.synthetic import Crash, SyntheticConfig, SyntheticMarket
from crossbook.config import Config
from crossbook.exceptions import ConfigError, CrossbookError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_BACKTEST_KEYS = {
    "seed",
    "book_interval_ms",
    "timer_interval_ms",
    "sample_interval_ms",
    "queue",
    "report",
    "parquet",
    "venue",
}


@dataclass(frozen=True)
class BacktestFile:
    """A parsed backtest file: ``table`` is the TOML as read, ``root`` the folder paths are relative to."""

    table: dict[str, Any]
    root: Path

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.table.get("backtest", {}))

    @property
    def report(self) -> Path | None:
        value = self.settings.get("report")
        return None if value is None else self.root / str(value)

    @property
    def parquet(self) -> Path | None:
        value = self.settings.get("parquet")
        return None if value is None else self.root / str(value)

    def with_overrides(self, overrides: dict[str, Any]) -> BacktestFile:
        """A copy with dotted keys replaced (``"synthetic.traders"``, ``"strategy.0.half_spread"``)."""
        table = copy.deepcopy(self.table)
        for dotted, value in overrides.items():
            _set(table, dotted, value)
        return BacktestFile(table, self.root)

    def backtest(self, *, progress: bool = False) -> Backtest:
        """Builds the backtest the file describes."""
        settings = self.settings
        unknown = set(settings) - _BACKTEST_KEYS
        if unknown:
            raise ConfigError("backtest", f"unknown keys {sorted(unknown)}; expected some of {sorted(_BACKTEST_KEYS)}")
        seed = settings.get("seed", 0)
        config = self._config()
        try:
            latency = Latency.from_mapping(dict(self.table.get("latency", {})))
        except CrossbookError as error:
            raise ConfigError("latency", str(error)) from error
        options = {
            key: settings[key]
            for key in ("book_interval_ms", "timer_interval_ms", "sample_interval_ms", "queue")
            if key in settings
        }
        return Backtest(
            config,
            self._source(seed),
            self._strategies(),
            latency=latency,
            seed=seed,
            progress=progress,
            **options,
        )

    def _config(self) -> Config | None:
        venue = self.settings.get("venue")
        return Config.from_toml(self.root / str(venue)) if venue is not None else None

    def _source(self, seed: int) -> MarketSource:
        if ("synthetic" in self.table) == ("data" in self.table):
            raise ConfigError("synthetic/data", "a backtest needs exactly one of [synthetic] or [data]")
        if "data" in self.table:
            return source_from_table(dict(self.table["data"]), self.root, self._config())
        values = dict(self.table["synthetic"])
        fields = {field.name for field in dataclasses.fields(SyntheticConfig)} - {"seed", "assets", "crash"}
        crash_at = values.pop("crash_at_ms", None)
        unknown = set(values) - fields
        if unknown:
            raise ConfigError("synthetic", f"unknown keys {sorted(unknown)}; expected some of {sorted(fields)}")
        if isinstance(values.get("trader_deposit"), list):
            values["trader_deposit"] = tuple(values["trader_deposit"])
        if isinstance(values.get("trader_leverage"), list):
            values["trader_leverage"] = tuple(values["trader_leverage"])
        if crash_at is not None:
            values["crash"] = None if crash_at < 0 else Crash(at_ms=int(crash_at))
        try:
            return SyntheticMarket(SyntheticConfig(seed=seed, **values))
        except (TypeError, CrossbookError) as error:
            raise ConfigError("synthetic", str(error)) from error

    def _strategies(self) -> list[Strategy]:
        strategies = []
        for number, raw in enumerate(self.table.get("strategy", [])):
            values = dict(raw)
            path = f"strategy[{number}]"
            target = values.pop("class", None)
            if not isinstance(target, str) or ":" not in target:
                raise ConfigError(f"{path}.class", f"expected 'module:Class', got {target!r}")
            module_name, class_name = target.split(":", 1)
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError) as error:
                raise ConfigError(f"{path}.class", f"cannot import {target}: {error}") from error
            if not (isinstance(cls, type) and issubclass(cls, Strategy)):
                raise ConfigError(f"{path}.class", f"{target} is not a crossbook.backtest.Strategy")
            try:
                strategies.append(cls(**values))
            except TypeError as error:
                raise ConfigError(path, str(error)) from error
        return strategies


def _set(table: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node: Any = table
    for part in parts[:-1]:
        if part == "strategy" and node is table:
            node = node.setdefault("strategy", [])
        elif isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError) as error:
                raise ConfigError(dotted, f"no item {part} in that list") from error
        else:
            node = node.setdefault(part, {})
    if isinstance(node, list):
        raise ConfigError(dotted, "a sweep key must end in a field name")
    node[parts[-1]] = value


def load_backtest(path: str | os.PathLike[str]) -> BacktestFile:
    """Reads a backtest file (see the module docs)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            table = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(str(file), f"cannot read: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(file), f"not valid TOML: {error}") from error
    return BacktestFile(table, file.parent)
