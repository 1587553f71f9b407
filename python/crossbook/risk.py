"""The vectorized cross-margin check (SPEC §4-5) over numpy columns.

:func:`margin_scan` runs the Rust kernel (``crossbook._core.margin_scan``, the GIL released);
:func:`margin_scan_numpy` computes the same thing in vectorized numpy and is the benchmark baseline.

Inputs, all keyword arguments:

===================== ================ ==========================================================
argument              dtype, shape     meaning
===================== ================ ==========================================================
asset_price           int64 (A,)       index price, quote atoms per whole unit (USDC: 10**6)
asset_unit            int64 (A,)       atoms per whole unit, ``10**decimals``
haircut_base          float64 (A,)     ``inverseSqrt`` base; **NaN means the identity haircut**
haircut_penalty       float64 (A,)     ``inverseSqrt`` penalty (ignored for the identity)
borrow_imf_base/...   float64 (A,)     borrow IMF/MMF curves ``max(base, factor * sqrt(N))``
mark                  int64 (M,)       perpetual mark price in ticks
notional_per_tick_lot int64 (M,)       quote atoms one lot is worth at one tick
imf_base/... mmf_...  float64 (M,)     the perpetual's IMF/MMF curves
holdings              int64 (n, A)     signed net holdings in atoms; negative is a borrow
net_qty, net_cost     int64 (n, M)     signed position in lots, signed cost basis in quote atoms
open_bids, open_asks  int64 (n, M)     lots of open orders on each side (>= 0)
max_leverage          uint32 (n,)      each account's leverage setting, 1 to 50
quote_unit            int              atoms per whole quote unit (USDC: 10**6)
===================== ================ ==========================================================

The result is a dict of arrays with one entry per account: ``net_equity``, ``initial_margin``,
``maintenance_margin`` (int64 quote atoms), ``imr``, ``mmr`` (requirement / net equity, +inf when
net equity <= 0), ``margin_fraction`` (net equity / exposure, +inf without exposure) and
``liquidatable`` (bool: maintenance margin > 0 and MMR >= 1).

Rounding goes against the account: values and collateral down, liabilities and requirements up,
``1 / max_leverage`` exactly. A weight or fraction is an f64; its product with an amount is rounded
exactly from that f64, except that a product within ``min(x * 2**-50, 1/2)`` of a whole number is
taken as it, so that decimal parameters (0.02, 0.0135, 0.95) give the whole amounts they mean.
"""

from __future__ import annotations

from typing import TypedDict, cast

import numpy as np
import numpy.typing as npt

from crossbook import _core

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]

#: Relative allowance of a ratio's representation error (see the module docs).
RATIO_SLACK = 2.0**-50
#: Veltkamp's splitter for f64: 2**27 + 1.
_SPLITTER = 134217729.0
_INVERSE_SQRT_NUMERATOR = 1.1


class MarginScan(TypedDict):
    """One entry per account."""

    net_equity: Int64Array
    initial_margin: Int64Array
    maintenance_margin: Int64Array
    imr: Float64Array
    mmr: Float64Array
    margin_fraction: Float64Array
    liquidatable: npt.NDArray[np.bool_]


