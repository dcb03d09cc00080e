"""What the schema cannot express, checked against the registries and this machine.

``config_problems``: names of tasks and strategies not in their registries (with the nearest
name), impossible pairs (a strategy a task cannot run under, native sizes with what cannot
take them, start methods this platform lacks), task options of the wrong name or type, image
folders that are missing or would be written into, scratch directories that cannot be used.
``config_warnings``: what a valid config may do but probably should not. Both are safe on a
config the schema refused: wrong types are skipped, the schema names them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from imgbench.plan.suggest import did_you_mean, unknown
from imgbench.vocabulary import NATIVE
from imgbench.words import count

#: Beyond this a worker count is almost certainly a typo (and would exhaust file handles).
MAX_WORKERS = 1024
#: The level of the CIs the analysis reports.
CI_LEVEL = 0.95


def repetitions_for(level: float = CI_LEVEL) -> int:
    """Fewest timed repetitions whose median has a CI at ``level`` from order statistics.

    [min, max] of n values covers the median with probability 1 - 2 * 0.5**n (the rule of
    ``imgbench.analysis.stats.median_ci``, which the plan layer may not import): 6 for 95%.
    """
    return math.ceil(math.log2(2 / (1 - level)))


def _names(exp: dict, key: str) -> list:
    """An experiment's list ``key``, or nothing where the schema has already refused it."""
    value = exp.get(key)
    return value if isinstance(value, list) else []


def _experiments(config: dict) -> list[tuple[str, dict]]:
    exps = config.get("experiments")
    return (
        [(n, e) for n, e in exps.items() if isinstance(e, dict)] if isinstance(exps, dict) else []
    )


def config_problems(config: dict) -> list[str]:
    """What the schema cannot express: registry names, worker limits, scratch directories.

    Safe on a config the schema refused (wrong types are skipped, the schema names them), so
    that every problem is found in one pass.
    """
    from imgbench.measure.strategies import STRATEGIES
    from imgbench.measure.tasks import TASKS

    if not isinstance(config, dict):
        return []  # the schema says what it should be
    problems: list[str] = _scratch_problems(config) + _folder_problems(config)
    for name, exp in _experiments(config):
        # A user's function that could not be loaded has been reported by resolve_tasks.
        functions = exp.get("task_functions") or {}
        for key, registry in (("tasks", TASKS), ("strategies", STRATEGIES)):
            for i, value in enumerate(_names(exp, key)):
                if isinstance(value, str) and value not in registry and value not in functions:
                    problems.append(
                        f"config key experiments.{name}.{key}[{i}]: "
                        + unknown("value", value, registry)
                    )
        problems += _task_problems(name, exp, TASKS, STRATEGIES)
        problems += _native_problems(name, exp, TASKS)
        problems += _start_method_problems(name, exp)
        for i, w in enumerate(_names(exp, "workers")):
            if isinstance(w, int) and w > MAX_WORKERS:
                problems.append(
                    f"config key experiments.{name}.workers[{i}]: {w} exceeds the limit "
                    f"{MAX_WORKERS}"
                )
    return problems


def _native_problems(name: str, exp: dict, tasks: dict) -> list[str]:
    """``sizes: [native]`` is a folder's files as found: it needs the folder, and only what
    can take images of any size, format and mode: tasks that read files, with Pillow (the
    other libraries each read some formats only), under strategies that take one image at a
    time (vectorized stacks arrays of one shape)."""
    if NATIVE not in _names(exp, "sizes"):
        return []
    key = f"config key experiments.{name}"
    where = f"{key}.sizes[{_names(exp, 'sizes').index(NATIVE)}]"
    dataset = exp.get("dataset")
    if not isinstance(dataset, dict) or not dataset.get("path"):
        return [
            f"{where}: native means a folder's images as found; it needs dataset.path (a "
            "folder of your images); for made images give a size WIDTHxHEIGHT"
        ]
    problems = []
    for task in (t for t in _names(exp, "tasks") if isinstance(t, str) and t in tasks):
        if tasks[task].input_kind == "arrays":
            problems.append(
                f"{where}: task {task!r} encodes arrays of one size (it reads no files): "
                "give it a size WIDTHxHEIGHT in another experiment"
            )
        elif tasks[task].library not in (None, "pillow"):
            problems.append(
                f"{where}: task {task!r} uses {tasks[task].library}, which reads some of a "
                "folder's formats only: native sizes are timed with Pillow's tasks; give "
                "other libraries a size WIDTHxHEIGHT (files all in format)"
            )
    if "vectorized" in _names(exp, "strategies"):
        problems.append(
            f"{key}.strategies: vectorized stacks images of one shape; native images differ "
            "in size: leave it out, or give a size WIDTHxHEIGHT"
        )
    return problems


