"""Configuration: JSON Schema validation with defaults, then checks against the registries.

The schema (``workflow/schemas/config.schema.yaml``) describes every key; names of tasks
and strategies are checked here against the registries, so that adding one touches only
its registry. Every error names the key and what is allowed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from imgbench.errors import ConfigError
from imgbench.machine import REPO_ROOT

SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
#: Beyond this a worker count is almost certainly a typo (and would exhaust file handles).
MAX_WORKERS = 1024


def load_yaml(path: Path) -> dict:
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
    """Checks the schema cannot express: registry names and worker limits."""
    from imgbench.strategies import STRATEGIES
    from imgbench.tasks import TASKS

    problems: list[str] = []
    for name, exp in config.get("experiments", {}).items():
        for key, registry in (("tasks", TASKS), ("strategies", STRATEGIES)):
            for i, value in enumerate(exp.get(key, [])):
                if value not in registry:
                    problems.append(
                        f"config key experiments.{name}.{key}[{i}]: unknown value {value!r}; "
                        f"allowed: {', '.join(sorted(registry))}"
                    )
        for i, w in enumerate(exp.get("workers", [])):
            if isinstance(w, int) and w > MAX_WORKERS:
                problems.append(
                    f"config key experiments.{name}.workers[{i}]: {w} exceeds the limit "
                    f"{MAX_WORKERS}"
                )
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def resolve_config(config: dict[str, Any], schema_path: Path = SCHEMA_PATH) -> dict:
    """Schema validation with defaults, then registry checks: what every stage may trust."""
    config = apply_schema(config, schema_path)
    check_config(config)
    return config
