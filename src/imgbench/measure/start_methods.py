"""The start method of process pools, pinned per cell, and what their workers preload.

A cell's process pools start their workers with one method (``pinned_start_method``;
"default": the platform's), recorded in its result. So that a worker never imports inside the
timer what the parent had loaded: a forkserver preloads the engine and whatever the priming
run imported (``FORKSERVER_PRELOAD``, ``process_context``), and a worker that starts a new
interpreter (spawn, joblib's loky) imports them in its initializer (``worker_preload``),
inside its pool's start-up, where the other methods pay it. joblib's strategies record
``LOKY``: loky starts its own workers; ``ready_joblib`` readies it before the first
repetition.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from imgbench.errors import ImgbenchError

#: ``RunOptions.start_method`` values: "default" (or None) is the platform's.
START_METHODS = ("default", "fork", "forkserver", "spawn")
#: The start method recorded for joblib's strategies: loky starts its workers itself, each
#: a new interpreter (fork and exec), whatever multiprocessing's method.
LOKY = "loky"
#: Loaded by a forkserver before it forks any worker, so that workers do not import the
#: engine inside the timer (a forked worker inherits what the server had loaded).
FORKSERVER_PRELOAD = (
    "imgbench.measure.tasks",
    "imgbench.measure.strategies",
    "imgbench.measure.start_methods",
    "imgbench.measure.tasks.download",
    "numpy",
    "PIL.Image",
    "PIL.ImageFilter",
    "aiofiles",
    "httpx",
)
#: Where process pools take their start method from: ``pinned_start_method`` sets it.
_pinned: dict[str, Any] = {"method": None, "preload": ()}


def method_name(start_method: str | None) -> str | None:
    """A start method as multiprocessing takes it (None: the platform's); an unknown or
    unavailable one is an ``ImgbenchError`` naming it."""
    if start_method in (None, "default"):
        return None
    if start_method not in START_METHODS:
        raise ImgbenchError(
            f"unknown start method {start_method!r}; allowed: {', '.join(START_METHODS)}"
        )
    if start_method not in multiprocessing.get_all_start_methods():
        raise ImgbenchError(f"start method {start_method} is not available on this platform")
    return start_method


def _preload(extra: Sequence[str]) -> list[str]:
    """What a forkserver loads: the engine, ``extra``, and every module this process has
    loaded from their packages (e.g. the Pillow plugins an earlier decode loaded)."""
    wanted = {*FORKSERVER_PRELOAD, *extra}
    packages = {name.partition(".")[0] for name in wanted}
    loaded = [m for m in list(sys.modules) if m.partition(".")[0] in packages]
    return sorted({*wanted, *(m for m in loaded if not m.partition(".")[2].startswith("_"))})


#: Packages whose modules, loaded here, a worker that starts a new interpreter (spawn, loky)
#: imports before its first item: what tasks load on first use (Pillow's plugins, httpx's
#: transport stack, aiofiles). The engine itself comes with unpickling the work.
WORKER_PRELOAD_PACKAGES = ("PIL", "httpx", "aiofiles")


def worker_preload(extra: Sequence[str]) -> tuple[str, ...]:
    """What a new-interpreter worker imports before its first item: ``extra`` (what the
    priming run imported) and this process's loaded modules of ``WORKER_PRELOAD_PACKAGES``.

    A forked worker has them all already (importing them again is a dictionary look-up); a
    spawned one would otherwise import them inside its first work call, in the timer's
    work rather than in its pool's start-up, where the other start methods pay it.
    """
    loaded = [
        m
        for m in list(sys.modules)
        if m.partition(".")[0] in WORKER_PRELOAD_PACKAGES
        and not any(part.startswith("_") for part in m.split(".")[1:])
    ]
    return tuple(sorted({*extra, *loaded}))


def import_all(names: Sequence[str]) -> None:
    for name in names:
        # A name this process loaded may not be importable on its own (an alias a package
        # registers under another name): its package's import brings it, or nothing needs it.
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def process_context(
    start_method: str | None = None, preload: Sequence[str] = ()
) -> multiprocessing.context.BaseContext:
    """The context process pools use: ``start_method`` ("default"/None: the platform's).

    A forkserver is told to preload the engine (``FORKSERVER_PRELOAD``), ``preload`` and the
    modules of their packages already loaded here; it applies when the server starts.
    """
    ctx = multiprocessing.get_context(method_name(start_method))
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(_preload(preload))
    return ctx


@contextlib.contextmanager
def pinned_start_method(start_method: str | None, preload: Sequence[str] = ()) -> Iterator[str]:
    """Process pools created inside use ``start_method``; yields the method actually used.

    A forkserver is started here, untimed (with its preloads: a few tenths of a second),
    rather than inside the first repetition's timer. ``LOKY`` (joblib's strategies) pins the
    platform's method for multiprocessing and readies joblib (``ready_joblib``) untimed.
    """
    if start_method == LOKY:
        ready_joblib()
        with pinned_start_method(None, preload):
            yield LOKY
        return
    ctx = process_context(start_method, preload)
    method = ctx.get_start_method()
    if method == "forkserver":
        # The server imports its preloads after it starts: one process forked and joined
        # waits for them.
        child = ctx.Process(target=nothing)
        child.start()
        child.join()
    previous = dict(_pinned)
    _pinned.update(method=start_method, preload=tuple(preload))
    try:
        yield method
    finally:
        _pinned.update(previous)


def nothing() -> None:
    pass


def context() -> multiprocessing.context.BaseContext:
    return process_context(_pinned["method"], _pinned["preload"])


def pinned_preload() -> tuple[str, ...]:
    """What the pinned method's workers preload (the priming run's imports)."""
    return tuple(_pinned["preload"])


def pinned_method() -> str | None:
    """The start method pinned now (None: the platform's)."""
    return _pinned["method"]


#: What joblib's first ``Parallel`` call imports (of ``joblib.externals.loky.backend``).
_LOKY_FIRST_CALL_MODULES = ("synchronize", "popen_loky_posix", "fork_exec")


def ready_joblib() -> None:
    """Import joblib and what its first ``Parallel`` call loads, and start loky's resource
    tracker (a process): untimed, before the first repetition (``pinned_start_method``)."""
    # Only joblib cells pay its import (a few tenths of a second). The POSIX modules are
    # missing elsewhere: import_all passes them by.
    import_all(
        [
            "joblib",
            *(f"joblib.externals.loky.backend.{m}" for m in _LOKY_FIRST_CALL_MODULES),
        ]
    )
    from joblib.externals.loky.backend import resource_tracker

    resource_tracker.ensure_running()
