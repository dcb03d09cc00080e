"""Configuration: JSON Schema validation with defaults, then checks against the registries.

The schema (``workflow/schemas/config.schema.yaml``) describes every key; names of tasks
and strategies are checked here against the registries, so that adding one touches only
its registry. Every error names the key and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from imgbench.errors import ConfigError
from imgbench.measure.machine import REPO_ROOT

SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
#: Beyond this a worker count is almost certainly a typo (and would exhaust file handles).
MAX_WORKERS = 1024


def load_yaml(path: Path) -> dict:
    import yaml  # not at module level: every cell job imports this module, few read YAML

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


def apply_schema(config: dict, schema_path: Path = SCHEMA_PATH) -> dict:
    """Validate against the schema and return a copy with defaults filled in."""
    from jsonschema import Draft202012Validator, validators

    schema = load_yaml(schema_path)
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


def option_problems(
    key: str, option: str, value: Any, defaults: dict, choices: dict | None = None
) -> list[str]:
    """A task option must be known and have its default's type; numbers are never negative;
    an option with ``choices`` (``Task.choices``) takes one of them, other strings are sizes."""
    if option not in defaults:
        allowed = ", ".join(sorted(defaults)) or "(this task has no options)"
        return [f"config key {key}: unknown option; allowed: {allowed}"]
    default = defaults[option]
    allowed_values = (choices or {}).get(option)
    if allowed_values is not None:
        if value not in allowed_values:
            return [
                f"config key {key}: unknown value {value!r}; allowed: {', '.join(allowed_values)}"
            ]
        return []
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            return [f"config key {key}: {value!r} is not a number >= 0"]
    elif isinstance(default, str) and not (
        isinstance(value, str) and re.fullmatch(r"[1-9][0-9]{0,4}x[1-9][0-9]{0,4}", value)
    ):
        return [f"config key {key}: {value!r} is not a size WIDTHxHEIGHT, e.g. {default}"]
    return []


def task_options(exp: dict, task: str) -> dict[str, Any]:
    """A task's options in an experiment: its defaults, overridden by the config."""
    from imgbench.measure.tasks import TASKS

    return {**TASKS[task].options, **((exp.get("task_options") or {}).get(task) or {})}


def resolve_config(config: dict[str, Any], schema_path: Path = SCHEMA_PATH) -> dict:
    """Schema validation with defaults, then registry checks: what every stage may trust."""
    config = apply_schema(config, schema_path)
    check_config(config)
    return config
