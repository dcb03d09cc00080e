"""The best strategy heatmap: per (n images, workers), the fastest strategy and its speedup
over the loop, with the tables' verdicts (pale "~": not shown faster, hatched "!": above
the physical bound, framed: the recommendation, dashed when withheld).

The cells are ``imgbench.analysis.figure_data.best_strategy_data``'s; this module draws them.
"""

from __future__ import annotations

import math

import matplotlib

# Figures are drawn in batch jobs without a display; this must precede importing pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from imgbench.analysis.figure_data import (  # noqa: E402
    BestStrategyData,
    NoData,
    best_strategy_data,
)
from imgbench.report.figures.layout import (  # noqa: E402
    grid_shape,
    no_data_figure,
    note,
    panel_figure,
    panel_title,
    suptitle,
)
from imgbench.report.figures.style import (  # noqa: E402
    ABOVE_BOUND_HATCH,
    lighten,
    short_name,
    strategy_color,
    text_color_on,
)

_CELL_W, _CELL_H = 0.66, 0.44

_VERDICT_NOTE = (
    "Verdicts from the tables: pale with “~”: not shown faster than the loop "
    "(comparisons.csv, Holm-corrected; older tables: the speedup's CI reaches 1); "
    "hatched with “!”: above the physical bound (speedup.csv), not a finding; framed: "
    "the group's recommendation (dashed: withheld)."
)


