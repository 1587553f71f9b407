"""The liquidation cascade benchmark: the cost of a mark update that liquidates, scan and waterfall included.

Workload (seeded, ``Config.default()``): ``accounts`` subaccounts trade SOL_USDC_PERP at a mark of
150 USDC. About 55% go long and 45% short, each a position of 0.1 SOL or more (a log-normal notional
of about 1,000 USDC) with a deposit of a uniform 2.5-40% of the notional for the longs (2.5-40x, so
the crash reaches them one after another, all across it) and 5-50% for the shorts; every trader
allows the venue's maximum leverage. Longs buy from shorts pair by pair, the unpaired ones from a
market maker. The maker (1,000,000,000 USDC) then rests a ladder of bids every 0.5% from 149.25 down
to 5% past the crash, half the longs' open interest in all, so liquidations fill on the book until
the bids within reach are gone; a backstop provider, funded with what it may take, takes the rest at
the mark: ``backstop`` x the longs' notional (default all of it). With a smaller backstop the tail
goes to auto-deleveraging, which ranks every opposing position: O(accounts) per subaccount, so a
cascade that exhausts the backstop costs O(accounts**2).

Measured: the ``marks`` calls of ``Exchange.set_mark_price`` that walk the mark down by ``crash``
in equal steps (150 to 105 by default), each one a margin scan of every subaccount and the
waterfall (:mod:`crossbook.liquidation`) for every one found liquidatable, each call timed alone.
Setup (about 110,000 orders at 100,000 subaccounts) is not timed. The baseline, run in turn with it,
is the same workload with ``venue.liquidation.enabled`` off: the same mark updates, the scan alone.
Time is per mark update (the median over repeats of each run's summed mark times), and per mark:
the median over repeats of each mark's time, of which the table shows the median and the largest.

After every run the benchmark checks the state: net equities (none may be negative with the
waterfall on) and every asset's audit (each must reconcile); the table reports them. The first run of
the waterfall also drains the events after each mark, untimed, to count the Liquidation events by
stage and the subaccounts liquidated (millions of events at 100,000 subaccounts: reading them costs
more than the cascade, so the other runs leave them in the engine). The engine is deterministic, so
every run of one configuration must end in the same state (the same ``state_hash``, which counts
events whether drained or not); the benchmark raises if not.
"""

from __future__ import annotations

import dataclasses
import gc
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from crossbook import Exchange
from crossbook.bench.report import Measurement, format_table
from crossbook.config import Config

MARKET = "SOL_USDC_PERP"
START = Decimal(150)
TICK = Decimal("0.01")
LONG_SHARE = 0.55
NOTIONAL_MEDIAN = 1_000.0
LONG_MARGIN = (0.025, 0.40)
SHORT_MARGIN = (0.05, 0.50)
MIN_QUANTITY = Decimal("0.1")
MAKER_DEPOSIT = "1000000000"
LADDER_SHARE = Decimal("0.5")
LADDER_STEP = Decimal("0.005")
LADDER_PAST_CRASH = Decimal("0.05")
LADDER_DEEPEST = Decimal("0.45")
STAGES = ("on_book", "backstop", "adl", "lender_payout", "socialized_loss")
WATERFALL = "set_mark_price with the waterfall"
SCAN_ONLY = "set_mark_price, scan only (waterfall off)"
DRAIN_EVERY = 10_000


@dataclass(frozen=True)
class _Trade:
    """A position opened at ``START``: the maker side rests, the taker side fills it (IOC)."""

    maker: int
    maker_side: str
    taker: int
    quantity: str


@dataclass(frozen=True)
class _Workload:
    deposits: tuple[str, ...]
    """USDC per trader, in the order they are opened."""
    trades: tuple[_Trade, ...]
    ladder: tuple[tuple[str, str], ...]
    """(price, quantity) of the maker's bids."""
    backstop: str
    """The provider's deposit and capacity in USDC."""