def margin_scan(
    *,
    asset_price: Int64Array,
    asset_unit: Int64Array,
    haircut_base: Float64Array,
    haircut_penalty: Float64Array,
    borrow_imf_base: Float64Array,
    borrow_imf_factor: Float64Array,
    borrow_mmf_base: Float64Array,
    borrow_mmf_factor: Float64Array,
    mark: Int64Array,
    notional_per_tick_lot: Int64Array,
    imf_base: Float64Array,
    imf_factor: Float64Array,
    mmf_base: Float64Array,
    mmf_factor: Float64Array,
    holdings: Int64Array,
    net_qty: Int64Array,
    net_cost: Int64Array,
    open_bids: Int64Array,
    open_asks: Int64Array,
    max_leverage: npt.NDArray[np.uint32],
    quote_unit: int = 10**6,
    out: MarginScan | None = None,
    borrowed: Int64Array | None = None,
) -> MarginScan:
    """Margin of every account, computed in Rust; see the module docs for the arguments.

    With ``out`` (from :func:`margin_scan_output`), the results are written into those arrays and
    ``out`` is returned: a venue rescanning after every price update reuses them and touches no
    fresh memory.

    The state columns are borrowed without copying, so they must have exactly the dtypes above and
    be C-contiguous. Raises :class:`~crossbook.exceptions.InvalidTypeError` for a wrong dtype or
    dimension and :class:`~crossbook.exceptions.InvalidArgumentError` for a wrong shape, a value out
    of its domain (leverage 0, negative open orders, a non-positive unit, a NaN curve parameter) or
    an amount that overflows 64 bits; the message names the column (and the account).
    """
    result = _core.margin_scan(
        asset_price=asset_price,
        asset_unit=asset_unit,
        haircut_base=haircut_base,
        haircut_penalty=haircut_penalty,
        borrow_imf_base=borrow_imf_base,
        borrow_imf_factor=borrow_imf_factor,
        borrow_mmf_base=borrow_mmf_base,
        borrow_mmf_factor=borrow_mmf_factor,
        mark=mark,
        notional_per_tick_lot=notional_per_tick_lot,
        imf_base=imf_base,
        imf_factor=imf_factor,
        mmf_base=mmf_base,
        mmf_factor=mmf_factor,
        holdings=holdings,
        net_qty=net_qty,
        net_cost=net_cost,
        open_bids=open_bids,
        open_asks=open_asks,
        max_leverage=max_leverage,
        quote_unit=quote_unit,
        out=out,
        borrowed=borrowed,
    )
    return cast(MarginScan, result)


def margin_scan_output(accounts: int) -> MarginScan:
    """Output arrays for ``margin_scan(..., out=...)``, one row per account."""
    return MarginScan(
        net_equity=np.zeros(accounts, np.int64),
        initial_margin=np.zeros(accounts, np.int64),
        maintenance_margin=np.zeros(accounts, np.int64),
        imr=np.zeros(accounts, np.float64),
        mmr=np.zeros(accounts, np.float64),
        margin_fraction=np.zeros(accounts, np.float64),
        liquidatable=np.zeros(accounts, np.bool_),
    )


def margin_scan_numpy(
    *,
    asset_price: Int64Array,
    asset_unit: Int64Array,
    haircut_base: Float64Array,
    haircut_penalty: Float64Array,
    borrow_imf_base: Float64Array,
    borrow_imf_factor: Float64Array,
    borrow_mmf_base: Float64Array,
    borrow_mmf_factor: Float64Array,
    mark: Int64Array,
    notional_per_tick_lot: Int64Array,
    imf_base: Float64Array,
    imf_factor: Float64Array,
    mmf_base: Float64Array,
    mmf_factor: Float64Array,
    holdings: Int64Array,
    net_qty: Int64Array,
    net_cost: Int64Array,
    open_bids: Int64Array,
    open_asks: Int64Array,
    max_leverage: npt.NDArray[np.uint32],
    quote_unit: int = 10**6,
    borrowed: Int64Array | None = None,
) -> MarginScan:
    """The formulas of :func:`margin_scan` in vectorized numpy (int64 and float64), same rounding.

    The baseline of the margin benchmark. It checks nothing and wraps silently on overflow; it
    matches the kernel exactly while every amount stays below 2**53 atoms (products rounded with an
    error-free f64 transformation stand in for the kernel's 128-bit arithmetic) and every asset unit
    is at most 10**9 (``holding * price / unit`` is split so no int64 product overflows).
    """
    quote = float(quote_unit)
    leverage = max_leverage.astype(np.int64)[:, None]

    magnitude = np.abs(holdings)
    value = _mul_div(magnitude, asset_price, asset_unit, up=False)
    weight = np.where(
        np.isnan(haircut_base),
        1.0,
        np.minimum(haircut_base, _INVERSE_SQRT_NUMERATOR / (1.0 + haircut_penalty * np.sqrt(value / quote))),
    )
    collateral = np.where(holdings > 0, _round_product(value, weight, up=False), 0).sum(axis=1)
    owed: Int64Array = np.where(holdings < 0, magnitude, 0).astype(np.int64)
    if borrowed is not None:
        owed = owed + borrowed
    liability = np.where(owed > 0, _mul_div(owed, asset_price, asset_unit, up=True), 0)
    liability_usd = liability / quote
    borrow_initial = _initial_margin(liability, _fraction(borrow_imf_base, borrow_imf_factor, liability_usd), leverage)
    borrow_maintenance = _round_product(
        liability, _fraction(borrow_mmf_base, borrow_mmf_factor, liability_usd), up=True
    )

    per_lot = mark * notional_per_tick_lot
    position = np.abs(net_qty) * per_lot
    exposure = np.maximum(np.abs(net_qty + open_bids), np.abs(net_qty - open_asks)) * per_lot
    unrealized_pnl = (net_qty * per_lot - net_cost).sum(axis=1)
    position_initial = _initial_margin(exposure, _fraction(imf_base, imf_factor, exposure / quote), leverage)
    position_maintenance = _round_product(position, _fraction(mmf_base, mmf_factor, position / quote), up=True)

    net_equity = collateral + unrealized_pnl - liability.sum(axis=1)
    initial_margin = borrow_initial.sum(axis=1) + position_initial.sum(axis=1)
    maintenance_margin = borrow_maintenance.sum(axis=1) + position_maintenance.sum(axis=1)
    total_exposure = liability.sum(axis=1) + exposure.sum(axis=1)

    equity = net_equity.astype(np.float64)
    solvent = net_equity > 0
    imr = np.divide(initial_margin.astype(np.float64), equity, out=np.full(equity.shape, np.inf), where=solvent)
    mmr = np.divide(maintenance_margin.astype(np.float64), equity, out=np.full(equity.shape, np.inf), where=solvent)
    margin_fraction = np.divide(
        equity, total_exposure.astype(np.float64), out=np.full(equity.shape, np.inf), where=total_exposure > 0
    )
    return MarginScan(
        net_equity=net_equity,
        initial_margin=initial_margin,
        maintenance_margin=maintenance_margin,
        imr=imr,
        mmr=mmr,
        margin_fraction=margin_fraction,
        liquidatable=(maintenance_margin > 0) & (mmr >= 1.0),
    )


