"""The backtest runner: a market source and strategies through the full engine, in data time.

:class:`Backtest` builds an :class:`crossbook.Exchange` from ``config``, lets the source open its
accounts (:mod:`crossbook.backtest.source`), gives each strategy its own funded subaccount, then runs a
discrete-event loop over data time. The next moment is the earliest of: the source's next event, an
operation of a strategy arriving after its latency, a book snapshot or market-data delivery, a timer,
a sample, the end. At that moment the source applies its flow up to it, the exchange advances to it
(PnL realization, funding, interest, the liquidation waterfall: see :meth:`crossbook.Exchange.advance_to`),
the engine's events are read (the strategies' fills, liquidations, funding), then the due operations
run in the order they were sent.

Callbacks (:mod:`crossbook.backtest.strategy`): ``on_book``/``on_trade`` at most once per
``book_interval_ms`` per market, only after the market changed, with a snapshot taken then and delivered
after the market-data latency; ``on_fill`` and ``on_liquidation`` as the engine reports them;
``on_timer`` every ``timer_interval_ms``. Everything is deterministic: the same config, data, strategies
and seed give the same events, tables and :meth:`crossbook.Exchange.state_hash`.

Costs: O(data events) in the source (a Rust call per chunk for replayed books), plus O(1) Python work per
strategy operation, callback and sample, plus the engine's scheduled jobs (:meth:`Exchange.advance_to`).
"""

from __future__ import annotations

import heapq
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from crossbook.backtest.latency import Latency, LatencyModel
from crossbook.backtest.results import Recorder, Results
from crossbook.backtest.source import MarketSource
from crossbook.backtest.strategy import (
    BookView,
    Context,
    MarketTrade,
    OrderTicket,
    Strategy,
    StrategyFill,
    TicketKind,
)
from crossbook.config import Config
from crossbook.exceptions import InvalidArgumentError, InvalidTypeError
from crossbook.exchange import Exchange

_PRINCIPAL = {"Borrow": (0, 1), "Repay": (0, -1), "Lend": (1, 1), "Redeem": (1, -1)}
"""Events that move a subaccount's borrowed (column 0) or lent (column 1) principal, and which way."""

QueueModel = Literal["back", "front"]
"""Where an L2 level's decrease comes off the replayed queue: ``"back"`` (the strategy's place improves
only through trades at its level; the default) or ``"front"`` (cancellations ahead of it move it up)."""

_PRIORITY_DATA, _PRIORITY_OPERATION, _PRIORITY_SNAPSHOT, _PRIORITY_DELIVERY = 0, 1, 2, 3


@dataclass(frozen=True)
class _Scheduled:
    time_ms: int
    priority: int
    sequence: int
    action: Callable[[], None]

    def __lt__(self, other: _Scheduled) -> bool:
        return (self.time_ms, self.priority, self.sequence) < (other.time_ms, other.priority, other.sequence)


