"""A backtest's results: tables of what happened, as polars DataFrames and Parquet files.

The tables (polars ``DataFrame``; ``Results.to_pandas()`` converts them, if pandas is installed):

- ``equity``: per sample and strategy: ``net_equity``, ``im``, ``mm``, ``imr``, ``mmr``, ``unrealized_pnl``;
- ``positions``: per sample, strategy and market with a position: ``net_qty``, ``entry_price``,
  ``unrealized_pnl``, ``cumulative_funding``;
- ``prices``: per sample and market: ``mark``, ``index``, ``best_bid``, ``best_ask``;
- ``fills``: the strategies' fills (market, side, price, quantity, fee, realized PnL, maker/taker);
- ``funding``: the strategies' funding payments (positive paid, negative received);
- ``interest``: per strategy, asset and interest boundary: interest ``paid`` on borrows and ``earned``
  on lends, in the asset;
- ``liquidations``: every ``Liquidation`` event of the venue (``strategy`` set when it is one's own);
- ``trades``: every trade on the venue (replayed or not), when recorded.

Amounts are exact ``Decimal`` in the engine; the tables hold them as ``Float64`` for analysis and plots
(the ledger never sees them). Times are data milliseconds (``time_ms``). Costs: recording is O(rows);
building the frames is O(rows) once, at the end.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from crossbook.backtest.report import write_report
from crossbook.backtest.strategy import StrategyFill

TABLES = ("equity", "positions", "prices", "fills", "funding", "interest", "liquidations", "trades")

_SCHEMAS: dict[str, dict[str, Any]] = {
    "equity": {
        "time_ms": pl.Int64,
        "strategy": pl.Utf8,
        "net_equity": pl.Float64,
        "im": pl.Float64,
        "mm": pl.Float64,
        "imr": pl.Float64,
        "mmr": pl.Float64,
        "unrealized_pnl": pl.Float64,
    },
    "positions": {
        "time_ms": pl.Int64,
        "strategy": pl.Utf8,
        "market": pl.Utf8,
        "net_qty": pl.Float64,
        "entry_price": pl.Float64,
        "unrealized_pnl": pl.Float64,
        "cumulative_funding": pl.Float64,
    },
    "prices": {
        "time_ms": pl.Int64,
        "market": pl.Utf8,
        "mark": pl.Float64,
        "index": pl.Float64,
        "best_bid": pl.Float64,
        "best_ask": pl.Float64,
    },
    "fills": {
        "time_ms": pl.Int64,
        "strategy": pl.Utf8,
        "market": pl.Utf8,
        "order_id": pl.Int64,
        "side": pl.Utf8,
        "price": pl.Float64,
        "quantity": pl.Float64,
        "fee": pl.Float64,
        "realized_pnl": pl.Float64,
        "liquidity": pl.Utf8,
    },
    "funding": {"time_ms": pl.Int64, "strategy": pl.Utf8, "market": pl.Utf8, "amount": pl.Float64},
    "interest": {
        "time_ms": pl.Int64,
        "strategy": pl.Utf8,
        "asset": pl.Utf8,
        "paid": pl.Float64,
        "earned": pl.Float64,
    },
    "liquidations": {
        "time_ms": pl.Int64,
        "account": pl.Int64,
        "strategy": pl.Utf8,
        "stage": pl.Utf8,
        "market": pl.Utf8,
        "asset": pl.Utf8,
        "counterparty": pl.Int64,
        "quantity": pl.Float64,
        "notional": pl.Float64,
        "fee": pl.Float64,
        "mmr_before": pl.Float64,
        "mmr_after": pl.Float64,
    },
    "trades": {
        "time_ms": pl.Int64,
        "market": pl.Utf8,
        "price": pl.Float64,
        "quantity": pl.Float64,
        "aggressor": pl.Utf8,
    },
}


def _float(value: object) -> float | None:
    if value is None:
        return None
    return float(Decimal(str(value)))


@dataclass
class Recorder:
    """Collects rows while a backtest runs (plain lists; frames are built once by :meth:`results`)."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))
    trade_columns: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def fill(self, strategy: str, fill: StrategyFill) -> None:
        self.rows["fills"].append(
            (
                fill.time_ms,
                strategy,
                fill.market,
                fill.order_id,
                fill.side,
                float(fill.price),
                float(fill.quantity),
                float(fill.fee),
                float(fill.realized_pnl),
                fill.liquidity,
            )
        )

    def funding(self, time_ms: int, strategy: str, market: str, amount: str) -> None:
        self.rows["funding"].append((time_ms, strategy, market, float(Decimal(amount))))

    def interest(self, time_ms: int, strategy: str, asset: str, paid: Decimal, earned: Decimal) -> None:
        self.rows["interest"].append((time_ms, strategy, asset, float(paid), float(earned)))

    def liquidation(self, event: dict[str, Any], strategy: str | None) -> None:
        self.rows["liquidations"].append(
            (
                event["time_ms"],
                event["account"],
                strategy,
                event["stage"],
                event.get("market"),
                event.get("asset"),
                event.get("counterparty"),
                _float(event.get("quantity")),
                _float(event.get("notional")),
                _float(event.get("fee")),
                _float(event.get("mmr_before")),
                _float(event.get("mmr_after")),
            )
        )

    def trade(self, time_ms: int, market: str, price: str, quantity: str, aggressor: str) -> None:
        self.rows["trades"].append((time_ms, market, float(price), float(quantity), aggressor))

    def trade_block(self, market: str, columns: dict[str, Any]) -> None:
        """Trades as columns (``time_ms``, ``price``, ``quantity`` floats, ``aggressor`` 0 bid / 1 ask)."""
        self.trade_columns.append((market, columns))

    def sample(self, time_ms: int, name: str, margin: Any, positions: dict[str, Any]) -> None:
        self.rows["equity"].append(
            (
                time_ms,
                name,
                float(margin.net_equity),
                float(margin.im),
                float(margin.mm),
                float(margin.imr),
                float(margin.mmr),
                float(margin.unrealized_pnl),
            )
        )
        for market, position in positions.items():
            self.rows["positions"].append(
                (
                    time_ms,
                    name,
                    market,
                    float(position.net_qty),
                    _float(position.entry_price),
                    float(position.unrealized_pnl),
                    float(position.cumulative_funding),
                )
            )

    def price(
        self,
        *,
        time_ms: int,
        market: str,
        mark: Decimal | None,
        index: Decimal | None,
        best_bid: Decimal | None,
        best_ask: Decimal | None,
    ) -> None:
        self.rows["prices"].append((time_ms, market, _float(mark), _float(index), _float(best_bid), _float(best_ask)))

    def results(self, summary: dict[str, Any]) -> Results:
        frames = {name: pl.DataFrame(self.rows.get(name, []), schema=_SCHEMAS[name], orient="row") for name in TABLES}
        if self.trade_columns:
            blocks = [frames["trades"]]
            for market in dict.fromkeys(market for market, _ in self.trade_columns):
                parts = [columns for name, columns in self.trade_columns if name == market]
                joined = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
                blocks.append(
                    pl.DataFrame(
                        {
                            "time_ms": joined["time_ms"].astype(np.int64),
                            "market": pl.repeat(market, len(joined["time_ms"]), dtype=pl.Utf8, eager=True),
                            "price": joined["price"].astype(np.float64),
                            "quantity": joined["quantity"].astype(np.float64),
                            "aggressor": pl.Series(joined["aggressor"] == 0).replace_strict(
                                {True: "Bid", False: "Ask"}, return_dtype=pl.Utf8
                            ),
                        },
                        schema=_SCHEMAS["trades"],
                    )
                )
            frames["trades"] = pl.concat(blocks).sort("time_ms", maintain_order=True)
        return Results(frames, summary)


@dataclass
class Results:
    """The tables of one run (see the module docs) and its ``summary`` (counts, final figures, hashes)."""

    tables: dict[str, pl.DataFrame]
    summary: dict[str, Any]

    def __getattr__(self, name: str) -> pl.DataFrame:
        tables: dict[str, pl.DataFrame] = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    def to_parquet(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Writes each table to ``<directory>/<table>.parquet``; returns the paths."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, frame in self.tables.items():
            path = root / f"{name}.parquet"
            frame.write_parquet(path)
            paths.append(path)
        return paths

    def to_pandas(self) -> dict[str, Any]:
        """The tables as pandas DataFrames (needs pandas and pyarrow)."""
        return {name: frame.to_pandas() for name, frame in self.tables.items()}

    def report(self, path: str | os.PathLike[str], title: str = "crossbook backtest") -> Path:
        """Writes the self-contained HTML report (:mod:`crossbook.backtest.report`)."""
        return write_report(self, Path(path), title)

    def summary_table(self) -> str:
        """The summary as aligned text lines."""
        width = max(len(key) for key in self.summary)
        return "\n".join(f"{key:<{width}}  {value}" for key, value in self.summary.items())
