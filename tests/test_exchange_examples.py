"""SPEC §12 worked examples and the core trading behaviour, through ``crossbook.Exchange``.

Every expectation is a concrete ``Decimal`` (or an exact ratio). Configs with zero fees are used where a
fee would blur the number under test; ``test_default_fees_*`` check the fees themselves, exactly.
"""

from __future__ import annotations

import contextlib
from decimal import ROUND_FLOOR, Decimal, localcontext

import pytest

import crossbook as cb
from crossbook.config import Config, Haircut
from exchange_helpers import (
    events_of_kind,
    no_auto_lend,
    no_liquidation,
    open_pair,
    usdc_atoms,
    with_haircut,
    zero_fee_config,
)

SOL_PERP = "SOL_USDC_PERP"
D = Decimal


@pytest.fixture
def zero_fee() -> cb.Exchange:
    return cb.Exchange(no_auto_lend(zero_fee_config()))


# ----- SPEC §12 example 1: size-scaled margin --------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "notional", "im", "mm"),
    [
        # N = 250,000: IMF = 0.00006 * sqrt(250,000) = 0.03, MMF = 0.000036 * 500 = 0.018.
        ("2500", D("250000"), D("7500"), D("4500")),
        # N = 100,000: the bases win, IMF 0.02, MMF 0.0135.
        ("1000", D("100000"), D("2000"), D("1350")),
    ],
)
def test_example_1_size_scaled_margin(quantity: str, notional: Decimal, im: Decimal, mm: Decimal) -> None:
    ex = cb.Exchange()
    long, short = ex.open_account("long"), ex.open_account("short")
    for sub in (long, short):
        ex.deposit(sub, "USDC", "1000000")
        ex.set_max_leverage(sub, 50)
    ex.set_mark_price(SOL_PERP, "100")
    open_pair(ex, SOL_PERP, "100", quantity, long=long, short=short)
    market = ex.config.market(SOL_PERP)
    assert market.imf is not None and market.mmf is not None
    assert market.imf.fraction(notional) * notional == im
    assert market.mmf.fraction(notional) * notional == mm
    for sub in (long, short):
        margin = ex.margin(sub)
        assert margin.exposure == notional
        assert margin.im == im
        assert margin.locked == im
        assert margin.mm == mm


def test_example_1_leverage_floor_applies_below_the_size_term() -> None:
    # At the default 10x the leverage floor 1/10 beats IMF 0.03: IM = 25,000 for N = 250,000; MM unchanged.
    ex = cb.Exchange()
    long, short = ex.open_account("long"), ex.open_account("short")
    for sub in (long, short):
        ex.deposit(sub, "USDC", "1000000")
    ex.set_mark_price(SOL_PERP, "100")
    open_pair(ex, SOL_PERP, "100", "2500", long=long, short=short)
    margin = ex.margin(long)
    assert (margin.im, margin.mm) == (D("25000"), D("4500"))


# ----- SPEC §12 example 2: ratios, leverage, liquidation price ---------------------------------------


def _example_2(ex: cb.Exchange) -> int:
    """Net equity 10,000 USDC and one SOL perp long of N = 100,000 at 50x; returns the subaccount."""
    sub, other = ex.open_account("trader"), ex.open_account("counterparty")
    ex.deposit(sub, "USDC", "10000")
    ex.deposit(other, "USDC", "1000000")
    ex.set_max_leverage(sub, 50)
    ex.set_mark_price(SOL_PERP, "100")
    open_pair(ex, SOL_PERP, "100", "1000", long=sub, short=other)
    return sub


def test_example_2_ratios_at_50x(zero_fee: cb.Exchange) -> None:
    sub = _example_2(zero_fee)
    margin = zero_fee.margin(sub)
    assert margin.net_equity == D("10000")
    assert margin.mm == D("1350")
    assert margin.mmr == 0.135
    assert margin.im == D("2000")
    assert margin.imr == 0.2
    assert margin.available == D("8000")
    assert margin.margin_fraction == 0.1
    assert not margin.liquidatable


