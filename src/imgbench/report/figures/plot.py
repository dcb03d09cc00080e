"""Every figure of an experiment (PNG and SVG), drawn from its result tables only.

``plot_all`` reads the tables of ``TABLES`` (docs/results.md; all must exist, empty ones
are fine) and those of ``VERDICT_TABLES`` where they exist, with the one reader of the
tables (``imgbench.analysis.tables.read_tables``), and writes each figure of the registry
(``imgbench.report.figures``) with its module's drawing function. Unless a figure says
otherwise, the base case is the serial loop of the same task, size, storage, cache and
number of images. The files of ``ALWAYS_WRITTEN`` are always written, even when there is
nothing to plot: the workflow declares them as outputs.

Verdicts are read, never decided here: where the verdict tables exist, the "faster from
n = ..." marks and the best strategy heatmap show their significance (Holm-corrected) and
withheld recommendations, and a speedup that ``speedup.csv`` flags as above its physical
bound is drawn hollow or hatched, never as a plain finding
(``imgbench.analysis.verdicts.cell_verdicts``). Older tables without these columns fall
back on the speedup's own CI, and draw no bound.

Results of several hosts are never pooled: the host is part of every group, every panel is
one host's (its name leads the panel title), and one more figure, ``HOSTS_FIGURE``, puts the
hosts' speedup curves side by side. It is written only when there are several hosts.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from imgbench.analysis.frames import has, serial_base
from imgbench.analysis.tables import hosts_of, read_tables
from imgbench.analysis.verdicts import cell_verdicts
from imgbench.analysis.views import amdahl_speedup
from imgbench.report.figures import FORMATS, HOSTS_FIGURE
from imgbench.report.figures.best_strategy import best_strategy_figure
from imgbench.report.figures.faster import faster_than_serial_figure
from imgbench.report.figures.hosts import hosts_figure
from imgbench.report.figures.overhead import overhead_figure
from imgbench.report.figures.repetitions import repetitions_figure
from imgbench.report.figures.scaling import scaling_figure
from imgbench.report.figures.style import RC_PARAMS, save_figure
from imgbench.report.figures.time_vs_n import time_vs_n_figure

#: The tables the figures read (docs/results.md); all must exist, empty ones are fine.
TABLES = ("speedup", "efficiency", "summary", "amdahl", "timings")
#: The tables whose verdicts the figures show (significance, equivalence, withheld claims);
#: read where they exist. Without them a figure falls back on the speedup's own CI.
VERDICT_TABLES = ("comparisons", "recommendations")


def _experiment_name(frames: list[pd.DataFrame], results_dir: Path) -> str:
    names: set[str] = set()
    for frame in frames:
        if "experiment" in frame.columns:
            names |= {str(v) for v in frame["experiment"].dropna().unique() if str(v)}
    return ", ".join(sorted(names)) or Path(results_dir).name


def plot_all(results_dir: Path, output_dir: Path) -> list[Path]:
    """Write every figure of ``ALWAYS_WRITTEN``, each as PNG and SVG, and return their paths; with
    results of several hosts, ``HOSTS_FIGURE`` too.

    Reads the tables of ``TABLES`` in ``results_dir`` (a missing one is an error naming it),
    and those of ``VERDICT_TABLES`` where they exist: the "faster from n" marks and the best
    strategy heatmap show their verdicts (``cell_verdicts``).
    All files of ``ALWAYS_WRITTEN`` in ``output_dir`` are always written: a "no data" figure stands
    in for an empty table. A hosts figure left from an earlier run of several hosts is
    removed when there is only one, so that no deck or bundle shows a stale one.
    """
    results_dir, output_dir = Path(results_dir), Path(output_dir)
    tables = read_tables(
        results_dir,
        TABLES,
        optional=VERDICT_TABLES,
        coerce=True,
        blank_one_host=True,
        missing_host="blank",
    )
    # Aligned, a table without hosts beside several has an empty one: not a host.
    hosts = [host for host in hosts_of(tables) if host]
    speedup, efficiency = tables["speedup"], tables["efficiency"]
    summary, timings = tables["summary"], tables["timings"]
    comparisons, recommendations = tables["comparisons"], tables["recommendations"]
    verdicts = cell_verdicts(speedup, comparisons, recommendations)
    experiment = _experiment_name([summary, speedup, efficiency], results_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    serial_speedup = serial_base(speedup)
    amdahl = None
    if has(serial_speedup, ["workers"]):
        workers = serial_speedup["workers"].dropna()
        if len(workers):
            grid = np.geomspace(1, max(1.0, float(workers.max())), 40)
            amdahl = amdahl_speedup(tables["amdahl"], serial_speedup, grid)
    draw = {
        "speedup": lambda: scaling_figure(speedup, experiment, "speedup", amdahl, verdicts),
        "efficiency": lambda: scaling_figure(
            efficiency, experiment, "efficiency", verdicts=verdicts
        ),
        "faster_than_serial": lambda: faster_than_serial_figure(speedup, experiment),
        "time_vs_n": lambda: time_vs_n_figure(summary, experiment, verdicts),
        "best_strategy": lambda: best_strategy_figure(
            summary, speedup, experiment, comparisons, recommendations
        ),
        "repetitions": lambda: repetitions_figure(summary, timings, experiment),
        "overhead": lambda: overhead_figure(summary, experiment),
    }
    if hosts:
        draw[HOSTS_FIGURE] = lambda: hosts_figure(speedup, timings, hosts, experiment)
    else:
        for fmt in FORMATS:
            (output_dir / f"{HOSTS_FIGURE}.{fmt}").unlink(missing_ok=True)
    written: list[Path] = []
    with matplotlib.rc_context(RC_PARAMS):
        for stem in draw:
            written += save_figure(draw[stem](), output_dir, stem)
    return written
