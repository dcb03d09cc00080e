"""What one repetition cost, beyond wall time: CPU, peak memory and I/O.

Snapshots are taken just outside the timed region; the wall clock is ``perf_counter``.
CPU time includes worker processes, which the pool reaps inside the timed region, so
``os.times()`` counts them as children. On Linux, ``/proc/self/io`` also includes reaped
children, and the peak RSS of this process is reset before each repetition
(``/proc/self/clear_refs``); children's peak RSS is the largest of any child so far.
A load average before a cell mostly reflects the previous cells' own workers, so
interference is measured instead as the CPU time other processes used during each
repetition.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0); False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_self() -> int:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_UNIT


def peak_rss_children() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * _RSS_UNIT


#: Fields of psutil.cpu_times() that are not time spent running this machine's processes:
#: idle and I/O wait; steal (the hypervisor ran another VM), counted apart; guest time,
#: already included in user and nice on Linux.
_NOT_BUSY = ("idle", "iowait", "steal", "guest", "guest_nice")


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far.

    Busy: running any process or the kernel. Stolen: a hypervisor gave this VM's CPUs to
    someone else, interference that no process on the machine shows.
    """
    times = psutil.cpu_times()._asdict()
    busy = sum(v for k, v in times.items() if k not in _NOT_BUSY)
    return busy, times.get("steal", 0.0)


@dataclass(frozen=True)
class Snapshot:
    user: float
    system: float
    children_user: float
    children_system: float
    read_chars: int | None
    write_chars: int | None
    read_bytes: int | None
    write_bytes: int | None
    #: Busy and stolen CPU seconds of the whole machine, for the interference measure.
    machine_busy: float
    machine_steal: float

    @classmethod
    def take(cls) -> Snapshot:
        t = os.times()
        io = None
        with contextlib.suppress(AttributeError, psutil.Error):  # macOS has no io_counters
            io = psutil.Process().io_counters()
        return cls(
            t.user,
            t.system,
            t.children_user,
            t.children_system,
            getattr(io, "read_chars", None),
            getattr(io, "write_chars", None),
            getattr(io, "read_bytes", None),
            getattr(io, "write_bytes", None),
            *machine_busy_seconds(),
        )


def _delta(after: int | None, before: int | None) -> int | None:
    return None if after is None or before is None else after - before


def resource_usage(before: Snapshot, after: Snapshot) -> dict[str, float | int | None]:
    """CPU seconds (this process and its reaped children) and I/O counts between snapshots.

    ``io_read_chars``/``io_write_chars`` count every read/write call (pipes to workers
    included); ``io_read_bytes``/``io_write_bytes`` count what reached the storage layer.
    ``other_cpu_s`` is the CPU time the rest of the machine used meanwhile: work that
    competed with the repetition (at the kernel's tick resolution, so noisy for short ones);
    ``steal_s`` the CPU time a hypervisor gave to other VMs.
    """
    user = (after.user - before.user) + (after.children_user - before.children_user)
    system = (after.system - before.system) + (after.children_system - before.children_system)
    return {
        "cpu_user_s": user,
        "cpu_sys_s": system,
        "cpu_s": user + system,
        "other_cpu_s": max(0.0, (after.machine_busy - before.machine_busy) - (user + system)),
        "steal_s": after.machine_steal - before.machine_steal,
        "io_read_chars": _delta(after.read_chars, before.read_chars),
        "io_write_chars": _delta(after.write_chars, before.write_chars),
        "io_read_bytes": _delta(after.read_bytes, before.read_bytes),
        "io_write_bytes": _delta(after.write_bytes, before.write_bytes),
    }
