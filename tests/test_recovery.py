"""Crash recovery (issue #6): a child process streams commands into a durable exchange and is killed
with SIGKILL at random moments, many times; each reopen must hold exactly the acknowledged prefix.

The child prints the index of each command after it returns (flushed), so the parent knows what was
acknowledged. After each kill the parent reopens the directory: the journal holds every acknowledged
command and at most the one in flight (journaled, not yet printed), and the state hashes equal an
in-memory replay of that prefix. The next child recovers the same directory and continues the
stream, so recovery is also checked to leave an engine that goes on correctly. Modes rotate through
``fsync="always"``, ``"batch"`` and ``"never"`` (a killed process loses nothing in any of them), and
snapshots are frequent, so kills land during snapshot writes too. Runtime about 20 s.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import crossbook as cb
from journal_helpers import apply, session

SEED = 21
COMMANDS = 40_000
BUDGET_S = 20.0
MIN_KILLS = 8  # on a slow machine the test runs past its budget rather than kill fewer times

CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
import crossbook as cb
from journal_helpers import apply, session

directory, seed, count, fsync = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
calls = session(seed, count)
exchange = cb.Exchange.open(directory, fsync=fsync, batch_size=8, snapshot_every=40)
start = exchange.journal_length
print("start", start, flush=True)
for index in range(start, len(calls)):
    apply(exchange, calls[index])
    print(index + 1, flush=True)
print("done", flush=True)
"""


def test_kill_9_at_random_moments_recovers_exactly_the_acknowledged_prefix(tmp_path: Path) -> None:
    calls = session(SEED, COMMANDS)
    tests = str(Path(__file__).parent)
    rng = random.Random(5)
    reference = cb.Exchange()
    replayed = 0
    recovered = 0
    kills = 0
    deadline = time.monotonic() + BUDGET_S
    while kills < MIN_KILLS or time.monotonic() < deadline:
        fsync = ("always", "batch", "never")[kills % 3]
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, tests, str(tmp_path), str(SEED), str(COMMANDS), fsync],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        first = child.stdout.readline().split()
        assert first[0] == "start", first
        assert int(first[1]) == recovered, "the child recovered what the parent recovered last time"
        time.sleep(rng.uniform(0.01, 0.35))
        os.kill(child.pid, signal.SIGKILL)
        output, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL, "the child was killed mid-stream, not finished"
        acknowledged = [int(line) for line in output.split() if line.isdigit()]
        last_acknowledged = acknowledged[-1] if acknowledged else recovered

        exchange = cb.Exchange.open(tmp_path)
        recovered = exchange.journal_length or 0
        assert last_acknowledged <= recovered <= last_acknowledged + 1, (last_acknowledged, recovered)
        while replayed < recovered:
            apply(reference, calls[replayed])
            replayed += 1
        assert exchange.state_hash() == reference.state_hash(), f"kill {kills}: recovered state differs"
        exchange.close()
        kills += 1
    assert kills >= MIN_KILLS
    assert recovered > 500, "the children made progress between kills"
