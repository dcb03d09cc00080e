"""The outputs of comparing two result sets: the tables, the figure and the text summary.

``imgbench.analysis.compare`` matches the cells and tests each change; this module writes
what it found (``comparison.csv``, ``unmatched.csv`` and ``comparison.png``/``.svg``) and
says it in plain text (``format_table``). The figure shows, per changed cell, the ratio
B / A with its CI whisker on a log₂ axis, and below it how all matched cells moved; which
cells and what range it draws come from ``imgbench.analysis.compare.comparison_data``.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from imgbench import words
from imgbench.analysis.compare import (
    FASTER,
    MAX_FIGURE_ROWS,
    SLOWER,
    UNCHANGED,
    ComparisonData,
    comparison_data,
    varies,
)
from imgbench.analysis.figure_data import NoData
from imgbench.files import write_atomic
from imgbench.report.figures.style import RC_PARAMS, save_figure, strategy_color

_SIGNIFICANT_GREY, _NOT_SIGNIFICANT_GREY = "#333333", "#bbbbbb"
_RATIO_LABEL = "◀ B faster     median wall time B / A (log₂ scale)     B slower ▶"


def write_comparison(matched: pd.DataFrame, unmatched: pd.DataFrame, output_dir: Path) -> None:
    """Write ``comparison.csv`` (every matched cell), ``unmatched.csv`` (cells in one set
    only, ``only_in`` = "A" or "B") and ``comparison.png``/``.svg`` to ``output_dir``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(output_dir / "comparison.csv", matched.to_csv(index=False).encode())
    write_atomic(output_dir / "unmatched.csv", unmatched.to_csv(index=False).encode())
    with plt.rc_context(RC_PARAMS):
        save_figure(comparison_figure(matched), output_dir, "comparison")


# --- text ------------------------------------------------------------------------------


def _ratio(value: float, low: float, high: float, times: str = "x") -> str:
    if not math.isfinite(value):
        return "n/a"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{value:.2f}{times}"
    return f"{value:.2f}{times} ({low:.2f}-{high:.2f})"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "p=n/a"
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def _tests(df: pd.DataFrame) -> str:
    """The tests behind a table's p-values, in words."""
    used = set(df["test"]) if "test" in df and len(df) else {"Mann-Whitney"}
    names = {"Mann-Whitney": "Mann-Whitney U", "rounds t": "t-test over rounds"}
    return " or ".join(names.get(t, str(t)) for t in sorted(used))


def format_table(df: pd.DataFrame, limit: int = 20) -> str:
    """The significant changes as plain text, largest first, then a line of counts.

    One line per cell: ``decode 1280x960 n128 threads x2: 375 ms -> 512 ms, 1.37x
    (1.30-1.45), p=0.002, slower`` (ratio = B / A with its CI). At most ``limit`` cells are
    listed; the rest are counted.
    """
    attrs = df.attrs
    alpha = attrs.get("alpha", 0.05)
    lines = []
    if "label_a" in attrs:
        lines += [f"A = {attrs['label_a']}", f"B = {attrs['label_b']}"]
    with_storage = varies(df)
    if len(df) and not with_storage:
        lines.append(f"all cells: {df['storage'].iloc[0]} storage, {df['cache'].iloc[0]} cache")
    changed = df[df["significant"].astype(bool)] if len(df) else df
    if len(changed):
        changed = changed.assign(_size=np.abs(np.log(changed["ratio"].astype(float))))
        changed = changed.sort_values("_size", ascending=False, kind="stable")
        lines.append(
            f"Significant changes of the median wall time, B / A (>1: B slower), "
            f"{1 - alpha:.0%} bootstrap CI, p < {alpha:g} ({_tests(df)}):"
        )
        for _, row in changed.head(limit).iterrows():
            lines.append(
                f"  {words.cell_key(row, with_storage)}: {words.duration(row['median_a_s'])} -> "
                f"{words.duration(row['median_b_s'])}, "
                f"{_ratio(row['ratio'], row['ratio_ci_low'], row['ratio_ci_high'])}, "
                f"{_p(row['mannwhitney_p'])}, {row['change']}"
            )
        if len(changed) > limit:
            lines.append(f"  ... and {len(changed) - limit} more (see comparison.csv)")
    elif len(df):
        lines.append(f"No cell changed significantly (p < {alpha:g} and the CI excluding 1).")
    counts = df["change"].value_counts() if len(df) else pd.Series(dtype=int)
    summary = (
        f"{len(df)} cell{'' if len(df) == 1 else 's'} compared: {counts.get(SLOWER, 0)} slower, "
        f"{counts.get(FASTER, 0)} faster, {counts.get(UNCHANGED, 0)} without significant change"
    )
    untestable = int(((df["n_a"] < 2) | (df["n_b"] < 2)).sum()) if len(df) else 0
    if untestable:
        summary += f" ({untestable} with fewer than 2 repetitions: not testable)"
    only = [
        f"{attrs[key]} only in {side}"
        for key, side in (("only_in_a", "A"), ("only_in_b", "B"))
        if attrs.get(key)
    ]
    if only:
        summary += "; " + ", ".join(only)
    lines.append(summary)
    return "\n".join(lines)


