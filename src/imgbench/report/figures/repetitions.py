"""The repetitions figure: every timed repetition of the headline cells (the loop and each
strategy's fastest cell at each task's largest size and n), as boxes and dots.

The repetitions are ``imgbench.analysis.figure_data.repetitions_data``'s; this module draws
them.
"""

from __future__ import annotations

import matplotlib

# Figures are drawn in batch jobs without a display; this must precede importing pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from imgbench.analysis.figure_data import NoData, repetitions_data  # noqa: E402
from imgbench.report.figures.layout import (  # noqa: E402
    fit_to_slide,
    grid_shape,
    log_seconds_axis,
    no_data_figure,
    note,
    panel_title,
    suptitle,
    time_unit,
)
from imgbench.report.figures.style import (  # noqa: E402
    lighten,
    strategy_color,
)

_WHISKER_NOTE = (
    "Box: quartiles; whiskers: furthest points within 1.5 × IQR (Tukey); dots: every repetition"
)


def repetitions_figure(summary: pd.DataFrame, timings: pd.DataFrame, title: str) -> plt.Figure:
    """Every timed repetition of the headline cells (the serial loop and each strategy's
    fastest worker count at each task's largest size and n); ``title``: the registry's."""
    data = repetitions_data(summary, timings)
    if isinstance(data, NoData):
        return no_data_figure(title, data.reason)
    panels = data.panels
    panel_w, panel_h = max(4.0, 0.95 * data.most_boxes + 1.2), 3.6
    nrows, ncols = grid_shape(len(panels), panel_w, panel_h, extra_h=1.4)
    panel_w, panel_h = fit_to_slide(nrows, ncols, panel_w, panel_h, 0.6, 1.2)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_w * ncols + 0.6, panel_h * nrows + 1.2),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    # One generator for the whole figure, so that the jitter of the dots is reproducible.
    rng = np.random.default_rng(0)
    for ax, panel in zip(axes.flat, panels, strict=False):
        _draw_repetitions_panel(ax, data.by_panel[panel], data.boxes[panel], rng)
        panel_title(ax, panel, panel_w)
    suptitle(fig, title)
    note(fig, _WHISKER_NOTE)
    return fig


def _draw_repetitions_panel(ax, reps: pd.DataFrame, boxes: pd.DataFrame, rng) -> None:
    """One panel: a pale box per cell, every repetition as a jittered dot, in ms or s as
    the panel's times read best, on a log axis where they span more than four times."""
    # seaborn here, not at the top: it loads scipy.stats (about a second), and only the
    # process that draws this figure needs it (plot.py draws each figure in its own).
    import seaborn as sns

    unit, scale = time_unit(reps["wall_s"])
    reps = reps.assign(wall=reps["wall_s"] * scale)
    order = list(boxes["label"])
    color_of = dict(zip(boxes["label"], boxes["strategy"].map(strategy_color), strict=True))
    sns.boxplot(
        data=reps,
        x="label",
        y="wall",
        order=order,
        hue="label",
        hue_order=order,
        palette={k: lighten(v, 0.55) for k, v in color_of.items()},
        whis=1.5,
        showfliers=False,
        width=0.6,
        linecolor="#333333",
        legend=False,
        ax=ax,
    )
    position = {label: i for i, label in enumerate(order)}
    x = reps["label"].map(position).to_numpy() + rng.uniform(-0.2, 0.2, len(reps))
    ax.scatter(
        x,
        reps["wall"],
        s=16,
        c=[color_of[label] for label in reps["label"]],
        edgecolors="black",
        linewidths=0.4,
        zorder=3,
    )
    values = reps["wall"]
    if values.min() > 0 and values.max() / values.min() > 4:
        ax.set_yscale("log")
        log_seconds_axis(ax.yaxis)
        ax.set_ylabel(f"wall time per repetition ({unit}, log)")
    else:
        ax.set_ylabel(f"wall time per repetition ({unit})")
    for label in ax.get_xticklabels():
        text = label.get_text()
        label.set_color("black" if text == "serial loop" else color_of.get(text, "black"))
    ax.set_xlabel("")
    ax.grid(True, axis="y", alpha=0.3)
