"""Property tests of ``crossbook.Exchange`` over generated command sequences.

Hypothesis draws sequences of deposits, withdrawals, transfers (within and across owners), leverage
changes (valid and not), spot and perp orders of every kind (limit/market, GTC/IOC/FOK, post-only,
reduce-only, quote-sized, every self-trade mode), cancels of live, dead, foreign and never-issued ids,
cancel-alls, index and mark moves and clock moves, for five subaccounts of three owners, plus outright bad
input. A :class:`Runner` applies them and keeps two independent views of the state:

- a ledger of every subaccount's holdings rebuilt from the events alone (deposits, withdrawals, transfers,
  fills with their fees and realized PnL, PnL realization ticks, and the settlement chain's redemptions,
  borrows and conversions), and
- the prices it set, for the plain-Python reference of SPEC §4-5 in :func:`reference_margin`.

Properties: (a) conservation — after every command each asset of ``audit()`` is ``balanced``,
``held + pool cash + fees + liquidation fund + PnL clearing + conversions == deposits - withdrawals``
holds, and the event ledger,
the fee events and the positions agree with it; (b) isolation — a command changes the ``balances()``,
``positions()`` (and, for non-price commands, ``margin()``) of no subaccount that neither the command nor
its events name; (c) determinism — a replay on a fresh exchange gives the same results, events and
``state_hash()`` after every command; (d) every refused command (an exception) leaves ``state_hash()``
unchanged and emits nothing; (e) ``margin_scan()`` agrees with the reference (tolerances documented on
:func:`check_against_reference`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import crossbook as cb
from crossbook.config import Config, MarginFunction
from exchange_helpers import no_auto_lend, no_liquidation, zero_fee_config

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

USDC_UNIT = 10**6
OWNERS = ("alice", "bob", "carol")
# Subaccount ids are dense in opening order: the three mains, then alice's and bob's second subaccounts.
SUBACCOUNTS = (0, 1, 2, 3, 4)
OWNER_OF = {0: "alice", 1: "bob", 2: "carol", 3: "alice", 4: "bob"}
UNKNOWN_SUBACCOUNT = 7
ASSETS = ("USDC", "SOL", "BTC")
PRICED = ("SOL", "BTC")
PERPS = ("SOL_USDC_PERP", "BTC_USDC_PERP")
MARKETS = ("SOL_USDC", "BTC_USDC", *PERPS)
CENTER = {"SOL": Decimal(100), "BTC": Decimal(30000)}
# Deposits at the start: (alice and bob, carol, the second subaccounts). Carol is the market maker.
FUNDING = {
    "USDC": ("20000", "300000", "3000"),
    "SOL": ("20", "100", "5"),
    "BTC": ("0.1", "1", "0.02"),
}
# Carol's quotes at the start: three levels each side, this size each (perps deep enough to strain margin).
LADDER = {"SOL_USDC": "5", "BTC_USDC": "0.01", "SOL_USDC_PERP": "200", "BTC_USDC_PERP": "1"}

Command = tuple[Any, ...]
DEFAULT = Config.default()


# ----- command strategies ----------------------------------------------------------------------------

subaccounts = st.sampled_from(SUBACCOUNTS)
maybe_unknown_subaccount = st.sampled_from((*SUBACCOUNTS, *SUBACCOUNTS, UNKNOWN_SUBACCOUNT))
BAD_AMOUNTS = ("0", "-1", "0.000000001", "NaN", "inf", "1e400", "abc")


def _amount(asset: str) -> st.SearchStrategy[str]:
    scale = {"USDC": (2, 3_000_000), "SOL": (2, 20_000), "BTC": (5, 100_000)}[asset]
    places, top = scale
    good = st.integers(1, top).map(lambda value: str(Decimal(value).scaleb(-places)))
    return st.one_of(good, good, good, good, good, good, good, st.sampled_from(BAD_AMOUNTS))


@st.composite
def asset_amounts(draw: st.DrawFn) -> tuple[str, str]:
    asset = draw(st.sampled_from(ASSETS))
    return asset, draw(_amount(asset))


@st.composite
def orders(draw: st.DrawFn) -> Command:
    market = draw(st.sampled_from(MARKETS))
    spec = DEFAULT.market(market)
    base = market.split("_")[0]
    side = draw(st.sampled_from(("Bid", "Ask")))
    order_type = draw(st.sampled_from(("Limit", "Limit", "Market")))
    # Mostly small orders, sometimes ones large enough to strain margin (up to 800 SOL or 4 BTC).
    large = {"SOL_USDC": 2_000, "BTC_USDC": 2_000, "SOL_USDC_PERP": 80_000, "BTC_USDC_PERP": 40_000}[market]
    lots = draw(st.one_of(st.integers(1, 100), st.sampled_from((large // 20, large // 8, large // 3, large))))
    quantity: str | None = str(spec.step_size * lots)
    quote: str | None = None
    price: str | None = None
    if order_type == "Limit":
        # 21 price levels within 1% of the center, so that orders cross and queue all the time.
        permille = draw(st.integers(-10, 10))
        price = str((CENTER[base] * (1000 + permille) / 1000).quantize(spec.tick_size))
    elif market in {"SOL_USDC", "BTC_USDC"} and side == "Bid" and draw(st.booleans()):
        quantity, quote = None, str(Decimal(draw(st.integers(1, 500_000))).scaleb(-2))
    tif = draw(st.sampled_from(("GTC", "GTC", "IOC", "FOK")))
    post_only = order_type == "Limit" and draw(st.integers(0, 4)) == 0
    reduce_only = market in PERPS and draw(st.integers(0, 3)) == 0
    stp = draw(st.sampled_from(("RejectTaker", "RejectMaker", "RejectBoth", "Allow")))
    sub = draw(maybe_unknown_subaccount)
    return ("order", sub, market, side, order_type, quantity, price, quote, tif, post_only, reduce_only, stp)


def _price_command(draw: st.DrawFn) -> Command:
    # Small moves and crashes or squeezes alike, so that accounts become liquidatable or go bankrupt.
    percent = draw(st.one_of(st.integers(97, 103), st.sampled_from((40, 60, 80, 90, 95, 105, 110, 125, 150, 200))))
    if draw(st.booleans()):
        asset = draw(st.sampled_from(PRICED))
        return ("index", asset, str(CENTER[asset] * percent / 100))
    market = draw(st.sampled_from(PERPS))
    base = market.split("_")[0]
    tick = DEFAULT.market(market).tick_size
    mark = (CENTER[base] * (100 * percent + draw(st.integers(-99, 99))) / 10000).quantize(tick)
    return ("mark", market, str(mark))


@st.composite
def commands(draw: st.DrawFn) -> Command:
    kind = draw(
        st.sampled_from(
            (
                "deposit",
                "withdraw",
                "transfer",
                "leverage",
                "order",
                "order",
                "order",
                "order",
                "order",
                "order",
                "cancel",
                "cancel",
                "cancel_all",
                "price",
                "price",
                "advance",
                "bad",
            )
        )
    )
    if kind in {"deposit", "withdraw"}:
        asset, amount = draw(asset_amounts())
        return (kind, draw(maybe_unknown_subaccount), asset, amount)
    if kind == "transfer":
        asset, amount = draw(asset_amounts())
        source = draw(maybe_unknown_subaccount)
        # Never to itself: a self-transfer is refused (tested in test_exchange_examples.py).
        destination = draw(subaccounts.filter(lambda sub: sub != source))
        return ("transfer", source, destination, asset, amount)
    if kind == "leverage":
        leverage = draw(st.one_of(st.sampled_from((1, 2, 5, 10, 20, 25, 50, 50)), st.integers(-1, 52)))
        return ("leverage", draw(maybe_unknown_subaccount), leverage)
    if kind == "order":
        return draw(orders())
    if kind == "cancel":
        reference = draw(st.one_of(st.integers(0, 50), st.just(-1)))
        return ("cancel", draw(subaccounts), draw(st.sampled_from(MARKETS)), reference)
    if kind == "cancel_all":
        return ("cancel_all", draw(subaccounts), draw(st.one_of(st.none(), st.sampled_from(MARKETS))))
    if kind == "price":
        return _price_command(draw)
    if kind == "advance":
        return ("advance", draw(st.integers(-2_000, 30_000)))
    return ("bad", draw(st.integers(0, len(BAD_CALLS) - 1)), draw(subaccounts))


command_lists = st.lists(commands(), min_size=10, max_size=60)

# Run first by every property: a 50x long that a crash makes liquidatable and bankrupt, closed at a loss
# beyond its USDC (a debt, valued as a liability), then a refused withdrawal and an accepted transfer.
STRESS = [
    ("order", 3, "SOL_USDC_PERP", "Bid", "Limit", "600", "100.3", None, "GTC", False, False, "RejectTaker"),
    ("mark", "SOL_USDC_PERP", "93"),
    ("cancel_all", 2, "SOL_USDC_PERP"),
    ("order", 1, "SOL_USDC_PERP", "Bid", "Limit", "600", "90", None, "GTC", False, False, "RejectTaker"),
    ("order", 3, "SOL_USDC_PERP", "Ask", "Market", "600", None, None, "IOC", False, True, "RejectTaker"),
    ("index", "SOL", "60"),
    ("withdraw", 3, "SOL", "1"),
    ("transfer", 0, 3, "USDC", "100"),
    ("mark", "SOL_USDC_PERP", "60"),
    ("order", 1, "SOL_USDC_PERP", "Bid", "Market", "1", None, None, "FOK", False, True, "Allow"),
    ("bad", 0, 3),
]
configs = st.sampled_from(("default", "zero_fee"))

WRONG_TYPE: Any = None  # an argument of the wrong type, passed on purpose
# Misuse that must raise: each takes (exchange, subaccount).
BAD_CALLS: tuple[Callable[[cb.Exchange, int], Any], ...] = (
    lambda ex, sub: ex.deposit(sub, "DOGE", "1"),
    lambda ex, sub: ex.place_order(sub, "DOGE_USDC", "Bid", quantity="1", price="1"),
    lambda ex, sub: ex.place_order(sub, "SOL_USDC_PERP", "Bid", quantity="1", price="100.001"),
    lambda ex, sub: ex.place_order(sub, "SOL_USDC_PERP", "Bid", quantity="0.001", price="100"),
    lambda ex, sub: ex.place_order(sub, "SOL_USDC", "Bid", order_type="Market", quantity="1", quote_quantity="1"),
    lambda ex, sub: ex.place_order(sub, "SOL_USDC", "Bid", quantity="1", price="100", reduce_only=True),
    lambda ex, sub: ex.deposit(sub, "USDC", True),
    lambda ex, sub: ex.withdraw(sub, "USDC", WRONG_TYPE),
    lambda ex, sub: ex.set_index_price("USDC", "1"),
    lambda ex, sub: ex.set_mark_price("SOL_USDC", "100"),
    lambda ex, sub: ex.advance_to(ex.time_ms - 1),
    lambda ex, sub: ex.open_account(OWNER_OF[sub]),
    lambda ex, sub: ex.open_subaccount("alice" if sub % 2 == 0 else "bob", "second"),
    lambda ex, sub: ex.open_subaccount("nobody", "x"),
    lambda ex, sub: ex.cancel_order(sub, "SOL_USDC", 10**9),
    lambda ex, sub: ex.transfer(sub, 99, "USDC", "1"),
)


# ----- the runner ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one command did: the exception type if refused, else a summary of its result."""

    refused: str | None
    result: Any
    events: list[dict[str, Any]]
    named: set[int]
    price_move: bool


