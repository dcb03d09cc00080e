"""Run one cell: warm-up and timed repetitions of a task under a strategy, verified.

Before the first repetition (warm-ups included) the task runs once, untimed, on real items
(``imgbench.measure.priming``), so that forked workers do not pay first-use costs inside the
timer.

Each repetition (``imgbench.measure.repetition``) is prepare (untimed: output directory
emptied, dirty pages synced, cache state set and measured) -> timed region (the strategy,
pool start-up and shutdown included) -> verify (untimed). A repetition whose work does not
verify fails the whole cell: no time is ever reported for work that was not done.

``cold`` means cold *inputs*: by default (``RunOptions.eviction = "files"``) only the
dataset's files are evicted, one by one, so that pool workers do not re-read the
interpreter's libraries from disk inside the timer. ``eviction = "system"`` drops the whole
page cache (root only; elsewhere a warning and cache method "none"). Saving tasks read no
inputs: cold has no meaning for them with ``"files"``, and such a cell is refused.

A cell that fails writes no result; one that succeeds writes one (``imgbench.measure.result``),
assembled once every repetition is done. One given a time limit (``RunOptions.timeout_s``,
as ``imgbench run-cell`` always is) has its process to itself (``imgbench.measure.guard``):
past the limit, or on a stop signal, the process ends at once.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import psutil

from imgbench.errors import DatasetError, ImgbenchError, TaskError
from imgbench.measure import cache, codecs, pools, shared_memory, strategies
from imgbench.measure import usage as measure
from imgbench.measure.datasets import RAW, Manifest, check_files, load_manifest
from imgbench.measure.guard import CellGuard
from imgbench.measure.machine import collect_machine_info, gil_enabled, process_started
from imgbench.measure.priming import prime, priming_sources
from imgbench.measure.repetition import Meters, Workload, run_repetition
from imgbench.measure.result import (
    CellResult,
    Memory,
    Phases,
    Repetition,
    RunParameters,
    Transfer,
    build_result,
    write_result,
)
from imgbench.measure.start_methods import START_METHODS, pinned_start_method
from imgbench.measure.storage import scratch_area, stage_inputs
from imgbench.measure.strategies import STRATEGIES, Strategy
from imgbench.measure.tasks import BOUNDS, TASKS, Task, VerifyContext, option_problems
from imgbench.vocabulary import CellSpec, format_size, is_native


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


def _check_spec(spec: CellSpec, options: RunOptions) -> None:
    if spec.task not in TASKS:
        raise ImgbenchError(f"unknown task {spec.task!r}; allowed: {', '.join(sorted(TASKS))}")
    if spec.strategy not in STRATEGIES:
        raise ImgbenchError(
            f"unknown strategy {spec.strategy!r}; allowed: {', '.join(sorted(STRATEGIES))}"
        )
    if spec.cache not in ("cold", "warm"):
        raise ImgbenchError(f"unknown cache state {spec.cache!r}; allowed: cold, warm")
    if min(spec.workers, spec.n_images, options.repeats) < 1:
        raise ImgbenchError("workers, n_images and repeats must be at least 1")
    # Both 0 is a folder's images as found (native); otherwise both must be a size.
    if not is_native(spec.width, spec.height) and min(spec.width, spec.height) < 1:
        raise ImgbenchError("width and height must be at least 1 (or both 0: native)")
    if options.warmup < 0:
        raise ImgbenchError("warmup must be 0 or more")
    if not STRATEGIES[spec.strategy].uses_workers and spec.workers != 1:
        raise ImgbenchError(f"{spec.strategy} uses no workers: run it with workers=1")
    if spec.strategy == "vectorized" and TASKS[spec.task].batch is None:
        raise ImgbenchError(f"task {spec.task} has no whole-batch form for the vectorized strategy")
    if spec.strategy == "vectorized" and is_native(spec.width, spec.height):
        raise ImgbenchError("vectorized stacks images of one shape: native images differ in size")
    library = codecs.LIBRARIES.get(TASKS[spec.task].library or "")
    if (
        library is not None
        and not library.fork_safe
        and strategies.forks(STRATEGIES[spec.strategy], options.start_method)
    ):
        # The priming run has the library work here before the pool forks its workers.
        raise ImgbenchError(
            f"{spec.task}: {library.name} is not fork-safe (a process forked after it has "
            f"worked hangs): run {spec.strategy} with start_method forkserver or spawn"
        )
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


def run_cell(spec: CellSpec, options: RunOptions) -> CellResult:
    """Run the cell, write its result atomically to ``options.output`` and return it."""
    if options.timeout_s is None:
        return _run_cell(spec, options, None)
    with CellGuard(cell_name(spec, options), options.timeout_s) as guard:
        return _run_cell(spec, options, guard)


def _run_cell(spec: CellSpec, options: RunOptions, guard: CellGuard | None) -> CellResult:
    try:
        return _run_cell_unguarded(spec, options, guard)
    except OSError as exc:
        # Storage faults (a full disk or tmpfs, a vanished file) end the cell like any other
        # failure: one line naming the cell and the file.
        raise ImgbenchError(f"{cell_name(spec, options)}: {exc}") from exc


def _run_cell_unguarded(spec: CellSpec, options: RunOptions, guard: CellGuard | None) -> CellResult:
    """Check, prepare the inputs, start the helpers, run the warm-ups and the timed
    repetitions (each verified), then assemble and write the result."""
    process_started_unix, process_started_precision = process_started()
    started_unix = time.time()
    t_start = time.perf_counter()
    _check_spec(spec, options)
    task, strategy = TASKS[spec.task], STRATEGIES[spec.strategy]
    manifest = _check_dataset(spec, options, task)
    phases: Phases = dict.fromkeys(Phases.__annotations__, 0.0)
    with (
        warnings.catch_warnings(record=True) as caught,
        scratch_area(spec.storage, options.scratch) as area,
        contextlib.ExitStack() as stack,
    ):
        warnings.simplefilter("always")
        # Launched first, waited for last (_start_helpers): its start-up overlaps the set-up.
        sampler = stack.enter_context(measure.TreeMemorySampler())
        opts = {**task.options, **options.task_options}
        work = _prepare_inputs(spec, options, manifest, opts, area)
        service = stack.enter_context(
            task.service(work.inputs, opts) if task.service else contextlib.nullcontext()
        )
        _make_items(work, opts, service)
        # The storage a task works on: where it reads its inputs, or where it writes.
        machine = collect_machine_info(work.inputs[0].parent if work.inputs else area)
        mp_method, meters = _start_helpers(work, options, opts, service, area, stack, sampler)
        phases["pool_start_s"] = work.pool_start_s
        phases["setup_s"] = time.perf_counter() - t_start - work.pool_start_s
        warm_ups = [
            run_repetition(work, meters, index, True, phases) for index in range(options.warmup)
        ]
        timed = [
            run_repetition(work, meters, index, False, phases)
            for index in range(options.warmup, options.warmup + options.repeats)
        ]
        transfer = _transfer(work)
        # Read again after every repetition: a C extension without free-threading support
        # re-enables the GIL when it is first imported, which may be inside the work.
        machine["gil_enabled"] = gil_enabled()
        if task.library is not None:
            # Loaded by the priming run: its version and the codecs it really ran.
            machine["image_library"] = codecs.describe(task.library, int(opts.get("threads", 1)))
        t_teardown = time.perf_counter()
    phases["teardown_s"] = time.perf_counter() - t_teardown
    finished_unix = time.time()
    repetitions = warm_ups + timed
    result = build_result(
        spec.as_dict(),
        _run_parameters(spec, options, manifest, task, strategy, opts, mp_method),
        machine,
        repetitions,
        cell_path=spec.relative_path,
        process_started_unix=process_started_unix,
        process_started_precision_s=process_started_precision,
        started_unix=started_unix,
        finished_unix=finished_unix,
        phases=phases,
        warnings=sorted({str(w.message) for w in caught}),
        memory=_memory(repetitions, options.warmup),
        transfer=transfer,
    )
    _write(result, options, guard)
    return result


def _check_dataset(spec: CellSpec, options: RunOptions, task: Task) -> Manifest:
    """The dataset's manifest, if it holds what the cell needs."""
    manifest = load_manifest(options.dataset)
    want_format = RAW if task.input_kind == "arrays" else manifest.format
    if (manifest.format, manifest.width, manifest.height) != (
        want_format,
        spec.width,
        spec.height,
    ) or manifest.count < spec.n_images:
        raise DatasetError(
            f"{options.dataset}: holds {manifest.count} {manifest.format} images of "
            f"{format_size(manifest.width, manifest.height)}; the cell needs {spec.n_images} "
            f"{want_format} images of {format_size(spec.width, spec.height)}"
        )
    return manifest


