"""Aggregate cell results into tables: timings, summary, speedup and efficiency.

Reads only result files (never the runner). Speedup's base case is the ``serial`` loop of
the same group (task, storage, cache, size, n_images) and is stated in the table; speedup
is a ratio of medians, never a mean of ratios.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from imgbench.results import load_cell_result
from imgbench.stats import coefficient_of_variation, median_ci

GROUP = ["experiment", "task", "storage", "cache", "width", "height", "n_images"]
CELL = [*GROUP, "strategy", "workers"]
BASELINE = "serial"
#: CPU time is counted in clock ticks (10 ms), so a share of CPU used by other processes
#: means something only over this much timed wall time.
MIN_INTERFERENCE_WALL_S = 1.0
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


def _interference(other_cpu_s: float, wall_s: float) -> float:
    return float(other_cpu_s / wall_s) if wall_s >= MIN_INTERFERENCE_WALL_S else math.nan


def _summarise(group: pd.DataFrame) -> pd.Series:
    wall = group["wall_s"].to_numpy()
    low, high, level = median_ci(wall)
    total_images = float(dict(zip(CELL, group.name, strict=True))["n_images"]) * len(wall)
    resident = group["resident_fraction"].dropna()
    return pd.Series(
        {
            "reps": len(wall),
            "median_s": float(np.median(wall)),
            "mean_s": float(wall.mean()),
            "std_s": float(wall.std(ddof=1)) if len(wall) > 1 else math.nan,
            "min_s": float(wall.min()),
            "max_s": float(wall.max()),
            "ci_low_s": low,
            "ci_high_s": high,
            "ci_level": level,
            "cv": coefficient_of_variation(wall),
            # A rate over all repetitions (total images / total time), not a mean of rates.
            "images_per_s": total_images / float(wall.sum()),
            "mb_per_s": float(group["payload_bytes"].sum()) / float(wall.sum()) / 1e6,
            "median_first_result_s": float(group["first_result_s"].median()),
            "median_cpu_s": float(group["cpu_s"].median()),
            # How busy the process tree was: CPU seconds per wall second.
            "cpu_per_wall": float(group["cpu_s"].sum()) / float(wall.sum()),
            # CPU seconds other processes used per wall second: cores lost to interference.
            "other_cpu_per_wall": _interference(group["other_cpu_s"].sum(), wall.sum()),
            "max_peak_rss_bytes": int(group["peak_rss_bytes"].max()),
            "cache_method": ",".join(sorted(set(group["cache_method"]))),
            "max_resident_fraction": float(resident.max()) if len(resident) else math.nan,
            "format": group["format"].iloc[0],
            "host": ",".join(sorted(set(group["host"]))),
            "usable_cores": int(group["usable_cores"].max()),
        }
    )


def summary_frame(timings: pd.DataFrame) -> pd.DataFrame:
    """Per cell: repetitions, median with its distribution-free CI, spread and throughput."""
    if timings.empty:
        return pd.DataFrame(columns=CELL)
    return (
        timings.groupby(CELL, sort=True)
        .apply(_summarise, include_groups=False)
        .reset_index()
        .astype({"reps": int, "max_peak_rss_bytes": int, "usable_cores": int})
    )


def speedup_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Speedup of each cell over the serial loop of its group: median(serial) / median(cell)."""
    base = summary[summary["strategy"] == BASELINE][[*GROUP, "median_s"]].rename(
        columns={"median_s": "baseline_median_s"}
    )
    out = summary[[*CELL, "median_s", "ci_low_s", "ci_high_s", "usable_cores"]].merge(
        base, on=GROUP, how="left"
    )
    out.insert(len(CELL), "baseline", BASELINE)
    out["speedup"] = out["baseline_median_s"] / out["median_s"]
    return out


def efficiency_frame(speedup: pd.DataFrame) -> pd.DataFrame:
    """Parallel efficiency: speedup over the serial loop divided by the worker count."""
    out = speedup[[*CELL, "baseline", "speedup", "usable_cores"]].copy()
    out["efficiency"] = out["speedup"] / out["workers"]
    return out


def _max_interference(timings: pd.DataFrame) -> float | None:
    """The largest share of a core other processes used during one cell's repetitions."""
    if timings.empty:
        return None
    per_cell = timings.groupby(CELL)[["other_cpu_s", "wall_s"]].sum()
    shares = [
        _interference(o, w)
        for o, w in zip(per_cell["other_cpu_s"], per_cell["wall_s"], strict=True)
    ]
    shares = [s for s in shares if not math.isnan(s)]
    return max(shares) if shares else None


def metadata(results: list[dict], timings: pd.DataFrame) -> dict:
    """What the deck needs about the run: hosts, method, cache state actually reached."""
    hosts: dict[str, dict] = {}
    for res in results:
        m = res["machine"]
        hosts.setdefault(m["hostname"], {k: m.get(k) for k in HOST_FIELDS})
    cold = timings[timings["cache"] == "cold"] if not timings.empty else timings
    resident = cold["resident_fraction"].dropna() if not cold.empty else pd.Series([], float)
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
        "other_cpu_per_wall_max": _max_interference(timings),
        "mp_start_methods": sorted({r["run"]["mp_start_method"] for r in results}),
        "started_unix": min((r["started_unix"] for r in results), default=None),
        "finished_unix": max((r["finished_unix"] for r in results), default=None),
        "warnings": sorted({w for r in results for w in r["warnings"]}),
        "task_summaries": {r["cell"]["task"]: r["run"]["task_summary"] for r in results},
        "strategy_summaries": {
            r["cell"]["strategy"]: r["run"]["strategy_summary"] for r in results
        },
    }
