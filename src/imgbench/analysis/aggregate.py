"""Aggregate cell results into tables: timings, summary, speedup, efficiency, Amdahl fits
and significance of differences (docs/results.md describes every column).

Reads only result files (never the runner). Speedup has two base cases, stated in every
row: the ``serial`` loop of the same group (task, storage, cache, size, n_images) and the
same strategy with one worker. Speedup is a ratio of medians, never a mean of ratios; its
confidence interval is a bootstrap over the repetitions of both cells, hierarchical (rounds,
then repetitions within them) when a cell ran as several rounds: a round is a separate job
and process, the experimental unit. Every claim (slower than the best, faster than the loop,
equivalent) is a test at ``ALPHA`` with Holm's correction within the group (or a TOST), and
every speedup carries its physical bound (``comparisons_frame``, ``speedup_frame``).

Results gathered from several machines are analysed host by host: the host is part of every
key the analysis groups by (``HOST_GROUP``, ``HOST_CELL``), so the same cell measured on two
hosts is two cells and a cell's base cases are those measured on its own host.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import f as sps_f
from scipy.stats import t as sps_t

from imgbench.analysis.results import (
    HOST_FIELDS,
    WAIT_TASKS,
    config_hash,
    host_labels,
    run_of,
    spec_of,
)
from imgbench.analysis.stats import (
    amdahl_fit,
    equivalent,
    hierarchical_median_cis,
    hierarchical_speedup_cis,
    holm,
    karp_flatt,
    mann_whitney_ps,
    max_missed_difference,
    median_ci,
    round_residual,
    smallest_mann_whitney_p,
    speedup_cis,
    tukey_outliers,
)

if TYPE_CHECKING:
    from imgbench.plan.grid import CellRun

GROUP = ["experiment", "task", "storage", "cache", "width", "height", "n_images"]
CELL = [*GROUP, "strategy", "workers"]
HOST = "host"
#: The keys the analysis groups by. The host follows the experiment so that rows sort host
#: by host; with a single host the order is exactly GROUP's and CELL's.
HOST_GROUP = [GROUP[0], HOST, *GROUP[1:]]
HOST_CELL = [*HOST_GROUP, "strategy", "workers"]
BASELINE = "serial"
ONE_WORKER = "1 worker"
#: Two-sided significance level of every claim ("A is slower than B", "faster than the
#: loop"), after Holm's correction within the group.
ALPHA = 0.05
#: Two cells are equivalent when the 90% CI of their time ratio lies within this relative
#: margin (a TOST at 5%); experiments may set their own (``equivalence_margin``).
DEFAULT_EQUIVALENCE_MARGIN = 0.05
#: CPU time is counted in clock ticks (10 ms), so a ratio of CPU time to wall time (how
#: busy the workers were, how much other processes used) means something only over this
#: much timed wall time; below it, it is NaN.
MIN_CPU_SHARE_WALL_S = 1.0
#: Cores other processes used while a cell ran above which its time counts as inflated by
#: interference (the deck warns; a speedup above its bound is blamed on it).
INTERFERENCE_SHARE = 0.2
#: shows it on the machine and hosts slides, not again among the threats.
CPU_MODELS_TOPIC = "CPU models"


def _cpu_share(cpu_s: float, wall_s: float) -> float:
    return float(cpu_s / wall_s) if wall_s >= MIN_CPU_SHARE_WALL_S else math.nan


#: A cell's rounds disagree when their medians differ by more than this share (max / min
#: - 1) *and* no repetition of the slowest round is as fast as any of the fastest round's:
#: a difference between jobs that the spread within a job does not explain.
ROUNDS_DISAGREE_SPREAD = 0.05
#: A cell reads "much more" from storage than its group when its median bytes read beyond
#: its inputs exceed both this share of its input bytes ...
EXTRA_READS_SHARE = 0.10
#: ... and the group's median of those bytes by this much.
EXTRA_READS_BYTES = 256 * 1024

SUMMARY_COLUMNS = [
    *CELL,
    "reps",
    "rounds",
    "median_s",
    "mean_s",
    "std_s",
    "min_s",
    "max_s",
    "ci_low_s",
    "ci_high_s",
    "ci_level",
    "cv",
    "outliers",
    "round_spread",
    "rounds_disagree",
    "images_per_s",
    "mb_per_s",
    "median_first_result_s",
    "median_pool_ready_s",
    "median_work_s",
    "median_shutdown_s",
    "median_cpu_s",
    "cpu_per_image_s",
    "cpu_per_wall",
    "worker_busy",
    "other_cpu_per_wall",
    "steal_per_wall",
    "max_peak_rss_bytes",
    "max_peak_in_flight",
    "max_tree_pss_bytes",
    "max_tree_uss_bytes",
    "median_input_bytes",
    "median_extra_read_bytes",
    "extra_reads_flag",
    "imported_modules",
    "cache_method",
    "max_resident_fraction",
    "mp_start_method",
    "eviction",
    "task_bound",
    "format",
    "host",
    "usable_cores",
]


def _joined(timings: pd.DataFrame, column: str, keys: pd.MultiIndex, sep: str = ",") -> list:
    """Per cell (in the order of ``keys``), the distinct non-empty values of ``column``,
    sorted and joined with ``sep``; a value holding several ";"-joined names (imported
    modules) counts each name."""
    sub = timings[[*HOST_CELL, column]].dropna(subset=[column])
    sub = sub.assign(**{column: sub[column].astype(str)})
    if sep == ";":
        sub = sub.assign(**{column: sub[column].str.split(";")}).explode(column)
    sub = sub[sub[column] != ""].drop_duplicates().sort_values(column, kind="stable")
    joined = sub.groupby(HOST_CELL, sort=False)[column]
    first, count = joined.first(), joined.size()
    several = count[count > 1].index
    if len(several):
        many = sub.set_index(HOST_CELL).loc[several].groupby(level=list(range(len(HOST_CELL))))
        first.loc[several] = many[column].agg(sep.join)
    return [first.get(k, "") for k in keys]


def _numeric(timings: pd.DataFrame, column: str) -> pd.Series:
    """A per-repetition column as numbers; all NaN where the results predate it."""
    if column not in timings:
        return pd.Series(math.nan, index=timings.index, dtype=float)
    return pd.to_numeric(timings[column], errors="coerce").astype(float)


def round_table(timings: pd.DataFrame) -> dict[tuple, np.ndarray]:
    """Per cell (``HOST_CELL``): its wall times, rounds x repetitions (NaN pads a round with
    fewer repetitions), rounds in order."""
    if timings.empty:
        return {}
    rounds = timings["round"] if "round" in timings else pd.Series(1, index=timings.index)
    cell = timings.groupby(HOST_CELL, sort=False).ngroup().to_numpy()
    order = np.lexsort((np.arange(len(cell)), rounds.to_numpy(), cell))
    cell, rnd = cell[order], rounds.to_numpy()[order]
    walls = timings["wall_s"].to_numpy(dtype=float)[order]
    new_job = np.r_[True, (cell[1:] != cell[:-1]) | (rnd[1:] != rnd[:-1])]
    job = np.cumsum(new_job) - 1
    job_start = np.flatnonzero(new_job)
    position = np.arange(len(cell)) - job_start[job]
    first_job = np.r_[0, np.flatnonzero(cell[1:] != cell[:-1]) + 1]
    cell_first_job = job[first_job]
    round_index = job - cell_first_job[cell]
    n_cells = int(cell.max()) + 1
    padded = np.full((n_cells, int(round_index.max()) + 1, int(position.max()) + 1), math.nan)
    padded[cell, round_index, position] = walls
    n_rounds = np.zeros(n_cells, dtype=int)
    np.maximum.at(n_rounds, cell, round_index + 1)
    width = np.zeros(n_cells, dtype=int)
    np.maximum.at(width, cell, position + 1)
    keys = timings.groupby(HOST_CELL, sort=False).size().index
    return {tuple(key): padded[i, : n_rounds[i], : width[i]] for i, key in enumerate(keys)}


def _extra_reads_flags(out: pd.DataFrame) -> np.ndarray:
    flags = np.zeros(len(out), dtype=bool)
    extra, inputs = out["median_extra_read_bytes"], out["median_input_bytes"].fillna(0.0)
    group_median = extra.groupby([out[c] for c in HOST_GROUP], sort=False).transform("median")
    with np.errstate(invalid="ignore"):
        flags = (
            (extra > EXTRA_READS_SHARE * inputs) & (extra > group_median + EXTRA_READS_BYTES)
        ).to_numpy()
    return flags & extra.notna().to_numpy()


def summary_frame(timings: pd.DataFrame) -> pd.DataFrame:
    """Per cell: repetitions, median with its CI, spread, rounds, throughput, fairness facts.

    The median pools every repetition of every round. Its CI is distribution-free (order
    statistics) for a cell of one round, and a hierarchical bootstrap (rounds, then the
    repetitions within them; ``stats.hierarchical_median_cis``) for a cell of several: the
    rounds are the experimental unit. Fields that older results lack are NaN (or empty).
    """
    if timings.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    timings = timings.assign(
        **{
            c: _numeric(timings, c)
            for c in (
                "pool_ready_s",
                "peak_in_flight",
                "tree_peak_pss_bytes",
                "tree_peak_uss_bytes",
                "input_bytes",
                "extra_read_bytes",
                "other_cpu_s",
                "steal_s",
                "cpu_s",
                "first_result_s",
                "work_s",
                "shutdown_s",
                "payload_bytes",
                "resident_fraction",
            )
        }
    )
    for column, default in (
        ("round", 1),
        ("worker_imported_modules", ""),
        ("eviction", ""),
        ("task_bound", None),
        ("cache_method", ""),
        ("mp_start_method", ""),
    ):
        if column not in timings:
            timings[column] = default
    if timings["task_bound"].isna().any():
        guess = np.where(timings["task"].isin(list(WAIT_TASKS)), "wait", "cpu")
        timings["task_bound"] = timings["task_bound"].fillna(pd.Series(guess, timings.index))
    groups = timings.groupby(HOST_CELL, sort=True)
    out = groups.agg(
        reps=("wall_s", "size"),
        rounds=("round", "nunique"),
        median_s=("wall_s", "median"),
        mean_s=("wall_s", "mean"),
        std_s=("wall_s", "std"),
        min_s=("wall_s", "min"),
        max_s=("wall_s", "max"),
        wall_sum=("wall_s", "sum"),
        payload_median=("payload_bytes", "median"),
        cpu_sum=("cpu_s", "sum"),
        other_sum=("other_cpu_s", "sum"),
        steal_sum=("steal_s", "sum"),
        median_first_result_s=("first_result_s", "median"),
        median_pool_ready_s=("pool_ready_s", "median"),
        median_work_s=("work_s", "median"),
        median_shutdown_s=("shutdown_s", "median"),
        median_cpu_s=("cpu_s", "median"),
        max_peak_rss_bytes=("peak_rss_bytes", "max"),
        max_peak_in_flight=("peak_in_flight", "max"),
        max_tree_pss_bytes=("tree_peak_pss_bytes", "max"),
        max_tree_uss_bytes=("tree_peak_uss_bytes", "max"),
        median_input_bytes=("input_bytes", "median"),
        median_extra_read_bytes=("extra_read_bytes", "median"),
        max_resident_fraction=("resident_fraction", "max"),
        format=("format", "first"),
        usable_cores=("usable_cores", "max"),
    ).reset_index()
    index = pd.MultiIndex.from_frame(out[HOST_CELL])
    for column in ("cache_method", "mp_start_method", "eviction", "task_bound"):
        out[column] = _joined(timings, column, index)
    out["imported_modules"] = _joined(timings, "worker_imported_modules", index, sep=";")
    tables = round_table(timings)
    keys = [tuple(k) for k in out[HOST_CELL].itertuples(index=False)]
    cis: list[tuple] = [(math.nan, math.nan, math.nan)] * len(out)
    spreads, disagree = np.full(len(out), math.nan), np.zeros(len(out), dtype=bool)
    by_shape: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        table = tables[key]
        if table.shape[0] == 1:
            cis[i] = median_ci(table[0])
            continue
        by_shape.setdefault(table.shape, []).append(i)
    for rows in by_shape.values():
        stacked = np.stack([tables[keys[i]] for i in rows])
        low, high = hierarchical_median_cis(stacked)
        medians = np.nanmedian(stacked, axis=2)
        spread = medians.max(axis=1) / medians.min(axis=1) - 1.0
        slow = stacked[np.arange(len(rows)), medians.argmax(axis=1)]
        fast = stacked[np.arange(len(rows)), medians.argmin(axis=1)]
        separated = np.nanmin(slow, axis=1) > np.nanmax(fast, axis=1)
        for k, i in enumerate(rows):
            cis[i] = (float(low[k]), float(high[k]), 0.95)
            spreads[i] = float(spread[k])
            disagree[i] = bool(separated[k] and spread[k] > ROUNDS_DISAGREE_SPREAD)
    out["ci_low_s"], out["ci_high_s"], out["ci_level"] = zip(*cis, strict=True)
    out["outliers"] = [tukey_outliers(tables[k][~np.isnan(tables[k])]) for k in keys]

    out["round_spread"], out["rounds_disagree"] = spreads, disagree
    out["cv"] = out["std_s"] / out["mean_s"]
    # Rates that agree with the medians: the work of one repetition over the median time.
    out["images_per_s"] = out["n_images"] / out["median_s"]
    out["mb_per_s"] = out["payload_median"] / out["median_s"] / 1e6
    out["cpu_per_image_s"] = out["median_cpu_s"] / out["n_images"]
    # How busy the process tree was: CPU seconds per wall second, and per worker that
    # could actually run at once.
    out["cpu_per_wall"] = [
        _cpu_share(c, w) for c, w in zip(out["cpu_sum"], out["wall_sum"], strict=True)
    ]
    out["worker_busy"] = out["cpu_per_wall"] / np.minimum(out["workers"], out["usable_cores"])
    # CPU seconds other processes used per wall second: cores lost to interference. Each
    # repetition's count is unclipped (tick noise can make it slightly negative): the cell's
    # sum is clipped, once.
    out["other_cpu_per_wall"] = [
        _cpu_share(max(0.0, o), w) for o, w in zip(out["other_sum"], out["wall_sum"], strict=True)
    ]
    out["steal_per_wall"] = [
        _cpu_share(s, w) for s, w in zip(out["steal_sum"], out["wall_sum"], strict=True)
    ]
    out["extra_reads_flag"] = _extra_reads_flags(out)
    return out[SUMMARY_COLUMNS].astype(
        {
            "reps": int,
            "rounds": int,
            "outliers": int,
            "max_peak_rss_bytes": int,
            "usable_cores": int,
        }
    )


def _walls(timings: pd.DataFrame) -> dict[tuple, np.ndarray]:
    """Per cell, its wall times as rounds x repetitions (``round_table``)."""
    return round_table(timings)


def _paired(
    walls: dict[tuple, np.ndarray], pairs: list[tuple[tuple, tuple]], batched, width: int
) -> list[tuple]:
    """Apply a batched row-wise statistic to (a, b) cell pairs, batching equal shapes.

    ``batched(a, b)`` gets rows x rounds x repetitions arrays and returns ``width`` arrays,
    one value per row; a pair with a cell that was not measured gets NaNs.
    """
    out: list[tuple] = [(math.nan,) * width] * len(pairs)
    by_shape: dict[tuple, list[int]] = {}
    for i, (a, b) in enumerate(pairs):
        if a in walls and b in walls:
            by_shape.setdefault((walls[a].shape, walls[b].shape), []).append(i)
    for index in by_shape.values():
        a = np.stack([walls[pairs[i][0]] for i in index])
        b = np.stack([walls[pairs[i][1]] for i in index])
        for i, values in zip(index, zip(*batched(a, b), strict=True), strict=True):
            out[i] = values
    return out


def _ratio_cis(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple:
    """CIs of median(a) / median(b), rows x rounds x repetitions: today's bootstrap over the
    repetitions when both cells have one round, the hierarchical bootstrap otherwise."""
    if a.shape[1] == 1 and b.shape[1] == 1:
        return speedup_cis(a[:, 0], b[:, 0], level=level)
    return hierarchical_speedup_cis(a, b, level=level)


#: Strategies that change the algorithm rather than spread the work (one numpy operation over
#: the batch): their speedup has no physical bound from workers or cores.
UNBOUNDED_STRATEGIES = frozenset({"vectorized"})


def bound(task_bound: str, workers: int, usable_cores: int, strategy: str = "") -> float:
    """The largest speedup the workers and cores allow: min(workers, usable cores) for
    CPU-bound work, the workers alone for waiting work (downloads, sleeps); NaN for a
    strategy in ``UNBOUNDED_STRATEGIES``."""
    if strategy in UNBOUNDED_STRATEGIES:
        return math.nan
    return int(workers) if task_bound == "wait" else int(min(workers, usable_cores))


def speedup_frame(summary: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """Speedup of each cell over both base cases, with bootstrap CIs; one row per base case.

    ``serial``: median(serial loop of the group) / median(cell). ``1 worker``: the same
    strategy with one worker in the same group (the loop is its own base). Both base cases
    are those measured on the cell's own host. Each row carries its physical bound and
    whether the point estimate exceeds it, and the CPU per image of both cells.
    """
    walls = _walls(timings)
    indexed = summary.set_index(HOST_CELL)
    medians = indexed["median_s"].to_dict()
    cpu_per_image = indexed["cpu_per_image_s"].to_dict() if "cpu_per_image_s" in indexed else {}
    rows, pairs = [], []
    columns = [*HOST_CELL, "median_s", "ci_low_s", "ci_high_s", "usable_cores"]
    bounds = summary["task_bound"] if "task_bound" in summary else pd.Series("cpu", summary.index)
    for cell, task_bound in zip(summary[columns].itertuples(index=False), bounds, strict=True):
        key = tuple(getattr(cell, c) for c in HOST_CELL)
        group = key[: len(HOST_GROUP)]
        uses_workers = cell.strategy != BASELINE
        bases = (
            (BASELINE, BASELINE, 1),
            (ONE_WORKER, cell.strategy, 1 if uses_workers else cell.workers),
        )
        for name, strategy, workers in bases:
            base_key = (*group, strategy, workers)
            base_median = medians.get(base_key, math.nan)
            pairs.append((base_key, key))
            speedup = 1.0 if base_key == key else base_median / cell.median_s
            limit = bound(task_bound, cell.workers, cell.usable_cores, cell.strategy)
            cell_cpu = cpu_per_image.get(key, math.nan)
            base_cpu = cpu_per_image.get(base_key, math.nan)
            rows.append(
                {
                    **dict(zip(HOST_CELL, key, strict=True)),
                    "baseline": name,
                    "baseline_strategy": strategy,
                    "baseline_workers": workers,
                    "median_s": cell.median_s,
                    "ci_low_s": cell.ci_low_s,
                    "ci_high_s": cell.ci_high_s,
                    "baseline_median_s": base_median,
                    # Exactly 1 for a cell that is its own base, whatever rounding would say.
                    "speedup": speedup,
                    "usable_cores": cell.usable_cores,
                    "task_bound": task_bound,
                    "bound": limit,
                    "exceeds_bound": bool(speedup > limit),
                    "cpu_per_image_s": cell_cpu,
                    "baseline_cpu_per_image_s": base_cpu,
                    "cpu_per_image_ratio": (
                        base_cpu / cell_cpu if cell_cpu and cell_cpu > 0 else math.nan
                    ),
                    "_self": base_key == key,
                }
            )
    cis = _paired(walls, pairs, _ratio_cis, width=2)
    for row, (low, high) in zip(rows, cis, strict=True):
        row["speedup_ci_low"], row["speedup_ci_high"] = (1.0, 1.0) if row["_self"] else (low, high)
    columns = [
        *CELL,
        HOST,
        "baseline",
        "baseline_strategy",
        "baseline_workers",
        "median_s",
        "ci_low_s",
        "ci_high_s",
        "baseline_median_s",
        "speedup",
        "speedup_ci_low",
        "speedup_ci_high",
        "usable_cores",
        "task_bound",
        "bound",
        "exceeds_bound",
        "cpu_per_image_s",
        "baseline_cpu_per_image_s",
        "cpu_per_image_ratio",
    ]
    return pd.DataFrame(rows, columns=columns)


def efficiency_frame(speedup: pd.DataFrame) -> pd.DataFrame:
    """Efficiency (speedup / workers) with its CI, and the Karp-Flatt serial fraction.

    Karp-Flatt is NaN beyond the usable cores: there, missing cores would read as serial
    work (a perfect 2x on 2 cores gives e = 0.33 at p = 4).
    """
    out = speedup[[*CELL, HOST, "baseline", "speedup", "usable_cores"]].copy()
    out["efficiency"] = out["speedup"] / out["workers"]
    out["efficiency_ci_low"] = speedup["speedup_ci_low"] / out["workers"]
    out["efficiency_ci_high"] = speedup["speedup_ci_high"] / out["workers"]
    out["karp_flatt"] = [
        karp_flatt(s, p) if p <= cores else math.nan
        for s, p, cores in zip(out["speedup"], out["workers"], out["usable_cores"], strict=True)
    ]
    return out[
        [
            *CELL,
            HOST,
            "baseline",
            "speedup",
            "efficiency",
            "efficiency_ci_low",
            "efficiency_ci_high",
            "karp_flatt",
            "usable_cores",
        ]
    ]


#: An Amdahl fit needs this many worker counts within the usable cores (two points fit any
#: such curve exactly).
AMDAHL_MIN_POINTS = 3


def amdahl_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Fit T(p) = Ts + Tp / p per (group, strategy) on each host over its worker counts
    within the usable cores, never beyond them (there workers compete for cores, which
    Amdahl's law does not model). A strategy with several worker counts but fewer than
    ``AMDAHL_MIN_POINTS`` within the cores gets a row of NaNs whose ``fit_note`` says why.
    """
    rows = []
    columns = [
        *GROUP,
        "strategy",
        HOST,
        "points",
        "fit_max_workers",
        "t_serial_s",
        "t_parallel_s",
        "serial_fraction",
        "max_speedup",
        "fit_r2",
        "fit_note",
    ]
    for key, g in summary.groupby([*HOST_GROUP, "strategy"], sort=True):
        g = g.sort_values("workers")
        if g["workers"].nunique() < 2:
            continue
        cores = int(g["usable_cores"].max())
        fitted = g[g["workers"] <= cores]
        row = dict(zip([*HOST_GROUP, "strategy"], key, strict=True))
        if fitted["workers"].nunique() < AMDAHL_MIN_POINTS:
            rows.append(
                {
                    **row,
                    "points": len(fitted),
                    "fit_max_workers": math.nan,
                    **dict.fromkeys(
                        ["t_serial_s", "t_parallel_s", "serial_fraction", "max_speedup", "fit_r2"],
                        math.nan,
                    ),
                    "fit_note": f"not fitted: {fitted['workers'].nunique()} worker count(s) "
                    f"within the {cores} usable cores, {AMDAHL_MIN_POINTS} needed",
                }
            )
            continue
        ts, tp, r2 = amdahl_fit(fitted["workers"], fitted["median_s"])
        total = ts + tp
        rows.append(
            {
                **row,
                "points": len(fitted),
                "fit_max_workers": int(fitted["workers"].max()),
                "t_serial_s": ts,
                "t_parallel_s": tp,
                "serial_fraction": ts / total if total > 0 else math.nan,
                "max_speedup": total / ts if ts > 0 else math.inf,
                "fit_r2": r2,
                "fit_note": "",
            }
        )
    return pd.DataFrame(rows, columns=columns)