def _prepare_inputs(
    spec: CellSpec, options: RunOptions, manifest: Manifest, opts: dict, area: Path
) -> Workload:
    """Stage the inputs on the cell's storage (or load the arrays to save), name the outputs,
    and say what verification will check them against."""
    task, n = TASKS[spec.task], spec.n_images
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
    work = Workload(
        spec,
        task,
        STRATEGIES[spec.strategy],
        cell_name(spec, options),
        options.eviction,
        ctx,
        out_dir=out_dir,
        outputs=outputs,
    )
    if task.input_kind == "files":
        check_files(manifest, n)
        work.inputs = stage_inputs(manifest.paths(n), spec.storage, area)
        ctx.input_paths = work.inputs
        ctx.input_sha256 = [f.sha256 for f in manifest.files[:n]]
        ctx.input_pixel_sha256 = [f.pixel_sha256 for f in manifest.files[:n]]
        # Native images differ in size and mode: each has its own decoded shape.
        ctx.input_shapes = [tuple(f.shape) if f.shape else None for f in manifest.files[:n]]
        work.input_bytes = sum(f.bytes for f in manifest.files[:n])
        work.input_page_bytes = sum(cache.page_bytes(f.bytes) for f in manifest.files[:n])
        work.sources = [str(p) for p in work.inputs]
    else:
        ctx.source_arrays = manifest.load_arrays(n)
        work.sources = list(ctx.source_arrays)
    return work