def _start_method_problems(name: str, exp: dict) -> list[str]:
    """Start methods this platform lacks (``start_method``, ``start_methods``), and a
    ``start_method`` that ``start_methods`` contradicts."""
    import multiprocessing

    from imgbench.measure.start_methods import START_METHODS

    available = multiprocessing.get_all_start_methods()
    key = f"config key experiments.{name}"
    single = exp.get("start_method")
    listed = [m for m in _names(exp, "start_methods") if isinstance(m, str)]
    problems = [
        f"{key}.{where}: start method {method} is not available on this platform "
        f"(available: {', '.join(available)})"
        for where, method in [
            ("start_method", single),
            *((f"start_methods[{i}]", m) for i, m in enumerate(listed)),
        ]
        # A name that is no start method at all the schema has already refused.
        if method in START_METHODS and method != "default" and method not in available
    ]
    if listed and isinstance(single, str) and single != "default" and single not in listed:
        problems.append(
            f"{key}: start_method {single} contradicts start_methods ({', '.join(listed)}), "
            "which sets every process pool's method: add it to start_methods, or leave "
            "start_method out (default)"
        )
    return problems


def _repetition_warning(name: str, exp: dict) -> list[str]:
    rounds, repeats = exp.get("rounds"), exp.get("repeats")
    if not (isinstance(rounds, int) and isinstance(repeats, int)):
        return []
    n, needed = rounds * repeats, repetitions_for()
    if n >= needed:
        return []
    interval = (
        "a single repetition gives no interval"
        if n == 1
        else f"its interval will be [min, max], at {1 - 2 * 0.5**n:.0%} confidence"
    )
    return [
        f"config key experiments.{name}: {count(rounds, 'round')} x "
        f"{count(repeats, 'repeat')} = {count(n, 'timed repetition')} per cell, fewer than "
        f"the {needed} a {CI_LEVEL:.0%} CI of the median needs; {interval}"
    ]


def _worker_warning(name: str, exp: dict, cores: int, tasks: dict, strategies: dict) -> list[str]:
    pooled = [
        s
        for s in _names(exp, "strategies")
        if isinstance(s, str) and s in strategies and strategies[s].uses_workers
    ]
    cpu = [
        t
        for t in _names(exp, "tasks")
        if isinstance(t, str) and t in tasks and tasks[t].bound == "cpu"
    ]
    over = [w for w in _names(exp, "workers") if isinstance(w, int) and w > cores]
    if not (pooled and cpu and over):
        return []  # waiting work (download, sleep) may well use more workers than cores
    return [
        f"config key experiments.{name}.workers: {', '.join(map(str, sorted(over)))} "
        f"{'exceeds' if len(over) == 1 else 'exceed'} the {count(cores, 'core')} usable here; "
        f"the CPU-bound tasks ({', '.join(cpu)}) can use at most {cores} at once"
    ]


def _pool_warning(name: str, exp: dict, strategies: dict) -> list[str]:
    if "persistent" not in _names(exp, "pool"):
        return []
    poolless = [
        s
        for s in _names(exp, "strategies")
        if isinstance(s, str) and s in strategies and strategies[s].uses_workers
        if strategies[s].pool is None
    ]
    if not poolless:
        return []
    return [
        f"config key experiments.{name}.pool: {', '.join(poolless)} "
        f"{'has' if len(poolless) == 1 else 'have'} no pool to keep (asyncio.run makes its loop "
        "and executor per batch): it runs per batch only"
    ]


def _start_methods_warning(name: str, exp: dict, strategies: dict) -> list[str]:
    listed = [s for s in _names(exp, "strategies") if isinstance(s, str) and s in strategies]
    if not _names(exp, "start_methods") or not listed:
        return []
    if any(
        strategies[s].pool == "processes" and strategies[s].start_method is None for s in listed
    ):
        return []
    return [
        f"config key experiments.{name}.start_methods: none of the experiment's strategies "
        "is a process pool of the experiment's start method (processes, processes_shm, "
        "processes_chunked, their persistent forms): start_methods changes nothing"
    ]


def config_warnings(config: dict, cores: int | None = None) -> list[str]:
    """What a valid config may do but probably should not: fewer timed repetitions per cell
    than a 95% CI of the median needs, more workers for CPU-bound work than ``cores`` (by
    default: the cores usable here, ``imgbench.measure.machine.usable_cores``), persistent
    pools asked of a strategy that has none."""
    from imgbench.measure.machine import usable_cores
    from imgbench.measure.strategies import STRATEGIES
    from imgbench.measure.tasks import TASKS

    cores = usable_cores() if cores is None else cores
    warnings: list[str] = []
    if not isinstance(config, dict):
        return warnings
    for name, exp in _experiments(config):
        warnings += _repetition_warning(name, exp)
        warnings += _worker_warning(name, exp, cores, TASKS, STRATEGIES)
        warnings += _pool_warning(name, exp, STRATEGIES)
        warnings += _start_methods_warning(name, exp, STRATEGIES)
    return warnings


