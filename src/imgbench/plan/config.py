"""Configuration: JSON Schema validation with defaults, then checks against the registries.

The schema (``imgbench/plan/schemas/config.schema.yaml``, package data: it is there
installed as well as checked out; ``workflow/schemas/config.schema.yaml`` is a link to it,
for the Snakefile) describes every key; names of tasks and strategies are checked here
against the registries, so that adding one touches only its registry, and task options
against the task (``imgbench.measure.tasks.option_problems``). Every error names the key
and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from imgbench.errors import ConfigError

#: The schema, as package data: (package, path inside it).
SCHEMA = ("imgbench.plan", "schemas/config.schema.yaml")
#: Beyond this a worker count is almost certainly a typo (and would exhaust file handles).
MAX_WORKERS = 1024


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


def _key(path) -> str:
    parts = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else ("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def load_schema() -> dict:
    """The config's JSON Schema, read from the installed package."""
    import yaml

    package, name = SCHEMA
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def apply_schema(config: dict) -> dict:
    """Validate against the schema and return a copy with defaults filled in."""
    from jsonschema import Draft202012Validator, validators

    schema = load_schema()
    base = Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    validator = validators.extend(base, {"properties": set_defaults})(schema)
    config = copy.deepcopy(config)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"config key {_key(e.absolute_path)}: {e.message}" for e in errors[:10]]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    return config


def check_config(config: dict) -> None:
    """Checks the schema cannot express: registry names, worker limits, scratch directories."""
    from imgbench.measure.strategies import STRATEGIES
    from imgbench.measure.tasks import TASKS

    problems: list[str] = _scratch_problems(config)
    for name, exp in config.get("experiments", {}).items():
        for key, registry in (("tasks", TASKS), ("strategies", STRATEGIES)):
            for i, value in enumerate(exp.get(key, [])):
                if value not in registry:
                    problems.append(
                        f"config key experiments.{name}.{key}[{i}]: unknown value {value!r}; "
                        f"allowed: {', '.join(sorted(registry))}"
                    )
        problems += _task_problems(name, exp, TASKS, STRATEGIES)
        for i, w in enumerate(exp.get("workers", [])):
            if isinstance(w, int) and w > MAX_WORKERS:
                problems.append(
                    f"config key experiments.{name}.workers[{i}]: {w} exceeds the limit "
                    f"{MAX_WORKERS}"
                )
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _scratch_problems(config: dict) -> list[str]:
    """A scratch directory an experiment will use must be usable, checked before any job runs.

    A tmpfs must already be mounted (creating a plain directory there would silently put the
    "shm" cells on disk); a disk directory is created on first use, so the nearest existing
    directory on its path must be writable.
    """
    used = {s for exp in config.get("experiments", {}).values() for s in exp.get("storage", [])}
    scratch = config.get("scratch") or {}
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
    known_tasks = [t for t in exp.get("tasks", []) if t in tasks]
    if "vectorized" in exp.get("strategies", []) and "vectorized" in strategies:
        with_batch = sorted(n for n, t in tasks.items() if t.batch is not None)
        for task in known_tasks:
            if tasks[task].batch is None:
                problems.append(
                    f"config key experiments.{name}.strategies: vectorized has no meaning for "
                    f"task {task!r}; it applies only to: {', '.join(with_batch)} "
                    "(put other tasks in another experiment)"
                )
    for task, options in (exp.get("task_options") or {}).items():
        key = f"experiments.{name}.task_options.{task}"
        if task not in tasks:
            problems.append(
                f"config key {key}: unknown task {task!r}; allowed: {', '.join(sorted(tasks))}"
            )
            continue
        defaults = tasks[task].options
        choices = getattr(tasks[task], "choices", {})
        for option, value in (options or {}).items():
            problems += option_problems(f"{key}.{option}", option, value, defaults, choices)
    return problems


def task_options(exp: dict, task: str) -> dict[str, Any]:
    """A task's options in an experiment: its defaults, overridden by the config."""
    from imgbench.measure.tasks import TASKS

    return {**TASKS[task].options, **((exp.get("task_options") or {}).get(task) or {})}


def resolve_config(config: dict[str, Any]) -> dict:
    """Schema validation with defaults, then registry checks: what every stage may trust."""
    config = apply_schema(config)
    check_config(config)
    return config
