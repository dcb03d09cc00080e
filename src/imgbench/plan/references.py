"""Reference files: a source study's published findings as data, loaded and checked.

A reference file (``config/references/*.yaml``) holds a study's findings: each names the
cell it is about and a baseline cell, the study's numbers, and what the study concluded
(faster / not_faster / slower). ``load_reference`` checks it (every error names the file
and the key) and completes each finding. Judging the findings on our results is the
analysis' (``imgbench.analysis.references``); writing them for people, the report's
(``imgbench.report.reference``).
"""

from __future__ import annotations

import re
from pathlib import Path

from imgbench.errors import ConfigError
from imgbench.plan.config import load_yaml
from imgbench.vocabulary import CACHES, STORAGES, format_size, parse_size

TOP_KEYS = {"study", "source", "machine", "cores", "method", "flaws", "departures", "findings"}
FINDING_KEYS = {"id", "claim", "expect", "published", "cell", "baseline", "why"}
PUBLISHED_KEYS = ("time_s", "baseline_time_s", "speedup")
CELL_KEYS = ("experiment", "task", "storage", "cache", "size", "n_images", "strategy", "workers")
EXPECTS = ("faster", "not_faster", "slower")
CHOICES = {"storage": STORAGES, "cache": CACHES}
_ID = re.compile(r"^[a-z0-9_]+$")


# ----- the reference file -------------------------------------------------------------------


def _is_size(value: str) -> bool:
    """``WIDTHxHEIGHT`` exactly as the vocabulary writes it (no spaces, no capital X)."""
    try:
        return format_size(*parse_size(value)) == value
    except ValueError:
        return False


def _fail(path: Path, key: str, problem: str) -> None:
    raise ConfigError(f"{path}: key {key}: {problem}")


def _text(path: Path, key: str, value, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        _fail(path, key, "must be a non-empty string")
    return value


def _count(path: Path, key: str, value) -> int:
    # bool is an int in Python; `workers: yes` is still a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(path, key, f"must be a positive integer, not {value!r}")
    return value


def _mapping(path: Path, key: str, value, allowed) -> dict:
    if not isinstance(value, dict):
        _fail(path, key, "must be a mapping")
    for name in value:
        if name not in allowed:
            _fail(path, f"{key}.{name}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
    return value


def _cell(path: Path, key: str, cell: dict, required: bool) -> dict:
    if required:
        for name in CELL_KEYS:
            if name not in cell:
                _fail(path, f"{key}.{name}", "missing")
    out = {}
    for name, value in cell.items():
        where = f"{key}.{name}"
        if name in ("n_images", "workers"):
            out[name] = _count(path, where, value)
        elif name == "size":
            if not isinstance(value, str) or not _is_size(value):
                _fail(path, where, f"must be WIDTHxHEIGHT, e.g. 640x480, not {value!r}")
            out["size"] = value
        else:
            out[name] = _text(path, where, value)
            if name in CHOICES and value not in CHOICES[name]:
                _fail(path, where, f"{value!r} not allowed; allowed: {', '.join(CHOICES[name])}")
    return out


def _published(path: Path, key: str, value) -> dict:
    value = _mapping(path, key, value, PUBLISHED_KEYS)
    out = {}
    for name in PUBLISHED_KEYS:
        v = value.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v <= 0):
            _fail(path, f"{key}.{name}", f"must be a positive number, not {v!r}")
        out[name] = None if v is None else float(v)
    # Neither number: a qualitative claim ("chunking fixes it"), judged on direction alone.
    if out["baseline_time_s"] is not None and out["time_s"] is None:
        _fail(path, f"{key}.time_s", "missing: baseline_time_s needs the cell's time_s")
    if out["speedup"] is None and out["baseline_time_s"] is not None:
        out["speedup"] = out["baseline_time_s"] / out["time_s"]
    return out


def load_reference(path: Path) -> dict:
    """Read and check a reference file; every error names the file and the key.

    Each finding comes back with ``cell`` and ``baseline`` both complete (the baseline is
    the cell with the overrides applied) and ``published`` with all three numbers, the
    speedup derived from the two times when the study gave only those (None if unknown).
    """
    path = Path(path)
    data = _mapping(path, "(top level)", load_yaml(path), TOP_KEYS)
    for name in sorted(TOP_KEYS):
        if name not in data:
            _fail(path, name, "missing")
    for name in ("study", "source", "machine", "method"):
        _text(path, name, data[name])
    if data["cores"] is not None:
        _count(path, "cores", data["cores"])
    for name in ("flaws", "departures"):
        items = data[name] if data[name] is not None else []
        if not isinstance(items, list):
            _fail(path, name, "must be a list of strings")
        data[name] = [_text(path, f"{name}[{i}]", item) for i, item in enumerate(items)]
    if not isinstance(data["findings"], list) or not data["findings"]:
        _fail(path, "findings", "must be a non-empty list")
    findings, seen = [], set()
    for i, raw in enumerate(data["findings"]):
        key = f"findings[{i}]"
        raw = _mapping(path, key, raw, FINDING_KEYS)
        for name in ("id", "claim", "expect", "published", "cell", "baseline"):
            if name not in raw:
                _fail(path, f"{key}.{name}", "missing")
        fid = raw["id"]
        if not isinstance(fid, str) or not _ID.match(fid):
            _fail(path, f"{key}.id", f"{fid!r} must match [a-z0-9_]+")
        if fid in seen:
            _fail(path, f"{key}.id", f"{fid!r} is used twice")
        seen.add(fid)
        if raw["expect"] not in EXPECTS:
            _fail(path, f"{key}.expect", f"{raw['expect']!r}; allowed: {', '.join(EXPECTS)}")
        cell = _cell(
            path, f"{key}.cell", _mapping(path, f"{key}.cell", raw["cell"], CELL_KEYS), True
        )
        overrides = _mapping(path, f"{key}.baseline", raw["baseline"], CELL_KEYS)
        baseline = {**cell, **_cell(path, f"{key}.baseline", overrides, False)}
        if baseline == cell:
            _fail(path, f"{key}.baseline", "must differ from the cell")
        findings.append(
            {
                "id": fid,
                "claim": _text(path, f"{key}.claim", raw["claim"]),
                "expect": raw["expect"],
                "published": _published(path, f"{key}.published", raw["published"]),
                "cell": cell,
                "baseline": baseline,
                "why": _text(path, f"{key}.why", raw.get("why"), optional=True),
            }
        )
    return {**data, "findings": findings}
