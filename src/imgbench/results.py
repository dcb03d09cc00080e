"""Result files: the interface between stages, written atomically.

A cell result is JSON (schema ``SCHEMA_VERSION``): the cell, its run parameters, the machine,
start/end times, phase durations and one record per repetition (warm-ups flagged). A file
either exists complete or not at all: it is written to a temporary sibling and renamed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file, or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; results are shared, so give them the usual umask mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())


def load_cell_result(path: Path) -> dict:
    with open(path) as f:
        result = json.load(f)
    version = result.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path}: result schema {version}, this imgbench reads {SCHEMA_VERSION}")
    return result
