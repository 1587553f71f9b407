"""Property tests of the liquidation waterfall (SPEC §9) over random portfolios and random price paths.

Hypothesis draws a :class:`Scenario`: 4-8 traders (one owner each, ids 0..n-1) with random USDC, SOL and
BTC deposits, random ``max_leverage`` (1-50) and ``auto_lend`` on or off; a market maker (id n) with a
ladder of random depth (0-4 levels a side, random spacing and size, so possibly empty or thin) on both
perps and both spot markets; optionally a backstop provider (id n+1) with random capital, markets and
capacity; perp positions opened between traders at the mark (the maker rests, the taker takes, as
``exchange_helpers.open_pair`` does) sized as a random fraction of what their margin allows; optional
BTC/SOL/USDC borrows (a borrowed BTC or SOL is sometimes sold on the spot book: a real short); then a
path of 1-8 steps: mark moves, index moves, joint index+mark moves (small moves, and gaps of
-60%..+60%), trends (up to 30 moves of a few per mille, so that margin ratios pass through the on-book
window instead of jumping it), ``advance_to`` steps (1 s to 1 h, so realization, funding, interest and
the waterfall's later passes run) and re-quotes of the maker's ladders around the new prices.

After every exchange call of the path (each ``set_mark_price``, ``set_index_price``, ``advance_to`` or
re-quote; a joint move is two calls, a trend one per move) it checks:

(a) **no negative equity**: ``margin(sub).net_equity >= 0`` for every subaccount (SPEC §9: "no
    subaccount ends with negative net equity");
(b) **conservation**: ``audit()[asset].balanced`` for every asset, and its ``deposits`` and
    ``withdrawals`` unchanged by the call;
(c) **bystanders lose only through ADL** (price calls only). Before a price call, for each subaccount,
    ``floor = stress(sub, {the new price}).net_equity``: what it is worth at the new price had nothing
    else happened. After the call ``margin(sub).net_equity >= floor`` must hold, to the atom, for every
    *bystander*, i.e. a subaccount that

    - was not liquidating and had MMR < 1 before the call (healthy before), and
    - is not liquidatable at the new price (``stress(...)``: not ``liquidatable`` and MMR < 1) -- one that
      the move itself makes liquidatable is liquidated in the call and pays fees and slippage by design,

    unless it is excused: it was the *maker* of a ``Fill`` in the call (a resting order filled by a
    liquidation's IOC at the maker's own limit price is a voluntary trade, and one resting at the old
    prices is a loss at the new mark), or the ``counterparty`` of an ``adl`` ``Liquidation`` event (ADL
    closes at the bankruptcy price, worse than the mark: the one loss SPEC §9 imposes on bystanders), or
    it held a lend of an asset *k* with a ``socialized_loss`` event of *k* in the call (SPEC §9.5: the
    residual is socialized across *k*'s lenders). A lender of *k* with only ``lender_payout`` events of
    *k* (the written-off borrow paid in full) may lose at most :data:`LENDER_ROUNDING_ATOMS` atoms of *k*
    per payout to the payout's rounding. Backstop providers are *not* excused: a transfer at the mark is
    neutral at the new mark and the liquidation fee is a gain. ``advance_to`` calls are not checked by
    (c): funding, interest and realization legitimately move equity there.
(d) **a loss is socialized only when nothing is left** (SPEC §9.5): a subaccount named by a
    ``socialized_loss`` event ends the call with net equity <= :data:`NOTHING_LEFT`;
(e) **determinism**: replaying the scenario on a fresh ``Exchange`` gives the same events and the same
    final ``state_hash()``.

Hand-written scenarios that reach each stage (on-book for a perp and for a borrow, backstop, ADL) run
as explicit examples and in :func:`test_hand_written_scenarios_reach_their_stage`, so the generator is
known not to be vacuous. Shrinking is off (a failing scenario is printed as drawn) to keep the runtime
bounded; set ``CROSSBOOK_SHRINK=1`` to shrink a failure.

Engine bugs this property found have minimal reproductions below, kept as regression tests: an ADL
counterparty left below zero by the settlement borrow that pays its ADL loss
(:func:`test_adl_counterparty_is_not_left_below_zero`) and a loss socialized to lenders while the
liquidated subaccount keeps collateral
(:func:`test_no_loss_is_socialized_while_the_liquidated_subaccount_has_equity`); a third, a pool whose
lenders' claims were written off to zero panicking on the next lend, is pinned by the Rust test
``a_write_off_of_everything_lent_retires_the_lenders_shares_and_the_pool_takes_new_lends``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

import crossbook as cb

SETTINGS = settings(
    max_examples=600,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=tuple(Phase) if os.environ.get("CROSSBOOK_SHRINK") else (Phase.explicit, Phase.generate),
)

PERPS = ("SOL_USDC_PERP", "BTC_USDC_PERP")
SPOTS = ("SOL_USDC", "BTC_USDC")
PRICED = ("SOL", "BTC")
BASE = {"SOL_USDC_PERP": "SOL", "BTC_USDC_PERP": "BTC", "SOL_USDC": "SOL", "BTC_USDC": "BTC"}
PERP_OF = {"SOL": "SOL_USDC_PERP", "BTC": "BTC_USDC_PERP"}
SPOT_OF = {"SOL": "SOL_USDC", "BTC": "BTC_USDC"}
CENTER = {"SOL": Decimal(100), "BTC": Decimal(30000)}
# Index prices are quantized like the spot market's tick.
INDEX_TICK = {"SOL": Decimal("0.01"), "BTC": Decimal("0.1")}
# The maker's ladder: size of one level per unit of the drawn multiplier.
LADDER_UNIT = {
    "SOL_USDC_PERP": Decimal(10),
    "BTC_USDC_PERP": Decimal("0.05"),
    "SOL_USDC": Decimal(5),
    "BTC_USDC": Decimal("0.02"),
}
ASSET_ATOM = {"USDC": Decimal("0.000001"), "SOL": Decimal("0.00000001"), "BTC": Decimal("0.00000001")}
DEFAULT = cb.Config.default()

Step = tuple[Any, ...]


# ----- the scenario ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trader:
    usdc: int
    sol: int
    btc_cents: int  # hundredths of a BTC
    leverage: int
    auto_lend: bool


@dataclass(frozen=True)
class Ladder:
    levels: int
    spacing_bp: int
    size: int


@dataclass(frozen=True)
class Backstop:
    usdc: int
    markets: tuple[str, ...]
    capacity: int
    leverage: int


@dataclass(frozen=True)
class Trade:
    market: str
    long: int
    short: int
    percent: int  # of the margin the pair can commit
    maker_is_short: bool


@dataclass(frozen=True)
class Borrow:
    trader: int
    asset: str
    percent: int  # of the pool's cash
    sell: bool


@dataclass(frozen=True)
class Scenario:
    traders: tuple[Trader, ...]
    maker_usdc: int
    ladders: tuple[tuple[str, Ladder], ...]
    backstop: Backstop | None
    trades: tuple[Trade, ...]
    borrows: tuple[Borrow, ...]
    path: tuple[Step, ...]


traders = st.builds(
    Trader,
    usdc=st.one_of(st.integers(200, 50_000), st.sampled_from((500, 2_000, 10_000))),
    sol=st.one_of(st.just(0), st.just(0), st.integers(1, 50)),
    btc_cents=st.one_of(st.just(0), st.just(0), st.integers(1, 50)),
    leverage=st.one_of(st.integers(1, 50), st.sampled_from((10, 20, 50, 50, 50))),
    auto_lend=st.sampled_from((True, True, True, False)),
)
ladders = st.builds(
    Ladder,
    levels=st.integers(0, 4),
    spacing_bp=st.sampled_from((10, 50, 100, 300, 800)),
    size=st.integers(1, 20),
)
backstops = st.one_of(
    st.none(),
    st.none(),
    st.builds(
        Backstop,
        usdc=st.sampled_from((2_000, 20_000, 200_000, 2_000_000)),
        markets=st.sampled_from((PERPS, PERPS[:1], PERPS[1:])),
        capacity=st.sampled_from((1_000, 30_000, 1_000_000, 100_000_000)),
        leverage=st.sampled_from((1, 5, 10, 50)),
    ),
)
# Price moves in per mille: small moves, any move, and gaps of up to 60% (backstop, ADL, bankruptcy).
permilles = st.one_of(
    st.integers(-30, 30),
    st.integers(-120, 120),
    st.integers(-600, 600),
    st.sampled_from((-600, -500, -400, -300, -200, 200, 300, 400, 500, 600)),
)
steps = st.one_of(
    st.tuples(st.just("mark"), st.sampled_from(PERPS), permilles),
    st.tuples(st.just("index"), st.sampled_from(PRICED), permilles),
    st.tuples(st.just("move"), st.sampled_from(PRICED), permilles),
    # A trend: up to 30 moves of a few per mille each, so that margin ratios pass through the on-book window
    # (MMR between 1 and 1 / auto_close_mf_multiplier) instead of jumping over it.
    st.tuples(
        st.just("creep"),
        st.sampled_from((*PERPS, *PRICED)),
        st.integers(-5, 5).filter(bool),
        st.integers(2, 30),
    ),
    st.tuples(st.just("advance"), st.sampled_from((1_000, 10_000, 60_000, 600_000, 3_600_000))),
    st.tuples(st.just("requote")),
)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    team = tuple(draw(st.lists(traders, min_size=4, max_size=8)))
    count = len(team)
    # Two different traders: the first and another one a nonzero offset after it.
    pairs = st.tuples(st.integers(0, count - 1), st.integers(1, count - 1)).map(
        lambda pair: (pair[0], (pair[0] + pair[1]) % count)
    )
    trade = st.builds(
        lambda market, pair, percent, maker_is_short: Trade(market, pair[0], pair[1], percent, maker_is_short),
        st.sampled_from(PERPS),
        pairs,
        st.one_of(st.integers(5, 100), st.sampled_from((50, 80, 90, 95))),
        st.booleans(),
    )
    borrow = st.builds(
        Borrow,
        trader=st.integers(0, count - 1),
        asset=st.sampled_from(("BTC", "SOL", "USDC")),
        percent=st.integers(1, 90),
        sell=st.booleans(),
    )
    return Scenario(
        traders=team,
        maker_usdc=draw(st.sampled_from((20_000, 200_000, 2_000_000))),
        ladders=tuple((market, draw(ladders)) for market in (*PERPS, *SPOTS)),
        backstop=draw(backstops),
        trades=tuple(draw(st.lists(trade, min_size=1, max_size=10))),
        borrows=tuple(draw(st.lists(borrow, max_size=3))),
        path=tuple(draw(st.lists(steps, min_size=1, max_size=8))),
    )


# ----- running a scenario ----------------------------------------------------------------------------


def _quantize(value: Decimal, unit: Decimal) -> Decimal:
    return (value / unit).to_integral_value(rounding=ROUND_DOWN) * unit


@dataclass
class World:
    """An exchange built from a scenario, with the prices it set."""

    scenario: Scenario
    ex: cb.Exchange = field(init=False)
    subs: list[int] = field(init=False)
    maker: int = field(init=False)
    provider: int | None = field(init=False, default=None)
    marks: dict[str, Decimal] = field(default_factory=dict)
    index: dict[str, Decimal] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ex = cb.Exchange()
        for asset in PRICED:
            self._set_index(asset, CENTER[asset])
        for market in PERPS:
            self._set_mark(market, CENTER[BASE[market]])
        self.subs = [self._open_trader(number, trader) for number, trader in enumerate(self.scenario.traders)]
        self.maker = self.ex.open_account("maker")
        self.ex.set_max_leverage(self.maker, 20)
        self.ex.deposit(self.maker, "USDC", self.scenario.maker_usdc)
        self.ex.deposit(self.maker, "SOL", 2_000)
        self.ex.deposit(self.maker, "BTC", 10)
        backstop = self.scenario.backstop
        if backstop is not None:
            self.provider = self.ex.open_account("backstop")
            self.ex.deposit(self.provider, "USDC", backstop.usdc)
            self.ex.set_max_leverage(self.provider, backstop.leverage)
            self.ex.register_backstop_provider(self.provider, list(backstop.markets), backstop.capacity)
        self.quote()
        for trade in self.scenario.trades:
            self._trade(trade)
        for borrow in self.scenario.borrows:
            self._borrow(borrow)
        self.history.extend(self.ex.events())

    @property
    def everyone(self) -> list[int]:
        return [*self.subs, self.maker, *([] if self.provider is None else [self.provider])]

    def _open_trader(self, number: int, trader: Trader) -> int:
        sub = self.ex.open_account(f"trader{number}")
        if not trader.auto_lend:
            self.ex.set_auto_lend(sub, False)
        self.ex.set_max_leverage(sub, trader.leverage)
        self.ex.deposit(sub, "USDC", trader.usdc)
        if trader.sol:
            self.ex.deposit(sub, "SOL", trader.sol)
        if trader.btc_cents:
            self.ex.deposit(sub, "BTC", Decimal(trader.btc_cents) / 100)
        return sub

    def _set_index(self, asset: str, price: Decimal) -> None:
        self.ex.set_index_price(asset, price)
        self.index[asset] = price

    def _set_mark(self, market: str, price: Decimal) -> None:
        self.ex.set_mark_price(market, price)
        self.marks[market] = price

    def quote(self) -> None:
        """The maker (re)quotes its ladders around the current marks (perps) and index prices (spot)."""
        self.ex.cancel_all(self.maker)
        for market, ladder in self.scenario.ladders:
            self._quote(market, ladder)

    def _quote(self, market: str, ladder: Ladder) -> None:
        spec = DEFAULT.market(market)
        center = self.marks[market] if market in self.marks else self.index[BASE[market]]
        size = LADDER_UNIT[market] * ladder.size
        for level in range(1, ladder.levels + 1):
            offset = Decimal(ladder.spacing_bp * level) / 10_000
            for side, sign in (("Bid", -1), ("Ask", 1)):
                price = _quantize(center * (1 + sign * offset), spec.tick_size)
                if price > 0:
                    self.ex.place_order(self.maker, market, side, quantity=size, price=price)

    def _trade(self, trade: Trade) -> None:
        spec = DEFAULT.market(trade.market)
        price = self.marks[trade.market]
        long, short = self.subs[trade.long], self.subs[trade.short]
        available = min(self.ex.margin(long).available, self.ex.margin(short).available)
        leverage = min(self.scenario.traders[trade.long].leverage, self.scenario.traders[trade.short].leverage)
        quantity = _quantize(available * leverage * trade.percent / 100 / price, spec.step_size)
        if quantity < spec.min_quantity:
            return
        maker, taker = (short, long) if trade.maker_is_short else (long, short)
        maker_side, taker_side = ("Ask", "Bid") if trade.maker_is_short else ("Bid", "Ask")
        resting = self.ex.place_order(maker, trade.market, maker_side, quantity=quantity, price=price)
        if resting.status == "New":
            self.ex.place_order(taker, trade.market, taker_side, quantity=quantity, price=price, time_in_force="IOC")
        self.ex.cancel_all(maker, trade.market)

    def _borrow(self, borrow: Borrow) -> None:
        sub = self.subs[borrow.trader]
        cash = self.ex.pools()[borrow.asset].cash
        amount = _quantize(cash * borrow.percent / 100, ASSET_ATOM[borrow.asset])
        if amount <= 0:
            return
        try:
            self.ex.borrow(sub, borrow.asset, amount)
        except cb.CrossbookError:
            return
        if borrow.sell and borrow.asset != "USDC":
            market = SPOT_OF[borrow.asset]
            spec = DEFAULT.market(market)
            quantity = _quantize(amount, spec.step_size)
            price = _quantize(self.index[borrow.asset] * Decimal("0.95"), spec.tick_size)
            if quantity >= spec.min_quantity:
                self.ex.place_order(sub, market, "Ask", quantity=quantity, price=price, time_in_force="IOC")

    # --- the path ---

    def commands(self, step: Step) -> Iterator[tuple[str, str, Decimal | int]]:
        """The exchange calls one drawn step makes, one at a time: each new price is computed from the price
        the previous call set (moves compound)."""
        kind = step[0]
        if kind == "advance":
            yield ("advance", "", step[1])
        elif kind == "requote":
            yield ("requote", "", 0)
        elif kind == "creep":
            _, name, permille, count = step
            for _ in range(count):
                yield self._move(name, permille)
        else:
            _, name, permille = step
            yield self._move(name, permille)
            if kind == "move":
                yield self._move(PERP_OF[name], permille)

    def _move(self, name: str, permille: int) -> tuple[str, str, Decimal]:
        """A mark (perp market) or index (asset) price call moving it by ``permille``."""
        if name in self.marks:
            old, tick, kind = self.marks[name], DEFAULT.market(name).tick_size, "mark"
        else:
            old, tick, kind = self.index[name], INDEX_TICK[name], "index"
        return (kind, name, max(_quantize(old * (1000 + permille) / 1000, tick), tick))

    def apply(self, kind: str, name: str, value: Decimal | int) -> list[dict[str, Any]]:
        if kind == "advance":
            assert isinstance(value, int)
            self.ex.advance_to(self.ex.time_ms + value)
        elif kind == "requote":
            self.quote()
        elif kind == "mark":
            assert isinstance(value, Decimal)
            self._set_mark(name, value)
        else:
            assert isinstance(value, Decimal)
            self._set_index(name, value)
        events = self.ex.events()
        self.history.extend(events)
        return events


# ----- the properties --------------------------------------------------------------------------------

# A lender of an asset whose written-off borrow was paid out in full may lose this many atoms of it, per
# payout, to the rounding of the pro-rata payout, all toward the venue (SPEC §1): the pool's total claim
# is floored (1), the lowered lend index is floored (< 1 for a holding of fewer than INDEX_ONE shares),
# the lender's claim is floored (1), and its share of the payout is floored (1).
LENDER_ROUNDING_ATOMS = 4
# A subaccount whose debt is socialized must have nothing left (SPEC §9.5): its net equity after the call
# may not exceed this (USDC).
NOTHING_LEFT = Decimal("0.01")


@dataclass(frozen=True)
class Violation:
    kind: str  # negative_equity, unbalanced, deposits_changed, bystander_loss, socialized_with_equity
    step: tuple[str, str, Decimal | int]
    detail: Any


def liquidation_steps(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events worth showing in a failure: liquidation stages and what moved balances."""
    return [item for item in events if item["kind"] in {"Liquidation", "Fill", "Conversion", "Borrow"}]


