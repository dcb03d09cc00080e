"""The allocator state a repetition starts from: this process's free heap memory returned to
the system before every repetition (untimed), so that each one allocates, and faults in, the
memory its results need, as the first did and as a new worker process always does.

Why: glibc keeps freed memory or returns it by thresholds that adapt as a process runs. Of
three repetitions decoding 64 1280x960 JPEGs in a row, the first two faulted in 60,000 pages
(0.3-1.3 s of system CPU on a 2-core VM, more than the decoding) and the third none, because
the memory freed by the second happened to stay in the heap. Which repetition, and which
strategy, got that memory for free was luck; after a trim none does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim  # glibc only (not macOS's libc, not musl)
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def trim() -> bool:
    """Return free heap memory to the system (``malloc_trim(0)``); False where this libc has
    no such call, and the repetition starts from whatever the last one left."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
