"""crossbook.config: the default configuration, conversions, the engine view and every validation rule.

Expected values are written out (SPEC §2 and §12 figures, hand-computed integers), never recomputed with
the code under test. Validation cases mutate ``Config.default().to_dict()`` and check that the error's
path names the exact field.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossbook.config import (
    AssetConfig,
    Config,
    Haircut,
    LendingCurve,
    LiquidationConfig,
    MarginFunction,
    MarketConfig,
    VenueConfig,
)
from crossbook.enums import BookState
from crossbook.exceptions import ConfigError, CrossbookError, InvalidArgumentError, InvalidTypeError

DATA = Path(__file__).parent / "data"
D = Decimal
DELETE = object()
# Wrong types for the misuse tests, typed Any so the calls type-check.
WRONG: Any = None
WRONG_TEXT: Any = "x"
WRONG_FLOAT: Any = 1.5
WRONG_TABLE: Any = {"kind": "identity"}
WRONG_ASSETS: Any = "USDC"


# --- helpers ---------------------------------------------------------------------------------------


def to_toml(data: Mapping[str, Any]) -> str:
    """A tiny TOML writer for ``Config.to_dict()`` output: str/int/bool, tables, arrays of tables."""

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int):
            return str(item)
        if isinstance(item, str):
            return json.dumps(item)
        if isinstance(item, Mapping):
            return "{ " + ", ".join(f"{key} = {value(inner)}" for key, inner in item.items()) + " }"
        raise TypeError(f"cannot write {item!r} as TOML")

    def body(table: Mapping[str, Any]) -> list[str]:
        return [f"{key} = {value(item)}" for key, item in table.items()]

    lines = body({key: item for key, item in data.items() if not isinstance(item, (Mapping, list))})
    for key, item in data.items():
        if isinstance(item, Mapping):
            lines += ["", f"[{key}]", *body(item)]
    for key, item in data.items():
        if isinstance(item, list):
            for element in item:
                lines += ["", f"[[{key}]]", *body(element)]
    return "\n".join(lines) + "\n"


def mutated(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``Config.default().to_dict()`` with ``"markets.5.tick_size"``-style paths set (or DELETEd)."""
    data = Config.default().to_dict()
    for path, new in changes.items():
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if new is DELETE:
            del node[key]
        else:
            node[key] = copy.deepcopy(new)
    return data


def plain_types(value: Any) -> set[type]:
    if isinstance(value, dict):
        return {dict}.union(*(plain_types(item) for item in value.values()), *(plain_types(k) for k in value))
    if isinstance(value, (list, tuple)):
        return {type(value)}.union(*(plain_types(item) for item in value))
    return {type(value)}


def spot_market(**overrides: Any) -> MarketConfig:
    arguments: dict[str, Any] = {
        "symbol": "BTC_USDC",
        "kind": "spot",
        "base": "BTC",
        "quote": "USDC",
        "tick_size": D("0.1"),
        "step_size": D("0.00001"),
        "min_quantity": D("0.00001"),
        "max_quantity": D("1000"),
        "maker_fee": D("0.0002"),
        "taker_fee": D("0.0005"),
    }
    arguments.update(overrides)
    return MarketConfig(**arguments)


def usdc(decimals: int = 6, symbol: str = "USDC") -> AssetConfig:
    return AssetConfig(
        symbol=symbol,
        decimals=decimals,
        haircut=Haircut("identity"),
        borrow_imf=MarginFunction(D("0.02"), D("0")),
        borrow_mmf=MarginFunction(D("0.01"), D("0")),
    )


# --- the default configuration ---------------------------------------------------------------------


def test_default_has_the_spec_assets() -> None:
    config = Config.default()
    assert [asset.symbol for asset in config.assets] == ["USDC", "BTC", "ETH", "SOL"]
    assert [asset.decimals for asset in config.assets] == [6, 8, 8, 8]
    assert config.asset("USDC").haircut == Haircut("identity", D(1), D(0))
    assert [(a.haircut.kind, a.haircut.base) for a in config.assets[1:]] == [
        ("inverseSqrt", D("0.95")),
        ("inverseSqrt", D("0.95")),
        ("inverseSqrt", D("0.90")),
    ]
    assert all(asset.collateral for asset in config.assets)
    assert config.asset("USDC").lending == LendingCurve(D("0"), D("0.10"), D("0.8"), D("1.0"))
    assert config.settlement_asset == "USDC"


