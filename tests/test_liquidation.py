"""The liquidation waterfall (SPEC §9, §12 example 8) through ``crossbook.Exchange``.

Covered, each with hand-worked numbers in the comments:

- **Trigger** (MMR >= 100%): the subaccount is marked liquidating, its resting orders and trigger orders
  are cancelled, its new orders are rejected with ``Liquidating`` while it stays liquidating (a
  liquidation that needs more than one pass of on-book loops goes on at the next tick); the engine's
  stage methods step by step.
- **On-book**: chunks of 10% of the position (rounded up to a lot), priced no worse than the mark minus
  the impact band and never past the bankruptcy price, until MMR < 90%; the 1% fee goes to the
  liquidation fund; the rest of the collateral is untouched.
- **Backstop**: a thin book hands the remainder to registered providers in order, at the mark, within
  each provider's capacity and its own IMR <= 100%; the provider gets the fee.
- **ADL**: a gap past the bankruptcy price with no backstop closes the position at the bankruptcy price
  against opposing positions ranked by unrealized PnL % x effective leverage.
- **Lenders paid in notional** (example 8) and the **socialized loss** when neither the account nor the
  liquidation fund covers them; a bankrupt account with a backstop provider.
- **Bad input** to the liquidation API (errors, state unchanged), ``stress`` and ``liquidation_price``.
- **Determinism**: the same scenario twice gives the same events and ``state_hash()``.

Every scenario checks that each asset's audit reconciles and that nobody ends with negative net equity.
Trading fees are zero (``zero_fee_config``) so that only the liquidation fee moves money besides PnL.

Two tests at the end (``test_adl_never_leaves_a_counterparty_with_negative_equity`` and the BTC case of
``test_each_on_book_chunk_lowers_the_mmr``) are regressions of engine bugs found while writing this file:
ADL once took a thin counterparty below zero, and a liquidation fee equal to the MMF once made every loop
raise the MMR.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest

import crossbook as cb
from crossbook.config import Config, LendingCurve
from crossbook.exchange import Balance, LiquidationState
from exchange_helpers import events_of_kind, no_auto_lend, no_liquidation, open_pair, zero_fee_config

SOL_PERP = "SOL_USDC_PERP"
BTC_PERP = "BTC_USDC_PERP"
D = Decimal
LOT = D("0.01")  # SOL_USDC_PERP step
E8 = 10**8
NOTHING = Balance(D(0), D(0), D(0), D(0))


# ----- helpers -----------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """An exchange after a liquidation: named subaccounts, the events of the command that liquidated
    (``events``) and every event since the exchange was made (``history``)."""

    ex: cb.Exchange
    accounts: dict[str, int]
    events: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def __getitem__(self, name: str) -> int:
        return self.accounts[name]

    def drain(self) -> list[dict[str, Any]]:
        events = self.ex.events()
        self.history += events
        return events

    def run(self, command: Callable[[], object]) -> list[dict[str, Any]]:
        """Runs ``command`` and keeps its events as ``self.events``."""
        self.drain()
        command()
        self.events = self.drain()
        return self.events


def stages(events: list[dict[str, Any]], stage: str | None = None) -> list[dict[str, Any]]:
    """The ``Liquidation`` events (of one stage, if given)."""
    return [event for event in events_of_kind(events, "Liquidation") if stage is None or event["stage"] == stage]


def bid_ladder(ex: cb.Exchange, maker: int, market: str, *, top: str, step: str, levels: int, size: str) -> None:
    """Resting bids of ``size`` at ``top``, ``top - step``, ... (``levels`` of them)."""
    for level in range(levels):
        result = ex.place_order(maker, market, "Bid", quantity=size, price=D(top) - level * D(step))
        assert result.status == "New", result


def assert_sound(ex: cb.Exchange, accounts: dict[str, int]) -> None:
    """SPEC §9's closing invariants: every asset reconciles and no subaccount has negative net equity."""
    audit = ex.audit()
    assert all(line.balanced for line in audit.values()), audit
    negative = {name: ex.margin(sub).net_equity for name, sub in accounts.items() if ex.margin(sub).net_equity < 0}
    assert negative == {}, f"negative net equity after the waterfall: {negative}"


def ceil_lot(quantity: Decimal) -> Decimal:
    return quantity.quantize(LOT, rounding=ROUND_CEILING)


def zero_rate_btc(config: Config) -> Config:
    """``config`` with BTC borrowed at 0% (no entry fee, no interest), so a borrow of 1 BTC owes exactly 1 BTC."""
    flat = LendingCurve(D(0), D(0), D("0.8"), D(0))
    assets = tuple(
        dataclasses.replace(asset, lending=flat) if asset.symbol == "BTC" else asset for asset in config.assets
    )
    return dataclasses.replace(config, assets=assets)


def over_levered_long(ex: cb.Exchange, *, usdc: str, btc: str | None = None) -> dict[str, int]:
    """A trader long 1,000 SOL_USDC_PERP at 100 (max leverage 20) against a market maker with 1,000,000 USDC.

    With ``usdc`` + 950 of BTC collateral (0.01 BTC at 100,000, haircut 0.95) = 11,200 of equity, a mark of
    90 leaves equity 11,200 - 10,000 = 1,200 against MM 90,000 x 0.0135 = 1,215: MMR 1.0125, between the
    trigger (1) and the auto-close level (1 / 0.5 = 2), and not bankrupt.
    """
    mm, trader = ex.open_account("mm"), ex.open_account("trader")
    ex.deposit(mm, "USDC", "1000000")
    ex.deposit(trader, "USDC", usdc)
    ex.set_index_price("BTC", "100000")
    ex.set_index_price("SOL", "100")
    if btc is not None:
        ex.deposit(trader, "BTC", btc)
    ex.set_mark_price(SOL_PERP, "100")
    ex.set_max_leverage(trader, 20)  # IM 5% x 100,000 = 5,000 <= equity
    open_pair(ex, SOL_PERP, "100", "1000", long=trader, short=mm)
    return {"mm": mm, "trader": trader}


# ----- scenarios (shared by the tests below and the determinism test) ---------------------------------


def deep_book() -> Scenario:
    """The over-levered long with 10,250 USDC + 0.01 BTC; the maker bids 500 SOL a level from 90.00 down by
    0.10; the trader has a resting perp bid, a spot bid and a stop trigger; then the mark drops 10%."""
    ex = cb.Exchange(no_auto_lend(zero_fee_config()))
    s = Scenario(ex, over_levered_long(ex, usdc="10250", btc="0.01"))
    bid_ladder(ex, s["mm"], SOL_PERP, top="90", step="0.1", levels=5, size="500")
    assert ex.place_order(s["trader"], SOL_PERP, "Bid", quantity="1", price="80").status == "New"
    assert ex.place_order(s["trader"], "SOL_USDC", "Bid", quantity="2", price="50").status == "New"
    stop = ex.place_order(
        s["trader"], SOL_PERP, "Ask", order_type="Market", quantity="10", reduce_only=True, trigger_price="85"
    )
    assert stop.status == "TriggerPending"
    s.run(lambda: ex.set_mark_price(SOL_PERP, "90"))
    return s