COMPARISON_COLUMNS = [
    *CELL,
    HOST,
    "median_s",
    "rounds",
    "best_strategy",
    "best_workers",
    "test",
    "p_value",
    "p_holm",
    "mannwhitney_p",
    "ci_overlap",
    "testable",
    "significantly_slower",
    "ratio",
    "ratio_ci90_low",
    "ratio_ci90_high",
    "equivalence_margin",
    "equivalent",
    "max_missed_difference",
    "ratio_vs_loop",
    "p_vs_loop",
    "p_holm_vs_loop",
    "faster_than_loop",
]
#: The ``test`` column: how a comparison's p-value was computed.
TEST_ROUNDS, TEST_MANN_WHITNEY = "rounds t", "Mann-Whitney"


def _job_log_means(tables: dict[tuple, np.ndarray]) -> dict[tuple, np.ndarray]:
    """Per cell, the mean log wall time of each of its rounds (a job's geometric mean)."""
    return {key: np.nanmean(np.log(t), axis=1) for key, t in tables.items()}


def _group_residual(logs: list[np.ndarray]) -> tuple[float, int]:
    """The residual variance and df of a group's cells x rounds table of job log means, over
    the cells that have the group's most common number of rounds."""
    if not logs:
        return math.nan, 0
    common = Counter(len(v) for v in logs).most_common(1)[0][0]
    complete = [v for v in logs if len(v) == common]
    if len(complete) < 2 or common < 2:
        return math.nan, 0
    ss, df = round_residual(np.array(complete))
    return (ss / df if df else math.nan), df


