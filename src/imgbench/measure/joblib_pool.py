"""joblib's strategies: ``joblib.Parallel(backend="loky")`` over the items, as scientific
Python users write it (``run_joblib``), and loky's executor kept for a cell as
``imgbench.measure.pools`` keeps a pool (``LokyPool``, registered there as the "joblib"
kind). loky starts every worker as a new interpreter: each imports what a first item would
in its initializer, inside its pool's start-up, and the runs record ``LOKY`` as their start
method (``imgbench.measure.start_methods``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from imgbench.measure.instruments import Arrivals, Outcome, call_traced, current, untrace
from imgbench.measure.pools import NEW_POOL, WARM, WorkerDiedError, kept_pools, warm_process
from imgbench.measure.start_methods import import_all, nothing, pinned_preload, worker_preload
from imgbench.measure.tasks import Task

#: In a worker of joblib's pool: when its initializer had readied it (``_ready_loky_worker``).
_loky_worker_ready: list[float] = []


def _ready_loky_worker(preload: Sequence[str]) -> None:
    """A loky worker's initializer: what a first item would import, imported (loky starts
    every worker as a new interpreter); the time it was ready kept for its results."""
    import_all(preload)
    _loky_worker_ready[:] = [time.perf_counter()]


def _traced_loky(work: Callable[[Any], Any], index: int, item: Any) -> tuple:
    """``call_traced`` in a joblib worker, with the item's index (results arrive in any order),
    the worker's pid and when it was ready (NaN: joblib ran the item in the caller)."""
    ready = _loky_worker_ready[0] if _loky_worker_ready else math.nan
    return (index, *call_traced(work, item), os.getpid(), ready)


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


class LokyPool:
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


NEW_POOL["joblib"] = LokyPool
WARM["joblib"] = warm_process


def run_joblib(task: Task, items: Sequence[Any], workers: int) -> Outcome:
    """``Parallel(n_jobs=workers, backend="loky")`` over the items, results in input order.

    Per batch, loky's executor is shut down before returning, inside the timer, as the
    other per-batch pools are: loky would otherwise keep its workers warm for the next call.
    Only a kept pool (``joblib_persistent``) outlives the run.
    """
    from joblib import delayed
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    kept = kept_pools.get(("joblib", workers))
    begun = time.perf_counter()
    traced: list[Any] = [None] * len(items)
    ready: dict[int, float] = {}
    arrivals = Arrivals()
    calls = (delayed(_traced_loky)(task.work, i, item) for i, item in enumerate(items))
    initargs = kept.initargs if isinstance(kept, LokyPool) else _loky_initargs()
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
    outcome = untrace(traced, *arrivals.span())
    workers_used = {pid: at for pid, at in ready.items() if pid != os.getpid()}
    if workers_used:
        started = [at for at in workers_used.values() if at >= begun]
        # Started inside this run: the pool's start-up, as the instruments' other workers.
        current().thread_starts.extend(started)
        outcome.workers_reused = len(workers_used) - len(started)
    return outcome
