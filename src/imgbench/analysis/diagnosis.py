"""What limits each cell, from measured evidence: a diagnosis per cell, the numbers that
decided it, and for pools with one submit per image the break-even work and a chunk size.

A cell gets one label of ``vocabulary.DIAGNOSES`` by the first of these rules that holds
(its evidence: the columns named in ``decided_by``). *p* is the cores the cell can keep
busy, min(workers, usable cores); "the loop" is the serial loop of the cell's group.

CPU per wall is the summary's (parent and workers, over every timed repetition) where it
has one, else the median CPU over the median wall (the summary trusts CPU counted in clock
ticks only over ``thresholds.MIN_CPU_SHARE_WALL_S`` of wall, finer counts over less: see
``summary.cpu_share``). Every rule on it
therefore holds for the whole interval of CPU per wall ``cpu_per_wall_error`` wide on each
side (``CPU_ERROR_SIGMAS`` standard errors of the count's rounding: the cell's
``cpu_resolution_s``, getrusage's microseconds, or ``CPU_TICK_S`` for older results, over the
mean wall), the loop's as well as the cell's, and the CPU per image beyond the loop's is
taken at its lower end (both cells' errors, per image): a short cell is diagnosed only where
even the ticks cannot change the answer (a sleep under 16 threads is waiting whatever its
few ticks of CPU really were).

1. **baseline**: the serial loop itself, the reference every other cell is judged against.
2. **undetermined**: no evidence: the cell's CPU was not recorded or the group has no loop.
3. **gil-bound**: the work runs in the parent's interpreter (threads, asyncio) on p >= 2
   cores, its CPU per wall stays near one core (``GIL_LOW``..``GIL_HIGH``) while the loop
   itself computes (its CPU per wall at least ``BUSY_LOOP``): one thread at a time runs.
4. **transfer-bound**: a process pool that pickles at least ``TRANSFER_MIN_BYTES`` per image
   (item and result, ``bytes_pickled_per_image``) and spends at least ``TRANSFER_EXCESS`` of
   the loop's CPU per image on top of it: the CPU goes into pickling, copying and
   unpickling the data. (The results count the parent's and the workers' CPU together, so
   the CPU beyond the loop's stands for the parent's share.)
5. **overhead-bound**: a cell with workers, on work that computes (the loop's CPU per wall
   at least ``BUSY_LOOP``), its cores not all busy (CPU per wall below ``CORE_SHARE`` of p),
   whose time beyond the ideal (the loop's time over the cores it can use: p, or the
   workers for waiting work) is at least ``OVERHEAD_SHARE`` of that ideal: pool start and
   per-task submits cost more than the work they spread. Its workers are idle, but not
   because the work waits (rule 6 would otherwise call them waiting): they wait for the
   pool to start and for the parent to hand them work.
6. **waiting**: CPU per wall below ``WAITING_SHARE`` of p: the workers mostly wait (I/O,
   latency, a sleep), they do not compute.
7. **oversubscribed**: more workers than usable cores, the cores busy (CPU per wall at least
   ``CORE_SHARE`` of them) and slower by more than ``OVERSUBSCRIBED_LOSS`` than the same
   strategy's fastest cell within the cores: the extra workers explain the loss. With no
   such loss the cell is core-bound (rule 8).
8. **core-bound**: CPU per wall at least ``CORE_SHARE`` of p: the cell computes on every core
   it can use (whatever its speedup, the cores are what limits it).
9. **undetermined**: none of these: CPU per wall between waiting and core-bound.

A limit of the evidence: a pool of computing work that loses its time waiting on storage (a
cold cache under many threads) shows as overhead-bound, since nothing here tells waiting on
a disk from waiting on the pool's parent.

**Break-even** (cells of a pool with one submit per image; NaN elsewhere). With S the pool's
start and shutdown inside the timer (``median_pool_ready_s`` + ``median_shutdown_s``), t the
loop's time per image and q the parallelism the work allows (p; the workers for waiting
work), the cell's time is modelled as S + n (t + o) / q, with o the per-task overhead
(submit, pickling, collecting: constant per image, not per unit of work), so that

    o = q (median - S) / n - t            (clipped at 0)

and the pool beats the loop (n t) when the per-image work exceeds

    t* = (o + q S / n) / (q - 1)          (``break_even_work_s``; infinite for q = 1)

A chunk of k images pays o once: ``chunk_size`` = ceil(o / (``CHUNK_OVERHEAD_SHARE`` t)),
the smallest k that brings it to that share of the chunk's work. Neither applies to a
gil-bound cell (the work does not run in parallel: no per-image work pays), and the chunk
size not to a transfer-bound one (its overhead is per byte moved, which chunks do not
amortise): infinite and NaN there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from imgbench import words
from imgbench.analysis.thresholds import DEFAULT_EQUIVALENCE_MARGIN, TICK_S
from imgbench.measure.strategies import STRATEGIES
from imgbench.vocabulary import BASELINE, DIAGNOSES, HOST_CELL, HOST_GROUP

#: One core's worth of CPU per wall, give or take what the threads spend outside the GIL
#: (C calls that release it, the pool's own bookkeeping) and the 10 ms ticks CPU is counted
#: in: held by the GIL between these. Above 1.3, a third of a second core computes in
#: parallel, which a held GIL does not allow.
GIL_LOW, GIL_HIGH = 0.7, 1.3
#: The loop keeps its core at least this busy when the work computes; below, the loop itself
#: waits (I/O, a sleep), and threads near one core are waiting, not held by the GIL.
BUSY_LOOP = 0.7
#: Below this share of the cores it can use, a cell's workers are idle more than they run.
WAITING_SHARE = 0.5
#: From this share of the cores it can use, a cell computes on all of them: a CPU-bound pool
#: stays below 1 per core only by its start, its last stragglers and the parent's hand-offs,
#: so a quarter is left for those, well above waiting.
CORE_SHARE = 0.75
#: Below this many bytes pickled per image, pickling and copying them costs microseconds (a
#: pickle, a pipe and a copy each move GB/s): the order of one submit's own cost, so the
#: bytes cannot be what dominates.
TRANSFER_MIN_BYTES = 64 * 1024
#: CPU per image beyond the loop's, as a share of the loop's, from which the transfer
#: dominates: on 2 cores, a quarter more CPU per image already caps the speedup at 1.6x.
TRANSFER_EXCESS = 0.25
#: A loss smaller than the equivalence margin is no loss (the comparisons call two such
#: cells equivalent): it cannot be what oversubscription explains.
OVERSUBSCRIBED_LOSS = DEFAULT_EQUIVALENCE_MARGIN
#: The time beyond the ideal, as a share of the ideal, from which overhead "exceeds the
#: work": at 1.0, more than half the cell's time is pool start and per-task cost.
OVERHEAD_SHARE = 1.0
#: The per-task overhead a chunk should cost at most, as a share of the chunk's work.
CHUNK_OVERHEAD_SHARE = 0.10
#: CPU seconds are counted in clock ticks: the user and system times of this process and of
#: its reaped children, each read at both ends of a repetition, are each a tick-truncated
#: value, so each difference is off by a triangular error of variance tick^2 / 6 (two kept
#: workers' fields more per kept worker, read the same way). A rule on CPU holds only
#: ``CPU_ERROR_SIGMAS`` standard errors of the mean repetition's CPU away from its threshold.
CPU_TICK_S = TICK_S
CPU_TICK_FIELDS = 4
CPU_TICK_FIELDS_PER_KEPT_WORKER = 2
CPU_ERROR_SIGMAS = 3.0


#: Strategies whose work runs in the parent's interpreter, under its GIL: thread pools and
#: the event loop (no pool of its own: its blocking calls run on threads).
IN_PROCESS = frozenset(
    name
    for name, s in STRATEGIES.items()
    if s.pool == "threads" or (s.pool is None and s.uses_workers)
)
#: Strategies whose items cross to worker processes: every other pool (process pools,
#: joblib's loky workers).
OTHER_PROCESSES = frozenset(
    name for name, s in STRATEGIES.items() if s.pool not in (None, "threads")
)
#: Pools with one submit per image, whose per-task overhead the break-even is estimated
#: from (a chunked pool submits one chunk per worker: its name says so; joblib batches
#: its calls itself).
PER_ITEM = frozenset(
    name
    for name, s in STRATEGIES.items()
    if s.pool in ("threads", "processes") and "_chunked" not in name
)

#: The numbers a diagnosis may rest on, in the order the table has them.
EVIDENCE_COLUMNS = [
    "median_s",
    "loop_median_s",
    "speedup",
    "cpu_per_wall",
    "cpu_per_wall_error",
    "loop_cpu_per_wall",
    "loop_cpu_per_wall_error",
    "usable_cores",
    "cores_in_reach",
    "cpu_per_image_s",
    "loop_cpu_per_image_s",
    "excess_cpu_per_image_s",
    "excess_cpu_per_image_error_s",
    "bytes_pickled_per_image",
    "bytes_shared_per_image",
    "pool_start_s",
    "ideal_s",
    "overhead_s",
    "best_within_cores_s",
    "best_within_cores_workers",
]
BREAK_EVEN_COLUMNS = [
    "work_per_image_s",
    "per_task_overhead_s",
    "break_even_work_s",
    "chunk_size",
]
COLUMNS = [*HOST_CELL, "diagnosis", "decided_by", "evidence", *EVIDENCE_COLUMNS]
COLUMNS += BREAK_EVEN_COLUMNS


def _number(row: dict, column: str) -> float:
    return words.number(row.get(column))


def classify(row: dict) -> tuple[str, list[str]]:
    """A cell's diagnosis and the evidence columns that decided it, by the first rule of the
    module's docstring that holds. ``row`` holds a diagnosis table's evidence columns."""
    strategy, workers = str(row["strategy"]), int(row["workers"])
    if strategy == BASELINE:
        return "baseline", ["cpu_per_wall"]
    cpw, error = _number(row, "cpu_per_wall"), _number(row, "cpu_per_wall_error")
    if not math.isfinite(_number(row, "loop_median_s")):
        return "undetermined", ["loop_median_s"]
    if not (math.isfinite(cpw) and math.isfinite(error)):
        return "undetermined", ["cpu_per_wall"]
    low, high = cpw - error, cpw + error
    # The loop computes: its CPU per wall at least BUSY_LOOP, whatever its ticks' error.
    loop_low = _number(row, "loop_cpu_per_wall") - _number(row, "loop_cpu_per_wall_error")
    computes = loop_low >= BUSY_LOOP
    loop_busy = ["loop_cpu_per_wall", "loop_cpu_per_wall_error"]
    cores, reach = int(row["usable_cores"]), int(row["cores_in_reach"])
    in_reach = ["cpu_per_wall", "cpu_per_wall_error", "cores_in_reach"]
    if strategy in IN_PROCESS and reach >= 2 and low >= GIL_LOW and high <= GIL_HIGH and computes:
        return "gil-bound", [*in_reach, *loop_busy]
    loop_cpu = _number(row, "loop_cpu_per_image_s")
    if (
        strategy in OTHER_PROCESSES
        and _number(row, "bytes_pickled_per_image") >= TRANSFER_MIN_BYTES
        and _number(row, "excess_cpu_per_image_s") - _number(row, "excess_cpu_per_image_error_s")
        >= TRANSFER_EXCESS * loop_cpu
    ):
        return "transfer-bound", [
            "bytes_pickled_per_image",
            "excess_cpu_per_image_s",
            "excess_cpu_per_image_error_s",
            "loop_cpu_per_image_s",
        ]
    at_cores = low >= CORE_SHARE * reach
    if (
        STRATEGIES.get(strategy) is not None
        and STRATEGIES[strategy].uses_workers
        and computes
        and high < CORE_SHARE * reach
        and _number(row, "overhead_s") >= OVERHEAD_SHARE * _number(row, "ideal_s")
    ):
        return "overhead-bound", [
            "pool_start_s",
            "overhead_s",
            "ideal_s",
            *loop_busy,
            "cpu_per_wall",
            "cpu_per_wall_error",
        ]
    if high < WAITING_SHARE * reach:
        return "waiting", in_reach
    best = _number(row, "best_within_cores_s")
    if (
        workers > cores
        and at_cores
        and math.isfinite(best)
        and _number(row, "median_s") > (1 + OVERSUBSCRIBED_LOSS) * best
    ):
        return "oversubscribed", [
            *in_reach,
            "usable_cores",
            "median_s",
            "best_within_cores_s",
            "best_within_cores_workers",
        ]
    if at_cores:
        return "core-bound", in_reach
    return "undetermined", in_reach


def _evidence(row: dict, decided_by: list[str]) -> str:
    """The deciding numbers as "name value" pairs: what a person reading the CSV checks."""
    parts = []
    for column in decided_by:
        value = row.get(column)
        if column.startswith("bytes_"):
            text = words.data_size(value)
        elif column.endswith("_s"):
            text = words.duration(value)
        elif column in ("usable_cores", "cores_in_reach", "best_within_cores_workers"):
            text = words.integer(value)
        else:
            text = words.decimal(value)
        parts.append(f"{column} {text}")
    return "; ".join(parts)


def _loops(summary: pd.DataFrame) -> pd.DataFrame:
    """Each group's loop: its median, CPU per wall and CPU per image."""
    loops = summary[summary["strategy"] == BASELINE]
    columns = ["median_s", "cpu_per_wall", "cpu_per_wall_error", "cpu_per_image_s"]
    columns.append("cpu_error_s")
    return (
        loops[[*HOST_GROUP, *columns]]
        .rename(columns={c: f"loop_{c}" for c in columns})
        .drop_duplicates(HOST_GROUP)
    )