# --- figure ----------------------------------------------------------------------------

# Ratio ticks from fine to coarse; the finest list that gives few enough ticks is used.
_TICK_SETS = (
    (0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0),
    (0.25, 0.33, 0.5, 0.67, 1.0, 1.5, 2.0, 3.0, 4.0),
    tuple(2.0**k for k in range(-12, 13)),
    tuple(4.0**k for k in range(-8, 9)),
)


def _ratio_axis(ax: plt.Axes, low: float, high: float) -> None:
    ax.set_xscale("log", base=2)
    # At least 0.93x-1.08x, so that an axis of unchanged cells still has readable ticks.
    low, high = min(low, 1 / 1.08), max(high, 1.08)
    pad = (math.log2(high) - math.log2(low)) * 0.06 + 0.05
    low, high = low / 2**pad, high * 2**pad
    for ticks in _TICK_SETS:
        inside = [t for t in ticks if low <= t <= high]
        if 3 <= len(inside) <= 10 or ticks is _TICK_SETS[-1]:
            break
    ax.xaxis.set_major_locator(FixedLocator(inside))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.3g}×"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(low, high)


def _shown(data: ComparisonData) -> str:
    """Which cells the rows are, in words."""
    if data.shown == "none":
        return "no significant change"
    if data.shown == "all":
        return "all matched cells; filled: significant change, hollow: not"
    if data.shown == "largest":
        return (
            f"the {MAX_FIGURE_ROWS} largest of {data.n_significant} significant changes "
            "(all in comparison.csv)"
        )
    return f"the {len(data.rows)} significant changes"


