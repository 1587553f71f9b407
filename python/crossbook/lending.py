"""Borrow/lend policy: the rates the pools charge and when interest accrues (SPEC §7).

The pools themselves — indices, shares, entry fees, throttle — live in the Rust engine (O(assets)
per accrual). What is policy lives here: the two-slope borrow curve of each asset (from
:class:`crossbook.config.LendingCurve`) evaluated at the pool's utilization, turned into a rate per
interest interval in units of 1e-18, rounded up (against the borrower), and the lenders' share
``1 - lend_venue_fee``, rounded down. Interest accrues at every multiple of
``venue.interest_interval_ms`` of engine time, in asset order, so a long jump of ``advance_to``
gives exactly what many short steps give.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from crossbook.config import Config

YEAR_MS = 8760 * 3_600_000
"""A year of interest is 8760 hours (SPEC §7: an hour costs ``amount * apr / 8760``)."""

_E18 = Decimal(10) ** 18


def interval_rate_e18(config: Config, asset: str, utilization: Decimal | float) -> int:
    """The borrow rate of ``asset`` for one interest interval at ``utilization``, in 1e-18, up."""
    exact = utilization if isinstance(utilization, Decimal) else Decimal(repr(utilization))
    apr = config.asset(asset).lending.borrow_rate(min(Decimal(1), max(Decimal(0), exact)))
    per_interval = apr * config.venue.interest_interval_ms / YEAR_MS
    return int((per_interval * _E18).to_integral_value(ROUND_CEILING))


def lender_share_e18(config: Config) -> int:
    """Lenders' share of borrow interest, ``1 - lend_venue_fee``, in 1e-18, down."""
    return int(((1 - config.venue.lend_venue_fee) * _E18).to_integral_value(ROUND_FLOOR))


def boundaries(interval_ms: int, start_ms: int, end_ms: int) -> range:
    """Multiples of ``interval_ms`` in ``(start_ms, end_ms]``, in order (the config guarantees the
    realize interval divides the interest interval, so realize boundaries include interest ones)."""
    first = (start_ms // interval_ms + 1) * interval_ms
    return range(first, end_ms + 1, interval_ms)


__all__ = ["YEAR_MS", "boundaries", "interval_rate_e18", "lender_share_e18"]