def _best_within_cores(summary: pd.DataFrame) -> pd.DataFrame:
    """Each group's strategies' fastest cell with no more workers than usable cores."""
    within = summary[summary["workers"] <= summary["usable_cores"]].dropna(subset=["median_s"])
    if within.empty:
        return pd.DataFrame(
            columns=[*HOST_GROUP, "strategy", "best_within_cores_s", "best_within_cores_workers"]
        )
    best = within.loc[within.groupby([*HOST_GROUP, "strategy"], sort=False)["median_s"].idxmin()]
    return best[[*HOST_GROUP, "strategy", "median_s", "workers"]].rename(
        columns={"median_s": "best_within_cores_s", "workers": "best_within_cores_workers"}
    )


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(math.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[name], errors="coerce").astype(float)


def _evidence_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary's cells with every evidence column, derived from the summary alone."""
    keep = [*HOST_CELL, "median_s", "cpu_per_wall", "usable_cores", "cpu_per_image_s"]
    out = summary[keep].copy()
    for column in ("median_s", "cpu_per_wall", "cpu_per_image_s", "usable_cores"):
        out[column] = _column(out, column)
    # Where the summary counts too little wall to trust CPU per wall, the medians' ratio,
    # with the ticks' error either way (module docstring).
    median_cpu = _column(summary, "median_cpu_s")
    out["cpu_per_wall"] = out["cpu_per_wall"].fillna(median_cpu / out["median_s"])
    fields = [
        CPU_TICK_FIELDS
        + CPU_TICK_FIELDS_PER_KEPT_WORKER
        * w
        * (STRATEGIES.get(s) is not None and STRATEGIES[s].persistent)
        for s, w in zip(out["strategy"], out["workers"], strict=True)
    ]
    # The error of the mean repetition's CPU seconds, and over the mean wall.
    reps = _column(summary, "reps").clip(lower=1)
    # The resolution the cell's CPU was counted at: getrusage's microseconds, or clock ticks
    # for results recorded before (``CPU_TICK_S``).
    resolution = _column(summary, "cpu_resolution_s").fillna(CPU_TICK_S).to_numpy()
    sigma = resolution * np.sqrt(np.asarray(fields, dtype=float) / 6)
    out["cpu_error_s"] = CPU_ERROR_SIGMAS * sigma / np.sqrt(reps)
    mean = _column(summary, "mean_s").fillna(out["median_s"])
    out["cpu_per_wall_error"] = out["cpu_error_s"] / mean
    for column in ("bytes_pickled_per_image", "bytes_shared_per_image"):
        out[column] = _column(summary, column)
    bound = summary["task_bound"] if "task_bound" in summary.columns else "cpu"
    out["_waits"] = pd.Series(bound, index=summary.index).astype(str).eq("wait")
    # Phases inside the timer that are the pool's, not the work's; a strategy without a
    # pool (or an older table) records none: 0.
    ready = _column(summary, "median_pool_ready_s").fillna(0.0)
    out["pool_start_s"] = ready + _column(summary, "median_shutdown_s").fillna(0.0)
    out = out.merge(_loops(out), on=HOST_GROUP, how="left")
    out = out.merge(_best_within_cores(out), on=[*HOST_GROUP, "strategy"], how="left")
    workers = out["workers"].astype(float)
    out["cores_in_reach"] = np.minimum(workers, out["usable_cores"])
    out["speedup"] = out["loop_median_s"] / out["median_s"]
    out["excess_cpu_per_image_s"] = out["cpu_per_image_s"] - out["loop_cpu_per_image_s"]
    # Both cells' ticks, per image.
    both = out["cpu_error_s"] + out["loop_cpu_error_s"]
    out["excess_cpu_per_image_error_s"] = both / out["n_images"]
    # The parallelism the work allows: cores for computing work, workers for waiting work.
    parallel = np.where(out["_waits"], workers, out["cores_in_reach"])
    out["ideal_s"] = out["loop_median_s"] / parallel
    out["overhead_s"] = out["median_s"] - out["ideal_s"]
    out["_parallel"] = parallel
    return out