def _fraction(base: Float64Array, factor: Float64Array, notional_usd: Float64Array) -> Float64Array:
    """``max(base, factor * sqrt(N))``, as the kernel evaluates it."""
    return np.maximum(base, factor * np.sqrt(notional_usd))


def _initial_margin(notional: Int64Array, fraction: Float64Array, leverage: Int64Array) -> Int64Array:
    """``ceil(N * max(fraction, 1 / leverage))`` with the leverage term exact."""
    by_leverage: Int64Array = -(-notional // leverage)
    return np.maximum(_round_product(notional, fraction, up=True), by_leverage)


def _mul_div(amount: Int64Array, price: Int64Array, unit: Int64Array, *, up: bool) -> Int64Array:
    """``floor`` (or ``ceil``) of ``amount * price / unit`` in int64, exact for ``unit <= 10**9``.

    With ``amount = q*unit + r`` and ``price = pq*unit + pr``, the quotient is
    ``q*price + r*pq + r*pr/unit`` and ``r*pr < unit**2`` fits an int64.
    """
    whole, rest = np.divmod(amount, unit)
    price_whole, price_rest = np.divmod(price, unit)
    small = rest * price_rest
    fraction = -(-small // unit) if up else small // unit
    quotient: Int64Array = whole * price + rest * price_whole + fraction
    return quotient


def _round_product(amount: Int64Array, ratio: Float64Array, *, up: bool) -> Int64Array:
    """``amount * ratio`` rounded as the kernel does (module docs), for ``0 <= amount < 2**53``.

    Dekker's product gives ``amount * ratio == product + error`` exactly in f64, so the floor, the
    fractional part and the distance to the next whole number are known without 128-bit integers.
    """
    amount_f = amount.astype(np.float64)
    product = amount_f * ratio
    scaled = _SPLITTER * amount_f
    amount_high = scaled - (scaled - amount_f)
    amount_low = amount_f - amount_high
    scaled = _SPLITTER * ratio
    ratio_high = scaled - (scaled - ratio)
    ratio_low = ratio - ratio_high
    error = ((amount_high * ratio_high - product) + amount_high * ratio_low + amount_low * ratio_high) + (
        amount_low * ratio_low
    )
    whole = np.floor(product)
    whole -= (product == whole) & (error < 0)
    fraction = (product - whole) + error
    allowance = np.minimum(product * RATIO_SLACK, 0.5)
    bump = (fraction > 0) & ((fraction >= allowance) if up else (1.0 - fraction < allowance))
    return (whole + bump).astype(np.int64)


__all__ = ["RATIO_SLACK", "MarginScan", "margin_scan", "margin_scan_numpy", "margin_scan_output"]
