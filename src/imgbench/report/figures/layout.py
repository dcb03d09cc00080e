"""Laying out a figure: a grid of panels near 16:9, wrapped titles and notes, the "no data"
stand-in, and the axes the figures share (log axes ticked at measured values, power-of-two
speedup axes and ticks, grid lines as one collection). The panels and their labels are the
figures' data (``imgbench.analysis.views``, ``imgbench.analysis.figure_data``).
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
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedLocator,
    FuncFormatter,
    LogLocator,
    NullLocator,
)

from imgbench.analysis.views import thin  # noqa: E402
from imgbench.report.figures.style import (  # noqa: E402
    RC_PARAMS,
    strategy_color,
)
from imgbench.vocabulary import BASELINE  # noqa: E402

BASE_CASE = "base case: the serial loop of the same task, size, storage, cache and n"

PANEL_W, PANEL_H = 3.4, 2.7

_SUPTITLE_PT = 12

_NOTE_PT = 9.5


def suptitle(fig: plt.Figure, text: str) -> None:
    """A figure title wrapped to the figure's width."""
    width_in = fig.get_size_inches()[0]
    chars = max(50, int(width_in * 72 / (_SUPTITLE_PT * 0.55)))
    fig.suptitle("\n".join(textwrap.wrap(text, chars)), fontsize=_SUPTITLE_PT)


def note(fig: plt.Figure, text: str) -> None:
    """An explanatory line under the figure, wrapped to its width (kept in by the layout)."""
    width_in = fig.get_size_inches()[0]
    chars = max(50, int(width_in * 72 / (_NOTE_PT * 0.52)))
    fig.supxlabel("\n".join(textwrap.wrap(text, chars)), fontsize=_NOTE_PT)


def panel_title(ax: plt.Axes, text: str, width_in: float, **kwargs) -> None:
    chars = max(16, int(width_in * 72 / (RC_PARAMS["axes.titlesize"] * 0.55)))
    ax.set_title("\n".join(textwrap.wrap(text, chars)), **kwargs)


def no_data_figure(title: str, reason: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    ax.axis("off")
    ax.text(0.5, 0.5, f"no data\n{reason}", ha="center", va="center", fontsize=16)
    suptitle(fig, title)
    return fig


def grid_shape(
    count: int, panel_w: float, panel_h: float, extra_w: float = 0.0, extra_h: float = 1.0
) -> tuple[int, int]:
    """Rows and columns for ``count`` panels whose figure is closest to a 16:9 slide, with
    few empty places (each costs as much as a third too wide or too tall)."""

    def distance(ncols: int) -> float:
        nrows = math.ceil(count / ncols)
        ratio = (panel_w * ncols + extra_w) / (panel_h * nrows + extra_h)
        return abs(math.log(ratio / (16 / 9))) + 0.3 * (nrows * ncols - count)

    ncols = min(range(1, max(1, count) + 1), key=distance)
    return math.ceil(count / ncols), ncols


def panel_figure(
    count: int, panel_w: float, panel_h: float, extra_w: float
) -> tuple[plt.Figure, np.ndarray]:
    """A figure of ``count`` panels laid out by ``grid_shape``, the unused places hidden."""
    nrows, ncols = grid_shape(count, panel_w, panel_h, extra_w=extra_w)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_w * ncols + extra_w, panel_h * nrows + 1.0),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, axes


def log_axis_at(axis, values: list, most: int) -> None:
    """A log axis ticked at the measured values (thinned so labels do not collide)."""
    axis.set_major_locator(FixedLocator(thin(values, most)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def log_seconds_axis(axis) -> None:
    """A log axis of seconds, plainly written, ticked at 1, 2 and 5 times powers of ten (more
    steps when the data spans less than a decade and a half). Call after plotting."""
    low, high = axis.get_data_interval()
    narrow = low > 0 and high / low < 30
    subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if narrow else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=10))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def speedup_limits(values: pd.Series, workers: list[int]) -> tuple[tuple, list[float]]:
    """The limits and power-of-two ticks of a log2 speedup axis showing the positive
    ``values`` (speedups and their CI ends) and the ideal up to the most ``workers``."""
    values = values[values > 0]
    limits = (
        min(0.9, float(values.min()) / 1.15),
        max(max(workers) * 1.2, float(values.max())) * 1.15,
    )
    powers = np.arange(math.ceil(math.log2(limits[0])), math.floor(math.log2(limits[1])) + 1)
    return limits, [float(2.0**k) for k in thin(list(powers), 8)]


def speedup_tick(value: float, _pos=None) -> str:
    """A power-of-two speedup tick: "4×", "0.5×", and "1/16×" below an eighth."""
    if value <= 0:
        return ""
    return f"{value:g}×" if value >= 0.125 else f"1/{round(1 / value)}×"


def strategy_handles(strategies) -> list:
    return [
        Line2D(
            [],
            [],
            color=strategy_color(s),
            marker="o",
            lw=2,
            label="serial loop" if s == BASELINE else s,
        )
        for s in strategies
    ]


def grid_lines(ax: plt.Axes, xs, ys, x_limits, y_limits) -> None:
    """Major grid lines as one collection (``ax.grid`` draws one line per tick)."""
    segments = [[(x, y_limits[0]), (x, y_limits[1])] for x in xs]
    segments += [[(x_limits[0], y), (x_limits[1], y)] for y in ys]
    ax.add_collection(
        LineCollection(segments, colors="#b0b0b0", linewidths=0.8, alpha=0.6, zorder=0.5),
        autolim=False,
    )
