"""What is done to every image: the task registry, assembled here from each module's tasks.

- ``task``: the ``Task`` type, ``VerifyContext``, the checks verifiers share and
  ``option_problems`` (a task option's value against the task's defaults and choices);
- ``images``: reading, decoding, greyscale, saving, blur + thumbnail;
- ``download``: fetching over HTTP from a local server (``imgbench.measure.file_server``);
- ``known_answers``: tasks whose speedups are known from physics (``KNOWN_ANSWER_TASKS``);
- ``libraries``: the decode and save tasks under another image library (``LIBRARY_TASKS``,
  config ``libraries``; the libraries are ``imgbench.measure.codecs``);
- ``user``: a user's own function as a task; ``register_function`` adds one to ``TASKS``.

Adding a task is one entry in its module's list; a new module of tasks is one more line in
``TASKS`` below. No module of tasks imports this one, so each can be imported on its own.
"""

from __future__ import annotations

from imgbench.measure.tasks.download import DOWNLOAD
from imgbench.measure.tasks.images import IMAGE_TASKS
from imgbench.measure.tasks.known_answers import KNOWN_ANSWER_TASKS
from imgbench.measure.tasks.libraries import LIBRARY_TASKS
from imgbench.measure.tasks.task import BOUNDS, Task, VerifyContext, option_problems

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        *IMAGE_TASKS,
        DOWNLOAD,
        *KNOWN_ANSWER_TASKS,
        *LIBRARY_TASKS,
    )
}


def register_function(name: str, spec: str) -> Task:
    """Add the user's function ``spec`` to ``TASKS`` as task ``name`` (again: a no-op);
    ``UserTaskError`` when it cannot be loaded, or when ``name`` is another task's."""
    from imgbench.errors import UserTaskError
    from imgbench.measure.tasks.user import user_task

    known = TASKS.get(name)
    if known is not None:
        if known.function == spec:
            return known
        raise UserTaskError(
            f"task name {name} is taken by {known.function or 'a built-in task'}; name "
            f"{spec} otherwise with task_functions: {{OTHER_NAME: {spec!r}}}"
        )
    task = TASKS[name] = user_task(name, spec)
    return task


__all__ = [
    "BOUNDS",
    "KNOWN_ANSWER_TASKS",
    "TASKS",
    "Task",
    "VerifyContext",
    "option_problems",
    "register_function",
]
