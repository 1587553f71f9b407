"""The liquidation cascade benchmark runs at a tiny size: it liquidates, leaves every asset reconciled and
renders its table. Benchmarks are measured, never asserted: nothing here looks at a time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crossbook.bench import run_cascade_benchmark
from crossbook.bench.liquidation import crash_prices


def test_a_tiny_cascade_liquidates_and_keeps_the_books_balanced() -> None:
    result = run_cascade_benchmark(accounts=300, marks=5, repeats=1)

    assert result.liquidated > 0
    assert result.events("on_book") > 0
    assert result.events("on_book") + result.events("backstop") + result.events("adl") > 0
    assert result.outcome.balanced, result.outcome.unbalanced
    assert result.baseline_outcome.balanced, result.baseline_outcome.unbalanced
    assert result.outcome.negative_equity == 0
    assert len(result.waterfall_marks) == len(result.scan_only_marks) == 5
    table = result.table()
    assert "Liquidation cascade: 300 subaccounts" in table
    assert "audit balanced for all" in table
    assert "UNBALANCED" not in table


def test_the_marks_walk_down_by_the_crash_on_the_tick() -> None:
    assert crash_prices(3, Decimal("0.30")) == ("135.00", "120.00", "105.00")


@pytest.mark.parametrize("crash", [Decimal(0), Decimal(1), Decimal("-0.1")])
def test_a_crash_outside_zero_to_one_is_refused(crash: Decimal) -> None:
    with pytest.raises(ValueError, match="crash"):
        run_cascade_benchmark(accounts=10, marks=2, crash=crash, repeats=1)