def test_default_has_the_spec_markets() -> None:
    config = Config.default()
    assert [market.symbol for market in config.markets] == [
        "BTC_USDC",
        "ETH_USDC",
        "SOL_USDC",
        "BTC_USDC_PERP",
        "ETH_USDC_PERP",
        "SOL_USDC_PERP",
    ]
    sol = config.market("SOL_USDC_PERP")
    assert sol.imf == MarginFunction(D("0.02"), D("0.00006"))
    assert sol.mmf == MarginFunction(D("0.0135"), D("0.000036"))
    assert (sol.tick_size, sol.step_size) == (D("0.01"), D("0.01"))
    btc_spot, btc_perp = config.market("BTC_USDC"), config.market("BTC_USDC_PERP")
    assert (btc_spot.tick_size, btc_spot.step_size) == (D("0.1"), D("0.00001"))
    assert (btc_perp.tick_size, btc_perp.step_size) == (D("0.1"), D("0.0001"))
    for market in config.markets:
        assert (market.maker_fee, market.taker_fee) == (D("0.0002"), D("0.0005"))
        assert (market.max_multiplier, market.min_multiplier, market.impact_band) == (D(2), D("0.5"), D("0.05"))
        assert market.state is BookState.Open
        assert market.quote == "USDC"
        if market.kind == "perp":
            assert market.imf is not None and market.mmf is not None
            assert market.funding_interval_ms == 3_600_000
            assert (market.funding_rate_bound, market.funding_interest_rate) == (D("0.01"), D("0.0000125"))
        else:
            assert market.imf is None and market.mmf is None and market.open_interest_limit is None


def test_default_venue_has_the_spec_values() -> None:
    venue = Config.default().venue
    assert venue == VenueConfig()
    assert (venue.max_subaccounts, venue.realize_interval_ms, venue.interest_interval_ms) == (10, 10_000, 3_600_000)
    assert (venue.funding_interval_ms, venue.default_leverage, venue.max_leverage) == (3_600_000, 10, 50)
    assert (venue.conversion_discount, venue.lend_venue_fee) == (D("0.005"), D("0.1"))
    assert (venue.throttle_threshold, venue.max_utilization) == (D("0.92"), D(1))
    assert venue.liquidation == LiquidationConfig(
        chunk=D("0.1"), target_mmr=D("0.9"), fee=D("0.01"), auto_close_mf_multiplier=D("0.5")
    )


def test_default_passes_its_own_validation_again() -> None:
    config = Config.default()
    rebuilt = Config(
        assets=tuple(dataclasses.replace(asset) for asset in config.assets),
        markets=tuple(dataclasses.replace(market) for market in config.markets),
        venue=dataclasses.replace(config.venue),
        settlement_asset=config.settlement_asset,
    )
    assert rebuilt == config == Config.default()
    assert hash(rebuilt) == hash(config)


def test_configs_are_frozen() -> None:
    config = Config.default()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.settlement_asset = "BTC"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.markets[0].tick_size = D(1)  # type: ignore[misc]


# --- engine_spec -----------------------------------------------------------------------------------


def test_engine_spec_of_the_default() -> None:
    spec = Config.default().engine_spec()
    assert spec["settlement_asset"] == 0
    assert spec["venue"] == {
        "max_subaccounts": 10,
        "default_leverage": 10,
        "max_leverage": 50,
        "realize_interval_ms": 10_000,
        "interest_interval_ms": 3_600_000,
        "funding_interval_ms": 3_600_000,
        "throttle_threshold": 0.92,
        "conversion_discount": 0.005,
        "auto_lend": True,
        "max_utilization": 1.0,
    }
    assert spec["assets"][0] == {
        "symbol": "USDC",
        "decimals": 6,
        "haircut": ("identity", 1.0, 0.0),
        "borrow_imf": (0.02, 0.000002),
        "borrow_mmf": (0.012, 0.0000012),
        "collateral": True,
        "open_borrow_lend_limit_atoms": None,
    }
    assert spec["assets"][3]["haircut"] == ("inverseSqrt", 0.9, 0.00015)
    assert spec["markets"][0] == {
        "symbol": "BTC_USDC",
        "kind": "spot",
        "base": 1,
        "quote": 0,
        "tick_size": "0.1",
        "step_size": "0.00001",
        "notional_per_tick_lot": 1,  # 0.1 * 0.00001 * 10**6
        "base_atoms_per_lot": 1_000,  # 0.00001 * 10**8
        "min_quantity_lots": 1,
        "max_quantity_lots": 100_000_000,  # 1000 / 0.00001
        "max_multiplier": 2.0,
        "min_multiplier": 0.5,
        "impact_band": 0.05,
        "mark_ema_span": 30,
        "imf": None,
        "mmf": None,
        "maker_fee_e8": 20_000,
        "taker_fee_e8": 50_000,
        "open_interest_limit_lots": None,
        "state": "Open",
    }
    sol = spec["markets"][5]
    assert sol["symbol"] == "SOL_USDC_PERP"
    assert (sol["kind"], sol["base"], sol["quote"]) == ("perp", 3, 0)
    assert (sol["notional_per_tick_lot"], sol["base_atoms_per_lot"]) == (100, 1_000_000)
    assert (sol["min_quantity_lots"], sol["max_quantity_lots"]) == (1, 100_000_000)
    assert (sol["imf"], sol["mmf"]) == ((0.02, 0.00006), (0.0135, 0.000036))
    assert (sol["maker_fee_e8"], sol["taker_fee_e8"]) == (20_000, 50_000)
    assert sol["open_interest_limit_lots"] == 500_000_000
    btc = spec["markets"][3]
    assert (btc["notional_per_tick_lot"], btc["base_atoms_per_lot"], btc["max_quantity_lots"]) == (
        10,
        10_000,
        10_000_000,
    )
    eth = spec["markets"][1]
    assert (eth["tick_size"], eth["step_size"], eth["notional_per_tick_lot"], eth["base_atoms_per_lot"]) == (
        "0.01",
        "0.0001",
        1,
        10_000,
    )