def pooled_round_residual(timings: pd.DataFrame) -> tuple[float, int]:
    """The residual variance and df of the round model (see ``comparisons_frame``) pooled
    over every group of ``timings``: each group's cells x rounds table has its own round
    effects; sums of squares and degrees of freedom add up."""
    if timings.empty:
        return math.nan, 0
    logs = _job_log_means(_walls(timings))
    by_group: dict[tuple, list[np.ndarray]] = {}
    for key, values in logs.items():
        by_group.setdefault(key[: len(HOST_GROUP)], []).append(values)
    ss, df = 0.0, 0
    for values in by_group.values():
        var, d = _group_residual(values)
        if d:
            ss, df = ss + var * d, df + d
    return (ss / df if df else math.nan), df


def round_comparison(
    walls_a: np.ndarray, walls_b: np.ndarray, residual: tuple[float, int]
) -> tuple[float, float, float, float]:
    """Two cells (rounds x repetitions each) compared as ``comparisons_frame`` does with
    several rounds (``_round_pairs``): (p, time ratio a / b, its 90% CI low, high)."""
    a = np.nanmean(np.log(walls_a), axis=1)
    b = np.nanmean(np.log(walls_b), axis=1)
    table = np.full((2, max(len(a), len(b))), math.nan)
    table[0, : len(a)], table[1, : len(b)] = a, b
    p, ratio, low, high = _round_pairs(table, residual, _within_job([walls_a, walls_b]))
    return float(p[0, 1]), float(ratio[0, 1]), float(low[0, 1]), float(high[0, 1])


