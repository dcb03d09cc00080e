"""Compare two result sets cell by cell: which cells got significantly slower or faster.

Two experiment directories (another machine, another library version, before and after a
change) are read from their ``timings.csv`` only. Cells are matched on what was measured,
(task, storage, cache, width, height, n_images, strategy, workers), never on the experiment
name or the host, so that runs named differently still line up. For each cell in both sets
the ratio of median wall times B / A (> 1: B is slower) gets a percentile bootstrap CI
and a two-sided p-value; a cell changed significantly when p < alpha *and* the ratio's CI,
at level 1 - alpha, excludes 1. When both sets ran the cell in several rounds (separate
jobs), rounds are the unit: the CI is a hierarchical bootstrap (rounds, then repetitions
within them) and the p-value a Welch t-test of the cell's mean log time per round, with
each set's job-to-job variance pooled over its cells (the spread of a cell's rounds around
its mean, which includes drift of the machine between rounds). Otherwise the CI resamples
repetitions and the p-value is a Mann-Whitney U over them.

Each cell is tested on its own: with many cells, some unchanged ones will pass the test by
chance (about alpha of them by the p-value alone), so a lone small change among thousands
deserves a rerun before it is believed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from scipy import stats as sps

from imgbench.analysis.stats import hierarchical_speedup_cis, mann_whitney_p, speedup_ci
from imgbench.errors import ImgbenchError
from imgbench.files import write_atomic
from imgbench.report.plots import RC_PARAMS, save_figure, strategy_color, strategy_order

#: What identifies a cell across result sets: the experiment name and host are left out.
KEY = ["task", "storage", "cache", "width", "height", "n_images", "strategy", "workers"]
COLUMNS = [
    *KEY,
    "n_a",
    "n_b",
    "median_a_s",
    "median_b_s",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "mannwhitney_p",
    "test",
    "rounds_a",
    "rounds_b",
    "significant",
    "change",
    "host_a",
    "host_b",
]
UNMATCHED_COLUMNS = [*KEY, "only_in", "n", "median_s", "host"]
SLOWER, FASTER, UNCHANGED = "slower", "faster", "no significant change"
#: Rows drawn with whiskers in the figure; the rest are in comparison.csv.
MAX_FIGURE_ROWS = 40
_SIGNIFICANT_GREY, _NOT_SIGNIFICANT_GREY = "#333333", "#bbbbbb"
_RATIO_LABEL = "◀ B faster     median wall time B / A (log₂ scale)     B slower ▶"


def _read_timings(directory: Path) -> pd.DataFrame:
    path = Path(directory) / "timings.csv"
    if not path.is_file():
        raise ImgbenchError(
            f"{path}: missing result table (give an experiment's result directory, "
            "e.g. results/load, after `imgbench aggregate`)"
        )
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=[*KEY, "wall_s"])
    missing = [c for c in [*KEY, "wall_s"] if c not in frame.columns]
    if missing and not frame.empty:
        raise ImgbenchError(f"{path}: not a timings table, missing columns {', '.join(missing)}")
    if missing:
        return pd.DataFrame(columns=[*KEY, "wall_s"])
    return frame[frame["wall_s"].notna()]


def _cells(timings: pd.DataFrame) -> dict[tuple, dict]:
    """Per cell key: its wall times, the same by round (rounds x repetitions, NaN-padded),
    and the hosts that measured it."""
    if timings.empty:
        return {}
    walls = timings["wall_s"].to_numpy(dtype=float)
    hosts = timings["host"].astype(str).to_numpy() if "host" in timings.columns else None
    rounds = timings["round"].to_numpy() if "round" in timings.columns else None
    cells = {}
    for key, index in timings.groupby(KEY, sort=True, dropna=False).indices.items():
        host = ",".join(sorted(set(hosts[index]))) if hosts is not None else ""
        if rounds is None:
            table = walls[index][None, :]
        else:
            which = rounds[index]
            per_round = [walls[index][which == r] for r in sorted(set(which))]
            table = np.full((len(per_round), max(len(w) for w in per_round)), math.nan)
            for i, w in enumerate(per_round):
                table[i, : len(w)] = w
        cells[key] = {"walls": walls[index], "rounds": table, "host": host}
    return cells


def _job_variance(cells: dict[tuple, dict]) -> tuple[float, int]:
    """A set's job-to-job variance of the log time: the spread of each cell's round means
    (mean log time per round) around the cell's mean, pooled over its cells of several
    rounds; and its degrees of freedom."""
    ss, df = 0.0, 0
    for cell in cells.values():
        logs = np.nanmean(np.log(cell["rounds"]), axis=1)
        if len(logs) > 1:
            ss += float(((logs - logs.mean()) ** 2).sum())
            df += len(logs) - 1
    return (ss / df if df else math.nan), df


def _rounds_p(a: np.ndarray, b: np.ndarray, var_a: tuple, var_b: tuple) -> float:
    """Welch t-test of the mean log time per round, B against A."""
    logs_a = np.nanmean(np.log(a), axis=1)
    logs_b = np.nanmean(np.log(b), axis=1)
    va, vb = var_a[0] / len(logs_a), var_b[0] / len(logs_b)
    if not (var_a[1] and var_b[1] and math.isfinite(va + vb)):
        return math.nan
    if va + vb == 0:
        return 1.0 if logs_a.mean() == logs_b.mean() else 0.0
    df = (va + vb) ** 2 / (va**2 / var_a[1] + vb**2 / var_b[1])
    t = (logs_b.mean() - logs_a.mean()) / math.sqrt(va + vb)
    return float(2.0 * sps.t.sf(abs(t), df))


def _machines(directory: Path, timings: pd.DataFrame) -> list[tuple[str, str]]:
    """(host, cpu model) pairs of a result set: from metadata.json, else from its timings."""
    path = Path(directory) / "metadata.json"
    if path.is_file():
        try:
            hosts = json.loads(path.read_text()).get("hosts") or []
            pairs = [(str(h.get("hostname", "?")), str(h.get("cpu_model", "?"))) for h in hosts]
            if pairs:
                return sorted(set(pairs))
        except (OSError, ValueError, AttributeError):
            pass  # an unreadable metadata file only costs the title its host names
    if {"host", "cpu_model"} <= set(timings.columns) and not timings.empty:
        pairs = timings[["host", "cpu_model"]].astype(str).drop_duplicates()
        return sorted(pairs.itertuples(index=False, name=None))
    return []


def _short_names(a: Path, b: Path) -> tuple[str, str]:
    """The directories' names, with as many parents as it takes to tell them apart."""
    parts_a, parts_b = Path(a).resolve().parts, Path(b).resolve().parts
    for depth in range(1, max(len(parts_a), len(parts_b)) + 1):
        name_a, name_b = "/".join(parts_a[-depth:]), "/".join(parts_b[-depth:])
        if name_a != name_b:
            return name_a, name_b
    return str(a), str(b)


