"""Settlement in USDC through the Exchange (SPEC §8, §12 example 7): the payment chain and the
10-second PnL realization."""

from __future__ import annotations

from decimal import Decimal

import crossbook as cb
from exchange_helpers import no_auto_lend

SOL_PERP = "SOL_USDC_PERP"


def positions_exchange() -> tuple[cb.Exchange, int, int]:
    ex = cb.Exchange(no_auto_lend())
    alice, bob = ex.open_account("alice"), ex.open_account("bob")
    ex.deposit(alice, "USDC", "10000")
    ex.deposit(bob, "USDC", "100000")
    ex.set_mark_price(SOL_PERP, "100")
    ex.place_order(bob, SOL_PERP, "Ask", quantity="10", price="100")
    ex.place_order(alice, SOL_PERP, "Bid", quantity="10", price="100")
    return ex, alice, bob


def test_pnl_is_realized_every_ten_seconds_of_engine_time() -> None:
    ex, alice, bob = positions_exchange()
    before = (ex.balances(alice)["USDC"].free, ex.balances(bob)["USDC"].free)
    ex.set_mark_price(SOL_PERP, "103")
    ex.advance_to(9_999)
    assert (ex.balances(alice)["USDC"].free, ex.balances(bob)["USDC"].free) == before
    ex.advance_to(10_000)
    assert ex.balances(alice)["USDC"].free == before[0] + Decimal("30")
    assert ex.balances(bob)["USDC"].free == before[1] - Decimal("30")
    position = ex.positions(alice)[SOL_PERP]
    assert (position.net_qty, position.entry_price, position.unrealized_pnl) == (Decimal(10), Decimal(103), 0)
    realized = [event for event in ex.events() if event["kind"] == "PnlRealized"]
    assert sorted(event["amount"] for event in realized) == ["-30", "30"]
    assert all(audit.balanced for audit in ex.audit().values())


def test_switching_auto_realize_off_keeps_the_pnl_unrealized() -> None:
    ex, alice, _ = positions_exchange()
    ex.set_auto_realize_pnl(alice, False)
    ex.set_mark_price(SOL_PERP, "104")
    ex.advance_to(60_000)
    assert ex.positions(alice)[SOL_PERP].unrealized_pnl == Decimal("40")


def test_a_loss_beyond_the_free_balance_converts_collateral_at_the_discount() -> None:
    ex = cb.Exchange(no_auto_lend())
    trader, other = ex.open_account("trader"), ex.open_account("other")
    ex.deposit(trader, "USDC", "100")
    ex.deposit(trader, "SOL", "100")
    ex.deposit(other, "USDC", "100000")
    ex.set_index_price("SOL", "100")
    ex.set_mark_price(SOL_PERP, "100")
    ex.place_order(other, SOL_PERP, "Ask", quantity="10", price="100")
    ex.place_order(trader, SOL_PERP, "Bid", quantity="10", price="100")  # 0.5 USDC taker fee
    ex.set_mark_price(SOL_PERP, "85")
    ex.advance_to(10_000)  # a 150 USDC loss with 99.5 USDC free: about 50.5 USDC of SOL is sold
    conversions = [event for event in ex.events() if event["kind"] == "Conversion"]
    assert len(conversions) == 1 and conversions[0]["asset"] == "SOL"
    # At 100 x 0.995 = 99.5 USDC per SOL, 50.5 USDC needs 0.50753769 SOL (rounded up to the atom).
    assert conversions[0]["sold"] == "0.50753769"
    balance = ex.balances(trader)
    assert balance["USDC"].borrowed == 0 and balance["SOL"].free == Decimal("100") - Decimal("0.50753769")
    assert all(audit.balanced for audit in ex.audit().values())


def test_a_day_in_one_jump_equals_a_day_in_steps_with_positions_and_prices() -> None:
    def run(steps: list[int]) -> str:
        ex, _, _ = positions_exchange()
        ex.set_mark_price(SOL_PERP, "101.5")
        for time_ms in steps:
            ex.advance_to(time_ms)
        return ex.state_hash()

    day = 24 * 3_600_000
    assert run([day]) == run(list(range(0, day + 1, 1_000)))


def test_an_idle_exchange_jumps_to_an_epoch_clock_at_once() -> None:
    ex = cb.Exchange()
    sub = ex.open_account("alice")
    ex.deposit(sub, "USDC", "100")
    ex.advance_to(1_763_700_000_000)  # an epoch-millisecond clock: 1.7e11 realize ticks if walked
    assert ex.time_ms == 1_763_700_000_000
    assert ex.balances(sub)["USDC"].lent == Decimal("100")


def test_an_idle_jump_equals_walking_the_boundaries() -> None:
    def run(steps: list[int]) -> str:
        ex = cb.Exchange()
        maker = ex.open_account("maker")
        ex.deposit(maker, "USDC", "1000")
        ex.set_index_price("SOL", "100")
        ex.place_order(maker, SOL_PERP, "Bid", quantity="1", price="99")
        ex.place_order(maker, SOL_PERP, "Ask", quantity="1", price="103")
        ex.set_index_price("SOL", "100")  # a premium sample, forgotten at the next funding boundary
        for time_ms in steps:
            ex.advance_to(time_ms)
        return ex.state_hash()

    assert run([2 * 3_600_000]) == run(list(range(10_000, 2 * 3_600_000 + 1, 10_000)))