def test_example_2_default_leverage_gives_imr_exactly_one(zero_fee: cb.Exchange) -> None:
    sub = _example_2(zero_fee)
    zero_fee.set_max_leverage(sub, 10)  # IM 10,000 = net equity: allowed (IMR not above 100%)
    margin = zero_fee.margin(sub)
    assert margin.im == D("10000")
    assert margin.imr == 1.0
    assert margin.available == D("0")
    assert margin.mm == D("1350")
    before = zero_fee.state_hash()
    with pytest.raises(cb.InsufficientMarginError, match="IMR above 100%"):
        zero_fee.set_max_leverage(sub, 9)  # IM ceil(100,000 / 9) > 10,000
    assert zero_fee.state_hash() == before
    assert zero_fee.settings(sub)["max_leverage"] == 10


def test_example_2_position_opened_at_10x_with_exactly_enough_equity(zero_fee: cb.Exchange) -> None:
    sub, other = zero_fee.open_account("trader"), zero_fee.open_account("counterparty")
    zero_fee.deposit(sub, "USDC", "10000")
    zero_fee.deposit(other, "USDC", "1000000")
    zero_fee.set_mark_price(SOL_PERP, "100")
    open_pair(zero_fee, SOL_PERP, "100", "1000", long=sub, short=other)
    margin = zero_fee.margin(sub)
    assert (margin.im, margin.imr, margin.available) == (D("10000"), 1.0, D("0"))
    # One more lot would take IMR above 100%: a reject (a result, not an exception).
    zero_fee.place_order(other, SOL_PERP, "Ask", quantity="0.01", price="100")
    result = zero_fee.place_order(sub, SOL_PERP, "Bid", quantity="0.01", price="100")
    assert (result.status, result.reject_reason, result.order_id) == ("Rejected", "InsufficientMargin", None)


def test_example_2_liquidation_price_agrees_with_stress(zero_fee: cb.Exchange) -> None:
    """MMR reaches 100% where equity 10,000 + 1,000 (p - 100) equals MM 1,000 p * 0.0135 (the MMF base holds
    there): p = 90,000 / 986.5 = 91.2316..., i.e. 91.23 on the tick. SPEC's "equity falls to 1,350" is MM at
    the entry mark; at the liquidation price MM has shrunk with the notional to about 1,231.6."""
    sub = _example_2(zero_fee)
    price = zero_fee.liquidation_price(sub, SOL_PERP)
    assert price == D("91.23")
    assert zero_fee.positions(sub)[SOL_PERP].est_liquidation_price == D("91.23")
    tick = D("0.01")
    at = zero_fee.stress(sub, {SOL_PERP: price})
    above = zero_fee.stress(sub, {SOL_PERP: price + tick})
    # Exact figures on the tick: equity 10,000 - 1,000 * 8.77, MM 91,230 * 0.0135.
    assert (at.net_equity, at.mm) == (D("1230"), D("1231.605"))
    assert at.mmr >= 1.0 and at.liquidatable
    assert (above.net_equity, above.mm) == (D("1240"), D("1231.74"))
    assert above.mmr < 1.0 and not above.liquidatable
    # Within a tick, equity equals MM: one tick moves equity by 1,000 * 0.01 = 10 USDC.
    assert abs(at.net_equity - at.mm) <= D("10")
    # Where equity is exactly the entry MM of 1,350, the account is still (just) safe.
    safe = zero_fee.stress(sub, {SOL_PERP: "91.35"})
    assert (safe.net_equity, safe.mm) == (D("1350"), D("1233.225"))
    assert not safe.liquidatable
    # stress changed nothing.
    assert zero_fee.margin(sub).net_equity == D("10000")


def test_example_2_short_liquidation_price(zero_fee: cb.Exchange) -> None:
    sub, other = zero_fee.open_account("short"), zero_fee.open_account("long")
    zero_fee.deposit(sub, "USDC", "10000")
    zero_fee.deposit(other, "USDC", "1000000")
    zero_fee.set_max_leverage(sub, 50)
    zero_fee.set_mark_price(SOL_PERP, "100")
    open_pair(zero_fee, SOL_PERP, "100", "1000", long=other, short=sub)
    # 10,000 - 1,000 (p - 100) = 13.5 p  ->  p = 110,000 / 1,013.5 = 108.5347...
    price = zero_fee.liquidation_price(sub, SOL_PERP)
    assert price == D("108.53")
    assert zero_fee.stress(sub, {SOL_PERP: "108.54"}).liquidatable
    assert not zero_fee.stress(sub, {SOL_PERP: "108.53"}).liquidatable


