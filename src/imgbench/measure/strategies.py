"""How the per-image work is spread: the strategy registry.

Every strategy returns the results in input order and the ``perf_counter`` time at which
the first result reached the caller. Pools are created and shut down inside ``run``: the
studies timed them that way, and a pool's start-up is part of what a user pays.
Adding a strategy is one entry in ``STRATEGIES``.

What a strategy reports beside its results, all gathered so as to cost next to nothing inside
the timer and read only after it:

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

import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from imgbench.errors import ImgbenchError, TaskError
from imgbench.measure import shared_memory
from imgbench.measure.start_methods import (
    LOKY,
    context,
    import_all,
    method_name,
    nothing,
    pinned_method,
    pinned_preload,
    pinned_start_method,
    worker_preload,
)
from imgbench.measure.tasks import Task


class WorkerDiedError(TaskError):
    """A worker process ended abruptly (killed, crashed, out of memory) with work pending."""


@dataclass
class Outcome:
    results: list[Any]
    #: perf_counter times at which the first and the last result reached the caller; after
    #: the last one, only the pool's shutdown remains.
    first_result_at: float
    last_result_at: float
    #: (start, end) perf_counter times of each item's work, in no particular order; empty
    #: where a strategy does not say (then the peak in flight is not known).
    spans: list[tuple[float, float]] = field(default_factory=list)
    #: Modules first imported inside the work calls (sorted, no duplicates).
    imported: list[str] = field(default_factory=list)
    #: How many of the worker processes that did this run's work existed before it began
    #: (a pool reused, not started); None where a strategy does not say (joblib does).
    workers_reused: int | None = None


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


# -- per-repetition instruments ------------------------------------------------------------


class Instruments:
    """When each pool worker started: made before the timer, drained after it.

    Threads append to a list; worker processes put into a ``SimpleQueue`` of the pinned
    context (a pipe written synchronously: nothing is left in flight once the pool has shut
    down).
    """

    def __init__(self) -> None:
        self.thread_starts: list[float] = []
        self.process_starts = context().SimpleQueue()

    def drain(self) -> list[float]:
        """Every worker's start time, sorted; the instruments are then used up."""
        if self in _instruments:
            _instruments.remove(self)
        starts = list(self.thread_starts)
        while not self.process_starts.empty():
            starts.append(self.process_starts.get())
        self.process_starts.close()
        return sorted(starts)


#: The runner's instruments for the repetition under way (at most one).
_instruments: list[Instruments] = []


def begin_repetition() -> Instruments:
    """Instruments for the next strategy run (untimed); ``drain`` them after it."""
    _instruments[:] = [Instruments()]
    return _instruments[0]


def _current() -> Instruments:
    # A strategy called directly (tests, other programs) gets fresh instruments that nobody
    # reads: never a shared queue that would fill up over many calls.
    return _instruments[0] if _instruments else Instruments()


def _note_thread_start(sink: list[float]) -> None:
    sink.append(time.perf_counter())


def _note_process_start(sink: Any, preload: Sequence[str] = ()) -> None:
    """A worker process's initializer: ``preload`` imported (``worker_preload``), then its
    start noted: the worker is ready for its first item."""
    import_all(preload)
    sink.put(time.perf_counter())


def _traced(work: Callable[[Any], Any], item: Any) -> tuple[Any, float, float, list[str]]:
    """``work(item)``, its start and end times and the modules it imported first.

    Cheap enough for every call: ``len(sys.modules)`` is compared; only when it grew are the
    new names listed (a dict keeps insertion order, so they are the last ones).
    """
    known = len(sys.modules)
    start = time.perf_counter()
    result = work(item)
    end = time.perf_counter()
    new = list(sys.modules)[known:] if len(sys.modules) > known else []
    return result, start, end, new


def _traced_chunk(work: Callable[[Any], Any], chunk: Sequence[Any]) -> tuple[list, list, list]:
    traced = [_traced(work, item) for item in chunk]
    return (
        [t[0] for t in traced],
        [(t[1], t[2]) for t in traced],
        [name for t in traced for name in t[3]],
    )


def _untrace(traced: Sequence[tuple], first: float, last: float) -> Outcome:
    return Outcome(
        [t[0] for t in traced],
        first,
        last,
        [(t[1], t[2]) for t in traced],
        sorted({name for t in traced for name in t[3]}),
    )


