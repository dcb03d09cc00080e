"""The figure of one workload (a task at one image size), made for a slide: the speedup over
the serial loop against the worker count, one panel per number of images (and host, storage
and cache where there are several), one line per strategy in its colour, with the 95% CI as
a band, the ideal and the usable cores, and hollow markers for speedups above their physical
bound. With one worker count the strategies are points side by side with CI whiskers; a
workload without results gets a figure that says so.

The curves are ``imgbench.analysis.workload_data.workload_speedup_data``'s; this module draws
them, in the larger type of ``SLIDE_RC``.
"""

from __future__ import annotations

import math

import matplotlib

# Figures are drawn in batch jobs without a display; this must precede importing pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

from imgbench.analysis.figure_data import NoData  # noqa: E402
from imgbench.analysis.views import thin  # noqa: E402
from imgbench.analysis.workload_data import (  # noqa: E402
    Workload,
    WorkloadSpeedupData,
    workload_speedup_data,
)
from imgbench.report.figures.layout import (  # noqa: E402
    grid_lines,
    no_data_figure,
    speedup_limits,
    speedup_tick,
    suptitle,
)
from imgbench.report.figures.style import (  # noqa: E402
    SLIDE_FIGURE_IN,
    SLIDE_RC,
    strategy_color,
)
from imgbench.vocabulary import BASELINE  # noqa: E402

#: Panels of one figure: more would not stay legible on a slide (values of n are thinned).
MAX_PANELS = 4
_PANEL_H = 4.2
_LEGEND_W = 3.0
_TITLE_H = 0.9
_TITLE_PT = 14
_PANEL_W_RANGE = (2.5, 4.4)
# Strategies at one worker count stand side by side, this far apart (in log2 units).
_DODGE = 0.09


def workload_speedup_figure(
    speedup: pd.DataFrame,
    workload: Workload,
    title: str,
    verdicts: pd.DataFrame | None = None,
) -> plt.Figure:
    """Speedup over the loop of one workload against workers (see the module's docstring);
    ``title``: the workload's (``Figure.workload_title``)."""
    with matplotlib.rc_context(SLIDE_RC):
        data = workload_speedup_data(speedup, workload, verdicts, MAX_PANELS)
        if isinstance(data, NoData):
            return no_data_figure(title, data.reason)
        count = len(data.panels)
        room = SLIDE_FIGURE_IN[0] - _LEGEND_W - 0.3
        panel_w = min(_PANEL_W_RANGE[1], max(_PANEL_W_RANGE[0], room / count))
        fig, axes = plt.subplots(
            1,
            count,
            figsize=(panel_w * count + _LEGEND_W, _PANEL_H + _TITLE_H),
            squeeze=False,
            layout="constrained",
        )
        y_limits, y_ticks = _y_axis(data)
        for ax, panel in zip(axes[0], data.panels, strict=True):
            _draw_panel(ax, data, panel)
            _set_axes(ax, data, y_limits, y_ticks, first=ax is axes[0][0])
        fig.legend(
            handles=_legend(data),
            loc="outside right center",
            frameon=False,
            title=_legend_title(data),
        )
        suptitle(fig, title, _TITLE_PT)
        return fig


def _offsets(data: WorkloadSpeedupData) -> dict[str, float]:
    """Each strategy's sideways step (log2 units): none along lines, side by side when
    there is only one worker count, so that the whiskers do not hide each other."""
    if len(data.workers) > 1:
        return dict.fromkeys(data.strategies, 0.0)
    middle = (len(data.strategies) - 1) / 2
    return {s: (i - middle) * _DODGE for i, s in enumerate(data.strategies)}


def _draw_panel(ax, data: WorkloadSpeedupData, panel: str) -> None:
    """The ideal, the loop and the usable cores, then each strategy's line (or points),
    its CI and its hollow markers above the physical bound."""
    ax.set_title(panel)
    low, high = min(data.workers) / 1.5, max(data.workers) * 1.5
    ax.plot([low, high], [low, high], color="k", ls="--", lw=1.2, zorder=1)
    ax.axhline(1.0, color=strategy_color(BASELINE), lw=1.6, zorder=1)
    cores = data.panel_cores.get(panel, math.nan)
    if math.isfinite(cores) and cores <= max(data.workers) * 2:
        ax.axvline(cores, color="k", ls=":", lw=1.4, zorder=1)
        ax.axhline(cores, color="k", ls=":", lw=1.4, zorder=1)
    offsets = _offsets(data)
    drawn = False
    for strategy in data.strategies:
        line = data.lines.get((panel, strategy))
        if line is None:
            continue
        drawn = True
        _draw_strategy(ax, line, strategy_color(strategy), offsets[strategy], data.has_band)
    if not drawn:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center")