def solvency_and_conservation(
    world: World, deposits: dict[str, tuple[Decimal, Decimal]], label: Any, events: list[dict[str, Any]]
) -> list[Violation]:
    """(a) and (b) of the module docs."""
    ex = world.ex
    found = []
    for sub in world.everyone:
        margin = ex.margin(sub)
        if margin.net_equity < 0:
            found.append(Violation("negative_equity", label, (sub, margin, liquidation_steps(events))))
    for asset, line in ex.audit().items():
        if not line.balanced:
            found.append(Violation("unbalanced", label, (asset, line)))
        if (line.deposits, line.withdrawals) != deposits[asset]:
            found.append(Violation("deposits_changed", label, (asset, line)))
    return found


def socialized_only_when_nothing_is_left(world: World, label: Any, events: list[dict[str, Any]]) -> list[Violation]:
    """(d) of the module docs: a loss is socialized only once the liquidated subaccount has nothing left."""
    found = []
    for sub in sorted({item["account"] for item in events if item.get("stage") == "socialized_loss"}):
        margin = world.ex.margin(sub)
        if margin.net_equity > NOTHING_LEFT:
            detail = (sub, margin, world.ex.balances(sub), liquidation_steps(events))
            found.append(Violation("socialized_with_equity", label, detail))
    return found