class _Progress:
    """A one-line progress bar on stderr, redrawn at most 5 times a second."""

    def __init__(self, start_ms: int, end_ms: int) -> None:
        self.start_ms, self.span = start_ms, max(1, end_ms - start_ms)
        self.started = self.drawn = time.perf_counter()

    def update(self, time_ms: int, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.drawn < 0.2:
            return
        self.drawn = now
        fraction = min(1.0, max(0.0, (time_ms - self.start_ms) / self.span))
        bar = "#" * int(fraction * 30)
        sys.stderr.write(f"\rbacktest [{bar:<30}] {fraction:6.1%} of data time, {now - self.started:6.1f} s")
        if force:
            sys.stderr.write("\n")
        sys.stderr.flush()


class Backtest:
    """One run: ``Backtest(config, data, strategies, latency=..., queue=...).run()`` returns :class:`Results`.

    ``config`` configures the venue (None: :meth:`Config.default`); ``data`` is a market source (a
    :class:`crossbook.backtest.SyntheticMarket` or a :class:`crossbook.backtest.Replay`); ``seed`` seeds
    the latency draws. ``sample_interval_ms`` sets the resolution of the equity, margin, position and
    price tables. ``progress`` draws a progress bar on stderr.
    """

    def __init__(
        self,
        config: Config | None,
        data: MarketSource,
        strategies: Sequence[Strategy] = (),
        *,
        latency: Latency | None = None,
        queue: QueueModel = "back",
        seed: int = 0,
        book_interval_ms: int = 100,
        timer_interval_ms: int | None = None,
        sample_interval_ms: int = 60_000,
        book_levels: int = 10,
        record_trades: bool = True,
        progress: bool = False,
    ) -> None:
        for name, value in (
            ("book_interval_ms", book_interval_ms),
            ("sample_interval_ms", sample_interval_ms),
            ("book_levels", book_levels),
            ("seed", seed),
        ):
            if type(value) is not int:
                raise InvalidTypeError(f"{name} must be an int, got {type(value).__name__}")
        if book_interval_ms < 1 or sample_interval_ms < 1 or book_levels < 1:
            raise InvalidArgumentError("book_interval_ms, sample_interval_ms and book_levels must be at least 1")
        if timer_interval_ms is not None and (type(timer_interval_ms) is not int or timer_interval_ms < 1):
            raise InvalidArgumentError(f"timer_interval_ms must be a positive int or None, got {timer_interval_ms!r}")
        if queue not in ("back", "front"):
            raise InvalidArgumentError(f"queue must be 'back' or 'front', got {queue!r}")
        for strategy in strategies:
            if not isinstance(strategy, Strategy):
                raise InvalidTypeError(f"strategies must be Strategy instances, got {type(strategy).__name__}")
        self.exchange = Exchange(config)
        self.data = data
        self.strategies = list(strategies)
        self.latency = LatencyModel(latency if latency is not None else Latency(), seed)
        self.queue = queue
        self.seed = seed
        self.book_interval_ms = book_interval_ms
        self.timer_interval_ms = timer_interval_ms
        self.sample_interval_ms = sample_interval_ms
        self.book_levels = book_levels
        self.record_trades = record_trades
        self.progress = progress
        self.recorder = Recorder()
        self._heap: list[_Scheduled] = []
        self._sequence = 0
        self._now = 0
        self._contexts: list[Context] = []
        self._names: list[str] = []
        self._strategy_of: dict[int, int] = {}
        self._tickets = 0
        self._last_snapshot: dict[str, int] = {}
        self._snapshot_pending: set[str] = set()
        self._trades_since: dict[str, list[MarketTrade]] = defaultdict(list)
        self._engine_events = 0
        self._wants_trades = any(type(strategy).on_trade is not Strategy.on_trade for strategy in self.strategies)
        self._marks: dict[str, Decimal] = {}
        self._indices: dict[str, Decimal] = {}
        self._ran = False

    # ----- the strategies' side ------------------------------------------------------------------------

    @property
    def time_ms(self) -> int:
        return self._now

    def send(self, strategy_index: int, kind: TicketKind, market: str, arguments: dict[str, Any]) -> OrderTicket:
        """Schedules one strategy operation after its latency (the :class:`Context` order API calls this)."""
        if type(market) is not str:
            raise InvalidTypeError(f"market must be a str, got {type(market).__name__}")
        self.exchange.config.market(market)  # unknown markets raise now, not on arrival
        self._tickets += 1
        arrives = self._now + self.latency.delay(kind)
        ticket = OrderTicket(self._tickets, kind, market, self._now, arrives, arguments)
        self._schedule(arrives, _PRIORITY_OPERATION, lambda: self._arrive(strategy_index, ticket))
        return ticket

    def _arrive(self, strategy_index: int, ticket: OrderTicket) -> None:
        exchange, subaccount = self.exchange, self._contexts[strategy_index].subaccount
        arguments = dict(ticket.arguments)
        ticket.arrived = True
        if ticket.kind == "insert":
            side = arguments.pop("side")
            result = exchange.place_order(subaccount, ticket.market, side, **arguments)
            ticket.order_id, ticket.result = result.order_id or None, result
        else:
            order = arguments.pop("order")
            order_id = order.order_id if isinstance(order, OrderTicket) else order
            ticket.order_id = order_id
            if ticket.kind == "cancel":
                ticket.result = (
                    False if order_id is None else exchange.cancel_order(subaccount, ticket.market, order_id)
                )
            else:
                ticket.result = (
                    "OrderNotLive"
                    if order_id is None
                    else exchange.amend_order(subaccount, ticket.market, order_id, **arguments)
                )
        self._read_events()

    # ----- the loop ----------------------------------------------------------------------------------

    def _schedule(self, time_ms: int, priority: int, action: Callable[[], None]) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, _Scheduled(time_ms, priority, self._sequence, action))

    def run(self) -> Results:
        """Runs the whole source; a Backtest runs once."""
        if self._ran:
            raise InvalidArgumentError("this Backtest has run; build a new one to run again")
        self._ran = True
        started = time.perf_counter()
        exchange, data = self.exchange, self.data
        data.setup(exchange, self.queue)
        self._open_strategies()
        start, end = data.start_ms, data.end_ms
        if exchange.time_ms < start:
            exchange.advance_to(start)
        self._now = exchange.time_ms
        self._read_events()
        for context, strategy in zip(self._contexts, self.strategies, strict=True):
            strategy.on_start(context)
        next_sample = self._now
        next_timer = self._now + self.timer_interval_ms if self.timer_interval_ms else None
        progress = _Progress(start, end) if self.progress else None
        while True:
            candidates = [next_sample, end]
            data_time = data.next_time()
            if data_time is not None and self.strategies:
                # Strategies see the market at most once per book interval: the source runs in chunks
                # to the next point of that grid (without strategies, to the next sample).
                grid = self.book_interval_ms
                candidates.append(max(-(-data_time // grid) * grid, self._now))
            if self._heap:
                candidates.append(self._heap[0].time_ms)
            if next_timer is not None:
                candidates.append(next_timer)
            moment = min(candidates)
            if moment > end:
                break
            self._advance(moment)
            while self._heap and self._heap[0].time_ms <= moment:
                heapq.heappop(self._heap).action()
            if next_timer is not None and moment == next_timer:
                for context, strategy in zip(self._contexts, self.strategies, strict=True):
                    strategy.on_timer(context, moment)
                next_timer += self.timer_interval_ms or 0
                while self._heap and self._heap[0].time_ms <= moment:
                    heapq.heappop(self._heap).action()
            if moment == next_sample:
                self._sample()
                next_sample += self.sample_interval_ms
            if progress is not None:
                progress.update(moment)
            if moment >= end and (data_time is None or data_time > end) and not self._due(end):
                break
        if next_sample - self.sample_interval_ms < self._now:
            self._sample()  # the tables end where the data ends
        if progress is not None:
            progress.update(end, force=True)
        return self._results(time.perf_counter() - started)

    def _due(self, time_ms: int) -> bool:
        return bool(self._heap) and self._heap[0].time_ms <= time_ms

    def _advance(self, moment: int) -> None:
        step = self.data.run_until(self.exchange, moment)
        if moment > self.exchange.time_ms:
            self.exchange.advance_to(moment)
        self._now = moment
        if step.trades is not None and len(step.trades["time_ms"]):
            self._source_trades(step.trades)
        self._read_events()
        for market in step.changed:
            self._book_changed(market)

    def _source_trades(self, columns: dict[str, Any]) -> None:
        markets = self.data.markets
        by_market = columns["market"]
        for index, market in enumerate(markets):
            mask = by_market == index
            if not mask.any():
                continue
            block = {name: values[mask] for name, values in columns.items() if name != "market"}
            if self.record_trades:
                self.recorder.trade_block(market, block)
            if self._wants_trades:
                pending = self._trades_since[market]
                for time_ms, price, quantity, aggressor in zip(
                    block["time_ms"].tolist(),
                    block["price"].tolist(),
                    block["quantity"].tolist(),
                    block["aggressor"].tolist(),
                    strict=True,
                ):
                    pending.append(
                        MarketTrade(
                            market,
                            time_ms,
                            Decimal(str(price)),
                            Decimal(str(quantity)),
                            "Bid" if aggressor == 0 else "Ask",
                        )
                    )

    # ----- engine events -----------------------------------------------------------------------------

    def _read_events(self) -> None:
        events = self.exchange.events()
        self._engine_events += len(events)
        accrued: dict[str, int] = {}
        for event in events:
            kind = event["kind"]
            if kind == "Fill":
                self._fill(event)
            elif kind == "Liquidation":
                self._liquidation(event)
            elif kind == "FundingPaid":
                index = self._strategy_of.get(event["account"])
                if index is not None:
                    self.recorder.funding(event["time_ms"], self._names[index], event["market"], event["amount"])
            elif kind == "InterestAccrued":
                accrued[event["asset"]] = event["time_ms"]
            elif kind in _PRINCIPAL:
                self._principal(event, *_PRINCIPAL[kind])
            elif kind == "MarkPrice":
                self._marks[event["market"]] = Decimal(event["price"])
            elif kind == "IndexPrice":
                self._indices[event["asset"]] = Decimal(event["price"])
            elif kind in ("OrderAccepted", "OrderCancelled", "OrderAmended"):
                self._book_changed(event["market"])
        for asset, time_ms in accrued.items():
            self._interest(time_ms, asset)

    def _fill(self, event: dict[str, Any]) -> None:
        market = event["market"]
        aggressor = event["taker_side"]
        if self.record_trades:
            self.recorder.trade(event["time_ms"], market, event["price"], event["quantity"], aggressor)
        price, quantity = Decimal(event["price"]), Decimal(event["quantity"])
        if self._wants_trades:
            self._trades_since[market].append(MarketTrade(market, event["time_ms"], price, quantity, aggressor))
        self._book_changed(market)
        for role, liquidity in (("taker", "taker"), ("maker", "maker")):
            index = self._strategy_of.get(event[role])
            if index is None:
                continue
            side = aggressor if role == "taker" else ("Ask" if aggressor == "Bid" else "Bid")
            fill = StrategyFill(
                market,
                event["time_ms"],
                event[f"{role}_order_id"],
                side,
                price,
                quantity,
                Decimal(event[f"{role}_fee"]),
                Decimal(event[f"{role}_realized_pnl"]),
                liquidity,
            )
            self.recorder.fill(self._names[index], fill)
            self.strategies[index].on_fill(self._contexts[index], fill)

    def _liquidation(self, event: dict[str, Any]) -> None:
        index = self._strategy_of.get(event["account"])
        self.recorder.liquidation(event, None if index is None else self._names[index])
        for context, strategy in zip(self._contexts, self.strategies, strict=True):
            strategy.on_liquidation(context, event)

    def _principal(self, event: dict[str, Any], column: int, sign: int) -> None:
        """A borrow, repayment, lend or redemption of a strategy moves its principal, not its interest."""
        index = self._strategy_of.get(event["account"])
        if index is None:
            return
        key = (index, event["asset"])
        principal = list(self._pool_positions.get(key, (Decimal(0), Decimal(0))))
        principal[column] += sign * Decimal(event["amount"])
        self._pool_positions[key] = (principal[0], principal[1])

    def _interest(self, time_ms: int, asset: str) -> None:
        """Interest since the last boundary read: what each strategy's borrows (lends) grew beyond the
        principal its borrow, repay, lend and redeem events moved."""
        for index, context in enumerate(self._contexts):
            balance = self.exchange.balances(context.subaccount)[asset]
            borrowed, lent = self._pool_positions.get((index, asset), (Decimal(0), Decimal(0)))
            paid, earned = balance.borrowed - borrowed, balance.lent - lent
            if paid > 0 or earned > 0:
                self.recorder.interest(
                    time_ms, self._names[index], asset, max(paid, Decimal(0)), max(earned, Decimal(0))
                )
            self._pool_positions[(index, asset)] = (balance.borrowed, balance.lent)

    # ----- books and callbacks -----------------------------------------------------------------------

    def _book_changed(self, market: str) -> None:
        if not self.strategies or market in self._snapshot_pending:
            return
        self._snapshot_pending.add(market)
        last = self._last_snapshot.get(market)
        at = self._now if last is None else max(self._now, last + self.book_interval_ms)
        self._schedule(at, _PRIORITY_SNAPSHOT, lambda: self._snapshot(market))

    def _snapshot(self, market: str) -> None:
        self._snapshot_pending.discard(market)
        self._last_snapshot[market] = self._now
        bids, asks = self.exchange.depth(market, self.book_levels)
        view = BookView(market, self._now, bids, asks)
        trades = self._trades_since.pop(market, [])
        delivery = self._now + self.latency.delay("market_data")
        self._schedule(delivery, _PRIORITY_DELIVERY, lambda: self._deliver(view, trades))

    def _deliver(self, view: BookView, trades: list[MarketTrade]) -> None:
        for context, strategy in zip(self._contexts, self.strategies, strict=True):
            if trades:
                strategy.on_trade(context, trades)
            strategy.on_book(context, view)

    # ----- accounts, samples, results ------------------------------------------------------------------

    def _open_strategies(self) -> None:
        exchange = self.exchange
        self._pool_positions: dict[tuple[int, str], tuple[Decimal, Decimal]] = {}
        for index, strategy in enumerate(self.strategies):
            name = f"{strategy.name}#{index}"
            subaccount = exchange.open_account(f"strategy:{name}")
            for asset, amount in strategy.deposits.items():
                exchange.deposit(subaccount, asset, amount)
            exchange.set_max_leverage(subaccount, strategy.leverage)
            self._names.append(name)
            self._strategy_of[subaccount] = index
            self._contexts.append(Context(self, index, subaccount))
            for asset, balance in exchange.balances(subaccount).items():
                self._pool_positions[(index, asset)] = (balance.borrowed, balance.lent)

    def _sample(self) -> None:
        exchange, now = self.exchange, self._now
        for name, context in zip(self._names, self._contexts, strict=True):
            self.recorder.sample(now, name, exchange.margin(context.subaccount), exchange.positions(context.subaccount))
        for market in self.data.markets:
            spec = exchange.config.market(market)
            bids, asks = exchange.depth(market, 1)
            self.recorder.price(
                time_ms=now,
                market=market,
                mark=self._marks.get(market),
                index=self._indices.get(spec.base),
                best_bid=bids[0][0] if bids else None,
                best_ask=asks[0][0] if asks else None,
            )

    def _results(self, seconds: float) -> Results:
        exchange = self.exchange
        results = self.recorder.results({})
        stages = results.tables["liquidations"]["stage"].to_list()
        audit = exchange.audit()
        summary: dict[str, Any] = {
            "data events": self.data.events_applied(),
            "engine events": self._engine_events,
            "wall seconds": round(seconds, 3),
            "data events/s": round(self.data.events_applied() / seconds) if seconds > 0 else 0,
            "trades": results.tables["trades"].height,
            "liquidations (on_book/backstop/adl)": (
                f"{stages.count('on_book')}/{stages.count('backstop')}/{stages.count('adl')}"
            ),
            "assets conserved": all(line.balanced for line in audit.values()),
            "state_hash": exchange.state_hash(),
        }
        equity = results.tables["equity"]
        for name, context in zip(self._names, self._contexts, strict=True):
            margin = exchange.margin(context.subaccount)
            rows = equity.filter(equity["strategy"] == name)
            first = rows["net_equity"][0] if rows.height else float(margin.net_equity)
            fills = results.tables["fills"]
            funding = results.tables["funding"]
            summary[f"{name} net equity"] = f"{margin.net_equity} (start {first:,.2f})"
            summary[f"{name} fills"] = fills.filter(fills["strategy"] == name).height
            summary[f"{name} funding paid"] = round(
                float(funding.filter(funding["strategy"] == name)["amount"].sum()), 6
            )
            summary[f"{name} max MMR"] = round(float(rows["mmr"].to_numpy().max()), 4) if rows.height else 0.0
        results.summary.update(summary)
        return results