def _unchunk(parts: Sequence[tuple], first: float, last: float) -> Outcome:
    return Outcome(
        [r for part in parts for r in part[0]],
        first,
        last,
        [span for part in parts for span in part[1]],
        sorted({name for part in parts for name in part[2]}),
    )


def peak_in_flight(spans: Sequence[tuple[float, float]]) -> int | None:
    """The largest number of spans open at one instant (None without spans).

    A span that ends at the very time another starts does not overlap it.
    """
    if not spans:
        return None
    events = sorted([(end, -1) for _, end in spans] + [(start, 1) for start, _ in spans])
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


# -- strategies ----------------------------------------------------------------------------


def run_serial(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    traced: list[tuple] = []
    first = None
    for item in items:
        traced.append(_traced(task.work, item))
        if first is None:
            first = time.perf_counter()
    last = time.perf_counter()
    return _untrace(traced, first if first is not None else last, last)


@contextlib.contextmanager
def _shut_down_after(executor: Executor) -> Iterator[None]:
    """Shut the pool down when the block ends; a broken pool raises ``WorkerDiedError``
    saying how its worker died."""
    try:
        yield
    except BrokenProcessPool as exc:
        # The shutdown forgets the workers but joins them: their exit codes are then known.
        workers = _worker_processes(executor)
        executor.shutdown(wait=True, cancel_futures=True)
        raise WorkerDiedError(_death_cause(workers)) from exc
    finally:
        # On a failure, queued work is cancelled so that the cell ends promptly. A kept pool
        # (persistent strategies) outlives the batch: ``kept_pool`` shuts it down.
        if executor not in _kept.values():
            shut_down(executor)


#: How often a pool's shutdown looks for a worker that died meanwhile (seconds): the wait
#: returns at once when every worker has exited, so this costs a timed shutdown nothing.
SHUTDOWN_POLL_S = 0.05


def shut_down(executor: Executor) -> None:
    """Shut a pool down, queued work cancelled; ``WorkerDiedError`` if a process worker
    was killed by a signal meanwhile.

    CPython's shutdown joins the workers with no deadline. A worker killed while it holds
    the call queue's lock (reading the stop sentinel) leaves the others blocked on that
    lock forever, and the shutdown with them (seen about once in 40 killed-worker runs of
    processes_chunked). So the workers are watched here: if one dies abruptly, the others
    are terminated, as CPython does for a pool that breaks while working, and the death is
    reported: a repetition whose pool lost a worker is not a clean measurement, even when
    every result had arrived.
    """
    workers = _worker_processes(executor)
    if not workers:
        executor.shutdown(wait=True, cancel_futures=True)
        return
    manager = getattr(executor, "_executor_manager_thread", None)
    executor.shutdown(wait=False, cancel_futures=True)
    died = False
    while alive := [p for p in workers.values() if p.exitcode is None]:
        multiprocessing.connection.wait([p.sentinel for p in alive], SHUTDOWN_POLL_S)
        # Killed by a signal (SIGKILL, the OOM killer, a crash). An exit status of its own is
        # a worker that read its sentinel and ended: libvips' teardown exits 255, its work done.
        if any(p.exitcode is not None and p.exitcode < 0 for p in workers.values()):
            died = True
            for p in workers.values():
                if p.exitcode is None:
                    p.terminate()
            for p in workers.values():
                p.join()
    if manager is not None:
        manager.join()
    if died:
        raise WorkerDiedError(_death_cause(workers))


class _Arrivals:
    """When the first and the last result reached the caller (``perf_counter``)."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None

    def note(self) -> None:
        self.last = time.perf_counter()
        if self.first is None:
            self.first = self.last

    def span(self) -> tuple[float, float]:
        if self.first is None or self.last is None:  # no result at all
            now = time.perf_counter()
            return now, now
        return self.first, self.last


def _run_on_pool(
    executor: Executor, calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]
) -> tuple[list[Any], float, float]:
    """Submit every call, collect the results in submission order, shut the pool down.

    Returns the results and the times the first and the last one arrived.
    """
    results: list[Any] = [None] * len(calls)
    arrivals = _Arrivals()
    with _shut_down_after(executor):
        futures = {executor.submit(fn, *args): i for i, (fn, args) in enumerate(calls)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            arrivals.note()
    return results, *arrivals.span()


def _run_on_pool_paced(
    executor: Executor,
    calls: Iterable[tuple[Callable[..., Any], tuple[Any, ...]]],
    count: int,
    ahead: int,
    receive: Callable[[int, Any], Any],
) -> tuple[list[Any], float, float]:
    """``_run_on_pool`` for ``count`` calls made one at a time from ``calls``, at most
    ``ahead`` of them submitted and not yet collected; each result is ``receive(index, it)``.

    Making a call may cost (``processes_shm`` fills an item's input segment), and what it
    makes lives until its result is back: pacing the submissions bounds how much of it
    exists at once (segments in ``/dev/shm``), while ``ahead`` above the workers keeps every
    worker fed.
    """
    results: list[Any] = [None] * count
    arrivals = _Arrivals()
    made = enumerate(calls)
    pending: dict[Future, int] = {}

    def submit(n: int) -> None:
        for index, (fn, args) in islice(made, n):
            pending[executor.submit(fn, *args)] = index

    with _shut_down_after(executor):
        submit(ahead)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                index = pending.pop(future)
                results[index] = receive(index, future.result())
                arrivals.note()
            submit(len(finished))
    return results, *arrivals.span()


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


def _new_thread_pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=workers,
        initializer=_note_thread_start,
        initargs=(_current().thread_starts,),
    )


def _new_process_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context(),
        initializer=_note_process_start,
        initargs=(_current().process_starts, worker_preload(pinned_preload())),
    )


_NEW_POOL: dict[str, Callable[[int], Executor]] = {
    "threads": _new_thread_pool,
    "processes": _new_process_pool,
}
#: The pool kept for the cell under way (``kept_pool``): its kind, size and executor.
_kept: dict[tuple[str, int], Executor] = {}


def _thread_pool(workers: int) -> Executor:
    return _kept.get(("threads", workers)) or _new_thread_pool(workers)


def _process_pool(workers: int) -> Executor:
    return _kept.get(("processes", workers)) or _new_process_pool(workers)


def _warm_process(work: Callable[[Any], Any], seconds: float) -> int:
    """Run in a worker process while the pool is warmed: unpickling ``work`` imports its
    module (spawned and forkserver workers); the nap keeps the worker busy so that the pool
    starts another for the next call. Returns the worker's pid."""
    time.sleep(seconds)
    return os.getpid()


def _warm_thread(work: Callable[[Any], Any], seconds: float) -> int:
    """``_warm_process`` for a thread pool: returns the thread's ident."""
    time.sleep(seconds)
    return threading.get_ident()


_WARM = {"threads": _warm_thread, "processes": _warm_process}


#: How long each warming call naps, and how many rounds of calls a pool gets to start all
#: of its workers.
WARM_NAP_S = 0.05
WARM_ROUNDS = 20


def forks(strategy: Strategy, start_method: str | None) -> bool:
    """Whether ``strategy``'s workers are forked from the cell's process, with its state:
    a multiprocessing pool started with fork (its own method, else ``start_method``)."""
    if strategy.pool != "processes":
        return False
    method = strategy.start_method or method_name(start_method)
    return (method or multiprocessing.get_context().get_start_method()) == "fork"


def forkserver_pid() -> int | None:
    """The forkserver's process, where one runs: the parent of every worker a forkserver
    starts, which reaps them, so their CPU and I/O reach its counts, never this process's."""
    from multiprocessing import forkserver

    return getattr(forkserver._forkserver, "_forkserver_pid", None)


def kept_worker_pids() -> list[int]:
    """The worker processes of the kept pool, if one is kept and runs processes."""
    return sorted(pid for executor in _kept.values() for pid in _worker_processes(executor))


@contextlib.contextmanager
def kept_pool(strategy: Strategy, task: Task, workers: int) -> Iterator[float]:
    """Make ``strategy``'s pool and warm it (every worker started, the task's module loaded
    in each), untimed; every run of a pool strategy inside the block then uses it, and it is
    shut down when the block ends. Yields the seconds making and warming took.

    A no-op (0 s) for strategies that are not persistent.
    """
    if not strategy.persistent or strategy.pool is None:
        yield 0.0
        return
    if strategy.pool == "processes":
        # processes_shm's resource tracker must run before any worker starts (shared_memory).
        shared_memory.prepare_parent()
    start = time.perf_counter()
    executor = _NEW_POOL[strategy.pool](workers)
    try:
        seen: set[int] = set()
        warm = _WARM[strategy.pool]
        rounds = 0
        while rounds < WARM_ROUNDS:
            rounds += 1
            futures = [executor.submit(warm, task.work, WARM_NAP_S) for _ in range(workers)]
            seen.update(f.result() for f in futures)
            if len(seen) >= workers:
                break
        else:
            raise ImgbenchError(
                f"{strategy.name}: the pool started only {len(seen)} of {workers} workers"
            )
        # What a service pays to have the pool ready: the naps (one per round, the workers
        # nap side by side) are this warming's own device, not part of that cost.
        warmed = max(0.0, time.perf_counter() - start - rounds * WARM_NAP_S)
        _kept[(strategy.pool, workers)] = executor
        yield warmed
    finally:
        _kept.pop((strategy.pool, workers), None)
        shut_down(executor)


def _run_per_item(executor: Executor, task: Task, items: Sequence[Any]) -> Outcome:
    return _untrace(*_run_on_pool(executor, [(_traced, (task.work, item)) for item in items]))


def _run_chunked(executor: Executor, task: Task, items: Sequence[Any], workers: int) -> Outcome:
    chunks = contiguous_chunks(items, workers)
    return _unchunk(*_run_on_pool(executor, [(_traced_chunk, (task.work, c)) for c in chunks]))


def run_threads(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    return _run_per_item(_thread_pool(workers), task, items)


def run_processes(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    return _run_per_item(_process_pool(workers), task, items)


#: ``processes_shm`` keeps at most this many items per worker submitted and not yet collected.
SHM_AHEAD_PER_WORKER = 2


def _traced_shared(
    work: Callable[[Any], Any], item: Any, result_slot: shared_memory.SlotRef
) -> tuple[Any, float, float, list[str]]:
    """``_traced`` in a worker of ``processes_shm``: the item's arrays are mapped from their
    segments, an array result goes into its slot and its handle is returned.

    The modules listed are those first imported anywhere in the call, the sharing included.
    """
    known = len(sys.modules)

    def traced_and_shared(local: Any) -> tuple[Any, float, float]:
        result, start, end, _ = _traced(work, local)
        # Shared before the input slot is refilled: a result may be a view of an input.
        return shared_memory.share_result(result, result_slot), start, end

    result, start, end = shared_memory.call_with_arrays(traced_and_shared, item)
    new = list(sys.modules)[known:] if len(sys.modules) > known else []
    return result, start, end, new


def run_processes_shm(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    # The pool is created first, as in run_processes; the tracker must run before it forks.
    shared_memory.prepare_parent()
    executor = _process_pool(workers)
    ahead = SHM_AHEAD_PER_WORKER * workers
    # One slot per item in flight: its segments are made once and reused by later items.
    with shared_memory.Batch(len(items), slots=ahead) as batch:
        # A generator: each item's input slot is filled only when it is submitted.
        calls = (
            (_traced_shared, (task.work, batch.send(i, item), batch.result_slot(i)))
            for i, item in enumerate(items)
        )
        traced, first, last = _run_on_pool_paced(
            executor,
            calls,
            len(items),
            ahead,
            lambda i, t: (batch.receive(i, t[0]), *t[1:]),
        )
    return _untrace(traced, first, last)


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
    return _run_chunked(_process_pool(workers), task, items, workers)


def run_threads_chunked(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    return _run_chunked(_thread_pool(workers), task, items, workers)


def run_vectorized(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    if task.batch is None:
        raise ValueError(f"task {task.name} has no whole-batch form for the vectorized strategy")
    results, start, done, imported = _traced(task.batch, items)
    # One operation yields every result at once: one item of work in flight, the batch.
    return Outcome(list(results), done, done, [(start, done)], sorted(set(imported)))


def run_asyncio(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    # Imported here, not at the top: only asyncio cells need it (30 ms of every job's
    # start-up); the cell's untimed priming run has imported it before the timer.
    import asyncio

    starts = _current().thread_starts

    async def main() -> Outcome:
        # aiofiles and asyncio.to_thread run their blocking calls on the loop's default
        # executor, whose own size would be min(32, cpu_count + 4): 6 threads on 2 cores, so
        # that "16 workers" would run 6 at once. asyncio.run shuts it down before it returns,
        # inside the timer, as the pools are.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(
                max_workers=workers, initializer=_note_thread_start, initargs=(starts,)
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


# -- joblib --------------------------------------------------------------------------------

#: In a worker of joblib's pool: when its initializer had readied it (``_ready_loky_worker``).
_loky_worker_ready: list[float] = []


def _ready_loky_worker(preload: Sequence[str]) -> None:
    """A loky worker's initializer: what a first item would import, imported (loky starts
    every worker as a new interpreter); the time it was ready kept for its results."""
    import_all(preload)
    _loky_worker_ready[:] = [time.perf_counter()]


def _traced_loky(work: Callable[[Any], Any], index: int, item: Any) -> tuple:
    """``_traced`` in a joblib worker, with the item's index (results arrive in any order),
    the worker's pid and when it was ready (NaN: joblib ran the item in the caller)."""
    ready = _loky_worker_ready[0] if _loky_worker_ready else math.nan
    return (index, *_traced(work, item), os.getpid(), ready)


def _loky_initargs() -> tuple:
    return (worker_preload(pinned_preload()),)


def _loky_parallel(workers: int, initargs: tuple) -> Any:
    """The ``Parallel`` every joblib run makes: the loky backend and joblib's defaults (auto
    batching, arrays over 1 MB memory-mapped), results as they complete.

    joblib reuses its executor only for the same arguments, the initializer's included: a
    kept pool and the runs that use it pass the same ``initargs``.
    """
    from joblib import Parallel

    return Parallel(
        n_jobs=workers,
        backend="loky",
        return_as="generator_unordered",
        initializer=_ready_loky_worker,
        initargs=initargs,
    )


def _loky_executor() -> Any:
    """loky's reusable executor (one per process, private to joblib), or None."""
    from joblib.externals.loky import reusable_executor

    return getattr(reusable_executor, "_executor", None)


def _shut_down_loky() -> None:
    executor = _loky_executor()
    if executor is not None:
        # Joins the workers (reaped: their CPU is the repetition's) and removes the
        # temporary folder of memory-mapped arrays.
        executor.terminate(kill_workers=False)


class _LokyPool:
    """joblib's loky executor as ``kept_pool`` keeps a pool: made by the very ``Parallel`` of
    ``run_joblib`` (the same ``initargs``, frozen here), so that every run reuses it.

    With one worker joblib runs the items in the caller (its sequential backend): there is
    no executor, and a call is made here.
    """

    def __init__(self, workers: int) -> None:
        from joblib import delayed

        self.initargs = _loky_initargs()
        list(_loky_parallel(workers, self.initargs)(delayed(nothing)() for _ in range(workers)))
        self.executor = _loky_executor() if workers > 1 else None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self.executor is not None:
            return self.executor.submit(fn, *args)
        future: Future = Future()
        future.set_result(fn(*args))
        return future

    @property
    def _processes(self) -> dict:
        return dict(getattr(self.executor, "_processes", None) or {})

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        if self.executor is not None:
            # Joined, not killed, even on a failure: nothing of the kept pool is left behind.
            self.executor.terminate(kill_workers=False)


_NEW_POOL["joblib"] = _LokyPool
_WARM["joblib"] = _warm_process


def run_joblib(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    """``Parallel(n_jobs=workers, backend="loky")`` over the items, results in input order.

    Per batch, loky's executor is shut down before returning, inside the timer, as the
    other per-batch pools are: loky would otherwise keep its workers warm for the next call.
    Only a kept pool (``joblib_persistent``) outlives the run.
    """
    from joblib import delayed
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    kept = _kept.get(("joblib", workers))
    begun = time.perf_counter()
    traced: list[Any] = [None] * len(items)
    ready: dict[int, float] = {}
    arrivals = _Arrivals()
    calls = (delayed(_traced_loky)(task.work, i, item) for i, item in enumerate(items))
    initargs = kept.initargs if isinstance(kept, _LokyPool) else _loky_initargs()
    try:
        for index, *one, pid, ready_at in _loky_parallel(workers, initargs)(calls):
            traced[index] = one
            ready[pid] = ready_at
            arrivals.note()
    except TerminatedWorkerError as exc:
        raise WorkerDiedError(f"a joblib worker process died abruptly ({exc})") from exc
    finally:
        if kept is None:
            _shut_down_loky()
    outcome = _untrace(traced, *arrivals.span())
    workers_used = {pid: at for pid, at in ready.items() if pid != os.getpid()}
    if workers_used:
        started = [at for at in workers_used.values() if at >= begun]
        # Started inside this run: the pool's start-up, as the instruments' other workers.
        _current().thread_starts.extend(started)
        outcome.workers_reused = len(workers_used) - len(started)
    return outcome


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
