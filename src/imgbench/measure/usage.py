"""What one repetition cost, beyond wall time: CPU, peak memory, I/O and interference.

Snapshots are taken just outside the timed region; the wall clock is ``perf_counter``.
CPU time includes worker processes, which the pool reaps inside the timed region, so
``getrusage(RUSAGE_CHILDREN)`` counts them (to the microsecond, as it counts this process;
a kept pool's live workers are read from ``/proc/<pid>/schedstat``, in nanoseconds, where
the platform has it, else in clock ticks). A forkserver's workers are its children, not this
process's: it reaps them, so they are counted through its counts of reaped children (CPU in
clock ticks). On Linux, ``/proc/self/io`` also includes reaped
children, and the peak RSS of this process is reset before each repetition
(``/proc/self/clear_refs``); children's peak RSS is the largest of any child so far.

Interference (``other_cpu_s``) is the busy CPU time of the CPUs this process may run on
(its affinity mask) minus the cell's own CPU: this process, its reaped children and its live
helper processes (the download task's server, the memory sampler), whose CPU is read at both
snapshots. It is recorded unclipped: tick noise (10 ms per CPU and per process) can make it
slightly negative; the analysis clips over the whole cell, not per repetition.

The memory of the whole cell (``TreeMemorySampler``) is sampled by a separate process (the
standard library only, niced, detached so that it is nobody's child) that reads
``/proc/<pid>/smaps_rollup`` of this process and all its descendants about every 50 ms
between a start and a stop command, and returns the peaks of the sums of PSS and of USS.
It runs this very file as a script without site-packages, which is why psutil is optional
here.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

try:
    import psutil
except ImportError:  # the memory sampler runs this file without site-packages
    psutil = None  # type: ignore[assignment]

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


#: The resolution of the CPU seconds a repetition records (getrusage's microseconds).
CPU_RESOLUTION_S = 1e-6
#: ... and where a forkserver's reaped workers are counted: the kernel's clock ticks.
TICK_RESOLUTION_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
#: Fields of psutil.cpu_times() that are not time spent running this machine's processes:
#: idle and I/O wait; steal (the hypervisor ran another VM), counted apart; guest time,
#: already included in user and nice on Linux.
_NOT_BUSY = ("idle", "iowait", "steal", "guest", "guest_nice")


def usable_cpus() -> list[int] | None:
    """The CPUs this process may run on (its affinity mask), or None where unknown."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def machine_busy_seconds(cpus: Sequence[int] | None = None) -> tuple[float, float]:
    """(busy, stolen) CPU seconds so far of ``cpus`` (None: the whole machine).

    Busy: running any process or the kernel. Stolen: a hypervisor gave this VM's CPUs to
    someone else, interference that no process on the machine shows.
    """
    if cpus is None:
        per = [psutil.cpu_times()]
    else:
        every = psutil.cpu_times(percpu=True)
        # psutil lists online CPUs in order; an affinity mask names online CPUs only.
        per = [every[i] for i in cpus if i < len(every)] or every
    busy = steal = 0.0
    for times in per:
        fields = times._asdict()
        busy += sum(v for k, v in fields.items() if k not in _NOT_BUSY)
        steal += fields.get("steal", 0.0)
    return busy, steal


