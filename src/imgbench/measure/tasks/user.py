"""Your own task: a function of yours timed under every strategy, as imgbench's own tasks are.

An experiment names it in ``tasks`` as ``"package.module:function"``, as a file
``"path/to/steps.py:function"``, or as the name of an entry point in the group
``imgbench.tasks`` whose value is one of those. The task's name (cells, tables, the deck) is
the function's name, or the entry point's; ``task_functions: {NAME: FUNCTION}`` names it
otherwise (e.g. when it would clash with a built-in task).

The contract, in full::

    def thumbnail_webp(path: str, out_dir: str) -> object:
        ...

- ``path``: one input image file of the dataset (read it; never write next to it);
- ``out_dir``: an empty directory of this image's own, under the cell's scratch: write any
  files there (imgbench never lets a task write anywhere else it knows of, and never into
  a user's image folder);
- it returns a picklable value (None, a string, bytes, numbers, numpy arrays, or lists,
  tuples and dicts of those), which comes back to the caller as an imgbench task's does;
- it must be importable by worker processes: a module-level function of an importable
  module, or of a file given by its path (each worker loads it again under spawn and
  forkserver);
- optionally ``thumbnail_webp.verify = check``, ``check(path, value, out_dir)`` raising (any
  exception) when an output is wrong.

Verification needs no effort from the user: before the first repetition the function runs
once per image in a plain loop, untimed, and every repetition of every strategy must give, for
each image, the same returned value and the same files (by digest; paths inside ``out_dir``
compared relative to it) as that loop. A strategy that differs fails the cell naming the first
image that differs; a function that raises names the image and the function.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from imgbench.errors import TaskError, UserTaskError, VerificationError
from imgbench.measure.tasks.task import Task, VerifyContext, check_output_files

#: The entry point group a package registers its tasks in.
ENTRY_POINT_GROUP = "imgbench.tasks"
#: A user task's per-image output is a directory of this suffix (``img_000003.out``).
OUTPUT_SUFFIX = ".out"


def is_function_spec(text: str) -> bool:
    """``"module:function"`` or ``"path.py:function"``: what a config names a function by."""
    return ":" in text


def entry_point_spec(name: str) -> str | None:
    """The ``module:function`` of the entry point ``name`` in ``imgbench.tasks``, if any."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry.value
    return None


def default_name(spec: str) -> str:
    """The task name of a function spec: the function's own name."""
    return spec.rpartition(":")[2].rpartition(".")[2]


def absolute_spec(spec: str, base: Path) -> str:
    """A file spec with its path made absolute against ``base`` (module specs unchanged), so
    that every job finds the file whatever its working directory."""
    where, _, attr = spec.rpartition(":")
    if _is_file(where):
        return f"{(base / where).resolve()}:{attr}"
    return spec


def _is_file(where: str) -> bool:
    return where.endswith(".py") or os.sep in where or "/" in where


#: Loaded functions by spec, in this process (the parent, or a worker).
_loaded: dict[str, Callable[..., Any]] = {}


def load_function(spec: str) -> Callable[..., Any]:
    """The function a spec names, imported once per process; ``UserTaskError`` saying why
    it cannot be."""
    if spec in _loaded:
        return _loaded[spec]
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise UserTaskError(f"task function {spec!r}: expected MODULE:FUNCTION or FILE.py:FUNCTION")
    try:
        module = _import_file(where) if _is_file(where) else importlib.import_module(where)
    except UserTaskError:
        raise
    except Exception as exc:  # whatever the user's module raises on import
        raise UserTaskError(
            f"task function {spec!r}: cannot import {where} ({type(exc).__name__}: {exc})"
        ) from exc
    function: Any = module
    for part in attr.split("."):
        function = getattr(function, part, None)
        if function is None:
            raise UserTaskError(f"task function {spec!r}: {where} has no {attr}")
    if not callable(function):
        raise UserTaskError(f"task function {spec!r}: {attr} is not callable")
    _loaded[spec] = function
    return function


def _import_file(where: str):
    path = Path(where)
    if not path.is_file():
        raise UserTaskError(f"task file {where}: no such file")
    # One module name per file, so that two files named steps.py do not collide, and the
    # module is in sys.modules (pickle finds what it defines by that name).
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    name = f"imgbench_user_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    found = importlib.util.spec_from_file_location(name, path)
    if found is None or found.loader is None:
        raise UserTaskError(f"task file {where}: not a Python module")
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    try:
        found.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def call(spec: str, item: tuple[str, str]) -> Any:
    """One image's work: the user's function on (input path, output directory). A failure
    names the image and the function."""
    path, out_dir = item
    function = load_function(spec)
    try:
        return function(path, out_dir)
    except Exception as exc:
        raise TaskError(f"{path}: task function {spec} raised {type(exc).__name__}: {exc}") from exc


