"""Market data in: order-level (L3) and price-level (L2) books, trades, index and mark prices, funding rates.

Loaders read CSV or Parquet through pyarrow (by the file's suffix: ``.parquet``/``.pq`` or CSV, also
gzipped ``.csv.gz``) and return columns in a market's integer units, ready for the bulk replay:

- :func:`load_l3`: ``timestamp, action, order_id, side, price, quantity``; ``action`` is ``add``,
  ``cancel``, ``modify`` (the new remaining quantity) or ``trade`` (a fill of ``quantity`` at ``price``
  against the resting side; ``side`` is the aggressor's);
- :func:`load_l2`: ``timestamp, side, price, quantity`` (the level's new total; 0 removes it);
- :func:`load_tardis_l2`: Tardis-style ``incremental_book_L2`` CSV (``timestamp`` in microseconds,
  ``is_snapshot``, ``side`` bid/ask, ``price``, ``amount``); a snapshot after updates replaces the book;
- :func:`load_trades`: ``timestamp, side, price, quantity`` (the aggressor's side);
- :func:`load_tardis_trades`: Tardis-style ``trades`` CSV (``timestamp`` in microseconds, ``side``
  buy/sell of the aggressor, ``amount``);
- :func:`load_binance_aggtrades`: Binance-style ``aggTrades`` CSV, with or without its header
  (``transact_time`` in ms, or µs when above 10^14; ``is_buyer_maker`` true means a sell aggressor);
- :func:`load_prices`: ``timestamp`` and any of ``index_price``, ``mark_price``, ``funding_rate`` (a
  Tardis ``derivative_ticker`` file has them).

``timestamp`` is milliseconds unless a loader says otherwise; ``side`` accepts bid/buy/b and
ask/sell/s/a in any case. Every loader checks that the columns exist, that each value parses, that
prices are positive and on the market's tick, quantities on its step, and times never go back; an error
(:class:`crossbook.ConfigError`) names the file, the column and the first bad data row (1 = the first row
after the header). Costs: O(rows), vectorized except the error search and Tardis snapshot resets.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from crossbook.config import Config, MarketConfig
from crossbook.exceptions import ConfigError

ADD, CANCEL, MODIFY, TRADE, LEVEL = 0, 1, 2, 3, 4
"""Row actions of the bulk replay (``crossbook_core::exchange::replay``)."""

_ACTIONS = {"add": ADD, "cancel": CANCEL, "modify": MODIFY, "trade": TRADE}
_SIDES = {"bid": 0, "buy": 0, "b": 0, "ask": 1, "sell": 1, "s": 1, "a": 1}

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class BookData:
    """One market's replay rows in time order (integer units of ``market``); see the module docs."""

    market: str
    time_ms: npt.NDArray[np.int64]
    action: npt.NDArray[np.uint8]
    side: npt.NDArray[np.uint8]
    price: npt.NDArray[np.int64]
    quantity: npt.NDArray[np.int64]
    order_key: npt.NDArray[np.uint64]

    def __len__(self) -> int:
        return len(self.time_ms)

    @classmethod
    def merge(cls, *parts: BookData) -> BookData:
        """One market's rows from several files, in time order; at equal times trades come before book
        updates (a level that shrank because of a trade is reconciled after the trade took its front)."""
        markets = {part.market for part in parts}
        if len(markets) != 1:
            raise ConfigError("data", f"merge needs rows of one market, got {sorted(markets)}")
        columns = {
            name: np.concatenate([getattr(part, name) for part in parts])
            for name in ("time_ms", "action", "side", "price", "quantity", "order_key")
        }
        trades_first = np.where(columns["action"] == TRADE, 0, 1)
        order = np.lexsort((np.arange(len(trades_first)), trades_first, columns["time_ms"]))
        return cls(markets.pop(), **{name: values[order] for name, values in columns.items()})


@dataclass(frozen=True)
class PriceData:
    """Index and mark prices and funding rates of one market over time (NaN where a row has none)."""

    market: str
    time_ms: npt.NDArray[np.int64]
    index_price: npt.NDArray[np.float64]
    mark_price: npt.NDArray[np.float64]
    funding_rate: npt.NDArray[np.float64]


def _read(path: PathLike, names: list[str] | None = None) -> pa.Table:
    file = Path(path)
    try:
        if file.suffix in (".parquet", ".pq"):
            return pq.read_table(file)
        convert = pacsv.ConvertOptions(strings_can_be_null=False)
        if names is None:
            return pacsv.read_csv(file, convert_options=convert)
        read = pacsv.ReadOptions(column_names=names)
        return pacsv.read_csv(file, read_options=read, convert_options=convert)
    except (OSError, pa.ArrowInvalid) as error:
        raise ConfigError(str(file), f"cannot read: {error}") from error