def _process_cpu(process: psutil.Process) -> float | None:
    try:
        t = process.cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)


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
    #: Busy and stolen CPU seconds of the CPUs this process may use, for interference.
    machine_busy: float
    machine_steal: float
    #: Page faults of this process and its reaped children: minor (a page mapped without
    #: I/O, e.g. fresh memory zeroed) and major (read from storage).
    minor_faults: int = 0
    major_faults: int = 0
    #: CPU seconds so far of each live helper process, by pid.
    helpers: dict[int, float] = field(default_factory=dict)
    #: (user, system, read_chars, write_chars, read_bytes, write_bytes, minor faults, major
    #: faults) so far of each live
    #: worker of a kept pool (persistent strategies), by pid: the cell's own work, which no
    #: reaping hands to this process's counts.
    workers: dict[int, tuple] = field(default_factory=dict)
    #: Whether some of the CPU counted came in clock ticks (a server's reaped children).
    ticked: bool = False

    @classmethod
    def take(
        cls,
        helpers: Iterable[psutil.Process] = (),
        workers: Iterable[psutil.Process] = (),
        servers: Iterable[psutil.Process] = (),
    ) -> Snapshot:
        """``workers``: a kept pool's live workers; ``servers``: processes that start and reap
        the cell's workers for it (a forkserver), counted with their reaped children."""
        io = _io_counters(psutil.Process()) if psutil is not None else None
        helper_cpu = {p.pid: cpu for p in helpers if (cpu := _process_cpu(p)) is not None}
        # getrusage, not os.times: its times are the scheduler's own, to the microsecond
        # (os.times counts 10 ms clock ticks, coarser than a short repetition's CPU).
        own, reaped = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return cls(
            own.ru_utime,
            own.ru_stime,
            reaped.ru_utime,
            reaped.ru_stime,
            *_io_fields(io),
            *machine_busy_seconds(usable_cpus()),
            own.ru_minflt + reaped.ru_minflt,
            own.ru_majflt + reaped.ru_majflt,
            helper_cpu,
            {
                **{p.pid: counts for p in workers if (counts := _worker_counts(p)) is not None},
                **{p.pid: counts for p in servers if (counts := _server_counts(p)) is not None},
            },
            bool(servers),
        )


def _io_counters(process: psutil.Process):
    with contextlib.suppress(AttributeError, psutil.Error):  # macOS has no io_counters
        return process.io_counters()
    return None


def _io_fields(io) -> tuple[int | None, int | None, int | None, int | None]:
    return (
        getattr(io, "read_chars", None),
        getattr(io, "write_chars", None),
        getattr(io, "read_bytes", None),
        getattr(io, "write_bytes", None),
    )


def _worker_counts(process: psutil.Process) -> tuple | None:
    try:
        t = process.cpu_times()
    except psutil.Error:
        return None
    user, system = t.user, t.system
    # A live process's times in /proc/<pid>/stat are clock ticks; its run time in
    # schedstat is in nanoseconds: the total from there, split as the ticks split it.
    exact = _run_time(process.pid)
    if exact is not None:
        ticks = user + system
        share = user / ticks if ticks > 0 else 1.0
        user, system = exact * share, exact * (1.0 - share)
    return (user, system, *_io_fields(_io_counters(process)), *_faults(process.pid))


def _server_counts(process: psutil.Process) -> tuple | None:
    """A live process's counts with those of the children it has reaped: CPU (clock ticks
    for the children), I/O (``/proc/<pid>/io`` includes them) and page faults."""
    counts = _worker_counts(process)
    if counts is None:
        return None
    try:
        t = process.cpu_times()
    except psutil.Error:
        return None
    minor, major = _faults(process.pid, children=True)
    return (counts[0] + t.children_user, counts[1] + t.children_system, *counts[2:6], minor, major)


def _run_time(pid: int) -> float | None:
    """CPU seconds so far of a live process, to the nanosecond (Linux schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _faults(pid: int, children: bool = False) -> tuple[int | None, int | None]:
    """Minor and major page faults so far of a live process (Linux ``/proc/<pid>/stat``),
    with those of its reaped children if ``children``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, None
    # Fields after the command name (which may hold spaces), from field 3: minflt is the
    # 10th field of the line, cminflt the 11th, majflt the 12th, cmajflt the 13th.
    fields = [int(f) for f in stat.rpartition(")")[2].split()[7:11]]
    if children:
        return fields[0] + fields[1], fields[2] + fields[3]
    return fields[0], fields[2]


def _delta(after: int | None, before: int | None) -> int | None:
    return None if after is None or before is None else after - before


