"""The image-libraries slide: each library's loop and best cell for the same decode or save
(``imgbench.analysis.libraries``). Shown only where two or more libraries did one task.
"""

from __future__ import annotations

import pandas as pd

from imgbench import words
from imgbench.analysis.libraries import libraries_frame
from imgbench.measure.codecs import LIBRARIES
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
    "The same images, the same output settings (JPEG quality 90 with 4:2:0 chroma, PNG at "
    "zlib level 6), the same checks, under each library; every library held to {threads}. "
    "Loop: the serial loop's median and its megapixels per CPU second (per core: the figure "
    "published codec benchmarks give); file per image: the encoded file each image was read "
    "from or written to (an encoder that is faster because it compresses less shows here); "
    "× Pillow: Pillow's loop time over this one's (above "
    "1×: faster than Pillow). Best: the library's fastest cell, against Pillow's loop. "
    "Medians; each library's form of the task is tested against its own loop on the other "
    "slides."
)


def libraries_section(summary: pd.DataFrame) -> dict | None:
    """The slide's table and note; None where no two libraries did the same task."""
    frame = libraries_frame(summary)
    if frame.empty:
        return None
    shown = frame.assign(task=frame["base"])
    places, hosts = several_places(shown), several_hosts(shown)
    times = shown[["loop_median_s", "best_median_s"]]
    unit = words.time_unit(times.to_numpy().ravel())
    fmt = words.in_unit(unit)
    table = Table(
        columns=[
            *group_columns(places, hosts),
            ("library", False),
            (f"loop, {unit}", True),
            ("loop, MP/CPU s", True),
            ("file per image", True),
            ("× Pillow", True),
            ("best", False),
            (f"best, {unit}", True),
            ("best × Pillow's loop", True),
        ]
    )
    for _, row in shown.iterrows():
        values = [
            *group_values(row, places, hosts),
            (str(row["library"]), False),
            (fmt(row["loop_median_s"]), True),
            (words.decimal(row["loop_megapixels_per_cpu_s"], 1), True),
            (words.data_size(row["bytes_per_image"]), True),
            (words.speedup(row["loop_vs_pillow"]), True),
            (words.who(str(row["best_strategy"]), row["best_workers"]), False),
            (fmt(row["best_median_s"]), True),
            (words.speedup(row["best_vs_pillow_loop"]), True),
        ]
        table.rows.append(Row(text_cells(values)))
    notes = sorted({LIBRARIES[lib].threads_note for lib in frame["library"] if lib in LIBRARIES})
    return {
        "table": table,
        "note": NOTE.format(threads="one internal thread (" + "; ".join(notes) + ")"),
    }
