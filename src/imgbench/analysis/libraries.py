"""Image libraries side by side: the same decode or save under each library an experiment
lists (config ``libraries``; ``imgbench.measure.tasks.libraries``), group by group.

A library's form of a task (``decode_opencv``) is a task of its own in every other table;
here the forms of one Pillow task (its ``base``) are set beside each other, for the same
storage, cache, size and number of images: each library's loop (median, megapixels per
second of CPU: the per-core figure published codec benchmarks give; the bytes of each
image's file, read or written), its loop against Pillow's, and its best cell (strategy,
workers, median, against Pillow's loop). The medians and throughputs are the summary's;
nothing is tested anew.
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench.measure.tasks import TASKS
from imgbench.vocabulary import BASELINE, HOST_GROUP

#: The group without its task: what the forms of one task share.
PLACE = [c for c in HOST_GROUP if c != "task"]
COLUMNS = [
    *HOST_GROUP,
    "base",
    "library",
    "loop_median_s",
    "loop_megapixels_per_cpu_s",
    "bytes_per_image",
    "loop_vs_pillow",
    "best_strategy",
    "best_workers",
    "best_median_s",
    "best_vs_pillow_loop",
]


def _form(task: str) -> tuple[str | None, str | None]:
    """(base task, library) of a task, (None, None) for a task without forms."""
    known = TASKS.get(task)
    if known is None or known.base is None or known.library is None:
        return None, None
    return known.base, known.library


def _bytes_per_image(cells: pd.DataFrame) -> float:
    if "mb_per_s" not in cells.columns:
        return math.nan
    row = cells.iloc[0]
    return float(row["mb_per_s"]) * 1e6 * float(row["median_s"]) / float(row["n_images"])


def libraries_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per library and group in which two or more libraries did the same task."""
    needed = {"strategy", "workers", "median_s", "megapixels_per_cpu_s", *HOST_GROUP}
    if summary.empty or not needed <= set(summary.columns):
        return pd.DataFrame(columns=COLUMNS)
    forms = summary["task"].map(lambda t: _form(str(t)))
    frame = summary.assign(base=forms.str[0], library=forms.str[1]).dropna(subset=["base"])
    rows = []
    for _, cells in frame.groupby([*PLACE, "base"], dropna=False, sort=True):
        if cells["library"].nunique() < 2:
            continue
        loops = cells[cells["strategy"] == BASELINE].set_index("library")
        pillow_loop = (
            float(loops.loc["pillow", "median_s"]) if "pillow" in loops.index else math.nan
        )
        for library, own in cells.groupby("library", sort=False):
            loop = own[own["strategy"] == BASELINE]
            best = own.loc[own["median_s"].idxmin()]
            loop_s = float(loop["median_s"].iloc[0]) if len(loop) else math.nan
            rows.append(
                {
                    **{c: best[c] for c in HOST_GROUP},
                    "base": best["base"],
                    "library": library,
                    "loop_median_s": loop_s,
                    "loop_megapixels_per_cpu_s": (
                        float(loop["megapixels_per_cpu_s"].iloc[0]) if len(loop) else math.nan
                    ),
                    # The encoded file of each image: read (decode) or written (save), so
                    # that an encoder that is faster because it compresses less shows it.
                    "bytes_per_image": _bytes_per_image(loop if len(loop) else own),
                    "loop_vs_pillow": pillow_loop / loop_s if loop_s > 0 else math.nan,
                    "best_strategy": best["strategy"],
                    "best_workers": int(best["workers"]),
                    "best_median_s": float(best["median_s"]),
                    "best_vs_pillow_loop": pillow_loop / float(best["median_s"]),
                }
            )
    out = pd.DataFrame(rows, columns=COLUMNS)
    # Pillow first, then the fastest loop first: the ranking a reader looks for.
    out["_pillow"] = out["library"] != "pillow"
    out = out.sort_values([*PLACE, "base", "_pillow", "loop_median_s"], kind="stable")
    return out.drop(columns="_pillow").reset_index(drop=True)
