"""The HTML report of a backtest: one self-contained file, plots drawn as inline SVG.

:func:`write_report` writes the summary table and four plots — equity, maintenance-margin ratio (MMR),
each market's mark with the liquidations marked on it (by stage), and cumulative funding and interest —
from a :class:`crossbook.backtest.Results`. The SVG is generated here (no plotting library, no script,
no network access needed to view it). Costs: O(rows); long series are thinned to at most
``MAX_POINTS`` points per line for the drawing only.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from crossbook.backtest.results import Results

MAX_POINTS = 2_000
WIDTH, HEIGHT = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 30, 40
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
STAGE_COLORS = {"on_book": "#ff7f0e", "backstop": "#9467bd", "adl": "#d62728", "trigger": "#7f7f7f"}

Series = tuple[str, Sequence[float], Sequence[float]]


def _present(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _thin(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    if len(xs) <= MAX_POINTS:
        return list(xs), list(ys)
    keep = np.linspace(0, len(xs) - 1, MAX_POINTS).astype(int)
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / (count - 1) for i in range(count)]


def line_chart(
    title: str,
    series: Sequence[Series],
    markers: Sequence[tuple[str, float, float]] = (),
    x_label: str = "hours",
) -> str:
    """An SVG line chart: ``series`` of (label, xs, ys); ``markers`` of (stage, x, y) drawn as dots."""
    points = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys, strict=True) if _present(y)]
    points += [(x, y) for _, x, y in markers]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">']
    parts.append(f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>')
    if not points:
        parts.append(f'<text x="{LEFT}" y="{HEIGHT // 2}" font-size="12">no data</text></svg>')
        return "".join(parts)
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    if x_high == x_low:
        x_high = x_low + 1
    if y_high == y_low:
        y_low, y_high = y_low - 1, y_high + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x_low) / (x_high - x_low) * plot_w

    def sy(y: float) -> float:
        return TOP + (1 - (y - y_low) / (y_high - y_low)) * plot_h

    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>')
    for y in _ticks(y_low, y_high):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" font-size="10" text-anchor="end">{y:,.4g}</text>')
    for x in _ticks(x_low, x_high, 7):
        parts.append(
            f'<text x="{sx(x):.1f}" y="{TOP + plot_h + 16}" font-size="10" text-anchor="middle">{x:,.3g}</text>'
        )
    middle = LEFT + plot_w / 2
    parts.append(
        f'<text x="{middle}" y="{HEIGHT - 6}" font-size="11" text-anchor="middle">{html.escape(x_label)}</text>'
    )
    for number, (label, xs, ys) in enumerate(series):
        color = COLORS[number % len(COLORS)]
        thin_x, thin_y = _thin(xs, ys)
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(thin_x, thin_y, strict=True) if _present(y))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        legend_y = TOP + 14 + 14 * number
        parts.append(f'<text x="{LEFT + 8}" y="{legend_y}" font-size="11" fill="{color}">{html.escape(label)}</text>')
    for stage, x, y in markers:
        color = STAGE_COLORS.get(stage, "#000")
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"><title>{stage}</title></circle>')
    legend_x = LEFT + plot_w - 260
    for number, (stage, color) in enumerate(STAGE_COLORS.items()):
        if any(marker[0] == stage for marker in markers):
            parts.append(f'<circle cx="{legend_x + 70 * number}" cy="{TOP + 10}" r="4" fill="{color}"/>')
            parts.append(f'<text x="{legend_x + 70 * number + 7}" y="{TOP + 14}" font-size="10">{stage}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _hours(frame: pl.DataFrame, start_ms: int) -> list[float]:
    return [(t - start_ms) / 3_600_000 for t in frame["time_ms"].to_list()]


def _cumulative(frame: pl.DataFrame, column: str) -> list[float]:
    return [float(value) for value in np.cumsum(frame[column].to_numpy())] if frame.height else []


def render(results: Results, title: str) -> str:
    """The report as one HTML string."""
    tables = results.tables
    equity, prices, liquidations = tables["equity"], tables["prices"], tables["liquidations"]
    starts = [int(frame["time_ms"].to_numpy().min()) for frame in (equity, prices) if frame.height]
    start_ms = min(starts) if starts else 0
    charts = []
    strategies = equity["strategy"].unique(maintain_order=True).to_list()
    rows = {name: equity.filter(equity["strategy"] == name) for name in strategies}
    charts.append(
        line_chart(
            "Net equity (USDC)", [(name, _hours(f, start_ms), f["net_equity"].to_list()) for name, f in rows.items()]
        )
    )
    charts.append(
        line_chart(
            "Maintenance-margin ratio (MMR; 1 = liquidation)",
            [(name, _hours(f, start_ms), f["mmr"].to_list()) for name, f in rows.items()],
        )
    )
    shown = liquidations.filter(pl.col("stage").is_in(["on_book", "backstop", "adl"]))
    for market in prices["market"].unique(maintain_order=True).to_list():
        marks = prices.filter((pl.col("market") == market) & pl.col("mark").is_not_null())
        xs, ys = _hours(marks, start_ms), marks["mark"].to_list()
        markers = []
        here = shown.filter(pl.col("market") == market)
        if xs:
            for stage, time_ms in zip(here["stage"].to_list(), here["time_ms"].to_list(), strict=True):
                hour = (time_ms - start_ms) / 3_600_000
                markers.append((stage, hour, float(np.interp(hour, xs, ys))))
        charts.append(line_chart(f"{market} mark with liquidations ({len(markers)})", [(market, xs, ys)], markers))
    costs: list[Series] = []
    for name in strategies:
        funding = tables["funding"].filter(pl.col("strategy") == name)
        interest = tables["interest"].filter(pl.col("strategy") == name)
        costs.append((f"{name} funding paid", _hours(funding, start_ms), _cumulative(funding, "amount")))
        costs.append((f"{name} interest paid", _hours(interest, start_ms), _cumulative(interest, "paid")))
    charts.append(line_chart("Cumulative funding and interest paid (USDC; interest in its asset)", costs))
    summary = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>"
        for key, value in results.summary.items()
    )
    stages = liquidations.group_by("stage").len().sort("stage")
    stage_rows = "".join(
        f"<tr><th>{html.escape(stage)}</th><td>{count}</td></tr>"
        for stage, count in zip(stages["stage"].to_list(), stages["len"].to_list(), strict=True)
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 16px}"
        "th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}th{background:#f6f6f6}"
        "svg{display:block;margin:12px 0}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><h2>Summary</h2><table>{summary}</table>"
        f"<h2>Liquidation events by stage</h2><table>{stage_rows}</table>"
        f"<h2>Plots</h2>{''.join(charts)}</body></html>"
    )


def write_report(results: Results, path: Path, title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results, title), encoding="utf-8")
    return path
