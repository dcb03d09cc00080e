"""The deck's context (every string and table the template shows) and its rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from imgbench import words
from imgbench.analysis import tables as result_tables
from imgbench.analysis.workload_data import workloads
from imgbench.errors import ImgbenchError
from imgbench.files import write_atomic
from imgbench.report.deck.appendix import amdahl_appendix, speedup_appendix, summary_appendix
from imgbench.report.deck.calibration import calibration_section
from imgbench.report.deck.cells import cell_frame
from imgbench.report.deck.diagnosis import diagnosis_sections
from imgbench.report.deck.figures import FIGURE_BOX_VH, figure
from imgbench.report.deck.interpreters import interpreters_section
from imgbench.report.deck.libraries import libraries_section
from imgbench.report.deck.machine import (
    cpu_warning,
    host_lines,
    host_names,
    hosts_table,
    machine_rows,
    missing_section,
)
from imgbench.report.deck.method import (
    BASE_CASES,
    QUESTION,
    equivalence_margin,
    method_analysis,
    method_measurement,
)
from imgbench.report.deck.model import serial_first, several_hosts
from imgbench.report.deck.overview import (
    OVERHEAD_NOTE,
    overhead_table,
    recommendations_note,
    recommendations_table,
)
from imgbench.report.deck.pools import pools_section
from imgbench.report.deck.tasks import group_note, task_sections, task_verdicts
from imgbench.report.deck.threats import LEGEND as THREAT_LEGEND
from imgbench.report.deck.threats import threats
from imgbench.report.figures import (
    FIGURES,
    HOSTS_FIGURE,
    HOSTS_SLIDE,
    OVERHEAD_SLIDE,
    OVERVIEW_SLIDE,
    TASK_SLIDE,
)
from imgbench.vocabulary import CELL, GROUP

#: Columns the deck reads from each table (docs/results.md); a missing one is an error.
TABLE_COLUMNS = {
    "summary": [*CELL, "reps", "median_s", "ci_low_s", "ci_high_s", "ci_level", "cv"],
    "speedup": [*CELL, "baseline", "median_s", "speedup", "speedup_ci_low", "speedup_ci_high"],
    "efficiency": [*CELL, "baseline", "efficiency", "karp_flatt"],
    "amdahl": [*GROUP, "strategy", "serial_fraction", "max_speedup"],
    "comparisons": [*CELL, "significantly_slower"],
    "recommendations": [*GROUP, "best_strategy", "best_workers", "speedup", "sentence"],
}


def read_tables(results_dir: Path) -> dict[str, pd.DataFrame]:
    """Every table the deck reads, checked for the columns it needs, each with its host."""
    # The timings only where they are (the persistent-pools slide takes each pool's start
    # from them; older tables without it show no start); the diagnosis likewise (results
    # aggregated before it have no diagnosis slide).
    return result_tables.read_tables(
        results_dir, TABLE_COLUMNS, TABLE_COLUMNS, optional=("timings", "diagnosis")
    )


def _read_metadata(path: Path) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ImgbenchError(f"{path}: missing metadata (run `imgbench aggregate` first)") from None
    except json.JSONDecodeError as exc:
        raise ImgbenchError(f"{path}: not valid JSON ({exc})") from None


def _slide_figures(results_dir: Path, meta: dict, summary: pd.DataFrame, several: bool) -> dict:
    """The registry's figures by the slide that shows them (``Figure.slide``): each task's
    (``TASK_SLIDE``: task -> one per workload and figure, in registry order), and the list
    of each other slide's. A hosts figure left from an earlier run of several hosts is not
    shown."""
    directory = results_dir / "figures"
    found = workloads(summary, meta.get("missing_cells"))
    by_slide: dict = {TASK_SLIDE: {}, OVERVIEW_SLIDE: [], OVERHEAD_SLIDE: [], HOSTS_SLIDE: []}
    for stem, spec in FIGURES.items():
        if not spec.slide or (stem == HOSTS_FIGURE and not several):
            continue
        if spec.per_workload:
            for task, size in found:
                shown = figure(
                    directory, stem, spec.workload_file(task, size), spec.workload_title(task, size)
                )
                by_slide[spec.slide].setdefault(task, []).append({**shown, "size": size})
        else:
            by_slide[spec.slide].append(figure(directory, stem))
    return by_slide


def deck_context(results_dir: Path) -> dict:
    """Everything the template shows, as plain strings and tables (no formatting left to it)."""
    results_dir = Path(results_dir)
    tables = read_tables(results_dir)
    meta = _read_metadata(results_dir / "metadata.json")
    summary = tables["summary"]
    several = any(several_hosts(frame) for frame in tables.values())
    figures = _slide_figures(results_dir, meta, summary, several)
    shown = [
        *(f for per_task in figures[TASK_SLIDE].values() for f in per_task),
        *figures[OVERVIEW_SLIDE],
        *figures[OVERHEAD_SLIDE],
        *figures[HOSTS_SLIDE],
    ]

    cells = cell_frame(tables)
    experiments = meta.get("experiments") or sorted(pd.unique(summary["experiment"].dropna()))
    hosts = meta.get("hosts", [])
    strategy_summaries = meta.get("strategy_summaries", {})
    conclusions = task_verdicts(tables["recommendations"], largest_n_only=True)
    margin = equivalence_margin(tables["comparisons"], meta)
    found = threats(summary, meta, tables["speedup"], tables["recommendations"])
    host_section = None
    if several:
        table, note = hosts_table(tables["recommendations"])
        host_section = {
            "figures": figures[HOSTS_SLIDE],
            "lines": host_lines(meta, summary),
            "table": table,
            "note": note,
        }
    return {
        "experiment": words.joined(experiments) if experiments else results_dir.name,
        "description": meta.get("description", ""),
        "date": words.utc(meta.get("finished_unix")),
        "hosts": words.joined(host_names(hosts)),
        "host_count": len(hosts),
        "cells": meta.get("cells", len(summary)),
        "missing": missing_section(meta),
        "question": QUESTION,
        "base_cases": BASE_CASES,
        "machine_headers": host_names(hosts),
        "machine_rows": machine_rows(hosts),
        "machine_warning": cpu_warning(meta),
        "machine_note": (
            f"{len(hosts)} hosts took part ({words.joined(host_names(hosts))}): each is "
            "analysed on its own, against its own serial loop; the “Hosts” slides set them "
            "side by side."
            if len(hosts) > 1
            else ""
        ),
        "host_section": host_section,
        "method_measurement": method_measurement(summary, meta),
        "method_analysis": method_analysis(summary, tables["comparisons"], meta),
        "strategies": sorted(strategy_summaries.items(), key=lambda kv: serial_first(kv[0])),
        "figure_defs": [f for f in shown if f["src"]],
        "figure_box_vh": FIGURE_BOX_VH,
        "tasks": task_sections(cells, tables, meta, figures[TASK_SLIDE]),
        "overview_figures": figures[OVERVIEW_SLIDE],
        "overhead_figures": figures[OVERHEAD_SLIDE],
        "overhead_table": overhead_table(summary),
        "overhead_note": OVERHEAD_NOTE,
        "recommendations": recommendations_table(tables["recommendations"]),
        "recommendations_note": recommendations_note(tables["recommendations"], margin),
        "group_note": group_note(tables["comparisons"], margin),
        "conclusions": sorted(conclusions.items()),
        "threats": found,
        "threat_legend": THREAT_LEGEND,
        "threat_parts": [
            (title, [t for t in found if t["part"] == part])
            for part, title in (
                ("machine", "Threats to validity: machine and method"),
                ("claims", "Threats to validity: cells and claims"),
            )
        ],
        "calibration": calibration_section(results_dir),
        "pools": pools_section(summary, tables["timings"]),
        "libraries": libraries_section(summary),
        "diagnoses": diagnosis_sections(summary, tables["diagnosis"]),
        "interpreters": interpreters_section(results_dir),
        "appendix": _appendix(cells, tables),
    }


def _appendix(cells: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> list[tuple[str, object]]:
    """The appendix slides: every cell, both speedups and efficiencies, the Amdahl fits."""
    return [
        ("Appendix: every cell", summary_appendix(cells)),
        (
            "Appendix: speedup and efficiency, both base cases",
            speedup_appendix(tables["speedup"], tables["efficiency"]),
        ),
        ("Appendix: Amdahl fits", amdahl_appendix(tables["amdahl"])),
    ]


def render_deck(results_dir: Path, output: Path) -> None:
    """Write the experiment's deck to ``output``: one HTML file that needs no network.

    Reads the tables and ``metadata.json`` in ``results_dir`` and the PNG figures in
    ``results_dir / "figures"``; a missing figure becomes a note on its slide. The file is
    replaced atomically.
    """
    env = Environment(
        loader=PackageLoader("imgbench.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("slides.html.j2").render(**deck_context(results_dir))
    write_atomic(Path(output), html.encode("utf-8"))