def resource_usage(before: Snapshot, after: Snapshot) -> dict[str, float | int | None]:
    """CPU seconds (this process and its reaped children) and I/O counts between snapshots.

    ``io_read_chars``/``io_write_chars`` count every read/write call (pipes to workers
    included); ``io_read_bytes``/``io_write_bytes`` count what reached the storage layer.
    ``helper_cpu_s`` is the CPU the cell's live helper processes used meanwhile (a helper
    seen at one snapshot only is left out). ``other_cpu_s`` is the busy CPU time of the
    usable CPUs minus the cell's own (``cpu_s`` + ``helper_cpu_s``): work that competed with
    the repetition, unclipped (at the kernel's tick resolution, so noisy for short ones and
    possibly slightly negative); ``steal_s`` the CPU time a hypervisor gave to other VMs.
    """
    user = (after.user - before.user) + (after.children_user - before.children_user)
    system = (after.system - before.system) + (after.children_system - before.children_system)
    # A kept pool's workers (seen at both snapshots) did the cell's work: theirs is its own.
    kept = [(b, after.workers[pid]) for pid, b in before.workers.items() if pid in after.workers]
    user += sum(a[0] - b[0] for b, a in kept)
    system += sum(a[1] - b[1] for b, a in kept)
    io = [
        None if total is None else total + sum((a[i] or 0) - (b[i] or 0) for b, a in kept)
        for i, total in enumerate(
            (
                _delta(after.read_chars, before.read_chars),
                _delta(after.write_chars, before.write_chars),
                _delta(after.read_bytes, before.read_bytes),
                _delta(after.write_bytes, before.write_bytes),
            ),
            start=2,
        )
    ]
    faults = [
        total + sum((a[i] or 0) - (b[i] or 0) for b, a in kept)
        for i, total in (
            (6, after.minor_faults - before.minor_faults),
            (7, after.major_faults - before.major_faults),
        )
    ]
    helpers = sum(
        max(0.0, after.helpers[pid] - cpu)
        for pid, cpu in before.helpers.items()
        if pid in after.helpers
    )
    return {
        "cpu_user_s": user,
        "cpu_sys_s": system,
        "cpu_s": user + system,
        # This process alone (the loop's work; a pool's submitting, pickling and collecting).
        "parent_cpu_s": (after.user - before.user) + (after.system - before.system),
        # How finely the CPU seconds were counted: getrusage's microseconds (clock ticks for
        # a forkserver's reaped workers, and a kept pool's where the kernel has no schedstat).
        "cpu_resolution_s": TICK_RESOLUTION_S if after.ticked else CPU_RESOLUTION_S,
        "helper_cpu_s": helpers,
        "other_cpu_s": (after.machine_busy - before.machine_busy) - (user + system) - helpers,
        "steal_s": after.machine_steal - before.machine_steal,
        "io_read_chars": io[0],
        "io_write_chars": io[1],
        "io_read_bytes": io[2],
        "io_write_bytes": io[3],
        "minor_faults": faults[0],
        "major_faults": faults[1],
    }


# -- memory of the whole process tree ----------------------------------------------------------

#: Seconds between two samples of the process tree's memory.
SAMPLE_INTERVAL_S = 0.05
#: Seconds the sampler may take to start, or to answer a stop.
SAMPLER_TIMEOUT_S = 10.0
_ROLLUP = "smaps_rollup"


