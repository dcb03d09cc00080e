"""Figures of an experiment (PNG and SVG), drawn from its result tables only.

The tables are those of docs/results.md: ``timings.csv``, ``summary.csv``, ``speedup.csv``,
``efficiency.csv`` and ``amdahl.csv``. Unless a figure says otherwise, the base case is the
serial loop of the same task, size, storage, cache and number of images (the ``serial`` rows
of the long-format speedup and efficiency tables). The file names in ``FIGURES`` are stable:
the workflow declares them as outputs, so all of them are written even when there is nothing
to plot. Each strategy has one colour in every figure (``STRATEGY_COLORS``).

Verdicts are read, never decided here: where ``comparisons.csv`` and ``recommendations.csv``
exist (``VERDICT_TABLES``), the "faster from n = ..." marks and the best strategy heatmap
show their significance (Holm-corrected) and withheld recommendations, and a speedup that
``speedup.csv`` flags as above its physical bound (``exceeds_bound``) is drawn hollow or
hatched, never as a plain finding (``cell_verdicts``). Older tables without these columns
fall back on the speedup's own CI, and draw no bound.

Figures scale to large grids by aggregating first: repetitions are drawn for the headline
cells only, lines and bands as one collection per panel, the headline figures (faster than
serial, best strategy, repetitions, overhead) show each task's largest image size, and each
figure is laid out once and drawn once per format.

Results of several hosts are never pooled: the host is part of every group, every panel is
one host's (its name leads the panel title), and one more figure, ``HOSTS_FIGURE``, puts the
hosts' speedup curves side by side. It is written only when there are several hosts (the
workflow does not declare it; the deck and the bundle pick it up when it is there).
"""

from __future__ import annotations

import io
import math
import textwrap
import zlib
from pathlib import Path

import matplotlib

# Figures are drawn in batch jobs without a display; this must precede importing pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullLocator,
)
from PIL import Image  # noqa: E402

from imgbench.analysis.aggregate import BASELINE  # noqa: E402
from imgbench.errors import ImgbenchError  # noqa: E402
from imgbench.files import write_atomic  # noqa: E402

#: Stems of the figures ``plot_all`` writes, each as ``.png`` and ``.svg``.
FIGURES = (
    "speedup",
    "efficiency",
    "faster_than_serial",
    "time_vs_n",
    "best_strategy",
    "repetitions",
    "overhead",
)
#: Drawn only for results of several hosts, beside ``FIGURES``.
HOSTS_FIGURE = "hosts"
FORMATS = ("png", "svg")
#: The tables the figures read (docs/results.md); all must exist, empty ones are fine.
TABLES = ("speedup", "efficiency", "summary", "amdahl", "timings")
#: The tables whose verdicts the figures show (significance, equivalence, withheld claims);
#: read where they exist. Without them a figure falls back on the speedup's own CI.
VERDICT_TABLES = ("comparisons", "recommendations")
BASE_CASE = "base case: the serial loop of the same task, size, storage, cache and n"

#: A group is one workload on one host; a cell is a group run by one strategy with one
#: worker count. A table without a ``host`` column (one host) gets an empty one.
GROUP = ["experiment", "host", "task", "storage", "cache", "width", "height", "n_images"]
CELL = [*GROUP, "strategy", "workers"]
#: Where a group runs, whatever its size and number of images.
PLACE = GROUP[:5]
_TEXT_COLUMNS = ("experiment", "host", "task", "storage", "cache", "strategy", "baseline")
_NUMBER_COLUMNS = (
    "width",
    "height",
    "n_images",
    "workers",
    "speedup",
    "speedup_ci_low",
    "speedup_ci_high",
    "efficiency",
    "efficiency_ci_low",
    "efficiency_ci_high",
    "worker_busy",
    "usable_cores",
    "fit_max_workers",
    "bound",
    "best_workers",
)

#: One colour per strategy in every figure where hue is the strategy (colour-blind safe).
STRATEGY_COLORS: dict[str, str] = {
    "serial": "#7f7f7f",
    "threads": "#0072b2",
    "processes": "#d55e00",
    "processes_chunked": "#e69f00",
    "threads_chunked": "#56b4e9",
    "vectorized": "#cc79a7",
    "asyncio": "#009e73",
}
_SPARE_COLORS = ("#8c564b", "#f0e442", "#000000", "#9467bd", "#17becf", "#bcbd22")
#: Short names for heatmap cells.
SHORT_NAMES: dict[str, str] = {
    "serial": "loop",
    "threads": "thr",
    "processes": "proc",
    "processes_chunked": "chunk",
    "threads_chunked": "tchunk",
    "vectorized": "vec",
    "asyncio": "async",
}
#: The overhead breakdown: column of ``overhead_segments``, legend label and colour of each
#: bar segment, in timeline order; together they make the cell's median wall time.
SEGMENTS = (
    ("pool_startup_s", "pool start-up: timer start → every worker started", "#cc79a7"),
    ("until_first_s", "until first result: one item's (or one chunk's) work", "#e69f00"),
    ("median_work_s", "work: first → last result", "#c8c8c8"),
    ("median_shutdown_s", "shutdown: last result → return", "#56b4e9"),
)
#: The summary columns the overhead breakdown needs (``median_pool_ready_s`` is optional).
OVERHEAD_COLUMNS = ("median_first_result_s", "median_work_s", "median_shutdown_s")
#: Hatching of a speedup above its physical bound (never drawn as a plain finding).
ABOVE_BOUND_HATCH = "////"
ABOVE_BOUND_NOTE = "hatched / hollow: speedup above its physical bound, not a finding"

# About 120 dpi keeps a PNG legible on a projector; large grids get fewer dots per inch
# (down to 72) and PNGs are saved with a 256-colour palette (fewer colours when that is
# not enough), so each stays under 400 KB and a bundle stays small.
_DPI = 120
_MIN_DPI = 72
_MAX_PNG_PIXELS = 4_000_000
_PNG_BUDGET = 380_000
_PANEL_W, _PANEL_H = 3.4, 2.7
# Nothing smaller than 9 pt: figures are shown on slides.
RC_PARAMS = {
    "svg.hashsalt": "imgbench",
    # Text as text, not glyph outlines: smaller SVGs, drawn several times faster.
    "svg.fonttype": "none",
    "figure.facecolor": "white",
    # A fixed title height: the automatic one measures every axis above each title, which
    # is a large part of the layout time of a large grid and is only needed for top ticks.
    "axes.titley": 1.0,
    "axes.titlepad": 5.0,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9.5,
    "legend.title_fontsize": 10,
}
_SUPTITLE_PT = 12
#: Lines per panel of the scaling figures: more shades of one colour are not told apart.
_MAX_SHADES = 6
#: Lines (values of n times sizes) per panel of the scaling figures, beyond which n thins.
_MAX_LINES = 8
_AMDAHL_STYLE = (0, (5, 1.5, 1, 1.5))
_NOTE_PT = 9.5
_WHISKER_NOTE = (
    "Box: quartiles; whiskers: furthest points within 1.5 × IQR (Tukey); dots: every repetition"
)


# --- colours and names -------------------------------------------------------------------


def strategy_color(name: str) -> str:
    """The strategy's fixed colour; an unknown name gets a stable colour from a spare set."""
    if name in STRATEGY_COLORS:
        return STRATEGY_COLORS[name]
    return _SPARE_COLORS[zlib.crc32(name.encode()) % len(_SPARE_COLORS)]


def strategy_order(names) -> list[str]:
    """Known strategies in registry order, then unknown ones alphabetically."""
    names = set(names)
    known = [s for s in STRATEGY_COLORS if s in names]
    return known + sorted(names - set(known))


def short_name(strategy: str) -> str:
    """A strategy's name in at most five characters, for heatmap cells."""
    return SHORT_NAMES.get(strategy, strategy[:5])


def _shades(color: str, count: int) -> list[tuple[float, float, float]]:
    """``count`` shades of one colour from light to dark (the colour itself in the middle)."""
    base = np.array(to_rgb(color))
    if count == 1:
        return [tuple(base)]
    shades = []
    for t in np.linspace(-0.5, 0.45, count):
        mixed = base + (1 - base) * -t if t < 0 else base * (1 - t)
        shades.append(tuple(float(v) for v in mixed))
    return shades


def _text_color_on(color) -> str:
    r, g, b = to_rgb(color)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


def _lighten(color: str, amount: float) -> tuple[float, float, float]:
    base = np.array(to_rgb(color))
    return tuple(float(v) for v in base + (1 - base) * amount)


# --- reading and shaping the tables ------------------------------------------------------


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        # A hostname such as "0123" or "1e5" must stay a name.
        return _prepare(pd.read_csv(path, dtype={"host": str}))
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _read_tables(results_dir: Path) -> dict[str, pd.DataFrame]:
    missing = [f"{name}.csv" for name in TABLES if not (results_dir / f"{name}.csv").is_file()]
    if missing:
        raise ImgbenchError(
            f"{results_dir}: missing result table(s) {', '.join(missing)} "
            "(run `imgbench aggregate` first)"
        )
    tables = {name: _read_csv(results_dir / f"{name}.csv") for name in TABLES}
    for name in VERDICT_TABLES:
        path = results_dir / f"{name}.csv"
        tables[name] = _read_csv(path) if path.is_file() else pd.DataFrame()
    return tables


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    """A boolean column as read back from CSV (True, "True", 1); False where it is missing,
    empty or the frame lacks the column."""
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    values = frame[column]
    if values.dtype == bool:
        return values
    text = values.astype(str).str.strip().str.lower()
    return text.isin(("true", "1", "1.0", "yes"))


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as floats (infinities as NaN), names as strings, and only rows with a
    complete identity.

    Key columns become floats in every table, so that tables merge on them whatever pandas
    inferred from each file (an empty table has no types to infer).
    """
    out = frame.copy()
    if "experiment" not in out.columns and "task" in out.columns:
        out["experiment"] = ""
    for column in out.columns:
        if column in _TEXT_COLUMNS:
            out[column] = out[column].astype(str)
        elif column in _NUMBER_COLUMNS or column.endswith("_s"):
            # An infinite CI end (a zero time somewhere) would stretch an axis to infinity.
            numbers = pd.to_numeric(out[column], errors="coerce").astype(float)
            out[column] = numbers.where(np.isfinite(numbers))
    keys = [c for c in ("width", "height", "n_images", "workers") if c in out.columns]
    return out.dropna(subset=keys) if keys else out


def _has(frame: pd.DataFrame, columns) -> bool:
    return not frame.empty and all(c in frame.columns for c in columns)


def _hosted(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``host`` column: an empty name where it has none (one host)."""
    return frame if "host" in frame.columns else frame.assign(host="")


