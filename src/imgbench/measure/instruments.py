"""What a strategy run reports beside its results, gathered at next to no cost inside the
timer and read after it: ``Outcome`` (the results, when the first and last arrived, each
item's span of work, the modules imported inside the work) and ``Instruments`` (when each
pool worker started, noted by the executors' initializers).

A work call is wrapped in ``call_traced`` (or ``call_traced_chunk``) wherever it runs, a
worker process included, and its traces turned into an ``Outcome`` by ``untrace``
(``unchunk``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from imgbench.measure.start_methods import context, import_all


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


def current() -> Instruments:
    # A strategy called directly (tests, other programs) gets fresh instruments that nobody
    # reads: never a shared queue that would fill up over many calls.
    return _instruments[0] if _instruments else Instruments()


def note_thread_start(sink: list[float]) -> None:
    sink.append(time.perf_counter())


def note_process_start(sink: Any, preload: Sequence[str] = ()) -> None:
    """A worker process's initializer: ``preload`` imported (``worker_preload``), then its
    start noted: the worker is ready for its first item."""
    import_all(preload)
    sink.put(time.perf_counter())


def call_traced(work: Callable[[Any], Any], item: Any) -> tuple[Any, float, float, list[str]]:
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


def call_traced_chunk(work: Callable[[Any], Any], chunk: Sequence[Any]) -> tuple[list, list, list]:
    traced = [call_traced(work, item) for item in chunk]
    return (
        [t[0] for t in traced],
        [(t[1], t[2]) for t in traced],
        [name for t in traced for name in t[3]],
    )


def untrace(traced: Sequence[tuple], first: float, last: float) -> Outcome:
    return Outcome(
        [t[0] for t in traced],
        first,
        last,
        [(t[1], t[2]) for t in traced],
        sorted({name for t in traced for name in t[3]}),
    )


def unchunk(parts: Sequence[tuple], first: float, last: float) -> Outcome:
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


class Arrivals:
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
