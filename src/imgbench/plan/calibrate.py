"""A short calibration on this machine: one task's serial cost per image, at a size.

Used where no previous run measured a task at a size. For each (task, size, format, colour,
options) a few synthetic images are made in a temporary directory (encoded as the dataset
would be), the task's own per-image function (``Task.work``) is primed once (plugins load
on first use) and then timed over them in a plain loop. The whole calibration stops after
``BUDGET_S``; what it did not reach is scaled by pixels from the same task at another size.

This is rough by design: warm caches, no pools, a couple of images. Parallel cells are
predicted from it with ``parallel_speedup`` (at most the usable cores for CPU-bound work,
the workers for waiting work, 1 for threads on work that holds the GIL).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from PIL import Image

from imgbench.measure.datasets import FORMATS, JPEG_QUALITY, RAW
from imgbench.measure.generators import synthesize_image
from imgbench.measure.strategies import STRATEGIES
from imgbench.measure.tasks import TASKS
from imgbench.plan.footprint import image_sample
from imgbench.plan.timings import TaskKey

#: Seconds the whole calibration may take (the issue asks for "a short calibration").
BUDGET_S = 8.0
#: Images timed per (task, size): fewer for large images, whose one image is costly.
IMAGES_SMALL, IMAGES_LARGE, LARGE_PIXELS = 3, 1, 1 << 20
#: Tasks whose per-image work holds the GIL: threads and asyncio run them one at a time.
GIL_TASKS = frozenset({"grayscale_loop", "spin_python"})
#: A job's fixed cost without a previous run to take it from: interpreter start-up and
#: imports (0.29 s median) plus setup, eviction, verification and teardown (0.15 s median)
#: in the 94 jobs of tests/data/golden/recorded (a 2-core VM).
JOB_OVERHEAD_S = 0.45
#: Starting a pool, per repetition (the golden run: a process pool of 2-4 workers about
#: 15-30 ms more than the loop on tiny images, a thread pool about 1-2 ms).
PROCESS_POOL_S, PROCESS_PER_WORKER_S, THREAD_PER_WORKER_S = 0.01, 0.005, 0.0005


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parallel_speedup(task: str, strategy: str, workers: int, cores: int) -> float:
    """The model's speedup of a strategy over the loop (rough: no contention, no overhead)."""
    if not STRATEGIES[strategy].uses_workers:
        return 1.0
    if TASKS[task].bound == "wait":
        return float(workers)
    if (strategy.startswith("threads") or strategy == "asyncio") and task in GIL_TASKS:
        return 1.0
    return float(max(1, min(workers, cores)))


def pool_start_s(strategy: str, workers: int) -> float:
    if not STRATEGIES[strategy].uses_workers:
        return 0.0
    if strategy.startswith("processes"):
        return PROCESS_POOL_S + PROCESS_PER_WORKER_S * workers
    return THREAD_PER_WORKER_S * workers


def _download_cost(key: TaskKey, options: dict) -> float:
    """A download is waiting by design: the configured latency plus the transfer."""
    _, width, height, fmt, color, _ = key
    latency = float(options.get("latency_ms", 50.0)) / 1e3
    bandwidth = float(options.get("bandwidth_mb_s", 0.0)) * 1e6
    size = image_sample(fmt, color, width, height).bytes
    return latency + (size / bandwidth if bandwidth > 0 else 0.0)


def _items(key: TaskKey, options: dict, directory: Path, count: int) -> list:
    task_name, width, height, fmt, color, _ = key
    task = TASKS[task_name]
    out = directory / "out"
    out.mkdir(exist_ok=True)
    items = []
    for i in range(count):
        array = synthesize_image(width, height, 0, i, color)
        output = str(out / f"{i}{task.output_suffix}") if task.output_suffix else None
        if output is not None and task.output_dirs:
            Path(output).mkdir()
        if task.input_kind == "arrays" or fmt == RAW:
            source = array
        else:
            path = directory / f"in{i}{FORMATS[fmt]}"
            extra = {"quality": JPEG_QUALITY} if fmt == "jpeg" else {}
            Image.fromarray(array).save(path, format=fmt.upper(), **extra)
            source = str(path)
        items.append(task.build_item(source, output, options, None))
    return items


def time_task(key: TaskKey, options: dict) -> float:
    """Seconds per image of one task at one size, serial, on this machine."""
    task_name, width, height = key[:3]
    if task_name == "download":
        return _download_cost(key, options)
    count = IMAGES_LARGE if width * height > LARGE_PIXELS else IMAGES_SMALL
    work = TASKS[task_name].work
    with tempfile.TemporaryDirectory(prefix="imgbench-calibrate-") as tmp:
        items = _items(key, options, Path(tmp), count)
        work(items[0])  # primed, untimed: as a cell primes its task
        t0 = time.perf_counter()
        for item in items:
            work(item)
        return (time.perf_counter() - t0) / len(items)


def calibrate(keys: dict[TaskKey, dict], budget_s: float = BUDGET_S) -> dict[TaskKey, float]:
    """Seconds per image for each task key (its options as values), within ``budget_s``.

    Keys left when the budget is spent are scaled by pixels from the same task measured at
    another size; a task never measured at all is left out (the caller says so).
    """
    costs: dict[TaskKey, float] = {}
    t0 = time.perf_counter()
    # Smallest first: the most keys within the budget, and large sizes scale from small ones.
    for key in sorted(keys, key=lambda k: (k[1] * k[2], k)):
        if time.perf_counter() - t0 > budget_s:
            break
        costs[key] = time_task(key, keys[key])
    for key in keys:
        if key in costs:
            continue
        same = [k for k in costs if k[0] == key[0]]
        if same:
            nearest = max(same, key=lambda k: k[1] * k[2])
            costs[key] = costs[nearest] * (key[1] * key[2]) / (nearest[1] * nearest[2])
    return costs
