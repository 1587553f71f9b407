"""The order-book benchmark of issue #2.

Workload (``crossbook.batch.standard_workload``, generated in Rust): seed 42, 10,000 resting orders
of warm-up, then 1,000,000 operations — 45% passive limit adds, 40% cancels of live orders, 15%
aggressive IOC limits. It runs through

- the **per-call** API: one ``OrderBook.place``/``cancel`` call per operation from a Python loop;
- the **bulk** API: ``OrderBook.execute_batch`` over numpy columns, in batches of 100,000 rows
  (streaming-sized batches let the allocator recycle event memory; one giant batch pays the
  kernel for every fresh page of its result);
- the **pure-Python reference** book (:mod:`crossbook.reference_book`), per call, the baseline. It is
  written to be obviously correct (linear scans over the whole book), thousands of times slower, so
  it runs once, on the first ``reference_operations`` rows of the same workload; ns/op is compared.

The Rust books must end identical to each other, and to the reference over its prefix; the
benchmark checks that before it reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from crossbook import OrderBook
from crossbook.batch import FLAG_IOC, OP_CANCEL, OP_PLACE, standard_workload
from crossbook.bench.report import Measurement, format_table, measure
from crossbook.reference_book import ReferenceBook, order_tuple

SIDE_NAMES = ("Bid", "Ask")
BULK_BATCH_ROWS = 100_000


class _PerCallBook(Protocol):
    def place(self, *args: Any) -> object: ...
    def cancel(self, order_id: int) -> bool: ...


@dataclass(frozen=True)
class BookBenchmark:
    per_call: Measurement
    bulk: Measurement
    reference: Measurement

    def table(self) -> str:
        title = (
            f"Order book: standard workload (seed 42, {self.per_call.operations:,} operations, "
            f"reference on the first {self.reference.operations:,}; median of {len(self.per_call.seconds)} runs)"
        )
        return format_table(title, [self.bulk, self.per_call, self.reference], self.reference)


def _calls(book: _PerCallBook, rows: dict[str, np.ndarray]) -> list[tuple[Callable[..., object], tuple[Any, ...]]]:
    """The workload as (bound method, arguments) pairs, so the timed loop does nothing else."""
    calls: list[tuple[Callable[..., object], tuple[Any, ...]]] = []
    names = ("op", "side", "price", "quantity", "owner", "order_id", "flags")
    columns = zip(*(rows[name].tolist() for name in names), strict=True)
    for op, side, price, quantity, owner, order_id, flags in columns:
        if op == OP_PLACE:
            time_in_force = "IOC" if flags & FLAG_IOC else "GTC"
            calls.append((book.place, (SIDE_NAMES[side], price, quantity, owner, None, time_in_force)))
        elif op == OP_CANCEL:
            calls.append((book.cancel, (order_id,)))
        else:
            raise ValueError(f"the standard workload has only places and cancels, got op {op}")
    return calls


def _run_calls(calls: list[tuple[Callable[..., object], tuple[Any, ...]]]) -> None:
    for method, arguments in calls:
        method(*arguments)


def _slice(rows: dict[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    return {name: column[start:stop] for name, column in rows.items()}


def run_book_benchmark(
    operations: int = 1_000_000, reference_operations: int = 20_000, warmup: int = 10_000, repeats: int = 5
) -> BookBenchmark:
    """Runs the workload through the three books; raises if they disagree on the final book."""
    warm, measured = standard_workload(42, warmup, operations)
    reference_operations = min(reference_operations, operations)
    prefix = _slice(measured, 0, reference_operations)
    finals: dict[str, Any] = {}

    def per_call_setup(
        name: str, make: Callable[[], _PerCallBook], rows: dict[str, np.ndarray]
    ) -> Callable[[], Callable[[], object]]:
        def setup() -> Callable[[], object]:
            book = make()
            _run_calls(_calls(book, warm))
            calls = _calls(book, rows)
            finals[name] = book
            return lambda: _run_calls(calls)

        return setup

    def bulk_setup() -> Callable[[], object]:
        book = OrderBook()
        book.execute_batch(**warm)
        batches = [_slice(measured, start, start + BULK_BATCH_ROWS) for start in range(0, operations, BULK_BATCH_ROWS)]
        finals["bulk"] = book

        def run() -> None:
            for batch in batches:
                book.execute_batch(**batch)

        return run

    per_call = measure("per-call API (Rust)", operations, repeats, per_call_setup("per-call", OrderBook, measured))
    bulk = measure("bulk API (Rust, numpy columns)", operations, repeats, bulk_setup)
    reference = measure(
        "pure-Python reference", reference_operations, 1, per_call_setup("reference", ReferenceBook, prefix)
    )
    per_call_setup("prefix", OrderBook, prefix)()()

    books = {name: [order_tuple(order) for order in book.orders()] for name, book in finals.items()}
    if books["per-call"] != books["bulk"] or books["prefix"] != books["reference"]:
        raise AssertionError("the books disagree after the workload: the benchmark is not comparing like for like")
    return BookBenchmark(per_call=per_call, bulk=bulk, reference=reference)
