"""How the per-image work is spread: the strategy registry.

Every strategy returns the results in input order and the ``perf_counter`` time at which
the first result reached the caller. Pools are created and shut down inside ``run``: the
studies timed them that way, and a pool's start-up is part of what a user pays.
Adding a strategy is one entry in ``STRATEGIES``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from imgbench.errors import TaskError
from imgbench.tasks import Task


class WorkerDiedError(TaskError):
    """A worker process ended abruptly (killed, crashed, out of memory) with work pending."""


@dataclass
class Outcome:
    results: list[Any]
    #: perf_counter times at which the first and the last result reached the caller; after
    #: the last one, only the pool's shutdown remains.
    first_result_at: float
    last_result_at: float


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str
    #: False for the plain loop: it runs once per group, with workers = 1.
    uses_workers: bool
    run: Callable[[Task, Sequence[Any], int], Outcome]


def run_serial(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    results: list[Any] = []
    first = None
    for item in items:
        results.append(task.work(item))
        if first is None:
            first = time.perf_counter()
    last = time.perf_counter()
    return Outcome(results, first if first is not None else last, last)


def _run_on_pool(
    executor: Executor, calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]
) -> tuple[list[Any], float, float]:
    """Submit every call, collect the results in submission order, shut the pool down.

    Returns the results and the times the first and the last one arrived.
    """
    results: list[Any] = [None] * len(calls)
    first = last = None
    try:
        futures = {executor.submit(fn, *args): i for i, (fn, args) in enumerate(calls)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            last = time.perf_counter()
            if first is None:
                first = last
    except BrokenProcessPool as exc:
        # The shutdown forgets the workers but joins them: their exit codes are then known.
        workers = _worker_processes(executor)
        executor.shutdown(wait=True, cancel_futures=True)
        raise WorkerDiedError(_death_cause(workers)) from exc
    finally:
        # On a failure, queued work is cancelled so that the cell ends promptly.
        executor.shutdown(wait=True, cancel_futures=True)
    if last is None:
        first = last = time.perf_counter()
    return results, first, last


def _worker_processes(executor: Executor) -> dict:
    """The pool's worker processes by pid (a private attribute: {} where it is missing)."""
    return dict(getattr(executor, "_processes", None) or {})


def _death_cause(workers: dict) -> str:
    """Which worker died and how, from the exit codes of the pool's joined processes."""
    # A broken pool terminates its other workers itself (SIGTERM): the first death is the
    # one that is not a SIGTERM, when there is one.
    dead = sorted(
        ((pid, p.exitcode) for pid, p in workers.items() if p.exitcode not in (None, 0)),
        key=lambda d: d[1] == -signal.SIGTERM,
    )
    if not dead:
        return "a worker process died abruptly"
    pid, code = dead[0]
    if code < 0:
        try:
            how = f"signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"signal {-code}"
    else:
        how = f"exit status {code}"
    return f"a worker process (pid {pid}) died ({how})"


def _run_per_item(executor: Executor, task: Task, items: Sequence[Any]) -> Outcome:
    return Outcome(*_run_on_pool(executor, [(task.work, (item,)) for item in items]))


def run_threads(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    return _run_per_item(ThreadPoolExecutor(max_workers=workers), task, items)


def process_context() -> multiprocessing.context.BaseContext:
    """The platform's default start method, recorded with every result."""
    return multiprocessing.get_context()


def run_processes(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    return _run_per_item(
        ProcessPoolExecutor(max_workers=workers, mp_context=process_context()), task, items
    )


def run_chunk(work: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
    return [work(item) for item in chunk]


def contiguous_chunks(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    """Split into at most ``parts`` contiguous chunks whose sizes differ by at most one."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for i in range(parts):
        stop = start + size + (1 if i < extra else 0)
        chunks.append(items[start:stop])
        start = stop
    return chunks


def run_processes_chunked(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=process_context())
    calls = [(run_chunk, (task.work, chunk)) for chunk in contiguous_chunks(items, workers)]
    parts, first, last = _run_on_pool(executor, calls)
    return Outcome([r for part in parts for r in part], first, last)


def run_threads_chunked(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    calls = [(run_chunk, (task.work, chunk)) for chunk in contiguous_chunks(items, workers)]
    parts, first, last = _run_on_pool(ThreadPoolExecutor(max_workers=workers), calls)
    return Outcome([r for part in parts for r in part], first, last)


def run_vectorized(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    if task.batch is None:
        raise ValueError(f"task {task.name} has no whole-batch form for the vectorized strategy")
    results = list(task.batch(items))
    # One operation yields every result at once.
    done = time.perf_counter()
    return Outcome(results, done, done)


def run_asyncio(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    async def main() -> Outcome:
        limit = asyncio.Semaphore(workers)
        arrivals: list[float] = []

        async def one(item: Any) -> Any:
            async with limit:
                result = await task.awork(item)
            arrivals.append(time.perf_counter())
            return result

        # Blocking calls go through asyncio.to_thread; the semaphore, not the default
        # executor's size, bounds how many run at once.
        results = await asyncio.gather(*(one(item) for item in items))
        now = time.perf_counter()
        return Outcome(list(results), min(arrivals, default=now), max(arrivals, default=now))

    return asyncio.run(main())


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("serial", "a plain for loop", False, run_serial),
        Strategy("threads", "ThreadPoolExecutor, one submit per image", True, run_threads),
        Strategy("processes", "ProcessPoolExecutor, one submit per image", True, run_processes),
        Strategy(
            "processes_chunked",
            "ProcessPoolExecutor, one contiguous chunk per worker",
            True,
            run_processes_chunked,
        ),
        Strategy(
            "threads_chunked",
            "ThreadPoolExecutor, one contiguous chunk per worker",
            True,
            run_threads_chunked,
        ),
        Strategy(
            "vectorized",
            "one numpy operation over the whole batch (only tasks that have a batch form)",
            False,
            run_vectorized,
        ),
        Strategy(
            "asyncio",
            "event loop: aiofiles for file I/O, asyncio.to_thread for blocking calls, "
            "a semaphore of size workers",
            True,
            run_asyncio,
        ),
    )
}
