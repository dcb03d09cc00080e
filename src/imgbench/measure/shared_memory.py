"""Pixel arrays between a process pool's parent and its workers through POSIX shared memory
(``multiprocessing.shared_memory``), so that they never go through the pickle.

A *segment* holds one array; what crosses the pipe instead is its ``ArrayHandle`` (name,
shape, dtype: about a hundred bytes pickled). Two kinds, one per direction:

- an *input*, an array an item holds (the saving tasks' ``(array, path, durability)``): the
  parent fills it (``Batch.send``, inside the timer: that copy is the strategy's own cost);
  the worker maps it without copying (``call_with_arrays``);
- a *result*, an array the work returned (decode, greyscale): the worker copies it into the
  segment the parent named with the item (``share_result``); the parent copies the pixels out
  as the result arrives (``Batch.receive``).

Everything else (paths, bytes, numbers) travels as it always does.

**Slots, not a segment per item.** A batch has one *slot* per item in flight (the caller paces
its submissions: ``strategies.SHM_AHEAD_PER_WORKER`` per worker), and an item takes a free
slot when it is sent and gives it back when its result is received. A slot's segments are
made on first use and then reused, each process keeping its mapping open for the batch. A new
segment per item made the kernel create, fault in (in the worker and again in the parent),
zero and free every page of every array: on the 2-core VM this was written on a minor fault
costs about 14 us, 900 of them per 1280x960 RGB image in each process, more than the decode
itself (7 ms). A reused slot's pages are faulted once per process per batch. An array larger
than its slot's segment gets a new segment (the next *generation* of that slot, its name
given by the parent with the item), and the old one is unlinked.

**Always released.** The parent names every segment before any exists: this process's pid, a
random token per batch, the slot, ``r`` (result) or ``i`` and the position in the item
(input), and the generation. Leaving the batch (success, a failed task, a worker killed)
unlinks every segment of the batch, including a next generation a worker may have made for an
item whose result never came back; the pool has been shut down and its workers joined before,
so none is made afterwards. A cell stopped by its guard, which ends the process with
``os._exit``, does the same through ``release_active_batches``. Whoever died, nothing of the
batch is left in ``/dev/shm``. A worker's mappings of a batch's segments are closed when it
first sees a segment of another batch (a kept pool) or when it exits (a per-batch pool): an
unlinked segment's memory is returned when its last mapping closes.

**The resource tracker.** Python 3.13 takes ``track=False``: the tracker is never told, and the
parent's own release is the only cleanup. Python 3.11 and 3.12 register every segment a process
creates *or attaches* with the tracker, which at its end unlinks what is still registered and
warns about it as "leaked". There the tracker is one process shared by the parent and its
workers: the parent starts it before the pool (``prepare_parent``), forked workers inherit it,
spawned and forkserver workers are handed it. Every registration (the creator's, each
attacher's: the tracker keeps a set) is then balanced by the one unregistration the parent's
unlink sends, so nothing is reported; and if the parent itself dies hard, the tracker unlinks
what is left.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
from collections.abc import Callable
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from typing import Any, NamedTuple

import numpy as np

#: Segment names start so. Short, because macOS allows 31 characters in a name: the prefix,
#: a pid, a 6-digit token and an index fit.
NAME_PREFIX = "imgshm-"
#: Where Linux keeps the segments: a tmpfs, each segment a file named as the segment.
SHM_DIR = "/dev/shm"
#: Python 3.13's ``track=False``; before it, see the module's docstring.
_UNTRACKED: dict[str, bool] = {"track": False} if sys.version_info >= (3, 13) else {}


class ArrayHandle(NamedTuple):
    """What crosses the pipe for an array: the segment's name, the array's shape and dtype
    (``numpy.dtype.str``, e.g. ``"|u1"``). The array's bytes are the segment's first ones."""

    name: str
    shape: tuple[int, ...]
    dtype: str


def _segment(name: str, create: bool = False, size: int = 0) -> SharedMemory:
    return SharedMemory(name, create, size, **_UNTRACKED)


def prepare_parent() -> None:
    """Call in the parent before the pool starts its workers: on Python 3.11 and 3.12, starts
    the resource tracker they will share (a no-op once it runs), see the module's docstring.
    """
    if not _UNTRACKED:
        resource_tracker.ensure_running()


def segment_names(prefix: str = NAME_PREFIX) -> list[str]:
    """The segments in ``/dev/shm`` whose names start with ``prefix`` (Linux; elsewhere [])."""
    try:
        return sorted(n for n in os.listdir(SHM_DIR) if n.startswith(prefix))
    except OSError:
        return []


def _check_room(size: int, name: str) -> None:
    # A tmpfs that is full does not refuse the segment: its size is only reserved, and the
    # first write to a page that cannot be had kills the writer with SIGBUS (a container's
    # /dev/shm is 64 MB by default). A full one is refused here instead, with its name.
    try:
        stat = os.statvfs(SHM_DIR)
    except OSError:
        return
    free = stat.f_bavail * stat.f_frsize
    if free < size:
        raise OSError(
            errno.ENOSPC,
            f"{SHM_DIR} has {free / 1e6:.1f} MB free, segment {name} needs {size / 1e6:.1f} MB",
        )


class SlotRef(NamedTuple):
    """Where a worker puts an item's array result: the slot's segment (``name``, ``capacity``
    bytes; ``""`` and 0 before its first use) and the name of the slot's next generation,
    for an array that does not fit."""

    name: str
    capacity: int
    next_name: str


def _copy_in(segment: SharedMemory, array: np.ndarray) -> ArrayHandle:
    view = np.ndarray(array.shape, array.dtype, buffer=segment.buf)
    np.copyto(view, array, casting="no")
    del view  # no view may outlive the mapping (numpy keeps no hold on it)
    return ArrayHandle(segment.name, array.shape, array.dtype.str)


def _new_segment(name: str, size: int) -> SharedMemory:
    """A new segment ``name`` of at least ``size`` bytes (a segment cannot be empty; an empty
    array maps none of it)."""
    size = max(1, size)
    _check_room(size, name)
    return _segment(name, create=True, size=size)


def _close(segment: SharedMemory) -> None:
    # A view still exported (kept by a caller past its call) keeps the mapping: it is dropped
    # with the last reference instead, and the memory with it.
    with contextlib.suppress(BufferError):
        segment.close()


def _unlink(segment: SharedMemory) -> None:
    with contextlib.suppress(FileNotFoundError):
        segment.unlink()


def _discard(segment: SharedMemory) -> None:
    _close(segment)
    _unlink(segment)


def _shareable(value: Any) -> bool:
    # Arrays of Python objects hold pointers, meaningless in another process: they are pickled.
    return isinstance(value, np.ndarray) and not value.dtype.hasobject


def _batch_prefix(name: str) -> str:
    """``imgshm-<pid>-<token>-`` of a segment name."""
    pid, token = name[len(NAME_PREFIX) :].split("-")[:2]
    return f"{NAME_PREFIX}{pid}-{token}-"


# -- in a worker -------------------------------------------------------------------------------

#: The segments this process has mapped as a worker, by name, kept open for the rest of the
#: batch so that a reused slot's pages are not faulted in again for every item.
_mapped: dict[str, SharedMemory] = {}


def _worker_segment(name: str) -> SharedMemory:
    segment = _mapped.get(name)
    if segment is None:
        forget_mappings(keep=_batch_prefix(name))
        segment = _mapped[name] = _segment(name)
    return segment


def forget_mappings(keep: str | None = None) -> None:
    """Close this process's worker mappings, except those of the batch whose segment names
    start with ``keep``."""
    for name in [n for n in _mapped if keep is None or not n.startswith(keep)]:
        _close(_mapped.pop(name))


def call_with_arrays(function: Callable[[Any], Any], item: Any) -> Any:
    """``function(item)``, ``item`` (or the elements of an item that is a tuple) given as
    ``ArrayHandle`` replaced by views of their segments, mapped without a copy.

    The views must not be kept past the call: the parent refills the slot for a later item.
    A result that is an array is therefore copied into its result slot inside ``function``
    (``share_result``), and the frames of a failure let go of their views.
    """
    try:
        return function(_views(item))
    except BaseException as exc:
        _clear_frames(exc)
        raise


def _clear_frames(exc: BaseException | None) -> None:
    # The traceback keeps the frames of the failed call, and their locals the views; only
    # the code and line numbers are reported, so the locals can go. Chained exceptions too.
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__


def _view(handle: ArrayHandle) -> np.ndarray:
    segment = _worker_segment(handle.name)
    return np.ndarray(handle.shape, np.dtype(handle.dtype), buffer=segment.buf)


def _views(item: Any) -> Any:
    if isinstance(item, ArrayHandle):
        return _view(item)
    if isinstance(item, tuple) and any(isinstance(v, ArrayHandle) for v in item):
        return tuple(_view(v) if isinstance(v, ArrayHandle) else v for v in item)
    return item


def share_result(value: Any, slot: SlotRef) -> Any:
    """In a worker: an array is copied into its result slot (a new generation of it when it
    does not fit) and its handle returned; anything else is returned as it is, for the
    pickle."""
    if not _shareable(value):
        return value
    if slot.name and slot.capacity >= max(1, value.nbytes):
        return _copy_in(_worker_segment(slot.name), value)
    segment = _new_segment(slot.next_name, value.nbytes)
    forget_mappings(keep=_batch_prefix(slot.next_name))
    if slot.name in _mapped:
        _close(_mapped.pop(slot.name))
    _mapped[slot.next_name] = segment
    return _copy_in(segment, value)


# -- in the parent ----------------------------------------------------------------------------

#: The batches under way in this process (at most one per strategy call).
_active: list[Batch] = []


class _Slot:
    """One slot's segments in the parent: its result segment and its input segments (by
    position in the item), each with its generation, all mapped for the batch."""

    def __init__(self) -> None:
        self.result: SharedMemory | None = None
        self.result_generation = -1
        self.inputs: dict[int, tuple[int, SharedMemory]] = {}


class Batch:
    """The segments of one batch of items, every name chosen before any segment exists.

    ``slots`` is how many items the caller keeps in flight (more are added if it sends more).
    Use it as a context manager: leaving it unlinks every segment of the batch, however the
    batch ended.
    """

    def __init__(self, size: int, slots: int | None = None) -> None:
        #: Segment names of this batch start so: pid and token tell it from any other.
        self.prefix = f"{NAME_PREFIX}{os.getpid()}-{os.urandom(3).hex()}-"
        self.size = size
        self._slots = [_Slot() for _ in range(max(1, size if slots is None else slots))]
        # Taken from the end: the slot given back last, whose pages are the likeliest mapped.
        self._free = list(range(len(self._slots)))[::-1]
        self._slot_of: dict[int, int] = {}

    def result_name(self, slot: int, generation: int) -> str:
        return f"{self.prefix}{slot}r{generation}"

    def input_name(self, slot: int, position: int, generation: int) -> str:
        return f"{self.prefix}{slot}i{position}g{generation}"

    def _take(self, index: int) -> int:
        if index not in self._slot_of:
            if not self._free:
                self._slots.append(_Slot())
                self._free.append(len(self._slots) - 1)
            self._slot_of[index] = self._free.pop()
        return self._slot_of[index]

    def send(self, index: int, item: Any) -> Any:
        """What the worker is given for item ``index``: an array (or a tuple's arrays) as the
        handle of the input segment of the item's slot, filled now."""
        slot = self._take(index)
        if _shareable(item):
            return self._fill(slot, 0, item)
        if isinstance(item, tuple) and any(_shareable(v) for v in item):
            return tuple(
                self._fill(slot, position, v) if _shareable(v) else v
                for position, v in enumerate(item)
            )
        return item

    def _fill(self, slot: int, position: int, array: np.ndarray) -> ArrayHandle:
        inputs = self._slots[slot].inputs
        generation, segment = inputs.get(position, (-1, None))
        if segment is None or segment.size < max(1, array.nbytes):
            if segment is not None:
                _discard(segment)
            generation += 1
            segment = _new_segment(self.input_name(slot, position, generation), array.nbytes)
            inputs[position] = (generation, segment)
        return _copy_in(segment, array)

    def result_slot(self, index: int) -> SlotRef:
        """Where the worker puts item ``index``'s array result (send the item first)."""
        slot = self._take(index)
        state = self._slots[slot]
        next_name = self.result_name(slot, state.result_generation + 1)
        if state.result is None:
            return SlotRef("", 0, next_name)
        return SlotRef(state.result.name, state.result.size, next_name)

    def receive(self, index: int, value: Any) -> Any:
        """Item ``index``'s result as the caller gets it: a handle's pixels copied out of their
        segment; the item's slot is free again."""
        slot = self._slot_of.pop(index, None)
        if slot is None:
            raise KeyError(f"item {index} of batch {self.prefix} was not sent")
        try:
            if not isinstance(value, ArrayHandle):
                return value
            view = np.ndarray(value.shape, np.dtype(value.dtype), buffer=self._mapping(slot, value))
            array = view.copy()
            del view
            return array
        finally:
            self._free.append(slot)

    def _mapping(self, slot: int, handle: ArrayHandle) -> memoryview:
        state = self._slots[slot]
        if state.result is None or state.result.name != handle.name:
            # The worker made the slot's next generation: the old one goes.
            if state.result is not None:
                _discard(state.result)
            state.result = _segment(handle.name)
            state.result_generation += 1
        return state.result.buf

    def names(self) -> list[str]:
        """Every segment name of the batch that may exist now: the slots' current segments,
        and for each slot the next generation a worker may have made."""
        names = []
        for slot, state in enumerate(self._slots):
            if state.result is not None:
                names.append(state.result.name)
            names.append(self.result_name(slot, state.result_generation + 1))
            names += [segment.name for _, segment in state.inputs.values()]
        return names

    def release(self) -> None:
        """Unlink every segment of the batch that still exists (this process's inputs and
        results, and results that workers made but nobody received)."""
        # This process's own worker mappings of the batch (where it played the worker itself).
        for name in [n for n in _mapped if n.startswith(self.prefix)]:
            _close(_mapped.pop(name))
        for slot, state in enumerate(self._slots):
            for _, segment in state.inputs.values():
                _discard(segment)
            state.inputs.clear()
            if state.result is not None:
                _discard(state.result)
                state.result = None
            try:
                made = _segment(self.result_name(slot, state.result_generation + 1))
            except FileNotFoundError:
                continue
            _discard(made)

    def __enter__(self) -> Batch:
        _active.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.release()
        finally:
            _active.remove(self)


def release_active_batches() -> None:
    """Unlink every segment of the batches under way, for a process about to end at once (a
    cell stopped by its guard, after its workers were killed).

    The resource tracker is a child of this process and has been killed with the workers, so
    the segments are unlinked by name, without telling it (``shm_unlink``, as the tracker
    itself unlinks what it cleans up).
    """
    try:
        import _posixshmem
    except ImportError:  # Windows: a segment ends with its last handle, nothing to unlink
        return
    for batch in list(_active):
        for name in set(batch.names()):
            with contextlib.suppress(OSError):
                _posixshmem.shm_unlink("/" + name)