def thin_book(*providers: tuple[str, str, str]) -> Scenario:
    """The over-levered long with 11,200 USDC only; the book bids just 20 SOL at 90 (and 20 at 80, out of
    the impact band); ``providers`` are (name, USDC deposit, capacity), registered in order for SOL."""
    ex = cb.Exchange(no_auto_lend(zero_fee_config()))
    accounts = over_levered_long(ex, usdc="11200")
    for name, deposit, capacity in providers:
        accounts[name] = ex.open_account(name)
        ex.deposit(accounts[name], "USDC", deposit)
        ex.register_backstop_provider(accounts[name], [SOL_PERP], capacity)
    s = Scenario(ex, accounts)
    bid_ladder(ex, s["mm"], SOL_PERP, top="90", step="10", levels=2, size="20")
    s.run(lambda: ex.set_mark_price(SOL_PERP, "90"))
    return s


def gap_setup() -> Scenario:
    """A long of 1,000 SOL (15,000 USDC) against three shorts of 400, an empty SOL book and only a BTC-perp
    backstop provider (the gap from 100 to 80 is :func:`gap`).

    Opened in id order a, b, c, trader, aux, btc_backstop:
    - at mark 110 b and c each sell 400 to the trader; at mark 100 a sells 200 to the trader and 200 to aux;
    - trader: cost 44,000 + 44,000 + 20,000 = 108,000 for 1,000 SOL.
    """
    ex = cb.Exchange(no_auto_lend(zero_fee_config()))
    names = ("a", "b", "c", "trader", "aux", "btc_backstop")
    s = Scenario(ex, {name: ex.open_account(name) for name in names})
    for name, amount in (("a", "12000"), ("b", "20000"), ("c", "12000"), ("trader", "15000"), ("aux", "100000")):
        ex.deposit(s[name], "USDC", amount)
    ex.deposit(s["btc_backstop"], "USDC", "1000000")
    ex.register_backstop_provider(s["btc_backstop"], [BTC_PERP], "1000000")
    ex.set_max_leverage(s["trader"], 20)
    ex.set_mark_price(SOL_PERP, "110")
    open_pair(ex, SOL_PERP, "110", "400", long=s["trader"], short=s["b"])
    open_pair(ex, SOL_PERP, "110", "400", long=s["trader"], short=s["c"])
    ex.set_mark_price(SOL_PERP, "100")
    open_pair(ex, SOL_PERP, "100", "200", long=s["trader"], short=s["a"])
    open_pair(ex, SOL_PERP, "100", "200", long=s["aux"], short=s["a"])
    return s


def gap() -> Scenario:
    """:func:`gap_setup`, then the gap to 80."""
    s = gap_setup()
    s.run(lambda: s.ex.set_mark_price(SOL_PERP, "80"))
    return s


def example_8() -> Scenario:
    """SPEC §12 example 8, by the full public path (no engine stage methods).

    Lenders la and lb auto-lend 3 and 1 BTC (BTC at 0% so the debt is exactly what was borrowed). The
    borrower deposits 11,200 USDC (auto-lent), borrows 1 BTC at index 100,000 and sells it on BTC_USDC to
    the maker for 100,000 USDC, so it holds no BTC; it also goes long 1,000 SOL at 100 against ``short``.
    A SOL gap to 80 makes it bankrupt: equity 11,200 + 100,000 - 100,000 - 20,000 = -8,800.
    """
    ex = cb.Exchange(zero_rate_btc(zero_fee_config()))
    s = Scenario(ex, {name: ex.open_account(name) for name in ("la", "lb", "borrower", "mm", "short")})
    ex.set_auto_lend(s["mm"], False)  # the BTC it buys must not join the lenders
    ex.set_index_price("BTC", "100000")
    ex.set_index_price("SOL", "100")
    ex.set_mark_price(SOL_PERP, "100")
    ex.deposit(s["la"], "BTC", "3")
    ex.deposit(s["lb"], "BTC", "1")
    ex.deposit(s["mm"], "USDC", "1000000")
    ex.deposit(s["short"], "USDC", "1000000")
    ex.deposit(s["borrower"], "USDC", "11200")
    ex.set_max_leverage(s["borrower"], 20)
    ex.borrow(s["borrower"], "BTC", "1")
    assert ex.place_order(s["mm"], "BTC_USDC", "Bid", quantity="1", price="100000").status == "New"
    assert ex.place_order(s["borrower"], "BTC_USDC", "Ask", quantity="1", price="100000").status == "Filled"
    open_pair(ex, SOL_PERP, "100", "1000", long=s["borrower"], short=s["short"])
    s.run(lambda: ex.set_mark_price(SOL_PERP, "80"))
    return s


# ----- 1. trigger and on-book ------------------------------------------------------------------------