def test_engine_spec_holds_plain_values_only() -> None:
    types = plain_types(Config.default().engine_spec())
    assert types <= {dict, list, tuple, str, int, float, bool, type(None)}


def test_engine_spec_writes_small_sizes_without_exponent() -> None:
    market = spot_market(
        tick_size=D("1E+3"), step_size=D("1E-8"), min_quantity=D("1E-8"), max_quantity=D("1"), taker_fee=D("1E-8")
    )
    config = Config(assets=(usdc(), dataclasses.replace(Config.default().asset("BTC"))), markets=(market,))
    spec = config.engine_spec()["markets"][0]
    assert (spec["tick_size"], spec["step_size"]) == ("1000", "0.00000001")
    assert (spec["notional_per_tick_lot"], spec["base_atoms_per_lot"], spec["taker_fee_e8"]) == (10, 1, 1)
    assert config.to_dict()["markets"][0]["step_size"] == "0.00000001"


# --- conversions -----------------------------------------------------------------------------------


def test_to_dict_round_trips() -> None:
    config = Config.default()
    data = config.to_dict()
    assert Config.from_dict(data) == config
    assert data["markets"][0]["step_size"] == "0.00001"
    assert "imf" not in data["markets"][0]  # None is left out: TOML has no null
    assert data["assets"][0]["haircut"] == {"kind": "identity", "base": "1", "penalty": "0"}
    assert data["venue"]["liquidation"] == {
        "chunk": "0.10",
        "target_mmr": "0.90",
        "fee": "0.01",
        "auto_close_mf_multiplier": "0.5",
        "enabled": True,
    }


def test_toml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "default.toml"
    path.write_text(to_toml(Config.default().to_dict()), encoding="utf-8")
    assert Config.from_toml(path) == Config.default()
    assert Config.from_toml(str(path)) == Config.default()