def _times(value: float) -> str:
    """A speedup as "1.04×" (three significant digits up to 10×, then "12×"); "n/a" if NaN."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.2f}×" if value < 9.995 else f"{value:.0f}×"


def best_strategy_figure(
    summary: pd.DataFrame,
    speedup: pd.DataFrame,
    title: str,
    comparisons: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> plt.Figure:
    """The fastest strategy per (n images, workers) of each task at its largest size (each
    panel's title names it), with its speedup over the loop; ``title``: the registry's."""
    data = best_strategy_data(summary, speedup, comparisons, recommendations)
    if isinstance(data, NoData):
        return no_data_figure(title, data.reason)
    panel_w, panel_h = _heatmap_panel_size(data)
    fig, axes, panel_w = panel_figure(len(data.panels), panel_w, panel_h, extra_w=3.0)
    for ax, panel in zip(axes.flat, data.panels, strict=False):
        _draw_heatmap_panel(ax, data, data.by_panel[panel])
        panel_title(ax, panel, panel_w)
    fig.legend(
        handles=_heatmap_legend(data), loc="outside right center", frameon=False, title="winner"
    )
    suptitle(fig, title)
    note(
        fig, _VERDICT_NOTE + (" Largest image size of each task only." if data.dropped_size else "")
    )
    return fig


def _heatmap_panel_size(data: BestStrategyData) -> tuple[float, float]:
    """A panel's width and height in inches: a fixed size per cell, and tall enough that the
    legend (strategies and up to four verdict marks, some of two lines) fits beside the
    panels."""
    panel_w = max(3.2, _CELL_W * len(data.workers) + 1.1)
    panel_h = _CELL_H * len(data.n_values) + 1.0
    verdicts = sum(data.any(v) for v in ("above_bound", "recommended", "withheld"))
    legend_h = 0.3 * len(data.strategies) + 0.5 * verdicts
    legend_h += 0.5 * data.unconfirmed + 0.6
    nrows, _ = grid_shape(len(data.panels), panel_w, panel_h, extra_w=3.0)
    return panel_w, max(panel_h, legend_h / nrows)


def _draw_heatmap_panel(ax, data: BestStrategyData, cells: pd.DataFrame) -> None:
    """One panel: each winner's colour (pale unless shown faster and within its bound), its
    short name and speedup, the hatching above the bound and the recommendation's frame."""
    n_index = {n: i for i, n in enumerate(data.n_values)}
    w_index = {w: i for i, w in enumerate(data.workers)}
    rows = cells["n_images"].astype(int).map(n_index).to_numpy()
    cols = cells["workers"].astype(int).map(w_index).to_numpy()
    confirmed = cells["faster_than_loop"].to_numpy(bool)
    above = cells["above_bound"].to_numpy(bool)
    fills = [
        to_rgb(strategy_color(s)) if ok and not up else lighten(strategy_color(s), 0.6)
        for s, ok, up in zip(cells["best_strategy"], confirmed, above, strict=True)
    ]
    image = np.ones((len(data.n_values), len(data.workers), 3))
    image[rows, cols] = np.array(fills)
    ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest")
    strategies, speedups = cells["best_strategy"], cells["speedup"]
    marks = zip(rows, cols, strategies, speedups, confirmed, above, fills, strict=True)
    for r, c, strategy, value, ok, up, fill in marks:
        _write_winner(ax, r, c, strategy, value, ok, up, fill)
    chosen = cells["recommended"].to_numpy(bool)
    withheld = cells.loc[cells["recommended"], "withheld"].to_numpy(bool)
    for r, c, dashed in zip(rows[chosen], cols[chosen], withheld, strict=True):
        ax.add_patch(
            Rectangle(
                (c - 0.44, r - 0.44),
                0.88,
                0.88,
                fill=False,
                edgecolor="black",
                lw=2.2,
                ls="--" if dashed else "-",
                zorder=4,
            )
        )
    workers, n_values = data.workers, data.n_values
    ax.set_xticks(range(len(workers)), [str(w) for w in workers])
    ax.set_yticks(range(len(n_values)), [str(n) for n in n_values])
    ax.vlines(np.arange(len(workers) + 1) - 0.5, -0.5, len(n_values) - 0.5, "white", lw=1.5)
    ax.hlines(np.arange(len(n_values) + 1) - 0.5, -0.5, len(workers) - 0.5, "white", lw=1.5)
    ax.set_xlabel("workers")
    ax.set_ylabel("images")


def _write_winner(ax, r, c, strategy: str, value: float, ok: bool, up: bool, fill) -> None:
    """A cell's winner and its speedup: "!" and hatched above the bound, "~" when not shown
    faster than the loop."""
    ratio = _times(value)
    if up:
        ratio += "!"
        ax.add_patch(
            Rectangle(
                (c - 0.5, r - 0.5),
                1,
                1,
                fill=False,
                hatch=ABOVE_BOUND_HATCH,
                edgecolor="#555555",
                lw=0,
            )
        )
    elif not ok:
        ratio = "~" + ratio
    ax.text(
        c,
        r,
        f"{short_name(strategy)}\n{ratio}",
        ha="center",
        va="center",
        fontsize=9,
        linespacing=1.0,
        color=text_color_on(fill),
    )


def _heatmap_legend(data: BestStrategyData) -> list:
    """The strategies' short names, then a mark for each verdict some cell carries."""
    handles = [
        Patch(color=strategy_color(s), label=f"{short_name(s)} = {s}") for s in data.strategies
    ]
    if data.incomplete:
        handles.append(Patch(facecolor="white", edgecolor="#999999", label="not measured"))
    if data.unconfirmed:
        label = "pale, ~: not shown faster\nthan the loop (tables' tests)"
        handles.append(Patch(facecolor=lighten("#6e6e6e", 0.6), label=label))
    if data.any("above_bound"):
        label = "hatched, !: above the\nphysical bound: not a finding"
        handles.append(
            Patch(facecolor="white", edgecolor="#555555", hatch=ABOVE_BOUND_HATCH, label=label)
        )
    if data.any("recommended"):
        handles.append(
            Patch(facecolor="white", edgecolor="black", lw=2.2, label="the recommendation")
        )
    if data.any("withheld"):
        label = "the recommendation,\nwithheld"
        handles.append(Patch(facecolor="white", edgecolor="black", lw=2.2, ls="--", label=label))
    return handles
