"""The speedup and efficiency figures: each against the worker count, one row of panels
per task (and storage-cache, host), one column per parallel strategy; lines are shades of
the strategy's colour, darker for more images, with bootstrap CI bands, the Amdahl fits
where the table has them, and hollow markers for speedups above their physical bound.

The curves are ``imgbench.analysis.figure_data.scaling_data``'s; this module draws them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import matplotlib

# Figures are drawn in batch jobs without a display; this must precede importing pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedLocator,
    FuncFormatter,
    NullLocator,
)

from imgbench.analysis.figure_data import NoData, ScalingData, scaling_data  # noqa: E402
from imgbench.analysis.frames import flag  # noqa: E402
from imgbench.analysis.views import thin  # noqa: E402
from imgbench.report.figures.layout import (  # noqa: E402
    PANEL_H,
    PANEL_W,
    grid_lines,
    no_data_figure,
    panel_title,
    speedup_limits,
    speedup_tick,
    suptitle,
)
from imgbench.report.figures.style import (  # noqa: E402
    color_shades,
    strategy_color,
)
from imgbench.vocabulary import BASELINE  # noqa: E402

#: Lines per panel of the scaling figures: more shades of one colour are not told apart.
_MAX_SHADES = 6

#: Lines (values of n times sizes) per panel of the scaling figures, beyond which n thins.
_MAX_LINES = 8

_AMDAHL_STYLE = (0, (5, 1.5, 1, 1.5))

_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

_DASHES = ["solid", (0, (4, 2)), (0, (1, 1)), (0, (6, 2, 1, 2)), (0, (3, 1, 1, 1))]


class _LineStyles(NamedTuple):
    """How lines are told apart: a shade of the strategy's colour per value of n (darker for
    more), a marker and a dash per size."""

    shades: dict  # strategy -> one shade per shown value of n
    shade_of: dict  # n -> index into the shades
    size_style: dict  # size -> (marker, dash)

    @classmethod
    def of(cls, data: ScalingData) -> _LineStyles:
        count = len(data.n_values)
        return cls(
            shades={s: color_shades(strategy_color(s), count) for s in data.strategies},
            shade_of={n: i for i, n in enumerate(data.n_values)},
            size_style={
                s: (_MARKERS[i % len(_MARKERS)], _DASHES[i % len(_DASHES)])
                for i, s in enumerate(data.sizes)
            },
        )


def scaling_figure(
    frame: pd.DataFrame,
    title: str,
    metric: str,
    amdahl: pd.DataFrame | None = None,
    verdicts: pd.DataFrame | None = None,
) -> plt.Figure:
    """Speedup or efficiency against workers: rows are panels, columns parallel strategies.

    Lines are shades of the strategy's colour, darker for more images (at most
    ``_MAX_SHADES`` values of n and ``_MAX_LINES`` lines a panel, evenly picked); bands are
    the bootstrap CI; ``amdahl`` (``amdahl_speedup`` over a fine grid) adds thin fitted
    curves. Each panel draws a few collections, not one artist per line, so that large grids
    stay fast. ``title``: the registry's short title (the method is in its caption).
    """
    data = scaling_data(frame, metric, amdahl, verdicts, _MAX_SHADES, _MAX_LINES)
    if isinstance(data, NoData):
        return no_data_figure(title, data.reason)
    panels, strategies = data.panels, data.strategies
    fig, axes = plt.subplots(
        len(panels),
        len(strategies),
        figsize=(PANEL_W * len(strategies) + 2.6, PANEL_H * len(panels) + 1.0),
        squeeze=False,
        layout="constrained",
    )
    styles = _LineStyles.of(data)
    x_grid = np.geomspace(min(data.workers) / 1.2, max(data.workers) * 1.2, 40)
    for r, panel in enumerate(panels):
        ceiling = _panel_ceiling(data, panel)
        for c, strategy in enumerate(strategies):
            _draw_scaling_panel(axes[r][c], data, panel, strategy, ceiling, x_grid, styles)
    _set_scaling_axes(axes, data)
    fig.legend(
        handles=_scaling_legend(data, styles),
        loc="outside right center",
        frameon=False,
        title=_scaling_legend_title(data),
    )
    suptitle(fig, title)
    return fig


def _panel_ceiling(data: ScalingData, panel: str) -> int | None:
    """The panel's usable cores, drawn as a ceiling unless far beyond the worker axis."""
    ceiling = data.panel_cores.get(panel, math.nan)
    if math.isfinite(ceiling) and ceiling <= max(data.workers) * 2:
        return int(ceiling)
    return None


