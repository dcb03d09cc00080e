"""Tasks whose speedups are known from physics: the tool checks itself against them.

- ``sleep`` waits a fixed time per image with the GIL released: nothing competes, so the
  ideal speedup is the number of workers, whatever the cores.
- ``spin_python`` runs a pure-Python loop of a fixed length: it holds the GIL, so threads
  give about 1x and processes about min(workers, usable cores).
- ``spin_native`` hashes a buffer with sha256 in C, which releases the GIL: threads and
  processes both give about min(workers, usable cores).

Each reads its input file (a tiny image) only to name the item: the work is the same for
every image, and its result depends on the image's path so that a dropped or swapped
result fails verification. The expected speedups live with the analysis
(``imgbench.analysis.calibration``); this module only does the work.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from imgbench.errors import VerificationError
from imgbench.measure.tasks.task import Task, VerifyContext, check_count

# asyncio is imported where it is used: every cell job imports this module (the task
# registry), only asyncio cells need it, and it costs about 30 ms of start-up per job. The
# untimed priming run of an asyncio cell imports it before the timer.


def _seed(path: str) -> int:
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "little")


# -- sleep -----------------------------------------------------------------------------------


def sleep_item(source: str, output: str | None, options: dict, service: Any) -> tuple[str, float]:
    return (source, float(options["sleep_ms"]) / 1e3)


def sleep_work(item: tuple[str, float]) -> str:
    path, seconds = item
    time.sleep(seconds)
    return path


async def sleep_awork(item: tuple[str, float]) -> str:
    import asyncio

    # A blocking call, as a real task's would be: it occupies one of the loop's executor
    # threads, so asyncio with w workers must run w sleeps at once.
    return await asyncio.to_thread(sleep_work, item)


def verify_sleep(ctx: VerifyContext, results: Sequence[Any]) -> None:
    check_count(ctx, results)
    for item, result in zip(ctx.items, results, strict=True):
        if result != item[0]:
            raise VerificationError(f"{item[0]}: sleep returned {result!r}, not its own path")


# -- spin_python ------------------------------------------------------------------------------


def spin_item(source: str, output: str | None, options: dict, service: Any) -> tuple[str, int]:
    return (source, int(options["iterations"]))


def spin_python(item: tuple[str, int]) -> int:
    """A linear congruential generator stepped ``iterations`` times: pure Python, GIL held."""
    path, iterations = item
    x = _seed(path)
    for _ in range(iterations):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


async def spin_python_async(item: tuple[str, int]) -> int:
    import asyncio

    return await asyncio.to_thread(spin_python, item)


def _verify_by_reference(ctx: VerifyContext, results: Sequence[Any], work) -> None:
    """Each result equals what ``work`` gives for the same item (computed once per cell,
    untimed): the results depend on each image's path, so a lost or swapped one shows."""
    check_count(ctx, results)
    if work.__name__ not in ctx.memo:
        ctx.memo[work.__name__] = [work(item) for item in ctx.items]
    for item, expected, result in zip(ctx.items, ctx.memo[work.__name__], results, strict=True):
        if result != expected:
            raise VerificationError(
                f"{item[0]}: {work.__name__} returned {result!r}, not {expected}"
            )


def verify_spin_python(ctx: VerifyContext, results: Sequence[Any]) -> None:
    _verify_by_reference(ctx, results, spin_python)


# -- spin_native ------------------------------------------------------------------------------

#: Bytes hashed per update: far above the 2 KiB from which hashlib releases the GIL.
_CHUNK = 1 << 20


def native_item(source: str, output: str | None, options: dict, service: Any) -> tuple[str, int]:
    return (source, max(1, round(float(options["hash_mb"]) * (1 << 20) / _CHUNK)))


def spin_native(item: tuple[str, int]) -> str:
    """sha256 over ``chunks`` MiB derived from the path: C code that releases the GIL."""
    path, chunks = item
    block = hashlib.sha256(path.encode()).digest() * (_CHUNK // 32)
    digest = hashlib.sha256()
    for _ in range(chunks):
        digest.update(block)
    return digest.hexdigest()


async def spin_native_async(item: tuple[str, int]) -> str:
    import asyncio

    return await asyncio.to_thread(spin_native, item)


def verify_spin_native(ctx: VerifyContext, results: Sequence[Any]) -> None:
    _verify_by_reference(ctx, results, spin_native)


KNOWN_ANSWER_TASKS = (
    Task(
        "sleep",
        "wait sleep_ms per image with the GIL released (known answer: speedup = workers)",
        "files",
        sleep_work,
        sleep_awork,
        verify_sleep,
        options={"sleep_ms": 20.0},
        make_item=sleep_item,
        bound="wait",
    ),
    Task(
        "spin_python",
        "a pure-Python loop of `iterations` steps per image (known answer: threads about 1x, "
        "processes about min(workers, cores))",
        "files",
        spin_python,
        spin_python_async,
        verify_spin_python,
        options={"iterations": 400000},
        make_item=spin_item,
    ),
    Task(
        "spin_native",
        "sha256 of hash_mb MiB per image in C, GIL released (known answer: threads and "
        "processes about min(workers, cores))",
        "files",
        spin_native,
        spin_native_async,
        verify_spin_native,
        options={"hash_mb": 48.0},
        make_item=native_item,
    ),
)
