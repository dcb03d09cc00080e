"""Run one cell: warm-up and timed repetitions of a task under a strategy, verified.

Before the first repetition (warm-ups included) the task runs once, untimed, on one real
item, its output in the scratch area (removed at once): the *priming run*. Whatever the work
loads on first use (Pillow's plugins on the first decode, httpx's transport stack on the
first request, aiofiles and asyncio's machinery for the asyncio strategy, which primes the
async work as well) is then loaded before any pool forks, so that forked workers do not pay
for it inside the timer. Under a forkserver, the modules the priming run loaded are
preloaded by the server. It touches neither the verification references nor the cache
state, which each repetition's prepare step sets afterwards.

Each repetition is prepare (untimed: output directory emptied, dirty pages synced, cache
state set and measured) -> timed region (the strategy, pool start-up and shutdown
included) -> verify (untimed). A repetition whose work does not verify fails the whole
cell: no time is ever reported for work that was not done.

``cold`` means cold *inputs*: by default (``RunOptions.eviction = "files"``) only the
dataset's files are evicted, one by one, so that pool workers do not re-read the
interpreter's libraries from disk inside the timer. ``eviction = "system"`` drops the whole
page cache (root only; elsewhere a warning and cache method "none"). Saving tasks read no
inputs: cold has no meaning for them with ``"files"``, and such a cell is refused.

Beside the timer, untimed, each repetition records the peak number of items in flight, when
the pool was ready (every worker started), the modules workers imported inside their work
(empty after priming), the peak memory of the whole process tree (a sampler process) and
the CPU that other processes used on this process's CPUs (the cell's helpers excluded).

A cell that fails writes no result. One given a time limit (``RunOptions.timeout_s``, as
``imgbench run-cell`` always is) has its process to itself: past the limit, or on SIGINT,
SIGTERM or SIGHUP, the process kills its children, removes its scratch area and exits at
once, because a hung worker thread cannot be stopped any other way (and would block the
interpreter's exit, which joins the executors' threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import math
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from imgbench.errors import DatasetError, ImgbenchError, TaskError, VerificationError
from imgbench.files import write_json_atomic
from imgbench.measure import cache, strategies
from imgbench.measure import usage as measure
from imgbench.measure.datasets import RAW, check_files, load_manifest
from imgbench.measure.machine import collect_machine_info, process_started
from imgbench.measure.result import SCHEMA_VERSION
from imgbench.measure.storage import (
    remove_active_areas,
    reset_output_dir,
    scratch_area,
    stage_inputs,
)
from imgbench.measure.strategies import START_METHODS, STRATEGIES, peak_in_flight
from imgbench.measure.tasks import BOUNDS, TASKS, Task, VerifyContext
from imgbench.plan.config import option_problems
from imgbench.vocabulary import CellSpec

#: Exit status of a cell stopped at its time limit (the convention of timeout(1)).
TIMEOUT_STATUS = 124
#: Signals that stop a guarded cell; its exit status is then 128 + the signal's number.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: Seconds past the limit after which faulthandler ends the process even if the guard's
#: thread cannot run (C code that never releases the GIL).
BACKSTOP_S = 30.0
#: Sent by the guard's watchdog to the main thread, whose handler then waits for the end.
FREEZE_SIGNAL = getattr(signal, "SIGUSR2", None)
#: Seconds the watchdog waits for the main thread to freeze before it kills the children.
FREEZE_WAIT_S = 2.0


@dataclass(frozen=True)
class RunOptions:
    repeats: int
    warmup: int
    dataset: Path
    scratch: Path
    output: Path | None = None
    #: Options of the task, overriding its defaults (``task_options`` in the config).
    task_options: dict = field(default_factory=dict)
    #: Provenance recorded in the result (``imgbench.plan.config.experiment_hash``).
    config_hash: str | None = None
    #: Seconds the whole cell may take (``math.inf``: no limit). Any value, even ``inf``,
    #: makes the cell own its process: see the module's docstring. None: no guard at all,
    #: for running cells inside another program (tests).
    timeout_s: float | None = None
    #: How ``cold`` is made: "files" evicts the inputs one by one; "system" drops the whole
    #: page cache (root only). See the module's docstring.
    eviction: str = "files"
    #: Start method of process pools: None or "default" (the platform's), "fork",
    #: "forkserver" or "spawn".
    start_method: str | None = None
    #: Which of the cell's rounds (separate jobs) this is, and how many there are: recorded
    #: only, for the analysis.
    round: int = 1
    rounds: int = 1


def cell_name(spec: CellSpec, options: RunOptions) -> str:
    """How messages name a cell: its result file, which is how the workflow knows it."""
    return str(options.output) if options.output is not None else spec.label


def kill_children(timeout_s: float = 5.0) -> None:
    """SIGKILL every descendant process (pool workers, servers) and wait until they are dead.

    They are not reaped: their owners (a process pool) reap them and would wait forever
    for a child that someone else reaped. A zombie holds nothing but its exit status.
    """
    me = psutil.Process()
    # A pool may be starting workers while we kill: look again until none are left.
    for _ in range(5):
        children = [c for c in me.children(recursive=True) if _running(c)]
        if not children:
            return
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        deadline = time.monotonic() + timeout_s
        while any(_running(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.01)


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class CellGuard:
    """Ends the process when its cell runs past its time limit or is told to stop.

    A watchdog thread waits for the deadline or a stop signal. Then the main thread is
    frozen where it is (so that it starts no new worker processes), the child processes
    are killed, the scratch areas removed, one line printed naming the cell and the cause,
    and ``os._exit`` called: no ``finally`` block or atexit join can hang it. The result is
    written only if the cell reaches ``finishing()`` first.
    """

    def __init__(self, name: str, timeout_s: float) -> None:
        if not timeout_s > 0:
            raise ImgbenchError(f"timeout must be a number of seconds > 0, not {timeout_s!r}")
        self.name = name
        self.timeout_s = timeout_s
        self._pid = os.getpid()
        # Reentrant: a signal handler runs in the main thread, perhaps while it holds it.
        self._lock = threading.RLock()
        self._state = "running"  # then "finishing" (writing the result), "done" or "stopping"
        self._wake = threading.Event()
        self._frozen = threading.Event()
        self._signal: int | None = None
        self._previous: dict[int, object] = {}
        self._thread = threading.Thread(target=self._watch, name="imgbench-guard", daemon=True)

    def __enter__(self) -> CellGuard:
        self._deadline = time.monotonic() + self.timeout_s
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            if FREEZE_SIGNAL is not None:
                self._previous[FREEZE_SIGNAL] = signal.signal(FREEZE_SIGNAL, self._on_freeze)
        if math.isfinite(self.timeout_s):
            faulthandler.dump_traceback_later(self.timeout_s + BACKSTOP_S, exit=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            stopping = self._state == "stopping"
            if not stopping:
                self._state = "done"
        if stopping:
            self._freeze()
        self._wake.set()
        if math.isfinite(self.timeout_s):
            faulthandler.cancel_dump_traceback_later()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._thread.join()

    def finishing(self) -> None:
        """Called before the result is written: from here on the cell is not stopped."""
        with self._lock:
            stopping = self._state == "stopping"
            if not stopping:
                self._state = "finishing"
        if stopping:
            self._freeze()

    def _freeze(self) -> None:
        # The watchdog is ending the process: this thread must do nothing more.
        self._frozen.set()
        while True:
            time.sleep(60)

    def _on_signal(self, signum: int, frame: object) -> None:
        if os.getpid() != self._pid:
            # A forked pool worker inherits this handler; it must die of the signal, as its
            # pool expects (a broken pool terminates its workers with SIGTERM).
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        with self._lock:
            if self._state in ("finishing", "done"):
                return  # the cell is over: it ends as it would have
            if self._state == "running":
                self._state = "stopping"
                self._signal = signum
        self._wake.set()
        self._freeze()

    def _on_freeze(self, signum: int, frame: object) -> None:
        if os.getpid() == self._pid:
            self._freeze()

    def _watch(self) -> None:
        remaining = self._deadline - time.monotonic()
        self._wake.wait(remaining if math.isfinite(remaining) else None)
        # Not for long: a signal handler may have frozen the main thread while it held the
        # lock (it is reentrant), and then the state is already "stopping".
        locked = self._lock.acquire(timeout=1.0)
        try:
            if self._state not in ("running", "stopping"):
                return
            self._state = "stopping"
        finally:
            if locked:
                self._lock.release()
        if self._signal is not None:
            name = signal.Signals(self._signal).name
            message = f"{self.name}: stopped by {name}; no result written"
            status = 128 + self._signal
        else:
            message = (
                f"{self.name}: exceeded its time limit of {self.timeout_s:g} s (timeout_s); "
                "stopped, its worker processes killed, no result written"
            )
            status = TIMEOUT_STATUS
        try:
            if self._signal is None:
                print("imgbench: where each thread was at the time limit:", file=sys.stderr)
                sys.stderr.flush()
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                if FREEZE_SIGNAL is not None and FREEZE_SIGNAL in self._previous:
                    signal.pthread_kill(threading.main_thread().ident, FREEZE_SIGNAL)
            # Main may be stuck in C code and never freeze: then it cannot start workers
            # either, and waiting longer is pointless.
            self._frozen.wait(FREEZE_WAIT_S if self._previous else 0)
            kill_children()
            remove_active_areas()
        finally:
            try:
                print(f"imgbench: error: {message}", file=sys.stderr, flush=True)
                sys.stdout.flush()
            finally:
                os._exit(status)


def _check_spec(spec: CellSpec, options: RunOptions) -> None:
    if spec.task not in TASKS:
        raise ImgbenchError(f"unknown task {spec.task!r}; allowed: {', '.join(sorted(TASKS))}")
    if spec.strategy not in STRATEGIES:
        raise ImgbenchError(
            f"unknown strategy {spec.strategy!r}; allowed: {', '.join(sorted(STRATEGIES))}"
        )
    if spec.cache not in ("cold", "warm"):
        raise ImgbenchError(f"unknown cache state {spec.cache!r}; allowed: cold, warm")
    if min(spec.workers, spec.n_images, spec.width, spec.height, options.repeats) < 1:
        raise ImgbenchError("workers, n_images, width, height and repeats must be at least 1")
    if options.warmup < 0:
        raise ImgbenchError("warmup must be 0 or more")
    if not STRATEGIES[spec.strategy].uses_workers and spec.workers != 1:
        raise ImgbenchError(f"{spec.strategy} uses no workers: run it with workers=1")
    if spec.strategy == "vectorized" and TASKS[spec.task].batch is None:
        raise ImgbenchError(f"task {spec.task} has no whole-batch form for the vectorized strategy")
    if options.eviction not in cache.EVICTIONS:
        raise ImgbenchError(
            f"unknown eviction {options.eviction!r}; allowed: {', '.join(cache.EVICTIONS)}"
        )
    if options.start_method is not None and options.start_method not in START_METHODS:
        raise ImgbenchError(
            f"unknown start method {options.start_method!r}; allowed: {', '.join(START_METHODS)}"
        )
    if not 1 <= options.round <= options.rounds:
        raise ImgbenchError(
            f"round {options.round} of {options.rounds}: rounds must be at least 1 and "
            "round between 1 and rounds"
        )
    task = TASKS[spec.task]
    if task.bound not in BOUNDS:
        raise ImgbenchError(f"task {task.name}: bound {task.bound!r} is not one of {BOUNDS}")
    if spec.cache == "cold" and task.input_kind == "arrays" and options.eviction == "files":
        raise ImgbenchError(
            f"task {task.name} reads no inputs (it saves in-memory arrays), so a cold cache "
            "has no meaning with eviction 'files': run the cell warm, or with eviction "
            "'system' to drop the whole page cache"
        )
    for option, value in options.task_options.items():
        problems = option_problems(
            f"task option {option}", option, value, task.options, task.choices
        )
        if problems:
            raise ImgbenchError(problems[0])


def _prepare(task: Task, spec: CellSpec, inputs: list[Path], out_dir: Path | None, eviction: str):
    """Set the repetition's starting state; return (cache method, resident fraction)."""
    gc.collect()  # so the previous repetition's garbage is not collected inside the timer
    if out_dir is not None:
        reset_output_dir(out_dir)
    if task.input_kind == "arrays":
        cache.sync_files()
        # _check_spec lets a cold saving cell through with eviction "system" only.
        if spec.cache == "cold":
            return cache.evict_system(), None
        return "sync", None
    if spec.cache == "warm":
        cache.warm_page_cache(inputs)
        method = "read"
    elif eviction == "system":
        method = cache.evict_system()
    else:
        method = cache.evict_files(inputs)
    return method, cache.resident_fraction(inputs)