def _break_even(row: dict, label: str) -> dict[str, float]:
    """The break-even columns of one cell (module docstring); NaN for other strategies."""
    nan = dict.fromkeys(BREAK_EVEN_COLUMNS, math.nan)
    if str(row["strategy"]) not in PER_ITEM:
        return nan
    n, q = float(row["n_images"]), float(row["_parallel"])
    t = _number(row, "loop_median_s") / n
    start, median = _number(row, "pool_start_s"), _number(row, "median_s")
    if not (math.isfinite(t) and math.isfinite(median) and t > 0):
        return nan
    o = max(0.0, q * (median - start) / n - t)
    # One core in reach, or work held by the GIL: no per-image work makes the pool pay.
    never = label == "gil-bound" or q < 2
    threshold = math.inf if never else (o + q * start / n) / (q - 1)
    chunk = math.nan
    if label not in ("gil-bound", "transfer-bound"):
        # Rounded first: a ratio that is whole in decimal may be a hair above it in binary.
        chunk = float(max(1, math.ceil(round(o / (CHUNK_OVERHEAD_SHARE * t), 9))))
    return {
        "work_per_image_s": t,
        "per_task_overhead_s": o,
        "break_even_work_s": threshold,
        "chunk_size": chunk,
    }


def diagnosis_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of the summary (``COLUMNS``): its diagnosis, the columns that
    decided it, those numbers written out, every evidence column, and the break-even."""
    needed = {*HOST_CELL, "median_s", "cpu_per_wall", "usable_cores", "cpu_per_image_s"}
    if summary.empty or not needed <= set(summary.columns):
        return pd.DataFrame(columns=COLUMNS)
    evidence = _evidence_frame(summary)
    rows = []
    for row in evidence.to_dict("records"):
        label, decided_by = classify(row)
        assert label in DIAGNOSES, label
        rows.append(
            {
                **row,
                "diagnosis": label,
                "decided_by": ";".join(decided_by),
                "evidence": _evidence(row, decided_by),
                **_break_even(row, label),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def diagnoses(summary: pd.DataFrame) -> list[str]:
    """Each summary row's diagnosis, in the summary's order."""
    frame = diagnosis_frame(summary)
    if frame.empty:
        return ["undetermined"] * len(summary)
    by_cell = dict(
        zip(map(tuple, frame[HOST_CELL].itertuples(index=False)), frame["diagnosis"], strict=True)
    )
    return [by_cell[tuple(k)] for k in summary[HOST_CELL].itertuples(index=False)]
