"""What this machine offers a plan, for ``imgbench info``: the cores usable here, which ways
of making a cache cold work here (and why the others do not), the start methods of process
pools, the versions of the libraries that do the timed work, and the registries.

Every check here is read-only: nothing is evicted, no page cache dropped, no pool started
(``drop_caches`` is judged by whether this user may write it, ``mincore`` is tried on a
temporary file of one page).
"""

from __future__ import annotations

import importlib.metadata
import multiprocessing
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from imgbench.measure.machine import pillow_feature
from imgbench.words import count, gib

#: Distributions whose versions can change a timing, in the order ``info`` lists them.
LIBRARIES = (
    "imgbench",
    "pillow",
    "numpy",
    "scipy",
    "pandas",
    "httpx",
    "aiofiles",
    "psutil",
    "jsonschema",
    "snakemake",
)


@dataclass(frozen=True)
class CacheMethod:
    """One way of evicting (or measuring) the page cache, and whether it works here."""

    name: str
    #: What it serves: a ``cache_eviction`` setting, or measuring what is resident.
    serves: str
    available: bool
    why: str


def _drop_caches() -> CacheMethod:
    from imgbench.measure.cache import DROP_CACHES

    serves = "cache_eviction: system"
    if not sys.platform.startswith("linux"):
        return CacheMethod("drop_caches", serves, False, "Linux only")
    if os.access(DROP_CACHES, os.W_OK):
        return CacheMethod("drop_caches", serves, True, f"{DROP_CACHES} is writable")
    why = (
        f"{DROP_CACHES} is read-only here (a container?)"
        if hasattr(os, "geteuid") and os.geteuid() == 0
        else f"needs root: {DROP_CACHES} is not writable by this user"
    )
    return CacheMethod("drop_caches", serves, False, why)


def _mincore() -> CacheMethod:
    from imgbench.measure.cache import resident_pages

    serves = "measuring the resident fraction"
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"\0")
        f.flush()
        try:
            resident_pages(Path(f.name))
        except OSError as exc:
            return CacheMethod("mincore", serves, False, str(exc))
    return CacheMethod("mincore", serves, True, "mincore(2) on a mapping touches no page")


def cache_methods() -> list[CacheMethod]:
    """Every method ``imgbench.measure.cache`` may use, strongest first, checked here."""
    files = "cache_eviction: files"
    fadvise = hasattr(os, "posix_fadvise")
    darwin = sys.platform == "darwin"
    purge = darwin and shutil.which("purge") is not None
    return [
        _drop_caches(),
        CacheMethod(
            "fadvise",
            files,
            fadvise,
            "posix_fadvise(DONTNEED) after fsync, file by file"
            if fadvise
            else "no posix_fadvise on this platform",
        ),
        CacheMethod(
            "purge",
            files + " on macOS",
            purge,
            "found purge (it must be allowed without a password)"
            if purge
            else ("no purge command" if darwin else "not macOS"),
        ),
        _mincore(),
    ]


def cold_verdict(methods: list[CacheMethod]) -> str:
    """One line: can a cold cache be had here, and with which setting."""
    works = {m.name for m in methods if m.available}
    files = next((m for m in ("fadvise", "purge") if m in works), None)
    parts = [
        f"files: yes ({files})" if files else "files: no (cold cells would run warm)",
        "system: yes" if "drop_caches" in works else "system: no",
    ]
    measured = "measured" if "mincore" in works else "not measured"
    return f"cold cache here: {', '.join(parts)}; resident fraction {measured}"


def start_methods() -> tuple[str, list[str]]:
    """(the platform's default start method, every one available here)."""
    available = multiprocessing.get_all_start_methods()
    # The documented order: the first is the default (without a start method set).
    return available[0], available


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def pillow_codecs() -> list[str]:
    """The JPEG and zlib libraries Pillow was built with, as far as it reports them."""
    turbo = pillow_feature("libjpeg_turbo")
    jpeg = f"libjpeg-turbo {turbo}" if turbo else f"libjpeg {pillow_feature('jpg') or 'n/a'}"
    zlib_ng = pillow_feature("zlib_ng")
    zlib = f"zlib-ng {zlib_ng}" if zlib_ng else f"zlib {pillow_feature('zlib') or 'n/a'}"
    return [jpeg, zlib]


