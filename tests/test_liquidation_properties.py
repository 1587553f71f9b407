"""Property tests of the liquidation waterfall (SPEC §9) over random portfolios and random price paths.

Hypothesis draws a :class:`Scenario`: 4-8 traders (one owner each, ids 0..n-1) with random USDC, SOL and
BTC deposits, random ``max_leverage`` (1-50) and ``auto_lend`` on or off; a market maker (id n) with a
ladder of random depth (0-4 levels a side, random spacing and size, so possibly empty or thin) on both
perps and both spot markets; optionally a backstop provider (id n+1) with random capital, markets and
capacity; perp positions opened between traders at the mark (the maker rests, the taker takes, as
``exchange_helpers.open_pair`` does) sized as a random fraction of what their margin allows; optional
BTC/SOL/USDC borrows (sometimes sold on the spot book to make a real short); then a path of 1-8 steps:
mark moves, index moves, joint index+mark moves (gaps of -60%..+60%) and ``advance_to`` steps (1 s to
1 h, so realization, funding, interest and the waterfall's later passes run).

After every step (each single ``set_mark_price`` / ``set_index_price`` / ``advance_to`` call) it asserts:

(a) **no negative equity**: ``margin(sub).net_equity >= 0`` for every subaccount;
(b) **conservation**: ``audit()[asset].balanced`` for every asset, and ``deposits`` and ``withdrawals`` of
    every asset unchanged by the step;
(c) **bystanders lose only through ADL** (price steps only). Before a price step, for each subaccount we
    compute ``floor = stress(sub, new_prices).net_equity``: its value at the new prices had nothing but
    the price changed. After the step we require ``margin(sub).net_equity >= floor`` exactly (to the
    atom) for every subaccount that is a *bystander* of the step, i.e. all of:

    - it was not liquidating before the step and its MMR was < 1 before the step (healthy before);
    - it is not liquidatable at the new prices (``stress(...).liquidatable`` is False): a subaccount that
      the move itself makes liquidatable is liquidated in the step and pays fees and slippage by design;
    - it was not the maker of any ``Fill`` in the step: a resting order filled by a liquidation's IOC at
      the maker's own limit price is a voluntary trade and can be a loss at the new mark (it rested at
      the old prices);
    - it is not the ``counterparty`` of an ``adl`` ``Liquidation`` event in the step (ADL closes at the
      bankruptcy price, worse than the mark for the counterparty: the loss the property permits);
    - it did not hold a lend of an asset *k* for which the step has a ``lender_payout`` or
      ``socialized_loss`` event of *k* (SPEC §9.5: lenders are paid in notional, and a residual is
      socialized across *k*'s lenders by design; rounding of the pro-rata payout can also cost atoms).

    Backstop providers are *not* exempt: a transfer at the mark is neutral at the new mark and the fee
    is a gain, so a provider may not end lower than its floor.

    ``advance_to`` steps are not checked by (c): funding, interest and realization legitimately move
    equity there; (a) and (b) are.
(d) **determinism**: replaying the same scenario on a fresh ``Exchange`` gives the same events and the
    same final ``state_hash()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import crossbook as cb

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
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
    leverage=st.one_of(st.integers(1, 50), st.sampled_from((1, 10, 20, 50, 50))),
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
    st.builds(
        Backstop,
        usdc=st.sampled_from((2_000, 20_000, 200_000, 2_000_000)),
        markets=st.sampled_from((PERPS, PERPS[:1], PERPS[1:])),
        capacity=st.sampled_from((1_000, 30_000, 1_000_000, 100_000_000)),
        leverage=st.sampled_from((1, 5, 10, 50)),
    ),
)
# Small moves (on-book liquidations of levered accounts), any move, and gaps (backstop, ADL, bankruptcy).
percents = st.one_of(
    st.integers(-8, 8), st.integers(-60, 60), st.sampled_from((-60, -50, -40, -30, -20, 20, 30, 40, 50, 60))
)
steps = st.one_of(
    st.tuples(st.just("mark"), st.sampled_from(PERPS), percents),
    st.tuples(st.just("index"), st.sampled_from(PRICED), percents),
    st.tuples(st.just("move"), st.sampled_from(PRICED), percents),
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
        st.one_of(st.integers(5, 100), st.sampled_from((50, 90, 100))),
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

    def commands(self, step: Step) -> list[tuple[str, str, Decimal | int]]:
        """The exchange calls one drawn step makes, each with its new price (prices compound)."""
        kind = step[0]
        if kind == "advance":
            return [("advance", "", step[1])]
        if kind == "requote":
            return [("requote", "", 0)]
        if kind == "mark":
            _, market, percent = step
            return [("mark", market, self._moved(self.marks[market], percent, DEFAULT.market(market).tick_size))]
        _, asset, percent = step
        calls: list[tuple[str, str, Decimal | int]] = [
            ("index", asset, self._moved(self.index[asset], percent, INDEX_TICK[asset]))
        ]
        if kind == "move":
            market = PERP_OF[asset]
            calls.append(("mark", market, self._moved(self.marks[market], percent, DEFAULT.market(market).tick_size)))
        return calls

    @staticmethod
    def _moved(price: Decimal, percent: int, tick: Decimal) -> Decimal:
        return max(_quantize(price * (100 + percent) / 100, tick), tick)

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

# A lender of an asset whose written-off borrow was paid out in full may lose this many atoms of it to the
# rounding of the pro-rata payout, all toward the venue (SPEC §1): the pool's total claim is floored (1), the
# lowered lend index is floored (< 1 for any holding below 10**18 shares), the lender's claim is floored
# (1), and its share of the payout is floored (1).
LENDER_ROUNDING_ATOMS = 4
# A subaccount whose debt is socialized must have nothing left (SPEC §9.5): its net equity after the step
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
    """(e) of the module docs: a loss is socialized only once the liquidated subaccount has nothing left."""
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
    """What a bystander may lose in a step (module docs, (c)): None = anything (it is excused)."""
    allowed: dict[int, Decimal | None] = {}
    paid_out: set[str] = set()
    socialized: set[str] = set()
    for item in events:
        if item["kind"] == "Fill":
            allowed[item["maker"]] = None
        elif item["kind"] == "Liquidation":
            if item["stage"] == "adl":
                allowed[item["counterparty"]] = None
            elif item["stage"] == "lender_payout":
                paid_out.add(item["asset"])
            elif item["stage"] == "socialized_loss":
                socialized.add(item["asset"])
    for sub, assets in lent_before.items():
        if sub in allowed:
            continue
        if assets & socialized:
            allowed[sub] = None
        elif assets & paid_out:
            price = {"USDC": Decimal(1), **world.index}
            allowed[sub] = sum(LENDER_ROUNDING_ATOMS * ASSET_ATOM[asset] * price[asset] for asset in assets & paid_out)
    return allowed


def run_path(world: World, record: Callable[[str], object] = event) -> list[Violation]:
    """Runs the scenario's path, checking (a)-(c) after every exchange call; returns the violations."""
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
                    stages = [
                        item for item in events if item["kind"] in {"Liquidation", "Fill", "Conversion", "Borrow"}
                    ]
                    found.append(Violation("bystander_loss", label, (sub, after, floor, stages)))
    return found


def replay(scenario: Scenario) -> World:
    world = World(scenario)
    for step in scenario.path:
        for kind, name, value in world.commands(step):
            world.apply(kind, name, value)
    return world


@SETTINGS
@given(scenarios())
def test_waterfall_leaves_no_deficit_conserves_and_spares_bystanders(scenario: Scenario) -> None:
    world = World(scenario)
    violations = run_path(world)
    assert not violations, violations[:3]
    again = replay(scenario)
    assert again.history == world.history
    assert again.ex.state_hash() == world.ex.state_hash()