def allowances(
    world: World, events: list[dict[str, Any]], lent_before: dict[int, set[str]]
) -> dict[int, Decimal | None]:
    """What each bystander may lose in one call (module docs, (c)); None: anything (it is excused)."""
    allowed: dict[int, Decimal | None] = {}
    paid_out: Counter[str] = Counter()  # lender payouts per asset: each may round against every lender
    socialized: set[str] = set()
    for item in events:
        if item["kind"] == "Fill":
            allowed[item["maker"]] = None
        elif item["kind"] == "Liquidation":
            if item["stage"] == "adl":
                allowed[item["counterparty"]] = None
            elif item["stage"] == "lender_payout":
                paid_out[item["asset"]] += 1
            elif item["stage"] == "socialized_loss":
                socialized.add(item["asset"])
    for sub, assets in lent_before.items():
        if sub in allowed:
            continue
        if assets & socialized:
            allowed[sub] = None
        elif assets & set(paid_out):
            price = {"USDC": Decimal(1), **world.index}
            allowed[sub] = sum(
                paid_out[asset] * LENDER_ROUNDING_ATOMS * ASSET_ATOM[asset] * price[asset] for asset in assets
            )
    return allowed


def run_path(world: World, record: Callable[[str], object] = event) -> list[Violation]:
    """Runs the scenario's path, checking (a)-(d) after every exchange call; returns the violations."""
    ex = world.ex
    deposits = {asset: (line.deposits, line.withdrawals) for asset, line in ex.audit().items()}
    found = solvency_and_conservation(world, deposits, ("setup", "", 0), [])
    for step in world.scenario.path:
        for label in world.commands(step):
            kind, name, value = label
            floors: dict[int, Decimal] = {}
            lent_before: dict[int, set[str]] = {}
            if kind in {"mark", "index"}:
                liquidating = set(ex.liquidating())
                for sub in world.everyone:
                    stressed = ex.stress(sub, {name: value})
                    lent_before[sub] = {asset for asset, balance in ex.balances(sub).items() if balance.lent > 0}
                    healthy = sub not in liquidating and ex.margin(sub).mmr < 1
                    if healthy and not stressed.liquidatable and stressed.mmr < 1:
                        floors[sub] = stressed.net_equity
            events = world.apply(kind, name, value)
            for item in events:
                if item["kind"] == "Liquidation":
                    record(f"stage {item['stage']}")
            found += solvency_and_conservation(world, deposits, label, events)
            found += socialized_only_when_nothing_is_left(world, label, events)
            allowed = allowances(world, events, lent_before)
            for sub, floor in floors.items():
                allowance = allowed.get(sub, Decimal(0))
                after = ex.margin(sub).net_equity
                if allowance is not None and after < floor - allowance:
                    found.append(Violation("bystander_loss", label, (sub, after, floor, liquidation_steps(events))))
    return found


