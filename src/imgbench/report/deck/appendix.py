"""The appendix slides: every cell, both speedups of every cell, every Amdahl fit."""

from __future__ import annotations

import pandas as pd

from imgbench import words
from imgbench.analysis.speedup import ONE_WORKER
from imgbench.report.deck.cells import bound_mark, comparison_p, karp_flatt_text
from imgbench.report.deck.model import (
    Row,
    Table,
    cell_order,
    group_columns,
    group_values,
    label_text,
    several_hosts,
    text_cells,
)
from imgbench.vocabulary import BASELINE, HOST_CELL


def summary_appendix(summary: pd.DataFrame) -> Table:
    hosts = several_hosts(summary)
    table = Table(
        columns=[
            *group_columns(True, hosts),
            ("strategy", False),
            ("workers", True),
            ("reps", True),
            ("median s", True),
            ("CI s", True),
            ("level", True),
            ("CV", True),
            ("outliers", True),
            ("rounds", True),
            ("round spread", True),
            ("p vs fastest", True),
            ("images/s", True),
            ("MP/s", True),
            ("MP/s per core", True),
            ("CPU/wall", True),
            ("worker busy", True),
            ("other CPU/wall", True),
            ("peak RSS MiB", True),
            ("cell PSS MiB", True),
            ("cache method", False),
            ("resident", True),
        ],
        css="cells appendix",
    )
    for _, cell in cell_order(summary).iterrows():
        rss = words.number(cell.get("max_peak_rss_bytes")) / 2**20
        tree = words.number(cell.get("max_tree_pss_bytes")) / 2**20
        spread = words.percent(cell.get("round_spread"), 0)
        if words.is_true(cell.get("rounds_disagree")):
            spread += " ⚠"
        values = [
            *group_values(cell, True, hosts),
            (str(cell["strategy"]), False),
            (words.integer(cell["workers"]), True),
            (words.integer(cell["reps"]), True),
            (words.seconds(cell["median_s"]), True),
            (words.interval(cell["ci_low_s"], cell["ci_high_s"]), True),
            (words.percent(cell["ci_level"], 0), True),
            (words.percent(cell["cv"], 0), True),
            (words.integer(cell.get("outliers")), True),
            (words.integer(cell.get("rounds")), True),
            (spread, True),
            (words.p_value(comparison_p(cell)), True),
            (words.decimal(cell.get("images_per_s"), 0), True),
            (words.decimal(cell.get("megapixels_per_s"), 1), True),
            (words.decimal(cell.get("megapixels_per_cpu_s"), 1), True),
            (words.decimal(cell.get("cpu_per_wall")), True),
            (words.percent(cell.get("worker_busy"), 0), True),
            (words.decimal(cell.get("other_cpu_per_wall")), True),
            (words.decimal(rss, 0), True),
            (words.decimal(tree, 0), True),
            (words.text(cell.get("cache_method")), False),
            (words.percent(cell.get("max_resident_fraction")), True),
        ]
        table.rows.append(Row(text_cells(values)))
    return table


def speedup_appendix(speedup: pd.DataFrame, efficiency: pd.DataFrame) -> Table:
    hosts = several_hosts(speedup)
    table = Table(
        columns=[
            *group_columns(True, hosts),
            ("strategy", False),
            ("workers", True),
            ("base case", False),
            ("median s", True),
            ("base median s", True),
            ("speedup", True),
            ("95% CI", True),
            ("bound", True),
            ("CPU/image vs base", True),
            ("efficiency", True),
            ("Karp–Flatt e", True),
        ],
        css="cells appendix",
    )
    extra = [c for c in ("efficiency", "karp_flatt") if c in efficiency.columns]
    rows = speedup.merge(
        efficiency[[*HOST_CELL, "baseline", *extra]].drop_duplicates([*HOST_CELL, "baseline"]),
        on=[*HOST_CELL, "baseline"],
        how="left",
    )
    for _, row in cell_order(rows, ["baseline"]).iterrows():
        base = "the serial loop" if row["baseline"] == BASELINE else str(row["baseline"])
        if row["baseline"] == ONE_WORKER:
            base = "itself" if row["strategy"] == BASELINE else f"{row['strategy']} ×1"
        values = [
            *group_values(row, True, hosts),
            (str(row["strategy"]), False),
            (words.integer(row["workers"]), True),
            (base, False),
            (words.seconds(row["median_s"]), True),
            (words.seconds(row.get("baseline_median_s")), True),
            (words.speedup(row["speedup"]) + bound_mark(row), True),
            (words.interval(row["speedup_ci_low"], row["speedup_ci_high"], words.decimal), True),
            (words.integer(row.get("bound")), True),
            (words.decimal(row.get("cpu_per_image_ratio")), True),
            (words.percent(row.get("efficiency"), 0), True),
            (karp_flatt_text(row), True),
        ]
        table.rows.append(Row(text_cells(values)))
    return table


def amdahl_appendix(amdahl: pd.DataFrame) -> Table:
    hosts = several_hosts(amdahl)
    table = Table(
        columns=[
            *group_columns(True, hosts),
            ("strategy", False),
            ("points", True),
            ("fitted up to", True),
            ("Ts s", True),
            ("Tp s", True),
            ("serial fraction", True),
            ("ceiling", True),
            ("R²", True),
            *([("note", False)] if "fit_note" in amdahl.columns else []),
        ],
        css="cells appendix",
    )
    for _, fit in cell_order(amdahl).iterrows():
        values = [
            *group_values(fit, True, hosts),
            (str(fit["strategy"]), False),
            (words.integer(fit.get("points")), True),
            (words.integer(fit.get("fit_max_workers")), True),
            (words.seconds(fit.get("t_serial_s")), True),
            (words.seconds(fit.get("t_parallel_s")), True),
            (words.percent(fit["serial_fraction"]), True),
            (words.speedup(fit["max_speedup"]), True),
            (words.decimal(fit.get("fit_r2"), 3), True),
        ]
        if "fit_note" in amdahl.columns:
            values.append((label_text(fit.get("fit_note")), False))
        table.rows.append(Row(text_cells(values)))
    return table
