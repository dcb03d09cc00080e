"""The absolute time figure: median wall time against the number of images (log-log), each
strategy at its fastest worker count for that n, marked where the tables say it starts to
pay off (``payoff_n``).

The lines and payoffs are ``imgbench.analysis.figure_data.time_vs_n_data``'s; this module
draws them.
"""

from __future__ import annotations

import math

import matplotlib

# Figures are drawn in batch jobs without a display; this must precede importing pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from imgbench.analysis.figure_data import NoData, Payoff, TimeVsNData, time_vs_n_data  # noqa: E402
from imgbench.report.figures.layout import (  # noqa: E402
    log_axis_at,
    log_seconds_axis,
    no_data_figure,
    panel_figure,
    panel_title,
    strategy_handles,
    suptitle,
    time_unit,
)
from imgbench.report.figures.style import (  # noqa: E402
    strategy_color,
)
from imgbench.vocabulary import BASELINE  # noqa: E402


def time_vs_n_figure(
    summary: pd.DataFrame, title: str, verdicts: pd.DataFrame | None = None
) -> plt.Figure:
    """Median time against n (log-log), each strategy at its fastest worker count for that
    n, with the CI of the median, in ms or s as the data reads best; ``title``: the
    registry's short title."""
    data = time_vs_n_data(summary, verdicts)
    if isinstance(data, NoData):
        return no_data_figure(title, data.reason)
    panels, n_values = data.panels, data.n_values
    panel_w, panel_h = 4.0, 3.2 + 0.2 * (len(data.strategies) - 1)
    fig, axes, panel_w = panel_figure(len(panels), panel_w, panel_h, extra_w=2.4)
    for ax, panel in zip(axes.flat, panels, strict=False):
        panel_title(ax, panel, panel_w)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
        # Each panel has its own axis of times, in the unit its times read best in.
        lines = [line for (p, _s), line in data.lines.items() if p == panel]
        unit, scale = time_unit(pd.concat([line["median_s"] for line in lines]))
        _draw_time_lines(ax, data, panel, scale)
        ax.set_ylabel(f"median time ({unit}, log)")
        payoffs = data.payoffs.get(panel)
        if payoffs is not None:
            _mark_payoffs(ax, data, panel, payoffs, scale)
    for ax in axes.flat[: len(panels)]:
        log_axis_at(ax.xaxis, n_values, 6)
        ax.set_xlim(min(n_values) / 1.3, max(n_values) * 1.3)
        ax.set_xlabel("images (log)")
        log_seconds_axis(ax.yaxis)
    fig.legend(handles=_time_legend(data), loc="outside right center", frameon=False)
    suptitle(fig, title)
    return fig


def _draw_time_lines(ax, data: TimeVsNData, panel: str, scale: float) -> None:
    """Each strategy's median time against n (seconds times ``scale``: the axis' unit), the
    loop bolder, with CI bars."""
    for strategy in data.strategies:
        line = data.lines.get((panel, strategy))
        if line is None:
            continue
        is_loop = strategy == BASELINE
        color = strategy_color(strategy)
        ax.plot(
            line["n_images"],
            line["median_s"] * scale,
            color=color,
            marker="s" if is_loop else "o",
            ms=5,
            lw=2.6 if is_loop else 1.6,
            zorder=3 if is_loop else 2,
        )
        if data.has_ci:
            # One collection per line: error bars without caps draw far faster.
            ax.vlines(
                line["n_images"],
                line["ci_low_s"].fillna(line["median_s"]) * scale,
                line["ci_high_s"].fillna(line["median_s"]) * scale,
                colors=color,
                lw=1.2,
                zorder=3 if is_loop else 2,
            )


def _mark_payoffs(ax, data: TimeVsNData, panel: str, payoffs: list[Payoff], scale: float) -> None:
    """A ring where each strategy starts to pay off, and a line per strategy under the axis."""
    for payoff in payoffs:
        if math.isfinite(payoff.n):
            ax.scatter(
                [payoff.n],
                [payoff.median_s * scale],
                s=130,
                facecolors="none",
                edgecolors=strategy_color(payoff.strategy),
                linewidths=1.6,
                zorder=4,
            )
    # Under the axis, clear of the lines; the layout makes room for it.
    for i, payoff in enumerate(payoffs):
        text = (
            f"{payoff.strategy}: faster from n = {int(payoff.n)}"
            if math.isfinite(payoff.n)
            else f"{payoff.strategy}: never shown faster"
        )
        ax.annotate(
            text,
            xy=(0, 0),
            xycoords="axes fraction",
            xytext=(0, -34 - 12 * i),
            textcoords="offset points",
            va="top",
            fontsize=9,
            color=strategy_color(payoff.strategy),
        )


def _time_legend(data: TimeVsNData) -> list:
    faster = (
        "\nfaster: the tables' verdict\n(significant, within the\nphysical bound, not withheld)"
        if data.judged
        else "\nfaster: a lower median"
    )
    ring = Line2D(
        [],
        [],
        ls="",
        marker="o",
        ms=11,
        mfc="none",
        mec="k",
        label="from here on faster\nthan the serial loop\n(n listed under each panel)" + faster,
    )
    return [*strategy_handles(data.strategies), ring]
