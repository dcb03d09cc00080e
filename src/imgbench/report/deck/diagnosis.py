"""The diagnosis slides, one per experiment: for the headline groups (each task, storage and
cache at its largest size and number of images), the fastest cell and each strategy's
fastest cell, why it won or lost, in words.

The facts are the analysis's (``diagnosis.csv``, ``imgbench.analysis.diagnosis``: each
cell's label and the numbers that decided it, and the break-even of pools with one submit
per image); this module only words them, numbers by ``imgbench.words``.
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench import words
from imgbench.analysis.diagnosis import CHUNK_OVERHEAD_SHARE
from imgbench.analysis.views import headline_cells
from imgbench.report.deck.model import group_order, strategy_rows
from imgbench.vocabulary import BASELINE, HOST, HOST_CELL, HOST_GROUP

NOTE = (
    "Each cell's diagnosis, from what it measured: held by the GIL (threads near one core "
    "of CPU per wall on work that computes), drowned by transfer (a process pool pickling "
    "large data and paying CPU for it), eaten by overhead (pool start and per-task cost "
    "beyond the work they spread), waiting (CPU far below the cores: I/O or latency), out of "
    "cores (more workers than cores, slower than within them), using its cores (CPU per "
    "wall near the cores in reach). CPU per wall counts the parent and its workers. A pool "
    "with one submit per image pays from the per-image work named, at this batch size; a "
    "chunk of the size named brings its per-task cost to "
    f"{words.rough_percent(CHUNK_OVERHEAD_SHARE)} of the chunk's work."
)


def _num(row, column: str) -> float:
    return words.number(row.get(column))


def _cores(value) -> str:
    n = words.integer(value)
    return f"{n} core" if n == "1" else f"{n} cores"


def why(row) -> str:
    """Why a cell's time is what it is: its diagnosis in words, with the numbers that
    decided it (a row of ``diagnosis.csv``)."""
    label = str(row.get("diagnosis"))
    cpw = words.decimal(row.get("cpu_per_wall"))
    reach = _cores(row.get("cores_in_reach"))
    if label == "baseline":
        return f"the reference: one image after another, CPU per wall {cpw}"
    if label == "gil-bound":
        return (
            f"held by the GIL: CPU per wall {cpw} with {reach} in reach, on work that keeps "
            f"the loop's core busy ({words.decimal(row.get('loop_cpu_per_wall'))})"
        )
    if label == "transfer-bound":
        return (
            f"drowned by transfer: {words.data_size(row.get('bytes_pickled_per_image'))} "
            f"pickled per image, and {words.duration(row.get('excess_cpu_per_image_s'))} of "
            "CPU per image beyond the loop's "
            f"{words.duration(row.get('loop_cpu_per_image_s'))}"
        )
    if label == "overhead-bound":
        return (
            f"eaten by overhead: {words.duration(row.get('overhead_s'))} beyond the ideal "
            f"{words.duration(row.get('ideal_s'))} (pool start and shutdown "
            f"{words.duration(row.get('pool_start_s'))}), CPU per wall {cpw}"
        )
    if label == "waiting":
        return f"waiting (I/O or latency): CPU per wall {cpw} with {reach} in reach"
    if label == "oversubscribed":
        return (
            f"out of cores: {words.integer(row.get('workers'))} workers on "
            f"{_cores(row.get('usable_cores'))}, {words.duration(row.get('median_s'))} "
            f"against {words.duration(row.get('best_within_cores_s'))} with "
            f"{words.integer(row.get('best_within_cores_workers'))}"
        )
    if label == "core-bound":
        shared = _num(row, "bytes_shared_per_image")
        through = (
            f", {words.data_size(shared)} per image through shared memory"
            if math.isfinite(shared) and shared > 0
            else ""
        )
        return f"uses its cores: CPU per wall {cpw} of {reach}{through}"
    if row.get("decided_by") == "loop_median_s":
        return "not diagnosed: its group has no serial loop to compare with"
    return f"not diagnosed: CPU per wall {cpw} with {reach} in reach fits no rule"


def pays(row) -> str:
    """A pool's break-even in words ("" for cells without one)."""
    threshold, work = _num(row, "break_even_work_s"), _num(row, "work_per_image_s")
    if not math.isfinite(work) or math.isnan(threshold):
        return ""
    overhead = words.duration(row.get("per_task_overhead_s"))
    if threshold == math.inf:
        return f"{overhead} per task; no per-image work makes this pool pay."
    text = (
        f"{overhead} per task; pays from {words.duration(threshold)} of work per image "
        f"(here {words.duration(work)})"
    )
    chunk = _num(row, "chunk_size")
    if math.isfinite(chunk):
        text += f"; chunks of {words.integer(chunk)} amortise it"
    return text + "."


def _verdict(row, fastest: float, loop: float) -> str:
    median = _num(row, "median_s")
    compared = math.isfinite(loop) and str(row["strategy"]) != BASELINE
    vs_loop = f"{words.speedup(loop / median)} the loop" if compared else ""
    if math.isclose(median, fastest, rel_tol=1e-9):
        return "fastest" + (f", {vs_loop}" if vs_loop else "")
    return f"{words.speedup(median / fastest)} the fastest's time" + (
        f" ({vs_loop})" if vs_loop else ""
    )


def _group_items(cells: pd.DataFrame, group: pd.DataFrame) -> list[str]:
    """One sentence per cell: the fastest first, then the loop, then each strategy."""
    fastest = float(group["median_s"].min())
    loops = group[group["strategy"] == BASELINE]["median_s"]
    loop = float(loops.iloc[0]) if len(loops) else math.nan
    ordered = strategy_rows(cells)
    best = ordered["median_s"].map(lambda m: math.isclose(m, fastest, rel_tol=1e-9))
    ordered = pd.concat([ordered[best], ordered[~best]])
    items = []
    for _, row in ordered.iterrows():
        who = words.who(str(row["strategy"]), row["workers"])
        sentence = f"{who[0].upper()}{who[1:]}: {_verdict(row, fastest, loop)}; {why(row)}."
        extra = pays(row)
        items.append(f"{sentence} {extra}" if extra else sentence)
    return items


def diagnosis_sections(summary: pd.DataFrame, diagnosis: pd.DataFrame) -> list[dict]:
    """One slide per experiment: its headline groups, each with a title and its cells'
    sentences, and the note; [] without a diagnosis table (results aggregated before it)."""
    if diagnosis.empty or summary.empty or "diagnosis" not in diagnosis.columns:
        return []
    headline = headline_cells(summary)
    if headline.empty:
        return []
    keys = [k for k in HOST_CELL if k in headline.columns and k in diagnosis.columns]
    shown = headline[keys].merge(diagnosis, on=keys, how="inner")
    several = HOST in shown.columns and shown[HOST].nunique() > 1
    sections = []
    for experiment, cells in shown.groupby("experiment", sort=True):
        groups = []
        group_keys = [k for k in HOST_GROUP if k in cells.columns]
        for _, first in group_order(cells.drop_duplicates(group_keys)).iterrows():
            mask = (cells[group_keys] == first[group_keys]).all(axis=1)
            in_group = (summary[group_keys] == first[group_keys]).all(axis=1)
            groups.append(
                {
                    "title": words.group_title(first, with_host=several),
                    "items": _group_items(cells[mask], summary[in_group]),
                }
            )
        sections.append({"experiment": str(experiment), "groups": groups, "note": NOTE})
    return sections
