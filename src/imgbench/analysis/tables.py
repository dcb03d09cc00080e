"""Every table of one experiment from its cell results, in the order they are written.

The one place that chains the analysis (timings -> summary -> speedup, comparisons, ...)
and the recommendations, so that ``imgbench aggregate`` and the tests that need real
tables build them the same way.
"""

from __future__ import annotations

import pandas as pd

from imgbench.analysis import aggregate as analysis
from imgbench.analysis import recommend
from imgbench.analysis import results as result_files

#: The tables ``imgbench aggregate`` writes, each as ``NAME.csv``.
NAMES = (
    "timings",
    "summary",
    "speedup",
    "efficiency",
    "amdahl",
    "comparisons",
    "recommendations",
)


def build_tables(results: list[dict], margins: dict | None = None) -> dict[str, pd.DataFrame]:
    """The tables of ``NAMES`` from loaded cell results; ``margins``: each experiment's
    equivalence margin (the default margin where one is missing)."""
    timings = result_files.timings_frame(results)
    summary = analysis.summary_frame(timings)
    speedup = analysis.speedup_frame(summary, timings)
    comparisons = analysis.comparisons_frame(summary, timings, margins or {})
    return {
        "timings": timings,
        "summary": summary,
        "speedup": speedup,
        "efficiency": analysis.efficiency_frame(speedup),
        "amdahl": analysis.amdahl_frame(summary),
        "comparisons": comparisons,
        "recommendations": recommend.recommendations_frame(summary, speedup, comparisons),
    }