def test_deep_book_liquidates_in_chunks_on_the_book_alone() -> None:
    s = deep_book()
    ex, trader = s.ex, s["trader"]
    # At mark 90: equity 1,200, MM 1,215, MMR 1.0125. Each loop sells 10% of the position (a whole
    # number of lots here) to the 90.00 bid; at the mark there is no price loss, only the 1% fee:
    #   chunk  notional  fee    equity after        MM after (x 0.0135 x 90)  MMR after
    #   100    9,000     90     1,110               900 -> 1,093.5            0.985135
    #    90    8,100     81     1,029               810 ->   984.15           0.956414
    #    81    7,290     72.9     956.1             729 ->   885.735          0.926404
    #    72.9  6,561     65.61    890.49            656.1 -> 797.1615         0.895194 < 0.90: healthy
    on_book = stages(s.events, "on_book")
    assert [D(event["quantity"]) for event in on_book] == [D("100"), D("90"), D("81"), D("72.9")]
    assert [D(event["notional"]) for event in on_book] == [D("9000"), D("8100"), D("7290"), D("6561")]
    assert [D(event["fee"]) for event in on_book] == [D("90"), D("81"), D("72.9"), D("65.61")]
    assert [event["mmr_after"] for event in on_book] == ["0.985135", "0.956414", "0.926404", "0.895194"]
    assert all(event["market"] == SOL_PERP and event["counterparty"] is None for event in on_book)
    position = D("1000")
    for event in on_book:  # each chunk: 10% of the position then, rounded up to a lot
        assert D(event["quantity"]) == ceil_lot(position / 10)
        position -= D(event["quantity"])
    # The IOC limit is the bankruptcy price mark - equity / qty, rounded up to a tick, since it is above
    # the band floor 90 x 0.95 = 85.50: 90 - 1,200/1,000 = 88.80, then 88.77 (90 - 1,110/900 = 88.766..),
    # 88.73 (90 - 1,029/810 = 88.729..), 88.69 (90 - 956.1/729 = 88.688..).
    orders = [event for event in events_of_kind(s.events, "OrderAccepted") if event["account"] == trader]
    assert [D(event["price"]) for event in orders] == [D("88.8"), D("88.77"), D("88.73"), D("88.69")]
    assert [event["side"] for event in orders] == ["Ask"] * 4
    assert [stage["stage"] for stage in stages(s.events)] == ["trigger"] + ["on_book"] * 4 + ["ended"]
    assert stages(s.events, "backstop") == [] and stages(s.events, "adl") == []

    margin = ex.margin(trader)
    assert margin.net_equity == D("890.49")
    assert margin.mm == D("797.1615")
    assert margin.mmr < 0.9
    state = ex.liquidation_state(trader)
    assert (state.liquidating, state.liquidatable, state.bankrupt) == (False, False, False)
    assert ex.liquidating() == []
    # Reduced, not closed; the USDC paid the realized 343.9 x 10 = 3,439 and 309.51 of fees; BTC untouched.
    assert ex.positions(trader)[SOL_PERP].net_qty == D("656.1")
    balances = ex.balances(trader)
    assert balances["USDC"].free == D("10250") - D("3439") - D("309.51") == D("6501.49")
    assert (balances["BTC"].free, balances["BTC"].lent, balances["BTC"].borrowed) == (D("0.01"), 0, 0)
    assert ex.positions(s["mm"])[SOL_PERP].net_qty == D("-656.1")
    bids, _ = ex.depth(SOL_PERP, levels=2)
    assert bids == [(D("90"), D("500") - D("343.9")), (D("89.9"), D("500"))]
    usdc = ex.audit()["USDC"]
    assert usdc.liquidation_fund == D("90") + D("81") + D("72.9") + D("65.61") == D("309.51")
    assert usdc.fees == 0
    assert_sound(ex, s.accounts)


def test_trigger_cancels_resting_orders_and_trigger_orders() -> None:
    s = deep_book()
    ex, trader = s.ex, s["trader"]
    assert ex.open_orders(trader) == [] and ex.pending_triggers(trader) == []
    kinds = [event["kind"] for event in s.events if event.get("account") == trader]
    trigger_at = kinds.index("Liquidation")
    assert sorted(kinds[:trigger_at]) == ["OrderCancelled", "OrderCancelled", "TriggerCancelled"]
    cancelled = events_of_kind(s.events, "OrderCancelled")
    assert {(event["market"], D(event["quantity"])) for event in cancelled} == {
        (SOL_PERP, D("1")),
        ("SOL_USDC", D("2")),
    }
    (first,) = stages(s.events, "trigger")
    assert first["account"] == trader and first["mmr_before"] == "1.0125"
    assert first["price"] is None  # nothing traded
    # The spot bid's 100 USDC is unlocked again.
    assert ex.balances(trader)["USDC"].locked == 0
    # The stop at 85 never fires, even after the mark passes it: it is gone.
    s.run(lambda: ex.set_mark_price(SOL_PERP, "84"))
    assert events_of_kind(s.events, "Triggered") == []


def test_a_liquidating_account_is_refused_new_orders_until_it_is_healthy() -> None:
    """A liquidation that needs more than the 20 on-book loops of one pass goes on at the next tick; in
    between its owner's orders are rejected with ``Liquidating`` (even reduce-only ones)."""
    ex = cb.Exchange(no_auto_lend(zero_fee_config()))
    s = Scenario(ex, over_levered_long(ex, usdc="10640"))
    ex.place_order(s["mm"], SOL_PERP, "Bid", quantity="2000", price="90")
    s.run(lambda: ex.set_mark_price(SOL_PERP, "90"))
    # Model of the rule: at mark 90 equity 640 (MMR 1,215 / 640 = 1.898, under the backstop's 2); each loop
    # sells ceil(10%) at 90 and pays 1% of it, but never more than 3/4 of what the sale gained against the
    # MMR (equity - equity x MM'/MM); a loop runs only while MMR = 0.0135 x 90 x q / equity >= 0.9.
    quantity, equity, chunks = D("1000"), D("640"), []
    while D("0.0135") * 90 * quantity / equity >= D("0.9"):
        chunk = ceil_lot(quantity / 10)
        chunks.append(chunk)
        gain = equity * chunk / quantity
        quantity, equity = quantity - chunk, equity - min(chunk * 90 / 100, gain * 3 / 4)
    assert len(chunks) == 27  # more than one pass of 20
    first = stages(s.events)
    assert [event["stage"] for event in first] == ["trigger"] + ["on_book"] * 20
    assert [D(event["quantity"]) for event in first[1:]] == chunks[:20]
    assert [D(event["mmr_after"]) < D(event["mmr_before"]) for event in first[1:]] == [True] * 20
    state = ex.liquidation_state(s["trader"])
    assert state.liquidating and ex.liquidating() == [s["trader"]]
    assert state.mmr >= 0.9  # not yet below the target
    for side, price, reduce_only in (("Ask", "95", True), ("Bid", "85", False)):
        result = ex.place_order(s["trader"], SOL_PERP, side, quantity="1", price=price, reduce_only=reduce_only)
        assert (result.status, result.reject_reason) == ("Rejected", "Liquidating")
    rejected = events_of_kind(s.drain(), "OrderRejected")
    assert [event["reason"] for event in rejected] == ["Liquidating", "Liquidating"]

    s.run(lambda: ex.advance_to(10_000))  # the realize tick's pass finishes it
    second = stages(s.events)
    assert [event["stage"] for event in second] == ["on_book"] * 7 + ["ended"]
    assert [D(event["quantity"]) for event in second[:7]] == chunks[20:]
    assert ex.positions(s["trader"])[SOL_PERP].net_qty == quantity == D("58.11")
    # The engine rounds each fee to the atom (the model does not): within an atom per loop.
    assert abs(ex.margin(s["trader"]).net_equity - equity) <= D("0.000001") * 27
    assert ex.audit()["USDC"].liquidation_fund == D("640") - ex.margin(s["trader"]).net_equity
    assert ex.liquidating() == [] and ex.margin(s["trader"]).mmr < 0.9
    assert ex.place_order(s["trader"], SOL_PERP, "Ask", quantity="1", price="95").status == "New"
    assert_sound(ex, s.accounts)


