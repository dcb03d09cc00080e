"""Configuration: JSON Schema validation with defaults, then checks against the registries.

The schema (``imgbench/plan/schemas/config.schema.yaml``, package data: it is there
installed as well as checked out; ``workflow/schemas/config.schema.yaml`` is a link to it,
for the Snakefile) describes every key; names of tasks and strategies are checked here
against the registries, so that adding one touches only its registry, and task options
against the task (``imgbench.measure.tasks.option_problems``). Every error names the key
and what is allowed, or the nearest allowed name (``imgbench.plan.suggest``); all of them are
reported at once.

Several files merge as ``snakemake --configfile A B`` merges them (``merge_configs``), and a
valid config may still draw warnings (``config_warnings``): too few repetitions for a 95% CI
of the median, more workers than the cores usable here.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from imgbench.errors import ConfigError
from imgbench.plan.pythons import expand_pythons
from imgbench.plan.suggest import did_you_mean, schema_problems, unknown
from imgbench.vocabulary import NATIVE
from imgbench.words import count

#: The schema, as package data: (package, path inside it).
SCHEMA = ("imgbench.plan", "schemas/config.schema.yaml")
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


def load_yaml(path: Path) -> dict:
    import yaml  # not at module level: the workflow imports this module, few stages read YAML

    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys to values")
    return data


def load_schema() -> dict:
    """The config's JSON Schema, read from the installed package."""
    import yaml

    package, name = SCHEMA
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def merge_configs(configs: Iterable[dict]) -> dict:
    """Configs merged in order as ``snakemake --configfile A B`` merges them.

    Snakemake's own ``update_config`` (so the semantics cannot drift): a mapping is merged key
    by key, recursively, anything else (a list, a number) is replaced by the later file's.
    Two presets therefore give both presets' experiments, not the last file's alone.
    """
    from snakemake.utils import update_config  # only here: snakemake is slow to import

    merged: dict = {}
    for config in configs:
        update_config(merged, copy.deepcopy(config))
    return merged


def _fill_and_validate(config: dict) -> tuple[dict, list[str]]:
    """A copy of ``config`` with the schema's defaults filled in, and every schema error."""
    from jsonschema import Draft202012Validator, validators

    base = Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    validator = validators.extend(base, {"properties": set_defaults})(load_schema())
    config = copy.deepcopy(config)
    return config, schema_problems(validator, config)


def _invalid(problems: list[str]) -> ConfigError:
    return ConfigError("invalid config:\n  " + "\n  ".join(problems))


def apply_schema(config: dict) -> dict:
    """Validate against the schema and return a copy with defaults filled in."""
    config, problems = _fill_and_validate(config)
    if problems:
        raise _invalid(problems)
    return config


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


def check_config(config: dict) -> list[str]:
    """Raise ``ConfigError`` listing every ``config_problems``; return the ``config_warnings``
    (the workflow prints them: a run must say what ``imgbench validate-config`` says)."""
    problems = config_problems(config)
    if problems:
        raise _invalid(problems)
    return config_warnings(config)


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


@dataclass(frozen=True)
class Review:
    """A config checked in one pass: defaults filled in, every problem, every warning."""

    config: dict
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def review_config(config: dict, cores: int | None = None) -> Review:
    """Schema errors, registry problems and warnings of ``config``, all at once, never raising
    on a wrong value (``imgbench validate-config``)."""
    filled, problems = _fill_and_validate(config)
    if not problems:
        filled, python_problems = expand_pythons(filled)
        problems += python_problems
    problems += config_problems(filled)
    return Review(filled, problems, config_warnings(filled, cores))


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


#: Experiment keys left out of the hash: a title does not change what a cell measures, and
#: editing it must not re-run the cells.
UNHASHED_KEYS = ("description",)


def experiment_hash(config: dict, name: str) -> str:
    """Provenance of an experiment's cells: what produced them, as 16 hex digits.

    A sha256 of the experiment's section of the resolved config (defaults filled, the
    ``UNHASHED_KEYS`` left out) and the dataset seed. Every cell of an experiment carries
    it, so results from different configs cannot be mixed unnoticed; the workflow passes it
    as a parameter, so a changed config re-runs the experiment's cells.
    """
    section = {k: v for k, v in config["experiments"][name].items() if k not in UNHASHED_KEYS}
    text = json.dumps(
        {"experiment": section, "dataset_seed": config.get("dataset_seed")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def task_options(exp: dict, task: str) -> dict[str, Any]:
    """A task's options in an experiment: its defaults, overridden by the config."""
    from imgbench.measure.tasks import TASKS

    return {**TASKS[task].options, **((exp.get("task_options") or {}).get(task) or {})}


def resolve_config(config: dict[str, Any]) -> dict:
    """Schema validation with defaults, then registry checks: what every stage may trust.

    Raises ``ConfigError`` listing every problem of both at once.
    """
    config, problems = _fill_and_validate(config)
    if not problems:
        # A user's functions named in `tasks` join the task registry (imgbench.plan.tasks).
        from imgbench.plan.tasks import resolve_tasks

        config, task_problems = resolve_tasks(config)
        problems += task_problems
    if not problems:
        # Decode and save tasks under each of `libraries` (imgbench.plan.tasks).
        from imgbench.plan.tasks import resolve_libraries

        config, library_problems = resolve_libraries(config)
        problems += library_problems
    if not problems:
        # One experiment per interpreter of its `pythons` (imgbench.plan.pythons), each
        # probed once; on a config the schema refused there is nothing sound to expand.
        config, python_problems = expand_pythons(config)
        problems += python_problems
    problems += config_problems(config)
    if problems:
        raise _invalid(problems)
    return config
