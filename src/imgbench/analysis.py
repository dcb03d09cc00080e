"""Aggregate cell results into tables: timings, summary, speedup, efficiency, Amdahl fits
and significance of differences (docs/results.md describes every column).

Reads only result files (never the runner). Speedup has two base cases, stated in every
row: the ``serial`` loop of the same group (task, storage, cache, size, n_images) and the
same strategy with one worker. Speedup is a ratio of medians, never a mean of ratios; its
confidence interval is a bootstrap over the repetitions of both cells.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from imgbench.results import load_cell_result
from imgbench.stats import (
    amdahl_fit,
    karp_flatt,
    mann_whitney_ps,
    median_ci,
    smallest_mann_whitney_p,
    speedup_cis,
    tukey_outliers,
)

GROUP = ["experiment", "task", "storage", "cache", "width", "height", "n_images"]
CELL = [*GROUP, "strategy", "workers"]
BASELINE = "serial"
ONE_WORKER = "1 worker"
#: Two-sided significance level for "A is slower than B".
ALPHA = 0.05
#: CPU time is counted in clock ticks (10 ms), so a ratio of CPU time to wall time (how
#: busy the workers were, how much other processes used) means something only over this
#: much timed wall time; below it, it is NaN.
MIN_CPU_SHARE_WALL_S = 1.0
#: Machine fields that identify a host; the rest (load, time) vary from cell to cell.
HOST_FIELDS = [
    "hostname",
    "platform",
    "cpu_model",
    "physical_cores",
    "logical_cores",
    "usable_cores",
    "ram_bytes",
    "python_version",
    "pillow_version",
    "pillow_libjpeg_turbo",
    "numpy_version",
    "snakemake_version",
    "workflow_commit",
]


def load_results(paths: Iterable[Path]) -> list[dict]:
    return [load_cell_result(Path(p)) for p in paths]


def timings_frame(results: list[dict]) -> pd.DataFrame:
    """One row per timed (non-warm-up) repetition; every cell parameter is a column."""
    rows = []
    for res in results:
        cell, run, machine = res["cell"], res["run"], res["machine"]
        for rep in res["repetitions"]:
            if rep["warmup"]:
                continue
            rows.append(
                {
                    **cell,
                    "size": f"{cell['width']}x{cell['height']}",
                    "format": run["dataset_format"],
                    "repeats": run["repeats"],
                    "warmup_reps": run["warmup"],
                    "mp_start_method": run["mp_start_method"],
                    "host": machine["hostname"],
                    "cpu_model": machine["cpu_model"],
                    "usable_cores": machine["usable_cores"],
                    "load_average_1m": machine["load_average_1m"],
                    "cell_started_unix": res["started_unix"],
                    "cell_finished_unix": res["finished_unix"],
                    "repetition": rep["index"] - run["warmup"],
                    **{k: v for k, v in rep.items() if k not in ("index", "warmup")},
                }
            )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values([*CELL, "repetition"], kind="stable").reset_index(drop=True)
    return frame


def _cpu_share(cpu_s: float, wall_s: float) -> float:
    return float(cpu_s / wall_s) if wall_s >= MIN_CPU_SHARE_WALL_S else math.nan


SUMMARY_COLUMNS = [
    *CELL,
    "reps",
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
    "images_per_s",
    "mb_per_s",
    "median_first_result_s",
    "median_work_s",
    "median_shutdown_s",
    "median_cpu_s",
    "cpu_per_wall",
    "worker_busy",
    "other_cpu_per_wall",
    "steal_per_wall",
    "max_peak_rss_bytes",
    "cache_method",
    "max_resident_fraction",
    "format",
    "host",
    "usable_cores",
]


def _joined_set(values: pd.Series) -> str:
    return ",".join(sorted(set(values.astype(str))))


def summary_frame(timings: pd.DataFrame) -> pd.DataFrame:
    """Per cell: repetitions, median with its distribution-free CI, spread and throughput."""
    if timings.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    groups = timings.groupby(CELL, sort=True)
    out = groups.agg(
        reps=("wall_s", "size"),
        median_s=("wall_s", "median"),
        mean_s=("wall_s", "mean"),
        std_s=("wall_s", "std"),
        min_s=("wall_s", "min"),
        max_s=("wall_s", "max"),
        wall_sum=("wall_s", "sum"),
        payload_sum=("payload_bytes", "sum"),
        cpu_sum=("cpu_s", "sum"),
        other_sum=("other_cpu_s", "sum"),
        steal_sum=("steal_s", "sum"),
        median_first_result_s=("first_result_s", "median"),
        median_work_s=("work_s", "median"),
        median_shutdown_s=("shutdown_s", "median"),
        median_cpu_s=("cpu_s", "median"),
        max_peak_rss_bytes=("peak_rss_bytes", "max"),
        max_resident_fraction=("resident_fraction", "max"),
        format=("format", "first"),
        usable_cores=("usable_cores", "max"),
    ).reset_index()
    out["cache_method"] = groups["cache_method"].agg(_joined_set).to_numpy()
    out["host"] = groups["host"].agg(_joined_set).to_numpy()
    cis, outliers = [], []
    for walls in groups["wall_s"]:
        cis.append(median_ci(walls[1].to_numpy()))
        outliers.append(tukey_outliers(walls[1].to_numpy()))
    out["ci_low_s"], out["ci_high_s"], out["ci_level"] = zip(*cis, strict=True)
    out["outliers"] = outliers
    out["cv"] = out["std_s"] / out["mean_s"]
    # Rates over all repetitions (total work / total time), never a mean of rates.
    out["images_per_s"] = out["n_images"] * out["reps"] / out["wall_sum"]
    out["mb_per_s"] = out["payload_sum"] / out["wall_sum"] / 1e6
    # How busy the process tree was: CPU seconds per wall second, and per worker that
    # could actually run at once.
    out["cpu_per_wall"] = [
        _cpu_share(c, w) for c, w in zip(out["cpu_sum"], out["wall_sum"], strict=True)
    ]
    out["worker_busy"] = out["cpu_per_wall"] / np.minimum(out["workers"], out["usable_cores"])
    # CPU seconds other processes used per wall second: cores lost to interference.
    out["other_cpu_per_wall"] = [
        _cpu_share(o, w) for o, w in zip(out["other_sum"], out["wall_sum"], strict=True)
    ]
    out["steal_per_wall"] = [
        _cpu_share(s, w) for s, w in zip(out["steal_sum"], out["wall_sum"], strict=True)
    ]
    return out[SUMMARY_COLUMNS].astype(
        {"reps": int, "outliers": int, "max_peak_rss_bytes": int, "usable_cores": int}
    )


def _walls(timings: pd.DataFrame) -> dict[tuple, np.ndarray]:
    return {key: g["wall_s"].to_numpy() for key, g in timings.groupby(CELL, sort=False)}


def _paired(
    walls: dict[tuple, np.ndarray], pairs: list[tuple[tuple, tuple]], batched, width: int
) -> list[tuple]:
    """Apply a batched row-wise statistic to (a, b) cell pairs, batching equal shapes.

    ``batched(a, b)`` returns ``width`` arrays, one value per row; a pair with a cell
    that was not measured gets NaNs.
    """
    out: list[tuple] = [(math.nan,) * width] * len(pairs)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, (a, b) in enumerate(pairs):
        if a in walls and b in walls:
            by_shape.setdefault((len(walls[a]), len(walls[b])), []).append(i)
    for index in by_shape.values():
        a = np.stack([walls[pairs[i][0]] for i in index])
        b = np.stack([walls[pairs[i][1]] for i in index])
        for i, values in zip(index, zip(*batched(a, b), strict=True), strict=True):
            out[i] = values
    return out


def speedup_frame(summary: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """Speedup of each cell over both base cases, with bootstrap CIs; one row per base case.

    ``serial``: median(serial loop of the group) / median(cell). ``1 worker``: the same
    strategy with one worker in the same group (the loop is its own base).
    """
    walls = _walls(timings)
    medians = summary.set_index(CELL)["median_s"].to_dict()
    rows, pairs = [], []
    for cell in summary[[*CELL, "median_s", "ci_low_s", "ci_high_s", "usable_cores"]].itertuples(
        index=False
    ):
        key = tuple(getattr(cell, c) for c in CELL)
        group = key[: len(GROUP)]
        uses_workers = cell.strategy != BASELINE
        bases = (
            (BASELINE, BASELINE, 1),
            (ONE_WORKER, cell.strategy, 1 if uses_workers else cell.workers),
        )
        for name, strategy, workers in bases:
            base_key = (*group, strategy, workers)
            base_median = medians.get(base_key, math.nan)
            pairs.append((base_key, key))
            rows.append(
                {
                    **dict(zip(CELL, key, strict=True)),
                    "baseline": name,
                    "baseline_strategy": strategy,
                    "baseline_workers": workers,
                    "median_s": cell.median_s,
                    "ci_low_s": cell.ci_low_s,
                    "ci_high_s": cell.ci_high_s,
                    "baseline_median_s": base_median,
                    # Exactly 1 for a cell that is its own base, whatever rounding would say.
                    "speedup": 1.0 if base_key == key else base_median / cell.median_s,
                    "usable_cores": cell.usable_cores,
                }
            )
    cis = _paired(walls, pairs, speedup_cis, width=2)
    for row, (low, high) in zip(rows, cis, strict=True):
        row["speedup_ci_low"], row["speedup_ci_high"] = low, high
    columns = [
        *CELL,
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
    ]
    return pd.DataFrame(rows, columns=columns)


def efficiency_frame(speedup: pd.DataFrame) -> pd.DataFrame:
    """Efficiency (speedup / workers) with its CI, and the Karp-Flatt serial fraction."""
    out = speedup[[*CELL, "baseline", "speedup", "usable_cores"]].copy()
    out["efficiency"] = out["speedup"] / out["workers"]
    out["efficiency_ci_low"] = speedup["speedup_ci_low"] / out["workers"]
    out["efficiency_ci_high"] = speedup["speedup_ci_high"] / out["workers"]
    out["karp_flatt"] = [
        karp_flatt(s, p) for s, p in zip(out["speedup"], out["workers"], strict=True)
    ]
    return out[
        [
            *CELL,
            "baseline",
            "speedup",
            "efficiency",
            "efficiency_ci_low",
            "efficiency_ci_high",
            "karp_flatt",
            "usable_cores",
        ]
    ]


def amdahl_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Fit T(p) = Ts + Tp / p per (group, strategy) over its worker counts.

    Points beyond the usable cores are left out when at least two remain: there, workers
    compete for cores, which Amdahl's law does not model.
    """
    rows = []
    columns = [
        *GROUP,
        "strategy",
        "points",
        "fit_max_workers",
        "t_serial_s",
        "t_parallel_s",
        "serial_fraction",
        "max_speedup",
        "fit_r2",
    ]
    for key, g in summary.groupby([*GROUP, "strategy"], sort=True):
        g = g.sort_values("workers")
        if g["workers"].nunique() < 2:
            continue
        within = g[g["workers"] <= g["usable_cores"].max()]
        fitted = within if within["workers"].nunique() >= 2 else g
        ts, tp, r2 = amdahl_fit(fitted["workers"], fitted["median_s"])
        total = ts + tp
        rows.append(
            {
                **dict(zip([*GROUP, "strategy"], key, strict=True)),
                "points": len(fitted),
                "fit_max_workers": int(fitted["workers"].max()),
                "t_serial_s": ts,
                "t_parallel_s": tp,
                "serial_fraction": ts / total if total > 0 else math.nan,
                "max_speedup": total / ts if ts > 0 else math.inf,
                "fit_r2": r2,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def comparisons_frame(summary: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """Each cell against the fastest cell of its group: is it significantly slower?

    Two-sided Mann-Whitney U over the repetitions (p < ALPHA); whether the two median CIs
    overlap is reported beside it.
    """
    columns = [
        *CELL,
        "median_s",
        "best_strategy",
        "best_workers",
        "mannwhitney_p",
        "ci_overlap",
        "testable",
        "significantly_slower",
    ]
    if summary.empty:
        return pd.DataFrame(columns=columns)
    walls = _walls(timings)
    best = summary.loc[summary.groupby(GROUP, sort=False)["median_s"].idxmin()].set_index(GROUP)
    out = summary[[*CELL, "median_s", "ci_low_s", "ci_high_s"]].copy()
    joined = best.loc[[tuple(k) for k in out[GROUP].itertuples(index=False)]]
    out["best_strategy"] = joined["strategy"].to_numpy()
    out["best_workers"] = joined["workers"].astype(int).to_numpy()
    is_best = (out["strategy"] == out["best_strategy"]) & (out["workers"] == out["best_workers"])
    keys = [tuple(k) for k in out[CELL].itertuples(index=False)]
    best_keys = [
        (*k[: len(GROUP)], s, w)
        for k, s, w in zip(keys, out["best_strategy"], out["best_workers"], strict=True)
    ]

    def p_values(a, b):
        return (mann_whitney_ps(a, b),)

    pairs = list(zip(keys, best_keys, strict=True))
    p = [v[0] for v in _paired(walls, pairs, p_values, width=1)]
    out["mannwhitney_p"] = np.where(is_best, math.nan, p)
    out["ci_overlap"] = (out["ci_low_s"] <= joined["ci_high_s"].to_numpy()) & (
        joined["ci_low_s"].to_numpy() <= out["ci_high_s"]
    )
    # With few repetitions even complete separation is not significant (3 vs 3: p >= 0.1):
    # such a cell is not "within noise", it is untested.
    best_reps = joined["reps"].to_numpy()
    out["testable"] = is_best | np.array(
        [
            smallest_mann_whitney_p(int(a), int(b)) < ALPHA
            for a, b in zip(summary["reps"], best_reps, strict=True)
        ]
    )
    out["significantly_slower"] = ~is_best & (out["mannwhitney_p"] < ALPHA)
    return out[columns].reset_index(drop=True)


def _max_interference(timings: pd.DataFrame, column: str) -> float | None:
    """The largest share of a core lost to interference during one cell's repetitions."""
    if timings.empty:
        return None
    per_cell = timings.groupby(CELL)[[column, "wall_s"]].sum()
    shares = [_cpu_share(o, w) for o, w in zip(per_cell[column], per_cell["wall_s"], strict=True)]
    shares = [s for s in shares if not math.isnan(s)]
    return max(shares) if shares else None


def metadata(results: list[dict], timings: pd.DataFrame) -> dict:
    """What the deck needs about the run: hosts, method, cache state actually reached."""
    hosts: dict[str, dict] = {}
    for res in results:
        m = res["machine"]
        hosts.setdefault(m["hostname"], {k: m.get(k) for k in HOST_FIELDS})
    cold = timings[timings["cache"] == "cold"] if not timings.empty else timings
    resident = cold["resident_fraction"].dropna() if not cold.empty else pd.Series([], dtype=float)
    loads = [r["machine"]["load_average_1m"] for r in results]
    loads = [x for x in loads if x is not None]
    return {
        "experiments": sorted({r["cell"]["experiment"] for r in results}),
        "cells": len(results),
        "timed_repetitions": len(timings),
        "repeats": sorted({r["run"]["repeats"] for r in results}),
        "warmup": sorted({r["run"]["warmup"] for r in results}),
        "hosts": list(hosts.values()),
        "cpu_models": sorted({h["cpu_model"] for h in hosts.values()}),
        "cache_methods": sorted({rep["cache_method"] for r in results for rep in r["repetitions"]}),
        "cold_resident_fraction_max": float(resident.max()) if len(resident) else None,
        "cold_resident_fraction_median": float(resident.median()) if len(resident) else None,
        "load_average_1m_max": max(loads) if loads else None,
        "other_cpu_per_wall_max": _max_interference(timings, "other_cpu_s"),
        "steal_per_wall_max": _max_interference(timings, "steal_s"),
        "mp_start_methods": sorted({r["run"]["mp_start_method"] for r in results}),
        "started_unix": min((r["started_unix"] for r in results), default=None),
        "finished_unix": max((r["finished_unix"] for r in results), default=None),
        "warnings": sorted({w for r in results for w in r["warnings"]}),
        "task_summaries": {r["cell"]["task"]: r["run"]["task_summary"] for r in results},
        "strategy_summaries": {
            r["cell"]["strategy"]: r["run"]["strategy_summary"] for r in results
        },
    }