def _column(table: pa.Table, name: str, path: PathLike) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise ConfigError(str(path), f"missing column {name!r}; the file has {table.column_names}")
    return table.column(name)


def _bad_row(path: PathLike, name: str, row: int, value: object, expected: str) -> ConfigError:
    return ConfigError(f"{path}: column {name!r}, row {row + 1}", f"{value!r} is not {expected}")


def _numbers(table: pa.Table, name: str, path: PathLike, kind: type = float) -> npt.NDArray[Any]:
    """A numeric column; the first value that does not parse is reported by row."""
    column = _column(table, name, path)
    target = pa.float64() if kind is float else pa.int64()
    try:
        values = pc.cast(column, target).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        for row, value in enumerate(column.to_pylist()):
            try:
                kind(value)
            except (TypeError, ValueError):
                raise _bad_row(path, name, row, value, "a number") from None
        raise ConfigError(f"{path}: column {name!r}", f"cannot be read as {target}") from None
    if kind is float:
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise _bad_row(path, name, int(bad[0]), column[int(bad[0])].as_py(), "a finite number")
    return np.asarray(values)


def _codes(table: pa.Table, name: str, path: PathLike, codes: dict[str, int]) -> npt.NDArray[np.uint8]:
    column = _column(table, name, path)
    words = pc.utf8_lower(pc.cast(column, pa.string())).to_numpy(zero_copy_only=False)
    out = np.full(len(words), 255, dtype=np.uint8)
    for word, code in codes.items():
        out[words == word] = code
    bad = np.flatnonzero(out == 255)
    if len(bad):
        raise _bad_row(path, name, int(bad[0]), words[int(bad[0])], f"one of {sorted(codes)}")
    return out


def _units(
    values: npt.NDArray[np.float64], unit: Decimal, path: PathLike, name: str, positive: bool
) -> npt.NDArray[np.int64]:
    """Floats as whole units (ticks or lots); values off the grid are reported by row."""
    scaled = values / float(unit)
    units = np.rint(scaled)
    off = np.flatnonzero(np.abs(scaled - units) > 1e-6 * np.maximum(1.0, np.abs(scaled)))
    if len(off):
        row = int(off[0])
        raise _bad_row(path, name, row, float(values[row]), f"a multiple of {unit}")
    bad = np.flatnonzero(units <= 0) if positive else np.flatnonzero(units < 0)
    if len(bad):
        row = int(bad[0])
        raise _bad_row(path, name, row, float(values[row]), "positive" if positive else "at least 0")
    return units.astype(np.int64)


def _times(table: pa.Table, name: str, path: PathLike, divisor: int = 1) -> npt.NDArray[np.int64]:
    column = _column(table, name, path)
    if pa.types.is_timestamp(column.type):
        values = pc.cast(pc.cast(column, pa.timestamp("ms")), pa.int64()).to_numpy(zero_copy_only=False)
    else:
        values = _numbers(table, name, path, int) // divisor
    back = np.flatnonzero(np.diff(values) < 0)
    if len(back):
        row = int(back[0]) + 1
        raise _bad_row(
            path, name, row, int(values[row]), f"at or after the previous row's time ({int(values[row - 1])})"
        )
    return np.asarray(values, dtype=np.int64)


def _market(config: Config | None, market: str) -> MarketConfig:
    spec = (config if config is not None else Config.default()).market(market)
    if spec.kind != "perp":
        raise ConfigError("data", f"{market} is a spot market; the bulk replay takes perpetuals")
    return spec


def _book(market: str, time_ms: npt.NDArray[np.int64], **columns: npt.NDArray[Any]) -> BookData:
    rows = len(time_ms)
    defaults: dict[str, npt.NDArray[Any]] = {
        "action": np.full(rows, LEVEL, np.uint8),
        "side": np.zeros(rows, np.uint8),
        "price": np.zeros(rows, np.int64),
        "quantity": np.zeros(rows, np.int64),
        "order_key": np.zeros(rows, np.uint64),
    }
    defaults.update(columns)
    return BookData(
        market,
        np.ascontiguousarray(time_ms, np.int64),
        np.ascontiguousarray(defaults["action"], np.uint8),
        np.ascontiguousarray(defaults["side"], np.uint8),
        np.ascontiguousarray(defaults["price"], np.int64),
        np.ascontiguousarray(defaults["quantity"], np.int64),
        np.ascontiguousarray(defaults["order_key"], np.uint64),
    )