def _align_hosts(tables: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Every table with the same ``host`` column, and the hosts when there are several.

    With one host its name is blanked everywhere, so that tables that name it and tables
    that do not (older ones, crafted ones) still join.
    """
    hosts: set[str] = set()
    for frame in tables.values():
        if "host" in frame.columns:
            hosts |= set(frame["host"].dropna().astype(str))
    if len(hosts) <= 1:
        return {name: frame.assign(host="") for name, frame in tables.items()}, []
    aligned = {
        name: frame.assign(host=frame["host"].fillna("").astype(str))
        if "host" in frame.columns
        else frame.assign(host="")
        for name, frame in tables.items()
    }
    return aligned, sorted(hosts)


def _serial_base(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a long-format speedup or efficiency table whose base case is the loop."""
    if "baseline" not in frame.columns:
        return frame
    return frame[frame["baseline"] == BASELINE]


def _experiment_name(frames: list[pd.DataFrame], results_dir: Path) -> str:
    names: set[str] = set()
    for frame in frames:
        if "experiment" in frame.columns:
            names |= {str(v) for v in frame["experiment"].dropna().unique() if str(v)}
    return ", ".join(sorted(names)) or Path(results_dir).name


def _size_label(frame: pd.DataFrame) -> pd.Series:
    return frame["width"].astype(int).astype(str) + "x" + frame["height"].astype(int).astype(str)


def _with_panel(frame: pd.DataFrame, size_in_panel: bool = False) -> pd.DataFrame:
    """Add ``size``, ``storage_cache`` and ``panel`` labels.

    A panel is the task, plus storage-cache when several are in the table, plus the size when
    ``size_in_panel`` and several are in the table (line plots of speedup tell sizes apart by
    marker instead).
    """
    out = _hosted(frame)
    out["size"] = _size_label(out)
    out["storage_cache"] = out["storage"].astype(str) + "-" + out["cache"].astype(str)
    out["panel"] = out["task"].astype(str)
    if out["storage_cache"].nunique() > 1:
        out["panel"] = out["panel"] + " · " + out["storage_cache"]
    if size_in_panel and out["size"].nunique() > 1:
        out["panel"] = out["panel"] + " · " + out["size"]
    if out["host"].nunique() > 1:
        out["panel"] = out["host"].astype(str) + ": " + out["panel"]
    return out


def _attach_panel(frame: pd.DataFrame, labelled: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the ``panel`` and ``size`` labels ``labelled`` gave the same task,
    storage, cache and size (rows of other conditions are dropped), so that an overlay
    lands in the panel of the data it belongs to."""
    keys = GROUP[1:-1]
    frame = _hosted(frame)
    if frame.empty or not all(k in frame.columns for k in keys):
        return frame.iloc[0:0].assign(panel=[], size=[])
    labels = labelled[[*keys, "panel", "size"]].drop_duplicates(keys)
    return frame.merge(labels, on=keys, how="inner")


def _largest_size(frame: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """The rows at the largest image size of each task, storage and cache; and whether any
    smaller size was left out."""
    frame = _hosted(frame)
    pixels = frame["width"] * frame["height"]
    largest = pixels.groupby([frame[c] for c in PLACE]).transform("max")
    kept = frame[pixels == largest]
    return kept, len(kept) < len(frame)


def _sorted_unique(values) -> list:
    return sorted(pd.unique(values))


def _times(value: float) -> str:
    """A speedup as "1.04×" (three significant digits up to 10×, then "12×"); "n/a" if NaN."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.2f}×" if value < 9.995 else f"{value:.0f}×"


def _cell_label(strategy: str, workers: float, sep: str = " ") -> str:
    return "serial loop" if strategy == BASELINE else f"{strategy}{sep}×{int(workers)}"


def _cell_labels(frame: pd.DataFrame, sep: str = " ") -> list[str]:
    pairs = zip(frame["strategy"], frame["workers"], strict=True)
    return [_cell_label(strategy, workers, sep) for strategy, workers in pairs]


# --- pure helpers: what the figures show ------------------------------------------------


def amdahl_speedup(amdahl: pd.DataFrame, speedup: pd.DataFrame, workers) -> pd.DataFrame:
    """Speedup over the serial loop that each Amdahl fit predicts, at the given worker counts.

    Predicted time is T(p) = t_serial_s + t_parallel_s / p; the predicted speedup is the
    group's serial-loop median (``baseline_median_s`` of the ``serial`` rows of
    ``speedup``) divided by it. One row per (group, strategy, workers): the group, strategy,
    ``workers`` and ``speedup``. Groups without a measured loop, and worker counts where the
    fitted time is not positive, are left out.
    """
    amdahl, speedup = _hosted(amdahl), _hosted(speedup)
    needed = [*GROUP, "strategy", "t_serial_s", "t_parallel_s"]
    columns = [*GROUP, "strategy", "workers", "speedup"]
    if not _has(amdahl, needed) or not _has(speedup, [*GROUP, "baseline_median_s"]):
        return pd.DataFrame(columns=columns)
    base = (
        _serial_base(speedup)
        .dropna(subset=["baseline_median_s"])
        .groupby(GROUP, as_index=False)["baseline_median_s"]
        .first()
    )
    fits = amdahl[needed].merge(base, on=GROUP, how="inner")
    grid = np.asarray(workers, dtype=float)
    if fits.empty or grid.size == 0:
        return pd.DataFrame(columns=columns)
    repeated = fits.loc[fits.index.repeat(grid.size)].reset_index(drop=True)
    repeated["workers"] = np.tile(grid, len(fits))
    predicted = repeated["t_serial_s"] + repeated["t_parallel_s"] / repeated["workers"]
    repeated["speedup"] = repeated["baseline_median_s"] / predicted
    valid = (predicted > 0) & np.isfinite(repeated["speedup"])
    return repeated.loc[valid, columns].reset_index(drop=True)


def best_per_strategy_and_n(summary: pd.DataFrame) -> pd.DataFrame:
    """For each group and strategy, the summary row of its fastest worker count (median)."""
    data = _hosted(summary).dropna(subset=["median_s"])
    return (
        data.sort_values(["median_s", "workers"], kind="stable")
        .drop_duplicates([*GROUP, "strategy"])
        .sort_values(CELL, kind="stable")
        .reset_index(drop=True)
    )


def _above_bound(rows: pd.DataFrame) -> pd.Series:
    """Whether each speedup row is above its physical bound: ``exceeds_bound`` of
    speedup.csv, else speedup > ``bound`` where the table has one, else False (older tables
    carry no bound)."""
    if "exceeds_bound" in rows.columns:
        return _flag(rows, "exceeds_bound")
    if "bound" in rows.columns and "speedup" in rows.columns:
        bound = pd.to_numeric(rows["bound"], errors="coerce")
        return (rows["speedup"] > bound).fillna(False).astype(bool)
    return pd.Series(False, index=rows.index)


def cell_verdicts(
    speedup: pd.DataFrame,
    comparisons: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """What the tables say about each cell against the serial loop: one row per cell of the
    ``serial`` rows of ``speedup``, with ``speedup``, ``above_bound``, ``faster_than_loop``,
    ``recommended`` and ``withheld``. Nothing is tested here; the verdicts are read:

    - ``above_bound``: ``exceeds_bound`` of speedup.csv (else speedup > ``bound`` where the
      table has a bound; else False): a speedup the workers and usable cores cannot give.
    - ``recommended`` / ``withheld``: the cell is its group's ``best_strategy`` x
      ``best_workers`` in recommendations.csv, and whether that recommendation is withheld.
    - ``faster_than_loop``: comparisons.csv's ``faster_than_loop`` (Holm-corrected over the
      group's cells against the loop), within the bound and not withheld. Tables without
      that column: the loop is ``significantly_slower`` than the group's best (where the
      table has the loop's row), and the cell's speedup CI lies above 1 (where speedup.csv
      has one); with neither, a speedup above 1.
    """
    columns = [*CELL, "speedup", "above_bound", "faster_than_loop", "recommended", "withheld"]
    speedup = _hosted(speedup)
    if not _has(speedup, [*CELL, "speedup"]):
        return pd.DataFrame(columns=columns)
    rows = _serial_base(speedup)
    rows = rows[rows["strategy"] != BASELINE].drop_duplicates(CELL).copy()
    value = rows["speedup"]
    rows["above_bound"] = _above_bound(rows)
    if "speedup_ci_low" in rows.columns and rows["speedup_ci_low"].notna().any():
        by_ci = (rows["speedup_ci_low"] > 1).fillna(False)
        known_ci = rows["speedup_ci_low"].notna()
    else:
        by_ci = pd.Series(False, index=rows.index)
        known_ci = pd.Series(False, index=rows.index)
    gate = pd.Series(math.nan, index=rows.index, dtype=object)
    comparisons = _hosted(comparisons) if comparisons is not None else pd.DataFrame()
    if _has(comparisons, [*CELL, "significantly_slower"]):
        loop = comparisons[comparisons["strategy"] == BASELINE].drop_duplicates(GROUP)
        loop = loop.assign(_gate=_flag(loop, "significantly_slower"))[[*GROUP, "_gate"]]
        merged = rows[GROUP].merge(loop, on=GROUP, how="left")
        gate = pd.Series(merged["_gate"].to_numpy(), index=rows.index, dtype=object)
    known_gate = gate.notna()
    gate_ok = gate.where(known_gate, True).astype(bool)
    fallback = (value > 1).fillna(False)
    faster = np.where(known_ci, by_ci, np.where(known_gate, True, fallback)) & gate_ok
    if _has(comparisons, [*CELL, "faster_than_loop"]):
        # The analysis's own verdict: Holm-corrected over the group's cells against the loop.
        told = comparisons[comparisons["strategy"] != BASELINE].drop_duplicates(CELL)
        told = told.assign(_told=_flag(told, "faster_than_loop"))[[*CELL, "_told"]]
        merged = rows[CELL].merge(told, on=CELL, how="left")
        known = merged["_told"].notna().to_numpy()
        faster = np.where(known, merged["_told"].fillna(False).astype(bool).to_numpy(), faster)
    rows["recommended"] = False
    rows["withheld"] = False
    recommendations = _hosted(recommendations) if recommendations is not None else pd.DataFrame()
    if _has(recommendations, [*GROUP, "best_strategy", "best_workers"]):
        recs = recommendations.drop_duplicates(GROUP).assign(
            _withheld=lambda f: _flag(f, "withheld")
        )
        recs = recs[[*GROUP, "best_strategy", "best_workers", "_withheld"]].rename(
            columns={"best_strategy": "strategy", "best_workers": "workers"}
        )
        recs = recs.assign(workers=pd.to_numeric(recs["workers"], errors="coerce"))
        merged = rows[CELL].merge(recs.assign(_best=True), on=CELL, how="left")
        rows["recommended"] = merged["_best"].fillna(False).astype(bool).to_numpy()
        rows["withheld"] = (merged["_withheld"].fillna(False).astype(bool)).to_numpy()
    rows["faster_than_loop"] = faster & ~rows["above_bound"] & ~rows["withheld"]
    return rows[columns].reset_index(drop=True)


def payoff_n(best: pd.DataFrame, verdicts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Where each strategy starts to pay off: the smallest n from which it is faster than the
    serial loop at every larger n measured.

    ``best`` is ``best_per_strategy_and_n``'s output. With ``verdicts`` (``cell_verdicts``),
    "faster" is the tables' verdict: some cell of the strategy in that group is
    ``faster_than_loop`` (significant, within its bound, not withheld); without them, its
    fastest cell's median is below the loop's. One row per (task, storage, cache, size,
    parallel strategy) whose group has a measured loop: ``payoff_n`` (NaN: never faster).
    """
    condition = GROUP[:-1]
    columns = [*condition, "strategy", "payoff_n"]
    if best.empty:
        return pd.DataFrame(columns=columns)
    best = _hosted(best)
    loop = best[best["strategy"] == BASELINE][[*GROUP, "median_s"]].rename(
        columns={"median_s": "serial_median_s"}
    )
    parallel = best[best["strategy"] != BASELINE].merge(loop, on=GROUP, how="inner")
    if parallel.empty:
        return pd.DataFrame(columns=columns)
    if verdicts is None:
        parallel["faster"] = (parallel["median_s"] < parallel["serial_median_s"]).astype(int)
    else:
        confirmed = (
            _hosted(verdicts)
            .assign(faster=lambda f: _flag(f, "faster_than_loop").astype(int))
            .groupby([*GROUP, "strategy"], as_index=False)["faster"]
            .max()
        )
        parallel = parallel.merge(confirmed, on=[*GROUP, "strategy"], how="left")
        parallel["faster"] = parallel["faster"].fillna(0).astype(int)
    parallel = parallel.sort_values([*condition, "strategy", "n_images"], ascending=False)
    # From the largest n down: faster here and at every larger n.
    parallel["faster_from_here"] = parallel.groupby([*condition, "strategy"])["faster"].cummin()
    parallel["candidate"] = parallel["n_images"].where(parallel["faster_from_here"] == 1)
    out = parallel.groupby([*condition, "strategy"], as_index=False)["candidate"].min()
    return out.rename(columns={"candidate": "payoff_n"})[columns]


def best_strategy_grid(
    summary: pd.DataFrame,
    speedup: pd.DataFrame,
    comparisons: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The fastest strategy per (group, worker count): the heatmap's cells.

    Candidates at worker count w are the cells run with w workers, and the group's serial
    loop, which competes in every column as the one-worker loop. One row per group and worker
    count of that group: the group, ``workers`` (the column), ``best_strategy``,
    ``best_workers`` (the winner's own worker count), ``best_median_s``, and ``speedup`` of
    the winner over the serial loop (from ``speedup``'s ``serial`` rows, else the ratio of
    medians; NaN when the group has no loop). Ties go to the earlier strategy in registry
    order, then fewer workers.

    The tables' verdicts on the winner (``cell_verdicts``): ``above_bound``,
    ``faster_than_loop`` (True for a loop that wins), ``recommended`` (the winner is the
    group's recommendation in recommendations.csv) and ``withheld``.
    """
    verdict_columns = ["above_bound", "faster_than_loop", "recommended", "withheld"]
    columns = [*GROUP, "workers", "best_strategy", "best_workers", "best_median_s", "speedup"]
    columns += verdict_columns
    summary, speedup = _hosted(summary), _hosted(speedup)
    if not _has(summary, [*CELL, "median_s"]):
        return pd.DataFrame(columns=columns)
    cells = summary[[*CELL, "median_s"]].dropna(subset=["median_s"])
    if cells.empty:
        return pd.DataFrame(columns=columns)
    loop = (
        cells[cells["strategy"] == BASELINE]
        .sort_values(["median_s", "workers"], kind="stable")
        .drop_duplicates(GROUP)
    )
    worker_columns = cells[[*GROUP, "workers"]].drop_duplicates()
    parallel = cells[cells["strategy"] != BASELINE].assign(best_workers=lambda f: f["workers"])
    loop_everywhere = worker_columns.merge(
        loop.drop(columns="workers"), on=GROUP, how="inner"
    ).merge(loop[[*GROUP, "workers"]].rename(columns={"workers": "best_workers"}), on=GROUP)
    candidates = pd.concat([parallel, loop_everywhere], ignore_index=True)
    rank = {s: i for i, s in enumerate(strategy_order(candidates["strategy"].unique()))}
    candidates["rank"] = candidates["strategy"].map(rank)
    winners = (
        candidates.sort_values(["median_s", "rank", "best_workers"], kind="stable")
        .drop_duplicates([*GROUP, "workers"])
        .rename(columns={"strategy": "best_strategy", "median_s": "best_median_s"})
    )
    loop_median = loop[[*GROUP, "median_s"]].rename(columns={"median_s": "loop_median_s"})
    winners = winners.merge(loop_median, on=GROUP, how="left")
    winners["speedup"] = winners["loop_median_s"] / winners["best_median_s"]
    if _has(speedup, [*CELL, "speedup"]):
        table = (
            _serial_base(speedup)[[*CELL, "speedup"]]
            .drop_duplicates(CELL)
            .rename(
                columns={
                    "strategy": "best_strategy",
                    "workers": "best_workers",
                    "speedup": "table_speedup",
                }
            )
        )
        winners = winners.merge(table, on=[*GROUP, "best_strategy", "best_workers"], how="left")
        winners["speedup"] = winners["table_speedup"].fillna(winners["speedup"])
    verdicts = cell_verdicts(speedup, comparisons, recommendations)
    verdicts = verdicts.drop(columns="speedup").rename(
        columns={"strategy": "best_strategy", "workers": "best_workers"}
    )
    winners = winners.merge(verdicts, on=[*GROUP, "best_strategy", "best_workers"], how="left")
    is_loop = winners["best_strategy"] == BASELINE
    for column in verdict_columns:
        winners[column] = winners[column].astype(object).where(winners[column].notna(), False)
        winners[column] = winners[column].astype(bool)
    if _has(_hosted(recommendations) if recommendations is not None else pd.DataFrame(), GROUP):
        recs = _hosted(recommendations).drop_duplicates(GROUP)
        loop_best = recs[recs["best_strategy"] == BASELINE][GROUP].assign(
            _loop_withheld=_flag(recs, "withheld")
        )
        winners = winners.merge(loop_best, on=GROUP, how="left")
        # The loop competes in every column; it is recommended in its own (1 worker).
        own = (winners["workers"] == winners["best_workers"]).to_numpy()
        chosen = is_loop.to_numpy() & own & winners["_loop_withheld"].notna().to_numpy()
        winners.loc[chosen, "recommended"] = True
        winners.loc[chosen, "withheld"] = winners.loc[chosen, "_loop_withheld"].astype(bool)
    winners.loc[is_loop.to_numpy(), "faster_than_loop"] = True
    return winners.sort_values([*GROUP, "workers"])[columns].reset_index(drop=True)


def headline_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The cells whose repetitions are shown: for each task, storage and cache, at its
    largest size and then its largest n, the serial loop and the fastest cell of each
    parallel strategy. Summary rows plus ``label``."""
    summary = _hosted(summary)
    if not _has(summary, [*CELL, "median_s"]):
        return pd.DataFrame(columns=[*CELL, "median_s", "label"])
    data, _ = _largest_size(summary.dropna(subset=["median_s"]))
    largest_n = data.groupby(GROUP[:-1])["n_images"].transform("max")
    data = best_per_strategy_and_n(data[data["n_images"] == largest_n])
    return data.assign(label=_cell_labels(data, "\n")).reset_index(drop=True)


def overhead_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The overhead bars: for each task, storage and cache at its largest size, at the
    smallest and the largest n, each strategy at its fastest worker count.

    Summary rows plus ``which`` ("smallest n" or "largest n"; one "only n" when they
    coincide) and ``label``.
    """
    summary = _hosted(summary)
    if not _has(summary, [*CELL, "median_s"]):
        return pd.DataFrame(columns=[*CELL, "median_s", "which", "label"])
    data, _ = _largest_size(summary.dropna(subset=["median_s"]))
    condition = GROUP[:-1]
    smallest = data.groupby(condition)["n_images"].transform("min")
    largest = data.groupby(condition)["n_images"].transform("max")
    which = np.where(
        smallest == largest,
        "only n",
        np.where(data["n_images"] == smallest, "smallest n", "largest n"),
    )
    data = data.assign(which=which)[(data["n_images"] == smallest) | (data["n_images"] == largest)]
    data = best_per_strategy_and_n(data)
    return data.assign(label=_cell_labels(data)).reset_index(drop=True)


def overhead_segments(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` plus the bar segments of ``SEGMENTS`` (seconds, medians) and
    ``pool_after_first`` / ``pool_recorded``.

    ``pool_startup_s`` is ``median_pool_ready_s`` (timer start until every pool worker had
    started), ``until_first_s`` the rest of ``median_first_result_s`` (one item's or one
    chunk's work, plus waiting for it). A pool whose last worker started after the first
    result came back (``pool_after_first``) has its start-up cut at the first result, so that
    the segments still add up to the wall time. Without ``median_pool_ready_s`` (older tables,
    a strategy without a pool) the whole first-result time is ``until_first_s`` and
    ``pool_recorded`` is False.
    """
    out = summary.copy()
    first = (
        pd.to_numeric(out["median_first_result_s"], errors="coerce")
        if "median_first_result_s" in out.columns
        else pd.Series(math.nan, index=out.index)
    )
    ready = (
        pd.to_numeric(out["median_pool_ready_s"], errors="coerce")
        if "median_pool_ready_s" in out.columns
        else pd.Series(math.nan, index=out.index)
    )
    out["pool_recorded"] = ready.notna()
    out["pool_after_first"] = (ready > first).fillna(False)
    pool = np.fmin(ready, first).where(ready.notna() & first.notna())
    out["pool_startup_s"] = pool
    out["until_first_s"] = (first - pool.fillna(0.0)).clip(lower=0.0)
    return out


# --- drawing helpers ---------------------------------------------------------------------


def save_figure(fig: plt.Figure, output_dir: Path, stem: str) -> list[Path]:
    width_in, height_in = fig.get_size_inches()
    dpi = max(_MIN_DPI, min(_DPI, int(math.sqrt(_MAX_PNG_PIXELS / (width_in * height_in)))))
    # Minor ticks carry no labels here but cost a text layout each on every draw.
    for ax in fig.axes:
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_locator(NullLocator())
    # Lay out once, then freeze: each savefig would otherwise run the layout again, which
    # costs about as much as drawing on a large grid. The constrained layout keeps titles,
    # legends and notes inside the figure, so no tight bounding box is needed.
    fig.draw_without_rendering()
    fig.set_layout_engine(None)  # no engine at all: savefig then draws only once
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi)
    # Dropping the date keeps reruns on the same data byte-equal; Pillow writes no date.
    svg = io.BytesIO()
    fig.savefig(svg, format="svg", metadata={"Date": None})
    plt.close(fig)
    with Image.open(png) as image:
        rgb = image.convert("RGB")
    # The fast octree quantizer is several times quicker than median cut on large figures,
    # and its palette compresses as well.
    for colors in (256, 96, 48):
        png = io.BytesIO()
        palette = rgb.quantize(
            colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        palette.save(png, format="PNG", compress_level=9)
        if png.tell() <= _PNG_BUDGET:
            break
    written = []
    for fmt, data in (("png", png), ("svg", svg)):
        path = output_dir / f"{stem}.{fmt}"
        write_atomic(path, data.getvalue())
        written.append(path)
    return written


def _suptitle(fig: plt.Figure, text: str) -> None:
    """A figure title wrapped to the figure's width."""
    width_in = fig.get_size_inches()[0]
    chars = max(50, int(width_in * 72 / (_SUPTITLE_PT * 0.55)))
    fig.suptitle("\n".join(textwrap.wrap(text, chars)), fontsize=_SUPTITLE_PT)


def _note(fig: plt.Figure, text: str) -> None:
    """An explanatory line under the figure, wrapped to its width (kept in by the layout)."""
    width_in = fig.get_size_inches()[0]
    chars = max(50, int(width_in * 72 / (_NOTE_PT * 0.52)))
    fig.supxlabel("\n".join(textwrap.wrap(text, chars)), fontsize=_NOTE_PT)


def _panel_title(ax: plt.Axes, text: str, width_in: float, **kwargs) -> None:
    chars = max(16, int(width_in * 72 / (RC_PARAMS["axes.titlesize"] * 0.55)))
    ax.set_title("\n".join(textwrap.wrap(text, chars)), **kwargs)


def _no_data_figure(title: str, reason: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    ax.axis("off")
    ax.text(0.5, 0.5, f"no data\n{reason}", ha="center", va="center", fontsize=16)
    _suptitle(fig, title)
    return fig


def _grid(
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


def _panel_figure(
    count: int, panel_w: float, panel_h: float, extra_w: float
) -> tuple[plt.Figure, np.ndarray]:
    """A figure of ``count`` panels laid out by ``_grid``, the unused places hidden."""
    nrows, ncols = _grid(count, panel_w, panel_h, extra_w=extra_w)
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


def _thin(values: list, most: int) -> list:
    """At most ``most`` of the sorted values, evenly spaced, first and last kept."""
    if len(values) <= most:
        return list(values)
    index = np.unique(np.round(np.linspace(0, len(values) - 1, most)).astype(int))
    return [values[i] for i in index]


def _log_axis_at(axis, values: list, most: int) -> None:
    """A log axis ticked at the measured values (thinned so labels do not collide)."""
    axis.set_major_locator(FixedLocator(_thin(values, most)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def _log_seconds_axis(axis) -> None:
    """A log axis of seconds, plainly written, ticked at 1, 2 and 5 times powers of ten (more
    steps when the data spans less than a decade and a half). Call after plotting."""
    low, high = axis.get_data_interval()
    narrow = low > 0 and high / low < 30
    subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if narrow else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=10))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def _speedup_tick(value: float, _pos=None) -> str:
    """A power-of-two speedup tick: "4×", "0.5×", and "1/16×" below an eighth."""
    if value <= 0:
        return ""
    return f"{value:g}×" if value >= 0.125 else f"1/{round(1 / value)}×"


def _strategy_handles(strategies) -> list:
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


# --- figures -----------------------------------------------------------------------------


def _scaling_figure(
    frame: pd.DataFrame,
    experiment: str,
    metric: str,
    amdahl: pd.DataFrame | None = None,
    verdicts: pd.DataFrame | None = None,
) -> plt.Figure:
    """Speedup or efficiency against workers: rows are panels, columns parallel strategies.

    Lines are shades of the strategy's colour, darker for more images (at most
    ``_MAX_SHADES`` values of n and ``_MAX_LINES`` lines a panel, evenly picked); bands are
    the bootstrap CI; ``amdahl`` (``amdahl_speedup`` over a fine grid) adds thin fitted
    curves. Each panel draws a few collections, not one artist per line, so that large grids
    stay fast.
    """
    is_speedup = metric == "speedup"
    title = (
        f"{experiment}: speedup over the serial loop ({BASE_CASE}); "
        "band: 95% bootstrap CI of the ratio of medians"
        if is_speedup
        else f"{experiment}: parallel efficiency = speedup / workers ({BASE_CASE}); "
        "band: 95% bootstrap CI"
    )
    low_col, high_col = f"{metric}_ci_low", f"{metric}_ci_high"
    if not _has(frame, [*CELL, "usable_cores", metric]):
        return _no_data_figure(title, "the result table is empty")
    data = _serial_base(frame)
    data = _with_panel(data[data["strategy"] != BASELINE])
    data = data[np.isfinite(data[metric])]
    if data.empty:
        return _no_data_figure(title, "no parallel cell has a serial loop to compare with")
    if verdicts is not None and not verdicts.empty:
        flags = verdicts[[*CELL, "above_bound"]].drop_duplicates(CELL)
        data = data.drop(columns="above_bound", errors="ignore").merge(flags, on=CELL, how="left")
        data["above_bound"] = _flag(data, "above_bound")
    any_above = "above_bound" in data.columns and bool(_flag(data, "above_bound").any())
    has_band = low_col in data.columns and high_col in data.columns
    if not has_band:
        data = data.assign(**{low_col: math.nan, high_col: math.nan})

    all_n = _sorted_unique(data["n_images"])
    n_values = _thin(all_n, min(_MAX_SHADES, max(2, _MAX_LINES // data["size"].nunique())))
    data = data[data["n_images"].isin(n_values)]
    panels = _sorted_unique(data["panel"])
    strategies = strategy_order(data["strategy"].unique())
    sizes = _sorted_unique(data["size"])
    workers = [int(w) for w in _sorted_unique(data["workers"])]
    shade_of = {n: i for i, n in enumerate(n_values)}
    shades = {s: _shades(strategy_color(s), len(n_values)) for s in strategies}
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    dashes = ["solid", (0, (4, 2)), (0, (1, 1)), (0, (6, 2, 1, 2)), (0, (3, 1, 1, 1))]
    size_style = {
        s: (markers[i % len(markers)], dashes[i % len(dashes)]) for i, s in enumerate(sizes)
    }
    cores = sorted({int(c) for c in data["usable_cores"].dropna()})
    data = data.sort_values(["panel", "strategy", "n_images", "size", "workers"])
    lines = {
        key: list(group.groupby(["n_images", "size"], sort=True))
        for key, group in data.groupby(["panel", "strategy"], sort=False)
    }
    curves: dict = {}
    if is_speedup and amdahl is not None and not amdahl.empty:
        fitted = _attach_panel(amdahl[amdahl["n_images"].isin(n_values)], data)
        fitted = fitted.sort_values(["panel", "strategy", "n_images", "size", "workers"])
        curves = {
            key: list(group.groupby(["n_images", "size"], sort=True))
            for key, group in fitted.groupby(["panel", "strategy"], sort=False)
        }

    fig, axes = plt.subplots(
        len(panels),
        len(strategies),
        figsize=(_PANEL_W * len(strategies) + 2.6, _PANEL_H * len(panels) + 1.0),
        squeeze=False,
        layout="constrained",
    )
    x_grid = np.geomspace(min(workers) / 1.2, max(workers) * 1.2, 40)
    panel_cores = data.groupby("panel")["usable_cores"].max()
    for r, panel in enumerate(panels):
        ceiling = panel_cores.get(panel, math.nan)
        ceiling = int(ceiling) if math.isfinite(ceiling) and ceiling <= max(workers) * 2 else None
        for c, strategy in enumerate(strategies):
            ax = axes[r][c]
            color = strategy_color(strategy)
            _panel_title(ax, f"{panel} — {strategy}", _PANEL_W)
            ax.spines["top"].set(color=color, linewidth=4)
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
            cell = lines.get((panel, strategy))
            if cell is None:
                ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
                continue
            _draw_lines(ax, cell, metric, low_col, high_col, shades[strategy], shade_of, size_style)
            fits = curves.get((panel, strategy))
            if fits is not None:
                segments = [f[["workers", "speedup"]].to_numpy() for _key, f in fits]
                colors = [shades[strategy][shade_of[n]] for (n, _size), _f in fits]
                ax.add_collection(
                    LineCollection(
                        segments,
                        colors=colors,
                        linewidths=1,
                        linestyles=[_AMDAHL_STYLE],
                        alpha=0.9,
                    ),
                    autolim=False,
                )
    # The same limits and ticks everywhere, set per panel: sharing axes across a large
    # grid makes every change visit every sibling. Only the outer panels get ticks (labels);
    # every panel gets its grid as one collection, since ticks and per-tick grid lines are
    # most of the drawing time of a large grid.
    if is_speedup:
        values = pd.concat([data[metric], data[low_col], data[high_col]])
        values = values[values > 0]
        y_limits = (
            min(0.9, float(values.min()) / 1.15),
            max(max(workers) * 1.2, float(values.max())) * 1.15,
        )
        powers = np.arange(
            math.ceil(math.log2(y_limits[0])), math.floor(math.log2(y_limits[1])) + 1
        )
        y_ticks = [float(2.0**k) for k in _thin(list(powers), 8)]
        y_format = FuncFormatter(_speedup_tick)
    else:
        values = data[metric]
        tops = pd.concat([values, data[high_col].clip(upper=3 * values.max())])
        y_limits = (0.0, max(1.1, float(tops.max()) * 1.08))
        step = 0.2 if y_limits[1] <= 1.6 else 0.5 if y_limits[1] <= 4 else 1.0
        y_ticks = list(np.arange(0.0, y_limits[1], step))
        y_format = FuncFormatter(lambda v, _pos: f"{v:.0%}")
    x_ticks = _thin(workers, 7)
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
        _grid_lines(ax, x_ticks, y_ticks, x_limits, y_limits)
    ylabel = "speedup vs serial loop (×)" if is_speedup else "efficiency (speedup / workers)"
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    for ax in axes[-1, :]:
        ax.set_xlabel("workers (log₂ scale)")

    grey = _shades("#6e6e6e", len(n_values))
    handles = [
        Line2D([], [], color=grey[i], marker="o", lw=1.8, label=f"{int(n)} images")
        for i, n in enumerate(n_values)
    ]
    if len(sizes) > 1:
        handles += [
            Line2D([], [], color="k", marker=size_style[s][0], ls=size_style[s][1], label=s)
            for s in sizes
        ]
    if has_band:
        handles.append(Patch(color="#6e6e6e", alpha=0.25, label="95% bootstrap CI"))
    if curves:
        handles.append(Line2D([], [], color="#6e6e6e", lw=1, ls=_AMDAHL_STYLE, label="Amdahl fit"))
    if any_above:
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                ms=7,
                mfc="white",
                mec="#6e6e6e",
                mew=1.6,
                label="hollow: above the physical\nbound (workers, usable cores):\nnot a finding",
            )
        )
    ideal = "ideal: speedup = workers" if is_speedup else "ideal: 100% efficiency"
    handles.append(Line2D([], [], color="k", ls="--", lw=1, label=ideal))
    if is_speedup:
        handles.append(Line2D([], [], color=strategy_color(BASELINE), lw=1.2, label="serial loop"))
    if cores:
        label = "usable cores = " + ", ".join(str(c) for c in cores)
        if max(cores) > max(workers) * 2:
            label += " (off the axis)"
        else:
            label += "\n(ceiling: " + ("speedup ≤ cores)" if is_speedup else "cores / workers)")
        handles.append(Line2D([], [], color="k", ls=":", lw=1.2, label=label))
    legend_title = "colour: strategy\nshade: n (darker = more)"
    if len(n_values) < len(all_n):
        legend_title += f"\n{len(n_values)} of {len(all_n)} values of n shown"
    fig.legend(handles=handles, loc="outside right center", frameon=False, title=legend_title)
    _suptitle(fig, title)
    return fig


def _grid_lines(ax: plt.Axes, xs, ys, x_limits, y_limits) -> None:
    """Major grid lines as one collection (``ax.grid`` draws one line per tick)."""
    segments = [[(x, y_limits[0]), (x, y_limits[1])] for x in xs]
    segments += [[(x_limits[0], y), (x_limits[1], y)] for y in ys]
    ax.add_collection(
        LineCollection(segments, colors="#b0b0b0", linewidths=0.8, alpha=0.6, zorder=0.5),
        autolim=False,
    )


def _draw_lines(ax, cell, metric, low_col, high_col, shades, shade_of, size_style) -> None:
    """One panel's lines (one per n and size), CI bands and markers, as a few collections."""
    segments, colors, styles, bands, band_colors = [], [], [], [], []
    whiskers, whisker_colors = [], []  # a band needs two points; a lone point gets a bar
    points: dict[str, list] = {}
    hollow: dict[str, list] = {}  # speedups above their physical bound
    for (n, size), line in cell:
        x = line["workers"].to_numpy()
        y = line[metric].to_numpy()
        above = (
            _flag(line, "above_bound").to_numpy(bool)
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


def _bar_frame(speedup: pd.DataFrame) -> pd.DataFrame:
    """The cells at the largest size and then the largest n_images of each task, storage and
    cache, serial base case only."""
    data, _ = _largest_size(_serial_base(speedup))
    data = _with_panel(data)
    data["panel"] = data["panel"] + " · " + data["size"]
    largest = data.groupby("panel")["n_images"].transform("max")
    data = data[data["n_images"] == largest].copy()
    data["panel"] = data["panel"] + " · n=" + data["n_images"].astype(int).astype(str)
    order = {s: i for i, s in enumerate(strategy_order(data["strategy"].unique()))}
    data["strategy_rank"] = data["strategy"].map(order)
    data["bar"] = _cell_labels(data)
    data["above_bound"] = _above_bound(data)
    return data.sort_values(["panel", "strategy_rank", "workers"]).reset_index(drop=True)


def _faster_than_serial_figure(speedup: pd.DataFrame, experiment: str) -> plt.Figure:
    title = f"{experiment}: × faster than the serial loop at the largest n ({BASE_CASE})"
    if not _has(speedup, [*CELL, "speedup"]):
        return _no_data_figure(title, "the result table is empty")
    data = _bar_frame(speedup)
    if data.empty:
        return _no_data_figure(title, "no cell has the serial loop as its base case")
    if _largest_size(_serial_base(speedup))[1]:
        title = title.replace("at the largest n", "at the largest size and n of each task")
    has_ci = _has(data, ["speedup_ci_low", "speedup_ci_high"])
    panels = _sorted_unique(data["panel"])
    n_bars = int(data.groupby("panel").size().max())
    # Many bars: narrower, with their values written upwards so that neighbours never touch.
    upright = n_bars > 12
    panel_w, panel_h = max(6.0, (0.42 if upright else 0.55) * n_bars + 1.5), 4.0
    fig, axes = _panel_figure(len(panels), panel_w, panel_h, extra_w=0.0)
    bars_of = dict(tuple(data.groupby("panel", sort=False)))
    for ax, panel in zip(axes.flat, panels, strict=False):
        bars = bars_of[panel].reset_index(drop=True)
        _panel_title(ax, panel, panel_w)
        if not np.isfinite(bars["speedup"]).any():
            ax.text(
                0.5,
                0.5,
                "no serial loop measured: no speedup",
                transform=ax.transAxes,
                ha="center",
                va="center",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        x = np.arange(len(bars))
        heights = bars["speedup"].fillna(0.0)
        above = bars["above_bound"].to_numpy(bool)
        drawn = ax.bar(
            x,
            heights,
            color=[
                _lighten(strategy_color(s), 0.6) if up else strategy_color(s)
                for s, up in zip(bars["strategy"], above, strict=True)
            ],
            width=0.75,
        )
        for patch, up, strategy in zip(drawn.patches, above, bars["strategy"], strict=True):
            if up:
                patch.set_hatch(ABOVE_BOUND_HATCH)
                patch.set_edgecolor(strategy_color(strategy))
                patch.set_linewidth(1.2)
        whisker_top = heights
        if has_ci:
            low = (heights - bars["speedup_ci_low"]).clip(lower=0).fillna(0.0)
            high = (bars["speedup_ci_high"] - heights).clip(lower=0).fillna(0.0)
            ax.errorbar(
                x, heights, yerr=[low, high], fmt="none", ecolor="k", elinewidth=1, capsize=3
            )
            whisker_top = np.fmax(heights, bars["speedup_ci_high"].fillna(0.0))
        ax.axhline(1.0, color="k", lw=1, ls="--")
        data_top = float(max(whisker_top.max(), 1.0))
        bound = (
            pd.to_numeric(bars["bound"], errors="coerce").to_numpy(float)
            if "bound" in bars.columns
            else np.full(len(bars), math.nan)
        )
        # A bound far above every bar is left off rather than squashing the bars.
        shown = np.isfinite(bound) & (bound > 1) & (bound <= 1.6 * data_top)
        shown &= (bars["strategy"] != BASELINE).to_numpy()
        if shown.any():
            data_top = max(data_top, float(bound[shown].max()))
            ax.hlines(bound[shown], x[shown] - 0.45, x[shown] + 0.45, colors="k", lw=1.6, zorder=3)
        top = data_top * (1.3 if upright else 1.18)
        ax.set_ylim(0, top)
        for xi, value, y, up in zip(x, bars["speedup"], whisker_top, above, strict=True):
            text = f"{value:.2f}×" if math.isfinite(value) else "n/a"
            text += "!" if up else ""
            ax.text(
                xi,
                y + top * 0.01,
                text,
                ha="center",
                va="bottom",
                fontsize=9,
                rotation=90 if upright else 0,
            )
        ax.set_xticks(x, bars["bar"], rotation=40, ha="right", rotation_mode="anchor")
        for label, strategy in zip(ax.get_xticklabels(), bars["strategy"], strict=True):
            label.set_color(strategy_color(strategy) if strategy != BASELINE else "black")
        ax.set_ylabel("× faster than serial loop")
        ax.grid(True, axis="y", alpha=0.3)
    _suptitle(fig, title)
    whisker = (
        "Whisker: 95% percentile bootstrap CI of that ratio (rounds, then repetitions, of both "
        "cells resampled). "
        if has_ci
        else ""
    )
    bound_note = ""
    if "bound" in data.columns and data["bound"].notna().any():
        bound_note = (
            " Black tick: the physical bound (CPU work: min(workers, usable cores); "
            "waiting work: workers; not drawn at 1× or far above the bars)."
        )
    if data["above_bound"].any():
        bound_note += " Hatched, “!”: above its bound, a flagged measurement, not a finding."
    _note(
        fig,
        "Bar: ratio of medians (serial / strategy). "
        + whisker
        + "Dashed line: the serial loop (1×)."
        + bound_note,
    )
    return fig


def _time_vs_n_figure(
    summary: pd.DataFrame, experiment: str, verdicts: pd.DataFrame | None = None
) -> plt.Figure:
    title = (
        f"{experiment}: median time vs number of images (log-log); each strategy at its "
        "fastest worker count for that n; error bars: CI of the median"
    )
    if not _has(summary, [*CELL, "median_s"]):
        return _no_data_figure(title, "the summary table is empty")
    best = best_per_strategy_and_n(summary)
    if best.empty:
        return _no_data_figure(title, "no cell has a median time")
    best = _with_panel(best, size_in_panel=True)
    payoff = _attach_panel(payoff_n(best, verdicts), best)
    has_ci = _has(best, ["ci_low_s", "ci_high_s"])
    panels = _sorted_unique(best["panel"])
    strategies = strategy_order(best["strategy"].unique())
    n_values = [int(n) for n in _sorted_unique(best["n_images"])]
    panel_w, panel_h = 4.0, 3.2 + 0.2 * (len(strategies) - 1)
    fig, axes = _panel_figure(len(panels), panel_w, panel_h, extra_w=2.4)
    lines = dict(tuple(best.groupby(["panel", "strategy"], sort=False)))
    payoff_of = dict(tuple(payoff.groupby("panel", sort=False))) if not payoff.empty else {}
    for ax, panel in zip(axes.flat, panels, strict=False):
        _panel_title(ax, panel, panel_w)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
        for strategy in strategies:
            line = lines.get((panel, strategy))
            if line is None:
                continue
            line = line.sort_values("n_images")
            is_loop = strategy == BASELINE
            color = strategy_color(strategy)
            ax.plot(
                line["n_images"],
                line["median_s"],
                color=color,
                marker="s" if is_loop else "o",
                ms=5,
                lw=2.6 if is_loop else 1.6,
                zorder=3 if is_loop else 2,
            )
            if has_ci:
                # One collection per line: error bars without caps draw far faster.
                ax.vlines(
                    line["n_images"],
                    line["ci_low_s"].fillna(line["median_s"]),
                    line["ci_high_s"].fillna(line["median_s"]),
                    colors=color,
                    lw=1.2,
                    zorder=3 if is_loop else 2,
                )
        rows = payoff_of.get(panel)
        if rows is None:
            continue
        notes = []
        for strategy in strategies:
            row = rows[rows["strategy"] == strategy]
            if row.empty:
                continue
            n = row["payoff_n"].iloc[0]
            text = (
                f"{strategy}: faster from n = {int(n)}"
                if math.isfinite(n)
                else f"{strategy}: never shown faster"
            )
            notes.append((text, strategy_color(strategy)))
            if math.isfinite(n):
                point = lines[(panel, strategy)]
                y = point.loc[point["n_images"] == n, "median_s"].iloc[0]
                ax.scatter(
                    [n],
                    [y],
                    s=130,
                    facecolors="none",
                    edgecolors=strategy_color(strategy),
                    linewidths=1.6,
                    zorder=4,
                )
        # Under the axis, clear of the lines; the layout makes room for it.
        for i, (text, color) in enumerate(notes):
            ax.annotate(
                text,
                xy=(0, 0),
                xycoords="axes fraction",
                xytext=(0, -34 - 12 * i),
                textcoords="offset points",
                va="top",
                fontsize=9,
                color=color,
            )
    for ax in axes.flat[: len(panels)]:
        _log_axis_at(ax.xaxis, n_values, 6)
        ax.set_xlim(min(n_values) / 1.3, max(n_values) * 1.3)
        ax.set_xlabel("images (log)")
        _log_seconds_axis(ax.yaxis)
    for ax in axes[:, 0]:
        ax.set_ylabel("median time (s, log)")
    handles = _strategy_handles(strategies)
    handles.append(
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=11,
            mfc="none",
            mec="k",
            label=(
                "from here on faster\nthan the serial loop\n(n listed under each panel)"
                + (
                    "\nfaster: the tables' verdict\n(significant, within the\nphysical "
                    "bound, not withheld)"
                    if verdicts is not None
                    else "\nfaster: a lower median"
                )
            ),
        )
    )
    fig.legend(handles=handles, loc="outside right center", frameon=False)
    _suptitle(fig, title)
    return fig


def _best_strategy_figure(
    summary: pd.DataFrame,
    speedup: pd.DataFrame,
    experiment: str,
    comparisons: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> plt.Figure:
    title = (
        f"{experiment}: fastest strategy per (n images, workers) by median time; text: the "
        "winner and its speedup over the serial loop (the loop competes in every column as "
        "its one-worker run)"
    )
    verdict_note = (
        "Verdicts from the tables: pale with “~”: not shown faster than the loop "
        "(comparisons.csv, Holm-corrected; older tables: the speedup's CI reaches 1); "
        "hatched with “!”: above the physical bound (speedup.csv), not a finding; framed: "
        "the group's recommendation (dashed: withheld)."
    )
    grid = best_strategy_grid(summary, speedup, comparisons, recommendations)
    if grid.empty:
        return _no_data_figure(title, "the summary table has no median times")
    grid, dropped_size = _largest_size(grid)
    if dropped_size:
        title += "; largest image size of each task only"
    grid = _with_panel(grid, size_in_panel=True)
    panels = _sorted_unique(grid["panel"])
    strategies = strategy_order(grid["best_strategy"].unique())
    workers = [int(w) for w in _sorted_unique(grid["workers"])]
    n_values = [int(n) for n in _sorted_unique(grid["n_images"])]
    cell_w, cell_h = 0.66, 0.44
    panel_w = max(3.2, cell_w * len(workers) + 1.1)
    panel_h = cell_h * len(n_values) + 1.0
    # The legend (strategies and up to four verdict marks, some of two lines) must fit
    # beside the panels.
    legend_h = 0.3 * len(strategies) + 0.5 * sum(
        bool(grid[c].any()) for c in ("above_bound", "recommended", "withheld")
    )
    legend_h += 0.5 * bool((~grid["faster_than_loop"] & ~grid["above_bound"]).any()) + 0.6
    nrows, _ = _grid(len(panels), panel_w, panel_h, extra_w=3.0)
    panel_h = max(panel_h, legend_h / nrows)
    fig, axes = _panel_figure(len(panels), panel_w, panel_h, extra_w=3.0)
    colors = {s: to_rgb(strategy_color(s)) for s in strategies}
    n_index = {n: i for i, n in enumerate(n_values)}
    w_index = {w: i for i, w in enumerate(workers)}
    by_panel = dict(tuple(grid.groupby("panel", sort=False)))
    for ax, panel in zip(axes.flat, panels, strict=False):
        cells = by_panel[panel]
        image = np.ones((len(n_values), len(workers), 3))
        rows = cells["n_images"].astype(int).map(n_index).to_numpy()
        cols = cells["workers"].astype(int).map(w_index).to_numpy()
        confirmed = cells["faster_than_loop"].to_numpy(bool)
        above = cells["above_bound"].to_numpy(bool)
        fills = [
            colors[s] if ok and not up else _lighten(strategy_color(s), 0.6)
            for s, ok, up in zip(cells["best_strategy"], confirmed, above, strict=True)
        ]
        image[rows, cols] = np.array(fills)
        ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest")
        for r, c, strategy, value, ok, up, fill in zip(
            rows,
            cols,
            cells["best_strategy"],
            cells["speedup"],
            confirmed,
            above,
            fills,
            strict=True,
        ):
            ratio = _times(value)
            if up:
                ratio += "!"
                ax.add_patch(
                    Rectangle(
                        (c - 0.5, r - 0.5),
                        1,
                        1,
                        fill=False,
                        hatch=ABOVE_BOUND_HATCH,
                        edgecolor="#555555",
                        lw=0,
                    )
                )
            elif not ok:
                ratio = "~" + ratio
            ax.text(
                c,
                r,
                f"{short_name(strategy)}\n{ratio}",
                ha="center",
                va="center",
                fontsize=9,
                linespacing=1.0,
                color=_text_color_on(fill),
            )
        for r, c, withheld in zip(
            rows[cells["recommended"].to_numpy(bool)],
            cols[cells["recommended"].to_numpy(bool)],
            cells.loc[cells["recommended"], "withheld"].to_numpy(bool),
            strict=True,
        ):
            ax.add_patch(
                Rectangle(
                    (c - 0.44, r - 0.44),
                    0.88,
                    0.88,
                    fill=False,
                    edgecolor="black",
                    lw=2.2,
                    ls="--" if withheld else "-",
                    zorder=4,
                )
            )
        ax.set_xticks(range(len(workers)), [str(w) for w in workers])
        ax.set_yticks(range(len(n_values)), [str(n) for n in n_values])
        ax.vlines(np.arange(len(workers) + 1) - 0.5, -0.5, len(n_values) - 0.5, "white", lw=1.5)
        ax.hlines(np.arange(len(n_values) + 1) - 0.5, -0.5, len(workers) - 0.5, "white", lw=1.5)
        ax.set_xlabel("workers")
        ax.set_ylabel("images")
        _panel_title(ax, panel, panel_w)
    handles = [Patch(color=strategy_color(s), label=f"{short_name(s)} = {s}") for s in strategies]
    if len(grid) < len(panels) * len(n_values) * len(workers):
        handles.append(Patch(facecolor="white", edgecolor="#999999", label="not measured"))
    if (~grid["faster_than_loop"] & ~grid["above_bound"]).any():
        handles.append(
            Patch(
                facecolor=_lighten("#6e6e6e", 0.6),
                label="pale, ~: not shown faster\nthan the loop (tables' tests)",
            )
        )
    if grid["above_bound"].any():
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="#555555",
                hatch=ABOVE_BOUND_HATCH,
                label="hatched, !: above the\nphysical bound: not a finding",
            )
        )
    if grid["recommended"].any():
        handles.append(
            Patch(facecolor="white", edgecolor="black", lw=2.2, label="the recommendation")
        )
    if grid["withheld"].any():
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="black",
                lw=2.2,
                ls="--",
                label="the recommendation,\nwithheld",
            )
        )
    fig.legend(handles=handles, loc="outside right center", frameon=False, title="winner")
    _suptitle(fig, title)
    _note(fig, verdict_note)
    return fig


def _repetitions_figure(
    summary: pd.DataFrame, timings: pd.DataFrame, experiment: str
) -> plt.Figure:
    title = (
        f"{experiment}: every timed repetition of the headline cells (largest size and n of "
        "each task: the serial loop and each strategy's fastest worker count)"
    )
    headline = headline_cells(summary)
    if headline.empty or not _has(timings, [*CELL, "wall_s"]):
        return _no_data_figure(title, "no timed repetitions")
    reps = timings[[*CELL, "wall_s", *(["warmup"] if "warmup" in timings.columns else [])]]
    if "warmup" in reps.columns:
        reps = reps[reps["warmup"].astype(str).str.lower() != "true"]
    reps = reps.merge(headline[[*CELL, "label"]], on=CELL, how="inner").dropna(subset=["wall_s"])
    if reps.empty:
        return _no_data_figure(title, "no timed repetitions of the headline cells")
    reps = _with_panel(reps)
    reps["panel"] = (
        reps["panel"] + " · " + reps["size"] + " · n=" + reps["n_images"].astype(int).astype(str)
    )
    panels = _sorted_unique(reps["panel"])
    rank = {s: i for i, s in enumerate(strategy_order(reps["strategy"].unique()))}
    n_boxes = int(reps.groupby("panel")["label"].nunique().max())
    panel_w, panel_h = max(4.0, 0.95 * n_boxes + 1.2), 3.6
    nrows, ncols = _grid(len(panels), panel_w, panel_h, extra_h=1.4)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_w * ncols + 0.6, panel_h * nrows + 1.2),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    rng = np.random.default_rng(0)
    by_panel = dict(tuple(reps.groupby("panel", sort=False)))
    for ax, panel in zip(axes.flat, panels, strict=False):
        data = by_panel[panel]
        cells = (
            data[["label", "strategy", "workers"]]
            .drop_duplicates()
            .assign(rank=lambda f: f["strategy"].map(rank))
            .sort_values(["rank", "workers"])
        )
        order = list(cells["label"])
        color_of = dict(zip(cells["label"], cells["strategy"].map(strategy_color), strict=True))
        sns.boxplot(
            data=data,
            x="label",
            y="wall_s",
            order=order,
            hue="label",
            hue_order=order,
            palette={k: _lighten(v, 0.55) for k, v in color_of.items()},
            whis=1.5,
            showfliers=False,
            width=0.6,
            linecolor="#333333",
            legend=False,
            ax=ax,
        )
        position = {label: i for i, label in enumerate(order)}
        x = data["label"].map(position).to_numpy() + rng.uniform(-0.2, 0.2, len(data))
        ax.scatter(
            x,
            data["wall_s"],
            s=16,
            c=[color_of[label] for label in data["label"]],
            edgecolors="black",
            linewidths=0.4,
            zorder=3,
        )
        values = data["wall_s"]
        if values.min() > 0 and values.max() / values.min() > 4:
            ax.set_yscale("log")
            _log_seconds_axis(ax.yaxis)
            ax.set_ylabel("wall time per repetition (s, log)")
        else:
            ax.set_ylabel("wall time per repetition (s)")
        for label in ax.get_xticklabels():
            text = label.get_text()
            label.set_color("black" if text == "serial loop" else color_of.get(text, "black"))
        ax.set_xlabel("")
        ax.grid(True, axis="y", alpha=0.3)
        _panel_title(ax, panel, panel_w)
    _suptitle(fig, title)
    _note(fig, _WHISKER_NOTE)
    return fig


def _overhead_figure(summary: pd.DataFrame, experiment: str) -> plt.Figure:
    title = (
        f"{experiment}: where the time goes (medians over repetitions), at the smallest and "
        "the largest n of each task; pool start-up = timer start → every worker started, "
        "until first result = one item's (or one chunk's) work, work = first → last result, "
        "shutdown = last result → return; each strategy at its fastest worker count; busy = "
        "CPU time / wall time per usable worker"
    )
    segment_columns = [column for column, _label, _color in SEGMENTS]
    if summary.empty:
        return _no_data_figure(title, "the summary table is empty")
    if not _has(summary, [*CELL, "median_s", *OVERHEAD_COLUMNS]):
        return _no_data_figure(title, "the summary table has no overhead breakdown")
    bars = overhead_frame(overhead_segments(summary))
    if bars.empty:
        return _no_data_figure(title, "no cell has a median time")
    _, dropped_size = _largest_size(summary.dropna(subset=["median_s"]))
    if dropped_size:
        title += " (largest image size of each task only)"
    bars = _with_panel(bars)
    panels = _sorted_unique(bars["panel"])
    which_order = [w for w in ("only n", "smallest n", "largest n") if w in set(bars["which"])]
    rank = {s: i for i, s in enumerate(strategy_order(bars["strategy"].unique()))}
    n_bars = int(bars.groupby(["panel", "which"]).size().max())
    panel_w, panel_h = 5.0, 0.42 * n_bars + 1.1
    # Each task's facets stay side by side; tasks wrap to keep the figure near 16:9.
    nrows, per_row = _grid(len(panels), panel_w * len(which_order), panel_h, 2.8, 1.6)
    fig, axes = plt.subplots(
        nrows,
        per_row * len(which_order),
        figsize=(panel_w * len(which_order) * per_row + 2.8, panel_h * nrows + 1.6),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat:
        ax.set_visible(False)
    by_facet = dict(tuple(bars.groupby(["panel", "which"], sort=False)))
    has_busy = "worker_busy" in bars.columns
    for i, panel in enumerate(panels):
        for j, which in enumerate(which_order):
            ax = axes[i // per_row][(i % per_row) * len(which_order) + j]
            facet = by_facet.get((panel, which))
            if facet is None:
                continue
            ax.set_visible(True)
            facet = facet.assign(rank=facet["strategy"].map(rank)).sort_values(
                ["rank", "workers"], ascending=False
            )
            n = int(facet["n_images"].iloc[0])
            _panel_title(ax, f"{panel} — {which} = {n}", panel_w)
            y = np.arange(len(facet))
            left = np.zeros(len(facet))
            for column, label, color in SEGMENTS:
                width = facet[column].fillna(0.0).to_numpy()
                ax.barh(y, width, left=left, color=color, height=0.7, label=label)
                left = left + width
            present = facet[[c for c in segment_columns if c != "pool_startup_s"]].notna()
            recorded, complete = present.any(axis=1).to_numpy(), present.all(axis=1).to_numpy()
            busy = facet["worker_busy"] if has_busy else pd.Series(math.nan, index=facet.index)
            right = max(float(left.max()), 1e-9)
            pooled = (facet["strategy"] != BASELINE).to_numpy()
            for yi, end, any_part, all_parts, share, has_pool, late, is_pool in zip(
                y,
                left,
                recorded,
                complete,
                busy,
                facet["pool_recorded"].to_numpy(bool),
                facet["pool_after_first"].to_numpy(bool),
                pooled,
                strict=True,
            ):
                parts = []
                if math.isfinite(share):
                    parts.append(f"busy {share:.0%}")
                if not any_part:
                    parts.append("not recorded")
                elif not all_parts:
                    parts.append("part not recorded")
                elif is_pool and not has_pool:
                    parts.append("pool start-up not split")
                if late:
                    parts.append("last worker started after the first result")
                ax.text(end + right * 0.02, yi, "; ".join(parts), va="center", fontsize=9)
            ax.set_xlim(0, right * 1.45)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            ax.set_yticks(y, facet["label"])
            for tick, strategy in zip(ax.get_yticklabels(), facet["strategy"], strict=True):
                tick.set_color(strategy_color(strategy) if strategy != BASELINE else "black")
            ax.set_xlabel("median seconds")
            ax.grid(True, axis="x", alpha=0.3)
    split = bool(bars["pool_recorded"].any())
    labels = {column: label for column, label, _color in SEGMENTS}
    if not split:
        labels["until_first_s"] = (
            "start-up: timer start → first result (pool start-up not recorded apart)"
        )
    handles = [
        Patch(color=color, label="\n".join(textwrap.wrap(labels[column], 34)))
        for column, _label, color in SEGMENTS
        if split or column != "pool_startup_s"
    ]
    fig.legend(handles=handles, loc="outside right center", frameon=False, title="segment")
    _suptitle(fig, title)
    return fig


def hosts_frame(speedup: pd.DataFrame) -> pd.DataFrame:
    """The curves of the hosts figure: speedup over the serial loop of the same host, of
    each parallel strategy, at the largest size and then the largest n of each task, storage
    and cache. The size and n are chosen over all hosts, so that every host's panel shows
    the same workload. Serial-base rows of ``speedup`` plus ``row`` (the workload's label).
    """
    speedup = _hosted(speedup)
    if not _has(speedup, [*CELL, "speedup", "usable_cores"]):
        return pd.DataFrame(columns=[*CELL, "speedup", "row"])
    data = _serial_base(speedup)
    data = data[(data["strategy"] != BASELINE) & np.isfinite(data["speedup"])]
    place = ["experiment", "task", "storage", "cache"]
    pixels = data["width"] * data["height"]
    data = data[pixels == pixels.groupby([data[c] for c in place]).transform("max")]
    largest_n = data.groupby([*place, "width", "height"])["n_images"].transform("max")
    data = data[data["n_images"] == largest_n].copy()
    if data.empty:
        return data.assign(row=[])
    data["above_bound"] = _above_bound(data)
    label = data["task"].astype(str)
    places = data["storage"].astype(str) + "-" + data["cache"].astype(str)
    if places.nunique() > 1:
        label = label + " · " + places
    data["row"] = (
        label + " · " + _size_label(data) + " · n=" + data["n_images"].astype(int).astype(str)
    )
    return data.sort_values(["row", "host", "strategy", "workers"]).reset_index(drop=True)


def _hosts_figure(
    speedup: pd.DataFrame, timings: pd.DataFrame, hosts: list[str], experiment: str
) -> plt.Figure:
    """Each host's speedup curves in its own column, one row per workload, on shared axes,
    so that hosts compare at a glance (each against its own serial loop)."""
    title = (
        f"{experiment}: speedup over the serial loop of the same host, host by host (columns), "
        "at the largest size and n of each task; band: 95% bootstrap CI of the ratio of medians"
    )
    data = hosts_frame(speedup)
    if data.empty:
        return _no_data_figure(title, "no parallel cell has a serial loop on its host")
    rows = _sorted_unique(data["row"])
    strategies = strategy_order(data["strategy"].unique())
    workers = [int(w) for w in _sorted_unique(data["workers"])]
    low_col, high_col = "speedup_ci_low", "speedup_ci_high"
    if not _has(data, [low_col, high_col]):
        data = data.assign(**{low_col: math.nan, high_col: math.nan})
    cpu_of: dict[str, str] = {}
    if _has(timings, ["host", "cpu_model"]):
        pairs = timings[["host", "cpu_model"]].drop_duplicates("host")
        cpu_of = dict(zip(pairs["host"], pairs["cpu_model"].astype(str), strict=True))
    cores_of = data.groupby("host")["usable_cores"].max().to_dict()
    lines = dict(tuple(data.groupby(["row", "host", "strategy"], sort=False)))
    fig, axes = plt.subplots(
        len(rows),
        len(hosts),
        figsize=(_PANEL_W * len(hosts) + 2.6, _PANEL_H * len(rows) + 1.4),
        squeeze=False,
        layout="constrained",
    )
    x_grid = np.geomspace(min(workers) / 1.2, max(workers) * 1.2, 40)
    for r, row in enumerate(rows):
        for c, host in enumerate(hosts):
            ax = axes[r][c]
            parts = [host, row]
            if r == 0:
                cores = cores_of.get(host, math.nan)
                cores_text = f", {int(cores)} usable cores" if math.isfinite(cores) else ""
                parts.insert(1, f"{cpu_of.get(host, 'CPU n/a')}{cores_text}")
            # Wrapped part by part: the host, its CPU and the workload each start a line.
            chars = max(16, int(_PANEL_W * 72 / (RC_PARAMS["axes.titlesize"] * 0.55)))
            ax.set_title("\n".join(textwrap.fill(part, chars) for part in parts))
            ax.plot(x_grid, x_grid, "k--", lw=1)
            ax.axhline(1.0, color=strategy_color(BASELINE), lw=1.2)
            cores = cores_of.get(host, math.nan)
            if math.isfinite(cores) and cores <= max(workers) * 2:
                ax.axvline(cores, color="k", ls=":", lw=1.2)
                ax.axhline(cores, color="k", ls=":", lw=1.2)
            drawn = False
            for strategy in strategies:
                line = lines.get((row, host, strategy))
                if line is None:
                    continue
                line = line.sort_values("workers")
                key = (line["n_images"].iloc[0], "")
                _draw_lines(
                    ax,
                    [(key, line)],
                    "speedup",
                    low_col,
                    high_col,
                    [to_rgb(strategy_color(strategy))],
                    {key[0]: 0},
                    {"": ("o", "solid")},
                )
                drawn = True
            if not drawn:
                ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
    values = pd.concat([data["speedup"], data[low_col], data[high_col]])
    values = values[values > 0]
    y_limits = (
        min(0.9, float(values.min()) / 1.15),
        max(max(workers) * 1.2, float(values.max())) * 1.15,
    )
    powers = np.arange(math.ceil(math.log2(y_limits[0])), math.floor(math.log2(y_limits[1])) + 1)
    y_ticks = [float(2.0**k) for k in _thin(list(powers), 8)]
    x_ticks = _thin(workers, 7)
    x_limits = (min(workers) / 2**0.25, max(workers) * 2**0.25)
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlim(*x_limits)
        ax.set_ylim(*y_limits)
        ax.xaxis.set_major_locator(FixedLocator(x_ticks))
        ax.yaxis.set_major_locator(FixedLocator(y_ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.yaxis.set_major_formatter(FuncFormatter(_speedup_tick))
        _grid_lines(ax, x_ticks, y_ticks, x_limits, y_limits)
    for ax in axes[:, 0]:
        ax.set_ylabel("speedup vs the host's serial loop (×)")
    for ax in axes[-1, :]:
        ax.set_xlabel("workers (log₂ scale)")
    handles = _strategy_handles(strategies)
    handles += [
        Patch(color="#6e6e6e", alpha=0.25, label="95% bootstrap CI"),
        Line2D([], [], color="k", ls="--", lw=1, label="ideal: speedup = workers"),
        Line2D([], [], color=strategy_color(BASELINE), lw=1.2, label="serial loop (1×)"),
        Line2D([], [], color="k", ls=":", lw=1.2, label="the host's usable cores"),
    ]
    fig.legend(handles=handles, loc="outside right center", frameon=False, title="strategy")
    _suptitle(fig, title)
    return fig


def plot_all(results_dir: Path, output_dir: Path) -> list[Path]:
    """Write every figure of ``FIGURES``, each as PNG and SVG, and return their paths; with
    results of several hosts, ``HOSTS_FIGURE`` too.

    Reads the tables of ``TABLES`` in ``results_dir`` (a missing one is an error naming it),
    and those of ``VERDICT_TABLES`` where they exist: the "faster from n" marks and the best
    strategy heatmap show their verdicts (``cell_verdicts``).
    All files of ``FIGURES`` in ``output_dir`` are always written: a "no data" figure stands
    in for an empty table. A hosts figure left from an earlier run of several hosts is
    removed when there is only one, so that no deck or bundle shows a stale one.
    """
    results_dir, output_dir = Path(results_dir), Path(output_dir)
    tables, hosts = _align_hosts(_read_tables(results_dir))
    speedup, efficiency = tables["speedup"], tables["efficiency"]
    summary, timings = tables["summary"], tables["timings"]
    comparisons, recommendations = tables["comparisons"], tables["recommendations"]
    verdicts = cell_verdicts(speedup, comparisons, recommendations)
    experiment = _experiment_name([summary, speedup, efficiency], results_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    serial_speedup = _serial_base(speedup)
    amdahl = None
    if _has(serial_speedup, ["workers"]):
        workers = serial_speedup["workers"].dropna()
        if len(workers):
            grid = np.geomspace(1, max(1.0, float(workers.max())), 40)
            amdahl = amdahl_speedup(tables["amdahl"], serial_speedup, grid)
    draw = {
        "speedup": lambda: _scaling_figure(speedup, experiment, "speedup", amdahl, verdicts),
        "efficiency": lambda: _scaling_figure(
            efficiency, experiment, "efficiency", verdicts=verdicts
        ),
        "faster_than_serial": lambda: _faster_than_serial_figure(speedup, experiment),
        "time_vs_n": lambda: _time_vs_n_figure(summary, experiment, verdicts),
        "best_strategy": lambda: _best_strategy_figure(
            summary, speedup, experiment, comparisons, recommendations
        ),
        "repetitions": lambda: _repetitions_figure(summary, timings, experiment),
        "overhead": lambda: _overhead_figure(summary, experiment),
    }
    if hosts:
        draw[HOSTS_FIGURE] = lambda: _hosts_figure(speedup, timings, hosts, experiment)
    else:
        for fmt in FORMATS:
            (output_dir / f"{HOSTS_FIGURE}.{fmt}").unlink(missing_ok=True)
    written: list[Path] = []
    with plt.rc_context(RC_PARAMS):
        for stem in draw:
            written += save_figure(draw[stem](), output_dir, stem)
    return written
