"""Replayed market data as a backtest source: recorded books and trades through the real engine.

:class:`Replay` takes one :class:`crossbook.backtest.data.BookData` per perpetual market (L3 or L2
rows, with trades merged in) and optional :class:`crossbook.backtest.data.PriceData`. In
:meth:`Replay.setup` it opens a replay subaccount per market (owner ``replay:<market>``, ``collateral``
USDC, auto-lend off so the pools are not distorted) and a ``crossbook._core.Replayer`` for it, which
owns the recorded flow (see ``rust/core/src/exchange/replay.rs`` for the exact semantics: L3 orders as
recorded; L2 levels as replay orders, with the queue model of the backtest's ``queue``). Between the
strategies' operations the runner asks for everything up to a time, and the rows go to Rust in one
call per market with the GIL released. The engine's clock moves to the chunk's first row before it
applies, so the fills a chunk makes are stamped with that time (chunks are at most the backtest's
book interval long while strategies run).

Prices: recorded marks go to ``set_mark_price``, index prices to ``set_index_price`` of the base
asset, funding rates to ``set_funding_rate`` (the rate of the next payments). Without recorded marks
the mark follows the last replayed trade, set at most once per ``mark_interval_ms`` of data,
starting from the first recorded price. Costs: O(rows) in Rust; O(price rows + mark updates) Python
calls, each a margin scan of every subaccount.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crossbook._core import Replayer
from crossbook.backtest.data import (
    LEVEL,
    TRADE,
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
from crossbook.backtest.source import SourceStep
from crossbook.config import Config
from crossbook.exceptions import ConfigError, InvalidArgumentError
from crossbook.exchange import Exchange


@dataclass
class _Feed:
    book: BookData
    replayer: Replayer | None = None
    cursor: int = 0
    last_trade: int | None = None
    """Ticks of the last trade seen (replayed or the engine's)."""
    marked: int | None = None
    """Ticks of the mark this source last set."""
    mark_due: int = 0


class Replay:
    """Recorded books, trades and prices as a backtest source (see the module docs)."""

    def __init__(
        self,
        books: Sequence[BookData],
        prices: Sequence[PriceData] = (),
        *,
        collateral: str = "1000000000000",
        mark_interval_ms: int = 1_000,
    ) -> None:
        if not books:
            raise InvalidArgumentError("a replay needs the rows of at least one market")
        markets = [book.market for book in books]
        if len(set(markets)) != len(markets):
            raise InvalidArgumentError(f"one BookData per market, got {markets}; merge a market's files first")
        unknown = {price.market for price in prices} - set(markets)
        if unknown:
            raise InvalidArgumentError(f"prices for markets without books: {sorted(unknown)}")
        if mark_interval_ms < 1:
            raise InvalidArgumentError(f"mark_interval_ms must be at least 1, got {mark_interval_ms}")
        self._feeds = [_Feed(book) for book in books]
        self._prices = list(prices)
        self._price_cursor = [0] * len(self._prices)
        self.collateral = collateral
        self.mark_interval_ms = mark_interval_ms
        self._marked_by_data = {price.market for price in prices if np.isfinite(price.mark_price).any()}
        self._applied = 0
        self._next: int | None = None
        self._next_stale = True
        times = [book.time_ms[[0, -1]] for book in books if len(book)] + [
            p.time_ms[[0, -1]] for p in prices if len(p.time_ms)
        ]
        self._start = int(min(t[0] for t in times)) if times else 0
        self._end = int(max(t[1] for t in times)) if times else 0

    @property
    def markets(self) -> tuple[str, ...]:
        return tuple(feed.book.market for feed in self._feeds)

    @property
    def start_ms(self) -> int:
        return self._start

    @property
    def end_ms(self) -> int:
        return self._end

    def events_applied(self) -> int:
        return self._applied

    def replayers(self) -> list[Replayer]:
        """The Rust replayers (``applied``, ``skipped`` counts, ``account``), after setup."""
        return [feed.replayer for feed in self._feeds if feed.replayer is not None]

    def setup(self, exchange: Exchange, queue: str = "back") -> None:
        for feed in self._feeds:
            market = feed.book.market
            account = exchange.open_account(f"replay:{market}")
            exchange.set_auto_lend(account, False)
            exchange.deposit(account, "USDC", self.collateral)
            exchange.set_max_leverage(account, exchange.config.venue.max_leverage)
            feed.replayer = Replayer(exchange._engine, account, market, queue)
            if market not in self._marked_by_data:
                first = _first_price(feed.book)
                if first is not None:
                    self._set_mark(exchange, feed, first)

    def next_time(self) -> int | None:
        if self._next_stale:
            self._next = self._earliest()
            self._next_stale = False
        return self._next

    def _earliest(self) -> int | None:
        times = [int(feed.book.time_ms[feed.cursor]) for feed in self._feeds if feed.cursor < len(feed.book)]
        times += [
            int(p.time_ms[c]) for p, c in zip(self._prices, self._price_cursor, strict=True) if c < len(p.time_ms)
        ]
        return min(times) if times else None

    def run_until(self, exchange: Exchange, time_ms: int) -> SourceStep:
        step = SourceStep()
        first = self.next_time()
        self._next_stale = True
        if first is not None and exchange.time_ms < first <= time_ms:
            # The chunk's engine events (fills with others) carry the time of its first row.
            exchange.advance_to(first)
        self._apply_prices(exchange, time_ms)
        blocks: list[dict[str, npt.NDArray[np.generic]]] = []
        for number, feed in enumerate(self._feeds):
            book, start = feed.book, feed.cursor
            if start >= len(book) or book.time_ms[start] > time_ms:
                continue
            assert feed.replayer is not None, "setup runs first"
            rows, trades = feed.replayer.apply(
                exchange._engine,
                book.time_ms[start:],
                book.action[start:],
                book.side[start:],
                book.price[start:],
                book.quantity[start:],
                book.order_key[start:],
                time_ms,
            )
            feed.cursor += rows
            self._applied += rows
            step.changed.add(book.market)
            if len(trades["time_ms"]):
                feed.last_trade = int(trades["price"][-1])
                blocks.append(self._trade_block(exchange, number, trades))
        if blocks:
            step.trades = {name: np.concatenate([block[name] for block in blocks]) for name in blocks[0]}
        self._follow_trades(exchange, time_ms)
        return step

    def _trade_block(
        self, exchange: Exchange, number: int, trades: dict[str, npt.NDArray[np.generic]]
    ) -> dict[str, npt.NDArray[np.generic]]:
        spec = exchange.config.market(self._feeds[number].book.market)
        return {
            "market": np.full(len(trades["time_ms"]), number, np.int64),
            "time_ms": trades["time_ms"],
            "price": _in_units(trades["price"], spec.tick_size),
            "quantity": _in_units(trades["quantity"], spec.step_size),
            "aggressor": trades["aggressor"],
        }

    def _apply_prices(self, exchange: Exchange, time_ms: int) -> None:
        for number, prices in enumerate(self._prices):
            spec = exchange.config.market(prices.market)
            cursor = self._price_cursor[number]
            while cursor < len(prices.time_ms) and prices.time_ms[cursor] <= time_ms:
                at = int(prices.time_ms[cursor])
                if at > exchange.time_ms:
                    exchange.advance_to(at)
                index, mark, rate = (prices.index_price[cursor], prices.mark_price[cursor], prices.funding_rate[cursor])
                if math.isfinite(index):
                    quote_atom = Decimal(1).scaleb(-exchange.config.asset(spec.quote).decimals)
                    exchange.set_index_price(spec.base, _decimal(index, quote_atom))
                if math.isfinite(mark):
                    exchange.set_mark_price(prices.market, _decimal(mark, spec.tick_size))
                if math.isfinite(rate):
                    exchange.set_funding_rate(prices.market, _decimal(rate, Decimal("1e-12")))
                cursor += 1
                self._applied += 1
            self._price_cursor[number] = cursor

    def _follow_trades(self, exchange: Exchange, time_ms: int) -> None:
        for feed in self._feeds:
            market = feed.book.market
            if market in self._marked_by_data or feed.last_trade is None or feed.last_trade == feed.marked:
                continue
            if time_ms >= feed.mark_due:
                self._set_mark(exchange, feed, feed.last_trade)
                feed.mark_due = time_ms + self.mark_interval_ms

    def _set_mark(self, exchange: Exchange, feed: _Feed, ticks: int) -> None:
        spec = exchange.config.market(feed.book.market)
        exchange.set_mark_price(feed.book.market, str(spec.tick_size * ticks))
        feed.marked = ticks


def _in_units(values: npt.NDArray[np.generic], unit: Decimal) -> npt.NDArray[np.float64]:
    """Ticks or lots as floats of the market's units, the nearest float to the exact decimal when the
    unit is a power of ten (dividing by 100 rather than multiplying by 0.01)."""
    inverse = 1 / unit
    if inverse == inverse.to_integral_value():
        return values.astype(np.float64) / float(inverse)
    return values.astype(np.float64) * float(unit)


def _first_price(book: BookData) -> int | None:
    """The first trade's price, else the first level's or order's."""
    trades = np.flatnonzero(book.action == TRADE)
    if len(trades):
        return int(book.price[trades[0]])
    priced = np.flatnonzero((book.price > 0) & ((book.action == LEVEL) | (book.action == 0)))
    return int(book.price[priced[0]]) if len(priced) else None


def _decimal(value: float, unit: Decimal) -> str:
    return str((Decimal(repr(float(value))) / unit).to_integral_value() * unit)


_BOOK_LOADERS = {"l3": load_l3, "l2": load_l2, "tardis_l2": load_tardis_l2}
_TRADE_LOADERS = {
    "trades": load_trades,
    "tardis_trades": load_tardis_trades,
    "binance_aggtrades": load_binance_aggtrades,
}


def source_from_table(table: dict[str, Any], root: Path, config: Config | None = None) -> Replay:
    """A :class:`Replay` from a backtest file's ``[data]`` table: ``mark_interval_ms`` and one
    ``[[data.market]]`` per market with ``market`` and files by kind: a book (``l3``, ``l2`` or
    ``tardis_l2``), trades (``trades``, ``tardis_trades`` or ``binance_aggtrades``) and ``prices``."""
    values = dict(table)
    markets = values.pop("market", [])
    interval = values.pop("mark_interval_ms", 1_000)
    if values:
        raise ConfigError("data", f"unknown keys {sorted(values)}; expected market, mark_interval_ms")
    if not isinstance(markets, list) or not markets:
        raise ConfigError("data.market", "expected at least one [[data.market]] table")
    books, prices = [], []
    for number, raw in enumerate(markets):
        entry = dict(raw)
        path = f"data.market[{number}]"
        market = entry.pop("market", None)
        if not isinstance(market, str):
            raise ConfigError(f"{path}.market", f"expected a market symbol, got {market!r}")
        known = set(_BOOK_LOADERS) | set(_TRADE_LOADERS) | {"prices"}
        unknown = set(entry) - known
        if unknown:
            raise ConfigError(path, f"unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
        parts = [
            loader(root / str(entry[kind]), market, config) for kind, loader in _BOOK_LOADERS.items() if kind in entry
        ]
        parts += [
            loader(root / str(entry[kind]), market, config) for kind, loader in _TRADE_LOADERS.items() if kind in entry
        ]
        if not parts:
            raise ConfigError(path, "needs a book or trades file")
        books.append(BookData.merge(*parts))
        if "prices" in entry:
            prices.append(load_prices(root / str(entry["prices"]), market, config))
    return Replay(books, prices, mark_interval_ms=interval)