def _make_items(work: Workload, opts: dict, service: Any) -> None:
    """The strategy's items, from the sources, the outputs and the task's service."""
    outputs = [str(out) for out in work.outputs] if work.out_dir else [None] * len(work.sources)
    work.items = [
        work.task.build_item(src, out, opts, service)
        for src, out in zip(work.sources, outputs, strict=True)
    ]
    work.ctx.items = work.items


def _start_helpers(
    work: Workload,
    options: RunOptions,
    opts: dict,
    service: Any,
    area: Path,
    stack: contextlib.ExitStack,
    sampler: measure.TreeMemorySampler,
) -> tuple[str, Meters]:
    """Prime the work, pin the pools' start method, wait for the memory sampler (all
    untimed); return the start method and the meters."""
    try:
        sources = priming_sources(work.task, work.sources)
        primed = prime(work.task, work.spec.strategy, sources, opts, service, area / "prime")
    except TaskError as exc:
        raise type(exc)(f"{work.name}: {exc} during the untimed priming run") from exc
    # A strategy's own start method (a start-method variant's, joblib's loky) overrides the
    # experiment's.
    method = work.strategy.start_method or options.start_method
    mp_method = stack.enter_context(pinned_start_method(method, primed))
    # A persistent strategy's pool: made and warmed now, kept for every repetition, shut
    # down with the cell (after the priming run, so that forked workers inherit its imports).
    work.pool_start_s = stack.enter_context(
        pools.kept_pool(work.strategy, work.task, work.spec.workers)
    )
    # Started once per cell, untimed; its CPU and the service's are the cell's own, not
    # interference. The service (a server) is not part of the strategy's memory.
    service_pid = getattr(service, "pid", None)
    helpers = []
    for pid in (sampler.ready(), service_pid):
        if isinstance(pid, int):  # psutil.Process(None) would be this very process
            with contextlib.suppress(psutil.Error):
                helpers.append(psutil.Process(pid))
    workers = []
    for pid in pools.kept_worker_pids():
        with contextlib.suppress(psutil.Error):
            workers.append(psutil.Process(pid))
    servers = []
    server = pools.forkserver_pid() if mp_method == "forkserver" else None
    if server is not None:
        with contextlib.suppress(psutil.Error):
            servers.append(psutil.Process(server))
    return mp_method, Meters(sampler, helpers, service_pid, workers, servers)


