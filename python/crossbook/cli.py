"""The ``crossbook`` command.

``crossbook bench`` runs the benchmark harness on its built-in, seeded workloads and prints the
tables that the README quotes. Benchmarks print measurements; they never pass or fail on time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crossbook import __version__
from crossbook.bench import (
    run_accrual_benchmark,
    run_book_benchmark,
    run_cascade_benchmark,
    run_exchange_benchmark,
    run_journal_benchmark,
    run_margin_benchmark,
)


def _bench(arguments: argparse.Namespace) -> int:
    result = run_book_benchmark(
        operations=arguments.operations,
        reference_operations=arguments.reference_operations,
        repeats=arguments.repeats,
    )
    print(result.table())
    print()
    print(run_exchange_benchmark(orders=arguments.orders, repeats=arguments.repeats).table())
    print()
    print(run_margin_benchmark(accounts=arguments.accounts, repeats=arguments.repeats).table())
    print()
    print(run_accrual_benchmark(large=arguments.accounts, repeats=arguments.repeats).table())
    print()
    print(run_cascade_benchmark(accounts=arguments.cascade_accounts, repeats=arguments.repeats).table())
    print()
    print(
        run_journal_benchmark(
            commands=arguments.orders // 2,
            always_commands=arguments.journal_always_commands,
            recovery_commands=arguments.recovery_commands,
            repeats=arguments.repeats,
            directory=arguments.journal_dir,
        ).table()
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossbook", description="crossbook: an exchange core in Rust, driven from Python."
    )
    parser.add_argument("--version", action="version", version=f"crossbook {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", help="run the benchmarks on the built-in seeded workloads")
    bench.add_argument("--operations", type=int, default=1_000_000, help="measured book operations (default 1,000,000)")
    bench.add_argument(
        "--reference-operations",
        type=int,
        default=5_000,
        help="operations for the slow pure-Python baseline, run once (default 5,000)",
    )
    bench.add_argument("--orders", type=int, default=100_000, help="Exchange.place_order calls (default 100,000)")
    bench.add_argument(
        "--accounts",
        type=int,
        default=1_000_000,
        help="subaccounts in the margin scan and accrual benchmarks (default 1,000,000)",
    )
    bench.add_argument(
        "--cascade-accounts",
        type=int,
        default=100_000,
        help="subaccounts in the liquidation cascade benchmark (default 100,000)",
    )
    bench.add_argument(
        "--recovery-commands",
        type=int,
        default=1_000_000,
        help="commands in the journal whose recovery is timed (default 1,000,000)",
    )
    bench.add_argument(
        "--journal-always-commands",
        type=int,
        default=2_000,
        help='commands sent with fsync="always", one fsync each (default 2,000)',
    )
    bench.add_argument(
        "--journal-dir",
        default=None,
        help="where the durability benchmark writes (default: the system's temporary directory)",
    )
    bench.add_argument("--repeats", type=int, default=5, help="runs per measurement; the median is reported")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    for name in (
        "operations",
        "reference_operations",
        "orders",
        "accounts",
        "cascade_accounts",
        "recovery_commands",
        "journal_always_commands",
        "repeats",
    ):
        if getattr(arguments, name, 1) < 1:
            print(f"crossbook: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    code: int = arguments.run(arguments)
    return code


if __name__ == "__main__":
    sys.exit(main())
