"""Configuration: JSON Schema validation with defaults, then checks against the registries.

The schema (``imgbench/plan/schemas/config.schema.yaml``, package data: it is there
installed as well as checked out; ``workflow/schemas/config.schema.yaml`` is a link to it,
for the Snakefile) describes every key; names of tasks and strategies are checked against
the registries (``imgbench.plan.checks``), so that adding one touches only its registry, and
task options against the task (``imgbench.measure.tasks.option_problems``). Every error names
the key and what is allowed, or the nearest allowed name (``imgbench.plan.suggest``); all of
them are reported at once.

Several files merge as ``snakemake --configfile A B`` merges them (``merge_configs``), and a
valid config may still draw warnings (``config_warnings``): too few repetitions for a 95% CI
of the median, more workers than the cores usable here.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from imgbench.errors import ConfigError
from imgbench.plan.checks import config_problems, config_warnings
from imgbench.plan.pythons import expand_pythons
from imgbench.plan.suggest import schema_problems

#: The schema, as package data: (package, path inside it).
SCHEMA = ("imgbench.plan", "schemas/config.schema.yaml")


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


def check_config(config: dict) -> list[str]:
    """Raise ``ConfigError`` listing every ``config_problems``; return the ``config_warnings``
    (the workflow prints them: a run must say what ``imgbench validate-config`` says)."""
    problems = config_problems(config)
    if problems:
        raise _invalid(problems)
    return config_warnings(config)


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
