"""The tasks an experiment names: imgbench's own, and a user's functions
(``imgbench.measure.tasks.user``), which resolving a config adds to the task registry.

``tasks`` may hold ``"module:function"``, ``"path/to/steps.py:function"`` or the name of an
entry point of the group ``imgbench.tasks``; ``task_functions: {NAME: FUNCTION}`` names a
function explicitly. Resolved, ``tasks`` holds task names only and ``task_functions`` every
user task's function (file paths made absolute), so that the cell jobs, which receive the
function with their task, and a later resolution of the same config load the same code.
"""

from __future__ import annotations

from pathlib import Path

from imgbench.errors import UserTaskError
from imgbench.measure.tasks import TASKS, register_function
from imgbench.measure.tasks.user import (
    absolute_spec,
    default_name,
    entry_point_spec,
    is_function_spec,
)


def _user_spec(entry: str, functions: dict[str, str], base: Path) -> tuple[str, str] | None:
    """(task name, function) of a ``tasks`` entry that names a user's function, else None."""
    if is_function_spec(entry):
        return default_name(entry), absolute_spec(entry, base)
    if entry in TASKS or entry in functions:
        return None
    spec = entry_point_spec(entry)
    return None if spec is None else (entry, spec)


def resolve_tasks(config: dict, base: Path | None = None) -> tuple[dict, list[str]]:
    """Register every experiment's user tasks; return the config with ``tasks`` as names,
    and the problems (a function that cannot be loaded, a name taken twice)."""
    base = Path.cwd() if base is None else base
    problems: list[str] = []
    for name, exp in (config.get("experiments") or {}).items():
        if not isinstance(exp, dict) or not isinstance(exp.get("tasks"), list):
            continue  # the schema says what is wrong
        key = f"config key experiments.{name}"
        functions = {
            task: absolute_spec(spec, base)
            for task, spec in (exp.get("task_functions") or {}).items()
        }
        names = []
        for i, entry in enumerate(exp["tasks"]):
            found = _user_spec(entry, functions, base) if isinstance(entry, str) else None
            if found is None:
                names.append(entry)
                continue
            task, spec = found
            if functions.get(task, spec) != spec:
                problems.append(
                    f"{key}.tasks[{i}]: task name {task} is already {functions[task]}; name one "
                    "of them otherwise with task_functions: {NAME: FUNCTION}"
                )
                continue
            functions[task] = spec
            names.append(task)
        for task, spec in functions.items():
            try:
                register_function(task, spec)
            except UserTaskError as exc:
                problems.append(f"{key}.tasks: {exc}")
        exp["tasks"] = names
        if functions:
            exp["task_functions"] = functions
    return config, problems
