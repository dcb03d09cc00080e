"""The summary table: per cell, its repetitions, median with its CI, spread, rounds,
throughput and the fairness facts (CPU shares, memory, storage reads) the deck checks.

The median pools every repetition of every round. Its CI is distribution-free (order
statistics) for a cell of one round, and a hierarchical bootstrap (rounds, then the
repetitions within them; ``stats.hierarchical_median_cis``) for a cell of several: the
rounds are the experimental unit. Fields that older results lack are NaN (or empty).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from imgbench.analysis.diagnosis import diagnoses
from imgbench.analysis.results import WAIT_TASKS
from imgbench.analysis.rounds import round_table
from imgbench.analysis.stats import hierarchical_median_cis, median_ci, tukey_outliers
from imgbench.analysis.thresholds import MIN_CPU_SHARE_WALL_S, TICK_S
from imgbench.vocabulary import CELL, HOST_CELL, HOST_GROUP

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
    "megapixels_per_s",
    "megapixels_per_cpu_s",
    "mb_per_s",
    "median_first_result_s",
    "median_pool_ready_s",
    "median_work_s",
    "median_shutdown_s",
    "median_cpu_s",
    "cpu_per_image_s",
    "cpu_per_wall",
    "cpu_resolution_s",
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
    "bytes_pickled_per_image",
    "bytes_shared_per_image",
    "diagnosis",
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
#: Per-repetition columns read as numbers (NaN where older results lack them).
_NUMERIC = (
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
    "bytes_pickled_per_image",
    "bytes_shared_per_image",
    "cpu_resolution_s",
    "input_pixels",
)
#: Per-repetition columns older results lack, with the value they stand for.
_DEFAULTS = (
    ("round", 1),
    ("worker_imported_modules", ""),
    ("eviction", ""),
    ("task_bound", None),
    ("cache_method", ""),
    ("mp_start_method", ""),
)


def cpu_share(cpu_s: float, wall_s: float, resolution_s: float = TICK_S) -> float:
    """CPU seconds per wall second; NaN below ``MIN_CPU_SHARE_WALL_S`` of wall time for CPU
    counted in clock ticks, proportionally less for finer counts (getrusage's microseconds:
    any wall time of a tenth of a millisecond or more)."""
    if not math.isfinite(resolution_s):
        resolution_s = TICK_S  # results from before the resolution was recorded
    enough = MIN_CPU_SHARE_WALL_S * resolution_s / TICK_S
    return float(cpu_s / wall_s) if wall_s >= enough and wall_s > 0 else math.nan


def numeric(timings: pd.DataFrame, column: str) -> pd.Series:
    """A per-repetition column as numbers; all NaN where the results predate it."""
    if column not in timings:
        return pd.Series(math.nan, index=timings.index, dtype=float)
    return pd.to_numeric(timings[column], errors="coerce").astype(float)


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


def _extra_reads_flags(out: pd.DataFrame) -> np.ndarray:
    flags = np.zeros(len(out), dtype=bool)
    extra, inputs = out["median_extra_read_bytes"], out["median_input_bytes"].fillna(0.0)
    group_median = extra.groupby([out[c] for c in HOST_GROUP], sort=False).transform("median")
    with np.errstate(invalid="ignore"):
        flags = (
            (extra > EXTRA_READS_SHARE * inputs) & (extra > group_median + EXTRA_READS_BYTES)
        ).to_numpy()
    return flags & extra.notna().to_numpy()


def _completed(timings: pd.DataFrame) -> pd.DataFrame:
    """The timings with every column the summary reads: numbers as floats, the columns
    older results lack at their defaults, the task's bound guessed from its name."""
    timings = timings.assign(**{c: numeric(timings, c) for c in _NUMERIC})
    for column, default in _DEFAULTS:
        if column not in timings:
            timings[column] = default
    if timings["task_bound"].isna().any():
        guess = np.where(timings["task"].isin(list(WAIT_TASKS)), "wait", "cpu")
        timings["task_bound"] = timings["task_bound"].fillna(pd.Series(guess, timings.index))
    return timings


def _aggregated(timings: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: the per-repetition columns reduced, plus the sums the shares need."""
    return (
        timings.groupby(HOST_CELL, sort=True)
        .agg(
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
            bytes_pickled_per_image=("bytes_pickled_per_image", "max"),
            bytes_shared_per_image=("bytes_shared_per_image", "max"),
            format=("format", "first"),
            input_pixels=("input_pixels", "max"),
            usable_cores=("usable_cores", "max"),
            cpu_resolution_s=("cpu_resolution_s", "max"),
        )
        .reset_index()
    )


def _add_round_facts(out: pd.DataFrame, tables: dict[tuple, np.ndarray]) -> None:
    """The median's CI, the spread between rounds, whether they disagree, the outliers."""
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


def _add_rates(out: pd.DataFrame) -> None:
    """Spread, throughput and how busy the process tree and the machine were."""
    out["cv"] = out["std_s"] / out["mean_s"]
    # Rates that agree with the medians: the work of one repetition over the median time.
    out["images_per_s"] = out["n_images"] / out["median_s"]
    megapixels = out["input_pixels"] / 1e6
    out["megapixels_per_s"] = megapixels / out["median_s"]
    # Per core: megapixels per CPU second of the whole process tree, the figure published
    # single-thread codec throughputs compare with (a perfectly parallel cell keeps it).
    out["megapixels_per_cpu_s"] = megapixels / out["median_cpu_s"].where(out["median_cpu_s"] > 0)
    out["mb_per_s"] = out["payload_median"] / out["median_s"] / 1e6
    out["cpu_per_image_s"] = out["median_cpu_s"] / out["n_images"]
    # How busy the process tree was: CPU seconds per wall second, and per worker that
    # could actually run at once.
    out["cpu_per_wall"] = [
        cpu_share(c, w, r)
        for c, w, r in zip(out["cpu_sum"], out["wall_sum"], out["cpu_resolution_s"], strict=True)
    ]
    out["worker_busy"] = out["cpu_per_wall"] / np.minimum(out["workers"], out["usable_cores"])
    # CPU seconds other processes used per wall second: cores lost to interference. Each
    # repetition's count is unclipped (tick noise can make it slightly negative): the cell's
    # sum is clipped, once.
    out["other_cpu_per_wall"] = [
        cpu_share(max(0.0, o), w) for o, w in zip(out["other_sum"], out["wall_sum"], strict=True)
    ]
    out["steal_per_wall"] = [
        cpu_share(s, w) for s, w in zip(out["steal_sum"], out["wall_sum"], strict=True)
    ]


def summary_frame(timings: pd.DataFrame) -> pd.DataFrame:
    """Per cell (``HOST_CELL``): its row of ``SUMMARY_COLUMNS`` (see the module docstring)."""
    if timings.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    timings = _completed(timings)
    out = _aggregated(timings)
    index = pd.MultiIndex.from_frame(out[HOST_CELL])
    for column in ("cache_method", "mp_start_method", "eviction", "task_bound"):
        out[column] = _joined(timings, column, index)
    out["imported_modules"] = _joined(timings, "worker_imported_modules", index, sep=";")
    _add_round_facts(out, round_table(timings))
    _add_rates(out)
    out["extra_reads_flag"] = _extra_reads_flags(out)
    out["diagnosis"] = diagnoses(out)
    return out[SUMMARY_COLUMNS].astype(
        {
            "reps": int,
            "rounds": int,
            "outliers": int,
            "max_peak_rss_bytes": int,
            "usable_cores": int,
        }
    )
