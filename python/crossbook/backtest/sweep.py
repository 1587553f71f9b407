"""Parameter sweeps and Monte-Carlo stress runs on Ray (the ``crossbook[ray]`` extra).

:func:`sweep` runs one backtest per (parameter set, seed): each is a Ray task of its own, started on a
local Ray (``ray.init()``; the default) or on the cluster at ``address``, and given its own seed (the
synthetic market's and the latency's). The results are gathered into one polars table, one row per
run, in the order of the grid: the parameters, the seed, and the run's figures (final net equity and
its change, the worst MMR, fills, funding paid, liquidation events by stage, whether every asset
reconciled, and the state hash). Costs: a task per run plus Ray's start-up (seconds) and transfer of
the backtest's TOML table; each task is an independent single-threaded backtest.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import polars as pl

from crossbook.backtest.toml import BacktestFile, load_backtest
from crossbook.exceptions import ConfigError


def grid(parameters: dict[str, list[Any]], seeds: list[int]) -> list[tuple[dict[str, Any], int]]:
    """Every combination of the parameters' values, each with every seed."""
    names = list(parameters)
    for name in names:
        if not isinstance(parameters[name], list) or not parameters[name]:
            raise ConfigError(f"sweep.grid.{name}", "expected a non-empty list of values")
    combinations = [dict(zip(names, values, strict=True)) for values in itertools.product(*parameters.values())]
    return [(combination, seed) for combination in combinations for seed in seeds]


def run_one(file: BacktestFile, overrides: dict[str, Any], seed: int) -> dict[str, Any]:
    """One run of a sweep (what each Ray task does): the summary row."""
    variant = file.with_overrides({**overrides, "backtest.seed": seed})
    results = variant.backtest().run()
    row: dict[str, Any] = {**{f"param:{name}": str(value) for name, value in overrides.items()}, "seed": seed}
    equity = results.tables["equity"]
    stages = results.tables["liquidations"]["stage"]
    final = float(equity["net_equity"][-1]) if equity.height else 0.0
    first = float(equity["net_equity"][0]) if equity.height else 0.0
    row.update(
        {
            "final_net_equity": final,
            "pnl": final - first,
            "max_mmr": float(equity["mmr"].to_numpy().max()) if equity.height else 0.0,
            "fills": results.tables["fills"].height,
            "funding_paid": float(results.tables["funding"]["amount"].sum()),
            "on_book": int((stages == "on_book").sum()),
            "backstop": int((stages == "backstop").sum()),
            "adl": int((stages == "adl").sum()),
            "conserved": bool(results.summary["assets conserved"]),
            "state_hash": str(results.summary["state_hash"]),
        }
    )
    return row


def sweep(
    file: BacktestFile,
    parameters: dict[str, list[Any]],
    seeds: list[int],
    *,
    address: str | None = None,
) -> pl.DataFrame:
    """Runs the grid on Ray (see the module docs); one row per run."""
    import ray  # noqa: PLC0415 - ray is the optional crossbook[ray] extra

    runs = grid(parameters, seeds)
    started_here = not ray.is_initialized()
    if started_here:
        if address is None:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        task = ray.remote(run_one)
        shared = ray.put(file)
        rows = ray.get([task.remote(shared, overrides, seed) for overrides, seed in runs])
    finally:
        if started_here:
            ray.shutdown()
    return pl.DataFrame(rows)


def sweep_from_toml(path: str | os.PathLike[str], *, address: str | None = None) -> pl.DataFrame:
    """``crossbook sweep``: the file's ``[sweep]`` table (``grid`` and ``seeds``) on Ray."""
    file = load_backtest(Path(path))
    table = dict(file.table.get("sweep", {}))
    unknown = set(table) - {"grid", "seeds", "address"}
    if unknown:
        raise ConfigError("sweep", f"unknown keys {sorted(unknown)}; expected grid, seeds, address")
    seeds = table.get("seeds", [file.settings.get("seed", 0)])
    if not isinstance(seeds, list) or not seeds or not all(type(seed) is int for seed in seeds):
        raise ConfigError("sweep.seeds", f"expected a non-empty list of ints, got {seeds!r}")
    return sweep(file, dict(table.get("grid", {})), seeds, address=address or table.get("address"))