def _children(pid: int) -> list[int]:
    """Child pids of ``pid``: ``/proc/<pid>/task/*/children``, else a scan of ``/proc``."""
    if _HAS_CHILDREN_FILES:
        kids: list[int] = []
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return kids
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    kids.extend(int(k) for k in f.read().split())
            except (OSError, ValueError):
                continue  # a thread that has just ended
        return kids
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # The command name may hold spaces and parentheses: fields follow the last ")".
                    if int(f.read().rpartition(")")[2].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return kids


#: Kernels built without CONFIG_PROC_CHILDREN lack the children files: then /proc is scanned.
_HAS_CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _tree(root: int, exclude: set[int]) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in exclude or pid in pids:
            continue
        pids.append(pid)
        todo.extend(_children(pid))
    return pids


def _rollup(pid: int) -> tuple[int, int] | None:
    """(PSS, USS) bytes of one process from its smaps_rollup; None if it is gone."""
    pss = uss = 0
    try:
        with open(f"/proc/{pid}/{_ROLLUP}") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name == "Pss":
                    pss = int(rest.split()[0]) * 1024
                elif name in ("Private_Clean", "Private_Dirty", "Private_Hugetlb"):
                    uss += int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return pss, uss


def _sample(root: int, exclude: set[int]) -> tuple[int, int]:
    pss = uss = 0
    for pid in _tree(root, exclude):
        got = _rollup(pid)
        if got is not None:
            pss, uss = pss + got[0], uss + got[1]
    return pss, uss


def _sampler_main(root: int) -> None:
    """The sampler process: commands on stdin, answers on stdout, one line each.

    ``start [PID ...]`` begins sampling the tree under ``root`` (less the PIDs named and
    their descendants); ``stop`` answers ``PSS USS SAMPLES`` (the peaks, in bytes). End of
    input ends the sampler: also when the cell dies without a word.
    """
    if os.fork() > 0:
        # Detached: the cell's own inspection of its children (pool workers) never sees it.
        os._exit(0)
    with contextlib.suppress(OSError):
        os.nice(10)
    out = sys.stdout
    out.write(f"{os.getpid()}\n")
    out.flush()
    pending = b""
    exclude: set[int] | None = None  # None: not sampling
    peak = (0, 0)
    samples = 0
    while True:
        timeout = SAMPLE_INTERVAL_S if exclude is not None else None
        ready, _, _ = select.select([0], [], [], timeout)
        if ready:
            data = os.read(0, 4096)
            if not data:
                return
            pending += data
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                words = line.decode().split()
                if words and words[0] == "start":
                    exclude = {int(w) for w in words[1:]}
                    peak, samples = _sample(root, exclude), 1
                elif words and words[0] == "stop" and exclude is not None:
                    last = _sample(root, exclude)
                    peak = (max(peak[0], last[0]), max(peak[1], last[1]))
                    out.write(f"{peak[0]} {peak[1]} {samples + 1}\n")
                    out.flush()
                    exclude = None
        elif exclude is not None:
            now = _sample(root, exclude)
            peak, samples = (max(peak[0], now[0]), max(peak[1], now[1])), samples + 1


class TreeMemorySampler:
    """Peak PSS and USS summed over this process and its descendants, per repetition.

    ``start()`` before the timer, ``stop()`` after it; both cost a pipe write (and the stop a
    read). Where ``/proc/self/smaps_rollup`` is missing (not Linux, or older than 4.14), or
    the sampler does not start, the peaks are None.

    Creating it launches the sampler; ``ready()`` (or the first ``start()``) waits for it to
    answer. A cell creates it first and asks for it last, so that the interpreter start-up
    of the sampler (about 40 ms) overlaps the cell's own untimed set-up instead of adding to
    every job.
    """

    def __init__(self) -> None:
        self.pid: int | None = None
        self._proc: subprocess.Popen | None = None
        self._answered = False
        if not Path(f"/proc/self/{_ROLLUP}").exists():
            return
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(Path(__file__).resolve()), str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            self._did_not_start(exc)

    def _did_not_start(self, exc: Exception) -> None:
        warnings.warn(f"the memory sampler did not start ({exc}): no tree peaks", stacklevel=3)
        self.close()

    def ready(self) -> int | None:
        """Wait for the sampler to answer; its pid, or None where there is none."""
        if self._answered or self._proc is None:
            return self.pid
        self._answered = True
        try:
            line = self._readline()
            self._proc.wait(SAMPLER_TIMEOUT_S)  # the launcher, which forked the sampler
            self.pid = int(line)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            self._did_not_start(exc)
        return self.pid

    def _readline(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        data = b""
        deadline = time.monotonic() + SAMPLER_TIMEOUT_S
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise OSError("the memory sampler did not answer")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise OSError("the memory sampler exited")
            data += chunk
        return data.decode().strip()

    def _send(self, line: str) -> bool:
        self.ready()
        if self._proc is None or self.pid is None:
            return False
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(line.encode() + b"\n")
            self._proc.stdin.flush()
            return True
        except OSError:
            self.close()
            return False

    def start(self, exclude: Iterable[int] = ()) -> None:
        self._started = self._send(" ".join(["start", *(str(p) for p in exclude)]))

    def stop(self) -> tuple[int | None, int | None]:
        """(peak PSS, peak USS) bytes since ``start``, or (None, None)."""
        if not getattr(self, "_started", False) or not self._send("stop"):
            return None, None
        self._started = False
        try:
            pss, uss, _ = (int(v) for v in self._readline().split())
        except (OSError, ValueError) as exc:
            warnings.warn(f"the memory sampler failed ({exc}): no tree peaks", stacklevel=2)
            self.close()
            return None, None
        return pss, uss

    def close(self) -> None:
        """End the sampler (it exits at the end of its input)."""
        proc, self._proc, self.pid = self._proc, None, None
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            if proc.poll() is None:
                proc.kill()
                proc.wait(SAMPLER_TIMEOUT_S)

    def __enter__(self) -> TreeMemorySampler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


if __name__ == "__main__":
    _sampler_main(int(sys.argv[1]))