def test_liquidation_price_is_none_without_a_position_risk(zero_fee: cb.Exchange) -> None:
    # A long fully backed by collateral is safe down to zero.
    sub, other = zero_fee.open_account("safe"), zero_fee.open_account("other")
    zero_fee.deposit(sub, "USDC", "1000000")
    zero_fee.deposit(other, "USDC", "1000000")
    zero_fee.set_mark_price(SOL_PERP, "100")
    open_pair(zero_fee, SOL_PERP, "100", "10", long=sub, short=other)
    assert zero_fee.liquidation_price(sub, SOL_PERP) is None
    assert zero_fee.positions(sub)[SOL_PERP].est_liquidation_price is None


# ----- SPEC §12 example 3: haircut -------------------------------------------------------------------


def _floor_atom(value: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 60
        return value.quantize(D("0.000001"), rounding=ROUND_FLOOR)


@pytest.mark.parametrize(
    ("btc", "value", "collateral"),
    [
        ("0.2493", D("24930"), D("23683.5")),  # below N ~ 24,930.75 the weight is the base 0.95
        ("0.2494", D("24940"), D("23692.400566")),  # just above: 1.1 / (1 + 0.001 sqrt(24,940)) = 0.949976...
        ("1", D("100000"), D("83572.161931")),  # 0.835721619312... rounded down to an atom
        ("10", D("1000000"), D("550000")),  # 1.1 / (1 + 0.001 * 1,000) = 0.55
    ],
)
def test_example_3_haircut(btc: str, value: Decimal, collateral: Decimal) -> None:
    haircut = Haircut("inverseSqrt", D("0.95"), D("0.001"))
    ex = cb.Exchange(with_haircut(Config.default(), "BTC", haircut))
    ex.set_index_price("BTC", "100000")
    sub = ex.open_account("holder")
    ex.deposit(sub, "BTC", btc)
    assert _floor_atom(value * haircut.weight(value)) == collateral
    margin = ex.margin(sub)
    assert margin.collateral == collateral
    assert margin.net_equity == collateral
    assert (margin.im, margin.mm, margin.exposure) == (D(0), D(0), D(0))


def test_example_3_weights() -> None:
    haircut = Haircut("inverseSqrt", D("0.95"), D("0.001"))
    assert haircut.weight(D("24930")) == D("0.95")
    assert haircut.weight(D("24931")) < D("0.95")
    assert str(haircut.weight(D("100000"))).startswith("0.835721")
    assert haircut.weight(D("1000000")) == D("0.55")


# ----- SPEC §12 example 5: the book walk -------------------------------------------------------------


@pytest.mark.parametrize("market", ["SOL_USDC", SOL_PERP])
def test_example_5_book_walk(market: str, zero_fee: cb.Exchange) -> None:
    ex = zero_fee
    assert ex.config.market(market).tick_size == D("0.01")
    maker, taker, late = ex.open_account("maker"), ex.open_account("taker"), ex.open_account("late")
    for sub in (maker, taker, late):
        ex.deposit(sub, "USDC", "100000")
        ex.deposit(sub, "SOL", "1000")
    ex.set_index_price("SOL", "100")
    ex.set_mark_price(SOL_PERP, "100")
    ids = [ex.place_order(maker, market, "Ask", quantity=q, price=p).order_id for p, q in _ASKS]
    assert None not in ids
    ex.events()
    result = ex.place_order(taker, market, "Bid", order_type="Market", quantity="80")
    assert result.status == "Filled"
    assert result.filled == D("80")
    fills = [(fill.price, fill.quantity, fill.liquidity) for fill in result.fills]
    assert fills == [(D("100.10"), D("50"), "Taker"), (D("100.20"), D("30"), "Taker")]
    vwap = sum(fill.price * fill.quantity for fill in result.fills) / result.filled
    assert vwap == D("100.1375")
    bids, asks = ex.depth(market)
    assert bids == []
    assert asks == [(D("100.20"), D("70")), (D("100.30"), D("200"))]
    fill_events = events_of_kind(ex.events(), "Fill")
    assert [(event["maker_order_id"], event["price"], event["quantity"]) for event in fill_events] == [
        (ids[0], "100.1", "50"),
        (ids[1], "100.2", "30"),
    ]
    # The partly filled 100.20 order keeps the front of its level: a later order there trades after it.
    ex.place_order(late, market, "Ask", quantity="10", price="100.20")
    follow = ex.place_order(taker, market, "Bid", quantity="75", price="100.20")
    assert [(fill.price, fill.quantity) for fill in follow.fills] == [(D("100.20"), D("70")), (D("100.20"), D("5"))]
    makers = [event["maker"] for event in events_of_kind(ex.events(), "Fill")]
    assert makers == [maker, late]


_ASKS = [("100.10", "50"), ("100.20", "100"), ("100.30", "200")]


# ----- fees ------------------------------------------------------------------------------------------


def test_default_fees_spot_are_exact_and_rounded_toward_the_venue() -> None:
    ex = cb.Exchange(no_auto_lend())  # maker 0.0002, taker 0.0005
    seller, buyer = ex.open_account("seller"), ex.open_account("buyer")
    ex.deposit(seller, "SOL", "1")
    ex.deposit(buyer, "USDC", "10")
    ex.place_order(seller, "SOL_USDC", "Ask", quantity="0.03", price="100.01")
    result = ex.place_order(buyer, "SOL_USDC", "Bid", quantity="0.03", price="100.01")
    # Notional 3.0003 USDC: taker 0.00150015 -> 0.001501, maker 0.00060006 -> 0.000601 (rounded up).
    assert [(fill.fee, fill.liquidity) for fill in result.fills] == [(D("0.001501"), "Taker")]
    (event,) = events_of_kind(ex.events(), "Fill")
    assert (event["taker_fee"], event["maker_fee"]) == ("0.001501", "0.000601")
    assert ex.balances(buyer)["USDC"].free == D("10") - D("3.0003") - D("0.001501")
    assert ex.balances(buyer)["SOL"].free == D("0.03")
    assert ex.balances(seller)["USDC"].free == D("3.0003") - D("0.000601")
    assert ex.balances(seller)["SOL"].free == D("0.97")
    audit = ex.audit()
    assert audit["USDC"].fees == D("0.002102")
    assert audit["SOL"].fees == D(0)
    assert all(line.balanced for line in audit.values())


def test_default_fees_perp_land_in_the_fee_account() -> None:
    ex = cb.Exchange(no_auto_lend())
    long, short = ex.open_account("long"), ex.open_account("short")
    for sub in (long, short):
        ex.deposit(sub, "USDC", "20000")
    ex.set_mark_price(SOL_PERP, "100")
    result = open_pair(ex, SOL_PERP, "100", "1000", long=long, short=short)
    assert [fill.fee for fill in result.fills] == [D("50")]  # 100,000 * 0.0005
    assert ex.balances(long)["USDC"].free == D("19950")
    assert ex.balances(short)["USDC"].free == D("19980")  # maker 100,000 * 0.0002
    usdc = ex.audit()["USDC"]
    assert usdc.fees == D("70")
    assert usdc.held_by_subaccounts == D("39930")
    assert usdc.held_by_subaccounts + usdc.fees + usdc.liquidation_fund + usdc.pnl_clearing == usdc.deposits
    assert usdc.balanced


# ----- spot balances and locks -----------------------------------------------------------------------


def test_spot_orders_lock_and_fills_move_balances_exactly(zero_fee: cb.Exchange) -> None:
    ex = zero_fee
    buyer, seller = ex.open_account("buyer"), ex.open_account("seller")
    ex.deposit(buyer, "USDC", "2000")
    ex.deposit(seller, "SOL", "10")
    bid = ex.place_order(buyer, "SOL_USDC", "Bid", quantity="10", price="100")
    assert bid.status == "New"
    assert ex.balances(buyer)["USDC"] == cb.exchange.Balance(D("1000"), D("1000"), D(0), D(0))
    ask = ex.place_order(seller, "SOL_USDC", "Ask", quantity="4", order_type="Market")
    assert (ask.status, ask.filled) == ("Filled", D("4"))
    assert ex.balances(buyer)["USDC"] == cb.exchange.Balance(D("1000"), D("600"), D(0), D(0))
    assert ex.balances(buyer)["SOL"].free == D("4")
    assert ex.balances(seller)["SOL"] == cb.exchange.Balance(D("6"), D(0), D(0), D(0))
    assert ex.balances(seller)["USDC"].free == D("400")
    # A resting ask locks its base quantity.
    ex.place_order(seller, "SOL_USDC", "Ask", quantity="5", price="120")
    assert ex.balances(seller)["SOL"] == cb.exchange.Balance(D("1"), D("5"), D(0), D(0))
    assert ex.audit()["USDC"].locked_by_orders == D("600")
    assert ex.audit()["SOL"].locked_by_orders == D("5")
    assert ex.cancel_all(buyer) == 1
    assert ex.balances(buyer)["USDC"] == cb.exchange.Balance(D("1600"), D(0), D(0), D(0))
    assert ex.cancel_all(seller) == 1
    assert ex.balances(seller)["SOL"] == cb.exchange.Balance(D("6"), D(0), D(0), D(0))
    assert all(line.balanced for line in ex.audit().values())


def test_spot_bid_locks_the_taker_fee_too() -> None:
    ex = cb.Exchange(no_auto_lend())
    buyer = ex.open_account("buyer")
    ex.deposit(buyer, "USDC", "2000")
    ex.place_order(buyer, "SOL_USDC", "Bid", quantity="10", price="100")
    assert ex.balances(buyer)["USDC"] == cb.exchange.Balance(D("999.5"), D("1000.5"), D(0), D(0))


def test_spot_order_beyond_the_free_balance_is_rejected_as_a_result(zero_fee: cb.Exchange) -> None:
    buyer = zero_fee.open_account("buyer")
    zero_fee.deposit(buyer, "USDC", "999.99")
    result = zero_fee.place_order(buyer, "SOL_USDC", "Bid", quantity="10", price="100")
    assert (result.status, result.reject_reason, result.order_id) == ("Rejected", "InsufficientBalance", None)
    assert zero_fee.balances(buyer)["USDC"].locked == D(0)
    (event,) = events_of_kind(zero_fee.events(), "OrderRejected")
    assert event["reason"] == "InsufficientBalance"


def test_spot_buy_never_spends_more_than_it_locked() -> None:
    ex = cb.Exchange()  # taker fee 0.0005
    buyer, seller = ex.open_account("buyer"), ex.open_account("seller")
    ex.deposit(seller, "SOL", "1")
    for _ in range(3):
        ex.place_order(seller, "SOL_USDC", "Ask", quantity="0.01", price="1.01")
    # Lock: 0.0303 + ceil(0.00001515) = 0.030316 USDC, exactly the deposit.
    ex.deposit(buyer, "USDC", "0.030316")
    result = ex.place_order(buyer, "SOL_USDC", "Bid", quantity="0.03", price="1.01")
    assert result.status in {"Filled", "Rejected"}
    usdc = ex.balances(buyer)["USDC"]
    assert usdc.borrowed == D(0), f"the buyer ended up owing {usdc.borrowed} USDC"


# ----- perpetuals: realized PnL, margin rejects, reduce-only -----------------------------------------


def test_perp_reducing_fills_realize_pnl(zero_fee: cb.Exchange) -> None:
    ex = zero_fee
    long, short, buyer = ex.open_account("long"), ex.open_account("short"), ex.open_account("buyer")
    for sub in (long, short, buyer):
        ex.deposit(sub, "USDC", "10000")
    ex.set_mark_price(SOL_PERP, "100")
    open_pair(ex, SOL_PERP, "100", "10", long=long, short=short)
    ex.set_mark_price(SOL_PERP, "110")
    assert ex.positions(long)[SOL_PERP].unrealized_pnl == D("100")
    ex.place_order(buyer, SOL_PERP, "Bid", quantity="4", price="110")
    ex.events()
    result = ex.place_order(long, SOL_PERP, "Ask", quantity="4", price="110")
    assert result.status == "Filled"
    (fill,) = events_of_kind(ex.events(), "Fill")
    assert (fill["taker_realized_pnl"], fill["maker_realized_pnl"]) == ("40", "0")
    assert ex.balances(long)["USDC"].free == D("10040")
    position = ex.positions(long)[SOL_PERP]
    assert (position.net_qty, position.net_cost, position.entry_price) == (D("6"), D("600"), D("100"))
    assert position.unrealized_pnl == D("60")
    assert ex.balances(short)["USDC"].free == D("10000")  # the short's loss stays unrealized
    assert ex.positions(short)[SOL_PERP].unrealized_pnl == D("-100")
    # The clearing account paid the 40 out: it holds minus the sum of open cost bases.
    usdc = ex.audit()["USDC"]
    costs = sum(p.net_cost for sub in (long, short, buyer) for p in ex.positions(sub).values())
    assert costs == D("40")
    assert usdc.pnl_clearing == -costs
    assert usdc.balanced


def test_perp_realized_pnl_rounds_against_the_account(zero_fee: cb.Exchange) -> None:
    ex = zero_fee
    long, maker, taker = ex.open_account("long"), ex.open_account("maker"), ex.open_account("taker")
    for sub in (long, maker, taker):
        ex.deposit(sub, "USDC", "10000")
    ex.set_mark_price(SOL_PERP, "100")
    for price in ("100.00", "100.01", "100.01"):
        ex.place_order(maker, SOL_PERP, "Ask", quantity="1", price=price)
    ex.place_order(long, SOL_PERP, "Bid", quantity="3", price="100.01")
    assert ex.positions(long)[SOL_PERP].net_cost == D("300.02")
    ex.place_order(taker, SOL_PERP, "Bid", quantity="1", price="100")
    ex.events()
    ex.place_order(long, SOL_PERP, "Ask", quantity="1", price="100")
    # Closing a third: cost removed ceil(300.02 / 3) = 100.006667, realized 100 - 100.006667.
    (fill,) = events_of_kind(ex.events(), "Fill")
    assert fill["taker_realized_pnl"] == "-0.006667"
    assert ex.positions(long)[SOL_PERP].net_cost == D("200.013333")
    assert ex.balances(long)["USDC"].free == D("9999.993333")
    assert ex.audit()["USDC"].balanced


def test_insufficient_margin_is_a_reject_and_reducing_orders_always_pass(zero_fee: cb.Exchange) -> None:
    ex = zero_fee
    sub, other = ex.open_account("trader"), ex.open_account("other")
    ex.deposit(sub, "USDC", "1000")
    ex.deposit(other, "USDC", "1000000")
    ex.set_mark_price(SOL_PERP, "100")
    too_big = ex.place_order(sub, SOL_PERP, "Bid", quantity="1000", price="100")
    assert (too_big.status, too_big.reject_reason, too_big.order_id) == ("Rejected", "InsufficientMargin", None)
    assert ex.open_orders(sub) == []
    open_pair(ex, SOL_PERP, "100", "100", long=sub, short=other)  # IM 1,000 = equity at 10x
    ex.set_mark_price(SOL_PERP, "95")
    margin = ex.margin(sub)
    assert (margin.net_equity, margin.im) == (D("500"), D("950"))  # IMR 190%
    more = ex.place_order(sub, SOL_PERP, "Bid", quantity="0.01", price="95")
    assert more.reject_reason == "InsufficientMargin"
    # Selling reduces the worst-case exposure, so it is accepted however stretched the account is.
    for quantity in ("50", "100"):
        reduce = ex.place_order(sub, SOL_PERP, "Ask", quantity=quantity, price="120")
        assert (reduce.status, reduce.reject_reason) == ("New", None) and reduce.order_id is not None
        assert ex.cancel_order(sub, SOL_PERP, reduce.order_id)
    ex.place_order(other, SOL_PERP, "Bid", quantity="60", price="95")
    close = ex.place_order(sub, SOL_PERP, "Ask", quantity="60", price="95")
    assert (close.status, close.filled) == ("Filled", D("60"))
    assert ex.positions(sub)[SOL_PERP].net_qty == D("40")
    assert ex.margin(sub).net_equity == D("500")  # 700 USDC after a realized loss of 300, upnl -200
    # An ask of up to twice the position never raises the worst case max(|40|, |40 - asks|) = 40.
    both_ways = ex.place_order(sub, SOL_PERP, "Ask", quantity="80", price="120")
    assert (both_ways.status, both_ways.reject_reason) == ("New", None) and both_ways.order_id is not None
    assert ex.cancel_order(sub, SOL_PERP, both_ways.order_id)
    # Beyond it the exposure grows (to 160 SOL, IM 1,520 > 500): checked, and rejected.
    flip = ex.place_order(sub, SOL_PERP, "Ask", quantity="200", price="120")
    assert (flip.status, flip.reject_reason) == ("Rejected", "InsufficientMargin")


def test_reduce_only_never_opens_or_flips(zero_fee: cb.Exchange) -> None:
    ex = zero_fee
    sub, other, bidder = ex.open_account("trader"), ex.open_account("other"), ex.open_account("bidder")
    for account in (sub, other, bidder):
        ex.deposit(account, "USDC", "100000")
    ex.set_mark_price(SOL_PERP, "100")
    flat = ex.place_order(sub, SOL_PERP, "Ask", quantity="1", price="100", reduce_only=True)
    assert (flat.status, flat.reject_reason) == ("Rejected", "ReduceOnlyNotReducing")
    open_pair(ex, SOL_PERP, "100", "10", long=sub, short=other)
    same_side = ex.place_order(sub, SOL_PERP, "Bid", quantity="1", price="100", reduce_only=True)
    assert same_side.reject_reason == "ReduceOnlyNotReducing"
    # A reduce-only sell of 15 against a long of 10 is clipped to 10 and cannot flip the position.
    ex.place_order(bidder, SOL_PERP, "Bid", quantity="15", price="100")
    result = ex.place_order(sub, SOL_PERP, "Ask", quantity="15", price="100", reduce_only=True)
    assert result.filled == D("10")
    assert SOL_PERP not in ex.positions(sub) or ex.positions(sub)[SOL_PERP].net_qty == D(0)
    assert ex.open_orders(sub) == []
    flat_again = ex.place_order(sub, SOL_PERP, "Ask", quantity="1", price="100", reduce_only=True)
    assert flat_again.reject_reason == "ReduceOnlyNotReducing"


def test_resting_reduce_only_orders_shrink_with_the_position(zero_fee: cb.Exchange) -> None:
    ex = zero_fee
    sub, other, bidder = ex.open_account("trader"), ex.open_account("other"), ex.open_account("bidder")
    for account in (sub, other, bidder):
        ex.deposit(account, "USDC", "100000")
    ex.set_mark_price(SOL_PERP, "100")
    open_pair(ex, SOL_PERP, "100", "10", long=sub, short=other)
    take_profit = ex.place_order(sub, SOL_PERP, "Ask", quantity="10", price="110", reduce_only=True)
    assert take_profit.status == "New"
    second = ex.place_order(sub, SOL_PERP, "Ask", quantity="5", price="111", reduce_only=True)
    assert second.reject_reason == "ReduceOnlyNotReducing"  # the first already covers the position
    ex.place_order(bidder, SOL_PERP, "Bid", quantity="4", price="100")
    ex.place_order(sub, SOL_PERP, "Ask", quantity="4", price="100")
    assert ex.positions(sub)[SOL_PERP].net_qty == D("6")
    (order,) = ex.open_orders(sub)
    assert (order.order_id, order.remaining, order.reduce_only) == (take_profit.order_id, D("6"), True)
    amended = events_of_kind(ex.events(), "OrderAmended")
    assert [(event["order_id"], event["quantity"]) for event in amended] == [(take_profit.order_id, "6")]


# ----- the vectorized scan and liquidatable() --------------------------------------------------------


def test_margin_scan_agrees_with_margin_and_liquidatable_follows_the_mark() -> None:
    ex = cb.Exchange(no_liquidation(zero_fee_config()))  # flagged subaccounts stay as they are
    risky, calm, short, idle = (ex.open_account(name) for name in ("risky", "calm", "short", "idle"))
    hedge = ex.open_subaccount("risky", "hedge")
    ex.deposit(risky, "USDC", "10000")
    ex.deposit(calm, "USDC", "10000")
    ex.deposit(short, "USDC", "30000")
    ex.deposit(idle, "USDC", "5")
    ex.deposit(hedge, "BTC", "0.1")
    ex.set_index_price("BTC", "60000")
    ex.set_max_leverage(risky, 50)
    ex.set_mark_price(SOL_PERP, "100")
    ex.place_order(short, SOL_PERP, "Ask", quantity="1100", price="100")
    ex.place_order(risky, SOL_PERP, "Bid", quantity="1000", price="100")
    ex.place_order(calm, SOL_PERP, "Bid", quantity="100", price="100")
    ex.place_order(calm, SOL_PERP, "Bid", quantity="5", price="90")  # an open order counts toward IM
    subs = [risky, calm, short, idle, hedge]

    def check(expected_liquidatable: list[int]) -> None:
        scan = ex.margin_scan()
        assert len(scan["net_equity"]) == len(subs)
        for sub in subs:
            margin = ex.margin(sub)
            assert int(scan["net_equity"][sub]) == usdc_atoms(margin.net_equity)
            assert int(scan["initial_margin"][sub]) == usdc_atoms(margin.im)
            assert int(scan["maintenance_margin"][sub]) == usdc_atoms(margin.mm)
            assert float(scan["imr"][sub]) == margin.imr
            assert float(scan["mmr"][sub]) == margin.mmr
            assert float(scan["margin_fraction"][sub]) == margin.margin_fraction
            assert bool(scan["liquidatable"][sub]) == margin.liquidatable
        assert sorted(ex.liquidatable()) == expected_liquidatable
        assert [sub for sub in subs if ex.margin(sub).mmr >= 1.0] == expected_liquidatable

    check([])
    assert (ex.margin(calm).exposure, ex.margin(calm).im) == (D("10500"), D("1050"))  # 105 SOL worst case, 10x
    assert ex.margin(hedge).collateral == D("5700")  # 6,000 * 0.95
    ex.set_mark_price(SOL_PERP, "91.23")
    check([risky])
    ex.set_mark_price(SOL_PERP, "100")
    check([])
    ex.set_mark_price(SOL_PERP, "126")
    check([short])
    ex.set_mark_price(SOL_PERP, "125")
    check([])


def test_transfer_to_itself_creates_nothing() -> None:
    ex = cb.Exchange(no_auto_lend())
    sub = ex.open_account("alice")
    ex.deposit(sub, "USDC", "100")
    with contextlib.suppress(cb.CrossbookError):  # refusing a self-transfer is as good as a no-op
        ex.transfer(sub, sub, "USDC", "10")
    assert ex.balances(sub)["USDC"].free == D("100")
    assert ex.audit()["USDC"].balanced


# ----- prices and reporting --------------------------------------------------------------------------


def test_first_index_price_gives_the_perp_a_mark() -> None:
    ex = cb.Exchange()
    sub = ex.open_account("trader")
    ex.deposit(sub, "USDC", "100000")
    ex.set_index_price("BTC", "30000")  # no mark of its own: BTC_USDC_PERP follows the BTC index
    result = ex.place_order(sub, "BTC_USDC_PERP", "Bid", quantity="0.01", price="30000")
    assert (result.status, result.reject_reason) == ("New", None)


def test_perp_without_a_mark_follows_its_index_once_set_twice() -> None:
    """The working half of the fallback: with the index (re)set, the perp's mark is the index on the tick."""
    ex = cb.Exchange(zero_fee_config())
    long, short = ex.open_account("long"), ex.open_account("short")
    for sub in (long, short):
        ex.deposit(sub, "USDC", "100000")
    ex.set_index_price("BTC", "30000")
    ex.set_index_price("BTC", "30000.05")  # 300000.5 ticks of 0.1: rounded down to 30000.0
    open_pair(ex, "BTC_USDC_PERP", "30000", "1", long=long, short=short)
    assert ex.positions(long)["BTC_USDC_PERP"].mark == D("30000")
    ex.set_index_price("BTC", "31000")
    position = ex.positions(long)["BTC_USDC_PERP"]
    assert (position.mark, position.unrealized_pnl) == (D("31000"), D("1000"))
    ex.set_mark_price("BTC_USDC_PERP", "29000")  # a mark of its own wins over the index from now on
    ex.set_index_price("BTC", "35000")
    assert ex.positions(long)["BTC_USDC_PERP"].unrealized_pnl == D("-1000")


def test_balances_add_up_to_the_audit_after_a_perp_fee_on_locked_usdc() -> None:
    ex = cb.Exchange(no_auto_lend())
    trader, other = ex.open_account("trader"), ex.open_account("other")
    ex.deposit(trader, "USDC", "100.05")
    ex.deposit(trader, "SOL", "10")  # collateral for the perp
    ex.deposit(other, "USDC", "10000")
    ex.set_index_price("SOL", "100")
    ex.set_mark_price(SOL_PERP, "100")
    ex.place_order(trader, "SOL_USDC", "Bid", quantity="1", price="100")  # locks 100 + 0.05 taker fee
    open_pair(ex, SOL_PERP, "100", "1", long=trader, short=other)  # the trader pays a 0.05 USDC taker fee
    audit = ex.audit()["USDC"]
    # The trader's free USDC is all locked, so its 0.05 fee is raised by converting SOL (SPEC §8):
    # the venue paid the USDC of that conversion, the rest is the deposits minus 0.07 of fees.
    assert audit.conversions < 0
    assert audit.held_by_subaccounts + audit.conversions == D("10099.98")
    assert ex.balances(trader)["USDC"].borrowed == 0
    usdc = [ex.balances(sub)["USDC"] for sub in (trader, other)]
    reported = sum((balance.free + balance.locked - balance.borrowed for balance in usdc), D(0))
    assert reported == audit.held_by_subaccounts