def _within_job(tables: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: the variance of log times within its jobs (pooled over its rounds), its
    degrees of freedom, and the mean repetitions per round."""
    var, df, reps = (np.full(len(tables), math.nan) for _ in range(3))
    for i, t in enumerate(tables):
        logs = np.log(t)
        counts = (~np.isnan(logs)).sum(axis=1)
        ss = float(np.nansum((logs - np.nanmean(logs, axis=1, keepdims=True)) ** 2))
        d = int((counts - 1).clip(min=0).sum())
        var[i], df[i], reps[i] = (ss / d if d else math.nan), d, counts.mean()
    return var, df, reps


def _round_pairs(logs: np.ndarray, residual: tuple[float, int], within: tuple) -> tuple:
    """All pairs of a group's cells (cells x rounds, NaN: a round the cell lacks): p, ratio
    i / j and its 90% CI, as cells x cells arrays (``stats.round_contrast``, vectorised).

    The variance of a round's log ratio is the group's pooled residual (2 s^2,
    ``_group_residual``), unless the pair's own, 2 u^2 + v_i / k_i + v_j / k_j, is clearly
    larger (F test at 5%): v is the within-job variance of each cell, k its repetitions per
    round and u^2 the job-to-job excess the residual leaves beyond the within-job part. So
    a cell much noisier than its group is judged on its own noise, not on its quieter
    neighbours' (with Satterthwaite's degrees of freedom).
    """
    var, df = residual
    w_var, w_df, w_reps = within
    diff = logs[:, None, :] - logs[None, :, :]
    shared = (~np.isnan(diff)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(shared > 0, np.nansum(np.nan_to_num(diff), axis=-1) / shared, math.nan)
        if not (df >= 1 and math.isfinite(var)):
            nan = np.full(d.shape, math.nan)
            return nan, np.exp(d), nan, nan
        part = w_var / w_reps  # each cell's within-job share of a round mean's variance
        excess = max(0.0, var - float(np.nanmean(part))) if np.isfinite(part).any() else 0.0
        own = 2.0 * excess + part[:, None] + part[None, :]
        own_df = (own**2) / (
            (2.0 * excess) ** 2 / df
            + part[:, None] ** 2 / w_df[:, None]
            + part[None, :] ** 2 / w_df[None, :]
        )
        # The pair's own variance only where it is clearly larger than the pooled one (an F
        # test at 5%): otherwise the pooled estimate, with its many more degrees of freedom.
        clearly = sps_f.ppf(0.95, np.fmax(np.nan_to_num(own_df, nan=1.0), 1.0), df)
        use_own = np.isfinite(own) & (own > 2.0 * var * clearly)
        pair_var = np.where(use_own, own, 2.0 * var)
        pair_df = np.where(use_own, np.fmax(own_df, 1.0), float(df))
        se = np.sqrt(pair_var / shared)
        t = np.where(se > 0, np.abs(d) / se, np.where(d == 0, 0.0, np.inf))
        p = 2.0 * sps_t.sf(t, pair_df)
        q = sps_t.ppf(0.95, pair_df)
        low, high = np.exp(d - q * se), np.exp(d + q * se)
    return p, np.exp(d), low, high


def _rep_pairs(tables: list[np.ndarray]) -> tuple:
    """All pairs of a group's one-round cells: Mann-Whitney p over the repetitions, ratio of
    medians i / j with its 90% percentile bootstrap CI, and whether p < ALPHA is possible."""
    n = len(tables)
    walls = [t[0][~np.isnan(t[0])] for t in tables]
    p, low, high = (np.full((n, n), math.nan) for _ in range(3))
    ratio = np.array([[np.median(a) / np.median(b) for b in walls] for a in walls])
    possible = np.zeros((n, n), dtype=bool)
    # Mann-Whitney's two-sided p is symmetric: each pair once (i > j), mirrored.
    pairs = [(i, j) for i in range(n) for j in range(i)]
    by_shape: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, j in pairs:
        a, b = len(walls[i]), len(walls[j])
        possible[i, j] = possible[j, i] = (
            a >= 2 and b >= 2 and smallest_mann_whitney_p(a, b) < ALPHA
        )
        if a >= 2 and b >= 2:
            by_shape.setdefault((a, b), []).append((i, j))
    for index in by_shape.values():
        a = np.stack([walls[i] for i, _ in index])
        b = np.stack([walls[j] for _, j in index])
        for (i, j), pv in zip(index, mann_whitney_ps(a, b), strict=True):
            p[i, j] = p[j, i] = pv
        # CIs of the ratio to the best (cell 0) only: the others are not reported.
        to_best = [k for k, (_, j) in enumerate(index) if j == 0]
        if to_best:
            lo, hi = speedup_cis(a[to_best], b[to_best], level=0.90)
            for k, lv, hv in zip(to_best, lo, hi, strict=True):
                low[index[k]], high[index[k]] = lv, hv
    return p, ratio, low, high, possible


def comparisons_frame(
    summary: pd.DataFrame, timings: pd.DataFrame, margins: dict[str, float] | None = None
) -> pd.DataFrame:
    """Each cell against the fastest cell of its group on its host, and against the loop.

    The test respects rounds (the experimental unit). With several rounds: the mean log
    time of each round (job) of each cell forms a cells x rounds table; an additive model
    (cell + round) removes what shifted a whole round, and its residual variance, pooled
    over the group's cells with (cells - 1)(rounds - 1) degrees of freedom, is the
    job-to-job variation that repetitions within one job cannot see. Two cells are compared
    by a t-test of their mean log ratio over the rounds both have (``stats.round_contrast``).
    Why: a pair compared on its repetitions alone would treat the repetitions of one job as
    independent and call drift between two jobs a difference; a pair compared on its own
    rounds only would have 1 degree of freedom with 2 rounds. A pair whose own variance is
    clearly larger than the pooled one (a cell much noisier than its group) is judged on its
    own (``_round_pairs``). The simulation in tests/test_decisions.py and
    benchmarks/decision_rates.py measures the error rates this gives. With one round per cell
    (older results): today's Mann-Whitney U over the repetitions, and a percentile
    bootstrap CI of the ratio of medians.

    Claims, each at ``ALPHA`` after Holm's correction within the group:
    ``significantly_slower`` (than the best): Holm over *every pair* of the group's cells,
    because the best was picked from the data and a comparison with the data's minimum is
    one of the pairs (Holm over the comparisons with the best alone claimed some identical
    cell slower in 8-10% of simulated groups). ``faster_than_loop``: Holm over all the
    group's cells against the loop, a fixed base case, so that the best's claim is covered
    whichever cell it is. ``equivalent`` (to the best): a TOST, the 90% CI of the time
    ratio cell / best within [1 / (1 + m), 1 + m], m the experiment's
    ``equivalence_margin`` (``margins``; default ``DEFAULT_EQUIVALENCE_MARGIN``).
    """
    if summary.empty:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    margins = margins or {}
    tables = _walls(timings)
    logs = _job_log_means(tables)
    rows = []
    for key, g in summary.groupby(HOST_GROUP, sort=False):
        g = g.sort_values("median_s", kind="stable")
        cells = [tuple(c) for c in g[HOST_CELL].itertuples(index=False)]
        n = len(cells)
        multi = any(tables[c].shape[0] > 1 for c in cells)
        if multi:
            width = max(len(logs[c]) for c in cells)
            table = np.full((n, width), math.nan)
            for i, c in enumerate(cells):
                table[i, : len(logs[c])] = logs[c]
            residual = _group_residual([logs[c] for c in cells])
            within = _within_job([tables[c] for c in cells])
            p, ratio, low, high = _round_pairs(table, residual, within)
            possible = np.full((n, n), residual[1] >= 1)
        else:
            p, ratio, low, high, possible = _rep_pairs([tables[c] for c in cells])
        # Holm over every pair (i < j) of the group; the matrix is symmetric.
        upper = np.triu_indices(n, k=1)
        adjusted = np.full((n, n), math.nan)
        adjusted[upper] = holm(p[upper])
        adjusted = np.fmin(adjusted, adjusted.T)
        loop = next((i for i, c in enumerate(cells) if c[-2] == BASELINE), None)
        vs_loop = np.full(n, math.nan)
        if loop is not None:
            vs_loop = holm(np.where(np.arange(n) == loop, math.nan, p[:, loop]))
        margin = float(margins.get(key[0], DEFAULT_EQUIVALENCE_MARGIN))
        best_row = g.iloc[0]
        for i, (cell, (_, row)) in enumerate(zip(cells, g.iterrows(), strict=True)):
            is_best = i == 0
            lo, hi = (1.0, 1.0) if is_best else (low[i, 0], high[i, 0])
            ratio_i = 1.0 if is_best else ratio[i, 0]
            slower = not is_best and adjusted[i, 0] < ALPHA and ratio_i > 1.0
            lratio = math.nan if loop is None else (1.0 if i == loop else ratio[i, loop])
            rows.append(
                {
                    **dict(zip(HOST_CELL, cell, strict=True)),
                    "median_s": row["median_s"],
                    "rounds": int(tables[cell].shape[0]),
                    "best_strategy": cells[0][-2],
                    "best_workers": int(cells[0][-1]),
                    "test": TEST_ROUNDS if multi else TEST_MANN_WHITNEY,
                    "p_value": math.nan if is_best else p[i, 0],
                    "p_holm": math.nan if is_best else adjusted[i, 0],
                    "mannwhitney_p": math.nan if is_best else p[i, 0],
                    "ci_overlap": bool(
                        row["ci_low_s"] <= best_row["ci_high_s"]
                        and best_row["ci_low_s"] <= row["ci_high_s"]
                    ),
                    "testable": bool(is_best or possible[i, 0]),
                    "significantly_slower": bool(slower),
                    "ratio": ratio_i,
                    "ratio_ci90_low": lo,
                    "ratio_ci90_high": hi,
                    "equivalence_margin": margin,
                    "equivalent": equivalent(lo, hi, margin),
                    "max_missed_difference": max_missed_difference(lo, hi),
                    "ratio_vs_loop": lratio,
                    "p_vs_loop": math.nan if loop is None or i == loop else p[i, loop],
                    "p_holm_vs_loop": vs_loop[i],
                    "faster_than_loop": bool(vs_loop[i] < ALPHA and lratio < 1.0),
                }
            )
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    return out.sort_values(HOST_CELL, kind="stable").reset_index(drop=True)


def _max_interference(timings: pd.DataFrame, column: str) -> float | None:
    """The largest share of a core lost to interference during one cell's repetitions."""
    if timings.empty:
        return None
    per_cell = timings.groupby(HOST_CELL)[[column, "wall_s"]].sum()
    # Clipped over the cell, not per repetition (each repetition's count is unclipped).
    shares = [
        _cpu_share(max(0.0, o), w)
        for o, w in zip(per_cell[column], per_cell["wall_s"], strict=True)
    ]
    shares = [s for s in shares if not math.isnan(s)]
    return max(shares) if shares else None


