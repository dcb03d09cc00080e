"""The Amdahl table: T(p) = Ts + Tp / p fitted per (group, strategy) on each host over its
worker counts within the usable cores, never beyond them (there workers compete for cores,
which Amdahl's law does not model).
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench.analysis.stats import amdahl_fit
from imgbench.vocabulary import GROUP, HOST, HOST_GROUP

#: An Amdahl fit needs this many worker counts within the usable cores (two points fit any
#: such curve exactly).
AMDAHL_MIN_POINTS = 3
AMDAHL_COLUMNS = [
    *GROUP,
    "strategy",
    HOST,
    "points",
    "fit_max_workers",
    "t_serial_s",
    "t_parallel_s",
    "serial_fraction",
    "max_speedup",
    "fit_r2",
    "fit_note",
]
_FITTED = ["t_serial_s", "t_parallel_s", "serial_fraction", "max_speedup", "fit_r2"]


def _fit_row(row: dict, fitted: pd.DataFrame, cores: int) -> dict:
    """One (group, strategy)'s fit over its worker counts within ``cores``; NaNs and a
    ``fit_note`` saying why when there are fewer than ``AMDAHL_MIN_POINTS``."""
    if fitted["workers"].nunique() < AMDAHL_MIN_POINTS:
        return {
            **row,
            "points": len(fitted),
            "fit_max_workers": math.nan,
            **dict.fromkeys(_FITTED, math.nan),
            "fit_note": f"not fitted: {fitted['workers'].nunique()} worker count(s) "
            f"within the {cores} usable cores, {AMDAHL_MIN_POINTS} needed",
        }
    ts, tp, r2 = amdahl_fit(fitted["workers"], fitted["median_s"])
    total = ts + tp
    return {
        **row,
        "points": len(fitted),
        "fit_max_workers": int(fitted["workers"].max()),
        "t_serial_s": ts,
        "t_parallel_s": tp,
        "serial_fraction": ts / total if total > 0 else math.nan,
        "max_speedup": total / ts if ts > 0 else math.inf,
        "fit_r2": r2,
        "fit_note": "",
    }


def amdahl_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """One row (``AMDAHL_COLUMNS``) per (group, strategy) on each host with at least two
    worker counts; fewer than ``AMDAHL_MIN_POINTS`` within the cores give a row of NaNs
    whose ``fit_note`` says why."""
    rows = []
    for key, g in summary.groupby([*HOST_GROUP, "strategy"], sort=True):
        g = g.sort_values("workers")
        if g["workers"].nunique() < 2:
            continue
        cores = int(g["usable_cores"].max())
        row = dict(zip([*HOST_GROUP, "strategy"], key, strict=True))
        rows.append(_fit_row(row, g[g["workers"] <= cores], cores))
    return pd.DataFrame(rows, columns=AMDAHL_COLUMNS)
