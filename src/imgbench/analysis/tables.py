"""The table contract: which tables an experiment has, each table's key and columns, how
they are built from cell results, and the one reader of them (docs/results.md describes
every column).

What a table is:

- ``NAMES``: the tables ``imgbench aggregate`` writes, each as ``NAME.csv``, in order.
- ``KEYS[name]``: the columns that identify a row (the host is second: tables of several
  machines sort host by host). ``COLUMNS[name]``: every column, in the order written
  (``timings`` has no fixed list: one column per field of a repetition; its key is fixed).
- ``MATCH_KEY``: what identifies a cell across two result sets (``imgbench compare``): the
  cell without the experiment's name and the host.
- ``TEXT_COLUMNS``, ``NUMBER_COLUMNS``: the columns ``typed`` coerces (besides every
  ``*_s`` column, a number).
- ``build_tables(results, margins)``: every table of ``NAMES`` from loaded cell results.

Reading them back, as raw reads plus named steps, so that each reader keeps what it needs:

- ``read_table(path, required=(), check_empty=True, missing_ok=False, hint=...)``: one
  CSV, the ``host`` column read as text (a hostname such as "0123" or "1e5" stays a
  name). A missing file is an ``ImgbenchError`` naming it (``missing_ok``: None instead);
  an empty file is a frame with the ``required`` columns and no rows; a ``required``
  column that is absent is an error naming the file (``check_empty=False``: only when the
  table has rows).
- ``typed(frame)``: numbers as floats (infinities as NaN), names as strings, only rows
  with a complete identity, an empty ``experiment`` where a table has tasks but none: so
  that tables merge on their keys whatever pandas inferred from each file.
- ``align_hosts(tables, results_dir=None, blank_one_host=False, missing_host="fill")``:
  every table with a text ``host`` column. A table without one (written before results
  named their host) is a one-host table: it gets the others' single host, and
  (``missing_host="fill"``) is an error beside tables that name several, or
  (``missing_host="blank"``) gets an empty name. ``blank_one_host``: with a single host,
  its name is blanked everywhere (tables that name it and tables that do not still join).
- ``hosts_of(tables)``: the hosts the tables name, sorted.
- ``read_tables(results_dir, names=NAMES, required=None, optional=(), coerce=False,
  blank_one_host=False, missing_host="fill")``: the tables ``names`` (each must exist)
  and ``optional`` (an empty frame when absent) of one experiment, ``required[name]``
  checked, ``typed`` when ``coerce``, then ``align_hosts``. Every missing table is named
  at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from imgbench.analysis import recommend
from imgbench.analysis import results as result_files
from imgbench.analysis.amdahl import AMDAHL_COLUMNS, amdahl_frame
from imgbench.analysis.comparisons import COMPARISON_COLUMNS, comparisons_frame
from imgbench.analysis.diagnosis import COLUMNS as DIAGNOSIS_COLUMNS
from imgbench.analysis.diagnosis import diagnosis_frame
from imgbench.analysis.speedup import (
    EFFICIENCY_COLUMNS,
    SPEEDUP_COLUMNS,
    efficiency_frame,
    speedup_frame,
)
from imgbench.analysis.summary import SUMMARY_COLUMNS, summary_frame
from imgbench.errors import ImgbenchError
from imgbench.vocabulary import CELL, HOST, HOST_CELL, HOST_GROUP

#: The tables ``imgbench aggregate`` writes, each as ``NAME.csv``.
NAMES = (
    "timings",
    "summary",
    "speedup",
    "efficiency",
    "amdahl",
    "comparisons",
    "recommendations",
    "diagnosis",
)
#: The columns that identify a row of each table.
KEYS: dict[str, list[str]] = {
    "timings": [*HOST_CELL, "round", "repetition"],
    "summary": HOST_CELL,
    "speedup": [*HOST_CELL, "baseline"],
    "efficiency": [*HOST_CELL, "baseline"],
    "amdahl": [*HOST_GROUP, "strategy"],
    "comparisons": HOST_CELL,
    "recommendations": HOST_GROUP,
    "diagnosis": HOST_CELL,
}
#: Every column of each table, in the order written (timings: one per repetition field).
COLUMNS: dict[str, list[str]] = {
    "summary": SUMMARY_COLUMNS,
    "speedup": SPEEDUP_COLUMNS,
    "efficiency": EFFICIENCY_COLUMNS,
    "amdahl": AMDAHL_COLUMNS,
    "comparisons": COMPARISON_COLUMNS,
    "recommendations": recommend.COLUMNS,
    "diagnosis": DIAGNOSIS_COLUMNS,
}
#: What identifies a cell across result sets: the experiment's name and the host left out.
MATCH_KEY = CELL[1:]
#: Columns ``typed`` reads as text, and as numbers (besides every ``*_s`` column).
TEXT_COLUMNS = ("experiment", HOST, "task", "storage", "cache", "strategy", "baseline")
NUMBER_COLUMNS = (
    "width",
    "height",
    "n_images",
    "workers",
    "speedup",
    "speedup_ci_low",
    "speedup_ci_high",
    "efficiency",
    "efficiency_ci_low",
    "efficiency_ci_high",
    "worker_busy",
    "usable_cores",
    "fit_max_workers",
    "bound",
    "best_workers",
)
#: The identity columns a typed row must have.
_IDENTITY = ("width", "height", "n_images", "workers")
AGGREGATE_HINT = "run `imgbench aggregate` first"


def build_tables(results: list[dict], margins: dict | None = None) -> dict[str, pd.DataFrame]:
    """The tables of ``NAMES`` from loaded cell results; ``margins``: each experiment's
    equivalence margin (the default margin where one is missing)."""
    timings = result_files.timings_frame(results)
    summary = summary_frame(timings)
    speedup = speedup_frame(summary, timings)
    comparisons = comparisons_frame(summary, timings, margins or {})
    return {
        "timings": timings,
        "summary": summary,
        "speedup": speedup,
        "efficiency": efficiency_frame(speedup),
        "amdahl": amdahl_frame(summary),
        "comparisons": comparisons,
        "recommendations": recommend.recommendations_frame(summary, speedup, comparisons),
        "diagnosis": diagnosis_frame(summary),
    }


# ----- reading them back ---------------------------------------------------------------------


def read_table(
    path: Path,
    required: Sequence[str] = (),
    *,
    check_empty: bool = True,
    missing_ok: bool = False,
    hint: str = AGGREGATE_HINT,
) -> pd.DataFrame | None:
    """One table as written (see the module docstring); None for a missing file only with
    ``missing_ok``."""
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return None
        raise ImgbenchError(f"{path}: missing result table ({hint})")
    try:
        # A hostname such as "0123" or "1e5" must stay a name.
        frame = pd.read_csv(path, dtype={HOST: str})
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=list(required)) if required else pd.DataFrame()
    missing = [c for c in required if c not in frame.columns]
    if missing and (check_empty or not frame.empty):
        raise ImgbenchError(f"{path}: column(s) {', '.join(missing)} missing")
    return frame


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as floats (infinities as NaN), names as strings, and only rows with a
    complete identity.

    Key columns become floats in every table, so that tables merge on them whatever pandas
    inferred from each file (an empty table has no types to infer).
    """
    out = frame.copy()
    if "experiment" not in out.columns and "task" in out.columns:
        out["experiment"] = ""
    for column in out.columns:
        if column in TEXT_COLUMNS:
            out[column] = out[column].astype(str)
        elif column in NUMBER_COLUMNS or column.endswith("_s"):
            # An infinite CI end (a zero time somewhere) would stretch an axis to infinity.
            numbers = pd.to_numeric(out[column], errors="coerce").astype(float)
            out[column] = numbers.where(np.isfinite(numbers))
    keys = [c for c in _IDENTITY if c in out.columns]
    return out.dropna(subset=keys) if keys else out


