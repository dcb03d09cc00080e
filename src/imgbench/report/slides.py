"""The slide deck of an experiment: one self-contained HTML file, drawn from result files only.

Everything the deck shows comes from the experiment's tables (see ``docs/results.md``),
``metadata.json`` and its figures. The figures are embedded once each as base64 ``data:``
URIs and the CSS and JS are inline, so the file opens anywhere without a network. The
templates live in ``imgbench/templates``; this module only turns tables into strings and
rows, and Jinja2 escapes every value. Verdicts are not computed here: each group's sentence
comes from ``recommendations.csv``.

Results of several hosts are shown host by host (a group is a group on one host, as in the
tables), with two more slides that set the hosts side by side; results with missing cells
(``missing_cells`` in ``metadata.json``) get a slide that lists them.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from imgbench.analysis.aggregate import BASELINE, CELL, CPU_MODELS_TOPIC, GROUP, HOST
from imgbench.errors import ImgbenchError
from imgbench.files import write_atomic

QUESTION = (
    "Which way of parallelising this image work is fastest, at this size, with this many "
    "workers, on this machine, and why?"
)
#: The second speedup base case: the same strategy with one worker, in the same group.
ONE_WORKER = "1 worker"
#: Above this coefficient of variation a cell's repetitions disagree enough to mention.
CV_WARN = 0.10
#: Above this fraction of the inputs still cached, a "cold" repetition was partly warm.
RESIDENT_WARN = 0.01
#: Other processes using more than this share of a core during a cell's repetitions.
INTERFERENCE_WARN = 0.2
#: CPU time stolen by a hypervisor, in cores, above which a cell is flagged.
STEAL_WARN = 0.05
#: Below this confidence level the median's interval says too little: too few repetitions.
CI_LEVEL_WANTED = 0.95
#: Significance level of "significantly slower than the best" (comparisons.csv).
ALPHA = 0.05
#: The equivalence margin when neither the tables nor the metadata state one.
DEFAULT_EQUIVALENCE_MARGIN = 0.05
#: How many offending cells a threat names before it only counts them.
NAMED_CELLS = 4
#: How many missing cells the deck lists before it only counts them (metadata.json has all).
MISSING_SHOWN = 40
#: Above this many groups the hosts' table keeps each task's largest number of images.
HOST_TABLE_ROWS = 20
#: A group and a cell on one host: the keys that join the tables.
HOST_GROUP = [*GROUP, HOST]
HOST_CELL = [*CELL, HOST]

#: Columns of comparisons.csv the deck shows where the table has them (older tables lack
#: the Holm-corrected p-value, the equivalence test and the comparison with the loop).
COMPARISON_COLUMNS = [
    "mannwhitney_p",
    "p_value",
    "p_holm",
    "testable",
    "equivalent",
    "equivalence_margin",
    "max_missed_difference",
    "ratio",
    "ratio_ci90_low",
    "ratio_ci90_high",
    "faster_than_loop",
]
#: Columns the deck reads from each table (docs/results.md); a missing one is an error.
TABLE_COLUMNS = {
    "summary": [*CELL, "reps", "median_s", "ci_low_s", "ci_high_s", "ci_level", "cv"],
    "speedup": [*CELL, "baseline", "median_s", "speedup", "speedup_ci_low", "speedup_ci_high"],
    "efficiency": [*CELL, "baseline", "efficiency", "karp_flatt"],
    "amdahl": [*GROUP, "strategy", "serial_fraction", "max_speedup"],
    "comparisons": [*CELL, "significantly_slower"],
    "recommendations": [*GROUP, "best_strategy", "best_workers", "speedup", "sentence"],
}

BASE_CASES = (
    "Speedup has two base cases, both in the same task, size, storage, cache and number of "
    "images: the serial loop (does parallelism pay at all?) and the same strategy with 1 "
    "worker (how does the strategy scale?)."
)


@dataclass(frozen=True)
class FigureSpec:
    stem: str
    title: str
    caption: str


FIGURES = {
    spec.stem: spec
    for spec in (
        FigureSpec(
            "speedup",
            "Speedup over the serial loop",
            "Speedup = median time of the serial loop / median time of the cell, same task, "
            "size, storage, cache and number of images; ideal = the worker count. Hollow "
            "markers: above the physical bound (min(workers, usable cores) for CPU work), "
            "flagged in speedup.csv, not a finding.",
        ),
        FigureSpec(
            "efficiency",
            "Parallel efficiency",
            "Efficiency = speedup over the serial loop / workers: 100% means every worker "
            "fully used.",
        ),
        FigureSpec(
            "faster_than_serial",
            "× faster than the serial loop",
            "Ratio of medians, serial loop / strategy, at the largest number of images; "
            "whiskers: 95% bootstrap CI of the ratio; black ticks: the physical bound; "
            "hatched: above it, not a finding.",
        ),
        FigureSpec(
            "time_vs_n",
            "Absolute time against the number of images",
            "Median wall time in seconds, pool start-up and shutdown included. “Faster from "
            "n = …”: the tables' verdict (faster than the loop, Holm-corrected, within the "
            "physical bound, not withheld), not a comparison of medians.",
        ),
        FigureSpec(
            "best_strategy",
            "The fastest strategy",
            "The fastest strategy and worker count of each task, size and number of images. "
            "Verdicts from the tables: pale “~”: not shown faster than the loop; hatched "
            "“!”: above the physical bound; framed: the recommendation (dashed: withheld).",
        ),
        FigureSpec(
            "repetitions",
            "Every repetition",
            "The timed repetitions behind the medians: spread and outliers are shown, never "
            "removed.",
        ),
        FigureSpec(
            "overhead",
            "Where the time goes",
            "Pool start-up (timer start until every worker had started), until the first "
            "result (one item's or one chunk's work), work (first to last result) and "
            "shutdown (last result to the strategy's return), medians.",
        ),
        FigureSpec(
            "hosts",
            "Hosts side by side: speedup over each host's own serial loop",
            "One column per host, one row per workload (each task's largest size and number "
            "of images); every speedup is over the serial loop measured on the same host. "
            "Band: 95% bootstrap CI; dashed: ideal; dotted: the host's usable cores.",
        ),
    )
}
#: Drawn only for results of several hosts (``imgbench.report.plots.HOSTS_FIGURE``).
HOSTS_FIGURE = "hosts"
#: Shown in each task's section (the figure has a row of panels per task).
TASK_FIGURE = "speedup"
#: Shown once each, after the task sections.
OVERVIEW_FIGURES = ("efficiency", "faster_than_serial", "time_vs_n", "best_strategy", "repetitions")


# ----- formatting: small pure functions, "n/a" for anything missing ------------------------


def _number(value) -> float:
    """A table value as a float; NaN when empty, missing or not a number."""
    if value is None or isinstance(value, str) and not value.strip():
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def fmt_seconds(value) -> str:
    """Seconds to three significant digits, keeping trailing zeros ("0.200"); "n/a" if NaN."""
    value = _number(value)
    if not math.isfinite(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:#.3g}".rstrip(".")


def fmt_ms(seconds) -> str:
    """Seconds as milliseconds, three significant digits; "<0.01" below 10 µs."""
    value = _number(seconds) * 1e3
    if not math.isfinite(value):
        return "n/a"
    return "<0.01" if abs(value) < 0.01 else fmt_seconds(value)


def fmt_speedup(value) -> str:
    """A ratio as "1.83×"; "n/a" if it is missing."""
    value = _number(value)
    if value == math.inf:
        return "∞"  # an Amdahl fit with no serial part
    return f"{value:.2f}×" if math.isfinite(value) else "n/a"


def fmt_range(low, high, fmt: Callable[[float], str] = fmt_seconds) -> str:
    """An interval as "0.190–0.210"; "n/a" when either end is missing."""
    low, high = _number(low), _number(high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"{fmt(low)}–{fmt(high)}"


def fmt_speedup_ci(value, low, high) -> str:
    """A ratio with its interval: "1.83× (1.65–2.01)"; without the interval when it is missing."""
    interval = fmt_range(low, high, fmt_float)
    return fmt_speedup(value) + ("" if interval == "n/a" else f" ({interval})")


def fmt_percent(value, digits: int = 1) -> str:
    value = _number(value)
    return f"{value:.{digits}%}" if math.isfinite(value) else "n/a"


def fmt_float(value, digits: int = 2) -> str:
    value = _number(value)
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def fmt_p(value) -> str:
    """A p-value: two significant digits, "<0.001" below that."""
    value = _number(value)
    if not math.isfinite(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.2g}"


def _int_text(value) -> str:
    value = _number(value)
    return str(int(value)) if math.isfinite(value) else "n/a"


def _is_true(value) -> bool:
    """A boolean column read back from CSV (True, "True", 1) or missing (False)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) if value is not None and value == value else False


def _missing(value) -> bool:
    """Whether a table value is absent: None, NaN or an empty string."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _who(strategy: str, workers) -> str:
    """A cell in words: "the serial loop" or "threads ×2"."""
    if strategy == BASELINE:
        return "the serial loop"
    return f"{strategy} ×{_int_text(workers)}"


def _serial_first(strategy: str) -> tuple[bool, str]:
    return (strategy != BASELINE, strategy)


def _size(row) -> str:
    return f"{int(row['width'])}x{int(row['height'])}"


def _joined(values: Iterable) -> str:
    return ", ".join(str(v) for v in values) or "n/a"


def _text(value) -> str:
    return "n/a" if value is None else str(value)


def _utc(unix: float | None) -> str:
    if unix is None:
        return "n/a"
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


# ----- verdicts: the sentences of recommendations.csv, grouped by task -----------------------


def _group_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by task, then largest number of images first, then size, storage and cache, then
    host (the same group on several hosts side by side)."""
    if frame.empty:
        return frame
    keys = ["task", "n_images", "width", "height", "storage", "cache"]
    keys += [HOST] if HOST in frame.columns else []
    return frame.sort_values(keys, ascending=[k != "n_images" for k in keys], kind="stable")


