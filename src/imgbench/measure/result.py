"""Cell result files: the interface between measuring and analysis.

A cell result is JSON (schema ``SCHEMA_VERSION``): the cell, its run parameters, the machine,
start/end times, phase durations and one record per repetition (warm-ups flagged). A file
either exists complete or not at all: it is written to a temporary sibling and renamed.
"""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA_VERSION = 2


def load_cell_result(path: Path) -> dict:
    with open(path) as f:
        result = json.load(f)
    version = result.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path}: result schema {version}, this imgbench reads {SCHEMA_VERSION}")
    return result