def _set_label(name: str, machines: list[tuple[str, str]]) -> str:
    if not machines:
        return name
    shown = [f"{host} ({cpu})" for host, cpu in machines[:3]]
    if len(machines) > 3:
        shown.append(f"+{len(machines) - 3} more")
    return f"{name} — {'host' if len(machines) == 1 else 'hosts'} {', '.join(shown)}"


def _compare_cell(a: dict, b: dict, alpha: float, var_a: tuple, var_b: tuple) -> dict:
    walls_a, walls_b = a["walls"], b["walls"]
    median_a, median_b = float(np.median(walls_a)), float(np.median(walls_b))
    ratio = median_b / median_a if median_a > 0 else math.nan
    rounds_a, rounds_b = a["rounds"].shape[0], b["rounds"].shape[0]
    if rounds_a > 1 and rounds_b > 1:
        low, high = (
            float(v[0])
            for v in hierarchical_speedup_cis(b["rounds"], a["rounds"], level=1.0 - alpha)
        )
        p, test = _rounds_p(a["rounds"], b["rounds"], var_a, var_b), "rounds t"
    else:
        # speedup_ci(baseline, cell) bootstraps median(baseline) / median(cell): B first
        # gives B / A.
        low, high = speedup_ci(walls_b, walls_a, level=1.0 - alpha)
        p, test = mann_whitney_p(walls_a, walls_b), "Mann-Whitney"
    significant = bool(p < alpha and (low > 1.0 or high < 1.0))
    change = (SLOWER if ratio > 1.0 else FASTER) if significant else UNCHANGED
    return {
        "n_a": len(walls_a),
        "n_b": len(walls_b),
        "median_a_s": median_a,
        "median_b_s": median_b,
        "ratio": ratio,
        "ratio_ci_low": low,
        "ratio_ci_high": high,
        "mannwhitney_p": p,
        "test": test,
        "rounds_a": rounds_a,
        "rounds_b": rounds_b,
        "significant": significant,
        "change": change,
    }


