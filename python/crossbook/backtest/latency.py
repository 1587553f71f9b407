"""Latency per operation kind: how long after a strategy acts the venue sees it, and how stale its view is.

A :class:`Latency` names one delay for each kind of operation: ``insert`` (a new order), ``amend``,
``cancel`` and ``market_data`` (how old the book and trades a strategy sees are). Each is a whole number
of milliseconds (a constant) or a distribution: :class:`Uniform`, :class:`LogNormal` or
:class:`Empirical` (draws from recorded delays). Distributions draw from one ``numpy`` generator seeded
by the backtest's seed, in the order the strategy acts, so the same seed gives the same delays.

An operation sent at ``t`` arrives at ``t + delay`` and is then applied with everything the venue
knows at that moment: a cancel that arrives after the order filled finds it gone and returns False
(it lost the race). Delays are rounded to whole milliseconds and never negative. Costs: one draw per
operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from crossbook.exceptions import InvalidArgumentError, InvalidTypeError

OperationKind = Literal["insert", "amend", "cancel", "market_data"]
OPERATION_KINDS: tuple[OperationKind, ...] = ("insert", "amend", "cancel", "market_data")


class Distribution(Protocol):
    """A delay distribution: draws whole milliseconds from the backtest's generator."""

    def draw(self, generator: np.random.Generator) -> int: ...


@dataclass(frozen=True)
class Uniform:
    """A delay uniform in ``[low_ms, high_ms]`` (whole milliseconds)."""

    low_ms: int
    high_ms: int

    def __post_init__(self) -> None:
        _check_ms(self.low_ms, "low_ms")
        _check_ms(self.high_ms, "high_ms")
        if self.high_ms < self.low_ms:
            raise InvalidArgumentError(f"Uniform needs low_ms <= high_ms, got {self.low_ms} and {self.high_ms}")

    def draw(self, generator: np.random.Generator) -> int:
        return int(generator.integers(self.low_ms, self.high_ms + 1))


@dataclass(frozen=True)
class LogNormal:
    """A log-normal delay with median ``median_ms`` and log-space spread ``sigma`` (a heavy right tail)."""

    median_ms: float
    sigma: float

    def __post_init__(self) -> None:
        if not self.median_ms > 0 or not self.sigma >= 0:
            raise InvalidArgumentError(f"LogNormal needs median_ms > 0 and sigma >= 0, got {self}")

    def draw(self, generator: np.random.Generator) -> int:
        return round(self.median_ms * float(np.exp(self.sigma * generator.standard_normal())))


@dataclass(frozen=True)
class Empirical:
    """Draws uniformly from recorded delays (whole milliseconds)."""

    samples_ms: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.samples_ms:
            raise InvalidArgumentError("Empirical needs at least one recorded delay")
        for value in self.samples_ms:
            _check_ms(value, "a recorded delay")

    def draw(self, generator: np.random.Generator) -> int:
        return self.samples_ms[int(generator.integers(len(self.samples_ms)))]


Delay = int | Uniform | LogNormal | Empirical


def _check_ms(value: object, name: str) -> None:
    if type(value) is not int:
        raise InvalidTypeError(f"{name} must be a whole number of milliseconds (int), got {type(value).__name__}")
    if value < 0:
        raise InvalidArgumentError(f"{name} must be >= 0 ms, got {value}")


@dataclass(frozen=True)
class Latency:
    """Delays per operation kind; ``Latency()`` is zero everywhere."""

    insert: Delay = 0
    amend: Delay = 0
    cancel: Delay = 0
    market_data: Delay = 0

    def __post_init__(self) -> None:
        for kind in OPERATION_KINDS:
            value = getattr(self, kind)
            if isinstance(value, Uniform | LogNormal | Empirical):
                continue
            _check_ms(value, f"latency.{kind}")

    @classmethod
    def from_mapping(cls, values: dict[str, object]) -> Latency:
        """From a TOML table: ``insert = 5`` or ``insert = {uniform = [2, 8]}``, ``{lognormal = [5, 0.5]}``
        or ``{empirical = [3, 4, 9]}``."""
        unknown = set(values) - set(OPERATION_KINDS)
        if unknown:
            raise InvalidArgumentError(f"latency: unknown kinds {sorted(unknown)}; expected {list(OPERATION_KINDS)}")
        return cls(**{kind: _delay(kind, value) for kind, value in values.items()})


def _delay(kind: str, value: object) -> Delay:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((name, arguments),) = value.items()
        if isinstance(arguments, Sequence) and not isinstance(arguments, str):
            if name == "uniform" and len(arguments) == 2:
                return Uniform(*arguments)
            if name == "lognormal" and len(arguments) == 2:
                return LogNormal(float(arguments[0]), float(arguments[1]))
            if name == "empirical":
                return Empirical(tuple(arguments))
    raise InvalidArgumentError(
        f"latency.{kind}: expected milliseconds or one of {{uniform = [low, high]}}, {{lognormal = [median, sigma]}}, "
        f"{{empirical = [ms, ...]}}, got {value!r}"
    )


@dataclass
class LatencyModel:
    """Draws the delays of one run: constants as given, distributions from a generator seeded by ``seed``."""

    latency: Latency
    seed: int
    _generator: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._generator = np.random.default_rng([self.seed, 0x1A7E])

    def delay(self, kind: OperationKind) -> int:
        value = getattr(self.latency, kind)
        if isinstance(value, int):
            return value
        return max(0, int(value.draw(self._generator)))
