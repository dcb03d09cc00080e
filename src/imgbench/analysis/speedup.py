"""Speedup and efficiency tables, and the physical bound every speedup is checked against.

Speedup has two base cases, stated in every row: the ``serial`` loop of the same group
(task, storage, cache, size, n_images) and the same strategy with one worker, both measured
on the cell's own host. Speedup is a ratio of medians, never a mean of ratios; its
confidence interval is a bootstrap over the repetitions of both cells, hierarchical (rounds,
then repetitions within them) when a cell ran as several rounds. Each row carries its
physical bound (``bound``) and whether the speedup exceeds it beyond noise
(``exceeds_bound``: by more than ``BOUND_MARGIN``, or significantly).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from imgbench.analysis.rounds import round_table
from imgbench.analysis.stats import hierarchical_speedup_cis, karp_flatt, speedup_cis
from imgbench.analysis.thresholds import BOUND_MARGIN
from imgbench.vocabulary import BASELINE, CELL, HOST, HOST_CELL, HOST_GROUP

#: The second base case: the same strategy with one worker, in the same group.
ONE_WORKER = "1 worker"
#: Strategies that change the algorithm rather than spread the work (one numpy operation over
#: the batch): their speedup has no physical bound from workers or cores.
UNBOUNDED_STRATEGIES = frozenset({"vectorized"})

SPEEDUP_COLUMNS = [
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
EFFICIENCY_COLUMNS = [
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


def bound(task_bound: str, workers: int, usable_cores: int, strategy: str = "") -> float:
    """The largest speedup the workers and cores allow: min(workers, usable cores) for
    CPU-bound work, the workers alone for waiting work (downloads, sleeps); NaN for a
    strategy in ``UNBOUNDED_STRATEGIES``."""
    if strategy in UNBOUNDED_STRATEGIES:
        return math.nan
    return int(workers) if task_bound == "wait" else int(min(workers, usable_cores))


def exceeds_bound(speedup: float, ci_low: float, limit: float) -> bool:
    """Whether a speedup is above its physical bound beyond noise: by more than
    ``BOUND_MARGIN``, or with the CI's lower end above the bound. NaNs: False."""
    if not (math.isfinite(speedup) and math.isfinite(limit)) or speedup <= limit:
        return False
    return speedup > limit * (1 + BOUND_MARGIN) or (math.isfinite(ci_low) and ci_low > limit)


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


def _base_cases(strategy: str, workers: int) -> tuple[tuple[str, str, int], ...]:
    """(base case name, its strategy, its workers) of a cell: the loop, and one worker (the
    loop is its own base)."""
    uses_workers = strategy != BASELINE
    return (
        (BASELINE, BASELINE, 1),
        (ONE_WORKER, strategy, 1 if uses_workers else workers),
    )


def speedup_frame(summary: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """Speedup of each cell over both base cases, with bootstrap CIs; one row per base case
    (``SPEEDUP_COLUMNS``), with the physical bound and the CPU per image of both cells."""
    indexed = summary.set_index(HOST_CELL)
    medians = indexed["median_s"].to_dict()
    cpu_per_image = indexed["cpu_per_image_s"].to_dict() if "cpu_per_image_s" in indexed else {}
    rows, pairs = [], []
    columns = [*HOST_CELL, "median_s", "ci_low_s", "ci_high_s", "usable_cores"]
    bounds = summary["task_bound"] if "task_bound" in summary else pd.Series("cpu", summary.index)
    for cell, task_bound in zip(summary[columns].itertuples(index=False), bounds, strict=True):
        key = tuple(getattr(cell, c) for c in HOST_CELL)
        group = key[: len(HOST_GROUP)]
        for name, strategy, workers in _base_cases(cell.strategy, cell.workers):
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
                    "exceeds_bound": False,  # set with the CI below
                    "cpu_per_image_s": cell_cpu,
                    "baseline_cpu_per_image_s": base_cpu,
                    "cpu_per_image_ratio": (
                        base_cpu / cell_cpu if cell_cpu and cell_cpu > 0 else math.nan
                    ),
                    "_self": base_key == key,
                }
            )
    cis = _paired(round_table(timings), pairs, _ratio_cis, width=2)
    for row, (low, high) in zip(rows, cis, strict=True):
        row["speedup_ci_low"], row["speedup_ci_high"] = (1.0, 1.0) if row["_self"] else (low, high)
        row["exceeds_bound"] = exceeds_bound(row["speedup"], row["speedup_ci_low"], row["bound"])
    return pd.DataFrame(rows, columns=SPEEDUP_COLUMNS)


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
    return out[EFFICIENCY_COLUMNS]