@dataclass(frozen=True)
class CascadeOutcome:
    """The state one run of the cascade left behind (equal for every run of the same workload)."""

    still_liquidating: int
    negative_equity: int
    """Subaccounts with negative net equity after the last mark (none, with the waterfall on)."""
    unbalanced: tuple[str, ...]
    """Assets whose audit does not reconcile (there should be none)."""
    assets: int
    state_hash: str

    @property
    def balanced(self) -> bool:
        return not self.unbalanced

    @property
    def audit(self) -> str:
        if self.balanced:
            return f"balanced for all {self.assets} assets"
        return f"UNBALANCED: {', '.join(self.unbalanced)}"


@dataclass(frozen=True)
class CascadeResult:
    waterfall: Measurement
    scan_only: Measurement
    waterfall_marks: tuple[float, ...]
    """Seconds per mark update, each the median over the runs."""
    scan_only_marks: tuple[float, ...]
    accounts: int
    prices: tuple[str, ...]
    crash: Decimal
    setup_seconds: float
    """Median untimed setup of one exchange."""
    stages: tuple[tuple[str, int], ...]
    """Liquidation events per stage in :data:`STAGES` order (the first run's; every run is the same)."""
    liquidated: int
    """Distinct subaccounts that entered liquidation."""
    outcome: CascadeOutcome
    baseline_outcome: CascadeOutcome

    def events(self, stage: str) -> int:
        return dict(self.stages)[stage]

    def table(self) -> str:
        title = (
            f"Liquidation cascade: {self.accounts:,} subaccounts, {MARKET} marked {_ticks(START)} -> {self.prices[-1]} "
            f"(-{self.crash:.0%}) in {len(self.prices)} updates, median of {len(self.waterfall.seconds)} runs; "
            "ns/op is per mark update"
        )
        per_mark = ", ".join(
            f"{name} median {statistics.median(marks) * 1e3:,.2f} ms, max {max(marks) * 1e3:,.2f} ms"
            for name, marks in (("waterfall", self.waterfall_marks), ("scan only", self.scan_only_marks))
        )
        ratio = self.waterfall.ns_per_op / self.scan_only.ns_per_op
        stages = ", ".join(f"{stage} {count:,}" for stage, count in self.stages)
        return "\n".join(
            [
                format_table(title, [self.waterfall, self.scan_only], self.waterfall),
                f"per mark: {per_mark}; the waterfall costs {ratio:,.1f}x the scan alone",
                f"liquidated: {self.liquidated:,} subaccounts ({self.outcome.still_liquidating:,} still liquidating "
                f"after the last mark); Liquidation events: {stages}",
                f"after the cascade: audit {self.outcome.audit} (waterfall), {self.baseline_outcome.audit} "
                f"(scan only); {self.outcome.negative_equity:,} subaccounts with negative net equity (waterfall)",
                f"setup (untimed): {self.setup_seconds:,.2f} s per exchange",
            ]
        )


def _ticks(value: Decimal) -> str:
    return str(value.quantize(TICK))


def crash_prices(marks: int, crash: Decimal) -> tuple[str, ...]:
    """The marks of the cascade: ``START`` down by ``crash`` in ``marks`` equal steps, on the tick."""
    return tuple(_ticks(START * (1 - crash * step / marks)) for step in range(1, marks + 1))