def _host_entries(results: Sequence[dict], labels: list[str]) -> list[dict]:
    """One entry per host: its machine fields, its label in the tables and its number of
    cell result files (one per round of a cell)."""
    counts = Counter(labels)
    hosts: dict[str, dict] = {}
    for res, label in zip(results, labels, strict=True):
        m = res["machine"]
        hosts.setdefault(label, {k: m.get(k) for k in HOST_FIELDS} | {"host": label})
    return [{**hosts[label], "cells": counts[label]} for label in sorted(hosts)]


def _and(names: Iterable[str]) -> str:
    return ", ".join(str(n) for n in names)


def _aggregate_warnings(
    results: Sequence[dict], labels: list[str], commits: list[str], unexpected: list[str]
) -> list[dict]:
    """What is odd about this set of results as a whole, each ``{"topic", "text"}``."""
    warnings = []
    by_experiment: dict[str, dict[str, set[str]]] = {}
    hostnames: dict[str, set[str]] = {}
    for res, label in zip(results, labels, strict=True):
        cpu = str(res["machine"].get("cpu_model") or "unknown")
        by_experiment.setdefault(res["cell"]["experiment"], {}).setdefault(cpu, set()).add(label)
        hostnames.setdefault(str(res["machine"].get("hostname") or "unknown"), set()).add(label)
    for experiment, models in sorted(by_experiment.items()):
        if len(models) > 1:
            where = "; ".join(f"{cpu} ({_and(sorted(h))})" for cpu, h in sorted(models.items()))
            warnings.append(
                {
                    "topic": CPU_MODELS_TOPIC,
                    "text": f"The cells of experiment {experiment} ran on {len(models)} CPU "
                    f"models: {where}. Each host is analysed on its own; compare hosts side "
                    "by side, never one host's cell against another's.",
                }
            )
    for name, split in sorted(hostnames.items()):
        if len(split) > 1:
            warnings.append(
                {
                    "topic": "Hosts",
                    "text": f"Hostname {name} reported {len(split)} CPU models, so its cells "
                    f"are analysed as {len(split)} hosts: {_and(sorted(split))}.",
                }
            )
    known = [c for c in commits if c != "unknown"]
    if len(known) > 1:
        warnings.append(
            {
                "topic": "Workflow commits",
                "text": f"The cells were run from {len(known)} workflow commits "
                f"({_and(known)}): the measured code may differ between cells.",
            }
        )
    hashes = [config_hash(r) for r in results]
    unhashed = sum(h is None for h in hashes)
    if 0 < unhashed < len(hashes):
        warnings.append(
            {
                "topic": "Config",
                "text": f"{unhashed} of {len(hashes)} cells record no config hash (written by "
                "an older imgbench): they could not be checked against the others' config.",
            }
        )
    if unexpected:
        shown = _and(unexpected[:3]) + (
            f" and {len(unexpected) - 3} more" if len(unexpected) > 3 else ""
        )
        warnings.append(
            {
                "topic": "Config",
                "text": f"{len(unexpected)} cell results are not in the config's grid and are "
                f"analysed all the same: {shown}.",
            }
        )
    return warnings


