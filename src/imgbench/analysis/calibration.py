"""Known-answer calibration: measured speedups of the known-answer tasks against physics.

The tasks of ``imgbench.measure.tasks.known_answers`` have speedups that follow from how
they use the machine, not from imgbench: ``sleep`` waits with the GIL released (ideal: the workers),
``spin_python`` holds the GIL (threads about 1x, processes about min(workers, cores)) and
``spin_native`` computes in C with the GIL released (min(workers, cores) for both). A cell
within ``TOLERANCE`` of its expected speedup says the harness measures what it claims. One
*below* it points at overhead, interference or a machine that does not deliver the cores it
reports (and, for pure-Python threads, at the GIL's hand-off between cores); one *above* it
at a base case that was slowed down, or a cell that did less work than it claims. The
speedups come from ``speedup.csv`` (base case: the loop).

Their diagnoses are known too (``expected_diagnoses``; ``imgbench.analysis.diagnosis``
names them): ``sleep`` is *waiting* under any pool; ``spin_python`` is *gil-bound* under
threads and asyncio with two or more cores in reach (one core cannot show the GIL: there it
is *core-bound*); everything else computes on its cores, *core-bound*. With more workers
than cores, *oversubscribed* is right as well: physics allows the extra workers' time
slicing to cost (a cell is called so only if it lost to the same strategy within the
cores), it does not say how much. Each cell's diagnosis, from ``diagnosis.csv``, is checked
against them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

#: A known-answer cell agrees with physics when its speedup is within this relative
#: distance of the expected one.
TOLERANCE = 0.10
#: Strategies that run the work in the parent's interpreter (bound by the GIL for
#: pure-Python work) and those that run it in worker processes.
IN_PROCESS = {"threads", "threads_chunked", "asyncio"}
OTHER_PROCESSES = {"processes", "processes_chunked", "processes_shm"}
KEYS = ["task", "storage", "cache", "width", "height", "n_images", "strategy", "workers", "host"]
COLUMNS = [
    *KEYS,
    "usable_cores",
    "expected_speedup",
    "expected_low",
    "expected_high",
    "speedup",
    "speedup_ci_low",
    "speedup_ci_high",
    "within",
    "verdict",
    "expected_diagnosis",
    "diagnosis",
    "diagnosis_right",
]


def expected_speedup(task: str, strategy: str, workers: int, cores: int) -> float | None:
    """What physics says the speedup over the loop is; None: no known answer."""
    if strategy not in IN_PROCESS | OTHER_PROCESSES:
        return None
    if task == "sleep":
        return float(workers)
    if task == "spin_python":
        return 1.0 if strategy in IN_PROCESS else float(min(workers, cores))
    if task == "spin_native":
        return float(min(workers, cores))
    return None


def expected_diagnoses(task: str, strategy: str, workers: int, cores: int) -> tuple[str, ...]:
    """The diagnoses physics allows a known-answer cell (module docstring); () when it has
    no known answer."""
    if expected_speedup(task, strategy, workers, cores) is None:
        return ()
    if task == "sleep":
        return ("waiting",)
    if task == "spin_python" and strategy in IN_PROCESS and min(workers, cores) >= 2:
        return ("gil-bound",)
    return ("core-bound", "oversubscribed") if workers > cores else ("core-bound",)


def _verdict(speedup: float, expected: float) -> tuple[bool, str]:
    if not math.isfinite(speedup):
        return False, "not measured"
    ratio = speedup / expected
    if abs(ratio - 1.0) <= TOLERANCE:
        return True, f"as expected ({ratio:.0%} of {expected:g}x)"
    # Short, to fit a table row; what each means is in the module's docstring and README.
    if ratio > 1.0:
        return False, f"above the known answer ({ratio:.0%} of {expected:g}x)"
    return False, f"below the known answer ({ratio:.0%} of {expected:g}x)"


#: The calibration's keys that are counts: compared as integers, however a CSV read them.
_COUNTS = ("width", "height", "n_images", "workers")


def _key(values: dict) -> tuple:
    """A cell's calibration key, comparable across tables (a missing host is "")."""
    return tuple(
        int(values[k])
        if k in _COUNTS
        else ("" if k == "host" and pd.isna(values[k]) else str(values[k]))
        for k in KEYS
    )


