"""The accrual benchmark runs at a tiny size: its exchanges hold what it says, its table renders.
Benchmarks are measured, never asserted: nothing here looks at a time."""

from __future__ import annotations

from decimal import Decimal

from crossbook.bench.lending import _exchange, run_accrual_benchmark


def test_the_benchmark_exchange_lends_borrows_and_has_drained_its_events() -> None:
    exchange = _exchange(6)
    assert exchange.events() == []
    pools = {symbol: (Decimal(lent), Decimal(borrowed)) for symbol, lent, borrowed, *_ in exchange._engine.pools()}
    lent, borrowed = pools["USDC"]
    assert lent == 3 * 1000  # three lenders' deposits, lent at once
    assert 3 * 500 <= borrowed < 3 * 500 + 1  # three borrows, each with its entry fee
    assert pools["BTC"] == (Decimal("0.03"), 0)


def test_a_tiny_accrual_benchmark_renders() -> None:
    result = run_accrual_benchmark(small=2, large=20, repeats=2)
    assert len(result.small.seconds) == len(result.large.seconds) == 2
    table = result.table()
    assert "20 subaccounts" in table and "2 subaccounts" in table