def library_versions() -> list[str]:
    """ "Pillow 11.0.0 (libjpeg-turbo 3.0.4, zlib-ng 2.2.2)", "numpy 2.1.3", ...: installed
    distributions only."""
    import platform

    lines = [f"Python {platform.python_version()} ({platform.python_implementation()})"]
    for dist in LIBRARIES:
        version = _version(dist)
        if version is None:
            continue
        name = "Pillow" if dist == "pillow" else dist
        extra = f" ({', '.join(pillow_codecs())})" if dist == "pillow" else ""
        lines.append(f"{name} {version}{extra}")
    return lines


def machine_lines(machine: dict) -> list[str]:
    """The host as ``collect_machine_info`` records it, in three lines."""
    return [
        f"host: {machine['hostname']}, {machine['platform']}",
        f"cpu: {machine['cpu_model']}; {count(machine['usable_cores'], 'usable core')} "
        f"({machine['logical_cores']} logical, {machine['physical_cores']} physical), "
        f"{gib(machine['ram_bytes'])} RAM",
        f"storage: {machine['storage_path']} on {machine['storage_filesystem']}",
    ]


def registry_lines() -> list[str]:
    """Every task (with its bound and options) and every strategy, one line each (the
    start-method variants in one)."""
    from imgbench.measure.strategies import START_METHOD_VARIANTS, STRATEGIES, variant_name
    from imgbench.measure.tasks import TASKS

    lines = ["tasks (options go in an experiment's task_options):"]
    width = max(map(len, TASKS))
    for name, task in TASKS.items():
        options = ", ".join(
            f"{k}={v}" + (f" ({'|'.join(task.choices[k])})" if k in task.choices else "")
            for k, v in task.options.items()
        )
        lines.append(
            f"  {name:<{width}}  {task.bound:<4}  {task.summary}"
            + (f" [options: {options}]" if options else "")
        )
    lines.append("strategies:")
    # The start-method variants are one line: 18 more names that say the same but the method.
    listed = {n: s for n, s in STRATEGIES.items() if s.start_method not in START_METHOD_VARIANTS}
    width = max(map(len, listed))
    lines += [f"  {name:<{width}}  {s.summary}" for name, s in listed.items()]
    families = [s for s in listed.values() if s.pool == "processes" and s.start_method is None]
    first, last = families[0], families[-1]
    lines.append(
        f"  {'<strategy>_<method>':<{width}}  each of {', '.join(s.name for s in families)} "
        f"with its workers started by {', '.join(START_METHOD_VARIANTS)} (config "
        f"start_methods), e.g. {variant_name(first.plain, first.persistent, 'spawn')}, "
        f"{variant_name(last.plain, last.persistent, 'forkserver')}"
    )
    return lines


def host_summary(machine: dict) -> str:
    """What ``imgbench info`` prints: the machine, cold-cache methods, start methods,
    library versions and registries, for people (``--json`` is for machines)."""
    methods = cache_methods()
    default, available = start_methods()
    lines = machine_lines(machine)
    lines.append(cold_verdict(methods))
    width = max(len(m.name) for m in methods)
    for m in methods:
        state = "yes" if m.available else "no "
        lines.append(f"  {m.name:<{width}}  {state}  for {m.serves} ({m.why})")
    others = [m for m in available if m != default]
    lines.append(f"start method: {default} (the platform's default; also: {', '.join(others)})")
    return "\n".join([*lines, *_wrapped("software:", library_versions()), *registry_lines()])


def _wrapped(head: str, items: list[str], width: int = 100) -> list[str]:
    """``head`` and the items joined by "; ", in lines of at most ``width`` broken between
    items only (a version is never split from its name)."""
    lines = [head]
    for i, item in enumerate(items):
        piece = item + ("" if i == len(items) - 1 else ";")
        if len(lines[-1]) + 1 + len(piece) > width and lines[-1] != head:
            lines.append(" ")
        lines[-1] += " " + piece
    return lines


def registries() -> dict:
    """The task and strategy registries as ``imgbench info --json`` prints them."""
    from imgbench.measure.strategies import STRATEGIES
    from imgbench.measure.tasks import TASKS

    return {
        "tasks": {
            name: {
                "summary": t.summary,
                "options": dict(t.options),
                "choices": {k: list(v) for k, v in t.choices.items()},
                "bound": t.bound,
                "input_kind": t.input_kind,
                "vectorized": bool(t.batch),
            }
            for name, t in TASKS.items()
        },
        "strategies": {name: s.summary for name, s in STRATEGIES.items()},
    }
