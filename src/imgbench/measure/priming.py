"""The *priming run*: before a cell's first repetition (warm-ups included) the task runs,
untimed, on real items, its output in the scratch area (removed at once).

Whatever the work loads on first use (Pillow's plugins on the first decode, httpx's
transport stack on the first request, aiofiles and asyncio's machinery for the asyncio
strategy, which primes the async work as well) is then loaded before any pool forks, so that
forked workers do not pay for it inside the timer. Under a forkserver, the modules the
priming run loaded are preloaded by the server. It touches neither the verification
references nor the cache state, which each repetition's prepare step sets afterwards.

The first item of each file suffix is primed, not only the first item: a folder's images as
found mix formats, and each format's decoder loads on first use.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from imgbench.measure.tasks import Task


def priming_sources(task: Task, sources: list) -> list:
    """The items the priming run takes: the first, and for files the first of each suffix
    (a folder's images as found mix formats, and each format's decoder is loaded lazily)."""
    if task.input_kind != "files":
        return sources[:1]
    first: dict[str, Any] = {}
    for source in sources:
        first.setdefault(Path(str(source)).suffix.lower(), source)
    return list(first.values())


def prime(
    task: Task, strategy: str, sources: list, opts: dict, service, directory: Path
) -> list[str]:
    """Run the task once on each of a few real items, untimed, output under ``directory``
    (removed).

    Returns the modules it imported first, for a forkserver to preload. The asyncio
    strategy primes the async work too (aiofiles, the loop's executor, the async client),
    the vectorized one the batch form.
    """
    known = len(sys.modules)
    directory.mkdir()
    try:
        for index, source in enumerate(sources):
            output = None
            if task.output_suffix:
                output = str(directory / f"img_{index:06d}{task.output_suffix}")
                if task.output_dirs:
                    Path(output).mkdir()
            item = task.build_item(source, output, opts, service)
            task.work(item)
            if strategy == "vectorized" and task.batch is not None:
                task.batch([item])
            if strategy == "asyncio":
                import asyncio  # only asyncio cells pay its import (tasks/images.py says why)

                if output is not None and not task.output_dirs:
                    Path(output).unlink(missing_ok=True)
                asyncio.run(_prime_async(task, item))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return list(sys.modules)[known:]


async def _prime_async(task: Task, item) -> None:
    await task.awork(item)