def _missing_by_host(
    results: Sequence[dict], labels: list[str], expected: list[CellRun]
) -> dict[str, list[str]]:
    """Each host's expected result files (one per round of each cell) without a result, as
    relative paths: a cell whose round 2 failed is listed by its round-2 file."""
    present: dict[str, set] = {label: set() for label in labels}
    for res, label in zip(results, labels, strict=True):
        present[label].add(run_of(res))
    wanted = set(expected)
    return {
        label: sorted(c.path for c in wanted - runs)
        for label, runs in sorted(present.items())
        if wanted - runs
    }


def _start_methods(results: Sequence[dict], timings: pd.DataFrame) -> dict[str, dict]:
    """Per start method of the process pools: how many result files used it, and the
    median time until every worker was ready (pool_ready_s; None where not recorded)."""
    counts = Counter(str(r["run"]["mp_start_method"]) for r in results)
    ready = _numeric(timings, "pool_ready_s") if not timings.empty else pd.Series(dtype=float)
    out = {}
    for method in sorted(counts):
        values = (
            ready[timings["mp_start_method"].astype(str) == method].dropna()
            if len(ready)
            else ready
        )
        out[method] = {
            "results": counts[method],
            "median_pool_ready_s": float(values.median()) if len(values) else None,
        }
    return out


