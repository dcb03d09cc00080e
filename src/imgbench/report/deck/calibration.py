"""The known-answers slide: each calibration cell's expected speedup beside the measured one,
its known diagnosis beside the one the analysis gave it, and how many cores this machine
delivers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from imgbench import words
from imgbench.analysis.threats import distinct, flags
from imgbench.report.deck.model import Row, Table, label_text, text_cells
from imgbench.vocabulary import HOST

#: The calibration preset's table and summary, next to the experiment's tables when present.
CALIBRATION_TABLE = "calibration.csv"


CALIBRATION_SUMMARY = "calibration.json"


def _summary(path: Path) -> dict:
    """calibration.json, or {} when it is missing or not a JSON object."""
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _table(frame: pd.DataFrame) -> Table:
    """Each calibration cell: expected speedup and range, measured with CI, verdict."""
    hosts = HOST in frame.columns and frame[HOST].nunique() > 1
    table = Table(
        columns=[
            *([("host", False)] if hosts else []),
            ("task", False),
            ("size", False),
            ("n", True),
            ("cell", False),
            ("cores", True),
            ("expected", True),
            ("range", True),
            ("measured", True),
            ("within", False),
            ("verdict", False),
            ("diagnosis", False),
        ]
    )
    keys = [k for k in ("task", "n_images", "strategy", "workers") if k in frame.columns]
    ordered = frame.sort_values(keys, kind="stable") if keys else frame
    for _, row in ordered.iterrows():
        size = (
            words.size(row)
            if math.isfinite(words.number(row.get("width")))
            and math.isfinite(words.number(row.get("height")))
            else "n/a"
        )
        inside = words.is_true(row.get("within"))
        diagnosis, right = _diagnosis(row)
        values = [
            *([(str(row.get(HOST)), False)] if hosts else []),
            (words.text(row.get("task")), False),
            (size, False),
            (words.integer(row.get("n_images")), True),
            (words.who(str(row.get("strategy")), row.get("workers")), False),
            (words.integer(row.get("usable_cores")), True),
            (words.speedup(row.get("expected_speedup")), True),
            (
                words.interval(row.get("expected_low"), row.get("expected_high"), words.decimal),
                True,
            ),
            (
                words.speedup_ci(
                    row.get("speedup"), row.get("speedup_ci_low"), row.get("speedup_ci_high")
                ),
                True,
            ),
            ("yes" if inside else "no", False),
            (label_text(row.get("verdict")), False),
            (diagnosis, False),
        ]
        table.rows.append(Row(text_cells(values), "" if inside and right else "flagged"))
    return table


def _diagnosis(row) -> tuple[str, bool]:
    """The cell's diagnosis, marked right or wrong against the known one, and whether it is
    not wrong ("n/a", not wrong, where the table predates diagnoses)."""
    found, expected = row.get("diagnosis"), row.get("expected_diagnosis")
    if words.is_missing(found) or words.is_missing(row.get("diagnosis_right")):
        return words.NA, True
    if words.is_true(row.get("diagnosis_right")):
        return f"{found} ✓", True
    return f"{found} ✗ (known: {expected})", False


def calibration_section(results_dir: Path) -> dict | None:
    """The known-answer slide: each calibration cell's expected speedup (with its range)
    beside the measured one (with its CI) and its verdict, and how many cores this machine
    delivers. None when the results directory has no ``calibration.csv``."""
    path = Path(results_dir) / CALIBRATION_TABLE
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, dtype={HOST: str})
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    summary = _summary(Path(results_dir) / CALIBRATION_SUMMARY)
    table = _table(frame)
    within_flags = flags(frame, "within")
    delivered = words.number(summary.get("delivered_cores"))
    cells = words.number(summary.get("cells"))
    within = words.number(summary.get("within"))
    if not math.isfinite(cells):
        cells = float(len(frame))
    if not math.isfinite(within):
        within = float(within_flags.sum())
    # Each cell's diagnosis against its known one (none in tables that predate diagnoses).
    checked = [
        words.is_true(row.get("diagnosis_right"))
        for _, row in frame.iterrows()
        if not words.is_missing(row.get("diagnosis_right"))
    ]
    diagnoses = f" {sum(checked)} of {len(checked)} diagnosed as known." if checked else ""
    cores = distinct(frame, "usable_cores")
    of_cores = f" of its {words.joined(int(c) for c in cores)} usable" if cores else ""
    return {
        "delivered": (
            f"This machine delivers {delivered:.2f} cores{of_cores}."
            if math.isfinite(delivered)
            else "The cores this machine delivers were not measured (calibration.json "
            "names none: no spin_native cell)."
        ),
        "within": f"{int(within)} of {int(cells)} known-answer cells measured within their "
        "expected range." + diagnoses,
        "all_within": bool(cells) and within == cells and all(checked),
        "table": table,
    }
