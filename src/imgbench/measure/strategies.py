"""How the per-image work is spread: the strategy registry.

Every strategy returns the results in input order and the ``perf_counter`` time at which
the first result reached the caller. Pools are created and shut down inside ``run``: the
studies timed them that way, and a pool's start-up is part of what a user pays.
Adding a strategy is one entry in ``STRATEGIES``.

What a strategy reports beside its results (``imgbench.measure.instruments``), all gathered
so as to cost next to nothing inside the timer and read only after it:

- ``Outcome.spans``: for every item, the ``perf_counter`` times its work started and ended
  (``perf_counter`` is the system-wide ``CLOCK_MONOTONIC`` on Linux, so the spans of worker
  processes compare with the parent's); the runner derives the peak number of items in
  flight from them.
- ``Outcome.imported``: modules first imported inside a work call (in a worker process, or
  in this process for loops, threads and asyncio). After the runner's priming run it should
  be empty: anything in it was a first-use cost paid inside the timer.
- ``Instruments``: when each worker (thread or process) of a pool started, through the
  executors' ``initializer``, so that the pool's start-up is measured apart from the first
  result. The runner makes one per repetition before the timer (``begin_repetition``).

The pools themselves, made per batch or kept for the cell, and their shutdown, are
``imgbench.measure.pools``'s.

Process pools use the start method pinned with ``pinned_start_method`` (default: the
platform's; ``imgbench.measure.start_methods``); a forkserver preloads the engine and
whatever the priming run imported.

``processes_shm`` is ``processes`` with its arrays through shared memory
(``imgbench.measure.shared_memory``): the pipe carries a small handle per array instead of
the pickled pixels, in both directions.

Beside the per-batch strategies the registry holds their variants, so that a cell's identity
stays (experiment, task, ..., strategy, workers):

- ``<name>_persistent``: the pool made and warmed before the timer and kept (config ``pool``);
- ``<name>_<method>`` and ``<name>_persistent_<method>`` for the process-pool strategies and
  each method of ``START_METHOD_VARIANTS`` (config ``start_methods``): the pool's workers
  start with that method whatever the experiment's ``start_method`` (``Strategy.start_method``;
  the runner pins it). No strategy name ends in a method's name, so the suffix is unambiguous.

``joblib`` is ``joblib.Parallel(backend="loky")``, as scientific Python users write it. loky
keeps its workers between calls; the per-batch form shuts them down inside its timer, as the
other per-batch pools do, and every run records how many of the workers that did its work
existed before it began (``Outcome.workers_reused``).
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import (
    Executor,
    ThreadPoolExecutor,
)
from dataclasses import dataclass, replace
from typing import Any

from imgbench.measure import shared_memory
from imgbench.measure.instruments import (
    Outcome,
    call_traced,
    call_traced_chunk,
    current,
    note_thread_start,
    unchunk,
    untrace,
)
from imgbench.measure.joblib_pool import run_joblib
from imgbench.measure.pools import (
    process_pool,
    run_on_pool,
    run_on_pool_paced,
    thread_pool,
)
from imgbench.measure.start_methods import (
    LOKY,
    method_name,
    pinned_method,
    pinned_preload,
    pinned_start_method,
)
from imgbench.measure.tasks import Task


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str
    #: False for the plain loop: it runs once per group, with workers = 1.
    uses_workers: bool
    run: Callable[[Task, Sequence[Any], int], Outcome]
    #: The executor it runs on ("threads" or "processes"), None without one (the loop,
    #: vectorized, asyncio, whose loop and executor ``asyncio.run`` makes per batch).
    pool: str | None = None
    #: The pool is made and warmed before the timer and kept for every repetition of the
    #: cell (``kept_pool``): a service's steady state, not a batch's first call.
    persistent: bool = False
    #: How its pool's worker processes start, whatever the experiment's ``start_method``:
    #: a start-method variant's method, or ``LOKY`` (joblib starts its own workers). None:
    #: the experiment's (``pinned_start_method``).
    start_method: str | None = None
    #: The per-batch strategy under the experiment's start method that this one is a form
    #: of (None: itself); a variant's colour and short name are derived from its.
    family: str | None = None

    @property
    def plain(self) -> str:
        """The per-batch strategy, under the experiment's start method, this one is a form of."""
        return self.family or self.name

    @property
    def base(self) -> str:
        """The per-batch strategy this one keeps the pool of (itself when per batch): the
        same start method, made per batch."""
        if not self.persistent:
            return self.name
        method = self.start_method if self.start_method in START_METHOD_VARIANTS else None
        return variant_name(self.plain, False, method)


