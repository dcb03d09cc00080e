"""Run one cell: warm-up and timed repetitions of a task under a strategy, verified.

Each repetition is prepare (untimed: output directory emptied, dirty pages synced, cache
state set and measured) -> timed region (the strategy, pool start-up and shutdown
included) -> verify (untimed). A repetition whose work does not verify fails the whole
cell: no time is ever reported for work that was not done.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from imgbench import cache, measure
from imgbench.cells import CellSpec
from imgbench.config import option_problems
from imgbench.datasets import RAW, check_files, load_manifest
from imgbench.errors import DatasetError, ImgbenchError, VerificationError
from imgbench.machine import collect_machine_info
from imgbench.results import SCHEMA_VERSION, write_json_atomic
from imgbench.storage import reset_output_dir, scratch_area, stage_inputs
from imgbench.strategies import STRATEGIES, process_context
from imgbench.tasks import TASKS, Task, VerifyContext


@dataclass(frozen=True)
class RunOptions:
    repeats: int
    warmup: int
    dataset: Path
    scratch: Path
    output: Path | None = None
    #: Options of the task, overriding its defaults (``task_options`` in the config).
    task_options: dict = field(default_factory=dict)


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
    task = TASKS[spec.task]
    for option, value in options.task_options.items():
        problems = option_problems(f"task option {option}", option, value, task.options)
        if problems:
            raise ImgbenchError(problems[0])


def _prepare(task: Task, spec: CellSpec, inputs: list[Path], out_dir: Path | None):
    """Set the repetition's starting state; return (cache method, resident fraction)."""
    gc.collect()  # so the previous repetition's garbage is not collected inside the timer
    if out_dir is not None:
        reset_output_dir(out_dir)
    if task.input_kind == "arrays":
        cache.sync_files()
        if spec.cache == "cold" and cache.drop_all_caches():
            return "drop_caches", None
        return "sync", None
    if spec.cache == "warm":
        cache.warm_page_cache(inputs)
        method = "read"
    else:
        method = cache.evict_from_page_cache(inputs)
    return method, cache.resident_fraction(inputs)


def run_cell(spec: CellSpec, options: RunOptions) -> dict:
    """Run the cell, write its result atomically to ``options.output`` and return it."""
    process_started = psutil.Process().create_time()
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
        else:
            arrays = manifest.load_arrays(n)
            sources = list(arrays)
            ctx.source_arrays = arrays
            payload = 0
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
        phases["setup_s"] = time.perf_counter() - t_start

        for index in range(options.warmup + options.repeats):
            t_prep = time.perf_counter()
            method, resident = _prepare(task, spec, inputs, out_dir)
            rss_reset = measure.reset_peak_rss()
            before = measure.Snapshot.take()
            t0 = time.perf_counter()
            outcome = strategy.run(task, items, spec.workers)
            t1 = time.perf_counter()
            after = measure.Snapshot.take()
            peak_self, peak_children = measure.peak_rss_self(), measure.peak_rss_children()
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
            del outcome
            wall = t1 - t0
            rep = {
                "index": index,
                "warmup": index < options.warmup,
                "wall_s": wall,
                # Where the time went: start-up (pool creation to the first result), the
                # work itself (first to last result), shutdown (last result to return).
                "first_result_s": first_result,
                "work_s": last_result - first_result,
                "shutdown_s": wall - last_result,
                **measure.resource_usage(before, after),
                "peak_rss_bytes": peak_self,
                "peak_rss_reset": rss_reset,
                "peak_rss_children_bytes": peak_children,
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
            "mp_start_method": process_context().get_start_method(),
        },
        "machine": machine,
        "process_started_unix": process_started,
        "started_unix": started_unix,
        "finished_unix": finished_unix,
        "phases": phases,
        "warnings": sorted({str(w.message) for w in caught}),
        "repetitions": repetitions,
    }
    for message in result["warnings"]:
        print(f"imgbench: warning: {message}", file=sys.stderr)
    if options.output is not None:
        write_json_atomic(options.output, result)
    return result
