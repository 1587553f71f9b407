"""The synthetic market and the demo: determinism, a real cascade through the waterfall, conservation."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from crossbook.backtest import Backtest, Crash, QuotingMaker, Results, SyntheticConfig, SyntheticMarket
from crossbook.backtest.demo import demo_backtest
from crossbook.backtest.results import TABLES
from crossbook.backtest.synthetic import index_paths
from crossbook.cli import main
from crossbook.exceptions import CrossbookError

SHORT = {
    "duration_ms": 2 * 3_600_000,
    "crash": Crash(at_ms=5_400_000, duration_ms=900_000, run_up_ms=3_600_000),
    "traders": 16,
}


def _short_run(seed: int) -> tuple[Results, str]:
    market = SyntheticMarket(SyntheticConfig(seed=seed, **SHORT))  # type: ignore[arg-type]
    strategy = QuotingMaker({"SOL_USDC_PERP": "20"})
    backtest = Backtest(None, market, [strategy], seed=seed, book_interval_ms=1_000)
    results = backtest.run()
    return results, backtest.exchange.state_hash()


def test_same_seed_same_result_and_different_seeds_differ() -> None:
    first, first_hash = _short_run(3)
    second, second_hash = _short_run(3)
    other, other_hash = _short_run(4)
    assert first_hash == second_hash
    for name in TABLES:
        assert_frame_equal(first.tables[name], second.tables[name])
    assert first.tables["fills"].height > 0, "the strategy traded"
    assert other_hash != first_hash
    assert not first.tables["equity"].equals(other.tables["equity"])


def test_index_paths_follow_the_seed_and_the_scripted_crash() -> None:
    config = SyntheticConfig(seed=5, **SHORT)  # type: ignore[arg-type]
    paths = index_paths(config)
    assert (paths == index_paths(config)).all()
    assert not (paths == index_paths(SyntheticConfig(seed=6, **SHORT))).all()  # type: ignore[arg-type]
    crash = config.crash
    assert crash is not None
    before = paths[crash.at_ms // config.step_ms]
    after = paths[(crash.at_ms + crash.duration_ms) // config.step_ms]
    falls = 1 - after / before
    # each asset falls by about its crash depth (the diffusion and jumps add a little noise)
    for fall, asset in zip(falls, config.assets, strict=True):
        assert abs(fall - asset.crash_depth) < 0.06


@pytest.mark.parametrize(
    "values",
    [{"step_ms": 0}, {"duration_ms": 10, "step_ms": 100}, {"assets": ()}, {"crash": Crash(at_ms=10**12)}],
)
def test_bad_synthetic_config_raises(values: dict[str, object]) -> None:
    with pytest.raises(CrossbookError):
        SyntheticConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def demo() -> tuple[Backtest, Results]:
    backtest = demo_backtest()
    return backtest, backtest.run()


def test_the_demo_cascades_through_every_stage_and_conserves_every_asset(demo: tuple[Backtest, Results]) -> None:
    backtest, results = demo
    stages = results.tables["liquidations"]["stage"].to_list()
    assert stages.count("on_book") >= 1
    assert stages.count("backstop") >= 1
    assert stages.count("adl") >= 1
    audit = backtest.exchange.audit()
    assert audit and all(line.balanced for line in audit.values())
    scan = backtest.exchange.margin_scan()
    assert (scan["net_equity"] >= 0).all(), "the waterfall leaves nobody below zero"
    assert results.summary["assets conserved"] is True


def test_the_demo_tables_parquet_and_report(demo: tuple[Backtest, Results], tmp_path: object) -> None:
    _, results = demo
    equity = results.tables["equity"]
    assert equity.height >= 24 * 60 and equity["mmr"].max() is not None
    assert results.tables["prices"]["market"].unique().sort().to_list() == ["BTC_USDC_PERP", "SOL_USDC_PERP"]
    assert results.tables["funding"].height > 0
    assert results.tables["fills"].height == results.summary["quoting_maker#0 fills"]
    paths = results.to_parquet(tmp_path)  # type: ignore[arg-type]
    for path in paths:
        assert_frame_equal(pl.read_parquet(path), results.tables[path.stem])
    report = results.report(tmp_path / "report.html")  # type: ignore[operator]
    text = report.read_text()
    assert text.count("<svg") == 5 and "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "adl" in text and "Net equity" in text


def test_crossbook_demo_prints_the_summary_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "demo.html"
    assert main(["demo", "--quiet", "--report", str(report), "--parquet", str(tmp_path / "tables")]) == 0
    printed = capsys.readouterr().out
    assert "liquidations (on_book/backstop/adl)" in printed and f"report: {report}" in printed
    assert report.read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "tables" / "liquidations.parquet").exists()
