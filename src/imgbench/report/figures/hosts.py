"""The hosts figure, drawn only for results of several hosts: each host's speedup curves in
its own column, one row per workload, on shared axes, each against its own serial loop.

The curves are ``imgbench.analysis.figure_data.hosts_data``'s; this module draws them.
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
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedLocator,
    FuncFormatter,
)

from imgbench.analysis.figure_data import HostsData, NoData, hosts_data  # noqa: E402
from imgbench.analysis.views import thin  # noqa: E402
from imgbench.report.figures.layout import (  # noqa: E402
    PANEL_H,
    PANEL_W,
    grid_lines,
    no_data_figure,
    speedup_limits,
    speedup_tick,
    strategy_handles,
    suptitle,
)
from imgbench.report.figures.scaling import draw_lines  # noqa: E402
from imgbench.report.figures.style import (  # noqa: E402
    RC_PARAMS,
    strategy_color,
)
from imgbench.vocabulary import BASELINE  # noqa: E402


def hosts_figure(
    speedup: pd.DataFrame, timings: pd.DataFrame, hosts: list[str], title: str
) -> plt.Figure:
    """Each host's speedup curves in its own column, one row per workload, on shared axes,
    so that hosts compare at a glance (each against its own serial loop); ``title``: the
    registry's short title."""
    data = hosts_data(speedup, timings)
    if isinstance(data, NoData):
        return no_data_figure(title, data.reason)
    workloads = data.workloads
    fig, axes = plt.subplots(
        len(workloads),
        len(hosts),
        figsize=(PANEL_W * len(hosts) + 2.6, PANEL_H * len(workloads) + 1.4),
        squeeze=False,
        layout="constrained",
    )
    x_grid = np.geomspace(min(data.workers) / 1.2, max(data.workers) * 1.2, 40)
    for r, workload in enumerate(workloads):
        for c, host in enumerate(hosts):
            ax = axes[r][c]
            _host_panel_title(ax, data, host, workload, first_row=r == 0)
            _draw_host_panel(ax, data, host, workload, x_grid)
    _set_host_axes(axes, data)
    handles = strategy_handles(data.strategies)
    handles += [
        Patch(color="#6e6e6e", alpha=0.25, label="95% bootstrap CI"),
        Line2D([], [], color="k", ls="--", lw=1, label="ideal: speedup = workers"),
        Line2D([], [], color=strategy_color(BASELINE), lw=1.2, label="serial loop (1×)"),
        Line2D([], [], color="k", ls=":", lw=1.2, label="the host's usable cores"),
    ]
    fig.legend(handles=handles, loc="outside right center", frameon=False, title="strategy")
    suptitle(fig, title)
    return fig


def _host_panel_title(ax, data: HostsData, host: str, workload: str, first_row: bool) -> None:
    """The host and the workload; in the first row, the host's CPU and usable cores too."""
    parts = [host, workload]
    if first_row:
        cores = data.cores_of.get(host, math.nan)
        cores_text = f", {int(cores)} usable cores" if math.isfinite(cores) else ""
        parts.insert(1, f"{data.cpu_of.get(host, 'CPU n/a')}{cores_text}")
    # Wrapped part by part: the host, its CPU and the workload each start a line.
    chars = max(16, int(PANEL_W * 72 / (RC_PARAMS["axes.titlesize"] * 0.55)))
    ax.set_title("\n".join(textwrap.fill(part, chars) for part in parts))


def _draw_host_panel(ax, data: HostsData, host: str, workload: str, x_grid) -> None:
    """The ideal, the loop, the host's cores, then one line per strategy in its colour."""
    ax.plot(x_grid, x_grid, "k--", lw=1)
    ax.axhline(1.0, color=strategy_color(BASELINE), lw=1.2)
    cores = data.cores_of.get(host, math.nan)
    if math.isfinite(cores) and cores <= max(data.workers) * 2:
        ax.axvline(cores, color="k", ls=":", lw=1.2)
        ax.axhline(cores, color="k", ls=":", lw=1.2)
    drawn = False
    for strategy in data.strategies:
        line = data.lines.get((workload, host, strategy))
        if line is None:
            continue
        key = (line["n_images"].iloc[0], "")
        color = [to_rgb(strategy_color(strategy))]
        styles = {"": ("o", "solid")}
        draw_lines(
            ax,
            [(key, line)],
            "speedup",
            "speedup_ci_low",
            "speedup_ci_high",
            color,
            {key[0]: 0},
            styles,
        )
        drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")


def _set_host_axes(axes: np.ndarray, data: HostsData) -> None:
    """Log2 axes with the same limits and ticks in every panel, labelled at the edges."""
    rows = data.rows
    values = pd.concat([rows["speedup"], rows["speedup_ci_low"], rows["speedup_ci_high"]])
    y_limits, y_ticks = speedup_limits(values, data.workers)
    x_ticks = thin(data.workers, 7)
    x_limits = (min(data.workers) / 2**0.25, max(data.workers) * 2**0.25)
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlim(*x_limits)
        ax.set_ylim(*y_limits)
        ax.xaxis.set_major_locator(FixedLocator(x_ticks))
        ax.yaxis.set_major_locator(FixedLocator(y_ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.yaxis.set_major_formatter(FuncFormatter(speedup_tick))
        grid_lines(ax, x_ticks, y_ticks, x_limits, y_limits)
    for ax in axes[:, 0]:
        ax.set_ylabel("speedup vs the host's serial loop (×)")
    for ax in axes[-1, :]:
        ax.set_xlabel("workers (log₂ scale)")
