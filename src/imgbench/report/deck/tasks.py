"""The task slides: each task's verdicts, its figures (one slide per workload: the task at
each image size), and a table per group at its largest number of images.
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench import words
from imgbench.report.deck.cells import bound_mark, karp_flatt_text, vs_best
from imgbench.report.deck.model import (
    Cell,
    Row,
    Table,
    group_order,
    select_rows,
    several_hosts,
    strategy_rows,
    text_cells,
)
from imgbench.vocabulary import GROUP, HOST

#: The order of a task's group slides: the host last, so that the same group on each host
#: follows one after the other (``HOST_GROUP`` puts it second, for the tables).
SAME_GROUP_ON_EACH_HOST = [*GROUP, HOST]


def task_verdicts(recommendations: pd.DataFrame, largest_n_only: bool = False) -> dict[str, list]:
    """Each task's plain-language verdicts: the ``sentence`` of each of its groups.

    The sentences are written by the analysis (one per group in ``recommendations.csv``);
    this only orders them, largest number of images first, and with ``largest_n_only``
    keeps those of each task's largest number of images.
    """
    verdicts: dict[str, list[str]] = {}
    for task, rows in group_order(recommendations).groupby("task", sort=True):
        if largest_n_only:
            rows = rows[rows["n_images"] == rows["n_images"].max()]
        verdicts[str(task)] = [str(s) for s in rows["sentence"] if isinstance(s, str) and s]
    return verdicts


def group_table(cells: pd.DataFrame, amdahl: pd.DataFrame) -> Table:
    """One group's cells: absolute times (in ms or s, one unit for the table, by
    magnitude), both speedups, efficiency, Karp-Flatt, whether each is significantly slower
    than the fastest, and each strategy's Amdahl fit."""
    unit = words.time_unit(cells["median_s"])
    in_unit = words.in_unit(unit)
    table = Table(
        columns=[
            ("strategy", False),
            ("workers", True),
            ("median", True),
            ("CI", True),
            ("speedup (95% CI)", True),
            ("efficiency", True),
            ("speedup", True),
            ("Karp–Flatt e", True),
            ("vs fastest", False),
            ("serial fraction", True),
            ("ceiling", True),
        ],
        groups=[
            ("", 2),
            (f"time, {unit}", 2),
            ("vs the serial loop", 2),
            ("vs 1 worker", 2),
            ("", 1),
            ("Amdahl fit", 2),
        ],
    )
    fits = {str(r["strategy"]): r for _, r in amdahl.iterrows()}
    ordered = strategy_rows(cells)
    for strategy, rows in ordered.groupby("strategy", sort=False):
        for i, (_, cell) in enumerate(rows.iterrows()):
            values = [
                (str(cell["strategy"]), False),
                (words.integer(cell["workers"]), True),
                (in_unit(cell["median_s"]), True),
                (words.interval(cell["ci_low_s"], cell["ci_high_s"], in_unit), True),
                (
                    words.speedup_ci(
                        cell["serial_speedup"], cell["serial_ci_low"], cell["serial_ci_high"]
                    )
                    + bound_mark(cell),
                    True,
                ),
                (words.percent(cell["efficiency"], 0), True),
                (words.speedup(cell["one_speedup"]), True),
                (karp_flatt_text(cell), True),
                (vs_best(cell), False),
            ]
            css = "fastest" if cell["fastest"] else ""
            if words.is_true(cell.get("exceeds_bound")):
                css = f"{css} flagged".strip()
            row = Row(text_cells(values), css)
            if i == 0:
                fit = fits.get(str(strategy))
                fitted = fit is not None and math.isfinite(words.number(fit["serial_fraction"]))
                texts = (
                    (words.percent(fit["serial_fraction"]), words.speedup(fit["max_speedup"]))
                    if fitted
                    else ("—", "—")  # too few worker counts within the cores: no fit
                )
                row.cells += [Cell(text, True, len(rows)) for text in texts]
            table.rows.append(row)
    return table


def group_note(comparisons: pd.DataFrame, margin: str) -> str:
    """What "vs fastest" says, for the tests comparisons.csv has."""
    if "equivalent" in comparisons.columns:
        verdicts = (
            "“slower”: significantly slower than it (Holm-corrected within the group); "
            f"“equivalent”: the 90% CI of the time ratio within ±{margin} (TOST); “can't "
            "tell”: neither, with the largest difference the repetitions could have missed."
        )
    else:
        verdicts = (
            "“slower”: significantly slower than it (Mann–Whitney U, p < 0.05); “not sig. "
            "slower”: not, which does not make it equivalent."
        )
    return (
        f"Highlighted: the fastest cell; {verdicts} ⚠: speedup above its physical bound, not "
        "a finding. Karp–Flatt only within the usable cores. Times are medians of the timed "
        "repetitions, pool start-up and shutdown included."
    )


def task_sections(
    cells: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    meta: dict,
    figures: dict[str, list[dict]],
) -> list[dict]:
    """One section per task: its verdicts, then its ``slides``: each of its figures
    (``figures``: task -> one per workload, in slide order, each with its ``size``) followed
    by a table per group of that size at the task's largest number of images (every group
    is in the appendix). A task whose every cell is missing still gets its figures, which
    say so."""
    verdicts = task_verdicts(tables["recommendations"])
    summaries = meta.get("task_summaries", {})
    amdahl = tables["amdahl"]
    hosts = several_hosts(cells)
    sections = []
    for task in sorted({*map(str, cells["task"].unique()), *figures}):
        rows = cells[cells["task"].astype(str) == task]
        largest = rows[rows["n_images"] == rows["n_images"].max()]
        groups = []
        # The same group on each host one after the other, so that they compare slide by slide.
        for key, group in largest.groupby(SAME_GROUP_ON_EACH_HOST, sort=True):
            key = dict(zip(SAME_GROUP_ON_EACH_HOST, key, strict=True))
            groups.append(
                {
                    "title": words.group_title(key, hosts),
                    "table": group_table(group, select_rows(amdahl, key)),
                    "size": words.size(key),
                }
            )
        slides: list[dict] = []
        for fig in figures.get(task, []):
            slides.append({"figure": fig})
            slides += [{"figure": None, "group": g} for g in groups if g["size"] == fig.get("size")]
        shown = {fig.get("size") for fig in figures.get(task, [])}
        slides += [{"figure": None, "group": g} for g in groups if g["size"] not in shown]
        sections.append(
            {
                "name": task,
                "summary": summaries.get(task, ""),
                "verdicts": verdicts.get(task, []),
                "slides": slides,
            }
        )
    return sections