@dataclass
class Runner:
    """An exchange with the state the properties need to check it (see the module docs)."""

    config_name: str
    ex: cb.Exchange = field(init=False)
    issued: dict[str, list[int]] = field(default_factory=lambda: {market: [] for market in MARKETS})
    index: dict[str, Decimal] = field(default_factory=lambda: {"USDC": Decimal(1)})
    marks: dict[str, Decimal] = field(default_factory=dict)
    ledger: defaultdict[tuple[int, str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    fees: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Auto-lend off: the ledger and the reference read holdings as free + locked (lends are tested
        # in test_lending*.py).
        # The waterfall off: these properties model trading and margin; test_liquidation*.py model liquidation.
        config = no_liquidation(no_auto_lend(Config.default() if self.config_name == "default" else zero_fee_config()))
        self.ex = cb.Exchange(config)
        for owner in OWNERS:
            self.ex.open_account(owner)
        for owner in OWNERS[:2]:
            self.ex.open_subaccount(owner, "second")
        for sub in SUBACCOUNTS:
            for asset, (main, maker, second) in FUNDING.items():
                self.ex.deposit(sub, asset, maker if sub == 2 else main if sub < len(OWNERS) else second)
        # The second subaccounts trade with high leverage, so that margin binds and marks can ruin them.
        self.ex.set_max_leverage(3, 50)
        self.ex.set_max_leverage(4, 20)
        self.ex.set_index_price("SOL", "100")
        self.ex.set_index_price("BTC", "30000")
        self.index.update({"SOL": Decimal(100), "BTC": Decimal(30000)})
        # SOL's perp gets a mark of its own; BTC's derives from the BTC index and book until a mark is set.
        self.ex.set_mark_price("SOL_USDC_PERP", "100")
        # Carol quotes three levels each side of every market, so that takers find liquidity.
        for market in MARKETS:
            spec = self.config.market(market)
            center, size = CENTER[spec.base], LADDER[market]
            for permille in (1, 2, 3):
                for side, sign in (("Bid", -1), ("Ask", 1)):
                    price = (center * (1000 + sign * permille) / 1000).quantize(spec.tick_size)
                    result = self.ex.place_order(2, market, side, quantity=size, price=price)
                    assert result.status == "New" and result.order_id is not None, (market, side, result)
                    self.issued[market].append(result.order_id)
        self._record(self.ex.events())

    @property
    def config(self) -> Config:
        return self.ex.config

    # --- applying commands ---

    def apply(self, command: Command) -> Outcome:
        kind = command[0]
        named: set[int] = set()
        try:
            result = self._dispatch(command, named)
        except cb.CrossbookError as error:
            events = self.ex.events()
            self._record(events)
            return Outcome(type(error).__name__, None, events, named, kind in {"index", "mark"})
        events = self.ex.events()
        self._record(events)
        return Outcome(None, result, events, named, kind in {"index", "mark"})

    def _dispatch(self, command: Command, named: set[int]) -> Any:
        ex = self.ex
        kind, *args = command
        if kind in {"deposit", "withdraw"}:
            sub, asset, amount = args
            named.add(sub)
            return (ex.deposit if kind == "deposit" else ex.withdraw)(sub, asset, amount)
        if kind == "transfer":
            source, destination, asset, amount = args
            named.update((source, destination))
            return ex.transfer(source, destination, asset, amount)
        if kind == "leverage":
            sub, leverage = args
            named.add(sub)
            return ex.set_max_leverage(sub, leverage)
        if kind == "order":
            return self._order(args, named)
        if kind == "cancel":
            sub, market, reference = args
            named.add(sub)
            ids = self.issued[market]
            order_id = ids[reference % len(ids)] if ids and reference >= 0 else 10**6
            return ex.cancel_order(sub, market, order_id)
        if kind == "cancel_all":
            sub, market = args
            named.add(sub)
            return ex.cancel_all(sub, market)
        if kind == "index":
            asset, price = args
            ex.set_index_price(asset, price)
            self.index[asset] = Decimal(price)
            return None
        if kind == "mark":
            market, price = args
            ex.set_mark_price(market, price)
            return None
        if kind == "advance":
            (delta,) = args
            return ex.advance_to(ex.time_ms + delta)
        bad, sub = args
        named.add(sub)
        return BAD_CALLS[bad](ex, sub)

    def _order(self, args: list[Any], named: set[int]) -> Any:
        sub, market, side, order_type, quantity, price, quote, tif, post_only, reduce_only, stp = args
        named.add(sub)
        result = self.ex.place_order(
            sub,
            market,
            side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            quote_quantity=quote,
            time_in_force=tif,
            post_only=post_only,
            reduce_only=reduce_only,
            self_trade_prevention=stp,
        )
        if result.order_id is not None:
            self.issued[market].append(result.order_id)
        fills = tuple((fill.price, fill.quantity, fill.fee, fill.liquidity) for fill in result.fills)
        return (result.order_id, result.status, result.reject_reason, result.filled, result.remaining, fills)

    # --- the event ledger ---

    def _record(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            self.history.append(event)
            self._post(event)

    def _post(self, event: dict[str, Any]) -> None:
        kind = event["kind"]
        if kind == "Deposit":
            self.ledger[event["account"], event["asset"]] += Decimal(event["amount"])
        elif kind == "Withdrawal":
            self.ledger[event["account"], event["asset"]] -= Decimal(event["amount"])
        elif kind == "Transfer":
            self.ledger[event["from"], event["asset"]] -= Decimal(event["amount"])
            self.ledger[event["to"], event["asset"]] += Decimal(event["amount"])
        elif kind == "Fill":
            self._post_fill(event)
        elif kind == "MarkPrice":
            self.marks[event["market"]] = Decimal(event["price"])
        elif kind in {"Redeem", "Borrow"}:
            self.ledger[event["account"], event["asset"]] += Decimal(event["amount"])
        elif kind == "PnlRealized":  # a loss (negative) is paid from the holding, after any chain steps
            self.ledger[event["account"], "USDC"] += Decimal(event["amount"])
        elif kind in {"Lend", "Repay"}:
            self.ledger[event["account"], event["asset"]] -= Decimal(event["amount"])
        elif kind == "FundingPaid":  # paid (+) or received (-); their sum per payment is the venue's dust
            self.ledger[event["account"], "USDC"] -= Decimal(event["amount"])
            self.fees["USDC"] += Decimal(event["amount"])
        elif kind == "Conversion":
            self.ledger[event["account"], event["asset"]] -= Decimal(event["sold"])
            self.ledger[event["account"], "USDC"] += Decimal(event["raised"])
        else:
            assert kind in NO_BALANCE_EVENTS, f"unmodelled event kind {kind!r}: extend the test ledger"

    def _post_fill(self, event: dict[str, Any]) -> None:
        spec = self.config.market(event["market"])
        price, quantity = Decimal(event["price"]), Decimal(event["quantity"])
        notional = price * quantity
        taker_buys = event["taker_side"] == "Bid"
        for role, buys in (("taker", taker_buys), ("maker", not taker_buys)):
            account, fee = event[role], Decimal(event[f"{role}_fee"])
            self.fees[spec.quote] += fee
            if spec.kind == "perp":
                self.ledger[account, spec.quote] += Decimal(event[f"{role}_realized_pnl"]) - fee
            elif buys:
                self.ledger[account, spec.quote] -= notional + fee
                self.ledger[account, spec.base] += quantity
            else:
                self.ledger[account, spec.quote] += notional - fee
                self.ledger[account, spec.base] -= quantity

    # --- views ---

    def mark(self, market: str) -> Decimal:
        """A perp's mark as the engine announced it last (set, or derived from index and book; test_marks.py
        checks the derivation)."""
        return self.marks.get(market, Decimal(0))

    def snapshot(self) -> dict[int, tuple[Any, ...]]:
        return {sub: (self.ex.balances(sub), self.ex.positions(sub), self.ex.margin(sub)) for sub in SUBACCOUNTS}


NO_BALANCE_EVENTS = frozenset(
    {
        "LeverageChanged",
        "SettingChanged",
        "IndexPrice",
        "MarkPrice",
        "OrderAccepted",
        "OrderRejected",
        "OrderCancelled",
        "OrderExpired",
        "OrderAmended",
        "InterestAccrued",
    }
)
ACCOUNT_FIELDS = ("account", "from", "to", "taker", "maker")


def accounts_named(events: Iterable[dict[str, Any]]) -> set[int]:
    return {event[name] for event in events for name in ACCOUNT_FIELDS if isinstance(event.get(name), int)}


# ----- (a) conservation ------------------------------------------------------------------------------


def check_conservation(runner: Runner) -> None:
    ex = runner.ex
    audit = ex.audit()
    assert set(audit) == {asset.symbol for asset in runner.config.assets}
    positions = {sub: ex.positions(sub) for sub in SUBACCOUNTS}
    open_orders = [order for sub in SUBACCOUNTS for order in ex.open_orders(sub)]
    for asset, line in audit.items():
        assert line.balanced, (asset, line)
        held_by_venue = line.pool_cash + line.fees + line.liquidation_fund + line.pnl_clearing + line.conversions
        assert line.held_by_subaccounts + held_by_venue == line.deposits - line.withdrawals, (asset, line)
        assert line.held_by_subaccounts == sum(runner.ledger[sub, asset] for sub in SUBACCOUNTS), asset
        assert line.fees == runner.fees[asset], asset
        assert line.locked_by_orders == sum(ex.balances(sub)[asset].locked for sub in SUBACCOUNTS), asset
        assert line.locked_by_orders >= 0
    # Realized PnL is paid from the clearing account, which holds minus the open cost bases.
    costs = sum((position.net_cost for held in positions.values() for position in held.values()), Decimal(0))
    assert audit["USDC"].pnl_clearing == -costs
    for market in PERPS:
        assert sum(held[market].net_qty for held in positions.values() if market in held) == 0, market
    # Every live order rests in its book: the open orders add up to the depth.
    for market in MARKETS:
        bids, asks = ex.depth(market, levels=10_000)
        for side, levels in (("Bid", bids), ("Ask", asks)):
            resting = sum(order.remaining for order in open_orders if (order.market, order.side) == (market, side))
            assert resting == sum((quantity for _, quantity in levels), Decimal(0)), (market, side)


@SETTINGS
@example("default", STRESS)
@given(configs, command_lists)
def test_conservation(config_name: str, sequence: list[Command]) -> None:
    runner = Runner(config_name)
    check_conservation(runner)
    for command in sequence:
        runner.apply(command)
        check_conservation(runner)


# ----- (b) isolation and (d) refused commands ---------------------------------------------------------


@SETTINGS
@example("default", STRESS)
@given(configs, command_lists)
def test_isolation(config_name: str, sequence: list[Command]) -> None:
    runner = Runner(config_name)
    before = runner.snapshot()
    for command in sequence:
        outcome = runner.apply(command)
        after = runner.snapshot()
        involved = outcome.named | accounts_named(outcome.events)
        for sub in SUBACCOUNTS:
            if sub in involved:
                continue
            (balances, positions, margin), (balances_then, positions_then, margin_then) = after[sub], before[sub]
            assert balances == balances_then, (command, sub)
            assert _sizes(positions) == _sizes(positions_then), (command, sub)
            if not outcome.price_move:
                assert margin == margin_then, (command, sub)
        before = after


def _sizes(positions: dict[str, Any]) -> dict[str, tuple[Decimal, Decimal]]:
    return {market: (held.net_qty, held.net_cost) for market, held in positions.items()}


@SETTINGS
@example("default", STRESS)
@given(configs, command_lists)
def test_refused_commands_change_nothing(config_name: str, sequence: list[Command]) -> None:
    runner = Runner(config_name)
    for command in sequence:
        state = runner.ex.state_hash()
        time_ms = runner.ex.time_ms
        outcome = runner.apply(command)
        if outcome.refused is not None:
            assert runner.ex.state_hash() == state, (command, outcome.refused)
            assert outcome.events == [], (command, outcome.refused)
            assert runner.ex.time_ms == time_ms
        else:
            assert command[0] != "bad", f"{command} should have been refused"
            if command[0] not in {"cancel", "cancel_all", "advance"}:
                # Everything else that is accepted leaves a trace.
                assert outcome.events, command
                assert runner.ex.state_hash() != state, command
            if command[0] == "advance":
                assert (runner.ex.state_hash() != state) == (command[1] > 0), command


def test_refusals_are_generated() -> None:
    """The generators do produce refused commands of every sort (guards against a vacuous property (d))."""
    runner = Runner("default")
    refusals = [runner.apply(("bad", index, 0)).refused for index in range(len(BAD_CALLS))]
    assert None not in refusals, refusals
    assert runner.apply(("withdraw", 0, "USDC", "1000000")).refused == "InsufficientBalanceError"
    assert runner.apply(("transfer", 0, 1, "USDC", "1")).refused == "WrongOwnerError"
    assert runner.apply(("leverage", 0, 51)).refused == "InvalidArgumentError"
    assert runner.apply(("deposit", UNKNOWN_SUBACCOUNT, "USDC", "1")).refused == "UnknownAccountError"


# ----- (c) determinism -------------------------------------------------------------------------------


@SETTINGS
@example("default", STRESS)
@given(configs, command_lists)
def test_replay_is_deterministic(config_name: str, sequence: list[Command]) -> None:
    first, second = Runner(config_name), Runner(config_name)
    assert first.ex.state_hash() == second.ex.state_hash()
    for command in sequence:
        one, two = first.apply(command), second.apply(command)
        assert (one.refused, one.result) == (two.refused, two.result), command
        assert one.events == two.events, command
        assert first.ex.state_hash() == second.ex.state_hash(), command
    assert first.history == second.history
    assert [event["sequence"] for event in first.history] == list(range(1, len(first.history) + 1))
    assert first.ex.audit() == second.ex.audit()


@SETTINGS
@given(command_lists)
def test_state_hash_tells_different_states_apart(sequence: list[Command]) -> None:
    """The hash is a function of the state: a deposit of one atom more gives a different hash."""
    first, second = Runner("default"), Runner("default")
    for command in sequence:
        first.apply(command)
        second.apply(command)
    first.ex.deposit(0, "USDC", "1")
    second.ex.deposit(0, "USDC", "1.000001")
    assert first.ex.state_hash() != second.ex.state_hash()


# ----- (e) the kernel against a plain-Python reference -------------------------------------------------


@dataclass(frozen=True)
class ReferenceMargin:
    """SPEC §4-5 for one subaccount, amounts in USDC atoms; ``*_terms`` count the roundings through an
    f64 ratio (a haircut weight or a margin fraction) behind each amount."""

    net_equity: int
    initial_margin: int
    maintenance_margin: int
    exposure: int
    collateral_terms: int
    im_terms: int
    mm_terms: int


def _floor(value: Fraction) -> int:
    return math.floor(value)


def _ceil(value: Fraction) -> int:
    return math.ceil(value)


def _fraction_of(function: MarginFunction, notional_atoms: int) -> Fraction:
    return Fraction(function.fraction(Decimal(notional_atoms) / USDC_UNIT))


def _initial(notional_atoms: int, function: MarginFunction, leverage: int) -> int:
    """``ceil(N * max(IMF(N), 1 / max_leverage))`` (SPEC §5)."""
    return _ceil(notional_atoms * max(_fraction_of(function, notional_atoms), Fraction(1, leverage)))


def reference_margin(runner: Runner, sub: int, holdings: dict[str, Decimal]) -> ReferenceMargin:
    """SPEC §4-5 in exact arithmetic (``Fraction``; the curves from the ``Config`` in 34-digit ``Decimal``,
    whose ``sqrt`` stands in for ``math.sqrt``), with the engine's documented rounding: collateral and values
    down, liabilities and requirements up, the leverage floor applied exactly."""
    config = runner.config
    leverage = int(runner.ex.settings(sub)["max_leverage"])
    collateral = liabilities = upnl = im = mm = exposure = 0
    collateral_terms = im_terms = mm_terms = 0
    for asset in config.assets:
        holding = Fraction(holdings.get(asset.symbol, Decimal(0)))
        price = Fraction(runner.index.get(asset.symbol, Decimal(0)))
        if holding > 0:
            value = _floor(holding * price * USDC_UNIT)
            if asset.collateral and value > 0:
                weight = Fraction(asset.haircut.weight(Decimal(value) / USDC_UNIT))
                collateral += _floor(value * weight)
                collateral_terms += 1
        elif holding < 0:
            liability = _ceil(-holding * price * USDC_UNIT)
            liabilities += liability
            exposure += liability
            im += _initial(liability, asset.borrow_imf, leverage)
            mm += _ceil(liability * _fraction_of(asset.borrow_mmf, liability))
            im_terms += 1
            mm_terms += 1
    positions = runner.ex.positions(sub)
    orders = runner.ex.open_orders(sub)
    for market in config.markets:
        if market.kind != "perp":
            continue
        assert market.imf is not None and market.mmf is not None
        held = positions.get(market.symbol)
        quantity = Fraction(held.net_qty) if held else Fraction(0)
        cost = Fraction(held.net_cost) if held else Fraction(0)
        bids = sum((Fraction(o.remaining) for o in orders if (o.market, o.side) == (market.symbol, "Bid")), Fraction())
        asks = sum((Fraction(o.remaining) for o in orders if (o.market, o.side) == (market.symbol, "Ask")), Fraction())
        mark = Fraction(runner.mark(market.symbol))
        position_notional = abs(quantity) * mark * USDC_UNIT
        worst = max(abs(quantity + bids), abs(quantity - asks)) * mark * USDC_UNIT
        assert position_notional.denominator == 1 and worst.denominator == 1, "tick x step is whole atoms"
        signed = position_notional if quantity >= 0 else -position_notional
        upnl += int(signed - cost * USDC_UNIT)
        exposure += int(worst)
        if worst:
            im += _initial(int(worst), market.imf, leverage)
            im_terms += 1
        if position_notional:
            mm += _ceil(position_notional * _fraction_of(market.mmf, int(position_notional)))
            mm_terms += 1
    return ReferenceMargin(
        net_equity=collateral + upnl - liabilities,
        initial_margin=im,
        maintenance_margin=mm,
        exposure=exposure,
        collateral_terms=collateral_terms,
        im_terms=im_terms,
        mm_terms=mm_terms,
    )


RATIO_TOLERANCE = 1e-9


def _ratio(numerator: int, denominator: int) -> float:
    return math.inf if denominator <= 0 else numerator / denominator


def check_against_reference(runner: Runner) -> None:
    """``margin_scan()`` against :func:`reference_margin` for every subaccount.

    Tolerances. Amounts: the kernel multiplies by f64 haircut weights and margin fractions (SPEC §1), so a
    product that lands within an f64 rounding of a whole atom may round the other way than the exact one:
    each such term may be off by one atom, so net equity may differ by at most the number of weighted
    collateral terms, IM by its number of exposure terms and MM by its number of position/borrow terms.
    Everything else (values, liabilities, unrealized PnL, exposure) is exact. Ratios: the kernel's IMR/MMR
    is exactly its IM (MM) divided by its net equity in f64; against the reference ratio it may differ by
    1e-9 relative plus what the atom tolerances above can move the ratio.
    """
    scan = runner.ex.margin_scan()
    assert len(scan["net_equity"]) == len(SUBACCOUNTS)
    holdings_of = _holdings(runner)
    for sub in SUBACCOUNTS:
        ref = reference_margin(runner, sub, holdings_of[sub])
        equity = int(scan["net_equity"][sub])
        initial = int(scan["initial_margin"][sub])
        maintenance = int(scan["maintenance_margin"][sub])
        label = (sub, ref)
        assert abs(equity - ref.net_equity) <= ref.collateral_terms, (label, equity)
        assert abs(initial - ref.initial_margin) <= ref.im_terms, (label, initial)
        assert abs(maintenance - ref.maintenance_margin) <= ref.mm_terms, (label, maintenance)
        imr, mmr = float(scan["imr"][sub]), float(scan["mmr"][sub])
        assert imr == _ratio(initial, equity), label
        assert mmr == _ratio(maintenance, equity), label
        ratios = ((imr, ref.initial_margin, ref.im_terms), (mmr, ref.maintenance_margin, ref.mm_terms))
        for kernel, requirement, terms in ratios:
            if ref.net_equity <= -ref.collateral_terms:  # not positive whichever way the terms round
                assert math.isinf(kernel), label
            elif ref.net_equity > ref.collateral_terms:
                expected = requirement / ref.net_equity
                slack = (terms + expected * ref.collateral_terms) / (ref.net_equity - ref.collateral_terms)
                assert abs(kernel - expected) <= RATIO_TOLERANCE * expected + slack, (label, kernel, expected)
        fraction = float(scan["margin_fraction"][sub])
        if ref.exposure == 0:
            assert math.isinf(fraction), label
        else:
            assert math.isclose(fraction, equity / ref.exposure, rel_tol=RATIO_TOLERANCE), label
        liquidatable = bool(scan["liquidatable"][sub])
        assert liquidatable == (maintenance > 0 and mmr >= 1.0), label
        assert runner.ex.margin(sub).liquidatable == liquidatable


def _holdings(runner: Runner) -> dict[int, dict[str, Decimal]]:
    """Every subaccount's holdings per asset, from the event ledger (independent of ``balances()``)."""
    return {sub: {asset: runner.ledger[sub, asset] for asset in ASSETS} for sub in SUBACCOUNTS}


@SETTINGS
@example("default", STRESS)
@given(configs, command_lists)
def test_margin_scan_matches_the_reference(config_name: str, sequence: list[Command]) -> None:
    runner = Runner(config_name)
    check_against_reference(runner)
    for command in sequence:
        outcome = runner.apply(command)
        check_against_reference(runner)
        if outcome.price_move and outcome.refused is None:
            # The venue's scan after a price update is the one liquidatable() reports.
            mask = runner.ex.margin_scan()["liquidatable"]
            assert sorted(runner.ex.liquidatable()) == [sub for sub in SUBACCOUNTS if mask[sub]], command


def test_reference_reproduces_the_spec_examples() -> None:
    """The reference itself on SPEC §12 example 2 (so that agreeing with it means something)."""
    runner = Runner("zero_fee")
    ex = runner.ex
    for sub in (3, 4):
        assert ex.margin(sub).im == 0
    setup = [
        ("leverage", 0, 50),
        ("withdraw", 0, "SOL", "20"),
        ("withdraw", 0, "BTC", "0.1"),
        ("withdraw", 0, "USDC", "10000"),
        ("cancel_all", 2, None),
        ("order", 1, "SOL_USDC_PERP", "Ask", "Limit", "1000", "100", None, "GTC", False, False, "Allow"),
        ("order", 0, "SOL_USDC_PERP", "Bid", "Limit", "1000", "100", None, "GTC", False, False, "Allow"),
    ]
    for command in setup:
        assert runner.apply(command).refused is None, command
    assert ex.positions(0)["SOL_USDC_PERP"].net_qty == 1000
    ref = reference_margin(runner, 0, _holdings(runner)[0])
    assert (ref.net_equity, ref.initial_margin, ref.maintenance_margin) == (
        10_000 * USDC_UNIT,
        2_000 * USDC_UNIT,
        1_350 * USDC_UNIT,
    )
    check_against_reference(runner)
