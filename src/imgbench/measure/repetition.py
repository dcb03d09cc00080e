"""One repetition of a cell: prepare (untimed) -> the timed region -> verify (untimed), and
the repetition's record (``imgbench.measure.result.Repetition``).

Prepare empties the output directory, syncs dirty pages, sets and measures the cache state,
and returns this process's free heap memory to the system (``heap``), so that every
repetition allocates its results afresh. The timed region is the strategy's run, its pool's
start-up and shutdown included.
Verify checks every result: a repetition whose work does not verify fails the whole cell,
so no time is ever reported for work that was not done.

Beside the timer, untimed, a repetition records the peak number of items in flight, when
the pool was ready (every worker started), the modules workers imported inside their work
(empty after priming), page faults, the peak memory of the whole process tree (sampled in
warm-ups only) and the CPU that other processes used on this process's CPUs (the cell's
helpers excluded).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from imgbench.errors import TaskError, VerificationError
from imgbench.measure import cache, heap
from imgbench.measure import usage as measure
from imgbench.measure.instruments import begin_repetition, peak_in_flight
from imgbench.measure.result import Phases, Repetition
from imgbench.measure.storage import reset_output_dir
from imgbench.measure.strategies import Strategy
from imgbench.measure.tasks import Task, VerifyContext
from imgbench.vocabulary import CellSpec


@dataclass
class Workload:
    """What every repetition of a cell works on, set up once per cell (untimed)."""

    spec: CellSpec
    task: Task
    strategy: Strategy
    #: How messages name the cell (``runner.cell_name``).
    name: str
    #: "files" or "system" (``RunOptions.eviction``).
    eviction: str
    ctx: VerifyContext
    #: The staged inputs of a task that reads files (else empty), and what they weigh.
    inputs: list[Path] = field(default_factory=list)
    input_bytes: int = 0
    #: The inputs rounded up to whole pages (``cache.page_bytes``): what reading them cold
    #: costs at least, so that reads beyond it are someone else's.
    input_page_bytes: int = 0
    #: Where a task that writes puts its outputs (None: it writes none).
    out_dir: Path | None = None
    outputs: list[Path] = field(default_factory=list)
    #: What the items are made from (input paths, or the arrays to save), and the items the
    #: strategy is given (made once the task's service runs).
    sources: list[Any] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    #: Seconds making and warming a persistent strategy's kept pool took (0 otherwise).
    pool_start_s: float = 0.0


@dataclass
class Meters:
    """What measures the cell beside the timer: the memory sampler, and the cell's helper
    processes (the sampler, the task's service) whose CPU is the cell's own."""

    sampler: measure.TreeMemorySampler
    helpers: list[psutil.Process]
    service_pid: int | None
    #: The live worker processes of a kept pool (persistent strategies), whose CPU and I/O
    #: are the cell's work though no repetition reaps them.
    workers: list[psutil.Process] = field(default_factory=list)
    #: The forkserver, where the cell's pools use one: it starts and reaps their workers,
    #: so what they did reaches its counts (their CPU in clock ticks), not this process's.
    servers: list[psutil.Process] = field(default_factory=list)


def prepare(work: Workload) -> tuple[str, float | None]:
    """Set the repetition's starting state; return (cache method, resident fraction)."""
    task, spec, inputs = work.task, work.spec, work.inputs
    gc.collect()  # so the previous repetition's garbage is not collected inside the timer
    if work.out_dir is not None:
        reset_output_dir(work.out_dir)
        if task.output_dirs:
            for directory in work.outputs:
                directory.mkdir()
    if task.input_kind == "arrays":
        cache.sync_files()
        # The runner lets a cold saving cell through with eviction "system" only.
        if spec.cache == "cold":
            return cache.evict_system(), None
        return "sync", None
    if spec.cache == "warm":
        cache.warm_page_cache(inputs)
        method = "read"
    elif work.eviction == "system":
        method = cache.evict_system()
    else:
        method = cache.evict_files(inputs)
    return method, cache.resident_fraction(inputs)


def _pool_ready(starts: Sequence[float], t0: float) -> float | None:
    return max(starts) - t0 if starts else None


def _verify(work: Workload, index: int, results: Sequence[Any]) -> int:
    """Check the repetition's results; return its payload in bytes (what a saving task
    wrote, what a reading task read)."""
    try:
        work.task.verify(work.ctx, results)
    except VerificationError as exc:
        raise VerificationError(
            f"{work.spec.label}: repetition {index} failed verification: {exc}"
        ) from exc
    if work.task.input_kind == "arrays":
        return sum(p.stat().st_size for p in work.outputs)
    return work.input_bytes


def run_repetition(
    work: Workload, meters: Meters, index: int, warmup: bool, phases: Phases
) -> Repetition:
    """Prepare, time and verify repetition ``index``; add its time to ``phases``."""
    t_prep = time.perf_counter()
    method, resident = prepare(work)
    heap_trimmed = heap.trim()
    rss_reset = measure.reset_peak_rss()
    instruments = begin_repetition()
    # Memory is sampled in the warm-ups only: they do the same work, untimed. Reading a
    # worker's smaps_rollup walks its page tables under its memory lock, which slowed
    # process pools by 3-6% when every timed repetition was sampled.
    if warmup:
        meters.sampler.start(exclude=[meters.service_pid] if meters.service_pid else [])
    before = measure.Snapshot.take(meters.helpers, meters.workers, meters.servers)
    t0 = time.perf_counter()
    try:
        outcome = work.strategy.run(work.task, work.items, work.spec.workers)
    except TaskError as exc:
        during = " (a warm-up)" if warmup else ""
        raise type(exc)(f"{work.name}: {exc} during repetition {index}{during}") from exc
    t1 = time.perf_counter()
    after = measure.Snapshot.take(meters.helpers, meters.workers, meters.servers)
    tree_pss, tree_uss = meters.sampler.stop() if warmup else (None, None)
    peak_self, peak_children = measure.peak_rss_self(), measure.peak_rss_children()
    worker_starts = instruments.drain()
    payload = _verify(work, index, outcome.results)
    t_verified = time.perf_counter()
    first_result = outcome.first_result_at - t0
    last_result = outcome.last_result_at - t0
    in_flight = peak_in_flight(outcome.spans)
    imported = sorted(set(outcome.imported))
    reused = outcome.workers_reused
    del outcome
    wall = t1 - t0
    usage = measure.resource_usage(before, after)
    read = usage["io_read_bytes"]
    n, input_bytes = work.spec.n_images, work.input_bytes
    phases["prepare_s"] += t0 - t_prep
    phases["timed_s"] += wall
    phases["verify_s"] += t_verified - t1
    return {
        "index": index,
        "warmup": warmup,
        "wall_s": wall,
        # Where the time went. first_result_s: timer start to the first result reaching
        # the caller: pool start-up plus one item's work (one whole chunk's for chunked
        # pools). work_s: first to last result. shutdown_s: last result to the strategy's
        # return (the pool's shutdown). pool_ready_s, apart: timer start until every
        # worker that started had started (threads and processes).
        "first_result_s": first_result,
        "work_s": last_result - first_result,
        "shutdown_s": wall - last_result,
        "pool_ready_s": _pool_ready(worker_starts, t0),
        "workers_started": len(worker_starts) or None,
        # Workers that did the work but existed before the run (joblib's: loky reuses).
        "workers_reused": reused,
        "peak_in_flight": in_flight,
        "worker_imported_modules": imported,
        **usage,
        "input_bytes": input_bytes,
        # Beyond the inputs' whole pages: what a cold read of the inputs cannot avoid.
        "extra_read_bytes": None if read is None else max(0, read - work.input_page_bytes),
        "heap_trimmed": heap_trimmed,
        "peak_rss_bytes": peak_self,
        "peak_rss_reset": rss_reset,
        "peak_rss_children_bytes": peak_children,
        "tree_peak_pss_bytes": tree_pss,
        "tree_peak_uss_bytes": tree_uss,
        "payload_bytes": payload,
        "images_per_s": n / wall,
        "mb_per_s": payload / wall / 1e6,
        "cache_method": method,
        "resident_fraction": resident,
        "verified": True,
    }