def replay(scenario: Scenario) -> World:
    world = World(scenario)
    for step in scenario.path:
        for kind, name, value in world.commands(step):
            world.apply(kind, name, value)
    return world


# ----- hand-written scenarios, one per stage ----------------------------------------------------------

_NO_LADDER = Ladder(levels=0, spacing_bp=10, size=1)
_NO_LADDERS = tuple((market, _NO_LADDER) for market in (*PERPS, *SPOTS))
# Trader 0 is a 50x SOL long of 45,000 USDC notional on 1,000 USDC (MMR about 0.62); trader 1 is short.
_LEVERED = (
    Trader(usdc=1_000, sol=0, btc_cents=0, leverage=50, auto_lend=True),
    Trader(usdc=10_000, sol=0, btc_cents=0, leverage=50, auto_lend=True),
    Trader(usdc=1_000, sol=0, btc_cents=0, leverage=10, auto_lend=True),
    Trader(usdc=1_000, sol=0, btc_cents=0, leverage=10, auto_lend=False),
)
_LONG_SOL = (Trade(market="SOL_USDC_PERP", long=0, short=1, percent=90, maker_is_short=True),)
# Price moves are in per mille, as in the generated paths.
STAGE_SCENARIOS = {
    # -1%: MMR about 1.15, a deep ladder next to the mark takes the reduce-only IOCs.
    "on_book": Scenario(
        traders=_LEVERED,
        maker_usdc=2_000_000,
        ladders=(("SOL_USDC_PERP", Ladder(levels=4, spacing_bp=10, size=20)), *_NO_LADDERS[1:]),
        backstop=None,
        trades=_LONG_SOL,
        borrows=(),
        path=(("mark", "SOL_USDC_PERP", -10), ("advance", 60_000)),
    ),
    # The same, with an empty book: the first loop fills nothing and a provider takes the position.
    "backstop": Scenario(
        traders=_LEVERED,
        maker_usdc=20_000,
        ladders=_NO_LADDERS,
        backstop=Backstop(usdc=2_000_000, markets=PERPS, capacity=100_000_000, leverage=10),
        trades=_LONG_SOL,
        borrows=(),
        path=(("mark", "SOL_USDC_PERP", -10), ("mark", "SOL_USDC_PERP", -10)),
    ),
    # -5% bankrupts trader 0 and nobody else takes the position: ADL against trader 1.
    "adl": Scenario(
        traders=_LEVERED,
        maker_usdc=20_000,
        ladders=_NO_LADDERS,
        backstop=None,
        trades=_LONG_SOL,
        borrows=(),
        path=(("mark", "SOL_USDC_PERP", -50), ("advance", 3_600_000)),
    ),
    # Trader 1 borrows 0.084 BTC and sells it; BTC +60% then +11% takes its MMR to about 1.46, and the
    # on-book loop buys BTC back on the spot book to repay.
    "on_book borrow": Scenario(
        traders=(_LEVERED[2], Trader(usdc=2_000, sol=0, btc_cents=0, leverage=10, auto_lend=True), *_LEVERED[2:]),
        maker_usdc=20_000,
        ladders=(*_NO_LADDERS[:3], ("BTC_USDC", Ladder(levels=4, spacing_bp=50, size=20))),
        backstop=None,
        trades=(),
        borrows=(Borrow(trader=1, asset="BTC", percent=1, sell=True),),
        path=(("index", "BTC", 600), ("index", "BTC", 110)),
    ),
}


