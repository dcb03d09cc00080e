"""The interpreters slide: the experiments that differ in their interpreter alone
(``pythons``), group by group: each interpreter's best strategy and its speedup over the
loop, and whether the verdict changes between them (``imgbench.analysis.interpreters``).
Shown in the deck of each of those experiments; nowhere else.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from imgbench import words
from imgbench.analysis.interpreters import REQUIRED, compare_interpreters, sibling_directories
from imgbench.report.deck.model import Row, Table, group_columns, group_order, text_cells
from imgbench.report.deck.model import group_values as place_values
from imgbench.vocabulary import BASELINE

NOTE = (
    "Each interpreter's experiment analysed on its own, against its own loop, with the same "
    "tests; cells matched on what was measured. Changes: another strategy or worker count "
    "is best (firm: under every interpreter the best was told apart from every other cell "
    "and within its physical bound; tied: some cell could not be told apart from a best, so "
    "the change may be noise); the claim “faster than the loop” holds under one interpreter "
    "and not another. Loop time: the loop's median under each interpreter against the first."
)


def _best(row) -> str:
    best = words.who(str(row["best_strategy"]), row["best_workers"])
    claim = "" if row["faster_than_loop"] or row["best_strategy"] == BASELINE else ", not faster"
    tied = "" if row["firm"] else " (tied)"
    return f"{best} {words.speedup(row['speedup'])}{claim}{tied}"


def _change(rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    changes = []
    if first["best_changed"]:
        changes.append("best: firm" if first["firm_change"] else "best: tied")
    if first["claim_changed"]:
        changes.append("claim")
    return "; ".join(changes) or "same"


def _loop_ratio(cells: pd.DataFrame, row, label: str) -> str:
    loop = cells[
        (cells["interpreter"] == label)
        & (cells["strategy"] == BASELINE)
        & (cells["task"] == row["task"])
        & (cells["width"] == row["width"])
        & (cells["height"] == row["height"])
        & (cells["storage"] == row["storage"])
        & (cells["cache"] == row["cache"])
        & (cells["n_images"] == row["n_images"])
    ]
    return words.speedup(loop["time_ratio"].iloc[0]) if len(loop) else words.DASH


def interpreters_section(results_dir: Path) -> dict | None:
    """The slide's title, table and note; None where the experiment has no sibling that
    differs from it in its interpreter alone, or their tables are not there yet."""
    directories = sibling_directories(Path(results_dir))
    files = ["metadata.json", *(f"{name}.csv" for name in REQUIRED)]
    if not directories or not all((d / f).is_file() for d in directories for f in files):
        return None
    found = compare_interpreters(directories)
    verdicts, labels = found.verdicts, found.labels
    places = verdicts[["storage", "cache"]].drop_duplicates().shape[0] > 1
    table = Table(
        columns=[
            *group_columns(places),
            *((f"best, {label}", False) for label in labels),
            *((f"loop time, {label}", True) for label in labels[1:]),
            ("changes", False),
        ]
    )
    groups = verdicts.drop_duplicates(["task", "width", "height", "storage", "cache", "n_images"])
    keys = ["task", "width", "height", "storage", "cache", "n_images"]
    changed = firm = claims = 0
    for _, group in group_order(groups).iterrows():
        rows = verdicts[(verdicts[keys] == group[keys]).all(axis=1)]
        by_label = {r["interpreter"]: r for _, r in rows.iterrows()}
        values = [
            *place_values(group, places),
            *(
                (_best(by_label[label]) if label in by_label else words.DASH, False)
                for label in labels
            ),
            *((_loop_ratio(found.cells, group, label), True) for label in labels[1:]),
            (_change(rows), False),
        ]
        table.rows.append(Row(text_cells(values)))
        changed += bool(rows["best_changed"].iloc[0])
        firm += bool(rows["firm_change"].iloc[0])
        claims += bool(rows["claim_changed"].iloc[0])
    total = len(groups)
    summary = (
        f"Of {words.count(total, 'group')}, the best strategy changes in {changed} "
        f"({firm} firm) and the claim “faster than the loop” in {claims}."
    )
    return {
        "title": f"Interpreters side by side: {words.joined(labels)}",
        "table": table,
        "summary": summary,
        "note": NOTE,
    }