def _run_parameters(
    spec: CellSpec,
    options: RunOptions,
    manifest: Manifest,
    task: Task,
    strategy: Strategy,
    opts: dict,
    mp: str,
) -> RunParameters:
    return {
        "repeats": options.repeats,
        "warmup": options.warmup,
        "dataset": str(options.dataset),
        "dataset_format": manifest.format,
        "dataset_seed": manifest.seed,
        "dataset_color": manifest.color,
        # What the pixels are (photo, synthetic, noise), and for photos which ones.
        "dataset_content": manifest.content,
        # The pixels of the cell's images (its megapixels per second): n x width x height,
        # or for native images, which differ in size, their sum.
        "input_pixels": manifest.pixels(spec.n_images),
        "dataset_photos": manifest.photos,
        # A folder of the user's images: where, how many usable, which could not be used.
        "dataset_folder": {k: v for k, v in manifest.source.items() if k != "images"} or None,
        # A user's own task: the function it ran (imgbench.measure.tasks.user).
        "task_function": task.function,
        "task_options": opts,
        "scratch": str(options.scratch),
        "task_summary": task.summary,
        "strategy_summary": strategy.summary,
        "mp_start_method": mp,
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
    }


def _transfer(work: Workload) -> Transfer | None:
    """The bytes one image moves between processes (``result.Transfer``), untimed, after the
    repetitions (the inputs and the task's service are still there); 0 where the work runs
    in this process, None for a pool that moves them its own way (joblib's loky memory-maps
    large arrays): not known.

    The first item runs once more, here, for a result to pickle; both are pickled as a
    process pool pickles them (``ForkingPickler``). ``processes_shm`` (and its forms) sends
    each array as the handle of its segment: the handle is pickled (one named as the batch
    names them, made without a segment) and the array's bytes are counted as shared.
    """
    if work.strategy.pool not in (None, "threads", "processes"):
        return None
    sizes, shared = [0, 0], 0
    if work.strategy.pool == "processes" and work.items:
        item = work.items[0]
        try:
            result = work.task.work(item)
        except (TaskError, OSError):
            # The repetitions did this work and were verified: a bookkeeping run that
            # fails (an output it will not overwrite) leaves the bytes unknown, not the cell.
            return None
        if work.strategy.name.startswith("processes_shm"):
            name = f"{shared_memory.NAME_PREFIX}{os.getpid()}-000000-0i0g0"

            def handle(value: Any) -> Any:
                nonlocal shared
                if not shared_memory._shareable(value):
                    return value
                shared += value.nbytes
                return shared_memory.ArrayHandle(name, value.shape, value.dtype.str)

            item = tuple(map(handle, item)) if isinstance(item, tuple) else handle(item)
            result = handle(result)
        sizes = [len(ForkingPickler.dumps(value)) for value in (item, result)]
    return {
        "item_pickled_bytes": sizes[0],
        "result_pickled_bytes": sizes[1],
        "bytes_pickled_per_image": sum(sizes),
        "bytes_shared_per_image": shared,
    }


def _memory(repetitions: list[Repetition], warmup: int) -> Memory:
    """The whole cell's peak memory: parent plus workers, from the warm-up repetitions."""
    peaks = {
        key: max((r[key] for r in repetitions if r[key] is not None), default=None)
        for key in ("tree_peak_pss_bytes", "tree_peak_uss_bytes")
    }
    return {**peaks, "sampled_in": "warm-up repetitions" if warmup else "none (no warm-up)"}


def _write(result: CellResult, options: RunOptions, guard: CellGuard | None) -> None:
    """Report the cell's warnings; write its result, past the point where it can be stopped."""
    for message in result["warnings"]:
        print(f"imgbench: warning: {message}", file=sys.stderr)
    if options.output is not None:
        if guard is not None:
            guard.finishing()
        write_result(options.output, result)
