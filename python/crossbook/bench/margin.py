"""The margin benchmark: the vectorized cross-margin check over every account, after a price update.

State (seeded, columnar, built with numpy): ``accounts`` subaccounts, each with ``positions``
entries — one holding of each of 4 assets and ``positions - 4`` perpetual positions:

- assets USDC (identity haircut), BTC and ETH (``inverseSqrt {0.95, 0.001}``), SOL
  (``inverseSqrt {0.90, 0.001}``), each borrowable with its own IMF/MMF curves. About 15% of the
  holdings are borrows (negative);
- perpetuals BTC, ETH, SOL and XRP (cycled if there are more), SOL with the SPEC's
  ``imf {0.02, 0.00006}``, ``mmf {0.0135, 0.000036}``, the others alike with their own bases.
  Positions are long or short, a few thousand USDC of notional each (log-normal), entered within
  about 5% of the mark, with open orders on either side half of the time;
- ``max_leverage`` uniform in 1-50.

Every amount stays far below 2**53 atoms, where the numpy baseline is exact. The same columns run
through the Rust kernel (:func:`crossbook.risk.margin_scan`, the GIL released, both cores) and the
numpy baseline (:func:`crossbook.risk.margin_scan_numpy`, same formulas and rounding); the two must
agree exactly on a sample of accounts before anything is reported. The kernel writes into result
arrays made once (``out=``), as the engine's rescan after every price update does
(``Engine::rescan`` reuses its buffers), so the figure is the kernel's, not the kernel's plus the
operating system's first touch of 50 MB of fresh result pages. Time is per position
(``accounts * positions``) and per scan.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from crossbook.bench.report import Measurement, format_table, measure
from crossbook.risk import margin_scan, margin_scan_numpy, margin_scan_output

ASSETS = 4
USDC = 10**6
CHECKED_ACCOUNTS = 10_000
# name, price in USDC atoms per whole unit, unit, haircut (base, penalty), borrow imf, borrow mmf
_ASSETS = (
    ("USDC", USDC, 10**6, (np.nan, 0.0), (0.1, 0.0), (0.05, 0.0)),
    ("BTC", 100_000 * USDC, 10**8, (0.95, 0.001), (0.1, 0.00005), (0.05, 0.00003)),
    ("ETH", 3_000 * USDC, 10**8, (0.95, 0.001), (0.1, 0.00005), (0.05, 0.00003)),
    ("SOL", 150 * USDC, 10**8, (0.90, 0.001), (0.15, 0.00006), (0.08, 0.000036)),
)
# name, mark in ticks, quote atoms per lot at one tick, imf, mmf
_MARKETS = (
    ("BTC_USDC_PERP", 1_000_000, 10, (0.01, 0.00004), (0.006, 0.000024)),  # tick 0.1, step 0.0001
    ("ETH_USDC_PERP", 300_000, 10, (0.015, 0.00005), (0.01, 0.00003)),  # tick 0.01, step 0.001
    ("SOL_USDC_PERP", 15_000, 100, (0.02, 0.00006), (0.0135, 0.000036)),  # tick 0.01, step 0.01
    ("XRP_USDC_PERP", 5_000, 100, (0.03, 0.00008), (0.02, 0.00005)),  # tick 0.0001, step 1
)


@dataclass(frozen=True)
class MarginBenchmark:
    rust: Measurement
    numpy: Measurement
    accounts: int
    positions: int
    liquidatable: int

    def table(self) -> str:
        title = (
            f"Margin scan: {self.accounts:,} accounts x {self.positions} positions "
            f"({ASSETS} holdings + {self.positions - ASSETS} perps; {self.liquidatable:,} liquidatable), "
            f"median of {len(self.rust.seconds)} runs; ns/op is per position"
        )
        scans = ", ".join(f"{row.name} {_ms_per_scan(row):,.1f} ms" for row in (self.rust, self.numpy))
        return f"{format_table(title, [self.rust, self.numpy], self.numpy)}\nper scan: {scans}"


def _ms_per_scan(measurement: Measurement) -> float:
    return statistics.median(measurement.seconds) * 1e3


def margin_state(accounts: int, positions: int, seed: int = 42) -> dict[str, Any]:
    """The benchmark's arguments of ``margin_scan``: parameters and seeded random columns."""
    if positions < ASSETS:
        raise ValueError(f"positions counts the {ASSETS} holdings too, so it must be >= {ASSETS}, got {positions}")
    rng = np.random.default_rng(seed)
    markets = [_MARKETS[index % len(_MARKETS)] for index in range(positions - ASSETS)]

    price = np.array([asset[1] for asset in _ASSETS], dtype=np.int64)
    unit = np.array([asset[2] for asset in _ASSETS], dtype=np.int64)
    worth_usd = rng.lognormal(np.log(5_000.0), 1.0, (accounts, ASSETS))
    borrowed = rng.random((accounts, ASSETS)) < 0.15
    atoms = (worth_usd * USDC / price * unit).astype(np.int64)
    holdings = np.where(borrowed, -(atoms // 4), atoms)

    mark = np.array([market[1] for market in markets], dtype=np.int64)
    per_lot = np.array([market[2] for market in markets], dtype=np.int64)
    lot_usd = mark * per_lot / USDC
    size = (rng.lognormal(np.log(3_000.0), 1.0, (accounts, len(markets))) / lot_usd).astype(np.int64) + 1
    net_qty = np.where(rng.random((accounts, len(markets))) < 0.5, -size, size)
    entry = mark * (1.0 + rng.normal(0.0, 0.05, (accounts, len(markets))))
    net_cost = np.rint(net_qty * entry * per_lot).astype(np.int64)
    with_orders = rng.random((accounts, len(markets))) < 0.5
    open_bids = np.where(with_orders, (size * rng.random((accounts, len(markets)))).astype(np.int64), 0)
    open_asks = np.where(with_orders, (size * rng.random((accounts, len(markets)))).astype(np.int64), 0)

    def curve(rows: tuple[tuple[Any, ...], ...], column: int, part: int) -> np.ndarray:
        return np.array([row[column][part] for row in rows], dtype=np.float64)

    market_rows = tuple(markets)
    return {
        "asset_price": price,
        "asset_unit": unit,
        "haircut_base": curve(_ASSETS, 3, 0),
        "haircut_penalty": curve(_ASSETS, 3, 1),
        "borrow_imf_base": curve(_ASSETS, 4, 0),
        "borrow_imf_factor": curve(_ASSETS, 4, 1),
        "borrow_mmf_base": curve(_ASSETS, 5, 0),
        "borrow_mmf_factor": curve(_ASSETS, 5, 1),
        "mark": mark,
        "notional_per_tick_lot": per_lot,
        "imf_base": curve(market_rows, 3, 0),
        "imf_factor": curve(market_rows, 3, 1),
        "mmf_base": curve(market_rows, 4, 0),
        "mmf_factor": curve(market_rows, 4, 1),
        "holdings": holdings,
        "net_qty": net_qty,
        "net_cost": net_cost,
        "open_bids": open_bids,
        "open_asks": open_asks,
        "max_leverage": rng.integers(1, 51, accounts).astype(np.uint32),
        "quote_unit": USDC,
    }


def _head(state: dict[str, Any], rows: int) -> dict[str, Any]:
    """The first ``rows`` accounts of a state (the parameters unchanged)."""
    account_columns = ("holdings", "net_qty", "net_cost", "open_bids", "open_asks", "max_leverage")
    return {name: value[:rows] if name in account_columns else value for name, value in state.items()}


def run_margin_benchmark(
    accounts: int = 1_000_000, positions: int = 8, repeats: int = 5, seed: int = 42
) -> MarginBenchmark:
    """Times the Rust scan and the numpy baseline on the same state; raises if they disagree."""
    state = margin_state(accounts, positions, seed)
    sample = _head(state, min(accounts, CHECKED_ACCOUNTS))
    rust_sample: Mapping[str, Any] = margin_scan(**sample)
    numpy_sample: Mapping[str, Any] = margin_scan_numpy(**sample)
    for name, column in rust_sample.items():
        if not np.array_equal(column, numpy_sample[name]):
            raise AssertionError(f"the Rust scan and the numpy baseline disagree on {name}: not like for like")

    def timed(scan: Callable[..., object]) -> Callable[[], Callable[[], object]]:
        return lambda: lambda: scan(**state)

    out = margin_scan_output(accounts)
    operations = accounts * positions
    rust = measure(
        "Rust kernel (margin_scan)", operations, repeats, timed(lambda **columns: margin_scan(**columns, out=out))
    )
    baseline = measure("numpy baseline", operations, repeats, timed(margin_scan_numpy))
    liquidatable = int(out["liquidatable"].sum())
    return MarginBenchmark(rust=rust, numpy=baseline, accounts=accounts, positions=positions, liquidatable=liquidatable)
