"""The book benchmark runs at a tiny size: its books agree, its yardstick is a real book, the table
renders. Benchmarks are measured, never asserted: nothing here looks at a time."""

from __future__ import annotations

import numpy as np
import pytest

from crossbook import CrossbookError, OrderBook
from crossbook._core import BaselineBook
from crossbook.batch import FLAG_IOC, FLAG_MARKET, OP_AMEND, standard_workload
from crossbook.bench.book import run_book_benchmark
from crossbook.reference_book import order_tuple


def test_a_tiny_book_benchmark_agrees_and_renders() -> None:
    result = run_book_benchmark(operations=20_000, reference_operations=300, warmup=1_000, repeats=2)
    assert len(result.baseline.seconds) == len(result.bulk.seconds) == 2
    assert len(result.per_call.seconds) == 2
    for measured, ratio in ((result.bulk, result.bulk_over_baseline), (result.per_call, result.per_call_over_baseline)):
        rounds = [mine / theirs for mine, theirs in zip(measured.seconds, result.baseline.seconds, strict=True)]
        assert ratio == pytest.approx(sum(rounds) / 2)  # the median of two rounds
    table = result.table()
    assert "minimal array-of-levels book (Rust)" in table
    assert "bulk API / minimal array-of-levels book" in table and "target <= 1.5x" in table
    assert f"per-call API / minimal array-of-levels book: {result.per_call_over_baseline:.2f}x" in table
    assert "target <= 150 ns/op, 9.4x the minimal book's 16 ns/op" in table


def test_the_baseline_book_trades_the_workload_as_the_order_book_does() -> None:
    warm, measured = standard_workload(7, 2_000, 30_000)
    prices = np.concatenate([warm["price"], measured["price"]])
    baseline = BaselineBook(int(prices[prices > 0].min()), int(prices.max()))
    book = OrderBook()
    fills = 0
    for rows in (warm, measured):
        baseline.load(**rows)
        fills += baseline.run()
        events = book.execute_batch(**rows)
        fills -= int((events["kind"] == 2).sum())
    assert fills == 0
    assert [order_tuple(order) for order in baseline.orders()] == [order_tuple(order) for order in book.orders()]


def _rows(flags: int = 0, op: int = 0, price: int = 100) -> dict[str, np.ndarray]:
    return {
        "op": np.array([0, op], dtype=np.uint8),
        "side": np.array([0, 1], dtype=np.uint8),
        "price": np.array([99, price], dtype=np.int64),
        "quantity": np.array([5, 5], dtype=np.int64),
        "owner": np.array([1, 2], dtype=np.uint64),
        "order_id": np.array([0, 0], dtype=np.uint64),
        "flags": np.array([0, flags], dtype=np.uint16),
    }


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (_rows(flags=FLAG_MARKET), "limit orders"),
        (_rows(op=OP_AMEND), "places and cancels only"),
        (_rows(price=200), "outside the window"),
    ],
)
def test_the_baseline_book_refuses_rows_it_cannot_run_and_keeps_nothing(
    rows: dict[str, np.ndarray], message: str
) -> None:
    baseline = BaselineBook(90, 110)
    with pytest.raises(CrossbookError, match=f"row 1.*{message}"):
        baseline.load(**rows)
    assert baseline.run() == 0 and baseline.orders() == []
    baseline.load(**_rows(flags=FLAG_IOC))
    assert baseline.run() == 0 and [order.order_id for order in baseline.orders()] == [1]


def test_the_baseline_book_refuses_bad_windows_wrong_types_and_a_second_load() -> None:
    with pytest.raises(CrossbookError, match="lowest <= highest"):
        BaselineBook(110, 90)
    with pytest.raises(CrossbookError, match="must be an int"):
        BaselineBook(1.5, 90)  # type: ignore[arg-type]
    baseline = BaselineBook(90, 110)
    with pytest.raises(CrossbookError, match="price"):
        baseline.load(**{**_rows(), "price": np.array([99, 100], dtype=np.float64)})
    baseline.load(**_rows())
    with pytest.raises(CrossbookError, match="run\\(\\) them"):
        baseline.load(**_rows())
    assert baseline.run() == 0 and len(baseline.orders()) == 2
