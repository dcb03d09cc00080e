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


def resolve_libraries(config: dict) -> tuple[dict, list[str]]:
    """Expand every experiment's ``tasks`` over its ``libraries``; return the config and the
    problems (an unknown or missing library, a library that cannot do a listed task or
    decode the experiment's format).

    A Pillow task with forms under other libraries (decode, save_png, save_jpeg) becomes
    its form under each library listed (``imgbench.measure.tasks.libraries.variant_name``);
    another Pillow task (greyscale, blur) needs ``pillow`` among them; a task that uses no
    library is kept. ``library_threads`` becomes the ``threads`` option of every form under
    a library but Pillow. A library that is not fork-safe (libvips) is refused under a pool
    that forks its workers, naming the way out. Resolving a resolved config changes nothing.
    """
    problems: list[str] = []
    for name, exp in (config.get("experiments") or {}).items():
        if not isinstance(exp, dict) or not isinstance(exp.get("tasks"), list):
            continue
        key = f"config key experiments.{name}"
        found = _not_installed(key, exp["tasks"]) + _expand_libraries(key, exp)
        # A form named in tasks, without libraries, is checked as much as an expanded one.
        problems += found or _forked(key, exp, exp["tasks"])
    return config, problems


def _expand_libraries(key: str, exp: dict) -> list[str]:
    """Expand one experiment's tasks over its ``libraries`` (in place); the problems."""
    from imgbench.measure.codecs import DEFAULT_LIBRARY, EXTRA, LIBRARIES
    from imgbench.plan.suggest import unknown

    listed = exp.get("libraries")
    if not isinstance(listed, list):
        return []
    problems = []
    for i, library in enumerate(listed):
        if library not in LIBRARIES:
            problems.append(f"{key}.libraries[{i}]: {unknown('library', library, LIBRARIES)}")
        elif not LIBRARIES[library].installed():
            problems.append(
                f"{key}.libraries[{i}]: {library} is not installed: pip install "
                f"'imgbench[{EXTRA}]' (or {LIBRARIES[library].package})"
            )
    if problems:
        return problems
    if exp.get("pythons") and set(listed) - {DEFAULT_LIBRARY}:
        return [
            f"{key}: libraries other than pillow are not installed in the environments "
            "of other interpreters (pythons); put them in an experiment without pythons"
        ]
    tasks, missing = _library_forms(exp, listed)
    exp["tasks"] = tasks
    threads = exp.get("library_threads")
    if threads is not None:
        options = exp.setdefault("task_options", {})
        for task in tasks:
            if TASKS[task].library not in (None, DEFAULT_LIBRARY) and TASKS[task].base:
                options.setdefault(task, {}).setdefault("threads", threads)
    return [f"{key}.libraries: {problem}" for problem in missing]


def _library_forms(exp: dict, libraries: list[str]) -> tuple[list[str], list[str]]:
    """The experiment's tasks under its libraries, and the pairs that cannot be."""
    from imgbench.measure.codecs import DEFAULT_LIBRARY, LIBRARIES
    from imgbench.measure.tasks.libraries import variant_name

    fmt = exp.get("format", "jpeg")
    tasks: list[str] = []
    missing: list[str] = []
    for task in exp["tasks"]:
        known = TASKS.get(task)
        if known is None or known.library is None or known.base not in (None, task):
            tasks.append(task)  # no library, a form already named, or unknown (reported)
            continue
        if known.base is None:
            if DEFAULT_LIBRARY not in libraries:
                missing.append(f"{task} is done with pillow only: add pillow to libraries")
            tasks.append(task)
            continue
        for library in libraries:
            form = variant_name(task, library)
            if form not in TASKS:
                missing.append(f"{library} cannot do {task}")
            elif TASKS[form].input_kind == "files" and fmt not in LIBRARIES[library].decodes:
                missing.append(
                    f"{library} cannot decode {fmt} files (it decodes "
                    f"{', '.join(LIBRARIES[library].decodes)}); task {task}"
                )
            else:
                tasks.append(form)
    return list(dict.fromkeys(tasks)), missing


def _not_installed(key: str, tasks: list) -> list[str]:
    """Tasks named by their form under a library that is not installed."""
    from imgbench.measure.codecs import EXTRA, LIBRARIES

    problems = []
    for i, task in enumerate(tasks):
        library = LIBRARIES.get(getattr(TASKS.get(task), "library", None) or "")
        if library is not None and not library.installed():
            problems.append(
                f"{key}.tasks[{i}]: {task} needs {library.name}, which is not installed: pip "
                f"install 'imgbench[{EXTRA}]' (or {library.package})"
            )
    return problems


def _forked(key: str, exp: dict, tasks: list[str]) -> list[str]:
    """Tasks of a library that is not fork-safe under a pool that forks its workers."""
    from imgbench.measure.codecs import LIBRARIES
    from imgbench.measure.strategies import STRATEGIES, forks
    from imgbench.plan.grid import experiment_strategies

    # An unknown task is reported by config_problems.
    libraries = {t: LIBRARIES.get(getattr(TASKS.get(t), "library", None) or "") for t in tasks}
    unsafe = [t for t, lib in libraries.items() if lib is not None and not lib.fork_safe]
    if not unsafe or not isinstance(exp.get("strategies"), list):
        return []
    method = exp.get("start_method")
    forked = [
        name
        for name in experiment_strategies(exp)
        if name in STRATEGIES and forks(STRATEGIES[name], method)
    ]
    if not forked:
        return []
    return [
        f"{key}: {', '.join(unsafe)} cannot run under {', '.join(forked)}: "
        f"{libraries[unsafe[0]].name} is not fork-safe (a worker forked after "
        "it has worked hangs); set start_method: forkserver (or spawn), or start_methods: "
        "[forkserver, spawn]"
    ]
