"""``crossbook bench``: the benchmark harness (measured, never asserted in tests).

Each benchmark runs a fixed, seeded workload through crossbook and through a baseline in the same
process and reports medians over repeats and their ratios, because shared machines are noisy.
"""

from __future__ import annotations

from crossbook.bench.book import BookBenchmark, run_book_benchmark
from crossbook.bench.exchange import ExchangeBenchmark, run_exchange_benchmark
from crossbook.bench.journal import JournalBenchmark, RecoveryTimes, run_journal_benchmark
from crossbook.bench.lending import AccrualBenchmark, run_accrual_benchmark
from crossbook.bench.liquidation import CascadeOutcome, CascadeResult, run_cascade_benchmark
from crossbook.bench.margin import MarginBenchmark, run_margin_benchmark
from crossbook.bench.report import Measurement, format_table

__all__ = [
    "AccrualBenchmark",
    "BookBenchmark",
    "CascadeOutcome",
    "CascadeResult",
    "ExchangeBenchmark",
    "JournalBenchmark",
    "MarginBenchmark",
    "Measurement",
    "RecoveryTimes",
    "format_table",
    "run_accrual_benchmark",
    "run_book_benchmark",
    "run_cascade_benchmark",
    "run_exchange_benchmark",
    "run_journal_benchmark",
    "run_margin_benchmark",
]