def test_hand_written_toml_loads() -> None:
    config = Config.from_toml(DATA / "small.toml")
    assert [asset.symbol for asset in config.assets] == ["USDC", "BTC"]
    assert config.asset("USDC").lending == LendingCurve()  # left out: SPEC's USDC curve
    assert config.asset("BTC").haircut == Haircut("inverseSqrt", D("0.95"), D("0.001"))
    assert config.asset("BTC").borrow_imf == MarginFunction(D("0.02"), D("0.00002"))  # TOML floats via str()
    assert config.venue.max_subaccounts == 3
    assert config.venue.realize_interval_ms == 5_000
    assert (config.venue.default_leverage, config.venue.max_leverage) == (5, 50)
    assert config.venue.liquidation.chunk == D("0.25")
    assert config.venue.liquidation.target_mmr == D("0.90")
    perp = config.market("BTC_USDC_PERP")
    assert (perp.tick_size, perp.step_size, perp.max_quantity) == (D("0.5"), D("0.001"), D(50))
    assert perp.state is BookState.PostOnly
    spec = config.engine_spec()
    assert spec["markets"][1] == spec["markets"][config.market_index("BTC_USDC_PERP")]
    assert {key: spec["markets"][1][key] for key in ("notional_per_tick_lot", "base_atoms_per_lot")} == {
        "notional_per_tick_lot": 500,  # 0.5 * 0.001 * 10**6
        "base_atoms_per_lot": 100_000,  # 0.001 * 10**8
    }
    assert (spec["markets"][1]["min_quantity_lots"], spec["markets"][1]["max_quantity_lots"]) == (1, 50_000)
    assert (spec["markets"][1]["maker_fee_e8"], spec["markets"][1]["taker_fee_e8"]) == (-10_000, 40_000)
    assert spec["markets"][1]["open_interest_limit_lots"] == 1_000_000
    assert spec["markets"][1]["state"] == "PostOnly"
    assert (spec["markets"][0]["min_quantity_lots"], spec["markets"][0]["max_quantity_lots"]) == (10, 10_000_000)
    assert Config.from_dict(config.to_dict()) == config


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("settlement_asset = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        Config.from_toml(path)
    assert caught.value.path == str(path)


def test_bad_value_in_toml_names_the_field_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(to_toml(mutated({"markets.5.tick_size": "0.00001"})), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Config.from_toml(path)
    assert caught.value.path == "markets[5] (SOL_USDC_PERP).tick_size"
    assert str(path) in caught.value.reason


def test_missing_toml_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Config.from_toml(tmp_path / "absent.toml")


def test_a_float_is_read_through_str() -> None:
    config = Config.from_dict(mutated({"markets.0.tick_size": 0.1, "markets.5.imf.factor": 6e-05}))
    assert config.market("BTC_USDC").tick_size == D("0.1")
    assert config.market("SOL_USDC_PERP").imf == MarginFunction(D("0.02"), D("0.00006"))
    assert spot_market(tick_size=0.1).tick_size == D("0.1")


def test_strings_are_normalised_to_decimals_and_enums() -> None:
    market = spot_market(tick_size="0.1", state="CancelOnly", maker_fee=0, taker_fee="0.1")
    assert isinstance(market.tick_size, Decimal) and market.tick_size == D("0.1")
    assert market.state is BookState.CancelOnly
    assert isinstance(market.maker_fee, Decimal) and market.maker_fee == 0
    assert market.taker_fee_e8 == 10_000_000  # 0.1, the largest allowed fee
    untyped: Any = "0.001"  # the annotations say Decimal; plain data is converted at run time
    assert Haircut("inverseSqrt", untyped, untyped).penalty == D("0.001")


# --- lookups ---------------------------------------------------------------------------------------


def test_lookups() -> None:
    config = Config.default()
    assert config.asset("SOL").decimals == 8
    assert config.asset_index("ETH") == 2
    assert config.market("ETH_USDC_PERP").step_size == D("0.001")
    assert config.market_index("SOL_USDC_PERP") == 5


@pytest.mark.parametrize(
    ("lookup", "name", "listed"),
    [
        ("asset", "DOGE", "USDC, BTC, ETH, SOL"),
        ("asset_index", "usdc", "USDC, BTC, ETH, SOL"),
        ("market", "BTC_USD", "BTC_USDC, ETH_USDC, SOL_USDC, BTC_USDC_PERP, ETH_USDC_PERP, SOL_USDC_PERP"),
        ("market_index", "BTC-PERP", "BTC_USDC, ETH_USDC"),
    ],
)
def test_unknown_names_list_the_known_ones(lookup: str, name: str, listed: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        getattr(Config.default(), lookup)(name)
    assert repr(name) in str(caught.value)
    assert listed in str(caught.value)


# --- SPEC §12 examples 1 and 3 ---------------------------------------------------------------------


def test_size_scaled_margin_spec_example_1() -> None:
    sol = Config.default().market("SOL_USDC_PERP")
    assert sol.imf is not None and sol.mmf is not None
    assert sol.imf.fraction(D(250_000)) == D("0.03")
    assert sol.mmf.fraction(D(250_000)) == D("0.018")
    assert sol.imf.fraction(100_000) == D("0.02")
    assert sol.mmf.fraction("100000") == D("0.0135")
    assert sol.imf.fraction(0) == D("0.02")


def test_haircut_spec_example_3() -> None:
    haircut = Haircut("inverseSqrt", D("0.95"), D("0.001"))
    assert haircut.weight(0) == D("0.95")
    assert haircut.weight(D(24_930)) == D("0.95")
    assert abs(haircut.weight(D("24930.75")) - D("0.95")) < D("1e-8")
    assert haircut.weight(D(24_931)) < D("0.95")
    assert str(haircut.weight(100_000)).startswith("0.835721")
    assert haircut.weight(1_000_000) == D("0.55")
    assert Haircut("identity").weight(10**12) == D(1)


def test_lending_curve() -> None:
    curve = LendingCurve()
    assert curve.borrow_rate(0) == 0
    assert curve.borrow_rate("0.4") == D("0.05")
    assert curve.borrow_rate("0.8") == D("0.10")
    assert curve.borrow_rate("0.9") == D("0.60")
    assert curve.borrow_rate(1) == D("1.10")
    assert curve.lend_rate("0.5", "0.1") == D("0.0625") * D("0.5") * D("0.9")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: Haircut("identity").weight(-1), InvalidArgumentError),
        (lambda: MarginFunction(D("0.02"), D(0)).fraction("abc"), InvalidArgumentError),
        (lambda: MarginFunction(D("0.02"), D(0)).fraction(WRONG), InvalidTypeError),
        (lambda: LendingCurve().borrow_rate("1.01"), InvalidArgumentError),
        (lambda: LendingCurve().borrow_rate(True), InvalidTypeError),
        (lambda: LendingCurve().lend_rate("0.5", "1"), InvalidArgumentError),
    ],
)
def test_bad_method_arguments(call: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        call()


# --- validation: every rule names its field --------------------------------------------------------

SOL_PERP = "markets[5] (SOL_USDC_PERP)"
BTC_SPOT = "markets[0] (BTC_USDC)"

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # assets
    ("decimals above 18", {"assets.1.decimals": 19}, "assets[1] (BTC).decimals", "in [0, 18]"),
    ("decimals below 0", {"assets.1.decimals": -1}, "assets[1] (BTC).decimals", "in [0, 18]"),
    ("decimals bool", {"assets.1.decimals": True}, "assets[1] (BTC).decimals", "expected an integer, got bool"),
    ("decimals float", {"assets.1.decimals": 8.0}, "assets[1] (BTC).decimals", "expected an integer, got float"),
    ("decimals string", {"assets.1.decimals": "8"}, "assets[1] (BTC).decimals", "expected an integer, got str"),
    ("asset symbol", {"assets.3.symbol": "SO-L"}, "assets[3] (SO-L).symbol", "letters or digits"),
    ("collateral not bool", {"assets.1.collateral": "yes"}, "assets[1] (BTC).collateral", "true or false"),
    ("duplicate asset", {"assets.2.symbol": "BTC"}, "assets[2] (BTC).symbol", "duplicate of assets[1]"),
    ("haircut base 0", {"assets.1.haircut.base": "0"}, "assets[1] (BTC).haircut.base", "(0, 1]"),
    ("haircut base > 1", {"assets.1.haircut.base": "1.01"}, "assets[1] (BTC).haircut.base", "(0, 1]"),
    ("haircut penalty < 0", {"assets.3.haircut.penalty": "-0.001"}, "assets[3] (SOL).haircut.penalty", ">= 0"),
    ("haircut kind", {"assets.1.haircut.kind": "linear"}, "assets[1] (BTC).haircut.kind", "'inverseSqrt'"),
    (
        "identity below 1",
        {"assets.0.haircut": {"kind": "identity", "base": "0.9"}},
        "assets[0] (USDC).haircut.base",
        "identity haircut has base 1",
    ),
    (
        "identity with penalty",
        {"assets.0.haircut.penalty": "0.001"},
        "assets[0] (USDC).haircut.penalty",
        "identity haircut has no penalty",
    ),
    ("borrow imf < mmf", {"assets.1.borrow_imf.base": "0.005"}, "assets[1] (BTC).borrow_imf.base", ">= the maint"),
    ("borrow factor", {"assets.2.borrow_mmf.factor": "-1"}, "assets[2] (ETH).borrow_mmf.factor", ">= 0"),
    ("lending slope", {"assets.0.lending.slope1": "-0.1"}, "assets[0] (USDC).lending.slope1", ">= 0"),
    (
        "lending kink",
        {"assets.0.lending.optimal_utilization": "1"},
        "assets[0] (USDC).lending.optimal_utilization",
        "(0, 1)",
    ),
    # market sizes
    ("tick 0", {"markets.5.tick_size": "0"}, f"{SOL_PERP}.tick_size", "> 0"),
    ("step < 0", {"markets.5.step_size": "-0.01"}, f"{SOL_PERP}.step_size", "> 0"),
    ("min 0", {"markets.5.min_quantity": "0"}, f"{SOL_PERP}.min_quantity", "> 0"),
    ("max 0", {"markets.5.max_quantity": "0"}, f"{SOL_PERP}.max_quantity", "> 0"),
    ("tick x step", {"markets.0.tick_size": "0.01"}, f"{BTC_SPOT}.tick_size", "whole number of USDC atoms"),
    ("tick x step perp", {"markets.5.tick_size": "0.00001"}, f"{SOL_PERP}.tick_size", "0.1 atoms"),
    (
        "step in base atoms",
        {"markets.0.tick_size": "1000", "markets.0.step_size": "0.000000001"},
        f"{BTC_SPOT}.step_size",
        "whole number of BTC atoms (8 decimals)",
    ),
    ("min > max", {"markets.0.min_quantity": "2000"}, f"{BTC_SPOT}.min_quantity", "<= max_quantity 1000"),
    ("min off step", {"markets.0.min_quantity": "0.000015"}, f"{BTC_SPOT}.min_quantity", "multiple of step_size"),
    ("max off step", {"markets.0.max_quantity": "1000.000005"}, f"{BTC_SPOT}.max_quantity", "multiple of step_size"),
    ("max beyond i64", {"markets.2.max_quantity": "100000000000"}, "markets[2] (SOL_USDC).max_quantity", "i64"),
    # market margin
    ("perp without imf", {"markets.5.imf": DELETE}, f"{SOL_PERP}.imf", "needs an imf"),
    ("perp without mmf", {"markets.5.mmf": DELETE}, f"{SOL_PERP}.mmf", "needs an mmf"),
    ("imf base < mmf", {"markets.5.imf.base": "0.01"}, f"{SOL_PERP}.imf.base", ">= the maintenance base 0.0135"),
    ("imf factor < mmf", {"markets.5.imf.factor": "0.00003"}, f"{SOL_PERP}.imf.factor", ">= the maintenance factor"),
    ("imf base 0", {"markets.5.imf.base": "0"}, f"{SOL_PERP}.imf.base", "(0, 1]"),
    ("imf not a table", {"markets.5.imf": "0.02"}, f"{SOL_PERP}.imf", "expected a table"),
    ("spot with imf", {"markets.0.imf": {"base": "0.1", "factor": "0"}}, f"{BTC_SPOT}.imf", "spot markets take no"),
    # market names and assets
    (
        "spot base = quote",
        {"markets.0.base": "USDC", "markets.0.symbol": "USDC_USDC"},
        "markets[0] (USDC_USDC).quote",
        "other than the base",
    ),
    (
        "unknown base",
        {"markets.0.base": "DOGE", "markets.0.symbol": "DOGE_USDC"},
        "markets[0] (DOGE_USDC).base",
        "unknown asset 'DOGE'; expected one of: USDC, BTC, ETH, SOL",
    ),
    (
        "unknown quote",
        {"markets.0.quote": "USDT", "markets.0.symbol": "BTC_USDT"},
        "markets[0] (BTC_USDT).quote",
        "unknown asset 'USDT'",
    ),
    (
        "perp quote",
        {"markets.5.quote": "BTC", "markets.5.symbol": "SOL_BTC_PERP"},
        "markets[5] (SOL_BTC_PERP).quote",
        "settle in the settlement asset 'USDC'",
    ),
    ("perp suffix", {"markets.5.symbol": "SOL_USDC"}, "markets[5] (SOL_USDC).symbol", "ends with '_PERP'"),
    ("spot suffix", {"markets.0.symbol": "BTC_USDC_PERP"}, "markets[0] (BTC_USDC_PERP).symbol", "'_PERP' is for perps"),
    ("symbol mismatch", {"markets.0.symbol": "XBT_USDC"}, "markets[0] (XBT_USDC).symbol", "expected 'BTC_USDC'"),
    (
        "duplicate market",
        {"markets.1": Config.default().to_dict()["markets"][0]},
        "markets[1] (BTC_USDC).symbol",
        "duplicate of markets[0]",
    ),
    ("kind", {"markets.0.kind": "future"}, f"{BTC_SPOT}.kind", "'spot', 'perp'"),
    ("state", {"markets.0.state": "LimitOnly"}, f"{BTC_SPOT}.state", "'PostOnly'"),
    # fees
    ("taker < 0", {"markets.3.taker_fee": "-0.0001"}, "markets[3] (BTC_USDC_PERP).taker_fee", ">= 0"),
    (
        "maker < -taker",
        {"markets.3.maker_fee": "-0.0006"},
        "markets[3] (BTC_USDC_PERP).maker_fee",
        ">= -taker_fee (-0.0005)",
    ),
    ("taker > 0.1", {"markets.3.taker_fee": "0.11"}, "markets[3] (BTC_USDC_PERP).taker_fee", "|fee| <= 0.1"),
    ("maker > 0.1", {"markets.3.maker_fee": "0.2"}, "markets[3] (BTC_USDC_PERP).maker_fee", "|fee| <= 0.1"),
    (
        "fee off 1e-8",
        {"markets.3.taker_fee": "0.000000005"},
        "markets[3] (BTC_USDC_PERP).taker_fee",
        "multiple of 1e-8",
    ),
    # bands
    ("max multiplier 1", {"markets.0.max_multiplier": "1"}, f"{BTC_SPOT}.max_multiplier", "> 1"),
    ("min multiplier 1", {"markets.0.min_multiplier": "1"}, f"{BTC_SPOT}.min_multiplier", "(0, 1)"),
    ("min multiplier 0", {"markets.0.min_multiplier": "0"}, f"{BTC_SPOT}.min_multiplier", "(0, 1)"),
    ("impact band 0", {"markets.0.impact_band": "0"}, f"{BTC_SPOT}.impact_band", "(0, 1)"),
    ("impact band 1", {"markets.0.impact_band": "1"}, f"{BTC_SPOT}.impact_band", "(0, 1)"),
    # open interest and funding
    ("spot open interest", {"markets.0.open_interest_limit": "10"}, f"{BTC_SPOT}.open_interest_limit", "only perp"),
    ("open interest 0", {"markets.5.open_interest_limit": "0"}, f"{SOL_PERP}.open_interest_limit", "> 0"),
    (
        "open interest off step",
        {"markets.5.open_interest_limit": "10.005"},
        f"{SOL_PERP}.open_interest_limit",
        "multiple",
    ),
    ("funding bound 0", {"markets.5.funding_rate_bound": "0"}, f"{SOL_PERP}.funding_rate_bound", "(0, 1)"),
    (
        "funding interest",
        {"markets.5.funding_interest_rate": "0.02"},
        f"{SOL_PERP}.funding_interest_rate",
        "<= funding_rate_bound",
    ),
    ("funding interval 0", {"markets.5.funding_interval_ms": 0}, f"{SOL_PERP}.funding_interval_ms", "[1, "),
    (
        "funding off realize",
        {"markets.5.funding_interval_ms": 3_605_000},
        f"{SOL_PERP}.funding_interval_ms",
        "venue.realize_interval_ms 10000",
    ),
    # venue
    ("subaccounts 101", {"venue.max_subaccounts": 101}, "venue.max_subaccounts", "in [0, 100]"),
    ("subaccounts -1", {"venue.max_subaccounts": -1}, "venue.max_subaccounts", "in [0, 100]"),
    ("default leverage 0", {"venue.default_leverage": 0}, "venue.default_leverage", "in [1, 50]"),
    (
        "default > max",
        {"venue.default_leverage": 20, "venue.max_leverage": 10},
        "venue.default_leverage",
        "<= max_leverage 10",
    ),
    ("max leverage 51", {"venue.max_leverage": 51}, "venue.max_leverage", "in [1, 50]"),
    ("leverage bool", {"venue.max_leverage": True}, "venue.max_leverage", "expected an integer, got bool"),
    ("realize 0", {"venue.realize_interval_ms": 0}, "venue.realize_interval_ms", "in [1, "),
    ("interest 0", {"venue.interest_interval_ms": 0}, "venue.interest_interval_ms", "in [1, "),
    ("funding 0", {"venue.funding_interval_ms": -5}, "venue.funding_interval_ms", "in [1, "),
    (
        "realize divides interest",
        {"venue.realize_interval_ms": 7_000},
        "venue.interest_interval_ms",
        "multiple of realize_interval_ms 7000",
    ),
    (
        "realize divides funding",
        {"venue.funding_interval_ms": 3_605_000},
        "venue.funding_interval_ms",
        "multiple of realize_interval_ms",
    ),
    ("chunk 0", {"venue.liquidation.chunk": "0"}, "venue.liquidation.chunk", "(0, 1]"),
    ("target mmr 1.5", {"venue.liquidation.target_mmr": "1.5"}, "venue.liquidation.target_mmr", "(0, 1]"),
    ("liquidation fee 0", {"venue.liquidation.fee": "0"}, "venue.liquidation.fee", "(0, 1]"),
    (
        "auto close 2",
        {"venue.liquidation.auto_close_mf_multiplier": "2"},
        "venue.liquidation.auto_close_mf_multiplier",
        "(0, 1]",
    ),
    (
        "throttle > max",
        {"venue.throttle_threshold": "0.95", "venue.max_utilization": "0.9"},
        "venue.throttle_threshold",
        "max_utilization 0.9",
    ),
    ("throttle 0", {"venue.throttle_threshold": "0"}, "venue.throttle_threshold", "(0, max_utilization"),
    ("max utilization > 1", {"venue.max_utilization": "1.1"}, "venue.max_utilization", "(0, 1]"),
    ("conversion discount 1", {"venue.conversion_discount": "1"}, "venue.conversion_discount", "[0, 1)"),
    ("lend fee < 0", {"venue.lend_venue_fee": "-0.1"}, "venue.lend_venue_fee", "[0, 1)"),
    # settlement asset
    (
        "settlement unknown",
        {"settlement_asset": "USDT"},
        "settlement_asset",
        "unknown asset 'USDT'; expected one of: USDC",
    ),
    ("settlement not collateral", {"assets.0.collateral": False}, "settlement_asset", "must be collateral"),
    # types and shape
    ("decimal string", {"markets.0.tick_size": "abc"}, f"{BTC_SPOT}.tick_size", "expected a decimal number"),
    (
        "decimal list",
        {"markets.0.tick_size": [1]},
        f"{BTC_SPOT}.tick_size",
        "expected a decimal (Decimal, str or int), got list",
    ),
    ("decimal bool", {"markets.0.taker_fee": True}, f"{BTC_SPOT}.taker_fee", "got bool"),
    ("decimal nan", {"markets.0.tick_size": "NaN"}, f"{BTC_SPOT}.tick_size", "finite"),
    ("decimal inf float", {"markets.0.tick_size": float("inf")}, f"{BTC_SPOT}.tick_size", "finite"),
    ("decimal huge", {"markets.0.max_quantity": "1e31"}, f"{BTC_SPOT}.max_quantity", "magnitude"),
    ("unknown key", {"markets.0.tick_sise": "0.1"}, f"{BTC_SPOT}.tick_sise", "unknown field; expected one of: symbol"),
    ("missing key", {"markets.0.tick_size": DELETE}, f"{BTC_SPOT}.tick_size", "missing"),
    ("unknown venue key", {"venue.leverage": 5}, "venue.leverage", "unknown field"),
    ("unknown top key", {"fees": {}}, "fees", "unknown field"),
    ("assets not a list", {"assets": {"symbol": "USDC"}}, "assets", "expected an array of tables"),
    ("asset not a table", {"assets.1": "BTC"}, "assets[1]", "expected a table"),
    ("no assets", {"assets": [], "markets": []}, "assets", "at least one asset"),
]


