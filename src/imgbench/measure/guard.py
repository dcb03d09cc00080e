"""The guard of a cell that owns its process: a time limit, and a clean stop on a signal.

A cell given a time limit (``RunOptions.timeout_s``, as ``imgbench run-cell`` always is) has
its process to itself: past the limit, or on SIGINT, SIGTERM or SIGHUP, the process kills
its children, removes its scratch area and the shared-memory segments of a batch under way
(``processes_shm``), and exits at once, because a hung worker thread cannot be stopped any
other way (and would block the interpreter's exit, which joins the executors' threads). A
cell stopped so writes no result.
"""

from __future__ import annotations

import contextlib
import faulthandler
import math
import os
import signal
import sys
import threading
import time

import psutil

from imgbench.errors import ImgbenchError
from imgbench.measure.shared_memory import release_active_batches
from imgbench.measure.storage import remove_active_areas

#: Exit status of a cell stopped at its time limit (the convention of timeout(1)).
TIMEOUT_STATUS = 124
#: Signals that stop a guarded cell; its exit status is then 128 + the signal's number.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: Seconds past the limit after which faulthandler ends the process even if the guard's
#: thread cannot run (C code that never releases the GIL).
BACKSTOP_S = 30.0
#: Sent by the guard's watchdog to the main thread, whose handler then waits for the end.
FREEZE_SIGNAL = getattr(signal, "SIGUSR2", None)
#: Seconds the watchdog waits for the main thread to freeze before it kills the children.
FREEZE_WAIT_S = 2.0


def kill_children(timeout_s: float = 5.0) -> None:
    """SIGKILL every descendant process (pool workers, servers) and wait until they are dead.

    They are not reaped: their owners (a process pool) reap them and would wait forever
    for a child that someone else reaped. A zombie holds nothing but its exit status.
    """
    me = psutil.Process()
    # A pool may be starting workers while we kill: look again until none are left.
    for _ in range(5):
        children = [c for c in me.children(recursive=True) if _running(c)]
        if not children:
            return
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        deadline = time.monotonic() + timeout_s
        while any(_running(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.01)


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class CellGuard:
    """Ends the process when its cell runs past its time limit or is told to stop.

    A watchdog thread waits for the deadline or a stop signal. Then the main thread is
    frozen where it is (so that it starts no new worker processes), the child processes
    are killed, the scratch areas and shared-memory segments removed, one line printed naming
    the cell and the cause, and ``os._exit`` called: no ``finally`` block or atexit join can
    hang it. The result is written only if the cell reaches ``finishing()`` first.
    """

    def __init__(self, name: str, timeout_s: float) -> None:
        if not timeout_s > 0:
            raise ImgbenchError(f"timeout must be a number of seconds > 0, not {timeout_s!r}")
        self.name = name
        self.timeout_s = timeout_s
        self._pid = os.getpid()
        # Reentrant: a signal handler runs in the main thread, perhaps while it holds it.
        self._lock = threading.RLock()
        self._state = "running"  # then "finishing" (writing the result), "done" or "stopping"
        self._wake = threading.Event()
        self._frozen = threading.Event()
        self._signal: int | None = None
        self._previous: dict[int, object] = {}
        self._thread = threading.Thread(target=self._watch, name="imgbench-guard", daemon=True)

    def __enter__(self) -> CellGuard:
        self._deadline = time.monotonic() + self.timeout_s
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            if FREEZE_SIGNAL is not None:
                self._previous[FREEZE_SIGNAL] = signal.signal(FREEZE_SIGNAL, self._on_freeze)
        if math.isfinite(self.timeout_s):
            faulthandler.dump_traceback_later(self.timeout_s + BACKSTOP_S, exit=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            stopping = self._state == "stopping"
            if not stopping:
                self._state = "done"
        if stopping:
            self._freeze()
        self._wake.set()
        if math.isfinite(self.timeout_s):
            faulthandler.cancel_dump_traceback_later()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._thread.join()

    def finishing(self) -> None:
        """Called before the result is written: from here on the cell is not stopped."""
        with self._lock:
            stopping = self._state == "stopping"
            if not stopping:
                self._state = "finishing"
        if stopping:
            self._freeze()

    def _freeze(self) -> None:
        # The watchdog is ending the process: this thread must do nothing more.
        self._frozen.set()
        while True:
            time.sleep(60)

    def _on_signal(self, signum: int, frame: object) -> None:
        if os.getpid() != self._pid:
            # A forked pool worker inherits this handler; it must die of the signal, as its
            # pool expects (a broken pool terminates its workers with SIGTERM).
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        with self._lock:
            if self._state in ("finishing", "done"):
                return  # the cell is over: it ends as it would have
            if self._state == "running":
                self._state = "stopping"
                self._signal = signum
        self._wake.set()
        self._freeze()

    def _on_freeze(self, signum: int, frame: object) -> None:
        if os.getpid() == self._pid:
            self._freeze()

    def _watch(self) -> None:
        remaining = self._deadline - time.monotonic()
        self._wake.wait(remaining if math.isfinite(remaining) else None)
        # Not for long: a signal handler may have frozen the main thread while it held the
        # lock (it is reentrant), and then the state is already "stopping".
        locked = self._lock.acquire(timeout=1.0)
        try:
            if self._state not in ("running", "stopping"):
                return
            self._state = "stopping"
        finally:
            if locked:
                self._lock.release()
        if self._signal is not None:
            name = signal.Signals(self._signal).name
            message = f"{self.name}: stopped by {name}; no result written"
            status = 128 + self._signal
        else:
            message = (
                f"{self.name}: exceeded its time limit of {self.timeout_s:g} s (timeout_s); "
                "stopped, its worker processes killed, no result written"
            )
            status = TIMEOUT_STATUS
        try:
            if self._signal is None:
                print("imgbench: where each thread was at the time limit:", file=sys.stderr)
                sys.stderr.flush()
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                if FREEZE_SIGNAL is not None and FREEZE_SIGNAL in self._previous:
                    signal.pthread_kill(threading.main_thread().ident, FREEZE_SIGNAL)
            # Main may be stuck in C code and never freeze: then it cannot start workers
            # either, and waiting longer is pointless.
            self._frozen.wait(FREEZE_WAIT_S if self._previous else 0)
            kill_children()
            remove_active_areas()
            # After the workers are dead: none of them can make a segment any more.
            release_active_batches()
        finally:
            try:
                print(f"imgbench: error: {message}", file=sys.stderr, flush=True)
                sys.stdout.flush()
            finally:
                os._exit(status)