def _diagnosed(diagnosis: pd.DataFrame | None) -> dict[tuple, str]:
    """Each cell's diagnosis by its calibration key ({} without a diagnosis table)."""
    if diagnosis is None or diagnosis.empty or "diagnosis" not in diagnosis.columns:
        return {}
    return {_key(row): str(row["diagnosis"]) for row in diagnosis.to_dict("records")}


def calibration_frame(speedup: pd.DataFrame, diagnosis: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per known-answer cell (base case: the loop), with its expected speedup and,
    given the diagnosis table, its expected and actual diagnosis (empty without one)."""
    rows = []
    if speedup.empty:
        return pd.DataFrame(columns=COLUMNS)
    diagnosed = _diagnosed(diagnosis)
    vs_loop = speedup[speedup["baseline"] == "serial"]
    for row in vs_loop.itertuples(index=False):
        cores = int(row.usable_cores)
        expected = expected_speedup(row.task, row.strategy, int(row.workers), cores)
        if expected is None:
            continue
        within, verdict = _verdict(float(row.speedup), expected)
        allowed = expected_diagnoses(row.task, row.strategy, int(row.workers), cores)
        found = diagnosed.get(_key(row._asdict()), "")
        rows.append(
            {
                **{k: getattr(row, k) for k in KEYS},
                "usable_cores": cores,
                "expected_speedup": expected,
                "expected_low": expected * (1 - TOLERANCE),
                "expected_high": expected * (1 + TOLERANCE),
                "speedup": row.speedup,
                "speedup_ci_low": row.speedup_ci_low,
                "speedup_ci_high": row.speedup_ci_high,
                "within": within,
                "verdict": verdict,
                "expected_diagnosis": " or ".join(allowed),
                "diagnosis": found,
                # Unknown (no diagnosis table) is not wrong: None, and the slide says so.
                "diagnosis_right": (found in allowed) if found else None,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def delivered_cores(frame: pd.DataFrame) -> float | None:
    """Cores the machine really delivers: the best speedup of the CPU-bound known answer
    that scales with cores (spin_native), whatever the worker count."""
    native = frame[frame["task"] == "spin_native"]
    return float(native["speedup"].max()) if len(native) else None


def write_calibration(results_dir: Path, output_dir: Path | None = None) -> pd.DataFrame:
    """Write ``calibration.csv`` and ``calibration.json`` from an experiment's speedup.csv."""
    from imgbench.files import write_atomic, write_json_atomic

    results_dir = Path(results_dir)
    output_dir = Path(output_dir or results_dir)
    # The diagnoses are aggregate's too (diagnosis.csv beside speedup.csv); older results
    # directories have none.
    diagnosis_path = results_dir / "diagnosis.csv"
    diagnosis = (
        pd.read_csv(diagnosis_path, dtype={"host": str}) if diagnosis_path.is_file() else None
    )
    frame = calibration_frame(pd.read_csv(results_dir / "speedup.csv"), diagnosis)
    write_atomic(output_dir / "calibration.csv", frame.to_csv(index=False).encode())
    summary = {
        "delivered_cores": delivered_cores(frame),
        "usable_cores": int(frame["usable_cores"].max()) if len(frame) else None,
        "cells": len(frame),
        "within": int(frame["within"].sum()),
        "tolerance": TOLERANCE,
        "diagnosed": int(frame["diagnosis_right"].notna().sum()),
        "diagnoses_right": int(frame["diagnosis_right"].eq(True).sum()),
    }
    write_json_atomic(output_dir / "calibration.json", summary)
    return frame