def load_l3(path: PathLike, market: str, config: Config | None = None) -> BookData:
    """Order-level rows: ``timestamp`` (ms), ``action``, ``order_id``, ``side``, ``price``, ``quantity``."""
    spec = _market(config, market)
    table = _read(path)
    time_ms = _times(table, "timestamp", path)
    action = _codes(table, "action", path, _ACTIONS)
    keys = _numbers(table, "order_id", path, int)
    if (keys < 0).any():
        row = int(np.flatnonzero(keys < 0)[0])
        raise _bad_row(path, "order_id", row, int(keys[row]), "a non-negative integer")
    side = _codes(table, "side", path, _SIDES)
    priced = (action == ADD) | (action == TRADE)
    price = np.zeros(len(time_ms), np.int64)
    raw_price = _numbers(table, "price", path)
    price[priced] = _units(raw_price[priced], spec.tick_size, path, "price", positive=True)
    raw_quantity = _numbers(table, "quantity", path)
    quantity = np.zeros(len(time_ms), np.int64)
    sized = action != CANCEL
    quantity[sized] = _units(raw_quantity[sized], spec.step_size, path, "quantity", positive=False)
    empty = np.flatnonzero(priced & (quantity == 0))
    if len(empty):
        raise _bad_row(path, "quantity", int(empty[0]), 0, "positive for an add or a trade")
    return _book(
        market, time_ms, action=action, side=side, price=price, quantity=quantity, order_key=keys.astype(np.uint64)
    )


def _levels(
    path: PathLike, spec: MarketConfig, table: pa.Table, time_ms: npt.NDArray[np.int64], amount: str
) -> dict[str, npt.NDArray[Any]]:
    side = _codes(table, "side", path, _SIDES)
    price = _units(_numbers(table, "price", path), spec.tick_size, path, "price", positive=True)
    quantity = _units(_numbers(table, amount, path), spec.step_size, path, amount, positive=False)
    return {"side": side, "price": price, "quantity": quantity}


def load_l2(path: PathLike, market: str, config: Config | None = None) -> BookData:
    """Price-level rows: ``timestamp`` (ms), ``side``, ``price``, ``quantity`` (the level's new total)."""
    spec = _market(config, market)
    table = _read(path)
    time_ms = _times(table, "timestamp", path)
    return _book(market, time_ms, **_levels(path, spec, table, time_ms, "quantity"))


def load_tardis_l2(path: PathLike, market: str, config: Config | None = None) -> BookData:
    """A Tardis-style ``incremental_book_L2`` file (timestamps in microseconds)."""
    spec = _market(config, market)
    table = _read(path)
    time_ms = _times(table, "timestamp", path, divisor=1000)
    columns = _levels(path, spec, table, time_ms, "amount")
    snapshot = _codes(table, "is_snapshot", path, {"true": 1, "false": 0}).astype(bool)
    starts = np.flatnonzero(snapshot[1:] & ~snapshot[:-1]) + 1
    if not len(starts):
        return _book(market, time_ms, **columns)
    # A snapshot after updates replaces the book: levels it leaves out are removed first.
    pieces: list[dict[str, npt.NDArray[Any]]] = []
    live: dict[tuple[int, int], int] = {}
    bounds = [0, *starts.tolist(), len(time_ms)]
    for begin, end in itertools.pairwise(bounds):
        block = {name: values[begin:end] for name, values in columns.items()}
        block["time_ms"] = time_ms[begin:end]
        if begin > 0:
            in_snapshot = snapshot[begin:end]
            listed = set(zip(block["side"][in_snapshot].tolist(), block["price"][in_snapshot].tolist(), strict=True))
            gone = sorted(level for level, size in live.items() if size > 0 and level not in listed)
            if gone:
                pieces.append(
                    {
                        "time_ms": np.full(len(gone), time_ms[begin], np.int64),
                        "side": np.array([level[0] for level in gone], np.uint8),
                        "price": np.array([level[1] for level in gone], np.int64),
                        "quantity": np.zeros(len(gone), np.int64),
                    }
                )
        pieces.append(block)
        for side, price, size in zip(
            block["side"].tolist(), block["price"].tolist(), block["quantity"].tolist(), strict=True
        ):
            live[(side, price)] = size
    merged = {
        name: np.concatenate([piece[name] for piece in pieces]) for name in ("time_ms", "side", "price", "quantity")
    }
    times = merged.pop("time_ms")
    return _book(market, times, **merged)


def _trades(
    market: str,
    time_ms: npt.NDArray[np.int64],
    side: npt.NDArray[np.uint8],
    price: npt.NDArray[np.int64],
    quantity: npt.NDArray[np.int64],
) -> BookData:
    return _book(
        market, time_ms, action=np.full(len(time_ms), TRADE, np.uint8), side=side, price=price, quantity=quantity
    )