def hosts_of(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """The hosts the tables name (their ``host`` columns), sorted."""
    hosts: set[str] = set()
    for frame in tables.values():
        if HOST in frame.columns:
            hosts |= set(frame[HOST].dropna().astype(str))
    return sorted(hosts)


def align_hosts(
    tables: Mapping[str, pd.DataFrame],
    results_dir: Path | None = None,
    *,
    blank_one_host: bool = False,
    missing_host: str = "fill",
) -> dict[str, pd.DataFrame]:
    """Every table with a text ``host`` column (see the module docstring);
    ``results_dir`` names the table in the error of ``missing_host="fill"``."""
    if missing_host not in ("fill", "blank"):
        raise ValueError(f"missing_host must be 'fill' or 'blank', not {missing_host!r}")
    hosts = hosts_of(tables)
    if blank_one_host and len(hosts) <= 1:
        return {name: frame.assign(**{HOST: ""}) for name, frame in tables.items()}
    aligned = {}
    for name, frame in tables.items():
        if HOST in frame.columns:
            aligned[name] = frame.assign(**{HOST: frame[HOST].fillna("").astype(str)})
        elif len(hosts) <= 1:
            aligned[name] = frame.assign(**{HOST: hosts[0] if hosts else ""})
        elif missing_host == "blank":
            aligned[name] = frame.assign(**{HOST: ""})
        else:
            path = Path(results_dir or ".") / f"{name}.csv"
            raise ImgbenchError(
                f"{path}: column host missing, but other tables name {len(hosts)} hosts "
                f"(run `imgbench aggregate` again)"
            )
    return aligned


def read_tables(
    results_dir: Path,
    names: Iterable[str] = NAMES,
    required: Mapping[str, Sequence[str]] | None = None,
    *,
    optional: Iterable[str] = (),
    coerce: bool = False,
    blank_one_host: bool = False,
    missing_host: str = "fill",
) -> dict[str, pd.DataFrame]:
    """The tables of one experiment, read, checked, typed when ``coerce``, hosts aligned
    (see the module docstring); ``names`` in order, then ``optional``."""
    results_dir = Path(results_dir)
    names, required = list(names), required or {}
    absent = [name for name in names if not (results_dir / f"{name}.csv").is_file()]
    if len(absent) == 1:
        path = results_dir / f"{absent[0]}.csv"
        raise ImgbenchError(f"{path}: missing result table ({AGGREGATE_HINT})")
    if absent:
        listed = ", ".join(f"{name}.csv" for name in absent)
        raise ImgbenchError(f"{results_dir}: missing result tables {listed} ({AGGREGATE_HINT})")
    tables = {}
    for name in [*names, *(n for n in optional if n not in names)]:
        frame = read_table(results_dir / f"{name}.csv", required.get(name, ()), missing_ok=True)
        tables[name] = pd.DataFrame() if frame is None else frame
    if coerce:
        tables = {name: typed(frame) for name, frame in tables.items()}
    return align_hosts(
        tables, results_dir, blank_one_host=blank_one_host, missing_host=missing_host
    )