@SETTINGS
@example(STAGE_SCENARIOS["on_book"])
@example(STAGE_SCENARIOS["backstop"])
@example(STAGE_SCENARIOS["adl"])
@example(STAGE_SCENARIOS["on_book borrow"])
@given(scenarios())
# Found by this test: a liquidated subaccount's own USDC lend stuck in a pool that its ADL counterparties'
# settlement borrows had drained, while its USDC shortfall was socialized.
@example(
    scenario=Scenario(
        traders=(
            Trader(
                usdc=10000,
                sol=0,
                btc_cents=0,
                leverage=50,
                auto_lend=True,
            ),
            Trader(usdc=2000, sol=32, btc_cents=26, leverage=15, auto_lend=True),
            Trader(usdc=10000, sol=0, btc_cents=0, leverage=29, auto_lend=True),
            Trader(usdc=1919, sol=0, btc_cents=35, leverage=19, auto_lend=False),
            Trader(usdc=500, sol=19, btc_cents=0, leverage=16, auto_lend=True),
            Trader(usdc=1064, sol=0, btc_cents=11, leverage=9, auto_lend=False),
            Trader(usdc=10000, sol=0, btc_cents=0, leverage=35, auto_lend=False),
            Trader(usdc=10000, sol=0, btc_cents=18, leverage=10, auto_lend=True),
        ),
        maker_usdc=20000,
        ladders=(
            ("SOL_USDC_PERP", Ladder(levels=1, spacing_bp=10, size=20)),
            ("BTC_USDC_PERP", Ladder(levels=0, spacing_bp=10, size=14)),
            ("SOL_USDC", Ladder(levels=0, spacing_bp=10, size=3)),
            ("BTC_USDC", Ladder(levels=0, spacing_bp=100, size=1)),
        ),
        backstop=None,
        trades=(
            Trade(market="BTC_USDC_PERP", long=4, short=2, percent=42, maker_is_short=False),
            Trade(market="BTC_USDC_PERP", long=7, short=4, percent=90, maker_is_short=False),
            Trade(market="SOL_USDC_PERP", long=3, short=4, percent=86, maker_is_short=True),
            Trade(market="SOL_USDC_PERP", long=2, short=4, percent=50, maker_is_short=True),
            Trade(market="SOL_USDC_PERP", long=6, short=3, percent=50, maker_is_short=True),
            Trade(market="BTC_USDC_PERP", long=1, short=6, percent=58, maker_is_short=True),
            Trade(market="SOL_USDC_PERP", long=1, short=2, percent=90, maker_is_short=False),
            Trade(market="SOL_USDC_PERP", long=5, short=6, percent=12, maker_is_short=False),
        ),
        borrows=(
            Borrow(trader=3, asset="USDC", percent=84, sell=False),
            Borrow(trader=4, asset="BTC", percent=4, sell=True),
            Borrow(trader=6, asset="BTC", percent=28, sell=True),
        ),
        path=(
            ("index", "SOL", -22),
            ("move", "SOL", 200),
            ("advance", 10000),
            ("move", "SOL", 247),
            ("move", "SOL", 24),
            ("mark", "SOL_USDC_PERP", -120),
            ("mark", "SOL_USDC_PERP", 6),
            ("creep", "BTC_USDC_PERP", -5, 27),
        ),
    ),
)
# Found by this test: a loss socialized onto the lenders left one of them (a leveraged lender whose id
# came before the liquidated subaccount's) below zero and liquidatable, unvisited in that call.
@example(
    scenario=Scenario(
        traders=(
            Trader(usdc=502, sol=37, btc_cents=0, leverage=50, auto_lend=True),
            Trader(usdc=200, sol=0, btc_cents=0, leverage=2, auto_lend=True),
            Trader(usdc=500, sol=42, btc_cents=37, leverage=50, auto_lend=False),
            Trader(usdc=5621, sol=0, btc_cents=22, leverage=17, auto_lend=True),
        ),
        maker_usdc=20000,
        ladders=(
            ("SOL_USDC_PERP", Ladder(levels=1, spacing_bp=100, size=17)),
            ("BTC_USDC_PERP", Ladder(levels=1, spacing_bp=100, size=17)),
            ("SOL_USDC", Ladder(levels=2, spacing_bp=300, size=7)),
            ("BTC_USDC", Ladder(levels=1, spacing_bp=50, size=17)),
        ),
        backstop=None,
        trades=(
            Trade(market="SOL_USDC_PERP", long=3, short=0, percent=50, maker_is_short=True),
            Trade(market="SOL_USDC_PERP", long=3, short=0, percent=97, maker_is_short=True),
            Trade(market="SOL_USDC_PERP", long=1, short=0, percent=15, maker_is_short=False),
            Trade(market="SOL_USDC_PERP", long=2, short=0, percent=67, maker_is_short=True),
            Trade(market="BTC_USDC_PERP", long=0, short=3, percent=77, maker_is_short=False),
            Trade(market="SOL_USDC_PERP", long=1, short=3, percent=45, maker_is_short=True),
            Trade(market="SOL_USDC_PERP", long=1, short=0, percent=78, maker_is_short=False),
            Trade(market="SOL_USDC_PERP", long=2, short=1, percent=50, maker_is_short=True),
            Trade(market="SOL_USDC_PERP", long=2, short=0, percent=97, maker_is_short=True),
            Trade(market="SOL_USDC_PERP", long=2, short=0, percent=54, maker_is_short=True),
        ),
        borrows=(),
        path=(
            ("mark", "SOL_USDC_PERP", -400),
            ("requote",),
            ("requote",),
            ("advance", 1000),
            ("index", "BTC", -400),
            ("move", "BTC", -25),
            ("requote",),
        ),
    ),
)
def test_waterfall_leaves_no_deficit_conserves_and_spares_bystanders(scenario: Scenario) -> None:
    world = World(scenario)
    violations = run_path(world)
    assert not violations, violations[:3]
    again = replay(scenario)
    assert again.history == world.history
    assert again.ex.state_hash() == world.ex.state_hash()