def compare_frames(timings_a: pd.DataFrame, timings_b: pd.DataFrame, alpha: float = 0.05):
    """Compare two timings tables: (matched cells, cells in one set only).

    The matched frame has ``COLUMNS``, significant cells first, then by |log ratio|
    (largest change first); the unmatched one has ``UNMATCHED_COLUMNS``.
    """
    if not 0.0 < alpha < 1.0:
        raise ImgbenchError(f"alpha must lie between 0 and 1, not {alpha}")
    cells_a, cells_b = _cells(timings_a), _cells(timings_b)
    var_a, var_b = _job_variance(cells_a), _job_variance(cells_b)
    rows = []
    for key in sorted(cells_a.keys() & cells_b.keys()):
        a, b = cells_a[key], cells_b[key]
        rows.append(
            {
                **dict(zip(KEY, key, strict=True)),
                **_compare_cell(a, b, alpha, var_a, var_b),
                "host_a": a["host"],
                "host_b": b["host"],
            }
        )
    matched = pd.DataFrame(rows, columns=COLUMNS)
    if not matched.empty:
        matched["_size"] = np.abs(np.log(matched["ratio"].astype(float)))
        matched = matched.sort_values(
            ["significant", "_size"], ascending=[False, False], kind="stable", na_position="last"
        ).drop(columns="_size")
        matched["significant"] = matched["significant"].astype(bool)
    matched = matched.reset_index(drop=True)

    unmatched_rows = []
    for only_in, cells, other in (("A", cells_a, cells_b), ("B", cells_b, cells_a)):
        for key in sorted(cells.keys() - other.keys()):
            walls = cells[key]["walls"]
            unmatched_rows.append(
                {
                    **dict(zip(KEY, key, strict=True)),
                    "only_in": only_in,
                    "n": len(walls),
                    "median_s": float(np.median(walls)),
                    "host": cells[key]["host"],
                }
            )
    unmatched = pd.DataFrame(unmatched_rows, columns=UNMATCHED_COLUMNS)
    return matched, unmatched


