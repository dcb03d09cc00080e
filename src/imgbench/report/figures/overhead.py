"""The overhead figure: where each cell's median time goes (pool start-up, until the first
result, work, shutdown), at the smallest and the largest n of each task, each strategy at
its fastest worker count, with how busy its workers were.

The bars are ``imgbench.analysis.figure_data.overhead_data``'s; this module draws them.
"""

from __future__ import annotations

import math
import textwrap

import matplotlib

# Figures are drawn in batch jobs without a display; this must precede importing pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FuncFormatter,
    MaxNLocator,
)

from imgbench.analysis.figure_data import NoData, OverheadData, overhead_data  # noqa: E402
from imgbench.analysis.views import SEGMENT_COLUMNS  # noqa: E402
from imgbench.report.figures.layout import (  # noqa: E402
    fit_to_slide,
    grid_shape,
    no_data_figure,
    panel_title,
    suptitle,
    time_unit,
)
from imgbench.report.figures.style import (  # noqa: E402
    strategy_color,
)
from imgbench.vocabulary import BASELINE  # noqa: E402

_SEGMENT_LABELS = {
    "pool_startup_s": "pool start-up: timer start → every worker started",
    "until_first_s": "until first result: one item's (or one chunk's) work",
    "median_work_s": "work: first → last result",
    "median_shutdown_s": "shutdown: last result → return",
}

_SEGMENT_COLORS = {
    "pool_startup_s": "#cc79a7",
    "until_first_s": "#e69f00",
    "median_work_s": "#c8c8c8",
    "median_shutdown_s": "#56b4e9",
}

#: The overhead breakdown: column of ``overhead_segments``, legend label and colour of each
#: bar segment, in timeline order; together they make the cell's median wall time.
SEGMENTS = tuple((c, _SEGMENT_LABELS[c], _SEGMENT_COLORS[c]) for c in SEGMENT_COLUMNS)


def overhead_figure(summary: pd.DataFrame, title: str) -> plt.Figure:
    """Where the median time goes at the smallest and the largest n of each task, each
    strategy at its fastest worker count; ``title``: the registry's short title."""
    data = overhead_data(summary)
    if isinstance(data, NoData):
        return no_data_figure(title, data.reason)
    facets = len(data.which)
    panel_w, panel_h = 5.0, 0.3 * data.most_bars + 0.9
    # Each task's facets stay side by side; tasks wrap to keep the figure a slide's shape.
    nrows, per_row = grid_shape(len(data.panels), panel_w * facets, panel_h, 2.8, 1.6)
    panel_w, panel_h = fit_to_slide(nrows, per_row * facets, panel_w, panel_h, 2.8, 1.2)
    fig, axes = plt.subplots(
        nrows,
        per_row * facets,
        figsize=(panel_w * facets * per_row + 2.8, panel_h * nrows + 1.2),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat:
        ax.set_visible(False)
    for i, panel in enumerate(data.panels):
        for j, which in enumerate(data.which):
            facet = data.facets.get((panel, which))
            if facet is None:
                continue
            ax = axes[i // per_row][(i % per_row) * facets + j]
            ax.set_visible(True)
            n = int(facet["n_images"].iloc[0])
            # Where smaller sizes were left out, the panel says which size it shows.
            size = f" · {facet['size'].iloc[0]}" if data.dropped_size else ""
            panel_title(ax, f"{panel}{size} — {which} = {n}", panel_w)
            _draw_overhead_bars(ax, facet, *time_unit(facet["median_s"]))
    fig.legend(
        handles=_segment_legend(data), loc="outside right center", frameon=False, title="segment"
    )
    suptitle(fig, title)
    return fig


def _draw_overhead_bars(ax, facet: pd.DataFrame, unit: str, scale: float) -> None:
    """One facet: stacked segments per cell (in ``unit``: seconds times ``scale``), each
    bar's note at its end, strategy labels."""
    y = np.arange(len(facet))
    left = np.zeros(len(facet))
    for column, label, color in SEGMENTS:
        width = facet[column].fillna(0.0).to_numpy() * scale
        ax.barh(y, width, left=left, color=color, height=0.7, label=label)
        left = left + width
    right = max(float(left.max()), 1e-9 * scale)
    for yi, end, bar in zip(y, left, facet.itertuples(index=False), strict=True):
        ax.text(end + right * 0.02, yi, _bar_note(bar), va="center", fontsize=9)
    ax.set_xlim(0, right * 1.45)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.set_yticks(y, facet["label"])
    for tick, strategy in zip(ax.get_yticklabels(), facet["strategy"], strict=True):
        tick.set_color(strategy_color(strategy) if strategy != BASELINE else "black")
    ax.set_xlabel(f"median time ({unit})")
    ax.grid(True, axis="x", alpha=0.3)


def _bar_note(bar) -> str:
    """How busy the workers were, and what of the breakdown is missing or odd."""
    parts = []
    if math.isfinite(bar.busy):
        parts.append(f"busy {bar.busy:.0%}")
    if not bar.any_recorded:
        parts.append("not recorded")
    elif not bar.all_recorded:
        parts.append("part not recorded")
    elif bar.pooled and not bar.pool_recorded:
        parts.append("pool start-up not split")
    if bar.pool_after_first:
        parts.append("last worker started after the first result")
    return "; ".join(parts)


def _segment_legend(data: OverheadData) -> list:
    """One patch per segment drawn; without a recorded pool start-up, one start-up segment."""
    labels = {column: label for column, label, _color in SEGMENTS}
    if not data.pool_split:
        labels["until_first_s"] = (
            "start-up: timer start → first result (pool start-up not recorded apart)"
        )
    return [
        Patch(color=color, label="\n".join(textwrap.wrap(labels[column], 34)))
        for column, _label, color in SEGMENTS
        if data.pool_split or column != "pool_startup_s"
    ]