def load_trades(path: PathLike, market: str, config: Config | None = None) -> BookData:
    """Trades: ``timestamp`` (ms), ``side`` (the aggressor's), ``price``, ``quantity``."""
    spec = _market(config, market)
    table = _read(path)
    time_ms = _times(table, "timestamp", path)
    side = _codes(table, "side", path, _SIDES)
    price = _units(_numbers(table, "price", path), spec.tick_size, path, "price", positive=True)
    quantity = _units(_numbers(table, "quantity", path), spec.step_size, path, "quantity", positive=True)
    return _trades(market, time_ms, side, price, quantity)


def load_tardis_trades(path: PathLike, market: str, config: Config | None = None) -> BookData:
    """A Tardis-style ``trades`` file (timestamps in microseconds; ``side`` buy/sell of the aggressor)."""
    spec = _market(config, market)
    table = _read(path)
    time_ms = _times(table, "timestamp", path, divisor=1000)
    side = _codes(table, "side", path, _SIDES)
    price = _units(_numbers(table, "price", path), spec.tick_size, path, "price", positive=True)
    quantity = _units(_numbers(table, "amount", path), spec.step_size, path, "amount", positive=True)
    return _trades(market, time_ms, side, price, quantity)


_AGGTRADE_COLUMNS = [
    "agg_trade_id",
    "price",
    "quantity",
    "first_trade_id",
    "last_trade_id",
    "transact_time",
    "is_buyer_maker",
]


def load_binance_aggtrades(path: PathLike, market: str, config: Config | None = None) -> BookData:
    """A Binance-style ``aggTrades`` file, with or without its header row."""
    spec = _market(config, market)
    file = Path(path)
    table = _read(file)
    if "transact_time" not in table.column_names:
        table = _read(file, names=None if file.suffix in (".parquet", ".pq") else _headerless(table))
    raw_time = _numbers(table, "transact_time", path, int)
    divisor = 1000 if len(raw_time) and raw_time.max() > 10**14 else 1
    time_ms = _times(table, "transact_time", path, divisor=divisor)
    maker_bought = _codes(table, "is_buyer_maker", path, {"true": 1, "false": 0})
    price = _units(_numbers(table, "price", path), spec.tick_size, path, "price", positive=True)
    quantity = _units(_numbers(table, "quantity", path), spec.step_size, path, "quantity", positive=True)
    return _trades(market, time_ms, maker_bought.astype(np.uint8), price, quantity)


def _headerless(table: pa.Table) -> list[str]:
    """Column names for a header-less aggTrades file (older files have an 8th column)."""
    names = list(_AGGTRADE_COLUMNS)
    names += [f"extra{index}" for index in range(table.num_columns - len(names))]
    return names


def load_prices(path: PathLike, market: str, config: Config | None = None) -> PriceData:
    """``timestamp`` (ms; microseconds in a Tardis ``derivative_ticker`` file, told by ``local_timestamp``)
    and any of ``index_price``, ``mark_price``, ``funding_rate``."""
    _market(config, market)
    table = _read(path)
    divisor = 1000 if "local_timestamp" in table.column_names else 1
    time_ms = _times(table, "timestamp", path, divisor=divisor)
    present = [name for name in ("index_price", "mark_price", "funding_rate") if name in table.column_names]
    if not present:
        raise ConfigError(str(path), "needs at least one of index_price, mark_price, funding_rate")
    rows = len(time_ms)

    def column(name: str) -> npt.NDArray[np.float64]:
        if name not in present:
            return np.full(rows, np.nan)
        raw = _column(table, name, path)
        if pa.types.is_floating(raw.type) or pa.types.is_integer(raw.type):
            out = pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False)
        else:
            strings = pc.fill_null(pc.cast(raw, pa.string()), "")
            try:
                out = pc.cast(pc.if_else(pc.equal(strings, ""), "nan", strings), pa.float64()).to_numpy(
                    zero_copy_only=False
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                for row, value in enumerate(strings.to_pylist()):
                    try:
                        float(value or "nan")
                    except ValueError:
                        raise _bad_row(path, name, row, value, "a number or blank") from None
                raise
        out = np.asarray(out, dtype=np.float64)
        if name != "funding_rate":
            bad = np.flatnonzero(out <= 0)
            if len(bad):
                raise _bad_row(path, name, int(bad[0]), float(out[int(bad[0])]), "positive")
        return out

    return PriceData(market, time_ms, column("index_price"), column("mark_price"), column("funding_rate"))
