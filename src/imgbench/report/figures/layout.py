"""Laying out a figure: a grid of panels shaped like a slide's figure box, short titles,
wrapped notes, the footer every figure carries (machine, date of the run, imgbench
version), the "no data" stand-in, and the axes the figures share (log axes ticked at
measured values, time axes in the unit their values read best in, power-of-two speedup axes
and ticks, grid lines as one collection). The panels and their labels are the figures' data
(``imgbench.analysis.views``, ``imgbench.analysis.figure_data``).
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

from imgbench import __version__, words  # noqa: E402
from imgbench.analysis.views import thin  # noqa: E402
from imgbench.analysis.workload_data import RunFacts  # noqa: E402
from imgbench.report.figures.style import (  # noqa: E402
    RC_PARAMS,
    SLIDE_FIGURE_IN,
    strategy_color,
)
from imgbench.vocabulary import BASELINE  # noqa: E402

PANEL_W, PANEL_H = 3.4, 2.7

_SUPTITLE_PT = 12

_NOTE_PT = 9.5

#: The footer's type: the smallest text of a figure, still legible on a slide.
FOOTER_PT = 9

#: The space between the footer and the figure's bottom edge, and above the footer and the
#: note (in points).
_FOOTER_PAD_PT = 3

#: The shape of a slide's figure box (width / height), which grids of panels aim at.
SLIDE_ASPECT = SLIDE_FIGURE_IN[0] / SLIDE_FIGURE_IN[1]


def suptitle(fig: plt.Figure, text: str, size: float = _SUPTITLE_PT) -> None:
    """A figure's short title (the registry's), wrapped only if the figure is narrow."""
    width_in = fig.get_size_inches()[0]
    chars = max(50, int(width_in * 72 / (size * 0.55)))
    fig.suptitle("\n".join(textwrap.wrap(text, chars)), fontsize=size)


def note(fig: plt.Figure, text: str) -> None:
    """An explanatory line under the figure, wrapped to its width (kept in by the layout)."""
    width_in = fig.get_size_inches()[0]
    chars = max(50, int(width_in * 72 / (_NOTE_PT * 0.52)))
    fig.supxlabel("\n".join(textwrap.wrap(text, chars)), fontsize=_NOTE_PT)


def panel_title(ax: plt.Axes, text: str, width_in: float, **kwargs) -> None:
    chars = max(16, int(width_in * 72 / (RC_PARAMS["axes.titlesize"] * 0.55)))
    ax.set_title("\n".join(textwrap.wrap(text, chars)), **kwargs)


def footer_text(facts: RunFacts) -> str:
    """What every figure says about where and when it was measured, and by what:
    "vm: AMD EPYC, 2 usable cores · run of 2026-12-02 00:39 UTC · imgbench 0.1.0"."""
    machines = []
    for host in facts.hosts:
        cores = words.integer(host.usable_cores)
        what = ", ".join(
            part
            for part in (host.cpu_model, f"{cores} usable cores" if cores != words.NA else "")
            if part
        )
        machines.append(f"{host.host}: {what}" if host.host and what else host.host or what)
    parts = ["; ".join(m for m in machines if m) or "machine not recorded"]
    parts.append(
        f"run of {words.utc(facts.finished_unix)}"
        if facts.finished_unix is not None
        else "date not recorded"
    )
    parts.append(f"imgbench {__version__}")
    return " · ".join(parts)


def footer(fig: plt.Figure, text: str) -> None:
    """``text`` in small grey type along the figure's bottom edge, the note (``note``) just
    above it, both in a strip the layout keeps free, as tall as they are drawn (so that
    neither covers the other, a panel or a legend, however many lines the note takes)."""
    renderer = fig.canvas.get_renderer()
    to_figure = fig.transFigure.inverted()
    pad = _FOOTER_PAD_PT / 72 / fig.get_size_inches()[1]
    label = fig.text(0.008, pad, text, ha="left", va="bottom", fontsize=FOOTER_PT, color="#555555")
    # A narrow figure (one panel) cannot hold a long machine name on one line: the footer
    # breaks at its separators, from the last, until it fits (the figure clips nothing).
    parts = text.split(" · ")
    for cut in range(len(parts) - 1, 0, -1):
        if to_figure.transform_bbox(label.get_window_extent(renderer)).x1 <= 0.992:
            break
        label.set_text(" · ".join(parts[:cut]) + "\n" + " · ".join(parts[cut:]))
    top = to_figure.transform_bbox(label.get_window_extent(renderer)).y1 + pad
    # The constrained layout puts a note at the figure's bottom edge whatever its rect, that
    # is over the footer; given its own y, it leaves the note there (and makes no room for
    # it): so the note is set on the footer, and the strip grows by the note's drawn height.
    if fig.get_supxlabel():
        placed = fig.supxlabel(fig.get_supxlabel(), y=top, va="bottom", fontsize=_NOTE_PT)
        top = to_figure.transform_bbox(placed.get_window_extent(renderer)).y1 + pad
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        engine.set(rect=(0, top, 1, 1 - top))


def no_data_figure(title: str, reason: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    ax.axis("off")
    ax.text(0.5, 0.5, f"no data\n{reason}", ha="center", va="center", fontsize=16)
    suptitle(fig, title)
    return fig


def grid_shape(
    count: int, panel_w: float, panel_h: float, extra_w: float = 0.0, extra_h: float = 1.0
) -> tuple[int, int]:
    """Rows and columns for ``count`` panels whose figure is closest to the shape of a
    slide's figure box (``SLIDE_ASPECT``), with few empty places (each costs as much as a
    third too wide or too tall)."""

    def distance(ncols: int) -> float:
        nrows = math.ceil(count / ncols)
        ratio = (panel_w * ncols + extra_w) / (panel_h * nrows + extra_h)
        return abs(math.log(ratio / SLIDE_ASPECT)) + 0.3 * (nrows * ncols - count)

    ncols = min(range(1, max(1, count) + 1), key=distance)
    return math.ceil(count / ncols), ncols


#: How far panels shrink to fit a slide (``fit_to_slide``): below this their text would
#: crowd; a larger grid stays larger than a slide (the deck then lets it scroll).
_MIN_SHRINK = 0.7


def fit_to_slide(
    nrows: int, ncols: int, panel_w: float, panel_h: float, extra_w: float, extra_h: float
) -> tuple[float, float]:
    """A panel's width and height, shrunk (to ``_MIN_SHRINK`` at most) so that a grid of
    ``nrows`` x ``ncols`` with ``extra_w`` / ``extra_h`` inches of legend and titles fits
    ``SLIDE_FIGURE_IN``: the size at which its smallest text stays legible on a slide."""
    room_w, room_h = SLIDE_FIGURE_IN[0] - extra_w, SLIDE_FIGURE_IN[1] - extra_h
    shrink_w = min(1.0, max(_MIN_SHRINK, room_w / (ncols * panel_w)))
    shrink_h = min(1.0, max(_MIN_SHRINK, room_h / (nrows * panel_h)))
    return panel_w * shrink_w, panel_h * shrink_h


def panel_figure(
    count: int, panel_w: float, panel_h: float, extra_w: float
) -> tuple[plt.Figure, np.ndarray, float]:
    """A figure of ``count`` panels laid out by ``grid_shape``, the unused places hidden,
    its panels shrunk to fit a slide where they can (``fit_to_slide``); returns the figure,
    its axes and the panel width used."""
    nrows, ncols = grid_shape(count, panel_w, panel_h, extra_w=extra_w)
    panel_w, panel_h = fit_to_slide(nrows, ncols, panel_w, panel_h, extra_w, 1.0)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_w * ncols + extra_w, panel_h * nrows + 1.0),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, axes, panel_w


def log_axis_at(axis, values: list, most: int) -> None:
    """A log axis ticked at the measured values (thinned so labels do not collide)."""
    axis.set_major_locator(FixedLocator(thin(values, most)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def time_unit(values) -> tuple[str, float]:
    """The unit an axis of times (in seconds) is written in, and the factor to it from
    seconds: one choice per axis, by ``words.time_unit``."""
    unit = words.time_unit(values)
    return unit, words.TIME_UNITS[unit]


def log_seconds_axis(axis) -> None:
    """A log axis of times (in the unit the data was scaled to), plainly written, ticked at
    1, 2 and 5 times powers of ten (more steps when the data spans less than a decade and a
    half). Call after plotting."""
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