def _workload(accounts: int, crash: Decimal, backstop: Decimal, seed: int) -> _Workload:
    """The seeded population; trader ``i`` is subaccount ``i + 2`` (0 is the maker, 1 the provider)."""
    rng = random.Random(seed)
    maker = 0
    margins: list[Decimal] = []
    longs: list[tuple[int, Decimal]] = []
    shorts: list[tuple[int, Decimal]] = []
    for index in range(accounts):
        notional = rng.lognormvariate(0.0, 0.5) * NOTIONAL_MEDIAN
        quantity = max(MIN_QUANTITY, (Decimal(notional) / START).quantize(TICK))
        is_long = rng.random() < LONG_SHARE
        margins.append(Decimal(rng.uniform(*(LONG_MARGIN if is_long else SHORT_MARGIN))))
        (longs if is_long else shorts).append((index, quantity))
    # A pair trades the long's quantity; the unpaired trade with the maker.
    paired = min(len(longs), len(shorts))
    shorts[:paired] = [(short, quantity) for (short, _), (_, quantity) in zip(shorts, longs[:paired], strict=True)]
    traded = dict(longs + shorts)
    deposits = tuple(_ticks(traded[index] * START * margins[index]) for index in range(accounts))
    trades = [
        _Trade(short + 2, "Ask", long + 2, str(quantity))
        for (long, quantity), (short, _) in zip(longs[:paired], shorts[:paired], strict=True)
    ]
    trades += [_Trade(maker, "Ask", long + 2, str(quantity)) for long, quantity in longs[paired:]]
    trades += [_Trade(maker, "Bid", short + 2, str(quantity)) for short, quantity in shorts[paired:]]

    long_quantity = sum((quantity for _, quantity in longs), Decimal(0))
    depth = min(crash + LADDER_PAST_CRASH, LADDER_DEEPEST)
    levels = int((depth / LADDER_STEP).to_integral_value(ROUND_CEILING))
    per_level = max(TICK, (long_quantity * LADDER_SHARE / levels).quantize(TICK))
    ladder = tuple((_ticks(START * (1 - LADDER_STEP * level)), str(per_level)) for level in range(1, levels + 1))
    capacity = max(Decimal(1), (long_quantity * START * backstop).quantize(Decimal(1)))
    return _Workload(deposits, tuple(trades), ladder, str(capacity))


def _exchange(config: Config, workload: _Workload) -> Exchange:
    """A fresh exchange with the workload's positions, ladder and provider, its events drained (in
    batches, so that their dicts never pile up)."""
    exchange = Exchange(config)
    exchange.set_mark_price(MARKET, str(START))
    maker = exchange.open_account("maker")
    exchange.deposit(maker, "USDC", MAKER_DEPOSIT)
    provider = exchange.open_account("backstop")
    exchange.deposit(provider, "USDC", workload.backstop)
    exchange.register_backstop_provider(provider, [MARKET], workload.backstop)
    leverage = config.venue.max_leverage
    for index, deposit in enumerate(workload.deposits):
        trader = exchange.open_account(f"trader{index}")
        exchange.deposit(trader, "USDC", deposit)
        exchange.set_max_leverage(trader, leverage)
        if index % DRAIN_EVERY == 0:
            exchange.events()
    place = exchange.place_order
    price = str(START)
    for index, trade in enumerate(workload.trades):
        taker_side = "Bid" if trade.maker_side == "Ask" else "Ask"
        resting = place(trade.maker, MARKET, trade.maker_side, quantity=trade.quantity, price=price)
        taken = place(trade.taker, MARKET, taker_side, quantity=trade.quantity, price=price, time_in_force="IOC")
        if resting.status != "New" or taken.status != "Filled":
            raise AssertionError(f"the workload could not open a position: {trade} gave {resting} then {taken}")
        if index % DRAIN_EVERY == 0:
            exchange.events()
    for bid, quantity in workload.ladder:
        if place(maker, MARKET, "Bid", quantity=quantity, price=bid).status != "New":
            raise AssertionError(f"the maker's bid of {quantity} at {bid} did not rest")
    if exchange.liquidatable():
        raise AssertionError("subaccounts are liquidatable before the crash: the workload is mis-sized")
    exchange.events()
    return exchange


