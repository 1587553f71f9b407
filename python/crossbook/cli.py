"""The ``crossbook`` command.

``crossbook bench`` runs the benchmark harness on its built-in, seeded workloads and prints the
tables that the README quotes. Benchmarks print measurements; they never pass or fail on time.
``crossbook demo`` runs the synthetic day of :mod:`crossbook.backtest.demo` and writes its HTML report;
``crossbook backtest FILE`` and ``crossbook sweep FILE`` run a backtest file
(:mod:`crossbook.backtest.toml`), the sweep on Ray (:mod:`crossbook.backtest.sweep`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crossbook import __version__
from crossbook.backtest.demo import demo_backtest
from crossbook.backtest.sweep import sweep_from_toml
from crossbook.backtest.toml import load_backtest
from crossbook.bench import (
    run_accrual_benchmark,
    run_book_benchmark,
    run_cascade_benchmark,
    run_exchange_benchmark,
    run_journal_benchmark,
    run_margin_benchmark,
)
from crossbook.bench.replay import run_replay_benchmark


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
    print()
    print(run_replay_benchmark(events=arguments.replay_events, repeats=arguments.repeats).table())
    return 0


def _demo(arguments: argparse.Namespace) -> int:
    results = demo_backtest(arguments.seed, progress=not arguments.quiet).run()
    print(results.summary_table())
    path = results.report(
        arguments.report, title=f"crossbook demo: a synthetic day of BTC and SOL (seed {arguments.seed})"
    )
    print(f"report: {path}")
    if arguments.parquet:
        print(f"tables: {', '.join(str(p) for p in results.to_parquet(arguments.parquet))}")
    return 0


def _backtest(arguments: argparse.Namespace) -> int:
    run = load_backtest(arguments.config)
    results = run.backtest(progress=not arguments.quiet).run()
    print(results.summary_table())
    if run.report:
        print(f"report: {results.report(run.report, title=f'crossbook backtest: {arguments.config}')}")
    if run.parquet:
        print(f"tables: {', '.join(str(p) for p in results.to_parquet(run.parquet))}")
    return 0


def _sweep(arguments: argparse.Namespace) -> int:
    table = sweep_from_toml(arguments.config, address=arguments.address)
    print(table)
    if arguments.output:
        table.write_parquet(arguments.output)
        print(f"table: {arguments.output}")
    return 0


def _add_backtest_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="a synthetic day of BTC and SOL with a crash and a strategy: summary + HTML report"
    )
    demo.add_argument("--seed", type=int, default=7, help="the synthetic market's and the latency's seed (default 7)")
    demo.add_argument("--report", default="crossbook-demo.html", help="where to write the HTML report")
    demo.add_argument("--parquet", default=None, help="also write the result tables as Parquet files here")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)
    backtest = commands.add_parser("backtest", help="run the backtest a TOML file describes")
    backtest.add_argument("config", help="the backtest's TOML file")
    backtest.add_argument("--quiet", action="store_true", help="no progress bar")
    backtest.set_defaults(run=_backtest)
    sweep = commands.add_parser("sweep", help="run a TOML file's parameter sweep or Monte-Carlo runs on Ray")
    sweep.add_argument("config", help="the sweep's TOML file")
    sweep.add_argument("--address", default=None, help="a Ray cluster's address (default: a local Ray)")
    sweep.add_argument("--output", default=None, help="also write the results table to this Parquet file")
    sweep.set_defaults(run=_sweep)


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
    bench.add_argument(
        "--replay-events",
        type=int,
        default=5_000_000,
        help="L2 book events in the replay benchmark (default 5,000,000)",
    )
    bench.add_argument("--repeats", type=int, default=5, help="runs per measurement; the median is reported")
    bench.set_defaults(run=_bench)
    _add_backtest_commands(commands)
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
        "replay_events",
        "repeats",
    ):
        if getattr(arguments, name, 1) < 1:
            print(f"crossbook: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    code: int = arguments.run(arguments)
    return code


if __name__ == "__main__":
    sys.exit(main())
