"""The machine a cell ran on, recorded with every result (pyperf-style metadata)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

import imgbench
from imgbench.measure.result import MachineInfo


def checkout_root() -> Path | None:
    """The checkout this package runs from (its ``src/imgbench``), or None when installed:
    a run's ``workflow_commit`` is that of the workflow it came from, if there is one."""
    package = Path(__file__).resolve().parents[1]
    root = package.parents[1]
    if package.parent.name == "src" and (root / "Snakefile").is_file():
        return root
    return None


#: Set by the workflow (``Snakefile``) for its jobs: the version of the Snakemake that drives
#: the run, which is the one that matters (a cell's own environment need not hold Snakemake).
SNAKEMAKE_VERSION_ENV = "IMGBENCH_SNAKEMAKE_VERSION"


def snakemake_version() -> str | None:
    """The driving Snakemake's version, else the installed one's, else None.

    The environment variable spares every cell job the import of ``importlib.metadata``
    (about 60 ms, harness overhead on each of hundreds of jobs).
    """
    if os.environ.get(SNAKEMAKE_VERSION_ENV):
        return os.environ[SNAKEMAKE_VERSION_ENV]
    import importlib.metadata

    try:
        return importlib.metadata.version("snakemake")
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    if sys.platform.startswith("linux"):
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
    if sys.platform == "darwin":
        done = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return platform.processor() or platform.machine() or "unknown"


def cgroup_cpu_limit() -> float | None:
    """CPUs allowed by a cgroup v2 (or v1) CPU quota, or None without a quota."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def usable_cores() -> int:
    """Cores this process may actually use: affinity mask, lowered by a cgroup quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = max(1, min(cores, int(limit)))
    return cores


def filesystem_type(path: Path) -> str:
    """Type of the filesystem holding ``path`` (longest matching mount point)."""
    path = Path(path).resolve()
    best, fstype = "", "unknown"
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint
        if (path == Path(mount) or Path(mount) in path.parents) and len(mount) > len(best):
            best, fstype = mount, part.fstype
    return fstype


def workflow_commit(root: Path | None = None) -> str:
    """The git commit of the checkout at ``root`` (by default, the one this package runs
    from), suffixed ``-dirty`` with uncommitted changes; ``unknown`` without one."""
    root = checkout_root() if root is None else root
    if root is None:
        return "unknown"
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def process_started(pid: int | None = None) -> tuple[float, float | None]:
    """(Unix time the process started, its precision in seconds; None: unknown).

    On Linux from the start time in clock ticks after boot (``/proc/<pid>/stat`` field 22)
    and the boot-time clock, to one tick (10 ms); psutil's ``create_time`` instead adds it to
    a boot time rounded to whole seconds. Elsewhere psutil's.
    """
    pid = os.getpid() if pid is None else pid
    if sys.platform.startswith("linux") and hasattr(time, "CLOCK_BOOTTIME"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            # The command name (field 2) may hold spaces and parentheses: count after it.
            ticks = int(stat.rpartition(")")[2].split()[19])
            hz = os.sysconf("SC_CLK_TCK")
            since_start = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / hz
            return time.time() - since_start, 1 / hz
        except (OSError, ValueError, IndexError):
            pass
    return psutil.Process(pid).create_time(), None


def pillow_feature(name: str) -> str | None:
    """The version of a library Pillow was built with (``PIL.features``), None if unknown."""
    from PIL import features

    try:
        return features.version(name)
    except ValueError:  # a feature this Pillow does not know
        return None


def python_build() -> str:
    """``free-threaded`` for an interpreter built without the GIL (3.13t, 3.14t), else
    ``default``."""
    import sysconfig

    return "free-threaded" if sysconfig.get_config_var("Py_GIL_DISABLED") else "default"


def gil_enabled() -> bool:
    """Whether this process holds a GIL now: ``sys._is_gil_enabled()`` where it exists
    (3.13 and later), else True. A free-threaded build enables it again, for good, when it
    imports a C extension that has not declared it can run without it, with a
    RuntimeWarning naming the module (the result's ``warnings`` keep it); so this is read
    after the cell's task, strategy and libraries are imported."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def collect_machine_info(storage_path: Path) -> MachineInfo:
    """Everything about the host that can change a timing; cheap enough for every cell."""
    import numpy
    from PIL import Image, features

    freq = psutil.cpu_freq()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "hostname": socket.gethostname(),
        "os": platform.system(),
        "os_release": platform.release(),
        "os_version": platform.version(),
        "platform": platform.platform(),
        "architecture": platform.machine(),
        "cpu_model": cpu_model(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "usable_cores": usable_cores(),
        "cpu_freq_mhz": round(freq.current, 1) if freq else None,
        "cpu_freq_max_mhz": round(freq.max, 1) if freq and freq.max else None,
        "load_average_1m": load[0],
        "load_average_5m": load[1],
        "ram_bytes": psutil.virtual_memory().total,
        "storage_path": str(storage_path),
        "storage_filesystem": filesystem_type(storage_path),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_build": python_build(),
        "gil_enabled": gil_enabled(),
        "pillow_version": Image.__version__,
        "pillow_libjpeg_turbo": bool(features.check_feature("libjpeg_turbo")),
        # The API levels the codecs present ("6.2", "1.2.13" under libjpeg-turbo and zlib-ng),
        # then the libraries actually doing the work, which set the speed.
        "libjpeg_version": features.version("jpg"),
        "zlib_version": features.version("zlib"),
        "libjpeg_turbo_version": pillow_feature("libjpeg_turbo"),
        "zlib_ng_version": pillow_feature("zlib_ng"),
        "numpy_version": numpy.__version__,
        "snakemake_version": snakemake_version(),
        "imgbench_version": imgbench.__version__,
        "workflow_commit": workflow_commit(),
        "collected_at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
