"""Measurements and their plain-text table."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    """Median time per operation of one way of running a workload."""

    name: str
    operations: int
    seconds: tuple[float, ...]

    @property
    def ns_per_op(self) -> float:
        return statistics.median(self.seconds) / self.operations * 1e9

    @property
    def ops_per_second(self) -> float:
        return 1e9 / self.ns_per_op


Setup = Callable[[], Callable[[], object]]
"""Does the untimed setup of one run and returns the callable to time."""


def measure(name: str, operations: int, repeats: int, run: Setup) -> Measurement:
    """Times ``repeats`` runs; ``run()`` does the untimed setup and returns the timed callable.

    The cyclic garbage collector is off while a run is timed, as ``timeit`` does: the harness holds
    millions of prepared argument tuples, and collections that traverse them would be measured as
    if the engine had caused them.
    """
    return measure_in_turn(repeats, [(name, operations, run)])[0]


def measure_in_turn(repeats: int, runs: list[tuple[str, int, Setup]]) -> list[Measurement]:
    """Times ``repeats`` rounds of every ``(name, operations, setup)``, one run of each in turn.

    Taking turns means a slow phase of a shared host slows every way of running a workload alike,
    so the ratios of their medians hold up where the absolute figures do not. As in
    :func:`measure`, the garbage collector is off while a run is timed.
    """
    seconds: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for (_, _, setup), timings in zip(runs, seconds, strict=True):
            timed = setup()
            collecting = gc.isenabled()
            gc.disable()
            try:
                start = time.perf_counter()
                timed()
                timings.append(time.perf_counter() - start)
            finally:
                if collecting:
                    gc.enable()
    return [
        Measurement(name, operations, tuple(timings))
        for (name, operations, _), timings in zip(runs, seconds, strict=True)
    ]


def format_table(title: str, rows: list[Measurement], baseline: Measurement) -> str:
    """A table of ns/op, ops/s and speed-up over ``baseline`` (>1 is faster than the baseline)."""
    lines = [
        title,
        f"{'':<42}{'ns/op':>12}{'ops/s':>16}{'speed-up':>10}   (baseline: {baseline.name})",
    ]
    for row in rows:
        ratio = baseline.ns_per_op / row.ns_per_op
        lines.append(f"{row.name:<42}{row.ns_per_op:>12,.1f}{row.ops_per_second:>16,.0f}{ratio:>9,.1f}x")
    return "\n".join(lines)
