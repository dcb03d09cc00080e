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

from imgbench.errors import ConfigError

STORAGES = ("disk", "shm")


@contextlib.contextmanager
def scratch_area(storage: str, root: Path) -> Iterator[Path]:
    """A new private directory under ``root`` on the given storage, removed afterwards."""
    if storage not in STORAGES:
        raise ConfigError(f"storage: unknown value {storage!r}; allowed: {', '.join(STORAGES)}")
    root = Path(root)
    if not root.is_dir():
        if storage == "shm":
            raise ConfigError(f"scratch.shm: {root} does not exist (is a tmpfs mounted there?)")
        root.mkdir(parents=True, exist_ok=True)
    if not os.access(root, os.W_OK):
        raise ConfigError(f"scratch.{storage}: {root} is not writable")
    area = Path(tempfile.mkdtemp(prefix="imgbench-", dir=root))
    try:
        yield area
    finally:
        shutil.rmtree(area, ignore_errors=True)


def stage_inputs(paths: Sequence[Path], storage: str, area: Path) -> list[Path]:
    """Return the paths a task should read: in place on disk, copies on shm."""
    if storage == "disk":
        return list(paths)
    staged = area / "inputs"
    staged.mkdir()
    out = []
    for path in paths:
        target = staged / path.name
        shutil.copyfile(path, target)
        out.append(target)
    return out


def reset_output_dir(directory: Path) -> None:
    """Empty (or create) a saving task's output directory."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
