"""The durability benchmark runs at a tiny size: every mode journals, recovery by replay and by
snapshot agree, and the table renders. Benchmarks are measured, never asserted: no time is checked."""

from __future__ import annotations

from pathlib import Path

from crossbook.bench import run_journal_benchmark
from crossbook.cli import main


def test_a_tiny_durability_benchmark_recovers_and_renders(tmp_path: Path) -> None:
    result = run_journal_benchmark(
        commands=200, always_commands=20, recovery_commands=3_000, repeats=1, directory=tmp_path
    )
    assert result.recovery.commands == 3_000
    assert result.recovery.journal_bytes > 3_000 * 12
    assert 0 < result.recovery.snapshot_bytes < result.recovery.journal_bytes
    table = result.table()
    for row in ("in-memory Exchange", 'fsync="never"', 'fsync="batch"', 'fsync="always"', "full replay", "snapshot"):
        assert row in table
    assert list(tmp_path.iterdir()) == [], "the benchmark cleans up its scratch directory"


def test_the_cli_refuses_a_recovery_size_below_one() -> None:
    assert main(["bench", "--recovery-commands", "0"]) == 2
