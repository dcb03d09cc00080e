"""The pools strategies run on: made per batch or kept for a cell (``kept_pool``), and shut
down so that a worker's death is reported, never waited for (``shut_down``).

A pool is made with the pinned start method (``imgbench.measure.start_methods``), its
workers noting when they started (``imgbench.measure.instruments``). ``NEW_POOL`` and
``WARM`` say, per kind of pool ("threads", "processes", and joblib's, which registers
itself), how to make one and how to keep a worker busy while the pool is warmed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
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
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from imgbench.errors import ImgbenchError, TaskError
from imgbench.measure import shared_memory
from imgbench.measure.instruments import (
    Arrivals,
    current,
    note_process_start,
    note_thread_start,
)
from imgbench.measure.start_methods import context, pinned_preload, worker_preload

if TYPE_CHECKING:
    from imgbench.measure.tasks import Task


class PoolSpec(Protocol):
    """What ``kept_pool`` reads of a strategy (``imgbench.measure.strategies.Strategy``,
    which builds on this module)."""

    name: str
    pool: str | None
    persistent: bool


class WorkerDiedError(TaskError):
    """A worker process ended abruptly (killed, crashed, out of memory) with work pending."""


@contextlib.contextmanager
def shut_down_after(executor: Executor) -> Iterator[None]:
    """Shut the pool down when the block ends; a broken pool raises ``WorkerDiedError``
    saying how its worker died."""
    try:
        yield
    except BrokenProcessPool as exc:
        # The shutdown forgets the workers but joins them: their exit codes are then known.
        workers = worker_processes(executor)
        executor.shutdown(wait=True, cancel_futures=True)
        raise WorkerDiedError(death_cause(workers)) from exc
    finally:
        # On a failure, queued work is cancelled so that the cell ends promptly. A kept pool
        # (persistent strategies) outlives the batch: ``kept_pool`` shuts it down.
        if executor not in kept_pools.values():
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
    workers = worker_processes(executor)
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
        raise WorkerDiedError(death_cause(workers))


def run_on_pool(
    executor: Executor, calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]
) -> tuple[list[Any], float, float]:
    """Submit every call, collect the results in submission order, shut the pool down.

    Returns the results and the times the first and the last one arrived.
    """
    results: list[Any] = [None] * len(calls)
    arrivals = Arrivals()
    with shut_down_after(executor):
        futures = {executor.submit(fn, *args): i for i, (fn, args) in enumerate(calls)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            arrivals.note()
    return results, *arrivals.span()


def run_on_pool_paced(
    executor: Executor,
    calls: Iterable[tuple[Callable[..., Any], tuple[Any, ...]]],
    count: int,
    ahead: int,
    receive: Callable[[int, Any], Any],
) -> tuple[list[Any], float, float]:
    """``run_on_pool`` for ``count`` calls made one at a time from ``calls``, at most
    ``ahead`` of them submitted and not yet collected; each result is ``receive(index, it)``.

    Making a call may cost (``processes_shm`` fills an item's input segment), and what it
    makes lives until its result is back: pacing the submissions bounds how much of it
    exists at once (segments in ``/dev/shm``), while ``ahead`` above the workers keeps every
    worker fed.
    """
    results: list[Any] = [None] * count
    arrivals = Arrivals()
    made = enumerate(calls)
    pending: dict[Future, int] = {}

    def submit(n: int) -> None:
        for index, (fn, args) in islice(made, n):
            pending[executor.submit(fn, *args)] = index

    with shut_down_after(executor):
        submit(ahead)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                index = pending.pop(future)
                results[index] = receive(index, future.result())
                arrivals.note()
            submit(len(finished))
    return results, *arrivals.span()


def worker_processes(executor: Executor) -> dict:
    """The pool's worker processes by pid (a private attribute: {} where it is missing)."""
    return dict(getattr(executor, "_processes", None) or {})


def death_cause(workers: dict) -> str:
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


def new_thread_pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=workers,
        initializer=note_thread_start,
        initargs=(current().thread_starts,),
    )


def new_process_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context(),
        initializer=note_process_start,
        initargs=(current().process_starts, worker_preload(pinned_preload())),
    )


NEW_POOL: dict[str, Callable[[int], Executor]] = {
    "threads": new_thread_pool,
    "processes": new_process_pool,
}
#: The pool kept for the cell under way (``kept_pool``): its kind, size and executor.
kept_pools: dict[tuple[str, int], Executor] = {}


def thread_pool(workers: int) -> Executor:
    return kept_pools.get(("threads", workers)) or new_thread_pool(workers)


def process_pool(workers: int) -> Executor:
    return kept_pools.get(("processes", workers)) or new_process_pool(workers)


def warm_process(work: Callable[[Any], Any], seconds: float) -> int:
    """Run in a worker process while the pool is warmed: unpickling ``work`` imports its
    module (spawned and forkserver workers); the nap keeps the worker busy so that the pool
    starts another for the next call. Returns the worker's pid."""
    time.sleep(seconds)
    return os.getpid()


def warm_thread(work: Callable[[Any], Any], seconds: float) -> int:
    """``warm_process`` for a thread pool: returns the thread's ident."""
    time.sleep(seconds)
    return threading.get_ident()


WARM = {"threads": warm_thread, "processes": warm_process}


#: How long each warming call naps, and how many rounds of calls a pool gets to start all
#: of its workers.
WARM_NAP_S = 0.05
WARM_ROUNDS = 20


def forkserver_pid() -> int | None:
    """The forkserver's process, where one runs: the parent of every worker a forkserver
    starts, which reaps them, so their CPU and I/O reach its counts, never this process's."""
    from multiprocessing import forkserver

    return getattr(forkserver._forkserver, "_forkserver_pid", None)


def kept_worker_pids() -> list[int]:
    """The worker processes of the kept pool, if one is kept and runs processes."""
    return sorted(pid for executor in kept_pools.values() for pid in worker_processes(executor))


@contextlib.contextmanager
def kept_pool(strategy: PoolSpec, task: Task, workers: int) -> Iterator[float]:
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
    executor = NEW_POOL[strategy.pool](workers)
    try:
        seen: set[int] = set()
        warm = WARM[strategy.pool]
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
        kept_pools[(strategy.pool, workers)] = executor
        yield warmed
    finally:
        kept_pools.pop((strategy.pool, workers), None)
        shut_down(executor)