def _folder_problems(config: dict) -> list[str]:
    """A folder of the user's images must exist, and nothing imgbench writes may lie in it
    (results, datasets, scratch): imgbench never writes into a user's image folder."""
    written = {
        key: config.get(key)
        for key in ("results_dir", "datasets_dir")
        if isinstance(config.get(key), str)
    }
    scratch = config.get("scratch")
    if isinstance(scratch, dict):
        written |= {f"scratch.{k}": v for k, v in scratch.items() if isinstance(v, str)}
    problems = []
    for name, exp in _experiments(config):
        dataset = exp.get("dataset")
        if not isinstance(dataset, dict) or not isinstance(dataset.get("path"), str):
            continue  # the schema says what is wrong
        key = f"config key experiments.{name}.dataset.path"
        folder = Path(dataset["path"]).resolve()
        if not folder.is_dir():
            problems.append(f"{key}: {dataset['path']!r} is not an existing directory")
            continue
        for other, where in written.items():
            if Path(where).resolve().is_relative_to(folder):
                problems.append(
                    f"{key}: {other} ({where}) lies inside the image folder {dataset['path']}; "
                    "imgbench never writes into it: choose a directory outside"
                )
    return problems


def _scratch_problems(config: dict) -> list[str]:
    """A scratch directory an experiment will use must be usable, checked before any job runs.

    A tmpfs must already be mounted (creating a plain directory there would silently put the
    "shm" cells on disk); a disk directory is created on first use, so the nearest existing
    directory on its path must be writable.
    """
    used = {
        s for _, exp in _experiments(config) for s in _names(exp, "storage") if isinstance(s, str)
    }
    scratch = config.get("scratch")
    scratch = (
        {k: v for k, v in scratch.items() if isinstance(v, str)}
        if isinstance(scratch, dict)
        else {}
    )
    problems = []
    for storage in sorted(used & scratch.keys()):
        key = f"config key scratch.{storage}"
        path = Path(scratch[storage])
        if storage == "shm":
            if not path.is_dir():
                problems.append(
                    f"{key}: {str(path)!r} is not an existing directory; it must be a mounted "
                    "tmpfs (e.g. /dev/shm) for the shm cells"
                )
            elif not os.access(path, os.W_OK | os.X_OK):
                problems.append(f"{key}: {str(path)!r} is not writable by this user")
            continue
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            problems.append(
                f"{key}: {str(path)!r} cannot be created: {str(existing)!r} is not a directory"
            )
        elif not os.access(existing, os.W_OK | os.X_OK):
            what = "is" if existing == path else f"cannot be created: {str(existing)!r} is"
            problems.append(f"{key}: {str(path)!r} {what} not writable by this user")
    return problems


def _task_problems(name: str, exp: dict, tasks: dict, strategies: dict) -> list[str]:
    """Strategies a task cannot run under, and task options of the wrong name or type."""
    from imgbench.measure.tasks import option_problems

    problems = []
    known_tasks = [t for t in _names(exp, "tasks") if isinstance(t, str) and t in tasks]
    if "vectorized" in _names(exp, "strategies") and "vectorized" in strategies:
        with_batch = sorted(n for n, t in tasks.items() if t.batch is not None)
        for task in known_tasks:
            if tasks[task].batch is None:
                problems.append(
                    f"config key experiments.{name}.strategies: vectorized has no meaning for "
                    f"task {task!r}; it applies only to: {', '.join(with_batch)} "
                    "(put other tasks in another experiment)"
                )
    all_options = exp.get("task_options")
    for task, options in (all_options if isinstance(all_options, dict) else {}).items():
        key = f"experiments.{name}.task_options.{task}"
        if task not in tasks:
            problems.append(f"config key {key}: {unknown('task', task, tasks)}")
            continue
        defaults = tasks[task].options
        choices = getattr(tasks[task], "choices", {})
        for option, value in (options if isinstance(options, dict) else {}).items():
            hint = _option_hint(option, value, defaults, choices)
            if hint:
                problems.append(f"config key {key}.{option}: {hint}")
            else:
                problems += option_problems(f"{key}.{option}", option, value, defaults, choices)
    return problems


def _option_hint(option: str, value: Any, defaults: dict, choices: dict) -> str:
    """The nearest option name or choice where a typo is likely, else "" (and the task's own
    message, listing what is allowed, stands)."""
    if option not in defaults:
        hint = did_you_mean(option, defaults)
        return f"unknown option; {hint}" if hint else ""
    allowed = choices.get(option)
    if allowed is not None and value not in allowed:
        hint = did_you_mean(value, allowed)
        return f"unknown value {value!r}; {hint}" if hint else ""
    return ""
