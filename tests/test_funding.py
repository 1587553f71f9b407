"""Funding of perpetuals through the Exchange (SPEC §8)."""

from __future__ import annotations

from decimal import Decimal

import pytest

import crossbook as cb
from crossbook.funding import funding_rate

SOL_PERP = "SOL_USDC_PERP"
HOUR = 3_600_000


def test_the_rate_is_the_premium_nudged_toward_interest_and_clamped() -> None:
    market = cb.Config.default().market(SOL_PERP)  # interest 0.0000125, bound 0.01
    assert funding_rate(market, 0.0) == Decimal("0.0000125")
    assert funding_rate(market, 0.0003) == Decimal("0.0000125")  # within 0.0005 of interest: interest wins
    assert funding_rate(market, 0.002) == Decimal("0.0015")  # nudged toward interest by at most 0.0005
    assert funding_rate(market, 0.5) == Decimal("0.01")  # clamped to the bound
    assert funding_rate(market, -0.5) == Decimal("-0.01")


def test_longs_pay_shorts_every_hour_and_funding_is_zero_sum_with_dust_to_the_venue() -> None:
    ex = cb.Exchange()
    alice, bob, maker = ex.open_account("alice"), ex.open_account("bob"), ex.open_account("maker")
    for sub in (alice, bob, maker):
        ex.deposit(sub, "USDC", "100000")
    ex.set_index_price("SOL", "100")
    ex.set_mark_price(SOL_PERP, "100")
    ex.place_order(bob, SOL_PERP, "Ask", quantity="10", price="100")
    ex.place_order(alice, SOL_PERP, "Bid", quantity="10", price="100")
    # A book quoted 1% over the index: every price update samples a premium of 0.01.
    ex.place_order(maker, SOL_PERP, "Bid", quantity="1", price="100.9")
    ex.place_order(maker, SOL_PERP, "Ask", quantity="1", price="101.1")
    ex.set_index_price("SOL", "100")
    assert ex.funding_rate(SOL_PERP) == Decimal("0.0095")  # 0.01, nudged 0.0005 toward interest
    fees_before = ex.audit()["USDC"].fees
    ex.advance_to(HOUR)
    payments = {event["account"]: Decimal(event["amount"]) for event in ex.events() if event["kind"] == "FundingPaid"}
    # 1,000 USDC of notional at 0.0095: the long pays 9.5, the short receives it.
    assert payments == {alice: Decimal("9.5"), bob: Decimal("-9.5")}
    assert ex.positions(alice)[SOL_PERP].cumulative_funding == Decimal("9.5")
    assert ex.positions(bob)[SOL_PERP].cumulative_funding == Decimal("-9.5")
    assert ex.audit()["USDC"].fees == fees_before  # no dust on an exact amount
    assert ex.funding_rate(SOL_PERP) == Decimal("0.0000125"), "the samples reset after a payment"
    assert all(audit.balanced for audit in ex.audit().values())


def test_funding_rate_of_a_spot_market_is_an_error() -> None:
    with pytest.raises(cb.InvalidArgumentError, match="spot"):
        cb.Exchange().funding_rate("SOL_USDC")