def _prime(task: Task, spec: CellSpec, source, opts: dict, service, directory: Path) -> list[str]:
    """Run the task once on one real item, untimed, output under ``directory`` (removed).

    Returns the modules it imported first, for a forkserver to preload. The asyncio
    strategy primes the async work too (aiofiles, the loop's executor, the async client),
    the vectorized one the batch form.
    """
    known = len(sys.modules)
    directory.mkdir()
    try:
        output = None
        if task.output_suffix:
            output = str(directory / f"img_000000{task.output_suffix}")
        item = task.build_item(source, output, opts, service)
        task.work(item)
        if spec.strategy == "vectorized" and task.batch is not None:
            task.batch([item])
        if spec.strategy == "asyncio":
            if output is not None:
                Path(output).unlink(missing_ok=True)
            asyncio.run(_prime_async(task, item))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return list(sys.modules)[known:]


async def _prime_async(task: Task, item) -> None:
    await task.awork(item)


def _pool_ready(starts: Sequence[float], t0: float) -> float | None:
    return max(starts) - t0 if starts else None


def run_cell(spec: CellSpec, options: RunOptions) -> dict:
    """Run the cell, write its result atomically to ``options.output`` and return it."""
    if options.timeout_s is None:
        return _run_cell(spec, options, None)
    with CellGuard(cell_name(spec, options), options.timeout_s) as guard:
        return _run_cell(spec, options, guard)


