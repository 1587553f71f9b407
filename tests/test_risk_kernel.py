"""The cross-margin kernel (``crossbook.risk``) against an obviously-correct Python reference.

The reference below loops over assets and markets and does every amount in exact rationals
(:class:`fractions.Fraction`); only the weights and fractions are floats, because SPEC §1 defines
them as f64 evaluated with ``sqrt`` — it uses the same IEEE-754 expressions as the kernel (correctly
rounded ``math.sqrt``, ``*``, ``+``, ``/`` in the same order), so they agree bit for bit. Each
``amount * ratio`` is then rounded from the exact product with the documented rule (strict floor or
ceiling against the account, unless within ``min(x * 2**-50, 1/2)`` of a whole number).

Tolerances: integer amounts (net equity, initial and maintenance margin) must be **exactly** equal —
the kernel rounds the same exact products the same way, so there is no boundary slack to allow. The
ratios are within 1e-12 relative: the kernel divides two f64-rounded integers, the reference rounds
the exact quotient once. The liquidatable flag is exact. Generated amounts stay below 2**53 atoms,
where the numpy baseline is exact too; it must equal the kernel bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossbook.exceptions import CrossbookError, InvalidArgumentError, InvalidTypeError
from crossbook.risk import RATIO_SLACK, margin_scan, margin_scan_numpy

USDC = 10**6
SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
RESULT_FIELDS = ("net_equity", "initial_margin", "maintenance_margin", "imr", "mmr", "margin_fraction", "liquidatable")


@dataclass(frozen=True)
class Asset:
    price: int
    unit: int
    haircut_base: float  # NaN: identity
    haircut_penalty: float
    borrow_imf: tuple[float, float]
    borrow_mmf: tuple[float, float]


@dataclass(frozen=True)
class Market:
    mark: int
    notional_per_tick_lot: int
    imf: tuple[float, float]
    mmf: tuple[float, float]


@dataclass(frozen=True)
class Account:
    holdings: tuple[int, ...]
    positions: tuple[tuple[int, int, int, int], ...]  # net_qty, net_cost, open_bids, open_asks
    max_leverage: int


USDC_ASSET = Asset(USDC, USDC, math.nan, 0.0, (0.1, 0.0), (0.05, 0.0))
BTC_ASSET = Asset(100_000 * USDC, 10**8, 0.95, 0.001, (1.0, 0.0), (1.0, 0.0))
SOL_PERP = Market(10_000, 100, (0.02, 0.00006), (0.0135, 0.000036))  # tick 0.01 USDC, step 0.01 SOL


def columns(assets: list[Asset], markets: list[Market], accounts: list[Account], quote_unit: int) -> dict[str, Any]:
    """The keyword arguments of ``margin_scan`` for these accounts."""
    rows = len(accounts)

    def floats(values: list[float]) -> np.ndarray:
        return np.array(values, dtype=np.float64)

    def per_market(field: int) -> np.ndarray:
        return np.array([[p[field] for p in a.positions] for a in accounts], dtype=np.int64).reshape(rows, len(markets))

    return {
        "asset_price": np.array([a.price for a in assets], dtype=np.int64),
        "asset_unit": np.array([a.unit for a in assets], dtype=np.int64),
        "haircut_base": floats([a.haircut_base for a in assets]),
        "haircut_penalty": floats([a.haircut_penalty for a in assets]),
        "borrow_imf_base": floats([a.borrow_imf[0] for a in assets]),
        "borrow_imf_factor": floats([a.borrow_imf[1] for a in assets]),
        "borrow_mmf_base": floats([a.borrow_mmf[0] for a in assets]),
        "borrow_mmf_factor": floats([a.borrow_mmf[1] for a in assets]),
        "mark": np.array([m.mark for m in markets], dtype=np.int64),
        "notional_per_tick_lot": np.array([m.notional_per_tick_lot for m in markets], dtype=np.int64),
        "imf_base": floats([m.imf[0] for m in markets]),
        "imf_factor": floats([m.imf[1] for m in markets]),
        "mmf_base": floats([m.mmf[0] for m in markets]),
        "mmf_factor": floats([m.mmf[1] for m in markets]),
        "holdings": np.array([a.holdings for a in accounts], dtype=np.int64).reshape(rows, len(assets)),
        "net_qty": per_market(0),
        "net_cost": per_market(1),
        "open_bids": per_market(2),
        "open_asks": per_market(3),
        "max_leverage": np.array([a.max_leverage for a in accounts], dtype=np.uint32),
        "quote_unit": quote_unit,
    }


# ---------------------------------------------------------------------------------------------------
# The reference
# ---------------------------------------------------------------------------------------------------


def weight(asset: Asset, value_usd: float) -> float:
    """SPEC §4: identity, or ``min(base, 1.1 / (1 + penalty * sqrt(N)))``."""
    if math.isnan(asset.haircut_base):
        return 1.0
    return min(asset.haircut_base, 1.1 / (1.0 + asset.haircut_penalty * math.sqrt(value_usd)))


def fraction(curve: tuple[float, float], notional_usd: float) -> float:
    """SPEC §5: ``max(base, factor * sqrt(N))``."""
    base, factor = curve
    return max(base, factor * math.sqrt(notional_usd))


def against_account(amount: int, ratio: float, *, up: bool) -> int:
    """``amount * ratio`` rounded up (requirements) or down (collateral), from the exact product."""
    exact = amount * Fraction(ratio)
    low, high = math.floor(exact), math.ceil(exact)
    if low == high:
        return low
    allowance = min(exact * Fraction(RATIO_SLACK), Fraction(1, 2))
    if up:
        return low if exact - low < allowance else high
    return high if high - exact < allowance else low


def initial_margin(notional: int, imf: float, max_leverage: int) -> int:
    """``ceil(N * max(imf, 1 / max_leverage))``: the larger of the two roundings up."""
    return max(against_account(notional, imf, up=True), math.ceil(Fraction(notional, max_leverage)))


def reference_margin(
    assets: list[Asset], markets: list[Market], account: Account, quote_unit: int
) -> tuple[int, int, int, float, float, float, bool]:
    collateral = liabilities = unrealized_pnl = initial = maintenance = exposure = 0
    for asset, holding in zip(assets, account.holdings, strict=True):
        if holding > 0:
            value = math.floor(Fraction(holding * asset.price, asset.unit))
            collateral += against_account(value, weight(asset, value / quote_unit), up=False)
        elif holding < 0:
            liability = math.ceil(Fraction(-holding * asset.price, asset.unit))
            notional_usd = liability / quote_unit
            liabilities += liability
            exposure += liability
            initial += initial_margin(liability, fraction(asset.borrow_imf, notional_usd), account.max_leverage)
            maintenance += against_account(liability, fraction(asset.borrow_mmf, notional_usd), up=True)
    for market, (qty, cost, bids, asks) in zip(markets, account.positions, strict=True):
        per_lot = market.mark * market.notional_per_tick_lot
        unrealized_pnl += qty * per_lot - cost
        position = abs(qty) * per_lot
        notional = max(abs(qty + bids), abs(qty - asks)) * per_lot
        exposure += notional
        initial += initial_margin(notional, fraction(market.imf, notional / quote_unit), account.max_leverage)
        maintenance += against_account(position, fraction(market.mmf, position / quote_unit), up=True)
    net_equity = collateral + unrealized_pnl - liabilities
    imr = float(Fraction(initial, net_equity)) if net_equity > 0 else math.inf
    mmr = float(Fraction(maintenance, net_equity)) if net_equity > 0 else math.inf
    margin_fraction = float(Fraction(net_equity, exposure)) if exposure else math.inf
    return net_equity, initial, maintenance, imr, mmr, margin_fraction, maintenance > 0 and maintenance >= net_equity


# ---------------------------------------------------------------------------------------------------
# Generated states (every amount below 2**53 atoms)
# ---------------------------------------------------------------------------------------------------

DECIMAL_RATIOS = st.sampled_from([0.0, 0.01, 0.02, 0.0135, 0.05, 0.1, 0.3, 0.5, 0.95, 1.0])


def ratios(maximum: float) -> st.SearchStrategy[float]:
    return st.one_of(DECIMAL_RATIOS.filter(lambda r: r <= maximum), st.floats(0.0, maximum))


def curves(max_base: float, max_factor: float) -> st.SearchStrategy[tuple[float, float]]:
    return st.tuples(ratios(max_base), st.one_of(st.just(0.0), st.just(0.00006), st.floats(0.0, max_factor)))


assets_st = st.builds(
    Asset,
    price=st.one_of(st.integers(0, 10**9), st.sampled_from([USDC, 150 * USDC, 1000 * USDC])),
    unit=st.sampled_from([10**6, 10**8, 10**9]),
    haircut_base=st.one_of(st.just(math.nan), ratios(1.0)),
    haircut_penalty=st.one_of(st.just(0.001), st.floats(0.0, 0.01)),
    borrow_imf=curves(0.5, 1e-4),
    borrow_mmf=curves(0.3, 1e-4),
)
markets_st = st.builds(
    Market,
    mark=st.integers(0, 100_000),
    notional_per_tick_lot=st.integers(1, 1_000),
    imf=curves(0.5, 1e-4),
    mmf=curves(0.3, 1e-4),
)
amounts = st.one_of(st.integers(-(10**12), 10**12), st.integers(-(10**6), 10**6).map(lambda x: x * USDC))


@st.composite
def states(draw: st.DrawFn) -> tuple[list[Asset], list[Market], list[Account], int]:
    assets = draw(st.lists(assets_st, min_size=1, max_size=4))
    markets = draw(st.lists(markets_st, min_size=0, max_size=3))
    position = st.tuples(
        st.integers(-(10**6), 10**6),
        st.integers(-(10**15), 10**15),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
    )
    account = st.builds(
        Account,
        holdings=st.tuples(*[amounts] * len(assets)),
        positions=st.tuples(*[position] * len(markets)),
        max_leverage=st.integers(1, 50),
    )
    accounts = draw(st.lists(account, min_size=1, max_size=6))
    return assets, markets, accounts, draw(st.sampled_from([10**6, 10**8]))


@given(states())
@SETTINGS
def test_rust_kernel_equals_the_reference(state: tuple[list[Asset], list[Market], list[Account], int]) -> None:
    assets, markets, accounts, quote_unit = state
    result = margin_scan(**columns(assets, markets, accounts, quote_unit))
    for row, account in enumerate(accounts):
        net_equity, initial, maintenance, imr, mmr, margin_fraction, liquidatable = reference_margin(
            assets, markets, account, quote_unit
        )
        assert int(result["net_equity"][row]) == net_equity
        assert int(result["initial_margin"][row]) == initial
        assert int(result["maintenance_margin"][row]) == maintenance
        assert math.isclose(float(result["imr"][row]), imr, rel_tol=1e-12)
        assert math.isclose(float(result["mmr"][row]), mmr, rel_tol=1e-12)
        assert math.isclose(float(result["margin_fraction"][row]), margin_fraction, rel_tol=1e-12)
        assert bool(result["liquidatable"][row]) == liquidatable


@given(states())
@SETTINGS
def test_numpy_baseline_equals_rust(state: tuple[list[Asset], list[Market], list[Account], int]) -> None:
    arguments = columns(*state)
    assert_same_scan(margin_scan_numpy(**arguments), margin_scan(**arguments))


def assert_same_scan(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    for field in RESULT_FIELDS:
        assert actual[field].dtype == expected[field].dtype, field
        np.testing.assert_array_equal(actual[field], expected[field], err_msg=field)


# ---------------------------------------------------------------------------------------------------
# SPEC §12 worked examples through the Python function
# ---------------------------------------------------------------------------------------------------


def scan_one(assets: list[Asset], markets: list[Market], account: Account) -> dict[str, Any]:
    arguments = columns(assets, markets, [account], USDC)
    result: Mapping[str, Any] = margin_scan(**arguments)
    assert_same_scan(margin_scan_numpy(**arguments), result)
    return {field: result[field][0].item() for field in RESULT_FIELDS}


def sol_long(lots: int, usdc: int, max_leverage: int) -> Account:
    """``lots`` of 0.01 SOL bought at the mark of 100 USDC, on ``usdc`` atoms of USDC."""
    return Account((usdc,), ((lots, lots * 10_000 * 100, 0, 0),), max_leverage)


def test_example_1_size_scaled_margin() -> None:
    large = scan_one([USDC_ASSET], [SOL_PERP], sol_long(250_000, 100_000 * USDC, 50))  # N = 250,000 USDC
    assert (large["initial_margin"], large["maintenance_margin"]) == (7_500 * USDC, 4_500 * USDC)  # 3%, 1.8%
    small = scan_one([USDC_ASSET], [SOL_PERP], sol_long(100_000, 100_000 * USDC, 50))  # N = 100,000 USDC
    assert (small["initial_margin"], small["maintenance_margin"]) == (2_000 * USDC, 1_350 * USDC)  # 2%, 1.35%


def test_example_2_ratios() -> None:
    at_50x = scan_one([USDC_ASSET], [SOL_PERP], sol_long(100_000, 10_000 * USDC, 50))
    assert at_50x == {
        "net_equity": 10_000 * USDC,
        "initial_margin": 2_000 * USDC,
        "maintenance_margin": 1_350 * USDC,
        "imr": 0.2,
        "mmr": 0.135,
        "margin_fraction": 0.1,
        "liquidatable": False,
    }
    assert at_50x["net_equity"] - at_50x["initial_margin"] == 8_000 * USDC  # available
    at_10x = scan_one([USDC_ASSET], [SOL_PERP], sol_long(100_000, 10_000 * USDC, 10))
    assert (at_10x["initial_margin"], at_10x["imr"]) == (10_000 * USDC, 1.0)


def test_example_2_liquidation_starts_when_equity_falls_to_1350() -> None:
    at_threshold = scan_one([USDC_ASSET], [SOL_PERP], sol_long(100_000, 1_350 * USDC, 50))
    assert (at_threshold["net_equity"], at_threshold["mmr"], at_threshold["liquidatable"]) == (1_350 * USDC, 1.0, True)
    one_atom_above = scan_one([USDC_ASSET], [SOL_PERP], sol_long(100_000, 1_350 * USDC + 1, 50))
    assert one_atom_above["liquidatable"] is False


@pytest.mark.parametrize(
    ("btc_atoms", "collateral"),
    [
        (20_000_000, 19_000 * USDC),  # 20,000 USDC at 0.95
        (24_930_000, 23_683_500_000),  # 24,930 USDC, still 0.95 (f64 0.95 is a hair low: no atom lost)
        (24_932_000, 23_685_318_896),  # past 24,930.75: 0.94999674...
        (100_000_000, 83_572_161_931),  # 100,000 USDC at 0.8357216...
        (1_000_000_000, 550_000 * USDC),  # 1,000,000 USDC at 0.55
    ],
)
def test_example_3_inverse_sqrt_haircut(btc_atoms: int, collateral: int) -> None:
    result = scan_one([USDC_ASSET, BTC_ASSET], [], Account((0, btc_atoms), (), 10))
    assert result["net_equity"] == collateral
    assert result["imr"] == 0.0 and result["margin_fraction"] == math.inf


def test_a_borrow_is_an_exposure_with_the_borrow_curves() -> None:
    # 1,000 USDC borrowed at 2x on 0.1 BTC: IM max(10%, 1/2) = 500, MM 5% = 50.
    result = scan_one([USDC_ASSET, BTC_ASSET], [], Account((-1_000 * USDC, 10_000_000), (), 2))
    assert result["net_equity"] == 9_500 * USDC - 1_000 * USDC
    assert (result["initial_margin"], result["maintenance_margin"]) == (500 * USDC, 50 * USDC)
    assert result["margin_fraction"] == 8.5


def test_open_orders_count_on_the_side_that_adds_exposure() -> None:
    # Long 10 lots (1 USDC each), bids 5, asks 30: selling 30 leaves a short of 20, the worse side.
    account = Account((1_000 * USDC,), ((10, 10 * USDC, 5, 30),), 50)
    result = scan_one([USDC_ASSET], [SOL_PERP], account)
    assert result["initial_margin"] == 20 * USDC // 50
    assert result["maintenance_margin"] == 135_000  # 1.35% of the position alone
    assert result["margin_fraction"] == 1_000 / 20


# ---------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------


def good_arguments() -> dict[str, Any]:
    accounts = [sol_long(100_000, 10_000 * USDC, 50), sol_long(1_000, 0, 10)]
    return columns([USDC_ASSET], [SOL_PERP], accounts, USDC)


def test_good_arguments_scan() -> None:
    assert margin_scan(**good_arguments())["liquidatable"].tolist() == [False, True]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("holdings", np.zeros((2, 1)), "holdings must be a 2-D numpy array of int64, got a 2-D array of float64"),
        ("holdings", np.zeros(2, dtype=np.int64), "holdings must be a 2-D numpy array of int64, got a 1-D array"),
        ("net_cost", np.zeros((2, 1), dtype=np.int32), "net_cost must be a 2-D numpy array of int64"),
        (
            "max_leverage",
            np.array([50, 10]),
            "max_leverage must be a 1-D numpy array of uint32, got a 1-D array of int64",
        ),
        ("asset_price", [USDC], "asset_price must be a 1-D numpy array of int64, got list"),
        ("imf_base", np.array([2], dtype=np.int64), "imf_base must be a 1-D numpy array of float64"),
        ("quote_unit", 1e6, "quote_unit must be an int, got float"),
    ],
)
def test_wrong_dtypes_raise_invalid_type(name: str, value: object, message: str) -> None:
    arguments = good_arguments() | {name: value}
    with pytest.raises(InvalidTypeError, match=message):
        margin_scan(**arguments)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "holdings",
            np.zeros((2, 2), dtype=np.int64),
            r"holdings must have shape \(accounts, assets\) = \(2, 1\), got \(2, 2\)",
        ),
        (
            "net_qty",
            np.zeros((3, 1), dtype=np.int64),
            r"net_qty must have shape \(accounts, markets\) = \(2, 1\), got \(3, 1\)",
        ),
        ("open_asks", np.zeros((2, 0), dtype=np.int64), r"open_asks must have shape"),
        ("haircut_base", np.array([np.nan, 1.0]), r"haircut_base has 2 entries, expected 1 \(one per asset\)"),
        ("mmf_factor", np.array([], dtype=np.float64), r"mmf_factor has 0 entries, expected 1 \(one per market\)"),
        (
            "max_leverage",
            np.array([50, 0], dtype=np.uint32),
            "account 1: invalid value: max_leverage must be at least 1",
        ),
        ("open_bids", np.array([[0], [-1]], dtype=np.int64), "account 1: invalid value: open orders must be >= 0"),
        ("net_qty", np.array([[2**62], [0]], dtype=np.int64), r"account 0: arithmetic overflow \(position notional\)"),
        ("imf_base", np.array([math.nan]), r"markets\[0\].imf.base must be finite and >= 0, got NaN"),
        ("asset_unit", np.array([0], dtype=np.int64), r"assets\[0\].unit must be positive, got 0"),
        ("quote_unit", 0, "quote_unit must be positive, got 0"),
    ],
)
def test_bad_values_and_shapes_raise_invalid_argument(name: str, value: object, message: str) -> None:
    arguments = good_arguments() | {name: value}
    with pytest.raises(InvalidArgumentError, match=message):
        margin_scan(**arguments)


def test_a_fortran_ordered_state_column_is_refused() -> None:
    arguments = columns([USDC_ASSET, BTC_ASSET], [], [Account((1, 2), (), 10), Account((3, 4), (), 10)], USDC)
    arguments["holdings"] = np.asfortranarray(arguments["holdings"])
    with pytest.raises(InvalidArgumentError, match="holdings must be a C-contiguous numpy array"):
        margin_scan(**arguments)


def test_errors_are_crossbook_errors_and_builtin_ones() -> None:
    with pytest.raises(CrossbookError):
        margin_scan(**(good_arguments() | {"max_leverage": np.zeros(2, dtype=np.uint32)}))
    with pytest.raises(ValueError):
        margin_scan(**(good_arguments() | {"quote_unit": -1}))
    with pytest.raises(TypeError):
        margin_scan(**(good_arguments() | {"holdings": np.zeros((2, 1), dtype=np.uint64)}))


def test_no_accounts_give_empty_columns() -> None:
    result: Mapping[str, Any] = margin_scan(**columns([USDC_ASSET], [SOL_PERP], [], USDC))
    assert {field: result[field].shape for field in RESULT_FIELDS} == dict.fromkeys(RESULT_FIELDS, (0,))
    assert result["liquidatable"].dtype == np.bool_