@pytest.mark.parametrize(("changes", "path", "reason"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_validation_names_the_field(changes: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_dict(mutated(changes))
    error = caught.value
    assert error.path == path
    assert reason in error.reason
    assert str(error) == f"{path}: {error.reason}"


@pytest.mark.parametrize(
    ("build", "path", "reason"),
    [
        (lambda: spot_market(tick_size="0"), "tick_size", "> 0"),
        (lambda: spot_market(kind="perp", symbol="BTC_USDC_PERP"), "imf", "needs an imf"),
        (lambda: spot_market(state="Halted"), "state", "expected one of"),
        (lambda: Haircut("inverseSqrt", D("1.5")), "base", "(0, 1]"),
        (lambda: MarginFunction(D("0.02"), WRONG_TEXT), "factor", "decimal number"),
        (lambda: LiquidationConfig(chunk=D(2)), "chunk", "(0, 1]"),
        (lambda: VenueConfig(default_leverage=60), "default_leverage", "[1, 50]"),
        (lambda: dataclasses.replace(usdc(), decimals=WRONG_FLOAT), "decimals", "expected an integer"),
        (lambda: dataclasses.replace(usdc(), haircut=WRONG_TABLE), "haircut", "instance of Haircut"),
        (lambda: Config(assets=(usdc(),), markets=(spot_market(),)), "markets[0] (BTC_USDC).base", "unknown asset"),
        (lambda: Config(assets=(WRONG_TABLE,), markets=()), "assets[0]", "instance of AssetConfig"),
        (lambda: Config(assets=WRONG_ASSETS, markets=()), "assets", "expected a tuple of AssetConfig"),
        (lambda: Config(assets=(usdc(),), markets=(), settlement_asset="BTC"), "settlement_asset", "unknown asset"),
        (
            lambda: dataclasses.replace(
                Config.default(),
                venue=VenueConfig(realize_interval_ms=7_000, interest_interval_ms=7_000, funding_interval_ms=7_000),
            ),
            "markets[3] (BTC_USDC_PERP).funding_interval_ms",
            "multiple of venue.realize_interval_ms 7000",
        ),
    ],
)
def test_constructors_validate(build: Any, path: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_config_error_is_a_crossbook_value_error_and_pickles() -> None:
    error = ConfigError("markets[5] (SOL_USDC_PERP).tick_size", "expected a value > 0, got 0")
    assert isinstance(error, InvalidArgumentError)
    assert isinstance(error, CrossbookError)
    assert isinstance(error, ValueError)
    assert str(error) == "markets[5] (SOL_USDC_PERP).tick_size: expected a value > 0, got 0"
    copied = pickle.loads(pickle.dumps(error))
    assert (type(copied), copied.path, copied.reason, str(copied)) == (
        ConfigError,
        error.path,
        error.reason,
        str(error),
    )


# --- tick x step in whole quote atoms (SPEC §1) ----------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    tick_mantissa=st.sampled_from([1, 2, 5, 25]),
    tick_exponent=st.integers(-12, 3),
    step_mantissa=st.sampled_from([1, 2, 5, 25]),
    base_decimals=st.integers(0, 10),
    step_offset=st.integers(0, 13),
    quote_decimals=st.integers(0, 9),
)
def test_tick_and_step_accepted_iff_a_tick_lot_is_whole_quote_atoms(
    *,
    tick_mantissa: int,
    tick_exponent: int,
    step_mantissa: int,
    base_decimals: int,
    step_offset: int,
    quote_decimals: int,
) -> None:
    # The step is always a whole number of base atoms (exponent >= -base_decimals) and every integer fits an
    # i64, so the only rule in play is tick x step x 10**quote_decimals being an integer.
    step_exponent = min(3, step_offset - base_decimals)
    tick = D(f"{tick_mantissa}e{tick_exponent}")
    step = D(f"{step_mantissa}e{step_exponent}")
    exponent = tick_exponent + step_exponent + quote_decimals
    whole = exponent >= 0 or (tick_mantissa * step_mantissa) % 10**-exponent == 0
    market = MarketConfig(
        symbol="BBB_QQQ",
        kind="spot",
        base="BBB",
        quote="QQQ",
        tick_size=tick,
        step_size=step,
        min_quantity=step,
        max_quantity=step * 1000,
        maker_fee=D(0),
        taker_fee=D(0),
    )
    assets = (usdc(quote_decimals, "QQQ"), usdc(base_decimals, "BBB"))
    if whole:
        config = Config(assets=assets, markets=(market,), settlement_asset="QQQ")
        spec = config.engine_spec()["markets"][0]
        expected = (
            tick_mantissa * step_mantissa * 10**exponent
            if exponent >= 0
            else (tick_mantissa * step_mantissa) // 10**-exponent
        )
        assert spec["notional_per_tick_lot"] == expected
        assert spec["base_atoms_per_lot"] == step_mantissa * 10 ** (step_exponent + base_decimals)
        assert (spec["min_quantity_lots"], spec["max_quantity_lots"]) == (1, 1000)
    else:
        with pytest.raises(ConfigError) as caught:
            Config(assets=assets, markets=(market,), settlement_asset="QQQ")
        assert caught.value.path == "markets[0] (BBB_QQQ).tick_size"
        assert "whole number of QQQ atoms" in caught.value.reason


@settings(max_examples=100, deadline=None)
@given(tick_exponent=st.integers(-10, 4), step_exponent=st.integers(-8, 4), quote_decimals=st.integers(0, 10))
def test_powers_of_ten(tick_exponent: int, step_exponent: int, quote_decimals: int) -> None:
    tick, step = D(f"1e{tick_exponent}"), D(f"1e{step_exponent}")
    market = spot_market(
        symbol="BTC_QQQ", quote="QQQ", tick_size=tick, step_size=step, min_quantity=step, max_quantity=step
    )

    def build() -> Config:
        assets = (usdc(quote_decimals, "QQQ"), Config.default().asset("BTC"))
        return Config(assets=assets, markets=(market,), settlement_asset="QQQ")

    if tick_exponent + step_exponent + quote_decimals >= 0:
        assert build().engine_spec()["markets"][0]["notional_per_tick_lot"] == 10 ** (
            tick_exponent + step_exponent + quote_decimals
        )
    else:
        with pytest.raises(ConfigError, match=r"tick_size: tick_size x step_size must be a whole number"):
            build()