def comparison_figure(matched: pd.DataFrame) -> plt.Figure:
    """Per changed cell, B / A with its CI whisker on a log₂ axis; below, all cells' ratios."""
    attrs = matched.attrs
    alpha = attrs.get("alpha", 0.05)
    title = (
        "Median wall time, B / A per cell (>1: B slower)\n"
        f"A = {attrs.get('label_a', 'A')}\nB = {attrs.get('label_b', 'B')}"
    )
    data = comparison_data(matched)
    if isinstance(data, NoData):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"no data\n{data.reason}", ha="center", va="center", fontsize=16)
        fig.suptitle(title, fontsize=11)
        return fig

    n_rows = max(len(data.rows), 1)
    # Below the rows, a histogram of every matched cell, unless the rows already show them all.
    all_shown = data.all_shown
    row_height = 0.27 * n_rows + 0.8
    fig, axes = plt.subplots(
        1 if all_shown else 2,
        1,
        figsize=(11, row_height + (1.6 if all_shown else 3.4)),
        height_ratios=[row_height] if all_shown else [row_height, 1.6],
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    ax = axes[0][0]
    _ratio_axis(ax, data.low, data.high)
    _draw_rows(ax, data, alpha)
    _legend(fig, data)
    if not all_shown:
        _ratio_histogram(axes[1][0], data.cells)
    fig.suptitle(title, fontsize=11)
    fig.text(
        0.5,
        0.0,
        f"Dot: ratio of medians B / A. Whisker: {1 - alpha:.0%} percentile bootstrap CI over "
        f"both sets' repetitions (rounds, then repetitions, where both ran several rounds). "
        f"Significant: p < {alpha:g} ({_tests(matched)}) and the CI excludes 1.",
        ha="center",
        va="top",
        fontsize=8.5,
    )
    return fig


def _draw_rows(ax: plt.Axes, data: ComparisonData, alpha: float) -> None:
    """One row per drawn cell: its ratio and CI whisker, labelled on the left with the cell
    and on the right with the numbers."""
    rows = data.rows
    y = np.arange(len(rows))[::-1]
    for yi, (_, row) in zip(y, rows.iterrows(), strict=True):
        _draw_row(ax, yi, row)
    ax.axvline(1.0, color="k", lw=1.1, zorder=0)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_yticks(y, [words.cell_key(r, data.with_storage, times="×") for _, r in rows.iterrows()])
    ax.grid(True, axis="x", alpha=0.3)
    ax.tick_params(axis="x", labelbottom=True)
    # Separate tasks, since rows are grouped by task.
    tasks = rows["task"].to_numpy()
    for i in range(1, len(tasks)):
        if tasks[i] != tasks[i - 1]:
            ax.axhline(y[i] + 0.5, color="k", lw=0.6, alpha=0.5)
    # The numbers, on the right: a second y axis keeps them inside the layout.
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(
        y,
        [
            f"{_ratio(r['ratio'], r['ratio_ci_low'], r['ratio_ci_high'], '×')}  "
            f"{_p(r['mannwhitney_p'])}"
            for _, r in rows.iterrows()
        ],
    )
    right.tick_params(axis="y", length=0)
    ax.set_xlabel(_RATIO_LABEL)
    ax.set_title(f"Shown: {_shown(data)}", fontsize=9)
    if rows.empty:
        ax.text(
            0.5,
            0.5,
            f"no cell changed significantly (p < {alpha:g} and the CI excluding 1)",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            bbox={"facecolor": "white", "edgecolor": "none"},
        )
        ax.set_yticks([])
        right.set_yticks([])


def _draw_row(ax: plt.Axes, yi: float, row: pd.Series) -> None:
    """A cell's ratio as a dot (filled if significant) and its CI as a whisker."""
    significant = bool(row["significant"])
    color = strategy_color(str(row["strategy"])) if significant else "#999999"
    ratio = float(row["ratio"])
    lo, hi = float(row["ratio_ci_low"]), float(row["ratio_ci_high"])
    if math.isfinite(lo) and math.isfinite(hi):
        ax.plot([lo, hi], [yi, yi], color=color, lw=1.6, solid_capstyle="butt")
        ax.plot([lo, hi], [yi, yi], "|", color=color, ms=7)
    ax.plot(ratio, yi, "o", ms=6.5, color=color, mfc=color if significant else "white", mew=1.4)


def _legend(fig: plt.Figure, data: ComparisonData) -> None:
    """The significant rows' strategies, hollow for not significant, and the 1× line."""
    handles = [
        Line2D([], [], color=strategy_color(s), marker="o", lw=1.6, label=s)
        for s in data.strategies
    ]
    if data.has_not_significant:
        handles.append(
            Line2D(
                [], [], color="#999999", marker="o", mfc="white", lw=1.6, label="not significant"
            )
        )
    handles.append(Line2D([], [], color="k", lw=1.1, label="1×: no change"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False)


def _ratio_histogram(hist: plt.Axes, finite: pd.DataFrame) -> None:
    """All matched cells: how the whole set moved, significant cells stacked dark."""
    log_ratio = np.log2(finite["ratio"].to_numpy(float))
    is_significant = finite["significant"].to_numpy(bool)
    lo_edge, hi_edge = np.log2(hist.get_xlim())
    bins = 2.0 ** np.linspace(lo_edge, hi_edge, 41)
    hist.hist(
        [2.0 ** log_ratio[is_significant], 2.0 ** log_ratio[~is_significant]],
        bins=bins,
        stacked=True,
        color=[_SIGNIFICANT_GREY, _NOT_SIGNIFICANT_GREY],
        label=["significant", "not significant"],
    )
    hist.axvline(1.0, color="k", lw=1.1)
    hist.set_ylabel("cells")
    hist.set_title(f"All {len(finite)} matched cells", fontsize=9)
    hist.legend(loc="best", frameon=False, fontsize=8)
    hist.set_xlabel(_RATIO_LABEL)
    hist.grid(True, axis="x", alpha=0.3)