async def call_async(spec: str, item: tuple[str, str]) -> Any:
    import asyncio

    return await asyncio.to_thread(call, spec, item)


# -- verification ------------------------------------------------------------------------------


def _canonical(value: Any, out_dir: str) -> Any:
    """What of a returned value must agree between strategies: arrays by shape, dtype and
    pixels, bytes by digest, paths relative to the image's output directory."""
    import numpy as np

    if value is None or isinstance(value, (bool, int, float, complex)):
        return value
    if isinstance(value, (str, Path)):
        text = str(value)
        return text.replace(out_dir, "<out_dir>") if out_dir else text
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("bytes", hashlib.sha256(value).hexdigest())
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        digest = hashlib.sha256(data.view(np.uint8) if data.size else b"").hexdigest()
        return ("ndarray", value.shape, value.dtype.str, digest)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_canonical(v, out_dir) for v in value])
    if isinstance(value, dict):
        return ("dict", sorted((repr(k), _canonical(v, out_dir)) for k, v in value.items()))
    return ("pickle", hashlib.sha256(pickle.dumps(value, protocol=5)).hexdigest())


def _files(out_dir: Path) -> list[tuple[str, str]]:
    """Every file under ``out_dir``: its relative path and the digest of its bytes."""
    found = []
    for root, _, names in os.walk(out_dir):
        for name in names:
            path = Path(root) / name
            data = path.read_bytes()
            found.append((str(path.relative_to(out_dir)), hashlib.sha256(data).hexdigest()))
    return sorted(found)


def digest(value: Any, out_dir: str) -> tuple:
    """One image's outputs, as compared between strategies."""
    return (_canonical(value, out_dir), _files(Path(out_dir)))


def _difference(want: tuple, got: tuple) -> str:
    if want[0] != got[0]:
        return "returned a different value"
    wanted, gotten = dict(want[1]), dict(got[1])
    for name in sorted(set(wanted) | set(gotten)):
        if name not in gotten:
            return f"did not write {name}"
        if name not in wanted:
            return f"wrote {name}, which the loop did not"
        if wanted[name] != gotten[name]:
            return f"wrote a different {name}"
    return "gave different outputs"


def verify(spec: str, ctx: VerifyContext, results: Sequence[Any]) -> None:
    """Every image's outputs equal the plain loop's (run once per cell, untimed, into the
    reference directory), then the function's own ``verify``, if it has one."""
    # None is a value a user's function may return: only the count is checked here, and a
    # result lost by a strategy differs from the loop's (or its files are missing).
    if len(results) != ctx.n_images:
        raise VerificationError(f"expected {ctx.n_images} results, got {len(results)}")
    check_output_files(ctx)
    function = load_function(spec)
    if "user" not in ctx.memo:
        assert ctx.reference_dir is not None
        references = []
        for i, (path, _) in enumerate(ctx.items):
            out_dir = ctx.reference_dir / f"img_{i:06d}{OUTPUT_SUFFIX}"
            out_dir.mkdir(parents=True, exist_ok=True)
            references.append(digest(call(spec, (path, str(out_dir))), str(out_dir)))
        ctx.memo["user"] = references
    own_check = getattr(function, "verify", None)
    for i, ((path, out_dir), value) in enumerate(zip(ctx.items, results, strict=True)):
        got = digest(value, out_dir)
        if got != ctx.memo["user"][i]:
            difference = _difference(ctx.memo["user"][i], got)
            raise VerificationError(
                f"{path} (image #{i}): task function {spec} {difference} under this strategy "
                "(against the plain loop's run of the same image)"
            )
        if own_check is not None:
            try:
                own_check(path, value, out_dir)
            except Exception as exc:
                raise VerificationError(
                    f"{path} (image #{i}): {spec}'s verify rejected the output "
                    f"({type(exc).__name__}: {exc})"
                ) from exc


def user_task(name: str, spec: str) -> Task:
    """The ``Task`` of a user's function (``spec`` as ``absolute_spec`` gives it)."""
    function = load_function(spec)
    summary = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
    return Task(
        name,
        summary or f"your function {spec}",
        "files",
        functools.partial(call, spec),
        functools.partial(call_async, spec),
        functools.partial(verify, spec),
        output_suffix=OUTPUT_SUFFIX,
        output_dirs=True,
        function=spec,
    )