class _Tally:
    """Liquidation events by stage, and the subaccounts that entered liquidation."""

    def __init__(self) -> None:
        self.stages: Counter[str] = Counter()
        self.liquidated: set[int] = set()

    def add(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if event["kind"] == "Liquidation":
                self.stages[event["stage"]] += 1
                if event["stage"] == "trigger":
                    self.liquidated.add(event["account"])


def _cascade(exchange: Exchange, prices: tuple[str, ...], tally: _Tally | None) -> tuple[float, ...]:
    """Times each mark update alone. With a ``tally``, the events are drained into it after each one,
    untimed: reading them all at the end would hold millions of dicts at once. The cyclic garbage
    collector is off throughout, as in :func:`crossbook.bench.report.measure`."""
    set_mark_price, clock = exchange.set_mark_price, time.perf_counter
    seconds: list[float] = []
    collecting = gc.isenabled()
    gc.disable()
    try:
        for price in prices:
            start = clock()
            set_mark_price(MARKET, price)
            seconds.append(clock() - start)
            if tally is not None:
                tally.add(exchange.events())
    finally:
        if collecting:
            gc.enable()
    return tuple(seconds)


def _outcome(exchange: Exchange) -> CascadeOutcome:
    audit = exchange.audit()
    return CascadeOutcome(
        still_liquidating=len(exchange.liquidating()),
        negative_equity=int((exchange.margin_scan()["net_equity"] < 0).sum()),
        unbalanced=tuple(symbol for symbol, line in audit.items() if not line.balanced),
        assets=len(audit),
        state_hash=exchange.state_hash(),
    )


@dataclass(frozen=True)
class _Run:
    marks: tuple[float, ...]
    setup_seconds: float
    outcome: CascadeOutcome


def _run(config: Config, workload: _Workload, prices: tuple[str, ...], tally: _Tally | None = None) -> _Run:
    """One cascade on a fresh exchange: built untimed, the mark updates timed, the outcome read untimed."""
    start = time.perf_counter()
    exchange = _exchange(config, workload)
    setup_seconds = time.perf_counter() - start
    marks = _cascade(exchange, prices, tally)
    return _Run(marks, setup_seconds, _outcome(exchange))


def _without_liquidation(config: Config) -> Config:
    liquidation = dataclasses.replace(config.venue.liquidation, enabled=False)
    return dataclasses.replace(config, venue=dataclasses.replace(config.venue, liquidation=liquidation))


def _measurement(name: str, runs: list[_Run]) -> Measurement:
    return Measurement(name, len(runs[0].marks), tuple(sum(run.marks) for run in runs))


def _per_mark(runs: list[_Run]) -> tuple[float, ...]:
    return tuple(statistics.median(times) for times in zip(*(run.marks for run in runs), strict=True))


def run_cascade_benchmark(
    accounts: int = 100_000,
    marks: int = 60,
    crash: Decimal = Decimal("0.30"),
    repeats: int = 3,
    *,
    seed: int = 11,
    backstop: Decimal = Decimal(1),
) -> CascadeResult:
    """Times the cascade with the waterfall and with the scan alone, in turn, ``repeats`` times each;
    raises if two runs of one end in different states."""
    if not 0 < crash < 1:
        raise ValueError(f"crash is a fraction of the mark in (0, 1), got {crash}")
    if accounts < 1 or marks < 1 or repeats < 1 or backstop < 0:
        raise ValueError("accounts, marks and repeats must be at least 1 and backstop at least 0")
    prices = crash_prices(marks, crash)
    if Decimal(prices[-1]) <= 0:
        raise ValueError(f"a crash of {crash} takes the mark to {prices[-1]}")
    workload = _workload(accounts, crash, backstop, seed)
    config = Config.default()
    baseline_config = _without_liquidation(config)
    tally = _Tally()
    waterfall: list[_Run] = []
    scan_only: list[_Run] = []
    for repeat in range(repeats):
        waterfall.append(_run(config, workload, prices, tally if repeat == 0 else None))
        scan_only.append(_run(baseline_config, workload, prices))
    for runs in (waterfall, scan_only):
        if len({run.outcome for run in runs}) != 1:
            raise AssertionError(f"runs of the same cascade ended differently: {[run.outcome for run in runs]}")
    return CascadeResult(
        waterfall=_measurement(WATERFALL, waterfall),
        scan_only=_measurement(SCAN_ONLY, scan_only),
        waterfall_marks=_per_mark(waterfall),
        scan_only_marks=_per_mark(scan_only),
        accounts=accounts,
        prices=prices,
        crash=crash,
        setup_seconds=statistics.median(run.setup_seconds for run in waterfall + scan_only),
        stages=tuple((stage, tally.stages[stage]) for stage in STAGES),
        liquidated=len(tally.liquidated),
        outcome=waterfall[0].outcome,
        baseline_outcome=scan_only[0].outcome,
    )
