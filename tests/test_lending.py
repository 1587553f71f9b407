"""Borrow/lend through the Exchange (SPEC §7, §12 example 4): pools, interest, entry fee, throttle."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pytest

import crossbook as cb
from crossbook.bench.margin import margin_state
from crossbook.config import Config, LendingCurve
from crossbook.risk import margin_scan, margin_scan_numpy
from exchange_helpers import no_auto_lend

HOUR = 3_600_000


def flat_usdc_rate(apr: str) -> Config:
    """The default config with USDC borrowing at a flat ``apr`` whatever the utilization, and
    auto-lend off so that each test lends explicitly (auto-lend has its own tests below)."""
    config = no_auto_lend()
    assets = tuple(
        dataclasses.replace(asset, lending=LendingCurve(Decimal(apr), Decimal(0), Decimal("0.8"), Decimal(0)))
        if asset.symbol == "USDC"
        else asset
        for asset in config.assets
    )
    return dataclasses.replace(config, assets=assets)


def lending_exchange(apr: str = "0.10") -> tuple[cb.Exchange, int, int]:
    ex = cb.Exchange(flat_usdc_rate(apr))
    lender, borrower = ex.open_account("lender"), ex.open_account("borrower")
    ex.set_auto_repay_borrows(borrower, False)  # it holds the borrowed cash
    ex.deposit(lender, "USDC", "10000")
    ex.lend(lender, "USDC", "10000")
    ex.deposit(borrower, "BTC", "1")
    ex.set_index_price("BTC", "100000")
    return ex, lender, borrower


def test_spec_example_4_entry_fee_at_12_50_and_an_hour_of_interest() -> None:
    ex, _, borrower = lending_exchange()
    ex.advance_to(12 * HOUR + 50 * 60_000)
    ex.borrow(borrower, "USDC", "2000")
    (event,) = [event for event in ex.events() if event["kind"] == "Borrow"]
    assert event["entry_fee"] == "0.003806"  # 10 minutes of 10% on 2,000 USDC: 3,805.17 atoms, up
    assert ex.balances(borrower)["USDC"].borrowed == Decimal("2000.003806")
    ex.advance_to(13 * HOUR)
    # One hour on the 2,000.003806 owed: 22,831.09 atoms, rounded up (22,832 on exactly 2,000).
    assert ex.balances(borrower)["USDC"].borrowed == Decimal("2000.003806") + Decimal("0.022832")
    assert all(audit.balanced for audit in ex.audit().values())


def test_a_day_in_one_jump_equals_a_day_in_hourly_and_second_steps() -> None:
    def run(steps: list[int]) -> tuple[str, Decimal]:
        ex, lender, borrower = lending_exchange()
        ex.borrow(borrower, "USDC", "2500")
        for time_ms in steps:
            ex.advance_to(time_ms)
        return ex.state_hash(), ex.balances(lender)["USDC"].lent

    one_jump = run([24 * HOUR])
    assert one_jump == run([hour * HOUR for hour in range(1, 25)])
    assert one_jump == run([second * 1000 for second in range(0, 24 * 3600 + 1, 7)] + [24 * HOUR])
    assert one_jump[1] > Decimal("10000"), "lenders earned interest"


def test_interest_paid_equals_interest_received_plus_the_venue_share() -> None:
    ex, lender, borrower = lending_exchange()
    ex.borrow(borrower, "USDC", "5000")
    owed_before = ex.balances(borrower)["USDC"].borrowed
    ex.advance_to(10 * HOUR)
    paid = ex.balances(borrower)["USDC"].borrowed - owed_before
    received = ex.balances(lender)["USDC"].lent - Decimal("10000")
    usdc = ex.audit()["USDC"]
    # Entry fee and interest are the venue's income minus what lenders got, to the atom (plus dust).
    assert paid > 0 and received > 0
    assert usdc.lending_income == usdc.pool_cash + usdc.borrowed - usdc.lent
    assert usdc.lending_income >= paid + owed_before - Decimal("5000") - received
    assert usdc.balanced


def test_throttled_pool_refuses_borrows_and_redemptions_and_changes_nothing() -> None:
    ex, lender, borrower = lending_exchange()
    before = ex.state_hash()
    with pytest.raises(cb.LendingRefusedError, match="throttled"):
        ex.borrow(borrower, "USDC", "9300")
    assert ex.state_hash() == before
    ex.borrow(borrower, "USDC", "9100")  # with its entry fee, utilization ~0.91
    before = ex.state_hash()
    with pytest.raises(cb.LendingRefusedError, match="throttled"):
        ex.redeem(lender, "USDC", "200")  # would leave 9,100 borrowed of 9,800 lent: 0.93
    with pytest.raises(cb.LendingRefusedError):
        ex.withdraw(lender, "USDC", "200")
    assert ex.state_hash() == before
    ex.redeem(lender, "USDC", "50")
    assert 0.91 < ex.pools()["USDC"].utilization <= 0.92


def test_lends_earn_and_still_count_as_collateral() -> None:
    ex, lender, _ = lending_exchange()
    assert ex.margin(lender).collateral == Decimal("10000")
    assert ex.borrow_lend_positions(lender) == {"USDC": (Decimal("10000"), Decimal("0"))}
    ex.withdraw(lender, "USDC", "4000")
    assert ex.balances(lender)["USDC"].lent == Decimal("6000")
    with pytest.raises(cb.InsufficientBalanceError):
        ex.withdraw(lender, "USDC", "6000.000001")


def test_a_borrow_held_as_cash_is_still_a_liability_with_margin() -> None:
    ex, _, borrower = lending_exchange()
    before = ex.margin(borrower)
    ex.borrow(borrower, "USDC", "2000")
    after = ex.margin(borrower)
    assert after.liabilities == ex.balances(borrower)["USDC"].borrowed
    assert after.collateral == before.collateral + Decimal("2000")
    assert after.im > before.im
    scan = ex.margin_scan()
    assert int(scan["initial_margin"][borrower]) == int(after.im * 10**6)
    assert int(scan["net_equity"][borrower]) == int(after.net_equity * 10**6)


def test_the_numpy_baseline_counts_borrows_like_the_kernel() -> None:
    state = margin_state(2_000, 8, seed=3)
    borrowed = np.random.default_rng(5).integers(0, 10**9, size=state["holdings"].shape, dtype=np.int64)
    rust = margin_scan(**state, borrowed=borrowed)
    baseline = margin_scan_numpy(**state, borrowed=borrowed)
    without = margin_scan(**state)
    for name in ("net_equity", "initial_margin", "maintenance_margin", "liquidatable"):
        assert np.array_equal(rust[name], baseline[name]), name
    assert (rust["net_equity"] < without["net_equity"]).all(), "every account owes something more"


def test_spec_example_6_a_spot_buy_with_auto_borrow_borrows_the_shortfall() -> None:
    config = flat_usdc_rate("0")  # no entry fee, so the borrow is exactly the shortfall
    config = dataclasses.replace(
        config,
        markets=tuple(
            dataclasses.replace(market, maker_fee=Decimal(0), taker_fee=Decimal(0)) for market in config.markets
        ),
    )
    ex = cb.Exchange(config)
    lender, buyer, seller = ex.open_account("lender"), ex.open_account("buyer"), ex.open_account("seller")
    ex.deposit(lender, "USDC", "10000")
    ex.lend(lender, "USDC", "10000")
    ex.deposit(buyer, "USDC", "1000")
    ex.deposit(seller, "SOL", "100")
    ex.set_index_price("SOL", "100")
    ex.place_order(seller, "SOL_USDC", "Ask", quantity="20", price="100")
    plain = ex.place_order(buyer, "SOL_USDC", "Bid", quantity="20", price="100")
    assert plain.reject_reason == "InsufficientBalance"
    margin = ex.place_order(buyer, "SOL_USDC", "Bid", quantity="20", price="100", auto_borrow=True)
    assert margin.filled == Decimal("20")
    usdc = ex.balances(buyer)["USDC"]
    assert (usdc.free, usdc.borrowed) == (Decimal(0), Decimal(1000))
    assert ex.balances(buyer)["SOL"].free == Decimal(20)
    assert all(audit.balanced for audit in ex.audit().values())


def test_deposits_are_auto_lent_and_spot_orders_redeem_what_they_lock() -> None:
    ex = cb.Exchange()  # auto_lend on, as SPEC §3 says
    buyer, seller = ex.open_account("buyer"), ex.open_account("seller")
    ex.deposit(buyer, "USDC", "1000")
    assert (ex.balances(buyer)["USDC"].free, ex.balances(buyer)["USDC"].lent) == (0, Decimal(1000))
    ex.deposit(seller, "SOL", "10")
    ex.set_index_price("SOL", "100")
    bid = ex.place_order(buyer, "SOL_USDC", "Bid", quantity="5", price="100")
    assert bid.status == "New"
    usdc = ex.balances(buyer)["USDC"]
    assert (usdc.locked, usdc.lent) == (Decimal("500.25"), Decimal("499.75")), "500 + the 0.05% taker fee locked"
    ex.set_auto_lend(seller, False)
    ex.deposit(seller, "USDC", "1")
    assert ex.balances(seller)["USDC"].free == Decimal(1)
    assert all(audit.balanced for audit in ex.audit().values())


def test_auto_repay_uses_a_deposit_to_repay_a_borrow_first() -> None:
    ex, _, borrower = lending_exchange()
    ex.borrow(borrower, "USDC", "2000")
    ex.set_auto_repay_borrows(borrower, True)
    owed = ex.balances(borrower)["USDC"].borrowed
    ex.deposit(borrower, "USDC", "500")
    # The free balance — the 2,000 borrowed and held plus the 500 — repays the whole debt.
    usdc = ex.balances(borrower)["USDC"]
    assert (usdc.borrowed, usdc.free) == (0, Decimal(2500) - owed)
    assert [event["kind"] for event in ex.events()][-2:] == ["Deposit", "Repay"]


def test_realized_profits_are_auto_lent_at_the_tick() -> None:
    ex = cb.Exchange()
    alice, bob = ex.open_account("alice"), ex.open_account("bob")
    ex.deposit(alice, "USDC", "10000")
    ex.deposit(bob, "USDC", "10000")
    ex.set_mark_price("SOL_USDC_PERP", "100")
    ex.place_order(bob, "SOL_USDC_PERP", "Ask", quantity="10", price="100")
    ex.place_order(alice, "SOL_USDC_PERP", "Bid", quantity="10", price="100")
    lent_before = ex.balances(alice)["USDC"].lent
    ex.set_mark_price("SOL_USDC_PERP", "110")
    ex.advance_to(10_000)
    usdc = ex.balances(alice)["USDC"]
    assert usdc.free == 0 and usdc.lent == lent_before + Decimal("100"), "the 100 USDC profit was lent"
    assert all(audit.balanced for audit in ex.audit().values())