def test_engine_stages_step_by_step() -> None:
    """The engine's stage methods (``ex._engine``), with the automatic waterfall off."""
    ex = cb.Exchange(no_liquidation(no_auto_lend(zero_fee_config())))
    s = Scenario(ex, over_levered_long(ex, usdc="11200"))
    trader, engine = s["trader"], ex._engine
    ex.place_order(s["mm"], SOL_PERP, "Bid", quantity="500", price="90")
    assert ex.place_order(trader, SOL_PERP, "Bid", quantity="1", price="80").status == "New"
    ex.set_mark_price(SOL_PERP, "90")
    assert ex.liquidatable() == [trader] and ex.liquidating() == []
    assert ex.liquidation_state(trader).liquidatable and not ex.liquidation_state(trader).liquidating
    with pytest.raises(cb.InvalidArgumentError, match="not being liquidated"):
        engine.liquidate_on_book(trader, 10 * E8 // 100, E8 // 100)

    assert engine.start_liquidation(trader) is True
    assert engine.start_liquidation(trader) is False  # already liquidating
    assert ex.open_orders(trader) == []
    result = ex.place_order(trader, SOL_PERP, "Ask", quantity="1", price="95", reduce_only=True)
    assert result.reject_reason == "Liquidating"
    # One loop: 10% of 1,000 SOL sold at 90 = 9,000 USDC, returned in atoms; fee 90.
    assert engine.liquidate_on_book(trader, 10 * E8 // 100, E8 // 100) == 9_000 * 10**6
    assert ex.positions(trader)[SOL_PERP].net_qty == D("900")
    assert ex.audit()["USDC"].liquidation_fund == D("90")
    assert engine.liquidate_to_backstop(trader, E8 // 100) == 0  # no provider registered
    engine.end_liquidation(trader)
    assert ex.liquidating() == []
    assert [event["stage"] for event in stages(ex.events())] == ["trigger", "on_book", "ended"]
    assert ex.place_order(trader, SOL_PERP, "Ask", quantity="1", price="95", reduce_only=True).status == "New"
    assert_sound(ex, s.accounts)


# ----- 2. backstop -----------------------------------------------------------------------------------


def test_thin_book_hands_the_remainder_to_the_backstop_provider_at_the_mark() -> None:
    s = thin_book(("provider", "100000", "1000000"))
    ex, trader, provider = s.ex, s["trader"], s["provider"]
    # Loop 1: chunk 100 but only 20 bid at 90: notional 1,800, fee 18 -> equity 1,182, MM 980 x 90 x
    # 0.0135 = 1,190.7, MMR 1.00736. Loop 2: the 80 bid is below the band floor 85.50: nothing fills,
    # so the provider takes the remaining 980 at the mark: notional 88,200, fee 882 to the provider.
    (on_book,) = stages(s.events, "on_book")
    assert (D(on_book["quantity"]), D(on_book["notional"]), D(on_book["fee"])) == (D("20"), D("1800"), D("18"))
    assert D(on_book["price"]) == D("90")  # the average price: 1,800 / 20
    assert on_book["mmr_after"] == "1.00736"
    (backstop,) = stages(s.events, "backstop")
    assert backstop["counterparty"] == provider and backstop["market"] == SOL_PERP
    assert (D(backstop["quantity"]), D(backstop["notional"]), D(backstop["fee"])) == (D("980"), D("88200"), D("882"))
    assert D(backstop["price"]) == D("90")  # at the mark
    assert stages(s.events, "adl") == []
    assert stages(s.events)[-1]["stage"] == "ended"

    assert ex.positions(trader) == {}
    # 11,200 - realized (20 + 980) x 10 - fees 18 - 882 = 300.
    assert ex.balances(trader)["USDC"].free == D("300") == ex.margin(trader).net_equity
    assert not ex.liquidation_state(trader).liquidating
    taken = ex.positions(provider)[SOL_PERP]
    assert (taken.net_qty, taken.entry_price, taken.unrealized_pnl) == (D("980"), D("90"), 0)
    assert ex.balances(provider)["USDC"].free == D("100882")
    assert ex.backstop_providers() == [(provider, [SOL_PERP], D("1000000") - D("88200"))]
    assert ex.audit()["USDC"].liquidation_fund == D("18")  # the backstop's fee went to the provider
    bids, _ = ex.depth(SOL_PERP)
    assert bids == [(D("80"), D("20"))]
    assert_sound(ex, s.accounts)


def test_backstop_providers_take_in_order_within_capacity_and_their_own_imr() -> None:
    # p1: capacity 9,000 USDC of notional = 100 SOL at 90. p2: 1,800 USDC of equity at 10x takes at most
    # 200 SOL (IM 10% x 200 x 90 = 1,800 = equity; 200.01 would not fit). p3 takes the other 680.
    s = thin_book(("p1", "100000", "9000"), ("p2", "1800", "1000000"), ("p3", "100000", "1000000"))
    ex = s.ex
    backstops = stages(s.events, "backstop")
    assert [(event["counterparty"], D(event["quantity"])) for event in backstops] == [
        (s["p1"], D("100")),
        (s["p2"], D("200")),
        (s["p3"], D("680")),
    ]
    assert [D(event["notional"]) for event in backstops] == [D("9000"), D("18000"), D("61200")]
    assert [D(event["fee"]) for event in backstops] == [D("90"), D("180"), D("612")]
    for name, quantity, usdc in (("p1", "100", "100090"), ("p2", "200", "1980"), ("p3", "680", "100612")):
        assert ex.positions(s[name])[SOL_PERP].net_qty == D(quantity)
        assert ex.balances(s[name])["USDC"].free == D(usdc)
    # p2 at its limit before the fee: IM 1,800 / equity (1,800 + 180 fee) = 0.909..
    assert ex.margin(s["p2"]).im == D("1800") and ex.margin(s["p2"]).imr <= 1
    assert [capacity for _, _, capacity in ex.backstop_providers()] == [D("0"), D("982000"), D("938800")]
    assert ex.positions(s["trader"]) == {}
    assert ex.margin(s["trader"]).net_equity == D("300")  # 1,182 - 90 - 180 - 612
    assert stages(s.events, "adl") == []
    assert_sound(ex, s.accounts)


# ----- 3. ADL --------------------------------------------------------------------------------------------


def test_gap_without_backstop_capacity_deleverages_the_best_ranked_shorts_at_the_bankruptcy_price() -> None:
    s = gap_setup()
    ex = s.ex
    # At 80 the trader's equity is 15,000 - (108,000 - 80,000) = -13,000: bankrupt, so no on-book loop; the
    # only provider is for BTC perps. Bankruptcy price: (80,000 + 13,000) / 1,000 = 93.00.
    # Ranking score = PnL / |cost| x |value| / equity, at 80:
    #   a: short 400 from 100: 8,000 / 40,000 = 0.2    x 32,000 / 20,000 = 1.6   -> 0.32
    #   b: short 400 from 110: 12,000 / 44,000 = 0.27  x 32,000 / 32,000 = 1.0   -> 0.2727
    #   c: short 400 from 110: 12,000 / 44,000 = 0.27  x 32,000 / 24,000 = 1.33  -> 0.3636
    # so c (most profitable and more levered than b), then a (less profitable but most levered), then b.
    assert ex.stress(s["trader"], {SOL_PERP: "80"}).net_equity == D("-13000")
    scores = {}
    for name in ("a", "b", "c"):
        position = ex.positions(s[name])[SOL_PERP]
        value, equity = position.net_qty * 80, ex.stress(s[name], {SOL_PERP: "80"}).net_equity
        scores[name] = (value - position.net_cost) / abs(position.net_cost) * abs(value) / equity
    assert [round(scores[name], 4) for name in ("a", "b", "c")] == [D("0.32"), D("0.2727"), D("0.3636")]
    s.run(lambda: ex.set_mark_price(SOL_PERP, "80"))

    assert [event["stage"] for event in stages(s.events)] == ["trigger", "adl", "adl", "adl", "ended"]
    adl = stages(s.events, "adl")
    assert [event["counterparty"] for event in adl] == [s["c"], s["a"], s["b"]]
    assert [D(event["quantity"]) for event in adl] == [D("400"), D("400"), D("200")]
    assert [D(event["notional"]) for event in adl] == [D("37200"), D("37200"), D("18600")]  # at 93.00
    assert [D(event["price"]) for event in adl] == [D("93")] * 3
    assert all(D(event["fee"]) == 0 for event in adl)

    assert ex.positions(s["trader"]) == {}
    assert ex.margin(s["trader"]).net_equity == 0 == ex.balances(s["trader"])["USDC"].free
    assert ex.liquidation_state(s["trader"]) == LiquidationState(
        liquidating=False,
        liquidatable=False,
        mmr=float("inf"),
        margin_fraction=float("inf"),
        net_equity=D(0),
        bankrupt=False,
    )
    # c and a closed at 93 (realized (110 - 93) x 400 and (100 - 93) x 400); b keeps 200 of its 400.
    assert ex.positions(s["c"]) == {} and ex.balances(s["c"])["USDC"].free == D("18800")
    assert ex.positions(s["a"]) == {} and ex.balances(s["a"])["USDC"].free == D("14800")
    assert ex.positions(s["b"])[SOL_PERP].net_qty == D("-200")
    assert ex.balances(s["b"])["USDC"].free == D("23400")  # 20,000 + (110 - 93) x 200
    assert ex.margin(s["b"]).net_equity == D("29400")  # + (110 - 80) x 200 unrealized
    assert ex.positions(s["aux"])[SOL_PERP].net_qty == D("200")  # same side: untouched
    assert ex.positions(s["btc_backstop"]) == {}
    assert ex.backstop_providers() == [(s["btc_backstop"], [BTC_PERP], D("1000000"))]
    assert ex.audit()["USDC"].liquidation_fund == 0
    assert_sound(ex, s.accounts)


# ----- 4-5. lenders paid in notional, socialized loss ---------------------------------------------------


def test_spec_example_8_lenders_are_paid_in_notional() -> None:
    s = example_8()
    ex = s.ex
    # ADL first: the SOL long closes at its bankruptcy price (80,000 + 8,800) / 1,000 = 88.80, which leaves
    # 11,200 + 100,000 - 11,200 = 100,000 USDC against the 1 BTC owed: equity exactly 0. The debt is then
    # written off and the BTC lenders get its value at the index, 100,000 USDC, 3:1.
    assert [event["stage"] for event in stages(s.events)] == ["trigger", "adl", "lender_payout", "ended"]
    (adl,) = stages(s.events, "adl")
    assert (adl["counterparty"], D(adl["quantity"]), D(adl["notional"])) == (s["short"], D("1000"), D("88800"))
    assert D(adl["price"]) == D("88.8")
    (payout,) = stages(s.events, "lender_payout")
    assert (payout["asset"], D(payout["quantity"]), D(payout["notional"])) == ("BTC", D("1"), D("100000"))
    assert D(payout["price"]) == D("100000")  # the index
    assert stages(s.events, "socialized_loss") == []

    assert ex.balances(s["la"])["USDC"].free == D("75000")
    assert ex.balances(s["lb"])["USDC"].free == D("25000")
    assert ex.balances(s["la"])["BTC"].lent == D("2.25")  # claims shrink by 1 BTC in total, 3:1
    assert ex.balances(s["lb"])["BTC"].lent == D("0.75")
    pool = ex.pools()["BTC"]
    assert (pool.lent, pool.borrowed, pool.cash) == (D("3"), D("0"), D("3"))
    borrower = ex.balances(s["borrower"])
    assert all(balance == NOTHING for balance in borrower.values())
    assert ex.margin(s["borrower"]).net_equity == 0 and ex.positions(s["borrower"]) == {}
    assert ex.audit()["BTC"].deposits == D("4") and ex.audit()["USDC"].liquidation_fund == 0
    assert_sound(ex, s.accounts)


def test_socialized_loss_when_neither_the_account_nor_the_fund_covers_the_lenders() -> None:
    """A borrower of 1 BTC holding 112,000 USDC and no BTC when BTC jumps from 100,000 to 150,000: equity
    112,000 - 150,000 = -38,000, no positions to liquidate. The lenders are owed 150,000 USDC of value."""
    ex = cb.Exchange(zero_rate_btc(zero_fee_config()))
    s = Scenario(ex, over_levered_long(ex, usdc="11200"))
    for name in ("la", "lb", "borrower"):
        s.accounts[name] = ex.open_account(name)
    ex.set_auto_lend(s["mm"], False)
    ex.deposit(s["la"], "BTC", "3")
    ex.deposit(s["lb"], "BTC", "1")
    # First an on-book liquidation fills the fund: the deep-book numbers, 309.51.
    ex.place_order(s["mm"], SOL_PERP, "Bid", quantity="500", price="90")
    ex.set_mark_price(SOL_PERP, "90")
    assert ex.audit()["USDC"].liquidation_fund == D("309.51")
    ex.deposit(s["borrower"], "USDC", "12000")
    ex.set_max_leverage(s["borrower"], 20)
    ex.borrow(s["borrower"], "BTC", "1")
    ex.place_order(s["mm"], "BTC_USDC", "Bid", quantity="1", price="100000")
    assert ex.place_order(s["borrower"], "BTC_USDC", "Ask", quantity="1", price="100000").status == "Filled"
    assert not ex.liquidation_state(s["borrower"]).liquidatable

    s.run(lambda: ex.set_index_price("BTC", "150000"))
    # Worth 150,000: 112,000 from the account, 309.51 from the fund, 37,690.49 socialized.
    assert [event["stage"] for event in stages(s.events)] == ["trigger", "lender_payout", "socialized_loss", "ended"]
    (payout,) = stages(s.events, "lender_payout")
    assert (payout["asset"], D(payout["quantity"]), D(payout["notional"])) == ("BTC", D("1"), D("112309.51"))
    (loss,) = stages(s.events, "socialized_loss")
    assert (loss["asset"], D(loss["notional"])) == ("BTC", D("37690.49"))
    assert D(payout["notional"]) + D(loss["notional"]) == D("150000")
    assert ex.audit()["USDC"].liquidation_fund == 0
    assert ex.balances(s["la"])["USDC"].free == D("84232.1325")  # 3/4 of 112,309.51
    assert ex.balances(s["lb"])["USDC"].free == D("28077.3775")  # 1/4
    assert (ex.balances(s["la"])["BTC"].lent, ex.balances(s["lb"])["BTC"].lent) == (D("2.25"), D("0.75"))
    assert ex.pools()["BTC"].borrowed == 0
    assert all(balance == NOTHING for balance in ex.balances(s["borrower"]).values())
    assert ex.margin(s["borrower"]).net_equity == 0
    assert_sound(ex, s.accounts)


def test_a_bankrupt_account_goes_to_adl_not_to_the_backstop() -> None:
    """Policy step 4: a provider taking a bankrupt position at the mark would leave the deficit to the
    lenders, so a bankrupt account skips the backstop and is deleveraged at the bankruptcy price."""
    ex = cb.Exchange(zero_fee_config())  # auto-lend on: every USDC deposit is lent
    s = Scenario(ex, {name: ex.open_account(name) for name in ("short", "trader", "provider", "lender")})
    for name, amount in (("short", "100000"), ("trader", "11200"), ("provider", "100000"), ("lender", "50000")):
        ex.deposit(s[name], "USDC", amount)
    ex.set_mark_price(SOL_PERP, "100")
    ex.set_max_leverage(s["trader"], 20)
    open_pair(ex, SOL_PERP, "100", "1000", long=s["trader"], short=s["short"])
    ex.register_backstop_provider(s["provider"], [SOL_PERP], "1000000")
    s.run(lambda: ex.set_mark_price(SOL_PERP, "80"))
    # Equity 11,200 - 20,000 = -8,800: the short buys the 1,000 SOL back at 80 + 8.8 = 88.80, giving up
    # 8,800 of its 20,000 gain; the trader ends at exactly 0 and the lenders lose nothing.
    stage_names = [event["stage"] for event in stages(s.events)]
    assert stage_names == ["trigger", "adl", "ended"]
    (adl,) = stages(s.events, "adl")
    assert (adl["counterparty"], D(adl["quantity"]), D(adl["notional"])) == (s["short"], D("1000"), D("88800"))
    assert ex.margin(s["trader"]).net_equity == 0 and ex.positions(s["trader"]) == {}
    assert ex.margin(s["short"]).net_equity == D("111200")
    assert ex.balances(s["lender"])["USDC"].lent == D("50000")
    assert ex.positions(s["provider"]) == {}
    assert_sound(ex, s.accounts)


# ----- 6. bad input, stress, liquidation price -----------------------------------------------------------


@pytest.fixture
def world() -> Scenario:
    """The over-levered long at mark 100 (healthy) with a registered provider; events drained."""
    ex = cb.Exchange(no_auto_lend(zero_fee_config()))
    s = Scenario(ex, over_levered_long(ex, usdc="10250", btc="0.01"))
    s.accounts["provider"] = ex.open_account("provider")
    ex.register_backstop_provider(s["provider"], [SOL_PERP], "5000")
    s.drain()
    return s


def _untyped(ex: cb.Exchange) -> Any:
    return ex


BadCase = tuple[str, Callable[[Scenario], Any], type[cb.CrossbookError], str]

BAD_REGISTRATIONS: list[BadCase] = [
    (
        "unknown subaccount",
        lambda w: w.ex.register_backstop_provider(99, [SOL_PERP], "1"),
        cb.UnknownAccountError,
        "99",
    ),
    ("negative id", lambda w: w.ex.register_backstop_provider(-1, [SOL_PERP], "1"), cb.UnknownAccountError, "-1"),
    (
        "unknown market",
        lambda w: w.ex.register_backstop_provider(w["mm"], ["XRP_USDC_PERP"], "1"),
        cb.UnknownNameError,
        r'unknown market "XRP_USDC_PERP"; known markets: .*SOL_USDC_PERP',
    ),
    (
        "spot market",
        lambda w: w.ex.register_backstop_provider(w["mm"], [SOL_PERP, "SOL_USDC"], "1"),
        cb.InvalidArgumentError,
        "perpetual positions only",
    ),
    (
        "zero capacity",
        lambda w: w.ex.register_backstop_provider(w["mm"], [SOL_PERP], "0"),
        cb.InvalidAmountError,
        "must be positive, got 0",
    ),
    (
        "negative capacity",
        lambda w: w.ex.register_backstop_provider(w["mm"], [SOL_PERP], D("-5")),
        cb.InvalidAmountError,
        "must be positive",
    ),
    (
        "NaN capacity",
        lambda w: w.ex.register_backstop_provider(w["mm"], [SOL_PERP], "NaN"),
        cb.InvalidAmountError,
        "not a decimal number",
    ),
    (
        "float NaN capacity",
        lambda w: w.ex.register_backstop_provider(w["mm"], [SOL_PERP], float("nan")),
        cb.InvalidAmountError,
        "not a decimal number",
    ),
    (
        "infinite capacity",
        lambda w: w.ex.register_backstop_provider(w["mm"], [SOL_PERP], "Infinity"),
        cb.InvalidAmountError,
        "not a decimal number",
    ),
    (
        "capacity finer than a USDC atom",
        lambda w: w.ex.register_backstop_provider(w["mm"], [SOL_PERP], "1.0000001"),
        cb.InvalidAmountError,
        "whole multiple of 0.000001",
    ),
    (
        "capacity out of range",
        lambda w: w.ex.register_backstop_provider(w["mm"], [SOL_PERP], 10**30),
        cb.InvalidAmountError,
        "out of range",
    ),
    (
        "markets as one string",
        lambda w: _untyped(w.ex).register_backstop_provider(w["mm"], SOL_PERP, "1"),
        cb.InvalidTypeError,
        "markets must be a list",
    ),
    (
        "market not a string",
        lambda w: _untyped(w.ex).register_backstop_provider(w["mm"], [5], "1"),
        cb.InvalidTypeError,
        "market must be a str, got int",
    ),
    (
        "capacity None",
        lambda w: _untyped(w.ex).register_backstop_provider(w["mm"], [SOL_PERP], None),
        cb.InvalidTypeError,
        "capacity must be a Decimal, str or int, got NoneType",
    ),
    (
        "capacity bool",
        lambda w: w.ex.register_backstop_provider(w["mm"], [SOL_PERP], True),
        cb.InvalidTypeError,
        "got bool",
    ),
    (
        "subaccount as a string",
        lambda w: _untyped(w.ex).register_backstop_provider("mm", [SOL_PERP], "1"),
        cb.InvalidTypeError,
        "subaccount must be an int id, got str",
    ),
]

BAD_VIEWS: list[BadCase] = [
    ("state of unknown subaccount", lambda w: w.ex.liquidation_state(99), cb.UnknownAccountError, "id 99"),
    ("state of a float id", lambda w: _untyped(w.ex).liquidation_state(1.0), cb.InvalidTypeError, "got float"),
    ("price of unknown subaccount", lambda w: w.ex.liquidation_price(99, SOL_PERP), cb.UnknownAccountError, "id 99"),
    ("price in unknown market", lambda w: w.ex.liquidation_price(w["trader"], "X"), cb.UnknownNameError, '"X"'),
    (
        "price in a spot market",
        lambda w: w.ex.liquidation_price(w["trader"], "SOL_USDC"),
        cb.InvalidArgumentError,
        "spot markets have no positions",
    ),
    ("stress of unknown subaccount", lambda w: w.ex.stress(99, {"SOL": "1"}), cb.UnknownAccountError, "id 99"),
    ("stress unknown name", lambda w: w.ex.stress(w["trader"], {"XRP": "1"}), cb.UnknownNameError, '"XRP"'),
    (
        "stress a spot market",
        lambda w: w.ex.stress(w["trader"], {"SOL_USDC": "1"}),
        cb.InvalidArgumentError,
        "through its base asset",
    ),
    (
        "stress a zero mark",
        lambda w: w.ex.stress(w["trader"], {SOL_PERP: "0"}),
        cb.InvalidAmountError,
        "must be positive",
    ),
    (
        "stress an off-tick mark",
        lambda w: w.ex.stress(w["trader"], {SOL_PERP: "89.999"}),
        cb.InvalidAmountError,
        "whole multiple of 0.01",
    ),
    ("stress NaN", lambda w: w.ex.stress(w["trader"], {"BTC": "NaN"}), cb.InvalidAmountError, "not a decimal"),
    ("stress USDC", lambda w: w.ex.stress(w["trader"], {"USDC": "2"}), cb.InvalidArgumentError, "fixed at 1"),
    (
        "stress not a dict",
        lambda w: _untyped(w.ex).stress(w["trader"], [(SOL_PERP, "90")]),
        cb.InvalidTypeError,
        "prices must be a dict",
    ),
    ("engine start of unknown", lambda w: w.ex._engine.start_liquidation(99), cb.UnknownAccountError, "id 99"),
    (
        "engine loop on a healthy account",
        lambda w: w.ex._engine.auto_deleverage(w["trader"]),
        cb.InvalidArgumentError,
        "start_liquidation first",
    ),
]


@pytest.mark.parametrize(
    ("name", "call", "error", "message"),
    BAD_REGISTRATIONS + BAD_VIEWS,
    ids=[c[0] for c in BAD_REGISTRATIONS + BAD_VIEWS],
)
def test_bad_input_raises_and_changes_nothing(
    world: Scenario, name: str, call: Callable[[Scenario], Any], error: type[cb.CrossbookError], message: str
) -> None:
    before = (world.ex.state_hash(), world.ex.backstop_providers(), world.ex.liquidating())
    with pytest.raises(error, match=message):
        call(world)
    assert (world.ex.state_hash(), world.ex.backstop_providers(), world.ex.liquidating()) == before, name
    assert world.ex.events() == []


def test_registration_is_state_and_re_registering_replaces_in_place(world: Scenario) -> None:
    ex = world.ex
    before = ex.state_hash()
    ex.register_backstop_provider(world["mm"], [SOL_PERP, BTC_PERP, SOL_PERP], "250.5")
    assert ex.state_hash() != before
    # Markets are deduplicated and kept in market order; the provider keeps its place on re-registration.
    expected = [(world["provider"], [SOL_PERP], D("5000")), (world["mm"], [BTC_PERP, SOL_PERP], D("250.5"))]
    assert ex.backstop_providers() == expected
    ex.register_backstop_provider(world["provider"], [BTC_PERP], 7)
    assert ex.backstop_providers() == [(world["provider"], [BTC_PERP], D("7")), expected[1]]


def test_stress_changes_nothing_and_brackets_the_liquidation_price(world: Scenario) -> None:
    ex, trader = world.ex, world["trader"]
    before = ex.state_hash()
    # Equity at mark p: 11,200 - (100 - p) x 1,000; MM 13.5 p (MMF base 0.0135 below N = 140,625).
    # MMR = 1 at 986.5 p = 88,800: p = 90.0152.., shown on the tick as 90.02.
    at = {price: ex.stress(trader, {SOL_PERP: price}) for price in ("100", "95", "90.02", "90.01", "90")}
    assert (at["100"].net_equity, at["100"].mm, at["100"].mmr) == (D("11200"), D("1350"), 1350 / 11200)
    assert (at["95"].net_equity, at["95"].mm) == (D("6200"), D("1282.5"))
    assert at["100"].mmr < at["95"].mmr < at["90.02"].mmr < 1 <= at["90.01"].mmr < at["90"].mmr
    assert at["90"].mmr == 1.0125 and at["90"].liquidatable and not at["95"].liquidatable
    price = ex.liquidation_price(trader, SOL_PERP)
    assert price == D("90.02") == ex.positions(trader)[SOL_PERP].est_liquidation_price
    assert price < ex.positions(trader)[SOL_PERP].mark
    assert ex.stress(trader, {SOL_PERP: price - D("0.01")}).mmr >= 1
    # The BTC collateral: half the price, half the 950 of collateral value.
    assert ex.stress(trader, {"BTC": "50000"}).net_equity == D("11200") - D("475")
    assert ex.liquidation_price(world["provider"], SOL_PERP) is None  # no position
    assert ex.state_hash() == before and ex.events() == []
    assert ex.liquidation_state(trader).mmr == 1350 / 11200
    assert not ex.liquidation_state(trader).liquidating


# ----- 7. determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    [deep_book, lambda: thin_book(("p1", "100000", "9000"), ("p2", "1800", "1000000")), gap, example_8],
    ids=["deep book", "backstop", "adl", "example 8"],
)
def test_the_same_scenario_gives_the_same_events_and_state_hash(scenario: Callable[[], Scenario]) -> None:
    first, second = scenario(), scenario()
    first.drain()
    second.drain()
    assert stages(first.events), "the scenario liquidates"
    assert first.history == second.history
    assert first.ex.state_hash() == second.ex.state_hash()
    third = scenario()
    third.run(lambda: third.ex.advance_to(60_000))  # and they stay equal as time goes on
    second.run(lambda: second.ex.advance_to(60_000))
    assert third.events == second.events and third.ex.state_hash() == second.ex.state_hash()


# ----- regressions of engine bugs -------------------------------------------------------------------------


def test_adl_never_leaves_a_counterparty_with_negative_equity() -> None:
    """SPEC §9: "After the waterfall, no subaccount ends with negative net equity". A regression: before the
    fix (a counterparty gives up at most its own equity against the mark) it failed as follows.

    The trader is long 500 SOL (from 100) and 0.5 BTC perp (from 100,000) with 20,000 USDC. ``thin`` shorts
    100 SOL at 85 with 200 USDC at 50x (healthy: equity 300 at mark 84, MM 113.4). A BTC-perp gap to 50,000
    makes the trader bankrupt: 20,000 - 8,000 - 25,000 = -13,000. ADL closes the SOL position first (the
    larger MM) and it "absorbs the whole net equity": (42,000 + 13,000) / 500 = 110.00 a SOL, 31% above the
    mark. ``thin`` ranks first (PnL 1/85 x leverage 8,400/300 = 0.33 against s0's 0.16 x 42,000/108,000) and
    buys back 100 at 110: realized (85 - 110) x 100 = -2,500 against its 200 USDC, net equity -2,300. It is
    left so after the command (shown as a USDC ``borrowed`` of 2,300 that ``pools()`` does not have); only
    the next realize tick liquidates it, writing the 2,300 off against the venue's fee account.
    """
    ex = cb.Exchange(no_auto_lend(zero_fee_config()))
    s = Scenario(ex, {name: ex.open_account(name) for name in ("s0", "b0", "trader", "thin", "aux")})
    for name in ("s0", "b0", "aux"):
        ex.deposit(s[name], "USDC", "100000")
    ex.deposit(s["trader"], "USDC", "20000")
    ex.deposit(s["thin"], "USDC", "200")
    ex.set_max_leverage(s["trader"], 20)
    ex.set_max_leverage(s["thin"], 50)
    ex.set_mark_price(SOL_PERP, "100")
    ex.set_mark_price(BTC_PERP, "100000")
    open_pair(ex, SOL_PERP, "100", "500", long=s["trader"], short=s["s0"])
    open_pair(ex, BTC_PERP, "100000", "0.5", long=s["trader"], short=s["b0"])
    ex.set_mark_price(SOL_PERP, "85")
    open_pair(ex, SOL_PERP, "85", "100", long=s["aux"], short=s["thin"])
    ex.set_mark_price(SOL_PERP, "84")
    assert all(not ex.liquidation_state(sub).liquidatable for sub in s.accounts.values())
    s.run(lambda: ex.set_mark_price(BTC_PERP, "50000"))
    adl = stages(s.events, "adl")
    assert [event["counterparty"] for event in adl[:2]] == [s["thin"], s["s0"]]
    assert ex.margin(s["trader"]).net_equity == 0
    assert_sound(ex, s.accounts)  # fails: {'thin': Decimal('-2300')}


@pytest.mark.parametrize(
    ("market", "price", "quantity", "deposit"),
    [
        # deposit = 10% of the notional (the drop) + the equity that puts MMR at 1.05 after it:
        # SOL: MM 90,000 x 0.0135 = 1,215 -> equity 1,157.14; ETH: 81,000 x 0.0125 = 1,012.5 -> 964.29;
        # BTC: 90,000 x 0.01 = 900 -> 857.14.
        (SOL_PERP, "100", "1000", "11157.14"),
        ("ETH_USDC_PERP", "3000", "30", "9964.29"),
        (BTC_PERP, "100000", "1", "10857.14"),
    ],
)
def test_each_on_book_chunk_lowers_the_mmr(market: str, price: str, quantity: str, deposit: str) -> None:
    """SPEC §9 step 2: loops run "until MMR < target", so each loop on a deep book at the mark must lower the
    MMR. A chunk c frees c x MMF of maintenance margin and costs c x 1% of fee; for BTC_USDC_PERP the default
    MMF base is 0.01, equal to the fee, so each chunk raises MMR (equal amounts off both sides of a ratio
    >= 1) and the liquidation only fed the liquidation fund (20 loops took MMR from 1.05 to 1.65). The fee
    is now capped at 3/4 of what a loop gains against the MMR, so BTC converges like ETH and SOL.
    """
    ex = cb.Exchange(no_auto_lend(zero_fee_config()))
    mm, trader = ex.open_account("mm"), ex.open_account("trader")
    ex.deposit(mm, "USDC", "10000000")
    ex.deposit(trader, "USDC", deposit)
    ex.set_max_leverage(trader, 20)
    ex.set_mark_price(market, price)
    open_pair(ex, market, price, quantity, long=trader, short=mm)
    low = D(price) * D("0.9")
    ex.place_order(mm, market, "Bid", quantity=D(quantity) * 2, price=low)  # deep enough for all of it
    ex.events()
    ex.set_mark_price(market, low)
    on_book = stages(ex.events(), "on_book")
    assert on_book
    assert [D(event["mmr_after"]) < D(event["mmr_before"]) for event in on_book] == [True] * len(on_book)
    state = ex.liquidation_state(trader)
    assert not state.liquidating and state.mmr < 0.9
    assert_sound(ex, {"mm": mm, "trader": trader})


def test_a_borrow_is_repaid_by_selling_collateral_on_the_spot_book() -> None:
    """SPEC §9 step 2 for a borrow: the loop sells a chunk of the collateral on its spot book (no worse than
    the index less the impact band) and repays the borrow with the proceeds."""
    ex = cb.Exchange(zero_fee_config())
    lender, trader, mm = (ex.open_account(name) for name in ("lender", "trader", "mm"))
    ex.deposit(lender, "USDC", "100000")  # auto-lent: the pool's cash
    ex.deposit(mm, "USDC", "100000")
    ex.set_index_price("SOL", "100")
    ex.deposit(trader, "SOL", "100")
    ex.set_auto_lend(trader, False)
    ex.borrow(trader, "USDC", "8000")
    ex.withdraw(trader, "USDC", "8000")
    ex.place_order(mm, "SOL_USDC", "Bid", quantity="100", price="89")
    ex.events()
    # SOL at 89.6: collateral 100 x 89.6 x 0.9 = 8,064, equity about 64 against a borrow MM of about 96.
    ex.set_index_price("SOL", "89.6")
    events = ex.events()
    (on_book,) = stages(events, "on_book")
    assert (on_book["market"], on_book["asset"]) == ("SOL_USDC", "USDC")
    assert D(on_book["notional"]) == D("890")  # 10 SOL (10%) sold at the bid of 89
    assert D(on_book["mmr_after"]) < D("0.9") < D(on_book["mmr_before"])
    assert ex.balances(trader)["SOL"].free == D("90")
    # 8,000 plus the entry fee of its first hour (a cent at most), less the 890 repaid, plus the 1%
    # liquidation fee of 8.90, which the settlement chain borrows (the trader holds no free USDC).
    assert D("7118.90") < ex.balances(trader)["USDC"].borrowed < D("7118.91")
    assert ex.audit()["USDC"].liquidation_fund == D("8.9")
    assert not ex.liquidation_state(trader).liquidating
    assert all(audit.balanced for audit in ex.audit().values())
