"""Page-cache control: evict files before a cold repetition, warm them, and measure it.

Two kinds of eviction, chosen per cell (``RunOptions.eviction``):

- ``"files"`` (the default, ``evict_files``): only the given files, one by one:
  ``posix_fadvise(POSIX_FADV_DONTNEED)`` after ``fsync``, else ``purge`` (macOS, which has
  no per-file way), else nothing, with a ``CacheWarning``. The interpreter, its libraries and
  ``.pyc`` files stay cached, so that a cold cell times cold *inputs*, not process pools
  re-reading their own code from disk.
- ``"system"`` (``evict_system``): the whole page cache, by writing
  ``/proc/sys/vm/drop_caches`` (Linux, root). Where that is not allowed: a ``CacheWarning``
  and method ``"none"``, never a silent warm start.

Whatever the method claims, the fraction of the files' pages still resident is then measured
with ``mincore(2)`` and recorded. ``evict_from_page_cache`` with its default ``METHODS``
(the strongest first) remains for ``imgbench flush-cache``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

DROP_CACHES = Path("/proc/sys/vm/drop_caches")
METHODS = ("drop_caches", "fadvise", "purge")
#: Per-file methods, in order of preference (purge is macOS's only way, and whole-system).
FILE_METHODS = ("fadvise", "purge")
#: ``RunOptions.eviction`` values.
EVICTIONS = ("files", "system")


class CacheWarning(UserWarning):
    """The page cache could not be evicted: a 'cold' repetition may be warm."""


def drop_all_caches() -> bool:
    """Drop the whole page cache (Linux, root); False where that is not allowed."""
    if not sys.platform.startswith("linux"):
        return False
    os.sync()  # drop_caches only frees clean pages
    try:
        # 3 = page cache plus dentries and inodes, so that open() is cold too.
        DROP_CACHES.write_text("3\n")
    except OSError:
        return False
    return True


def _fadvise(paths: Sequence[Path]) -> bool:
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # dirty pages cannot be dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def _purge() -> bool:
    if sys.platform != "darwin" or shutil.which("purge") is None:
        return False
    # Never prompt for a password: purge runs only where it is allowed without one.
    done = subprocess.run(["purge"], stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    return done.returncode == 0


def evict_from_page_cache(paths: Iterable[Path], methods: Sequence[str] = METHODS) -> str:
    """Evict ``paths`` from the OS page cache; return the name of the method that worked.

    Returns ``"none"`` and warns when no method is available.
    """
    paths = [Path(p) for p in paths]
    for method in methods:
        if method == "drop_caches" and drop_all_caches():
            return method
        if method == "fadvise" and _fadvise(paths):
            return method
        if method == "purge" and _purge():
            return method
    warnings.warn(
        "no way to evict the page cache here (not root on Linux, no posix_fadvise, no purge); "
        "cold repetitions may be warm: see their resident fraction",
        CacheWarning,
        stacklevel=2,
    )
    return "none"


def evict_files(paths: Iterable[Path]) -> str:
    """Evict just these files (``"fadvise"``, ``"purge"``, or ``"none"`` with a warning)."""
    return evict_from_page_cache(paths, FILE_METHODS)


def evict_system() -> str:
    """Drop the whole page cache: ``"drop_caches"``, or ``"none"`` with a warning."""
    if drop_all_caches():
        return "drop_caches"
    warnings.warn(
        "eviction 'system' needs to write /proc/sys/vm/drop_caches (Linux, root), which is "
        "not allowed here; cold repetitions may be warm: see their resident fraction",
        CacheWarning,
        stacklevel=2,
    )
    return "none"


def warm_page_cache(paths: Iterable[Path]) -> None:
    """Read every file once so that its pages are resident."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass


def sync_files() -> None:
    """Write dirty pages out, so a repetition does not pay for its predecessor's writes."""
    if hasattr(os, "sync"):
        os.sync()


_libc = None


def _load_libc():
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        _libc = ctypes.CDLL(name, use_errno=True) if name else False
        if _libc:
            _libc.mmap.restype = ctypes.c_void_p
            _libc.mmap.argtypes = [
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_long,
            ]
            _libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            _libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    return _libc or None


def page_bytes(size: int) -> int:
    """The bytes of the whole pages a file of ``size`` bytes fills in the page cache: the
    least the kernel reads to bring it in (a 1.7 KB JPEG costs a 4 KiB read)."""
    page = mmap.PAGESIZE
    return (size + page - 1) // page * page


def resident_pages(path: Path) -> tuple[int, int]:
    """(resident, total) pages of one file, by ``mincore(2)`` on a read-only mapping.

    Mapping a file and asking mincore touches none of its pages, so this does not warm it.
    """
    libc = _load_libc()
    size = os.path.getsize(path)
    page = mmap.PAGESIZE
    total = (size + page - 1) // page
    if total == 0:
        return 0, 0
    if libc is None or not hasattr(libc, "mincore"):
        raise OSError("mincore is not available on this platform")
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), f"mmap failed for {path}")
        try:
            vec = (ctypes.c_ubyte * total)()
            if libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), f"mincore failed for {path}")
            return sum(v & 1 for v in vec), total
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)


def resident_fraction(paths: Iterable[Path]) -> float | None:
    """Fraction of the files' pages in the page cache, or None where it cannot be measured."""
    resident = total = 0
    try:
        for path in paths:
            r, t = resident_pages(Path(path))
            resident += r
            total += t
    except OSError:
        return None
    return resident / total if total else None
