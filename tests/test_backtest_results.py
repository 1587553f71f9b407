"""Result tables measured from the engine: interest paid is what a borrow grew by."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backtest_helpers import ScriptedMarket
from crossbook.backtest import Backtest, Context, Strategy
from crossbook.exchange import Exchange


def test_interest_paid_on_a_borrow_is_what_the_borrow_grew_by() -> None:
    class Borrower(Strategy):
        def on_timer(self, ctx: Context, time_ms: int) -> None:
            if time_ms == 60_000:
                ctx.exchange.set_auto_repay_borrows(ctx.subaccount, False)
                ctx.exchange.borrow(ctx.subaccount, "SOL", "10")

    def lend_sol(exchange: Exchange, accounts: dict[str, int]) -> None:
        exchange.deposit(accounts["maker"], "SOL", "1000")

    strategy = Borrower()
    backtest = Backtest(
        None,
        ScriptedMarket([(1, lend_sol)], 3 * 3_600_000),
        [strategy],
        timer_interval_ms=60_000,
        sample_interval_ms=600_000,
    )
    interest = backtest.run().tables["interest"]
    sol = interest.filter(interest["asset"] == "SOL")
    assert sol.height == 3, "one row per hour boundary"
    assert (sol["paid"] > 0).all()
    balance = backtest.exchange.balances(backtest._contexts[0].subaccount)["SOL"]
    grown = balance.borrowed - Decimal(10)
    assert grown > 0
    assert sum(sol["paid"].to_list()) == pytest.approx(float(grown), rel=1e-9)
