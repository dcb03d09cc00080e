"""The persistent-pools slide: each pool strategy per batch beside its kept pool, what the
kept pool saves per batch and after how many batches it has paid for its start
(``imgbench.analysis.pools``). Shown only where both forms ran.
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench import words
from imgbench.analysis.pools import pools_frame
from imgbench.report.deck.model import (
    Row,
    Table,
    group_columns,
    group_values,
    several_hosts,
    several_places,
    text_cells,
)

NOTE = (
    "Per batch: the pool made and shut down inside every timed batch, as the studies did. "
    "Kept: made and warmed once before the timer (pool start), then every batch timed alone. "
    "Saved: what keeping the pool saves on each batch. Break-even: the batches after which a "
    "pool made once (its start plus that many batches) has cost less than the loop; none when "
    "the kept pool is no faster than the loop. Medians."
)


def _break_even(value) -> str:
    value = words.number(value)
    if not math.isfinite(value):
        return "none"
    n = int(value)
    return f"{n} batch" if n == 1 else f"{n} batches"


def pools_section(summary: pd.DataFrame, timings: pd.DataFrame) -> dict | None:
    """The slide's table and note; None where no persistent strategy ran beside its
    per-batch form."""
    frame = pools_frame(summary, timings)
    if frame.empty:
        return None
    places, hosts = several_places(frame), several_hosts(frame)
    times = frame[["per_batch_median_s", "persistent_median_s", "pool_start_s"]]
    unit = words.time_unit(times.to_numpy().ravel())
    fmt = words.in_unit(unit)
    table = Table(
        columns=[
            *group_columns(places, hosts),
            ("strategy", False),
            (f"per batch, {unit}", True),
            (f"kept, {unit}", True),
            (f"pool start, {unit}", True),
            (f"saved, {unit}", True),
            ("break-even", True),
        ]
    )
    for _, row in frame.iterrows():
        values = [
            *group_values(row, places, hosts),
            (words.who(str(row["strategy"]), row["workers"]), False),
            (fmt(row["per_batch_median_s"]), True),
            (fmt(row["persistent_median_s"]), True),
            (fmt(row["pool_start_s"]), True),
            (fmt(row["saved_per_batch_s"]), True),
            (_break_even(row["break_even_batches"]), True),
        ]
        table.rows.append(Row(text_cells(values)))
    return {"table": table, "note": NOTE}