def _draw_strategy(ax, line: pd.DataFrame, color: str, offset: float, band: bool) -> None:
    x = line["workers"].to_numpy(float) * 2.0**offset
    y = line["speedup"].to_numpy(float)
    above = line["above_bound"].to_numpy(bool)
    low = line["speedup_ci_low"].to_numpy(float)
    high = line["speedup_ci_high"].to_numpy(float)
    known = np.isfinite(low) & np.isfinite(high) & (low > 0)
    if band and known.sum() >= 2:
        ax.fill_between(x[known], low[known], high[known], color=color, alpha=0.18, lw=0)
    elif band and known.any():
        ax.errorbar(
            x[known],
            y[known],
            yerr=[y[known] - low[known], high[known] - y[known]],
            fmt="none",
            ecolor=color,
            elinewidth=2,
            capsize=5,
            capthick=2,
        )
    if len(x) > 1:
        ax.plot(x, y, color=color, lw=2.4, zorder=2)
    ax.scatter(x[~above], y[~above], s=60, color=color, zorder=3, linewidths=0)
    if above.any():
        ax.scatter(
            x[above], y[above], s=80, facecolors="white", edgecolors=color, linewidths=2, zorder=4
        )


def _y_axis(data: WorkloadSpeedupData) -> tuple[tuple, list[float]]:
    rows = data.rows
    values = pd.concat([rows["speedup"], rows["speedup_ci_low"], rows["speedup_ci_high"]])
    values = values[np.isfinite(values)]
    limits, ticks = speedup_limits(values, data.workers)
    return limits, thin(ticks, 7)


def _set_axes(ax, data: WorkloadSpeedupData, y_limits, y_ticks, first: bool) -> None:
    """Log2 axes, the same in every panel: workers ticked where measured, speedups at
    powers of two; the y label on the first panel only."""
    workers = data.workers
    pad = 2**0.3 if len(workers) > 1 else 2**0.45
    x_limits = (min(workers) / pad, max(workers) * pad)
    x_ticks = thin(workers, 7)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlim(*x_limits)
    ax.set_ylim(*y_limits)
    ax.xaxis.set_major_locator(FixedLocator(x_ticks))
    ax.yaxis.set_major_locator(FixedLocator(y_ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_major_formatter(FuncFormatter(speedup_tick) if first else FuncFormatter(_blank))
    grid_lines(ax, x_ticks, y_ticks, x_limits, y_limits)
    ax.set_xlabel("workers")
    if first:
        ax.set_ylabel("speedup vs serial loop (×)")


def _blank(_value, _pos=None) -> str:
    return ""


def _legend(data: WorkloadSpeedupData) -> list:
    handles = [
        Line2D([], [], color=strategy_color(s), marker="o", ms=7, lw=2.4, label=s)
        for s in data.strategies
    ]
    if data.has_band:
        label = "95% bootstrap CI" + (" (whisker)" if len(data.workers) == 1 else "")
        handles.append(Patch(color="#6e6e6e", alpha=0.3, label=label))
    if data.any_above:
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                ms=8,
                mfc="white",
                mec="#6e6e6e",
                mew=2,
                label="hollow: above the physical\nbound, not a finding",
            )
        )
    handles.append(Line2D([], [], color="k", ls="--", lw=1.2, label="ideal: speedup = workers"))
    handles.append(Line2D([], [], color=strategy_color(BASELINE), lw=1.6, label="serial loop (1×)"))
    cores = sorted({int(c) for c in data.panel_cores.values() if math.isfinite(c)})
    if cores:
        label = "usable cores = " + ", ".join(str(c) for c in cores)
        handles.append(Line2D([], [], color="k", ls=":", lw=1.4, label=label))
    return handles


def _legend_title(data: WorkloadSpeedupData) -> str:
    if len(data.n_values) < data.n_count:
        return f"strategy\n({len(data.n_values)} of {data.n_count} values of n shown)"
    return "strategy"
