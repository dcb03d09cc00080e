"""Every figure of an experiment (PNG and SVG), drawn from its result tables only.

``plot_all`` reads the tables of ``TABLES`` (docs/results.md; all must exist, empty ones
are fine), those of ``VERDICT_TABLES`` and ``metadata.json`` where they exist, with the one
reader of the tables (``imgbench.analysis.tables.read_tables``), and writes each figure of
the registry (``imgbench.report.figures``) with its module's drawing function, the
per-workload ones once for each task and size (``workloads``: those of the cells, and of
the missing cells metadata.json lists), all in one process. Unless a figure says otherwise,
the base case is the serial loop of the same task, size, storage, cache and number of
images. The files of ``ALWAYS_WRITTEN`` are always written, even when there is nothing to
plot: the workflow declares them as outputs. Every figure carries a footer: the machine,
the date of the run and the imgbench version (``layout.footer_text``), from the results.

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

import json
import multiprocessing
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from imgbench.analysis.frames import has, serial_base
from imgbench.analysis.tables import hosts_of, read_tables
from imgbench.analysis.verdicts import cell_verdicts
from imgbench.analysis.views import amdahl_speedup
from imgbench.analysis.workload_data import run_facts, workloads
from imgbench.errors import ImgbenchError
from imgbench.measure.machine import usable_cores
from imgbench.report.figures import FIGURES, FORMATS, HOSTS_FIGURE, PER_WORKLOAD, WORKLOAD_DIR
from imgbench.report.figures.best_strategy import best_strategy_figure
from imgbench.report.figures.faster import faster_than_serial_figure
from imgbench.report.figures.hosts import hosts_figure
from imgbench.report.figures.layout import footer, footer_text
from imgbench.report.figures.overhead import overhead_figure
from imgbench.report.figures.repetitions import repetitions_figure
from imgbench.report.figures.scaling import scaling_figure
from imgbench.report.figures.style import RC_PARAMS, save_figure
from imgbench.report.figures.time_vs_n import time_vs_n_figure
from imgbench.report.figures.workload import workload_speedup_figure

#: The tables the figures read (docs/results.md); all must exist, empty ones are fine.
TABLES = ("speedup", "efficiency", "summary", "amdahl", "timings")
#: The tables whose verdicts the figures show (significance, equivalence, withheld claims);
#: read where they exist. Without them a figure falls back on the speedup's own CI.
VERDICT_TABLES = ("comparisons", "recommendations")


def _metadata(results_dir: Path) -> dict:
    """metadata.json where it exists ({} otherwise: the figures then take the machine and
    the date from the timings)."""
    path = results_dir / "metadata.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ImgbenchError(f"{path}: not valid JSON ({exc})") from None


def _remove_stale(directory: Path, keep: set[str]) -> None:
    """Remove the figures in ``directory`` not drawn this time (``keep``: file names), so
    that no deck or bundle shows one of an earlier run's workloads."""
    if not directory.is_dir():
        return
    for fmt in FORMATS:
        for path in directory.glob(f"*.{fmt}"):
            if path.name not in keep:
                path.unlink()


