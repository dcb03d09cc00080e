"""Persistent pools against per-batch ones: what keeping a pool saves per batch, and after
how many batches a kept pool has paid for its start against the serial loop.

A persistent strategy (``<name>_persistent``, config ``pool``) makes and warms its pool once,
before the timer (``pool_start_s``, one per job), and times each batch alone; its per-batch
form makes the pool inside every timed batch. Where both ran in a group, each pair gets a
row: both medians, the pool's start, the time a kept pool saves on every batch, and the
*break-even*: the number of batches after which a pool made once (its start plus that many
batches) has cost less than the loop doing the same batches, ``ceil(start / (loop - kept))``;
none when the kept pool is no faster than the loop. The medians are the summary's; the start
is the median over the cell's jobs.
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench.measure.strategies import STRATEGIES
from imgbench.vocabulary import BASELINE, HOST_GROUP

COLUMNS = [
    *HOST_GROUP,
    "strategy",
    "workers",
    "per_batch_median_s",
    "persistent_median_s",
    "pool_start_s",
    "saved_per_batch_s",
    "loop_median_s",
    "break_even_batches",
]


def break_even(start_s: float, loop_s: float, kept_s: float) -> float:
    """Batches after which a pool made once beats the loop (inf: never)."""
    if not all(math.isfinite(v) for v in (start_s, loop_s, kept_s)) or kept_s >= loop_s:
        return math.inf
    # Rounded off first: 0.9 / 0.45 is 2.0000000000000004 in binary, and 2 batches repay it.
    return float(max(1, math.ceil(round(start_s / (loop_s - kept_s), 9))))


def _registry_order(item: tuple[tuple[str, int], float]) -> tuple[int, int]:
    (name, workers), _ = item
    return (ORDER.index(name) if name in ORDER else len(ORDER), workers)


ORDER = list(STRATEGIES)


def pools_frame(summary: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """One row per per-batch strategy and worker count whose persistent form ran beside it."""
    needed = {"strategy", "workers", "median_s", *HOST_GROUP}
    if summary.empty or not needed <= set(summary.columns):
        return pd.DataFrame(columns=COLUMNS)
    starts = pd.Series(dtype=float)
    if {"pool_start_s", "round"} <= set(timings.columns):
        # One value per job (every repetition row of a round carries it), then over rounds.
        jobs = timings.drop_duplicates([*HOST_GROUP, "strategy", "workers", "round"])
        starts = jobs.groupby([*HOST_GROUP, "strategy", "workers"], dropna=False)[
            "pool_start_s"
        ].median()
    rows = []
    for group, cells in summary.groupby(HOST_GROUP, dropna=False, sort=True):
        medians = {(str(c.strategy), int(c.workers)): float(c.median_s) for c in cells.itertuples()}
        loop = next((m for (s, _), m in medians.items() if s == BASELINE), math.nan)
        # In the registry's order of strategies, as every table lists them.
        for (name, workers), kept_s in sorted(medians.items(), key=_registry_order):
            strategy = STRATEGIES.get(name)
            if strategy is None or not strategy.persistent:
                continue
            per_batch = medians.get((strategy.base, workers))
            if per_batch is None:
                continue
            start = float(starts.get((*group, name, workers), math.nan))
            rows.append(
                {
                    **dict(zip(HOST_GROUP, group, strict=True)),
                    "strategy": strategy.base,
                    "workers": workers,
                    "per_batch_median_s": per_batch,
                    "persistent_median_s": kept_s,
                    "pool_start_s": start,
                    "saved_per_batch_s": per_batch - kept_s,
                    "loop_median_s": loop,
                    "break_even_batches": break_even(start, loop, kept_s),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