# What each hand-written scenario must produce: a Liquidation event with these fields.
EXPECTED_STAGE = {
    "on_book": {"stage": "on_book", "market": "SOL_USDC_PERP"},
    "backstop": {"stage": "backstop", "market": "SOL_USDC_PERP"},
    "adl": {"stage": "adl", "market": "SOL_USDC_PERP"},
    "on_book borrow": {"stage": "on_book", "market": "BTC_USDC", "asset": "BTC"},
}


@pytest.mark.parametrize("name", sorted(STAGE_SCENARIOS))
def test_hand_written_scenarios_reach_their_stage(name: str) -> None:
    """The properties hold on each hand-written scenario, and it reaches the stage it was written for."""
    world = World(STAGE_SCENARIOS[name])
    assert not [item for item in world.history if item["kind"] == "Liquidation"]  # nothing before the path
    violations = run_path(world, lambda _: None)
    assert not violations, violations
    expected = EXPECTED_STAGE[name]
    reached = [
        item
        for item in world.history
        if item["kind"] == "Liquidation" and all(item[key] == value for key, value in expected.items())
    ]
    assert reached, [item for item in world.history if item["kind"] == "Liquidation"]


# ----- minimal reproductions of the engine bugs the property found -------------------------------------


def _exchange() -> cb.Exchange:
    ex = cb.Exchange()
    ex.set_index_price("SOL", "100")
    ex.set_index_price("BTC", "30000")
    ex.set_mark_price("SOL_USDC_PERP", "100")
    ex.set_mark_price("BTC_USDC_PERP", "30000")
    return ex


