"""The slides across tasks: the recommendations table and the overhead table, with the
notes that say what their columns mean.
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench import words
from imgbench.report.deck.cells import bound_mark
from imgbench.report.deck.model import (
    Row,
    Table,
    group_columns,
    group_order,
    group_values,
    label_text,
    several_hosts,
    several_places,
    strategy_rows,
    text_cells,
)
from imgbench.vocabulary import BASELINE, HOST_GROUP


def _vs_loop(rec) -> str:
    """The recommendation's verdict against the loop, as recommendations.csv says it."""
    if str(rec.get("best_strategy")) == BASELINE:
        return "is the loop"
    if words.is_true(rec.get("withheld")):
        return "withheld"
    if words.is_missing(rec.get("faster_than_loop")):
        return "n/a"
    return "faster" if words.is_true(rec.get("faster_than_loop")) else "not shown faster"


def recommendations_table(recommendations: pd.DataFrame) -> Table:
    """Per task, size and number of images: the fastest cell and its median (in ms or s, one
    unit for the column, by magnitude), its speedup over the loop with its CI (flagged and
    withheld above its physical bound), whether it is shown faster than
    the loop, the runner-up, and the cells that are equivalent to it (TOST) or that the
    repetitions cannot tell apart from it. Tables that predate the equivalence test have one
    column instead: the cells not significantly slower."""
    places = not recommendations.empty and several_places(recommendations)
    hosts = several_hosts(recommendations)
    unit = words.time_unit(recommendations.get("best_median_s", []))
    in_unit = words.in_unit(unit)
    tost = "equivalent" in recommendations.columns or "not_told_apart" in recommendations.columns
    verdict = "faster_than_loop" in recommendations.columns or "withheld" in recommendations.columns
    table = Table(
        columns=[
            *group_columns(places, hosts),
            ("fastest", False),
            (f"median {unit}", True),
            ("speedup", True),
            ("95% CI", True),
            *([("vs loop", False)] if verdict else []),
            ("runner-up", False),
            ("its speedup", True),
            *(
                [("equivalent", False), ("can't tell apart", False)]
                if tost
                else [("not significantly slower", False)]
            ),
        ]
    )
    for _, rec in group_order(recommendations).iterrows():
        runner = rec.get("runner_up_strategy")
        has_runner = isinstance(runner, str) and bool(runner.strip())
        values = [
            *group_values(rec, places, hosts),
            (words.who(str(rec["best_strategy"]), rec["best_workers"]), False),
            (in_unit(rec.get("best_median_s")), True),
            (words.speedup(rec["speedup"]) + bound_mark(rec), True),
            (
                words.interval(
                    rec.get("speedup_ci_low"), rec.get("speedup_ci_high"), words.decimal
                ),
                True,
            ),
            *([(_vs_loop(rec), False)] if verdict else []),
            (words.who(runner, rec.get("runner_up_workers")) if has_runner else "none", False),
            (words.speedup(rec.get("runner_up_speedup")) if has_runner else "—", True),
        ]
        if tost:
            values += [
                (label_text(rec.get("equivalent")), False),
                (label_text(rec.get("not_told_apart")), False),
            ]
        else:
            values.append((label_text(rec.get("within_noise")), False))
        flagged = words.is_true(rec.get("withheld")) or words.is_true(rec.get("exceeds_bound"))
        table.rows.append(Row(text_cells(values), "flagged" if flagged else ""))
    return table


