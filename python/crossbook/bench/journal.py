"""The durability benchmark of issue #6: commands per second into a durable exchange, and recovery time.

Throughput workload: the order stream of :mod:`crossbook.bench.exchange` (100 funded subaccounts on
``Config.default()``, BTC_USDC_PERP marked at 100,000; GTC limits near the mark and IOC limits
through it), sent as ``Exchange.place_order`` calls to an in-memory exchange (the baseline) and to
durable ones with ``fsync="never"``, ``"batch"`` (an fsync every 64 commands) and ``"always"`` (an
fsync per command, so it runs a shorter stream). A durable run includes its final ``close()`` (the
last fsync). The figures depend on the storage under ``directory`` (a temporary directory by default):
fsync costs microseconds on a page-cache-backed file system and milliseconds on a real disk.

Recovery workload: a journal of ``recovery_commands`` commands (the same setup, then the order stream
repeated with fresh orders) is written directly with the journal writer, then opened three ways:
checking the file alone (every record's CRC decoded in Rust), a full replay of every command, and a
snapshot at the end plus an empty tail (restore only). Each recovered exchange hashes equal to the
full replay.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crossbook import _core
from crossbook.bench.exchange import MARKET, SUBACCOUNTS, _orders
from crossbook.bench.report import Measurement, format_table, measure
from crossbook.exchange import Exchange
from crossbook.journal import JOURNAL_NAME, _metadata

BATCH = 64


@dataclass(frozen=True)
class RecoveryTimes:
    commands: int
    journal_bytes: int
    snapshot_bytes: int
    check_seconds: float
    replay_seconds: float
    snapshot_seconds: float


@dataclass(frozen=True)
class JournalBenchmark:
    in_memory: Measurement
    never: Measurement
    batch: Measurement
    always: Measurement
    recovery: RecoveryTimes

    def table(self) -> str:
        title = (
            f"Durable Exchange.place_order: commands per second by fsync mode (median of "
            f"{len(self.in_memory.seconds)} runs; fsync=always on {self.always.operations:,} commands)"
        )
        recovery = self.recovery
        lines = [
            format_table(title, [self.in_memory, self.never, self.batch, self.always], self.in_memory),
            "",
            f"Recovery of a journal of {recovery.commands:,} commands ({recovery.journal_bytes / 1e6:,.1f} MB; "
            f"snapshot {recovery.snapshot_bytes / 1e6:,.1f} MB)",
            f"{'check the CRC of every record (no replay)':<52}{recovery.check_seconds:>10.2f} s",
            f"{'open: full replay of every command':<52}{recovery.replay_seconds:>10.2f} s"
            f"   ({recovery.replay_seconds / recovery.commands * 1e6:,.1f} us/command)",
            f"{'open: newest snapshot + empty tail':<52}{recovery.snapshot_seconds:>10.2f} s",
        ]
        return "\n".join(lines)


def _setup_calls() -> list[tuple[str, tuple[object, ...]]]:
    calls: list[tuple[str, tuple[object, ...]]] = []
    for index in range(SUBACCOUNTS):
        calls.append(("open_account", (f"trader{index}",)))
        calls.append(("deposit", (index, "USDC", "1000000")))
    calls.append(("set_mark_price", (MARKET, "100000")))
    return calls


def _prepare(exchange: Exchange) -> None:
    for name, args in _setup_calls():
        getattr(exchange, name)(*args)


@contextmanager
def _scratch(directory: str | Path | None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="crossbook-bench-", dir=directory) as path:
        yield Path(path)


def _throughput(name: str, count: int, fsync: str | None, scratch: Path, *, repeats: int, seed: int) -> Measurement:
    stream = _orders(count, seed)
    runs = iter(range(repeats))

    def setup() -> Callable[[], object]:
        if fsync is None:
            exchange = Exchange()
        else:
            exchange = Exchange.open(scratch / f"{fsync}-{next(runs)}", fsync=fsync, batch_size=BATCH)
        _prepare(exchange)
        place = exchange.place_order

        def run() -> None:
            for who, side, price, quantity, tif in stream:
                place(who, MARKET, side, quantity=quantity, price=price, time_in_force=tif)
            exchange.close()

        return run

    return measure(name, count, repeats, setup)


def _write_journal(path: Path, commands: int, seed: int) -> None:
    """A journal of ``commands`` accepted commands, written directly (no engine): account setup,
    then orders (an order is never refused as an exception: rejects are events)."""
    writer = _core.JournalWriter.create(path, _metadata(Exchange().config), "never", BATCH)
    for name, args in _setup_calls():
        writer.append(name, args, False)
    chunk = 100_000
    written = len(_setup_calls())
    round_ = 0
    while written < commands:
        for who, side, price, quantity, tif in _orders(min(chunk, commands - written), seed + round_):
            writer.append(
                "place_order",
                (
                    who,
                    MARKET,
                    side,
                    "Limit",
                    quantity,
                    price,
                    None,
                    tif,
                    False,
                    False,
                    "RejectTaker",
                    None,
                    None,
                    None,
                    False,
                ),
                False,
            )
            written += 1
        round_ += 1
    writer.close()


def _recovery(commands: int, seed: int, scratch: Path) -> RecoveryTimes:
    directory = scratch / "recovery"
    directory.mkdir()
    journal = directory / JOURNAL_NAME
    _write_journal(journal, commands, seed)

    start = time.perf_counter()
    _metadata_bytes, count, _records, _torn = _core.read_journal(journal)
    check = time.perf_counter() - start
    assert count == commands

    start = time.perf_counter()
    replayed = Exchange.open(directory, snapshot_every=None)
    replay = time.perf_counter() - start
    expected = replayed.state_hash()
    snapshot = replayed.snapshot()
    replayed.close()

    start = time.perf_counter()
    restored = Exchange.open(directory, snapshot_every=None)
    from_snapshot = time.perf_counter() - start
    if restored.state_hash() != expected:
        raise AssertionError("the snapshot recovered another state than the full replay")
    restored.close()
    return RecoveryTimes(
        commands=commands,
        journal_bytes=journal.stat().st_size,
        snapshot_bytes=snapshot.stat().st_size,
        check_seconds=check,
        replay_seconds=replay,
        snapshot_seconds=from_snapshot,
    )


def run_journal_benchmark(
    commands: int = 50_000,
    always_commands: int = 2_000,
    recovery_commands: int = 1_000_000,
    repeats: int = 3,
    *,
    seed: int = 7,
    directory: str | Path | None = None,
) -> JournalBenchmark:
    """Runs both workloads in a temporary directory under ``directory`` (default: the system's)."""
    with _scratch(directory) as scratch:
        in_memory = _throughput("in-memory Exchange", commands, None, scratch, repeats=repeats, seed=seed)
        never = _throughput('durable, fsync="never"', commands, "never", scratch, repeats=repeats, seed=seed)
        batch_name = f'durable, fsync="batch" (every {BATCH})'
        batch = _throughput(batch_name, commands, "batch", scratch, repeats=repeats, seed=seed)
        always = _throughput('durable, fsync="always"', always_commands, "always", scratch, repeats=repeats, seed=seed)
        recovery = _recovery(recovery_commands, seed, scratch)
    return JournalBenchmark(in_memory=in_memory, never=never, batch=batch, always=always, recovery=recovery)