def task_verdicts(recommendations: pd.DataFrame, largest_n_only: bool = False) -> dict[str, list]:
    """Each task's plain-language verdicts: the ``sentence`` of each of its groups.

    The sentences are written by the analysis (one per group in ``recommendations.csv``);
    this only orders them, largest number of images first, and with ``largest_n_only``
    keeps those of each task's largest number of images.
    """
    verdicts: dict[str, list[str]] = {}
    for task, rows in _group_order(recommendations).groupby("task", sort=True):
        if largest_n_only:
            rows = rows[rows["n_images"] == rows["n_images"].max()]
        verdicts[str(task)] = [str(s) for s in rows["sentence"] if isinstance(s, str) and s]
    return verdicts


# ----- tables: what the template shows, as strings ------------------------------------------


@dataclass
class Cell:
    text: str
    num: bool = False
    rowspan: int = 1


@dataclass
class Row:
    cells: list[Cell]
    css: str = ""


@dataclass
class Table:
    """A table for the template: optional header groups ``(label, colspan)``, columns
    ``(name, is_number)`` and rows; ``css`` is its class (chooses the font size)."""

    columns: list[tuple[str, bool]]
    rows: list[Row] = field(default_factory=list)
    groups: list[tuple[str, int]] = field(default_factory=list)
    css: str = "cells"


def _cells(values: Iterable[tuple[str, bool]]) -> list[Cell]:
    return [Cell(text, num) for text, num in values]


def _several_places(frame: pd.DataFrame) -> bool:
    return frame[["storage", "cache"]].drop_duplicates().shape[0] > 1


def _several_hosts(frame: pd.DataFrame) -> bool:
    return HOST in frame.columns and frame[HOST].nunique() > 1


def _group_columns(places: bool, hosts: bool = False) -> list[tuple[str, bool]]:
    return [
        *([("host", False)] if hosts else []),
        ("task", False),
        ("size", False),
        *([("storage", False), ("cache", False)] if places else []),
        ("n", True),
    ]


def _group_values(row, places: bool, hosts: bool = False) -> list[tuple[str, bool]]:
    return [
        *([(str(row[HOST]), False)] if hosts else []),
        (str(row["task"]), False),
        (_size(row), False),
        *([(str(row["storage"]), False), (str(row["cache"]), False)] if places else []),
        (_int_text(row["n_images"]), True),
    ]


def _by_baseline(frame: pd.DataFrame, baseline: str, columns: dict[str, str]) -> pd.DataFrame:
    """The rows of one base case, keyed by cell and host, with ``columns`` renamed."""
    rows = frame[frame["baseline"] == baseline]
    present = {k: v for k, v in columns.items() if k in rows.columns}
    return rows[[*HOST_CELL, *present]].rename(columns=present).drop_duplicates(HOST_CELL)