def plot_all(results_dir: Path, output_dir: Path) -> list[Path]:
    """Write every figure of ``ALWAYS_WRITTEN``, and each per-workload figure once for each
    task and size (in ``WORKLOAD_DIR``), each as PNG and SVG, and return their paths; with
    results of several hosts, ``HOSTS_FIGURE`` too.

    Reads the tables of ``TABLES`` in ``results_dir`` (a missing one is an error naming it),
    and those of ``VERDICT_TABLES`` and metadata.json where they exist: the "faster from n"
    marks and the best strategy heatmap show their verdicts (``cell_verdicts``).
    All files of ``ALWAYS_WRITTEN`` in ``output_dir`` are always written: a "no data" figure
    stands in for an empty table, and for a workload without results. A hosts figure left
    from an earlier run of several hosts is removed when there is only one, and a workload's
    figure left from an earlier grid when the workload is gone, so that no deck or bundle
    shows a stale one.
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
    meta = _metadata(results_dir)
    signature = footer_text(run_facts(timings, meta))
    output_dir.mkdir(parents=True, exist_ok=True)
    serial_speedup = serial_base(speedup)
    amdahl = None
    if has(serial_speedup, ["workers"]):
        workers = serial_speedup["workers"].dropna()
        if len(workers):
            grid = np.geomspace(1, max(1.0, float(workers.max())), 40)
            amdahl = amdahl_speedup(tables["amdahl"], serial_speedup, grid)
    title = {stem: figure.title for stem, figure in FIGURES.items()}
    draw = {
        "speedup": lambda: scaling_figure(speedup, title["speedup"], "speedup", amdahl, verdicts),
        "efficiency": lambda: scaling_figure(
            efficiency, title["efficiency"], "efficiency", verdicts=verdicts
        ),
        "faster_than_serial": lambda: faster_than_serial_figure(
            speedup, title["faster_than_serial"]
        ),
        "time_vs_n": lambda: time_vs_n_figure(summary, title["time_vs_n"], verdicts),
        "best_strategy": lambda: best_strategy_figure(
            summary, speedup, title["best_strategy"], comparisons, recommendations
        ),
        "repetitions": lambda: repetitions_figure(summary, timings, title["repetitions"]),
        "overhead": lambda: overhead_figure(summary, title["overhead"]),
    }
    # The per-workload figures: one drawing function each, called for every workload.
    draw_workload = {
        "task_speedup": lambda workload, title: workload_speedup_figure(
            speedup, workload, title, verdicts
        ),
    }
    found = workloads(summary, meta.get("missing_cells"))
    for stem in PER_WORKLOAD:
        spec = FIGURES[stem]
        for workload in found:
            draw[spec.workload_file(*workload)] = partial(
                draw_workload[stem], workload, spec.workload_title(*workload)
            )
    _remove_stale(
        output_dir / WORKLOAD_DIR,
        {f"{Path(stem).name}.{fmt}" for stem in draw for fmt in FORMATS},
    )
    if hosts:
        draw[HOSTS_FIGURE] = lambda: hosts_figure(speedup, timings, hosts, title[HOSTS_FIGURE])
    else:
        for fmt in FORMATS:
            (output_dir / f"{HOSTS_FIGURE}.{fmt}").unlink(missing_ok=True)
    return _draw_all(draw, output_dir, signature)


#: The figures still to draw, by stem: set before the drawing processes fork, which inherit
#: it (the drawing functions are closures over the tables, which no pickle would carry).
_DRAW: dict[str, Callable[[], Any]] = {}


def _draw_one(stem: str, output_dir: Path, signature: str) -> list[Path]:
    with matplotlib.rc_context(RC_PARAMS):
        fig = _DRAW[stem]()
        footer(fig, signature)
        return save_figure(fig, output_dir, stem)


def _draw_all(draw: dict, output_dir: Path, signature: str) -> list[Path]:
    """Draw and save every figure of ``draw`` and return the paths, in ``draw``'s order.

    Where processes can be forked, each figure is drawn in a process of its own, forked from
    this one, on every usable core at once (the figures job runs alone, after the cells, and
    drawing is most of the stages after them). A figure so drawn does not depend on which
    figures a process drew before it (matplotlib numbers the ids in an SVG as it goes), so
    each file is the same byte for byte whatever the number of cores. Elsewhere (no fork)
    they are drawn here, one after the other.
    """
    stems = list(draw)
    _DRAW.clear()
    _DRAW.update(draw)
    try:
        if "fork" not in multiprocessing.get_all_start_methods():
            return [path for stem in stems for path in _draw_one(stem, output_dir, signature)]
        jobs = max(1, min(usable_cores(), len(stems)))
        context = multiprocessing.get_context("fork")
        # One task per process: every figure starts from this process's state.
        with context.Pool(jobs, maxtasksperchild=1) as pool:
            done = pool.starmap(
                _draw_one, [(stem, output_dir, signature) for stem in stems], chunksize=1
            )
        return [path for paths in done for path in paths]
    finally:
        _DRAW.clear()
