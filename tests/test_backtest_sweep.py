"""Backtests from TOML, and a parameter sweep on a local Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossbook.backtest.sweep import grid, run_one, sweep_from_toml
from crossbook.backtest.toml import load_backtest
from crossbook.cli import main
from crossbook.exceptions import ConfigError

FILE = """
[backtest]
seed = 3
report = "out/report.html"
parquet = "out/tables"

[latency]
insert = 5
cancel = {uniform = [2, 8]}

[synthetic]
duration_ms = 1_800_000
crash_at_ms = -1
traders = 8

[[strategy]]
class = "crossbook.backtest.strategies:QuotingMaker"
quantities = {SOL_USDC_PERP = "20"}

[sweep]
seeds = [11]
grid = {"strategy.0.half_spread" = ["0.0004", "0.003"]}
"""


@pytest.fixture
def backtest_file(tmp_path: Path) -> Path:
    path = tmp_path / "backtest.toml"
    path.write_text(FILE)
    return path


def test_a_two_task_ray_sweep_runs_locally_and_returns_one_row_per_parameter_set(backtest_file: Path) -> None:
    table = sweep_from_toml(backtest_file)
    assert table.height == 2
    assert table["param:strategy.0.half_spread"].to_list() == ["0.0004", "0.003"]
    assert table["seed"].to_list() == [11, 11]
    assert table["conserved"].all()
    # each row is that parameter set's own run: the same as running it here
    file = load_backtest(backtest_file)
    for row in table.iter_rows(named=True):
        alone = run_one(file, {"strategy.0.half_spread": row["param:strategy.0.half_spread"]}, 11)
        assert alone["state_hash"] == row["state_hash"]
        assert alone["fills"] == row["fills"]
    assert table["state_hash"][0] != table["state_hash"][1]


def test_grid_crosses_parameters_with_seeds() -> None:
    runs = grid({"a": [1, 2], "b": ["x"]}, [7, 8])
    assert runs == [({"a": 1, "b": "x"}, 7), ({"a": 1, "b": "x"}, 8), ({"a": 2, "b": "x"}, 7), ({"a": 2, "b": "x"}, 8)]
    with pytest.raises(ConfigError):
        grid({"a": []}, [1])


def test_crossbook_backtest_runs_a_toml_file(backtest_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", str(backtest_file), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "assets conserved" in printed and "True" in printed
    out = backtest_file.parent / "out"
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert (out / "tables" / "equity.parquet").stat().st_size > 0


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ("[backtest]\nwarp = 1\n", "backtest"),
        ('[[strategy]]\nclass = "nowhere:Nothing"\n', "strategy[1].class"),
        ('[[strategy]]\nclass = "crossbook:Exchange"\n', "strategy[1].class"),
        ("[latency]\namend = -3\n", "latency"),
        ("[synthetic]\nwarp = 1\n", "synthetic"),
    ],
)
def test_bad_files_name_the_table(tmp_path: Path, change: str, where: str) -> None:
    base = FILE
    for table in ("[backtest]", "[latency]", "[synthetic]"):
        if change.startswith(table):
            base = base.replace(table + "\n", change, 1)
    if change.startswith("[[strategy]]"):
        base = base.replace("[sweep]", change + "\n[sweep]")
    path = tmp_path / "bad.toml"
    path.write_text(base)
    with pytest.raises(ConfigError) as raised:
        load_backtest(path).backtest()
    assert raised.value.path == where