def cell_frame(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per cell: its summary, both speedups, efficiency, Karp-Flatt and comparison."""
    tables = _align_hosts(tables)
    summary, speedup, efficiency = tables["summary"], tables["speedup"], tables["efficiency"]
    sp = {"speedup": "speedup", "speedup_ci_low": "ci_low", "speedup_ci_high": "ci_high"}
    cells = summary.merge(
        _by_baseline(speedup, BASELINE, {k: f"serial_{v}" for k, v in sp.items()}),
        on=HOST_CELL,
        how="left",
    )
    cells = cells.merge(
        _by_baseline(speedup, ONE_WORKER, {k: f"one_{v}" for k, v in sp.items()}),
        on=HOST_CELL,
        how="left",
    )
    cells = cells.merge(
        _by_baseline(efficiency, BASELINE, {"efficiency": "efficiency"}),
        on=HOST_CELL,
        how="left",
    )
    cells = cells.merge(
        _by_baseline(efficiency, ONE_WORKER, {"karp_flatt": "karp_flatt"}),
        on=HOST_CELL,
        how="left",
    )
    cells = cells.merge(
        _by_baseline(
            speedup,
            BASELINE,
            {
                "bound": "bound",
                "exceeds_bound": "exceeds_bound",
                "cpu_per_image_ratio": "cpu_per_image_ratio",
            },
        ),
        on=HOST_CELL,
        how="left",
    )
    compare = tables["comparisons"]
    present = ["significantly_slower", *(c for c in COMPARISON_COLUMNS if c in compare.columns)]
    cells = cells.merge(
        compare[[*HOST_CELL, *present]].drop_duplicates(HOST_CELL),
        on=HOST_CELL,
        how="left",
    )
    for column in [
        "serial_speedup",
        "serial_ci_low",
        "serial_ci_high",
        "one_speedup",
        "one_ci_low",
        "one_ci_high",
        "efficiency",
        "karp_flatt",
        "bound",
        "exceeds_bound",
        *COMPARISON_COLUMNS,
    ]:
        if column not in cells.columns:
            cells[column] = math.nan
    fastest = cells.groupby(HOST_GROUP)["median_s"].transform("min")
    cells["fastest"] = cells["median_s"] == fastest
    return cells


def _p_value(cell) -> float:
    """The p-value a comparison reports: Holm-adjusted where the table has it."""
    for column in ("p_holm", "p_value", "mannwhitney_p"):
        value = _number(cell.get(column))
        if math.isfinite(value):
            return value
    return math.nan


def _vs_best(cell) -> str:
    """The comparison's verdict against the group's fastest cell, as comparisons.csv says it:
    "slower" (significantly, Holm-corrected), "equivalent" (TOST within the margin), "can't
    tell" (neither: with the largest difference the repetitions could have missed), or, in
    tables without an equivalence test, "not sig. slower"."""
    if cell["fastest"]:
        return "fastest"
    if _is_true(cell["significantly_slower"]):
        return "slower"
    tested = math.isfinite(_p_value(cell)) or _is_true(cell.get("testable"))
    if not _missing(cell.get("equivalent")):
        if _is_true(cell["equivalent"]):
            return "equivalent"
        missed = _number(cell.get("max_missed_difference"))
        return f"can't tell (±{missed:.0%})" if math.isfinite(missed) else "can't tell"
    if not tested:
        return "n/a"
    return "not sig. slower"


def _strategy_rows(cells: pd.DataFrame) -> pd.DataFrame:
    order = sorted(cells["strategy"].unique(), key=_serial_first)
    rank = {s: i for i, s in enumerate(order)}
    return cells.assign(_rank=cells["strategy"].map(rank)).sort_values(
        ["_rank", "workers"], kind="stable"
    )


def group_table(cells: pd.DataFrame, amdahl: pd.DataFrame) -> Table:
    """One group's cells: absolute times, both speedups, efficiency, Karp-Flatt, whether
    each is significantly slower than the fastest, and each strategy's Amdahl fit."""
    table = Table(
        columns=[
            ("strategy", False),
            ("workers", True),
            ("median", True),
            ("CI", True),
            ("speedup (95% CI)", True),
            ("efficiency", True),
            ("speedup", True),
            ("Karp–Flatt e", True),
            ("vs fastest", False),
            ("serial fraction", True),
            ("ceiling", True),
        ],
        groups=[
            ("", 2),
            ("time, s", 2),
            ("vs the serial loop", 2),
            ("vs 1 worker", 2),
            ("", 1),
            ("Amdahl fit", 2),
        ],
    )
    fits = {str(r["strategy"]): r for _, r in amdahl.iterrows()}
    ordered = _strategy_rows(cells)
    for strategy, rows in ordered.groupby("strategy", sort=False):
        for i, (_, cell) in enumerate(rows.iterrows()):
            values = [
                (str(cell["strategy"]), False),
                (_int_text(cell["workers"]), True),
                (fmt_seconds(cell["median_s"]), True),
                (fmt_range(cell["ci_low_s"], cell["ci_high_s"]), True),
                (
                    fmt_speedup_ci(
                        cell["serial_speedup"], cell["serial_ci_low"], cell["serial_ci_high"]
                    )
                    + _bound_mark(cell),
                    True,
                ),
                (fmt_percent(cell["efficiency"], 0), True),
                (fmt_speedup(cell["one_speedup"]), True),
                (_karp_flatt_text(cell), True),
                (_vs_best(cell), False),
            ]
            css = "fastest" if cell["fastest"] else ""
            if _is_true(cell.get("exceeds_bound")):
                css = f"{css} flagged".strip()
            row = Row(_cells(values), css)
            if i == 0:
                fit = fits.get(str(strategy))
                fitted = fit is not None and math.isfinite(_number(fit["serial_fraction"]))
                texts = (
                    (fmt_percent(fit["serial_fraction"]), fmt_speedup(fit["max_speedup"]))
                    if fitted
                    else ("—", "—")  # too few worker counts within the cores: no fit
                )
                row.cells += [Cell(text, True, len(rows)) for text in texts]
            table.rows.append(row)
    return table


def _bound_mark(cell) -> str:
    """ " ⚠ > bound 2" after a speedup above its physical bound; "" otherwise."""
    if not _is_true(cell.get("exceeds_bound")):
        return ""
    bound = _number(cell.get("bound"))
    return f" ⚠ > bound {bound:g}" if math.isfinite(bound) else " ⚠ > bound"


def _karp_flatt_text(cell) -> str:
    """Karp-Flatt e; "— (p > cores)" where the table leaves it out beyond the usable cores."""
    value = _number(cell.get("karp_flatt"))
    if math.isfinite(value):
        return fmt_float(value)
    cores, workers = _number(cell.get("usable_cores")), _number(cell.get("workers"))
    if math.isfinite(cores) and math.isfinite(workers) and workers > cores:
        return "— (p > cores)"
    return "n/a"


def group_note(comparisons: pd.DataFrame, margin: str) -> str:
    """What "vs fastest" says, for the tests comparisons.csv has."""
    if "equivalent" in comparisons.columns:
        verdicts = (
            "“slower”: significantly slower than it (Holm-corrected within the group); "
            f"“equivalent”: the 90% CI of the time ratio within ±{margin} (TOST); “can't "
            "tell”: neither, with the largest difference the repetitions could have missed."
        )
    else:
        verdicts = (
            "“slower”: significantly slower than it (Mann–Whitney U, p < 0.05); “not sig. "
            "slower”: not, which does not make it equivalent."
        )
    return (
        f"Highlighted: the fastest cell; {verdicts} ⚠: speedup above its physical bound, not "
        "a finding. Karp–Flatt only within the usable cores. Times are medians of the timed "
        "repetitions, pool start-up and shutdown included."
    )


def _group_title(row, hosts: bool = False) -> str:
    title = (
        f"{row['task']} · {_size(row)} · {row['storage']}, {row['cache']} cache · "
        f"{_int_text(row['n_images'])} images"
    )
    return f"{title} · on {row[HOST]}" if hosts else title


def _select(frame: pd.DataFrame, key: dict) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, value in key.items():
        mask &= frame[column] == value
    return frame[mask]


def task_sections(
    cells: pd.DataFrame, tables: dict[str, pd.DataFrame], meta: dict, figure: dict
) -> list[dict]:
    """One section per task: its verdicts, its figure and a table per group at the task's
    largest number of images (every group is in the appendix)."""
    verdicts = task_verdicts(tables["recommendations"])
    summaries = meta.get("task_summaries", {})
    amdahl = tables["amdahl"]
    hosts = _several_hosts(cells)
    sections = []
    for task, rows in cells.groupby("task", sort=True):
        largest = rows[rows["n_images"] == rows["n_images"].max()]
        groups = []
        # The same group on each host one after the other, so that they compare slide by slide.
        for key, group in largest.groupby([*GROUP, HOST], sort=True):
            key = dict(zip(HOST_GROUP, key, strict=True))
            groups.append(
                {
                    "title": _group_title(key, hosts),
                    "table": group_table(group, _select(amdahl, key)),
                }
            )
        sections.append(
            {
                "name": str(task),
                "summary": summaries.get(task, ""),
                "verdicts": verdicts.get(str(task), []),
                "figure": figure,
                "figure_note": (
                    f"This task's panels are those labelled “{task}”, one per host "
                    f"(“host: {task}”)."
                    if hosts
                    else f"This task's panels are those labelled “{task}”."
                ),
                "groups": groups,
            }
        )
    return sections


def _label_text(value) -> str:
    return value if isinstance(value, str) and value.strip() else "—"


def _vs_loop(rec) -> str:
    """The recommendation's verdict against the loop, as recommendations.csv says it."""
    if str(rec.get("best_strategy")) == BASELINE:
        return "is the loop"
    if _is_true(rec.get("withheld")):
        return "withheld"
    if _missing(rec.get("faster_than_loop")):
        return "n/a"
    return "faster" if _is_true(rec.get("faster_than_loop")) else "not shown faster"


def recommendations_table(recommendations: pd.DataFrame) -> Table:
    """Per task, size and number of images: the fastest cell, its speedup over the loop with
    its CI (flagged and withheld above its physical bound), whether it is shown faster than
    the loop, the runner-up, and the cells that are equivalent to it (TOST) or that the
    repetitions cannot tell apart from it. Tables that predate the equivalence test have one
    column instead: the cells not significantly slower."""
    places = not recommendations.empty and _several_places(recommendations)
    hosts = _several_hosts(recommendations)
    tost = "equivalent" in recommendations.columns or "not_told_apart" in recommendations.columns
    verdict = "faster_than_loop" in recommendations.columns or "withheld" in recommendations.columns
    table = Table(
        columns=[
            *_group_columns(places, hosts),
            ("fastest", False),
            ("median s", True),
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
    for _, rec in _group_order(recommendations).iterrows():
        runner = rec.get("runner_up_strategy")
        has_runner = isinstance(runner, str) and bool(runner.strip())
        values = [
            *_group_values(rec, places, hosts),
            (_who(str(rec["best_strategy"]), rec["best_workers"]), False),
            (fmt_seconds(rec.get("best_median_s")), True),
            (fmt_speedup(rec["speedup"]) + _bound_mark(rec), True),
            (fmt_range(rec.get("speedup_ci_low"), rec.get("speedup_ci_high"), fmt_float), True),
            *([(_vs_loop(rec), False)] if verdict else []),
            (_who(runner, rec.get("runner_up_workers")) if has_runner else "none", False),
            (fmt_speedup(rec.get("runner_up_speedup")) if has_runner else "—", True),
        ]
        if tost:
            values += [
                (_label_text(rec.get("equivalent")), False),
                (_label_text(rec.get("not_told_apart")), False),
            ]
        else:
            values.append((_label_text(rec.get("within_noise")), False))
        flagged = _is_true(rec.get("withheld")) or _is_true(rec.get("exceeds_bound"))
        table.rows.append(Row(_cells(values), "flagged" if flagged else ""))
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
    places = not summary.empty and _several_places(summary)
    hosts = _several_hosts(summary)
    table = Table(
        columns=[
            *_group_columns(places, hosts),
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
        for _, group in _group_order(largest).groupby(HOST_GROUP, sort=False):
            top = group[group["workers"] == group.groupby("strategy")["workers"].transform("max")]
            for _, cell in _strategy_rows(top).iterrows():
                first = _number(cell.get("median_first_result_s"))
                ready = _number(cell.get("median_pool_ready_s"))
                shutdown = _number(cell.get("median_shutdown_s"))
                # Start-up is the pool's where it was recorded apart (none for the loop),
                # else the time to the first result (one item's or one chunk's work in it).
                no_pool = cell["strategy"] == BASELINE and not math.isfinite(ready)
                if no_pool:
                    startup, until_first, ready_text = 0.0, first, "—"
                elif math.isfinite(ready):
                    startup = min(ready, first)
                    until_first = first - startup
                    ready_text = fmt_ms(ready) + ("*" if ready > first else "")
                else:
                    startup, until_first, ready_text = first, first, "n/a"
                share = (startup + shutdown) / _number(cell["median_s"])
                values = [
                    *_group_values(cell, places, hosts),
                    (str(cell["strategy"]), False),
                    (_int_text(cell["workers"]), True),
                    (fmt_ms(cell["median_s"]), True),
                    (ready_text, True),
                    (fmt_ms(until_first), True),
                    (fmt_ms(cell.get("median_work_s")), True),
                    (fmt_ms(shutdown), True),
                    (fmt_percent(share, 0), True),
                    (fmt_percent(cell.get("worker_busy"), 0), True),
                ]
                table.rows.append(Row(_cells(values)))
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


def _cell_order(frame: pd.DataFrame, extra: list[str] | None = None) -> pd.DataFrame:
    """Rows by group (task, size, storage, cache, n), then the serial loop first, then the
    other strategies and worker counts (those of the columns that the frame has)."""
    if frame.empty:
        return frame
    keys = [HOST, "task", "width", "height", "storage", "cache", "n_images", "_parallel"]
    keys.append("strategy")
    keys = [k for k in [*keys, "workers", *(extra or [])] if k in frame.columns or k == "_parallel"]
    ordered = frame.assign(_parallel=frame["strategy"] != BASELINE)
    return ordered.sort_values(keys, kind="stable").drop(columns="_parallel")


def summary_appendix(summary: pd.DataFrame) -> Table:
    hosts = _several_hosts(summary)
    table = Table(
        columns=[
            *_group_columns(True, hosts),
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
    for _, cell in _cell_order(summary).iterrows():
        rss = _number(cell.get("max_peak_rss_bytes")) / 2**20
        tree = _number(cell.get("max_tree_pss_bytes")) / 2**20
        spread = fmt_percent(cell.get("round_spread"), 0)
        if _is_true(cell.get("rounds_disagree")):
            spread += " ⚠"
        values = [
            *_group_values(cell, True, hosts),
            (str(cell["strategy"]), False),
            (_int_text(cell["workers"]), True),
            (_int_text(cell["reps"]), True),
            (fmt_seconds(cell["median_s"]), True),
            (fmt_range(cell["ci_low_s"], cell["ci_high_s"]), True),
            (fmt_percent(cell["ci_level"], 0), True),
            (fmt_percent(cell["cv"], 0), True),
            (_int_text(cell.get("outliers")), True),
            (_int_text(cell.get("rounds")), True),
            (spread, True),
            (fmt_p(_p_value(cell)), True),
            (fmt_float(cell.get("images_per_s"), 0), True),
            (fmt_float(cell.get("cpu_per_wall")), True),
            (fmt_percent(cell.get("worker_busy"), 0), True),
            (fmt_float(cell.get("other_cpu_per_wall")), True),
            (fmt_float(rss, 0), True),
            (fmt_float(tree, 0), True),
            (_text(cell.get("cache_method")), False),
            (fmt_percent(cell.get("max_resident_fraction")), True),
        ]
        table.rows.append(Row(_cells(values)))
    return table


def speedup_appendix(speedup: pd.DataFrame, efficiency: pd.DataFrame) -> Table:
    hosts = _several_hosts(speedup)
    table = Table(
        columns=[
            *_group_columns(True, hosts),
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
    for _, row in _cell_order(rows, ["baseline"]).iterrows():
        base = "the serial loop" if row["baseline"] == BASELINE else str(row["baseline"])
        if row["baseline"] == ONE_WORKER:
            base = "itself" if row["strategy"] == BASELINE else f"{row['strategy']} ×1"
        values = [
            *_group_values(row, True, hosts),
            (str(row["strategy"]), False),
            (_int_text(row["workers"]), True),
            (base, False),
            (fmt_seconds(row["median_s"]), True),
            (fmt_seconds(row.get("baseline_median_s")), True),
            (fmt_speedup(row["speedup"]) + _bound_mark(row), True),
            (fmt_range(row["speedup_ci_low"], row["speedup_ci_high"], fmt_float), True),
            (_int_text(row.get("bound")), True),
            (fmt_float(row.get("cpu_per_image_ratio")), True),
            (fmt_percent(row.get("efficiency"), 0), True),
            (_karp_flatt_text(row), True),
        ]
        table.rows.append(Row(_cells(values)))
    return table


def amdahl_appendix(amdahl: pd.DataFrame) -> Table:
    hosts = _several_hosts(amdahl)
    table = Table(
        columns=[
            *_group_columns(True, hosts),
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
    for _, fit in _cell_order(amdahl).iterrows():
        values = [
            *_group_values(fit, True, hosts),
            (str(fit["strategy"]), False),
            (_int_text(fit.get("points")), True),
            (_int_text(fit.get("fit_max_workers")), True),
            (fmt_seconds(fit.get("t_serial_s")), True),
            (fmt_seconds(fit.get("t_parallel_s")), True),
            (fmt_percent(fit["serial_fraction"]), True),
            (fmt_speedup(fit["max_speedup"]), True),
            (fmt_float(fit.get("fit_r2"), 3), True),
        ]
        if "fit_note" in amdahl.columns:
            values.append((_label_text(fit.get("fit_note")), False))
        table.rows.append(Row(_cells(values)))
    return table


# ----- method and threats to validity -------------------------------------------------------


def _host_names(hosts: list[dict]) -> list[str]:
    """Each host as the tables name it (older metadata: its hostname)."""
    return [_text(h.get("host") or h.get("hostname")) for h in hosts]


def _machine_rows(hosts: list[dict]) -> list[tuple[str, list[str]]]:
    def ram(host: dict) -> str:
        size = host.get("ram_bytes")
        return "n/a" if size is None else f"{size / 2**30:.1f} GiB"

    def pillow(host: dict) -> str:
        turbo = host.get("pillow_libjpeg_turbo")
        turbo_text = "n/a" if turbo is None else ("yes" if turbo else "no")
        return f"{_text(host.get('pillow_version'))} (libjpeg-turbo: {turbo_text})"

    def cores(host: dict) -> str:
        keys = ("physical_cores", "logical_cores", "usable_cores")
        return " / ".join(_text(host.get(k)) for k in keys)

    fields = [
        ("Host", lambda h: _text(h.get("hostname"))),
        *([("Cells", lambda h: _text(h.get("cells")))] if len(hosts) > 1 else []),
        ("CPU", lambda h: _text(h.get("cpu_model"))),
        ("Cores: physical / logical / usable", cores),
        ("RAM", ram),
        ("OS", lambda h: _text(h.get("platform"))),
        ("Python", lambda h: _text(h.get("python_version"))),
        ("Pillow", pillow),
        ("numpy", lambda h: _text(h.get("numpy_version"))),
        ("Snakemake", lambda h: _text(h.get("snakemake_version"))),
        ("Workflow commit", lambda h: _text(h.get("workflow_commit"))),
    ]
    return [(label, [get(h) for h in hosts]) for label, get in fields]


def _usable_cores(meta: dict, summary: pd.DataFrame) -> int | None:
    cores = [h.get("usable_cores") for h in meta.get("hosts", []) if h.get("usable_cores")]
    if cores:
        return min(cores)
    if "usable_cores" in summary.columns and summary["usable_cores"].notna().any():
        return int(summary["usable_cores"].min())
    return None


def _uniq(frame: pd.DataFrame, column: str) -> list:
    return sorted(pd.unique(frame[column].dropna())) if column in frame.columns else []


# ----- fairness facts: (status, text), status "ok", "warn" or "info" ------------------------
# "info" states a fact or says that something was not measured: it never gets a tick.

OK, WARN, INFO = "ok", "warn", "info"
#: The start method whose workers inherit the parent's loaded modules.
FORK = "fork"
#: Saving tasks (their files are written inside the timer) where results do not say.
SAVING_TASK_PREFIXES = ("save_", "blur_thumbnail")


def _flags(frame: pd.DataFrame, column: str) -> pd.Series:
    """A boolean column of a table (False where missing); all False without the column."""
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].map(_is_true).astype(bool)


def _mib(value) -> str:
    value = _number(value)
    return "n/a" if not math.isfinite(value) else f"{value / 2**20:.0f} MiB"


def _start_methods(meta: dict, summary: pd.DataFrame) -> dict[str, float]:
    """Each start method with its median time until every pool worker had started:
    ``start_methods`` of metadata.json, else the methods named and the summary's
    ``median_pool_ready_s`` (NaN where not recorded)."""
    recorded = meta.get("start_methods")
    if isinstance(recorded, dict) and recorded:
        return {
            str(m): _number(v.get("median_pool_ready_s") if isinstance(v, dict) else v)
            for m, v in recorded.items()
        }
    names = meta.get("mp_start_methods") or _uniq(summary, "mp_start_method")
    out = {}
    for name in names:
        value = math.nan
        if _has_columns(summary, ("mp_start_method", "median_pool_ready_s")):
            ready = summary.loc[summary["mp_start_method"] == name, "median_pool_ready_s"]
            ready = pd.to_numeric(ready, errors="coerce").dropna()
            value = float(ready.median()) if len(ready) else math.nan
        out[str(name)] = value
    return out


def _has_columns(frame: pd.DataFrame, columns) -> bool:
    return all(c in frame.columns for c in columns)


def start_method_text(meta: dict, summary: pd.DataFrame) -> tuple[str, str]:
    """The multiprocessing start method(s) and their start cost; a non-fork method warns:
    its workers start fresh interpreters and import the engine inside the timer."""
    methods = _start_methods(meta, summary)
    if not methods:
        return INFO, "not recorded."
    parts = []
    for name, ready in sorted(methods.items()):
        cost = (
            f"every pool worker had started after a median {fmt_ms(ready)} ms"
            if math.isfinite(ready)
            else "pool start-up not recorded"
        )
        parts.append(f"{name} ({cost})")
    text = "; ".join(parts) + "."
    others = sorted(m for m in methods if m != FORK)
    if not others:
        return OK, text + " Forked workers inherit the modules the parent loaded untimed."
    text += (
        f" {_joined(others)} is not fork: every worker of every pool starts a new interpreter "
        "and imports the engine inside the timer (forkserver preloads it in its server once), "
        "a start cost that fork does not pay and that every process-pool time includes."
    )
    return WARN, text


def rounds_text(meta: dict, summary: pd.DataFrame) -> tuple[str, str]:
    """How many rounds each cell ran and in what order; one round is a threat (drift of
    the machine between cells is then invisible to every CI)."""
    counts = [int(r) for r in meta.get("rounds") or [] if _number(r) == _number(r)]
    if not counts and "rounds" in summary.columns:
        counts = sorted(
            {int(r) for r in pd.to_numeric(summary["rounds"], errors="coerce").dropna()}
        )
    repeats = _joined(meta.get("repeats", []))
    if not counts:
        return WARN, (
            "not recorded (results before rounds): all repetitions of a cell ran "
            "back-to-back in one process, and cells ran one after another in a fixed order, so "
            "drift of the machine between cells is invisible to every confidence interval."
        )
    if max(counts) <= 1:
        return WARN, (
            f"1 ({repeats} repetitions per cell in one process): cells ran one after "
            "another, so drift of the machine between two cells is invisible to every "
            "confidence interval."
        )
    return OK, (
        f"{_joined(counts)} per cell, each a separate job of {repeats} repetitions; "
        "round by round (round r of every cell before round r+1 of any), the jobs of a round "
        "in a seeded random order, so a slow period of the machine falls on many strategies. "
        "The rounds are the experimental unit: CIs resample rounds, then repetitions."
    )


def _cold(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["cache"] == "cold"] if "cache" in summary.columns else summary.iloc[0:0]


def eviction_text(meta: dict, summary: pd.DataFrame) -> tuple[str, str] | None:
    """How cold cells were made cold; None without cold cells. System-wide eviction warns:
    it also evicts the interpreter, which new workers then re-read inside the timer."""
    if _cold(summary).empty:
        return None
    methods = [str(m) for m in meta.get("eviction_methods") or []]
    if not methods and "eviction" in summary.columns:
        values = _cold(summary)["eviction"].dropna().astype(str)
        methods = sorted({m for v in values for m in v.split(",") if m})
    if not methods:
        return INFO, (
            "not recorded (results before it): cold cells may have dropped the whole "
            "page cache, interpreter included."
        )
    if "system" in methods:
        return WARN, (
            f"{_joined(methods)}. System eviction (drop_caches) empties the whole "
            "page cache, the interpreter's libraries and .pyc files too: every new worker "
            "re-reads them from storage inside the timer, a cost process pools pay and the "
            "loop and threads do not."
        )
    return OK, (
        f"{_joined(methods)}: only the inputs' pages (and a saving task's output "
        "directory) are evicted, file by file, verified with mincore; the interpreter stays "
        "cached, as for any program that runs twice."
    )


def durability_text(meta: dict, summary: pd.DataFrame) -> tuple[str, str] | None:
    """What "written" means for the tasks that save; None when no task saves. Never a tick:
    the page cache is the default, and a stated fact."""
    recorded = meta.get("durability")
    saving = [t for t in _uniq(summary, "task") if str(t).startswith(SAVING_TASK_PREFIXES)]
    if not (isinstance(recorded, dict) and recorded) and not saving:
        return None
    by_task = dict(recorded) if isinstance(recorded, dict) else {}
    for task in saving:
        by_task.setdefault(str(task), "not recorded: none")
    synced = sorted(t for t, v in by_task.items() if "fsync" in str(v))
    cached = sorted(t for t, v in by_task.items() if "fsync" not in str(v))
    parts = []
    if cached:
        parts.append(
            f"{_joined(cached)}: page cache (durability none): the timer stops before the "
            "files reach the disk"
        )
    if synced:
        parts.append(f"{_joined(synced)}: durability fsync, every file fsynced inside the timer")
    return INFO, "; ".join(parts) + "."


def memory_text(summary: pd.DataFrame) -> tuple[str, str]:
    """Peak memory of the whole cell (parent and workers) beside the parent's own."""
    columns = [c for c in ("max_tree_pss_bytes", "max_tree_uss_bytes") if c in summary.columns]
    tree = (
        pd.to_numeric(summary[columns[0]], errors="coerce") if columns else pd.Series(dtype=float)
    )
    if tree.dropna().empty:
        parent = summary.get("max_peak_rss_bytes")
        biggest = (
            _mib(pd.to_numeric(parent, errors="coerce").max()) if parent is not None else "n/a"
        )
        return INFO, (
            f"Peak memory: the parent process's peak RSS only (up to {biggest}); the workers' "
            "memory was not measured."
        )
    i = tree.idxmax()
    row = summary.loc[i]
    kind = "PSS" if columns[0] == "max_tree_pss_bytes" else "USS"
    uss = (
        f", USS {_mib(row.get('max_tree_uss_bytes'))}"
        if kind == "PSS" and math.isfinite(_number(row.get("max_tree_uss_bytes")))
        else ""
    )
    return INFO, (
        f"Peak memory of the whole cell (parent + every worker, {kind}, sampled during each "
        f"repetition) beside the parent's own peak RSS: largest {_cell_name(row)}, "
        f"{_mib(row[columns[0]])}{uss} against the parent's {_mib(row.get('max_peak_rss_bytes'))}."
    )


def method_measurement(summary: pd.DataFrame, meta: dict) -> list[str]:
    """How each cell was measured: grid, repetitions, timed region, cache, verification."""
    parallel = summary[summary["strategy"] != BASELINE]
    pairs = zip(summary["width"], summary["height"], strict=True)
    sizes = [f"{int(w)}x{int(h)}" for w, h in sorted(set(pairs))]
    workers = sorted({int(w) for w in parallel["workers"]})
    items = [
        f"Grid: tasks {_joined(_uniq(summary, 'task'))}; strategies "
        f"{_joined(sorted(_uniq(summary, 'strategy'), key=_serial_first))}; "
        f"workers {_joined(workers)} (the serial loop runs once, with 1); images per cell "
        f"{_joined(int(n) for n in _uniq(summary, 'n_images'))}; sizes {_joined(sizes)}; "
        f"storage {_joined(_uniq(summary, 'storage'))}; cache "
        f"{_joined(_uniq(summary, 'cache'))}; input format {_joined(_uniq(summary, 'format'))}.",
        f"{_joined(meta.get('repeats', []))} timed repetitions per cell after "
        f"{_joined(meta.get('warmup', []))} untimed warm-up; {_text(meta.get('cells'))} cells, "
        f"{_text(meta.get('timed_repetitions'))} timed repetitions in all; each cell ran alone.",
        "Rounds: " + rounds_text(meta, summary)[1],
        "The timed region is the whole batch, pool start-up and shutdown included, split "
        "into pool start-up (until every worker started), until the first result, work and "
        "shutdown. Multiprocessing start method: " + start_method_text(meta, summary)[1],
    ]
    cold_max = meta.get("cold_resident_fraction_max")
    methods = _joined(meta.get("cache_methods", []))
    items.append(provenance(meta))
    if cold_max is None:
        items.append(f"Cache control: {methods}; no cold-cache repetition read inputs.")
    else:
        items.append(
            f"Cache control: {methods}. Measured share of the inputs still in the page cache "
            f"before a cold repetition (mincore): max {fmt_percent(cold_max)}, median "
            f"{fmt_percent(meta.get('cold_resident_fraction_median'))}."
        )
    eviction = eviction_text(meta, summary)
    if eviction is not None:
        items.append("Eviction: " + eviction[1])
    durability = durability_text(meta, summary)
    if durability is not None:
        items.append("Save durability: " + durability[1])
    items.append(memory_text(summary)[1])
    items.append(
        "Every repetition is verified (checksums of written files, decoded pixels of reads): "
        "a repetition that lost or corrupted work fails its cell and is never reported."
    )
    return items


def _commits(meta: dict) -> list[str]:
    """The workflow commits the cells ran from (older metadata: those of its hosts)."""
    if "workflow_commits" in meta:
        return [str(c) for c in meta["workflow_commits"]]
    return sorted({str(c) for h in meta.get("hosts", []) if (c := h.get("workflow_commit"))})


def provenance(meta: dict) -> str:
    """Which config and which code the cells ran with: the config hash and the commits."""
    value = meta.get("config_hash")
    by_experiment = {k: v for k, v in (meta.get("config_hashes") or {}).items() if v}
    if value:
        config = f"config hash {value} (every cell that records one ran with this config)"
    elif by_experiment:
        config = "config hashes " + "; ".join(f"{k}: {v}" for k, v in by_experiment.items())
    else:
        config = "no config hash recorded"
    commits = _commits(meta)
    if not commits:
        code = "workflow commit not recorded"
    elif len(commits) == 1:
        code = f"workflow commit {commits[0]}"
    else:
        code = f"workflow commits {_joined(commits)}: the cells ran from different code"
    return f"Provenance: {config}; {code}."


def equivalence_margin(comparisons: pd.DataFrame | None, meta: dict) -> str:
    """The equivalence margin as a percentage ("5%"): comparisons.csv's, else metadata's,
    else the default."""
    values: list[float] = []
    if comparisons is not None and "equivalence_margin" in comparisons.columns:
        values = sorted(
            set(pd.to_numeric(comparisons["equivalence_margin"], errors="coerce").dropna())
        )
    if not values and _number(meta.get("equivalence_margin")) == _number(
        meta.get("equivalence_margin")
    ):
        values = [_number(meta.get("equivalence_margin"))]
    if not values:
        return f"{DEFAULT_EQUIVALENCE_MARGIN:.0%}"
    return ", ".join(f"{v:.0%}" for v in values)


def method_analysis(
    summary: pd.DataFrame, comparisons: pd.DataFrame | None = None, meta: dict | None = None
) -> list[str]:
    """How cells are compared: statistic, both base cases, significance (Holm), equivalence
    (TOST), the physical bound, Karp-Flatt and Amdahl. Tables that predate a test get the
    older wording, never a claim they cannot back."""
    meta = meta or {}
    comparisons = comparisons if comparisons is not None else pd.DataFrame()
    levels = summary["ci_level"].dropna() if "ci_level" in summary.columns else pd.Series([])
    rounds = (
        pd.to_numeric(summary["rounds"], errors="coerce").max()
        if "rounds" in summary.columns
        else math.nan
    )
    statistic = "Statistic: the median wall time, with a distribution-free CI (order statistics)"
    if math.isfinite(rounds) and rounds > 1:
        statistic = (
            "Statistic: the median wall time over every repetition of every round; its CI "
            "and every speedup's are bootstrapped hierarchically (rounds, then repetitions "
            "within them)"
        )
    if levels.empty:
        statistic += "."
    elif levels.min() < CI_LEVEL_WANTED:
        statistic += (
            f"; with this few repetitions its level is only {fmt_percent(levels.min())} "
            "(the interval is [min, max])."
        )
    else:
        statistic += f" at {fmt_percent(levels.min())}."
    holm = "p_holm" in comparisons.columns
    items = [
        statistic,
        BASE_CASES + " Speedup is a ratio of medians with a 95% bootstrap CI.",
        "Efficiency = speedup over the serial loop / workers. Karp–Flatt e = (1/S − 1/p) / "
        "(1 − 1/p), from the speedup over 1 worker, only for p within the usable cores "
        "(beyond them missing cores would read as serial work): a serial fraction that grows "
        "with p means overhead, not just serial work.",
    ]
    if holm:
        items.append(
            f"“Significantly slower”: a cell against the fastest of its group, p < {ALPHA} "
            "after Holm's correction within the group. “Faster than the loop”: Holm-adjusted "
            "over all the group's cells, so that picking the best from the data is covered."
        )
    else:
        items.append(
            f"“Significantly slower”: two-sided Mann–Whitney U of a cell's repetitions against "
            f"the fastest cell of its group, p < {ALPHA}, uncorrected. A runner-up is named "
            "only when it is not."
        )
    if "equivalent" in comparisons.columns:
        items.append(
            "“Equivalent”: the 90% CI of the time ratio lies within "
            f"±{equivalence_margin(comparisons, meta)} (two one-sided tests). A cell that is "
            "neither significantly slower nor equivalent is one the repetitions cannot tell "
            "apart from the best, and the tables say how large a difference they could have "
            "missed."
        )
    else:
        items.append(
            "No equivalence test in these tables: “not significantly slower” does not mean "
            "equivalent."
        )
    items.append(
        "Physical bound: a speedup above min(workers, usable cores) for CPU work, or above "
        "the workers for waiting work, is flagged, never reported as a finding; the base "
        "case's CPU per image beside the cell's names the likely cause."
    )
    items.append(
        "Amdahl: least squares of T(p) = Ts + Tp / p per strategy, only with at least three "
        "worker counts within the usable cores (never on oversubscribed points); serial "
        "fraction = Ts / (Ts + Tp), ceiling = (Ts + Tp) / Ts."
    )
    return items


def _cell_name(row, with_host: bool = False) -> str:
    name = (
        f"{row['task']} {_size(row)} n={_int_text(row['n_images'])} "
        f"{_who(str(row['strategy']), row['workers'])}"
    )
    return f"{row[HOST]}: {name}" if with_host else name


def _named(rows: pd.DataFrame, describe: Callable) -> str:
    names = [describe(r) for _, r in rows.head(NAMED_CELLS).iterrows()]
    more = len(rows) - len(names)
    return "; ".join(names) + (f"; and {more} more" if more > 0 else "")


#: Threats about the cells' measurements and the claims drawn from them (the second
#: threats slide); every other topic is about the machine and the method (the first).
CLAIM_TOPICS = (
    "Repetition spread",
    "Outliers",
    "Repetitions",
    "Rounds",
    "Rounds disagree",
    "Physical bound",
    "Extra reads",
    "Imports inside the timer",
    "Operations in flight",
)


def threats(
    summary: pd.DataFrame,
    meta: dict,
    speedup: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> list[dict]:
    """Threats to validity, each ``{"topic", "status", "text", "part"}``. Status "ok" (checked,
    nothing found: a tick), "warn" or "info" (a stated fact, or not measured: never a tick);
    part "claims" for the topics of ``CLAIM_TOPICS``, else "machine". Interference, the
    virtual machine, hosts, cache state, eviction, start method, save durability, memory,
    repetition spread, outliers, repetitions, rounds, physical bounds, extra reads, imports
    inside the timer, operations in flight, missing cells and warnings."""
    out = []

    def add(topic: str, warn: bool | str, text: str) -> None:
        status = warn if isinstance(warn, str) else (WARN if warn else OK)
        part = "claims" if topic in CLAIM_TOPICS else "machine"
        out.append({"topic": topic, "status": status, "text": text, "part": part})

    cores = _usable_cores(meta, summary)
    hosted = _several_hosts(summary)
    other = meta.get("other_cpu_per_wall_max")
    load = meta.get("load_average_1m_max")
    load_text = (
        ""
        if load is None
        else f" The 1-minute load average before cells reached {fmt_float(load)}, but it "
        "mostly reflects the previous cells' own workers (it decays over a minute), so it is "
        "not taken as interference."
    )
    if other is None:
        add(
            "Interference",
            INFO,
            "Not measured: no cell ran 1 s of timed wall time (CPU time is counted in 10 ms "
            "ticks)." + load_text,
        )
    else:
        busy = other > INTERFERENCE_WARN
        add(
            "Interference",
            busy,
            f"Other processes used up to {fmt_float(other)} cores (of {_text(cores)} usable) "
            "during one cell's repetitions"
            + (": its times may include interference." if busy else ".")
            + load_text,
        )
    steal = meta.get("steal_per_wall_max")
    if steal is not None:
        stolen = steal > STEAL_WARN
        add(
            "Virtual machine",
            stolen,
            f"The hypervisor took up to {fmt_float(steal)} cores from this machine (steal time) "
            "during one cell's repetitions"
            + (": its times include another VM's load." if stolen else ".")
            + " Other host contention (a busy SMT sibling, frequency changes) is invisible "
            "from inside, so compare runs, not only the CIs of one run.",
        )

    if "cv" in summary.columns and not summary.empty:
        noisy = summary[summary["cv"] > CV_WARN].sort_values("cv", ascending=False)
        add(
            "Repetition spread",
            not noisy.empty,
            f"{len(noisy)} of {len(summary)} cells vary by more than {CV_WARN:.0%} (coefficient "
            "of variation) between repetitions"
            + (
                f": their medians are less sure ({_named(noisy, lambda r: _cv_name(r, hosted))})."
                if not noisy.empty
                else "."
            ),
        )
    if "outliers" in summary.columns and not summary.empty:
        counts = pd.to_numeric(summary["outliers"], errors="coerce").fillna(0)
        odd = summary[counts > 0]
        add(
            "Outliers",
            not odd.empty,
            f"{len(odd)} cells have Tukey outliers ({int(counts.sum())} repetitions outside "
            "1.5 IQR), reported, never removed"
            + (f": {_named(odd, lambda r: _cell_name(r, hosted))}." if not odd.empty else "."),
        )

    hosts, cpus = meta.get("hosts", []), meta.get("cpu_models", [])
    if len(cpus) > 1:
        add(
            "Hosts",
            True,
            f"Cells ran on {len(hosts)} hosts with {len(cpus)} CPU models ({_joined(cpus)}): "
            "each host is analysed on its own, against its own serial loop; compare hosts "
            "side by side, never one host's cell against another's.",
        )
    elif len(hosts) > 1:
        add(
            "Hosts",
            False,
            f"Cells ran on {len(hosts)} hosts ({_joined(_host_names(hosts))}), all with "
            f"{_joined(cpus)}: each host is analysed on its own, against its own serial loop.",
        )
    else:
        add(
            "Hosts",
            False,
            f"Every cell ran on one host ({_joined(h.get('hostname') for h in hosts)}, "
            f"{_joined(cpus)}).",
        )

    resident = meta.get("cold_resident_fraction_max")
    methods = meta.get("cache_methods", [])
    cold = summary[summary["cache"] == "cold"] if "cache" in summary.columns else summary
    not_evicted = "none" in methods
    if cold.empty:
        add("Cache", False, "No cold-cache cells were measured.")
    else:
        partly_warm = resident is not None and resident > RESIDENT_WARN
        text = []
        if not_evicted:
            text.append(
                "The page cache could not be evicted for some cold repetitions (method "
                "“none”): cold results may be warm."
            )
        if resident is not None:
            text.append(
                f"Up to {fmt_percent(resident)} of the inputs were still cached before a cold "
                "repetition" + (": cold results may be partly warm." if partly_warm else ".")
            )
        add(
            "Cache",
            not_evicted or partly_warm,
            " ".join(text) or f"Cold cells were prepared by {_joined(methods)}.",
        )

    eviction = eviction_text(meta, summary)
    if eviction is not None:
        add("Eviction", *eviction)
    add("Start method", *start_method_text(meta, summary))
    durability = durability_text(meta, summary)
    if durability is not None:
        add("Save durability", *durability)
    if not summary.empty:
        add("Memory", *memory_text(summary))
    _claim_threats(add, summary, meta, speedup, recommendations, hosted)

    levels = summary["ci_level"].dropna() if "ci_level" in summary.columns else pd.Series([])
    if not levels.empty:
        few = levels.min() < CI_LEVEL_WANTED
        add(
            "Repetitions",
            few,
            f"The median's CI reaches {fmt_percent(levels.min())}"
            + (
                f", below {CI_LEVEL_WANTED:.0%}: too few repetitions (6 or more give 95%)."
                if few
                else f" or more in every cell ({CI_LEVEL_WANTED:.0%} wanted)."
            ),
        )
    missing = meta.get("missing_cells") or []
    if missing:
        add(
            "Missing cells",
            True,
            f"{len(missing)} of {_text(meta.get('expected_cells'))} expected cells have no "
            "result (see “Missing cells”): every table, figure and verdict covers only the "
            "cells that ran, and a group that lost its fastest cell may name another.",
        )
    # The hosts threat above already says which CPU models took part.
    aggregate = [w for w in meta.get("aggregate_warnings", []) if isinstance(w, dict)]
    for warning in aggregate:
        if warning.get("topic") != CPU_MODELS_TOPIC:
            add(str(warning.get("topic")), True, str(warning.get("text")))
    shown = {w.get("text") for w in aggregate}
    for warning in meta.get("warnings", []):
        if warning not in shown:
            add("Run warning", True, str(warning))
    return out


def _count(n: int, noun: str) -> str:
    """ "1 cell", "3 cells"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _have(n: int) -> str:
    return "has" if n == 1 else "have"


def _claim_threats(
    add: Callable,
    summary: pd.DataFrame,
    meta: dict,
    speedup: pd.DataFrame | None,
    recommendations: pd.DataFrame | None,
    hosted: bool,
) -> None:
    """The threats that the new fairness facts of the tables show: rounds, bounds, extra
    reads, imports inside the timer, operations in flight. A fact the tables do not carry is
    said to be not recorded (status "info"), never ticked."""
    if summary.empty:
        return

    def name(row) -> str:
        return _cell_name(row, hosted)

    add("Rounds", *rounds_text(meta, summary))
    if "rounds_disagree" in summary.columns:
        split = summary[_flags(summary, "rounds_disagree")]
        split = (
            split.sort_values("round_spread", ascending=False) if "round_spread" in split else split
        )
        add(
            "Rounds disagree",
            not split.empty,
            f"{len(split)} of {len(summary)} cells {_have(len(split))} rounds whose medians "
            "disagree beyond "
            "what the spread within a round explains"
            + (
                ": the machine drifted between their jobs ("
                + _named(
                    split,
                    lambda r: f"{name(r)} spread {fmt_percent(r.get('round_spread'), 0)}",
                )
                + ")."
                if not split.empty
                else "."
            ),
        )
    else:
        add("Rounds disagree", INFO, "Not checked: these tables have no rounds.")

    speedup = speedup if speedup is not None else pd.DataFrame()
    if "exceeds_bound" in speedup.columns:
        rows = speedup[(speedup.get("baseline") == BASELINE) & _flags(speedup, "exceeds_bound")]
        flagged_recs = pd.DataFrame()
        if recommendations is not None and not recommendations.empty:
            flagged_recs = recommendations[
                _flags(recommendations, "withheld") | _flags(recommendations, "exceeds_bound")
            ]
        sentences = [str(t) for t in flagged_recs.get("sentence", []) if isinstance(t, str) and t]
        text = (
            f"{_count(len(rows), 'speedup')} over the serial loop "
            f"{'exceeds its' if len(rows) == 1 else 'exceed their'} physical bound "
            "(CPU work: min(workers, usable cores); waiting work: workers), flagged and never "
            "reported as findings"
        )
        if rows.empty:
            text += "."
        else:
            text += (
                ": "
                + _named(
                    rows,
                    lambda r: (
                        f"{name(r)} {fmt_speedup(r.get('speedup'))} > {_int_text(r.get('bound'))}"
                    ),
                )
                + "."
            )
        if sentences:
            shown = sentences[:NAMED_CELLS]
            more = len(sentences) - len(shown)
            text += " " + " ".join(shown) + (f" (and {more} more withheld)" if more > 0 else "")
        add("Physical bound", not rows.empty or bool(sentences), text)
    else:
        add(
            "Physical bound",
            INFO,
            "Not checked: these tables carry no bound; a speedup above min(workers, usable "
            "cores) for CPU work cannot be a finding.",
        )

    measured_reads = "median_extra_read_bytes" not in summary.columns or bool(
        pd.to_numeric(summary["median_extra_read_bytes"], errors="coerce").notna().any()
    )
    if "extra_reads_flag" in summary.columns and measured_reads:
        extra = summary[_flags(summary, "extra_reads_flag")]
        add(
            "Extra reads",
            not extra.empty,
            f"{_count(len(extra), 'cell')} read much more from storage than the inputs and "
            "than the other cells of their group"
            + (
                ": "
                + _named(
                    extra,
                    lambda r: f"{name(r)} +{_mib(r.get('median_extra_read_bytes'))} a repetition",
                )
                + ": their times include reading more than their inputs."
                if not extra.empty
                else "."
            ),
        )
    else:
        add("Extra reads", INFO, "Not recorded: bytes read beyond the inputs were not measured.")

    if "imported_modules" in summary.columns:
        modules = summary["imported_modules"].map(lambda v: "" if _missing(v) else str(v).strip())
        importing = summary[modules != ""]
        add(
            "Imports inside the timer",
            not importing.empty,
            f"{_count(len(importing), 'cell')} had workers that imported modules inside the timer"
            + (
                ": "
                + _named(
                    importing,
                    lambda r: f"{name(r)} ({str(r['imported_modules']).replace(';', ', ')})",
                )
                + ": their times include first-use costs."
                if not importing.empty
                else ": the task ran once untimed before any pool started."
            ),
        )
    else:
        add("Imports inside the timer", INFO, "Not recorded: workers' imports were not tracked.")

    pooled = summary["strategy"].isin(["threads", "asyncio"])
    peak = (
        pd.to_numeric(summary["max_peak_in_flight"], errors="coerce")
        if "max_peak_in_flight" in summary.columns
        else pd.Series(math.nan, index=summary.index)
    )
    if (pooled & peak.notna()).any():
        wanted = np.minimum(summary["workers"].astype(float), summary["n_images"].astype(float))
        short = summary[pooled & peak.notna() & (peak < wanted)]
        add(
            "Operations in flight",
            not short.empty,
            f"{_count(len(short), 'thread or asyncio cell')} ran fewer operations at once "
            "than their workers"
            + (
                ": "
                + _named(short, lambda r: f"{name(r)} at most {_int_text(r['max_peak_in_flight'])}")
                + ": their label overstates their parallelism."
                if not short.empty
                else "."
            ),
        )
    elif pooled.any():
        add(
            "Operations in flight",
            INFO,
            "Not recorded: how many operations thread and asyncio cells ran at once.",
        )


def _cv_name(row, with_host: bool = False) -> str:
    return f"{_cell_name(row, with_host)} CV {fmt_percent(row['cv'], 0)}"


# ----- reading ------------------------------------------------------------------------------


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise ImgbenchError(f"{path}: missing result table (run `imgbench aggregate` first)")
    try:
        # A hostname such as "0123" or "1e5" must stay a name.
        frame = pd.read_csv(path, dtype={HOST: str})
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ImgbenchError(f"{path}: column(s) {', '.join(missing)} missing")
    return frame


def _align_hosts(
    tables: dict[str, pd.DataFrame], results_dir: Path | None = None
) -> dict[str, pd.DataFrame]:
    """Every table with a ``host`` column. A table without one (written before results named
    their host) is a one-host table: it gets the others' host, and is an error beside
    tables that name several."""
    hosts: set[str] = set()
    for frame in tables.values():
        if HOST in frame.columns:
            hosts |= set(frame[HOST].dropna().astype(str))
    aligned = {}
    for name, frame in tables.items():
        if HOST in frame.columns:
            aligned[name] = frame.assign(**{HOST: frame[HOST].fillna("").astype(str)})
        elif len(hosts) <= 1:
            aligned[name] = frame.assign(**{HOST: next(iter(hosts), "")})
        else:
            path = Path(results_dir or ".") / f"{name}.csv"
            raise ImgbenchError(
                f"{path}: column host missing, but other tables name {len(hosts)} hosts "
                "(run `imgbench aggregate` again)"
            )
    return aligned


def read_tables(results_dir: Path) -> dict[str, pd.DataFrame]:
    """Every table the deck reads, checked for the columns it needs, each with its host."""
    tables = {
        name: _read_table(Path(results_dir) / f"{name}.csv", columns)
        for name, columns in TABLE_COLUMNS.items()
    }
    return _align_hosts(tables, results_dir)


def _read_metadata(path: Path) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ImgbenchError(f"{path}: missing metadata (run `imgbench aggregate` first)") from None
    except json.JSONDecodeError as exc:
        raise ImgbenchError(f"{path}: not valid JSON ({exc})") from None


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header; None if it is not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def figure(figures_dir: Path, stem: str) -> dict:
    """A figure for the template: its data URI and size, or why it is missing."""
    spec = FIGURES[stem]
    out = {"id": f"fig-{stem}", "title": spec.title, "caption": spec.caption, "src": None}
    path = figures_dir / f"{stem}.png"
    if not path.is_file():
        return {**out, "missing": f"{path.name} was not found"}
    data = path.read_bytes()
    size = _png_size(data)
    if size is None:
        return {**out, "missing": f"{path.name} is not a PNG image"}
    encoded = base64.b64encode(data).decode("ascii")
    return {
        **out,
        "src": f"data:image/png;base64,{encoded}",
        "width": size[0],
        "height": size[1],
        "missing": "",
    }


# ----- several hosts, missing cells -------------------------------------------------------


def hosts_table(recommendations: pd.DataFrame) -> tuple[Table, str]:
    """The fastest cell of each group on each host, side by side, and a note on the rows.

    Beyond ``HOST_TABLE_ROWS`` groups only each task's largest number of images is kept.
    """
    hosts = sorted(pd.unique(recommendations[HOST].astype(str)))
    groups = _group_order(recommendations.drop_duplicates(GROUP))
    note = "Every group is shown."
    if len(groups) > HOST_TABLE_ROWS:
        largest = groups.groupby("task")["n_images"].transform("max")
        groups = groups[groups["n_images"] == largest]
        note = (
            "Each task's largest number of images only; every group is on the "
            "Recommendations slide and in recommendations.csv."
        )
    places = not groups.empty and _several_places(groups)
    group_columns = _group_columns(places)
    table = Table(
        columns=[
            *group_columns,
            *[c for _ in hosts for c in (("fastest", False), ("speedup", True))],
            ("same strategy", False),
        ],
        groups=[("", len(group_columns)), *((host, 2) for host in hosts), ("", 1)],
    )
    by_key = {
        tuple(key): rec
        for key, rec in zip(
            recommendations[[*GROUP, HOST]].itertuples(index=False),
            recommendations.to_dict("records"),
            strict=True,
        )
    }
    for _, group in groups.iterrows():
        values = _group_values(group, places)
        winners = set()
        for host in hosts:
            rec = by_key.get((*(group[c] for c in GROUP), host))
            if rec is None:
                values += [("not measured", False), ("—", True)]
                continue
            winners.add(str(rec["best_strategy"]))
            values += [
                (_who(str(rec["best_strategy"]), rec["best_workers"]), False),
                (
                    fmt_speedup_ci(
                        rec["speedup"], rec.get("speedup_ci_low"), rec.get("speedup_ci_high")
                    ),
                    True,
                ),
            ]
        values.append(("yes" if len(winners) == 1 else "no", False))
        table.rows.append(Row(_cells(values)))
    return table, note


def host_lines(meta: dict, summary: pd.DataFrame) -> list[str]:
    """Which hosts took part: name, CPU, usable cores and cells of each."""
    hosts = meta.get("hosts") or [{"host": h} for h in sorted(pd.unique(summary[HOST].astype(str)))]
    lines = []
    for host in hosts:
        cores = host.get("usable_cores")
        parts = [
            _text(host.get("cpu_model")),
            *([f"{cores} usable cores"] if cores is not None else []),
            *([f"{host['cells']} cells"] if host.get("cells") is not None else []),
        ]
        lines.append(f"{_host_names([host])[0]}: {', '.join(parts)}")
    return lines


def _cpu_warning(meta: dict) -> str:
    """The warning that one experiment's cells ran on several CPU models, or ""."""
    texts = [
        str(w.get("text"))
        for w in meta.get("aggregate_warnings", [])
        if isinstance(w, dict) and w.get("topic") == CPU_MODELS_TOPIC
    ]
    cpus = meta.get("cpu_models", [])
    if texts:
        return " ".join(texts)
    if len(cpus) > 1:
        return (
            f"{len(meta.get('hosts', []))} hosts / {len(cpus)} CPU models took part: each host "
            "is analysed on its own; compare cells only within one machine."
        )
    return ""


def missing_section(meta: dict) -> dict | None:
    """The missing cells: how many, and the first ``MISSING_SHOWN`` of them (with the hosts
    that lack each when several hosts took part); None when nothing is missing."""
    missing = [str(m) for m in meta.get("missing_cells") or []]
    if not missing:
        return None
    by_host = meta.get("missing_cells_by_host") or {}
    names = _host_names(meta.get("hosts", []))
    lacking: dict[str, list[str]] = {}
    for host, paths in sorted(by_host.items()):
        for path in paths:
            lacking.setdefault(str(path), []).append(str(host))
    items = []
    for path in missing[:MISSING_SHOWN]:
        hosts = lacking.get(path, [])
        on = f"on {_joined(hosts)}" if len(names) > 1 and 0 < len(hosts) < len(names) else ""
        items.append({"path": path, "on": on})
    expected = meta.get("expected_cells")
    summary = f"{len(missing)} of {_text(expected)} expected cells have no result"
    if len(names) > 1:
        counts = [f"{name}: {len(by_host.get(name, []))}" for name in names]
        summary += f" (missing per host: {_joined(counts)})"
    return {
        "summary": summary + ". The tables, figures and verdicts cover the cells that ran.",
        "items": items,
        "more": (
            f"… and {len(missing) - MISSING_SHOWN} more: metadata.json (missing_cells) lists "
            "every one."
            if len(missing) > MISSING_SHOWN
            else ""
        ),
        "partial": f"Partial results: {len(missing)} of {_text(expected)} expected cells are "
        "missing.",
    }


# ----- known answers (calibration) ----------------------------------------------------------

#: The calibration preset's table and summary, next to the experiment's tables when present.
CALIBRATION_TABLE = "calibration.csv"
CALIBRATION_SUMMARY = "calibration.json"


def calibration_section(results_dir: Path) -> dict | None:
    """The known-answer slide: each calibration cell's expected speedup (with its range)
    beside the measured one (with its CI) and its verdict, and how many cores this machine
    delivers. None when the results directory has no ``calibration.csv``."""
    path = Path(results_dir) / CALIBRATION_TABLE
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, dtype={HOST: str})
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    summary: dict = {}
    summary_path = Path(results_dir) / CALIBRATION_SUMMARY
    if summary_path.is_file():
        try:
            loaded = json.loads(summary_path.read_text())
            summary = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError:
            summary = {}
    hosts = HOST in frame.columns and frame[HOST].nunique() > 1
    table = Table(
        columns=[
            *([("host", False)] if hosts else []),
            ("task", False),
            ("size", False),
            ("n", True),
            ("cell", False),
            ("cores", True),
            ("expected", True),
            ("range", True),
            ("measured", True),
            ("within", False),
            ("verdict", False),
        ]
    )
    keys = [k for k in ("task", "n_images", "strategy", "workers") if k in frame.columns]
    ordered = frame.sort_values(keys, kind="stable") if keys else frame
    within_flags = _flags(frame, "within")
    for _, row in ordered.iterrows():
        size = (
            _size(row)
            if math.isfinite(_number(row.get("width")))
            and math.isfinite(_number(row.get("height")))
            else "n/a"
        )
        inside = _is_true(row.get("within"))
        values = [
            *([(str(row.get(HOST)), False)] if hosts else []),
            (_text(row.get("task")), False),
            (size, False),
            (_int_text(row.get("n_images")), True),
            (_who(str(row.get("strategy")), row.get("workers")), False),
            (_int_text(row.get("usable_cores")), True),
            (fmt_speedup(row.get("expected_speedup")), True),
            (fmt_range(row.get("expected_low"), row.get("expected_high"), fmt_float), True),
            (
                fmt_speedup_ci(
                    row.get("speedup"), row.get("speedup_ci_low"), row.get("speedup_ci_high")
                ),
                True,
            ),
            ("yes" if inside else "no", False),
            (_label_text(row.get("verdict")), False),
        ]
        table.rows.append(Row(_cells(values), "" if inside else "flagged"))
    delivered = _number(summary.get("delivered_cores"))
    cells = _number(summary.get("cells"))
    within = _number(summary.get("within"))
    if not math.isfinite(cells):
        cells = float(len(frame))
    if not math.isfinite(within):
        within = float(within_flags.sum())
    cores = _uniq(frame, "usable_cores")
    of_cores = f" of its {_joined(int(c) for c in cores)} usable" if cores else ""
    return {
        "delivered": (
            f"This machine delivers {delivered:.2f} cores{of_cores}."
            if math.isfinite(delivered)
            else "The cores this machine delivers were not measured (calibration.json "
            "names none: no spin_native cell)."
        ),
        "within": f"{int(within)} of {int(cells)} known-answer cells measured within their "
        "expected range.",
        "all_within": bool(cells) and within == cells,
        "table": table,
    }


# ----- the deck -----------------------------------------------------------------------------


def deck_context(results_dir: Path) -> dict:
    """Everything the template shows, as plain strings and tables (no formatting left to it)."""
    results_dir = Path(results_dir)
    tables = read_tables(results_dir)
    meta = _read_metadata(results_dir / "metadata.json")
    summary = tables["summary"]
    several = any(_several_hosts(frame) for frame in tables.values())
    # A hosts figure left from an earlier run of several hosts must not be embedded.
    stems = [stem for stem in FIGURES if stem != HOSTS_FIGURE or several]
    figures = {stem: figure(results_dir / "figures", stem) for stem in stems}

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
            "figure": figures[HOSTS_FIGURE],
            "lines": host_lines(meta, summary),
            "table": table,
            "note": note,
        }
    return {
        "experiment": _joined(experiments) if experiments else results_dir.name,
        "description": meta.get("description", ""),
        "date": _utc(meta.get("finished_unix")),
        "hosts": _joined(_host_names(hosts)),
        "host_count": len(hosts),
        "cells": meta.get("cells", len(summary)),
        "missing": missing_section(meta),
        "question": QUESTION,
        "base_cases": BASE_CASES,
        "machine_headers": _host_names(hosts),
        "machine_rows": _machine_rows(hosts),
        "machine_warning": _cpu_warning(meta),
        "machine_note": (
            f"{len(hosts)} hosts took part ({_joined(_host_names(hosts))}): each is analysed on "
            "its own, against its own serial loop; the “Hosts” slides set them side by side."
            if len(hosts) > 1
            else ""
        ),
        "host_section": host_section,
        "method_measurement": method_measurement(summary, meta),
        "method_analysis": method_analysis(summary, tables["comparisons"], meta),
        "strategies": sorted(strategy_summaries.items(), key=lambda kv: _serial_first(kv[0])),
        "figure_defs": [f for f in figures.values() if f["src"]],
        "tasks": task_sections(cells, tables, meta, figures[TASK_FIGURE]),
        "overview_figures": [figures[stem] for stem in OVERVIEW_FIGURES],
        "overhead_figure": figures["overhead"],
        "overhead_table": overhead_table(summary),
        "overhead_note": OVERHEAD_NOTE,
        "recommendations": recommendations_table(tables["recommendations"]),
        "recommendations_note": recommendations_note(tables["recommendations"], margin),
        "group_note": group_note(tables["comparisons"], margin),
        "conclusions": sorted(conclusions.items()),
        "threats": found,
        "threat_parts": [
            (title, [t for t in found if t["part"] == part])
            for part, title in (
                ("machine", "Threats to validity: machine and method"),
                ("claims", "Threats to validity: cells and claims"),
            )
        ],
        "calibration": calibration_section(results_dir),
        "appendix": [
            ("Appendix: every cell", summary_appendix(cells)),
            (
                "Appendix: speedup and efficiency, both base cases",
                speedup_appendix(tables["speedup"], tables["efficiency"]),
            ),
            ("Appendix: Amdahl fits", amdahl_appendix(tables["amdahl"])),
        ],
    }


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
