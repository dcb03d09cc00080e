"""Pixel arrays between a process pool's parent and its workers through POSIX shared memory
(``multiprocessing.shared_memory``), so that they never go through the pickle.

A *segment* holds one array; what crosses the pipe instead is its ``ArrayHandle`` (name,
shape, dtype: about a hundred bytes pickled). Two kinds, one per direction:

- an *input*, an array an item holds (the saving tasks' ``(array, path, durability)``): the
  parent creates and fills it (``Batch.send``, inside the timer: that copy is the strategy's
  own cost); the worker maps it without copying (``call_with_arrays``); the parent unlinks it
  once the item's result is back;
- a *result*, an array the work returned (decode, greyscale): the worker creates it under the
  name the parent gave with the item (``share_result``); the parent copies the pixels out and
  unlinks it as the result arrives (``Batch.receive``).

Everything else (paths, bytes, numbers) travels as it always does.

**Always released.** The parent names every segment of a batch before any exists: this
process's pid, a random token per batch, the item's index, ``i`` or ``r``. Leaving the batch
(success, a failed task, a worker killed) unlinks every one of those names that still exists;
the pool has been shut down and its workers joined before, so none is made afterwards. A cell
stopped by its guard, which ends the process with ``os._exit``, does the same through
``release_active_batches``. Whoever died, nothing of the batch is left in ``/dev/shm``.

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


def _create(array: np.ndarray, name: str) -> tuple[ArrayHandle, SharedMemory]:
    """A new segment ``name`` holding a copy of ``array``, and the segment, its mapping closed
    (it can still be unlinked)."""
    size = max(1, array.nbytes)  # a segment cannot be empty; an empty array maps none of it
    _check_room(size, name)
    segment = _segment(name, create=True, size=size)
    try:
        view = np.ndarray(array.shape, array.dtype, buffer=segment.buf)
        np.copyto(view, array, casting="no")
        del view
    except BaseException:
        segment.close()
        _unlink(segment)
        raise
    segment.close()
    return ArrayHandle(name, array.shape, array.dtype.str), segment


def _unlink(segment: SharedMemory) -> None:
    with contextlib.suppress(FileNotFoundError):
        segment.unlink()


def _shareable(value: Any) -> bool:
    # Arrays of Python objects hold pointers, meaningless in another process: they are pickled.
    return isinstance(value, np.ndarray) and not value.dtype.hasobject


# -- in a worker -------------------------------------------------------------------------------


def call_with_arrays(function: Callable[[Any], Any], item: Any) -> Any:
    """``function(item)``, ``item`` (or the elements of an item that is a tuple) given as
    ``ArrayHandle`` replaced by views of their segments, mapped without a copy and closed
    (not unlinked: the parent owns them) once the call has returned.

    The views must not outlive the call: numpy keeps no hold on a mapping, so a view kept
    longer would point at unmapped memory. A result that is an array is therefore copied
    into its own segment inside ``function`` (``share_result``), and the frames of a failure
    let go of their views before the mappings close.
    """
    mapped: list[SharedMemory] = []
    try:
        local = _views(item, mapped)
        return function(local)
    except BaseException as exc:
        _clear_frames(exc)
        raise
    finally:
        local = None
        for segment in mapped:
            segment.close()


def _clear_frames(exc: BaseException | None) -> None:
    # The traceback keeps the frames of the failed call, and their locals the views; only
    # the code and line numbers are reported, so the locals can go. Chained exceptions too.
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__


def _views(item: Any, mapped: list[SharedMemory]) -> Any:
    if isinstance(item, ArrayHandle):
        segment = _segment(item.name)
        mapped.append(segment)
        return np.ndarray(item.shape, np.dtype(item.dtype), buffer=segment.buf)
    if isinstance(item, tuple) and any(isinstance(v, ArrayHandle) for v in item):
        return tuple(_views(v, mapped) if isinstance(v, ArrayHandle) else v for v in item)
    return item


def share_result(value: Any, name: str) -> Any:
    """In a worker: an array is copied into a new segment ``name`` and its handle returned;
    anything else is returned as it is, for the pickle."""
    return _create(value, name)[0] if _shareable(value) else value


# -- in the parent ----------------------------------------------------------------------------

#: The batches under way in this process (at most one per strategy call).
_active: list[Batch] = []


class Batch:
    """The segments of one batch of items, every name chosen before any segment exists.

    Use it as a context manager: leaving it unlinks every segment of the batch still there,
    however the batch ended.
    """

    def __init__(self, size: int) -> None:
        #: Segment names of this batch start so: pid and token tell it from any other.
        self.prefix = f"{NAME_PREFIX}{os.getpid()}-{os.urandom(3).hex()}-"
        self.size = size
        self._inputs: dict[int, list[SharedMemory]] = {}
        self._received: set[int] = set()

    def input_name(self, index: int, position: int = 0) -> str:
        suffix = "" if position == 0 else f"-{position}"
        return f"{self.prefix}{index}i{suffix}"

    def result_name(self, index: int) -> str:
        return f"{self.prefix}{index}r"

    def send(self, index: int, item: Any) -> Any:
        """What the worker is given for item ``index``: an array (or a tuple's arrays) as the
        handle of an input segment this process creates and fills now."""
        if _shareable(item):
            return self._share_input(index, 0, item)
        if isinstance(item, tuple) and any(_shareable(v) for v in item):
            return tuple(
                self._share_input(index, position, v) if _shareable(v) else v
                for position, v in enumerate(item)
            )
        return item

    def _share_input(self, index: int, position: int, array: np.ndarray) -> ArrayHandle:
        handle, segment = _create(array, self.input_name(index, position))
        # Kept, unmapped, to unlink it: on 3.11 and 3.12 that unregisters it too.
        self._inputs.setdefault(index, []).append(segment)
        return handle

    def receive(self, index: int, value: Any) -> Any:
        """Item ``index``'s result as the caller gets it: a handle's pixels copied out of their
        segment, which is unlinked, as are the item's inputs."""
        self._received.add(index)
        self._release_inputs(index)
        if not isinstance(value, ArrayHandle):
            return value
        segment = _segment(value.name)
        try:
            view = np.ndarray(value.shape, np.dtype(value.dtype), buffer=segment.buf)
            array = view.copy()
            del view
        finally:
            segment.close()
            _unlink(segment)
        return array

    def _release_inputs(self, index: int) -> None:
        for segment in self._inputs.pop(index, []):
            segment.close()
            _unlink(segment)

    def release(self) -> None:
        """Unlink every segment of the batch that still exists (this process's inputs, and
        results that workers made but nobody received)."""
        for index in list(self._inputs):
            self._release_inputs(index)
        for index in range(self.size):
            if index in self._received:
                continue
            try:
                segment = _segment(self.result_name(index))
            except FileNotFoundError:
                continue
            segment.close()
            _unlink(segment)

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
        names = [batch.input_name(i) for i in range(batch.size)]
        names += [batch.result_name(i) for i in range(batch.size)]
        names += [s.name for segments in list(batch._inputs.values()) for s in segments]
        for name in set(names):
            with contextlib.suppress(OSError):
                _posixshmem.shm_unlink("/" + name)