def _durability(results: Sequence[dict]) -> dict[str, str]:
    """Per task whose options record ``durability`` (saving tasks), the values used."""
    found: dict[str, set[str]] = {}
    for r in results:
        value = (r["run"].get("task_options") or {}).get("durability")
        if value is not None:
            found.setdefault(r["cell"]["task"], set()).add(str(value))
    return {task: ",".join(sorted(v)) for task, v in sorted(found.items())}


def metadata(
    results: list[dict],
    timings: pd.DataFrame,
    expected: list[CellRun] | None = None,
    summary: pd.DataFrame | None = None,
    speedup: pd.DataFrame | None = None,
) -> dict:
    """What the deck needs about the run: hosts, method, cache state actually reached, where
    the results came from, (given the ``expected`` result files) which are missing, and
    (given ``summary`` and ``speedup``) how many cells were flagged."""
    labels = host_labels(results)
    hosts = _host_entries(results, labels)
    commits = sorted({str(c) for r in results if (c := r["machine"].get("workflow_commit"))})
    experiments = sorted({r["cell"]["experiment"] for r in results})
    by_experiment = {
        e: {config_hash(r) for r in results if r["cell"]["experiment"] == e} for e in experiments
    }
    config_hashes = {
        e: next((h for h in sorted(v, key=str) if h is not None), None)
        for e, v in by_experiment.items()
    }
    distinct = {h for h in config_hashes.values() if h is not None}
    missing_by_host = _missing_by_host(results, labels, expected) if expected is not None else {}
    missing = sorted({path for paths in missing_by_host.values() for path in paths})
    wanted = set(expected or [])
    unexpected = (
        sorted({run_of(r).path for r in results} - {c.path for c in wanted})
        if expected is not None
        else []
    )
    aggregate_warnings = _aggregate_warnings(results, labels, commits, unexpected)
    cold = timings[timings["cache"] == "cold"] if not timings.empty else timings
    resident = cold["resident_fraction"].dropna() if not cold.empty else pd.Series([], dtype=float)
    loads = [r["machine"].get("load_average_1m") for r in results]
    loads = [x for x in loads if x is not None]
    return {
        "experiments": experiments,
        # Result files (one per round of a cell), as the workflow counts its cell jobs.
        "cells": len(results),
        "distinct_cells": len(
            {(label, spec_of(r)) for r, label in zip(results, labels, strict=True)}
        ),
        "timed_repetitions": len(timings),
        "repeats": sorted({r["run"]["repeats"] for r in results}),
        "warmup": sorted({r["run"]["warmup"] for r in results}),
        "hosts": hosts,
        "cpu_models": sorted({str(r["machine"].get("cpu_model") or "unknown") for r in results}),
        "cache_methods": sorted({rep["cache_method"] for r in results for rep in r["repetitions"]}),
        "cold_resident_fraction_max": float(resident.max()) if len(resident) else None,
        "cold_resident_fraction_median": float(resident.median()) if len(resident) else None,
        "load_average_1m_max": max(loads) if loads else None,
        "other_cpu_per_wall_max": _max_interference(timings, "other_cpu_s"),
        "steal_per_wall_max": _max_interference(timings, "steal_s"),
        "mp_start_methods": sorted({r["run"]["mp_start_method"] for r in results}),
        "start_methods": _start_methods(results, timings),
        "eviction_methods": sorted({str(e) for r in results if (e := r["run"].get("eviction"))}),
        "durability": _durability(results),
        "rounds": sorted({int(r["run"].get("rounds") or 1) for r in results}),
        "bound_flags": (
            int(speedup["exceeds_bound"].astype(bool).sum())
            if speedup is not None and "exceeds_bound" in speedup
            else None
        ),
        "rounds_disagree": (
            int(summary["rounds_disagree"].astype(bool).sum())
            if summary is not None and "rounds_disagree" in summary
            else None
        ),
        "extra_reads_flags": (
            int(summary["extra_reads_flag"].astype(bool).sum())
            if summary is not None and "extra_reads_flag" in summary
            else None
        ),
        "started_unix": min((r["started_unix"] for r in results), default=None),
        "finished_unix": max((r["finished_unix"] for r in results), default=None),
        "config_hash": distinct.pop() if len(distinct) == 1 else None,
        "config_hashes": config_hashes,
        "workflow_commits": commits,
        "expected_cells": len(expected) if expected is not None else None,
        "missing_cells": missing,
        "missing_cells_by_host": missing_by_host,
        "aggregate_warnings": aggregate_warnings,
        "warnings": [
            *sorted({w for r in results for w in r.get("warnings", [])}),
            *(w["text"] for w in aggregate_warnings),
        ],
        "task_summaries": {r["cell"]["task"]: r["run"].get("task_summary", "") for r in results},
        "strategy_summaries": {
            r["cell"]["strategy"]: r["run"].get("strategy_summary", "") for r in results
        },
    }