def _draw_scaling_panel(
    ax, data: ScalingData, panel: str, strategy: str, ceiling, x_grid, styles: _LineStyles
) -> None:
    """One panel: the ideal, the loop and the ceiling, then the strategy's lines and fits."""
    is_speedup = data.metric == "speedup"
    panel_title(ax, f"{panel} — {strategy}", PANEL_W)
    ax.spines["top"].set(color=strategy_color(strategy), linewidth=4)
    if is_speedup:
        ax.plot(x_grid, x_grid, "k--", lw=1)
        ax.axhline(1.0, color=strategy_color(BASELINE), lw=1.2)
    else:
        ax.axhline(1.0, color="k", ls="--", lw=1)
    if ceiling is not None:
        ax.axvline(ceiling, color="k", ls=":", lw=1.2)
        if is_speedup:
            ax.axhline(ceiling, color="k", ls=":", lw=1.2)
        else:
            ax.plot(x_grid, np.minimum(1.0, ceiling / x_grid), "k:", lw=1.2)
    cell = data.lines.get((panel, strategy))
    if cell is None:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
        return
    shades = styles.shades[strategy]
    draw_lines(
        ax,
        cell,
        data.metric,
        data.low_col,
        data.high_col,
        shades,
        styles.shade_of,
        styles.size_style,
    )
    fits = data.fits.get((panel, strategy))
    if fits is not None:
        segments = [f[["workers", "speedup"]].to_numpy() for _key, f in fits]
        colors = [shades[styles.shade_of[n]] for (n, _size), _f in fits]
        ax.add_collection(
            LineCollection(
                segments, colors=colors, linewidths=1, linestyles=[_AMDAHL_STYLE], alpha=0.9
            ),
            autolim=False,
        )


def _scaling_y_axis(data: ScalingData) -> tuple[tuple, list, FuncFormatter]:
    """The y limits, ticks and tick labels: log2 speedups, or efficiencies in percent."""
    rows = data.rows
    if data.metric == "speedup":
        values = pd.concat([rows["speedup"], rows[data.low_col], rows[data.high_col]])
        limits, ticks = speedup_limits(values, data.workers)
        return limits, ticks, FuncFormatter(speedup_tick)
    values = rows[data.metric]
    # A CI end far above every efficiency is cut rather than squashing the lines.
    tops = pd.concat([values, rows[data.high_col].clip(upper=3 * values.max())])
    limits = (0.0, max(1.1, float(tops.max()) * 1.08))
    step = 0.2 if limits[1] <= 1.6 else 0.5 if limits[1] <= 4 else 1.0
    return limits, list(np.arange(0.0, limits[1], step)), FuncFormatter(lambda v, _pos: f"{v:.0%}")


def _set_scaling_axes(axes: np.ndarray, data: ScalingData) -> None:
    """The same limits and ticks everywhere, and the axis labels of the outer panels."""
    # Set per panel: sharing axes across a large grid makes every change visit every
    # sibling. Only the outer panels get ticks (labels); every panel gets its grid as one
    # collection, since ticks and per-tick grid lines are most of the drawing time of a
    # large grid.
    is_speedup = data.metric == "speedup"
    y_limits, y_ticks, y_format = _scaling_y_axis(data)
    workers = data.workers
    x_ticks = thin(workers, 7)
    pad = 2**0.25
    x_limits = (min(workers) / pad, max(workers) * pad)
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        if is_speedup:
            ax.set_yscale("log", base=2)
        ax.set_xlim(*x_limits)
        ax.set_ylim(*y_limits)
        spec = ax.get_subplotspec()
        for axis, ticks, outer in (
            (ax.xaxis, x_ticks, spec.is_last_row()),
            (ax.yaxis, y_ticks, spec.is_first_col()),
        ):
            axis.set_major_locator(FixedLocator(ticks) if outer else NullLocator())
            axis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.yaxis.set_major_formatter(y_format)
        grid_lines(ax, x_ticks, y_ticks, x_limits, y_limits)
    ylabel = "speedup vs serial loop (×)" if is_speedup else "efficiency (speedup / workers)"
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    for ax in axes[-1, :]:
        ax.set_xlabel("workers (log₂ scale)")