def _pair(ex: cb.Exchange, market: str, quantity: str, price: str, *, long: int, short: int) -> None:
    assert ex.place_order(short, market, "Ask", quantity=quantity, price=price).status == "New"
    assert ex.place_order(long, market, "Bid", quantity=quantity, price=price).status == "Filled"


def _short_liquidated_with_a_drained_pool() -> tuple[cb.Exchange, dict[str, int], list[dict[str, Any]]]:
    """A 10x SOL short with 200 USDC and 0.03 BTC (both lent), an empty book and no provider: +12% takes
    its MMR to 1.004 and ADL closes it at the bankruptcy price. Paying the loss redeems its USDC and
    borrows all the USDC pool's cash (796.10), which is not enough: its USDC holding goes below zero.
    Settling its debts converts its BTC to cover both."""
    ex = _exchange()
    lender = ex.open_account("lender")
    ex.deposit(lender, "USDC", "600")
    short = ex.open_account("short")
    long = ex.open_account("long")
    for sub in (short, long):
        ex.deposit(sub, "USDC", "200")
        ex.deposit(sub, "BTC", "0.03")
    _pair(ex, "SOL_USDC_PERP", "78", "100", long=long, short=short)
    ex.events()
    ex.set_mark_price("SOL_USDC_PERP", "112")
    return ex, {"lender": lender, "short": short, "long": long}, ex.events()


