"""The "× faster than the serial loop" figure: one bar per cell at the largest size and n of
each task, with its CI whisker and physical bound; a bar above its bound is hatched.

The bars are ``imgbench.analysis.figure_data.faster_data``'s; this module draws them.
"""

from __future__ import annotations

import math

import matplotlib

# Figures are drawn in batch jobs without a display; this must precede importing pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from imgbench.analysis.figure_data import FasterData, NoData, faster_data  # noqa: E402
from imgbench.report.figures.layout import (  # noqa: E402
    no_data_figure,
    note,
    panel_figure,
    panel_title,
    suptitle,
)
from imgbench.report.figures.style import (  # noqa: E402
    ABOVE_BOUND_HATCH,
    lighten,
    strategy_color,
)
from imgbench.vocabulary import BASELINE  # noqa: E402


def faster_than_serial_figure(speedup: pd.DataFrame, title: str) -> plt.Figure:
    """Each cell's speedup over the loop at each task's largest size and n (each panel's
    title names them), as bars; ``title``: the registry's short title."""
    data = faster_data(speedup)
    if isinstance(data, NoData):
        return no_data_figure(title, data.reason)
    # Many bars: narrower, with their values written upwards so that neighbours never touch.
    upright = data.most_bars > 12
    panel_w = max(6.0, (0.42 if upright else 0.55) * data.most_bars + 1.5)
    fig, axes, panel_w = panel_figure(len(data.panels), panel_w, 4.0, extra_w=0.0)
    for ax, panel in zip(axes.flat, data.panels, strict=False):
        panel_title(ax, panel, panel_w)
        _draw_bar_panel(ax, data.by_panel[panel], data.has_ci, upright)
    suptitle(fig, title)
    note(fig, _faster_note(data))
    return fig


def _draw_bar_panel(ax, bars: pd.DataFrame, has_ci: bool, upright: bool) -> None:
    """One panel's bars, whiskers, bound ticks and values, labelled by strategy colour."""
    if not np.isfinite(bars["speedup"]).any():
        ax.text(
            0.5,
            0.5,
            "no serial loop measured: no speedup",
            transform=ax.transAxes,
            ha="center",
            va="center",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        return
    x = np.arange(len(bars))
    heights = bars["speedup"].fillna(0.0)
    above = bars["above_bound"].to_numpy(bool)
    _draw_bars(ax, x, heights, bars["strategy"], above)
    whisker_top = heights
    if has_ci:
        low = (heights - bars["speedup_ci_low"]).clip(lower=0).fillna(0.0)
        high = (bars["speedup_ci_high"] - heights).clip(lower=0).fillna(0.0)
        ax.errorbar(x, heights, yerr=[low, high], fmt="none", ecolor="k", elinewidth=1, capsize=3)
        whisker_top = np.fmax(heights, bars["speedup_ci_high"].fillna(0.0))
    ax.axhline(1.0, color="k", lw=1, ls="--")
    data_top = _draw_bound_ticks(ax, x, bars, float(max(whisker_top.max(), 1.0)))
    top = data_top * (1.3 if upright else 1.18)
    ax.set_ylim(0, top)
    for xi, value, y, up in zip(x, bars["speedup"], whisker_top, above, strict=True):
        text = f"{value:.2f}×" if math.isfinite(value) else "n/a"
        text += "!" if up else ""
        ax.text(
            xi,
            y + top * 0.01,
            text,
            ha="center",
            va="bottom",
            fontsize=9,
            rotation=90 if upright else 0,
        )
    ax.set_xticks(x, bars["bar"], rotation=40, ha="right", rotation_mode="anchor")
    for label, strategy in zip(ax.get_xticklabels(), bars["strategy"], strict=True):
        label.set_color(strategy_color(strategy) if strategy != BASELINE else "black")
    ax.set_ylabel("× faster than serial loop")
    ax.grid(True, axis="y", alpha=0.3)


def _draw_bars(ax, x, heights, strategies: pd.Series, above: np.ndarray) -> None:
    """Bars in the strategy's colour; pale and hatched where above the physical bound."""
    drawn = ax.bar(
        x,
        heights,
        color=[
            lighten(strategy_color(s), 0.6) if up else strategy_color(s)
            for s, up in zip(strategies, above, strict=True)
        ],
        width=0.75,
    )
    for patch, up, strategy in zip(drawn.patches, above, strategies, strict=True):
        if up:
            patch.set_hatch(ABOVE_BOUND_HATCH)
            patch.set_edgecolor(strategy_color(strategy))
            patch.set_linewidth(1.2)


def _draw_bound_ticks(ax, x, bars: pd.DataFrame, data_top: float) -> float:
    """A black tick at each parallel bar's physical bound; returns the new top of the data."""
    bound = (
        pd.to_numeric(bars["bound"], errors="coerce").to_numpy(float)
        if "bound" in bars.columns
        else np.full(len(bars), math.nan)
    )
    # A bound far above every bar is left off rather than squashing the bars.
    shown = np.isfinite(bound) & (bound > 1) & (bound <= 1.6 * data_top)
    shown &= (bars["strategy"] != BASELINE).to_numpy()
    if shown.any():
        data_top = max(data_top, float(bound[shown].max()))
        ax.hlines(bound[shown], x[shown] - 0.45, x[shown] + 0.45, colors="k", lw=1.6, zorder=3)
    return data_top


def _faster_note(data: FasterData) -> str:
    whisker = (
        "Whisker: 95% percentile bootstrap CI of that ratio (rounds, then repetitions, of both "
        "cells resampled). "
        if data.has_ci
        else ""
    )
    bound_note = ""
    if data.has_bound:
        bound_note = (
            " Black tick: the physical bound (CPU work: min(workers, usable cores); "
            "waiting work: workers; not drawn at 1× or far above the bars)."
        )
    if data.any_above:
        bound_note += " Hatched, “!”: above its bound, a flagged measurement, not a finding."
    return (
        "Bar: ratio of medians (serial / strategy). "
        + whisker
        + "Dashed line: the serial loop (1×)."
        + bound_note
    )