def recommendations_note(recommendations: pd.DataFrame, margin: str) -> str:
    """What the recommendations table's columns mean, for the columns it has."""
    note = (
        "Fastest: lowest median of its group. Speedup over the serial loop of the same group, "
        "with its 95% CI."
    )
    if "withheld" in recommendations.columns or "exceeds_bound" in recommendations.columns:
        note += (
            " ⚠: above its physical bound (CPU work: min(workers, usable cores); waiting "
            "work: workers): withheld, not a finding (its sentence names the likely cause)."
        )
    if "faster_than_loop" in recommendations.columns:
        note += (
            " Vs loop: “faster” only when its Holm-adjusted p-value against the loop, over "
            "all the group's cells, is below 0.05 (the best was picked from the data)."
        )
    if "equivalent" in recommendations.columns or "not_told_apart" in recommendations.columns:
        note += (
            " Runner-up: the next fastest cell that is not significantly slower (Holm-"
            f"corrected). Equivalent: the 90% CI of the time ratio lies within ±{margin} "
            "(TOST). Can't tell apart: neither significantly slower nor equivalent."
        )
    else:
        note += (
            " Runner-up: the next fastest cell that is not significantly slower (Mann–Whitney "
            "U, p < 0.05); “none” when every other cell is. Not significantly slower does not "
            "mean equivalent: these tables carry no equivalence test."
        )
    return note


def overhead_table(summary: pd.DataFrame) -> Table:
    """At each task's largest number of images, each strategy at its largest worker count:
    the median start-up, work and shutdown, and how busy the workers were."""
    places = not summary.empty and several_places(summary)
    hosts = several_hosts(summary)
    table = Table(
        columns=[
            *group_columns(places, hosts),
            ("strategy", False),
            ("workers", True),
            ("wall ms", True),
            ("pool start-up ms", True),
            ("until first result ms", True),
            ("work ms", True),
            ("shutdown ms", True),
            ("start-up + shutdown", True),
            ("worker busy", True),
        ]
    )
    for _, rows in summary.groupby("task", sort=True):
        largest = rows[rows["n_images"] == rows["n_images"].max()]
        for _, group in group_order(largest).groupby(HOST_GROUP, sort=False):
            top = group[group["workers"] == group.groupby("strategy")["workers"].transform("max")]
            for _, cell in strategy_rows(top).iterrows():
                first = words.number(cell.get("median_first_result_s"))
                ready = words.number(cell.get("median_pool_ready_s"))
                shutdown = words.number(cell.get("median_shutdown_s"))
                # Start-up is the pool's where it was recorded apart (none for the loop),
                # else the time to the first result (one item's or one chunk's work in it).
                no_pool = cell["strategy"] == BASELINE and not math.isfinite(ready)
                if no_pool:
                    startup, until_first, ready_text = 0.0, first, "—"
                elif math.isfinite(ready):
                    startup = min(ready, first)
                    until_first = first - startup
                    ready_text = words.milliseconds(ready) + ("*" if ready > first else "")
                else:
                    startup, until_first, ready_text = first, first, "n/a"
                share = (startup + shutdown) / words.number(cell["median_s"])
                values = [
                    *group_values(cell, places, hosts),
                    (str(cell["strategy"]), False),
                    (words.integer(cell["workers"]), True),
                    (words.milliseconds(cell["median_s"]), True),
                    (ready_text, True),
                    (words.milliseconds(until_first), True),
                    (words.milliseconds(cell.get("median_work_s")), True),
                    (words.milliseconds(shutdown), True),
                    (words.percent(share, 0), True),
                    (words.percent(cell.get("worker_busy"), 0), True),
                ]
                table.rows.append(Row(text_cells(values)))
    return table


OVERHEAD_NOTE = (
    "At each task's largest number of images, each strategy with its most workers; medians. "
    "Pool start-up: timer start until every pool worker had started (—: the loop has no "
    "pool; n/a: not recorded apart; * the last worker started after the first result came "
    "back). Until "
    "first result: the rest of the time to the first result, one item's work (one chunk's "
    "for chunked pools). Work: first to last result. Shutdown: last result to the "
    "strategy's return. Start-up + shutdown: their share of the wall time (the time to the "
    "first result where the pool start-up was not recorded apart). Worker busy = CPU per "
    "wall second / min(workers, usable cores)."
)