def _run_cell(spec: CellSpec, options: RunOptions, guard: CellGuard | None) -> dict:
    try:
        return _run_cell_unguarded(spec, options, guard)
    except OSError as exc:
        # Storage faults (a full disk or tmpfs, a vanished file) end the cell like any other
        # failure: one line naming the cell and the file.
        raise ImgbenchError(f"{cell_name(spec, options)}: {exc}") from exc


def _run_cell_unguarded(spec: CellSpec, options: RunOptions, guard: CellGuard | None) -> dict:
    process_started_unix, process_started_precision = process_started()
    started_unix = time.time()
    t_start = time.perf_counter()
    _check_spec(spec, options)
    task, strategy = TASKS[spec.task], STRATEGIES[spec.strategy]
    manifest = load_manifest(options.dataset)
    want_format = RAW if task.input_kind == "arrays" else manifest.format
    if (manifest.format, manifest.width, manifest.height) != (
        want_format,
        spec.width,
        spec.height,
    ) or manifest.count < spec.n_images:
        raise DatasetError(
            f"{options.dataset}: holds {manifest.count} {manifest.format} images of "
            f"{manifest.width}x{manifest.height}; the cell needs {spec.n_images} "
            f"{want_format} images of {spec.width}x{spec.height}"
        )
    phases = dict.fromkeys(("setup_s", "prepare_s", "timed_s", "verify_s", "teardown_s"), 0.0)
    repetitions = []
    with (
        warnings.catch_warnings(record=True) as caught,
        scratch_area(spec.storage, options.scratch) as area,
        contextlib.ExitStack() as stack,
    ):
        warnings.simplefilter("always")
        n = spec.n_images
        opts = {**task.options, **options.task_options}
        inputs: list[Path] = []
        out_dir = area / "out" if task.output_suffix else None
        outputs: list[Path] = []
        if out_dir is not None:
            outputs = [out_dir / f"img_{i:06d}{task.output_suffix}" for i in range(n)]
        ctx = VerifyContext(
            n,
            spec.width,
            spec.height,
            output_paths=outputs,
            output_dir=out_dir,
            color=manifest.color,
            options=opts,
            reference_dir=area / "reference",
        )
        if task.input_kind == "files":
            check_files(manifest, n)
            inputs = stage_inputs(manifest.paths(n), spec.storage, area)
            sources: list = [str(p) for p in inputs]
            ctx.input_paths = inputs
            ctx.input_sha256 = [f.sha256 for f in manifest.files[:n]]
            ctx.input_pixel_sha256 = [f.pixel_sha256 for f in manifest.files[:n]]
            payload = sum(f.bytes for f in manifest.files[:n])
            input_bytes = payload
        else:
            arrays = manifest.load_arrays(n)
            sources = list(arrays)
            ctx.source_arrays = arrays
            payload = input_bytes = 0
        service = stack.enter_context(
            task.service(inputs, opts) if task.service else contextlib.nullcontext()
        )
        items = [
            task.build_item(src, str(out) if out_dir else None, opts, service)
            for src, out in zip(sources, outputs or [None] * n, strict=True)
        ]
        ctx.items = items
        # The storage a task works on: where it reads its inputs, or where it writes.
        machine = collect_machine_info(inputs[0].parent if inputs else area)
        try:
            primed = _prime(task, spec, sources[0], opts, service, area / "prime")
        except TaskError as exc:
            raise type(exc)(
                f"{cell_name(spec, options)}: {exc} during the untimed priming run"
            ) from exc
        mp_method = stack.enter_context(
            strategies.pinned_start_method(options.start_method, primed)
        )
        # Started once per cell, untimed; its CPU and the service's are the cell's own, not
        # interference. The service (a server) is not part of the strategy's memory.
        sampler = stack.enter_context(measure.TreeMemorySampler())
        service_pid = getattr(service, "pid", None)
        helpers = []
        for pid in (sampler.pid, service_pid):
            if isinstance(pid, int):  # psutil.Process(None) would be this very process
                with contextlib.suppress(psutil.Error):
                    helpers.append(psutil.Process(pid))
        phases["setup_s"] = time.perf_counter() - t_start

        for index in range(options.warmup + options.repeats):
            t_prep = time.perf_counter()
            method, resident = _prepare(task, spec, inputs, out_dir, options.eviction)
            rss_reset = measure.reset_peak_rss()
            instruments = strategies.begin_repetition()
            # Memory is sampled in the warm-ups only: they do the same work, untimed. Reading
            # a worker's smaps_rollup walks its page tables under its memory lock, which
            # slowed process pools by 3-6% when every timed repetition was sampled.
            sampled = index < options.warmup
            if sampled:
                sampler.start(exclude=[service_pid] if service_pid else [])
            before = measure.Snapshot.take(helpers)
            t0 = time.perf_counter()
            try:
                outcome = strategy.run(task, items, spec.workers)
            except TaskError as exc:
                warmup = " (a warm-up)" if index < options.warmup else ""
                raise type(exc)(
                    f"{cell_name(spec, options)}: {exc} during repetition {index}{warmup}"
                ) from exc
            t1 = time.perf_counter()
            after = measure.Snapshot.take(helpers)
            tree_pss, tree_uss = sampler.stop() if sampled else (None, None)
            peak_self, peak_children = measure.peak_rss_self(), measure.peak_rss_children()
            worker_starts = instruments.drain()
            try:
                task.verify(ctx, outcome.results)
            except VerificationError as exc:
                raise VerificationError(
                    f"{spec.label}: repetition {index} failed verification: {exc}"
                ) from exc
            if task.input_kind == "arrays":
                payload = sum(p.stat().st_size for p in outputs)
            t_verified = time.perf_counter()
            first_result = outcome.first_result_at - t0
            last_result = outcome.last_result_at - t0
            in_flight = peak_in_flight(outcome.spans)
            imported = sorted(set(outcome.imported))
            del outcome
            wall = t1 - t0
            usage = measure.resource_usage(before, after)
            read = usage["io_read_bytes"]
            rep = {
                "index": index,
                "warmup": index < options.warmup,
                "wall_s": wall,
                # Where the time went. first_result_s: timer start to the first result
                # reaching the caller: pool start-up plus one item's work (one whole chunk's
                # for chunked pools). work_s: first to last result. shutdown_s: last result to
                # the strategy's return (the pool's shutdown). pool_ready_s, apart: timer
                # start until every worker that started had started (threads and processes).
                "first_result_s": first_result,
                "work_s": last_result - first_result,
                "shutdown_s": wall - last_result,
                "pool_ready_s": _pool_ready(worker_starts, t0),
                "workers_started": len(worker_starts) or None,
                "peak_in_flight": in_flight,
                "worker_imported_modules": imported,
                **usage,
                "input_bytes": input_bytes,
                "extra_read_bytes": None if read is None else max(0, read - input_bytes),
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
            repetitions.append(rep)
            phases["prepare_s"] += t0 - t_prep
            phases["timed_s"] += wall
            phases["verify_s"] += t_verified - t1
        t_teardown = time.perf_counter()
    phases["teardown_s"] = time.perf_counter() - t_teardown
    finished_unix = time.time()
    result = {
        "schema_version": SCHEMA_VERSION,
        "cell": spec.as_dict(),
        "cell_path": spec.relative_path,
        "run": {
            "repeats": options.repeats,
            "warmup": options.warmup,
            "dataset": str(options.dataset),
            "dataset_format": manifest.format,
            "dataset_seed": manifest.seed,
            "dataset_color": manifest.color,
            "task_options": opts,
            "scratch": str(options.scratch),
            "task_summary": task.summary,
            "strategy_summary": strategy.summary,
            "mp_start_method": mp_method,
            "start_method_requested": options.start_method or "default",
            "eviction": options.eviction,
            "task_bound": task.bound,
            "round": options.round,
            "rounds": options.rounds,
            "config_hash": options.config_hash,
            "timeout_s": (
                options.timeout_s
                if options.timeout_s is not None and math.isfinite(options.timeout_s)
                else None
            ),
        },
        "machine": machine,
        "process_started_unix": process_started_unix,
        "process_started_precision_s": process_started_precision,
        "started_unix": started_unix,
        "finished_unix": finished_unix,
        "phases": phases,
        "warnings": sorted({str(w.message) for w in caught}),
        # The whole cell's peak memory: parent plus workers, from the warm-up repetitions.
        "memory": {
            key: max((r[key] for r in repetitions if r[key] is not None), default=None)
            for key in ("tree_peak_pss_bytes", "tree_peak_uss_bytes")
        }
        | {"sampled_in": "warm-up repetitions" if options.warmup else "none (no warm-up)"},
        "repetitions": repetitions,
    }
    for message in result["warnings"]:
        print(f"imgbench: warning: {message}", file=sys.stderr)
    if options.output is not None:
        if guard is not None:
            guard.finishing()
        write_json_atomic(options.output, result)
    return result