#: A persistent strategy's name is its per-batch strategy's with this suffix.
PERSISTENT_SUFFIX = "_persistent"
#: The start methods a process-pool strategy has a variant for (config ``start_methods``).
START_METHOD_VARIANTS = ("fork", "forkserver", "spawn")


def variant_name(plain: str, persistent: bool = False, start_method: str | None = None) -> str:
    """A variant's name: ``processes`` -> ``processes_persistent``, ``processes_spawn``,
    ``processes_persistent_spawn`` (the start method last, after ``_persistent``)."""
    return (
        plain
        + (PERSISTENT_SUFFIX if persistent else "")
        + (f"_{start_method}" if start_method else "")
    )


# -- strategies ----------------------------------------------------------------------------


def run_serial(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    traced: list[tuple] = []
    first = None
    for item in items:
        traced.append(call_traced(task.work, item))
        if first is None:
            first = time.perf_counter()
    last = time.perf_counter()
    return untrace(traced, first if first is not None else last, last)


def forks(strategy: Strategy, start_method: str | None) -> bool:
    """Whether ``strategy``'s workers are forked from the cell's process, with its state:
    a multiprocessing pool started with fork (its own method, else ``start_method``)."""
    if strategy.pool != "processes":
        return False
    method = strategy.start_method or method_name(start_method)
    return (method or multiprocessing.get_context().get_start_method()) == "fork"


def _run_per_item(executor: Executor, task: Task, items: Sequence[Any]) -> Outcome:
    return untrace(*run_on_pool(executor, [(call_traced, (task.work, item)) for item in items]))


def _run_chunked(executor: Executor, task: Task, items: Sequence[Any], workers: int) -> Outcome:
    chunks = contiguous_chunks(items, workers)
    return unchunk(*run_on_pool(executor, [(call_traced_chunk, (task.work, c)) for c in chunks]))


def run_threads(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    return _run_per_item(thread_pool(workers), task, items)


def run_processes(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    return _run_per_item(process_pool(workers), task, items)


#: ``processes_shm`` keeps at most this many items per worker submitted and not yet collected.
SHM_AHEAD_PER_WORKER = 2


def _traced_shared(
    work: Callable[[Any], Any], item: Any, result_slot: shared_memory.SlotRef
) -> tuple[Any, float, float, list[str]]:
    """``call_traced`` in a worker of ``processes_shm``: the item's arrays are mapped from their
    segments, an array result goes into its slot and its handle is returned.

    The modules listed are those first imported anywhere in the call, the sharing included.
    """
    known = len(sys.modules)

    def traced_and_shared(local: Any) -> tuple[Any, float, float]:
        result, start, end, _ = call_traced(work, local)
        # Shared before the input slot is refilled: a result may be a view of an input.
        return shared_memory.share_result(result, result_slot), start, end

    result, start, end = shared_memory.call_with_arrays(traced_and_shared, item)
    new = list(sys.modules)[known:] if len(sys.modules) > known else []
    return result, start, end, new


def run_processes_shm(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    # The pool is created first, as in run_processes; the tracker must run before it forks.
    shared_memory.prepare_parent()
    executor = process_pool(workers)
    ahead = SHM_AHEAD_PER_WORKER * workers
    # One slot per item in flight: its segments are made once and reused by later items.
    with shared_memory.Batch(len(items), slots=ahead) as batch:
        # A generator: each item's input slot is filled only when it is submitted.
        calls = (
            (_traced_shared, (task.work, batch.send(i, item), batch.result_slot(i)))
            for i, item in enumerate(items)
        )
        traced, first, last = run_on_pool_paced(
            executor,
            calls,
            len(items),
            ahead,
            lambda i, t: (batch.receive(i, t[0]), *t[1:]),
        )
    return untrace(traced, first, last)


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
    return _run_chunked(process_pool(workers), task, items, workers)


def run_threads_chunked(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    return _run_chunked(thread_pool(workers), task, items, workers)


def run_vectorized(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    if task.batch is None:
        raise ValueError(f"task {task.name} has no whole-batch form for the vectorized strategy")
    results, start, done, imported = call_traced(task.batch, items)
    # One operation yields every result at once: one item of work in flight, the batch.
    return Outcome(list(results), done, done, [(start, done)], sorted(set(imported)))


def run_asyncio(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    # Imported here, not at the top: only asyncio cells need it (30 ms of every job's
    # start-up); the cell's untimed priming run has imported it before the timer.
    import asyncio

    starts = current().thread_starts

    async def main() -> Outcome:
        # aiofiles and asyncio.to_thread run their blocking calls on the loop's default
        # executor, whose own size would be min(32, cpu_count + 4): 6 threads on 2 cores, so
        # that "16 workers" would run 6 at once. asyncio.run shuts it down before it returns,
        # inside the timer, as the pools are.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(
                max_workers=workers, initializer=note_thread_start, initargs=(starts,)
            )
        )
        limit = asyncio.Semaphore(workers)
        arrivals: list[float] = []
        spans: list[tuple[float, float]] = []
        imported: set[str] = set()

        async def one(item: Any) -> Any:
            async with limit:
                known = len(sys.modules)
                start = time.perf_counter()
                result = await task.awork(item)
                end = time.perf_counter()
                if len(sys.modules) > known:
                    imported.update(list(sys.modules)[known:])
            spans.append((start, end))
            arrivals.append(time.perf_counter())
            return result

        # The semaphore bounds how many items are in flight; the executor has as many threads.
        results = await asyncio.gather(*(one(item) for item in items))
        now = time.perf_counter()
        first, last = min(arrivals, default=now), max(arrivals, default=now)
        return Outcome(list(results), first, last, spans, sorted(imported))

    return asyncio.run(main())


_PER_BATCH = (
    Strategy("serial", "a plain for loop", False, run_serial),
    Strategy("threads", "ThreadPoolExecutor, one submit per image", True, run_threads, "threads"),
    Strategy(
        "processes", "ProcessPoolExecutor, one submit per image", True, run_processes, "processes"
    ),
    Strategy(
        "processes_shm",
        "ProcessPoolExecutor, one submit per image, arrays through shared memory both ways "
        "(the pipe carries a small handle, not the pixels)",
        True,
        run_processes_shm,
        "processes",
    ),
    Strategy(
        "processes_chunked",
        "ProcessPoolExecutor, one contiguous chunk per worker",
        True,
        run_processes_chunked,
        "processes",
    ),
    Strategy(
        "threads_chunked",
        "ThreadPoolExecutor, one contiguous chunk per worker",
        True,
        run_threads_chunked,
        "threads",
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
        "a semaphore and a default executor of size workers",
        True,
        run_asyncio,
    ),
    Strategy(
        "joblib",
        "joblib.Parallel(n_jobs=workers, backend='loky'), one delayed call per image, "
        "joblib's defaults (auto batching); loky starts each worker as a new interpreter, "
        "and with 1 worker joblib runs the items in the caller",
        True,
        run_joblib,
        "joblib",
        start_method=LOKY,
    ),
)


def _persistent(strategy: Strategy) -> Strategy:
    return replace(
        strategy,
        name=variant_name(strategy.plain, True),
        summary=f"{strategy.summary}; the pool made and warmed before the timer and kept for "
        "every repetition (steady state)",
        persistent=True,
        family=strategy.plain,
    )


#: How each start method's workers begin, for a variant's summary.
_HOW_STARTED = {
    "fork": "forked from the parent, inheriting what it loaded",
    "forkserver": "forked from a server that preloaded the engine",
    "spawn": "each a new interpreter that imports the engine",
}


def _pinning(
    run: Callable[[Task, Sequence[Any], int], Outcome], method: str
) -> Callable[[Task, Sequence[Any], int], Outcome]:
    """``run`` under start method ``method``: a no-op in a cell, whose runner has pinned it
    before the repetitions; called directly (tests, other programs), it pins it for the run."""

    def run_started_with(task: Task, items: Sequence[Any], workers: int) -> Outcome:
        if pinned_method() == method:
            return run(task, items, workers)
        with pinned_start_method(method, pinned_preload()):
            return run(task, items, workers)

    return run_started_with


def _started_with(strategy: Strategy, method: str) -> Strategy:
    return replace(
        strategy,
        run=_pinning(strategy.run, method),
        name=variant_name(strategy.plain, strategy.persistent, method),
        summary=f"{strategy.summary}; workers started with {method} ({_HOW_STARTED[method]}), "
        "whatever the experiment's start_method",
        start_method=method,
        family=strategy.plain,
    )


_KEPT = tuple(_persistent(s) for s in _PER_BATCH if s.pool is not None)

#: Every strategy by name: the per-batch ones (a pool made and shut down inside the timer, as
#: the studies did), the persistent form of each that has a pool (config ``pool``), then each
#: process-pool strategy under each start method (config ``start_methods``), per batch and
#: persistent, method by method.
STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        *_PER_BATCH,
        *_KEPT,
        *(
            _started_with(s, method)
            for s in (*_PER_BATCH, *_KEPT)
            if s.pool == "processes"
            for method in START_METHOD_VARIANTS
        ),
    )
}
