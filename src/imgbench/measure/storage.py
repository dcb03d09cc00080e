"""Where a cell's files live: ``disk`` (a directory under results/) or ``shm`` (a tmpfs).

Inputs are staged onto the storage and outputs get a fresh directory there, both untimed,
and everything a cell created is removed when it ends, whether it succeeded or not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from imgbench.errors import ConfigError, ImgbenchError

STORAGES = ("disk", "shm")
#: Scratch areas in use by this process: a cell stopped without unwinding (a time limit, a
#: signal) removes them through ``remove_active_areas``.
_ACTIVE_AREAS: set[Path] = set()


@contextlib.contextmanager
def scratch_area(storage: str, root: Path) -> Iterator[Path]:
    """A new private directory under ``root`` on the given storage, removed afterwards."""
    if storage not in STORAGES:
        raise ConfigError(f"storage: unknown value {storage!r}; allowed: {', '.join(STORAGES)}")
    root = Path(root)
    if not root.is_dir():
        if storage == "shm":
            raise ConfigError(f"scratch.shm: {root} does not exist (is a tmpfs mounted there?)")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"scratch.{storage}: cannot create {root} ({exc})") from exc
    if not os.access(root, os.W_OK):
        raise ConfigError(f"scratch.{storage}: {root} is not writable")
    try:
        # The pid in the name tells a leftover (its process is gone) from a live cell's area.
        area = Path(tempfile.mkdtemp(prefix=f"imgbench-{os.getpid()}-", dir=root))
    except OSError as exc:
        raise ImgbenchError(
            f"scratch.{storage}: cannot create a directory in {root} ({exc})"
        ) from exc
    _ACTIVE_AREAS.add(area)
    try:
        yield area
    finally:
        shutil.rmtree(area, ignore_errors=True)
        _ACTIVE_AREAS.discard(area)


def remove_active_areas() -> None:
    """Remove every scratch area of this process now (for a cell that is being stopped)."""
    for area in list(_ACTIVE_AREAS):
        # Threads of a stopped cell may still be writing: a file created during one pass is
        # removed by the next.
        for _ in range(3):
            shutil.rmtree(area, ignore_errors=True)
            if not area.exists():
                break
        _ACTIVE_AREAS.discard(area)


def stage_inputs(paths: Sequence[Path], storage: str, area: Path) -> list[Path]:
    """Return the paths a task should read: in place on disk, copies on shm."""
    if storage == "disk":
        return list(paths)
    staged = area / "inputs"
    staged.mkdir()
    out = []
    for path in paths:
        target = staged / path.name
        try:
            shutil.copyfile(path, target)
        except OSError as exc:
            # e.g. a tmpfs too small for the dataset: name the file and the cause.
            raise ImgbenchError(f"{target}: cannot stage input {path} ({exc})") from exc
        out.append(target)
    return out


def reset_output_dir(directory: Path) -> None:
    """Empty (or create) a saving task's output directory."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