def test_adl_counterparty_is_not_left_below_zero() -> None:
    ex = _exchange()
    lender = ex.open_account("lender")
    ex.deposit(lender, "USDC", "100000")
    borrower = ex.open_account("borrower")  # a voluntary borrow sets the pool's rate: entry fees are > 0
    ex.deposit(borrower, "BTC", "1")
    ex.borrow(borrower, "USDC", "5000")
    whale = ex.open_account("whale")
    ex.deposit(whale, "USDC", "100000")
    bankrupt = ex.open_account("bankrupt")
    ex.deposit(bankrupt, "USDC", "1500")
    counterparty = ex.open_account("counterparty")
    ex.deposit(counterparty, "USDC", "1000")
    for sub in (bankrupt, counterparty):
        ex.set_max_leverage(sub, 50)
    # The counterparty is short 1 BTC against the bankrupt's long, and short 100 SOL against the whale.
    _pair(ex, "BTC_USDC_PERP", "1", "30000", long=bankrupt, short=counterparty)
    _pair(ex, "SOL_USDC_PERP", "300", "100", long=bankrupt, short=whale)
    _pair(ex, "SOL_USDC_PERP", "100", "100", long=whale, short=counterparty)
    ex.events()
    # SOL -60%: the bankrupt is 16,500 short; its BTC long (the largest MM) goes first to the counterparty,
    # whose equity (1,000 USDC + 6,000 unrealized on SOL) caps what it gives up. It realizes a 7,000 loss on
    # BTC, paid from its 1,000 USDC and a 6,000 USDC settlement borrow with an entry fee.
    ex.set_mark_price("SOL_USDC_PERP", "40")
    events = ex.events()
    assert any(item.get("stage") == "adl" and item["counterparty"] == counterparty for item in events)
    # Uncapped for the borrow's entry fee, it ended at -0.004281 USDC.
    assert ex.margin(counterparty).net_equity >= 0


def test_no_loss_is_socialized_while_the_liquidated_subaccount_has_equity() -> None:
    ex, subs, events = _short_liquidated_with_a_drained_pool()
    assert [item["stage"] for item in events if item["kind"] == "Liquidation"] == ["trigger", "adl", "ended"]
    # Its BTC (redeemed and converted) repays the settlement borrow: nothing is written off or socialized,
    # the lender keeps its 600, and the short keeps the BTC that was not needed.
    assert ex.balances(subs["lender"])["USDC"].lent == Decimal("600")
    assert ex.balances(subs["short"])["USDC"].borrowed == 0
    assert ex.margin(subs["short"]).net_equity > 0
    assert ex.pools()["USDC"].borrowed == 0
    assert all(line.balanced for line in ex.audit().values())