def _scaling_legend(data: ScalingData, styles: _LineStyles) -> list:
    """Shades of n, sizes, band, fits and hollow markers where drawn, the reference lines."""
    is_speedup = data.metric == "speedup"
    grey = color_shades("#6e6e6e", len(data.n_values))
    handles = [
        Line2D([], [], color=grey[i], marker="o", lw=1.8, label=f"{int(n)} images")
        for i, n in enumerate(data.n_values)
    ]
    if len(data.sizes) > 1:
        handles += [
            Line2D([], [], color="k", marker=marker, ls=dash, label=size)
            for size, (marker, dash) in ((s, styles.size_style[s]) for s in data.sizes)
        ]
    if data.has_band:
        handles.append(Patch(color="#6e6e6e", alpha=0.25, label="95% bootstrap CI"))
    if data.fits:
        handles.append(Line2D([], [], color="#6e6e6e", lw=1, ls=_AMDAHL_STYLE, label="Amdahl fit"))
    if data.any_above:
        label = "hollow: above the physical\nbound (workers, usable cores):\nnot a finding"
        handles.append(
            Line2D(
                [], [], ls="", marker="o", ms=7, mfc="white", mec="#6e6e6e", mew=1.6, label=label
            )
        )
    ideal = "ideal: speedup = workers" if is_speedup else "ideal: 100% efficiency"
    handles.append(Line2D([], [], color="k", ls="--", lw=1, label=ideal))
    if is_speedup:
        handles.append(Line2D([], [], color=strategy_color(BASELINE), lw=1.2, label="serial loop"))
    if data.cores:
        label = "usable cores = " + ", ".join(str(c) for c in data.cores)
        if max(data.cores) > max(data.workers) * 2:
            label += " (off the axis)"
        else:
            label += "\n(ceiling: " + ("speedup ≤ cores)" if is_speedup else "cores / workers)")
        handles.append(Line2D([], [], color="k", ls=":", lw=1.2, label=label))
    return handles


def _scaling_legend_title(data: ScalingData) -> str:
    title = "colour: strategy\nshade: n (darker = more)"
    if len(data.n_values) < data.n_count:
        title += f"\n{len(data.n_values)} of {data.n_count} values of n shown"
    return title


def draw_lines(ax, cell, metric, low_col, high_col, shades, shade_of, size_style) -> None:
    """One panel's lines (one per n and size), CI bands and markers, as a few collections."""
    segments, colors, styles, bands, band_colors = [], [], [], [], []
    whiskers, whisker_colors = [], []  # a band needs two points; a lone point gets a bar
    points: dict[str, list] = {}
    hollow: dict[str, list] = {}  # speedups above their physical bound
    for (n, size), line in cell:
        x = line["workers"].to_numpy()
        y = line[metric].to_numpy()
        above = (
            flag(line, "above_bound").to_numpy(bool)
            if "above_bound" in line.columns
            else np.zeros(len(line), bool)
        )
        shade = shades[shade_of[n]]
        marker, style = size_style[size]
        segments.append(np.column_stack([x, y]))
        colors.append(shade)
        styles.append(style)
        points.setdefault(marker, []).append((x[~above], y[~above], shade))
        if above.any():
            hollow.setdefault(marker, []).append((x[above], y[above], shade))
        low, high = line[low_col].to_numpy(), line[high_col].to_numpy()
        ok = np.isfinite(low) & np.isfinite(high) & (low > 0)
        if ok.sum() >= 2:
            outline = np.column_stack([np.r_[x[ok], x[ok][::-1]], np.r_[low[ok], high[ok][::-1]]])
            bands.append(outline)
            band_colors.append(shade)
        elif ok.sum() == 1:
            whiskers.append([(x[ok][0], low[ok][0]), (x[ok][0], high[ok][0])])
            whisker_colors.append(shade)
    if bands:
        ax.add_collection(
            PolyCollection(bands, facecolors=band_colors, alpha=0.2, lw=0), autolim=False
        )
    if whiskers:
        ax.add_collection(
            LineCollection(whiskers, colors=whisker_colors, linewidths=3, alpha=0.35),
            autolim=False,
        )
    ax.add_collection(
        LineCollection(segments, colors=colors, linestyles=styles, linewidths=1.8),
        autolim=False,
    )
    for marker, rows in points.items():
        x = np.concatenate([r[0] for r in rows])
        y = np.concatenate([r[1] for r in rows])
        c = [r[2] for r in rows for _ in range(len(r[0]))]
        ax.scatter(x, y, c=c, marker=marker, s=22, zorder=3, linewidths=0)
    for marker, rows in hollow.items():
        x = np.concatenate([r[0] for r in rows])
        y = np.concatenate([r[1] for r in rows])
        c = [r[2] for r in rows for _ in range(len(r[0]))]
        ax.scatter(
            x, y, facecolors="white", edgecolors=c, marker=marker, s=46, zorder=4, linewidths=1.6
        )
