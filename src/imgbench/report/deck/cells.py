"""One row per cell, joined from the tables, and how the deck writes a cell's verdicts:
its comparison with the fastest of its group, its bound, its Karp-Flatt metric.
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench import words
from imgbench.analysis.speedup import ONE_WORKER
from imgbench.analysis.tables import align_hosts
from imgbench.vocabulary import BASELINE, HOST_CELL, HOST_GROUP

#: Columns of comparisons.csv the deck shows where the table has them (older tables lack
#: the Holm-corrected p-value, the equivalence test and the comparison with the loop).
COMPARISON_COLUMNS = [
    "mannwhitney_p",
    "p_value",
    "p_holm",
    "testable",
    "equivalent",
    "equivalence_margin",
    "max_missed_difference",
    "ratio",
    "ratio_ci90_low",
    "ratio_ci90_high",
    "faster_than_loop",
]


def _by_baseline(frame: pd.DataFrame, baseline: str, columns: dict[str, str]) -> pd.DataFrame:
    """The rows of one base case, keyed by cell and host, with ``columns`` renamed."""
    rows = frame[frame["baseline"] == baseline]
    present = {k: v for k, v in columns.items() if k in rows.columns}
    return rows[[*HOST_CELL, *present]].rename(columns=present).drop_duplicates(HOST_CELL)


def cell_frame(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per cell: its summary, both speedups, efficiency, Karp-Flatt and comparison."""
    tables = align_hosts(tables)
    summary, speedup, efficiency = tables["summary"], tables["speedup"], tables["efficiency"]
    sp = {"speedup": "speedup", "speedup_ci_low": "ci_low", "speedup_ci_high": "ci_high"}
    cells = summary.merge(
        _by_baseline(speedup, BASELINE, {k: f"serial_{v}" for k, v in sp.items()}),
        on=HOST_CELL,
        how="left",
    )
    cells = cells.merge(
        _by_baseline(speedup, ONE_WORKER, {k: f"one_{v}" for k, v in sp.items()}),
        on=HOST_CELL,
        how="left",
    )
    cells = cells.merge(
        _by_baseline(efficiency, BASELINE, {"efficiency": "efficiency"}),
        on=HOST_CELL,
        how="left",
    )
    cells = cells.merge(
        _by_baseline(efficiency, ONE_WORKER, {"karp_flatt": "karp_flatt"}),
        on=HOST_CELL,
        how="left",
    )
    cells = cells.merge(
        _by_baseline(
            speedup,
            BASELINE,
            {
                "bound": "bound",
                "exceeds_bound": "exceeds_bound",
                "cpu_per_image_ratio": "cpu_per_image_ratio",
            },
        ),
        on=HOST_CELL,
        how="left",
    )
    compare = tables["comparisons"]
    present = ["significantly_slower", *(c for c in COMPARISON_COLUMNS if c in compare.columns)]
    cells = cells.merge(
        compare[[*HOST_CELL, *present]].drop_duplicates(HOST_CELL),
        on=HOST_CELL,
        how="left",
    )
    for column in [
        "serial_speedup",
        "serial_ci_low",
        "serial_ci_high",
        "one_speedup",
        "one_ci_low",
        "one_ci_high",
        "efficiency",
        "karp_flatt",
        "bound",
        "exceeds_bound",
        *COMPARISON_COLUMNS,
    ]:
        if column not in cells.columns:
            cells[column] = math.nan
    fastest = cells.groupby(HOST_GROUP)["median_s"].transform("min")
    cells["fastest"] = cells["median_s"] == fastest
    return cells


def comparison_p(cell) -> float:
    """The p-value a comparison reports: Holm-adjusted where the table has it."""
    for column in ("p_holm", "p_value", "mannwhitney_p"):
        value = words.number(cell.get(column))
        if math.isfinite(value):
            return value
    return math.nan


def vs_best(cell) -> str:
    """The comparison's verdict against the group's fastest cell, as comparisons.csv says it:
    "slower" (significantly, Holm-corrected), "equivalent" (TOST within the margin), "can't
    tell" (neither: with the largest difference the repetitions could have missed), or, in
    tables without an equivalence test, "not sig. slower"."""
    if cell["fastest"]:
        return "fastest"
    if words.is_true(cell["significantly_slower"]):
        return "slower"
    tested = math.isfinite(comparison_p(cell)) or words.is_true(cell.get("testable"))
    if not words.is_missing(cell.get("equivalent")):
        if words.is_true(cell["equivalent"]):
            return "equivalent"
        missed = words.number(cell.get("max_missed_difference"))
        return f"can't tell (±{missed:.0%})" if math.isfinite(missed) else "can't tell"
    if not tested:
        return "n/a"
    return "not sig. slower"


def bound_mark(cell) -> str:
    """ " ⚠ > bound 2" after a speedup above its physical bound; "" otherwise."""
    if not words.is_true(cell.get("exceeds_bound")):
        return ""
    bound = words.number(cell.get("bound"))
    return f" ⚠ > bound {bound:g}" if math.isfinite(bound) else " ⚠ > bound"


def karp_flatt_text(cell) -> str:
    """Karp-Flatt e; "— (p > cores)" where the table leaves it out beyond the usable cores."""
    value = words.number(cell.get("karp_flatt"))
    if math.isfinite(value):
        return words.decimal(value)
    cores, workers = words.number(cell.get("usable_cores")), words.number(cell.get("workers"))
    if math.isfinite(cores) and math.isfinite(workers) and workers > cores:
        return "— (p > cores)"
    return "n/a"