def compare_results(a: Path, b: Path, output_dir: Path, alpha: float = 0.05) -> pd.DataFrame:
    """Compare result sets A and B (experiment directories holding ``timings.csv``).

    Writes ``comparison.csv`` (every matched cell), ``unmatched.csv`` (cells in one set only,
    ``only_in`` = "A" or "B") and ``comparison.png``/``.svg`` to ``output_dir``; returns
    the matched cells. The frame's ``attrs`` carry what ``format_table`` needs besides it:
    the sets' labels, alpha and how many cells each set alone holds.
    """
    a, b, output_dir = Path(a), Path(b), Path(output_dir)
    timings_a, timings_b = _read_timings(a), _read_timings(b)
    matched, unmatched = compare_frames(timings_a, timings_b, alpha)
    name_a, name_b = _short_names(a, b)
    matched.attrs.update(
        {
            "label_a": _set_label(name_a, _machines(a, timings_a)),
            "label_b": _set_label(name_b, _machines(b, timings_b)),
            "alpha": alpha,
            "only_in_a": int((unmatched["only_in"] == "A").sum()),
            "only_in_b": int((unmatched["only_in"] == "B").sum()),
        }
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(output_dir / "comparison.csv", matched.to_csv(index=False).encode())
    write_atomic(output_dir / "unmatched.csv", unmatched.to_csv(index=False).encode())
    with plt.rc_context(RC_PARAMS):
        save_figure(comparison_figure(matched), output_dir, "comparison")
    return matched


# --- text ------------------------------------------------------------------------------


def _varies(frame: pd.DataFrame) -> bool:
    """Whether storage or cache differ between cells, so that labels must name them."""
    return len(frame) > 0 and (frame["storage"].nunique() > 1 or frame["cache"].nunique() > 1)


def cell_label(row, with_storage: bool = False, times: str = "x") -> str:
    """``decode 1280x960 n128 threads x2``; storage and cache too when ``with_storage``."""
    where = f" {row['storage']}-{row['cache']}" if with_storage else ""
    return (
        f"{row['task']}{where} {int(row['width'])}x{int(row['height'])} "
        f"n{int(row['n_images'])} {row['strategy']} {times}{int(row['workers'])}"
    )


def _seconds(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"


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
    with_storage = _varies(df)
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
                f"  {cell_label(row, with_storage)}: {_seconds(row['median_a_s'])} -> "
                f"{_seconds(row['median_b_s'])}, "
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


def _figure_rows(matched: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The cells drawn with whiskers, by task, slowest first; and which were chosen.

    ``matched`` holds only cells with a finite, positive ratio.
    """
    data = matched
    significant = data[data["significant"].astype(bool)]
    if len(data) <= MAX_FIGURE_ROWS:
        rows, note = data, "all matched cells; filled: significant change, hollow: not"
    elif len(significant) > MAX_FIGURE_ROWS:
        size = np.abs(np.log(significant["ratio"].astype(float)))
        rows = significant.loc[size.sort_values(ascending=False).index[:MAX_FIGURE_ROWS]]
        note = (
            f"the {MAX_FIGURE_ROWS} largest of {len(significant)} significant changes "
            "(all in comparison.csv)"
        )
    else:
        rows, note = significant, f"the {len(significant)} significant changes"
    if rows.empty:
        note = "no significant change"
    return rows.sort_values(["task", "ratio"], ascending=[True, False], kind="stable"), note


def comparison_figure(matched: pd.DataFrame) -> plt.Figure:
    """Per changed cell, B / A with its CI whisker on a log₂ axis; below, all cells' ratios."""
    attrs = matched.attrs
    alpha = attrs.get("alpha", 0.05)
    title = (
        "Median wall time, B / A per cell (>1: B slower)\n"
        f"A = {attrs.get('label_a', 'A')}\nB = {attrs.get('label_b', 'B')}"
    )
    ratios = matched["ratio"].astype(float)
    finite = matched[np.isfinite(ratios) & (ratios > 0)] if len(matched) else matched
    if finite.empty:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.axis("off")
        reason = "no cell measured in both sets" if matched.empty else "no ratio could be formed"
        ax.text(0.5, 0.5, f"no data\n{reason}", ha="center", va="center", fontsize=16)
        fig.suptitle(title, fontsize=11)
        return fig

    rows, note = _figure_rows(finite)
    with_storage = _varies(finite)
    n_rows = max(len(rows), 1)
    # Below the rows, a histogram of every matched cell, unless the rows already show them all.
    all_shown = len(rows) == len(finite)
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

    ends = np.concatenate(
        [
            finite["ratio"].to_numpy(float),
            rows[["ratio_ci_low", "ratio_ci_high"]].to_numpy(float).ravel(),
            [1.0],
        ]
    )
    ends = ends[np.isfinite(ends) & (ends > 0)]
    low, high = float(ends.min()), float(ends.max())
    _ratio_axis(ax, low, high)

    y = np.arange(len(rows))[::-1]
    for yi, (_, row) in zip(y, rows.iterrows(), strict=True):
        significant = bool(row["significant"])
        color = strategy_color(str(row["strategy"])) if significant else "#999999"
        ratio = float(row["ratio"])
        lo, hi = float(row["ratio_ci_low"]), float(row["ratio_ci_high"])
        if math.isfinite(lo) and math.isfinite(hi):
            ax.plot([lo, hi], [yi, yi], color=color, lw=1.6, solid_capstyle="butt")
            ax.plot([lo, hi], [yi, yi], "|", color=color, ms=7)
        ax.plot(
            ratio,
            yi,
            "o",
            ms=6.5,
            color=color,
            mfc=color if significant else "white",
            mew=1.4,
        )
    ax.axvline(1.0, color="k", lw=1.1, zorder=0)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_yticks(y, [cell_label(r, with_storage, times="×") for _, r in rows.iterrows()])
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
    ax.set_title(f"Shown: {note}", fontsize=9)
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

    strategies = strategy_order(rows.loc[rows["significant"].astype(bool), "strategy"].unique())
    handles = [
        Line2D([], [], color=strategy_color(s), marker="o", lw=1.6, label=s) for s in strategies
    ]
    if (~rows["significant"].astype(bool)).any():
        handles.append(
            Line2D(
                [], [], color="#999999", marker="o", mfc="white", lw=1.6, label="not significant"
            )
        )
    handles.append(Line2D([], [], color="k", lw=1.1, label="1×: no change"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False)

    if not all_shown:
        _ratio_histogram(axes[1][0], finite)
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
