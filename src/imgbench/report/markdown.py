"""An experiment's Markdown report (``results/E/report.md``): the results for a blog post, an
issue or a pull request, drawn from its tables and ``metadata.json`` only.

What it holds, in order: the experiment and its run in one line; the recommendations (each
group's sentence from ``recommendations.csv``, then a table of every group's fastest cell);
the warnings that matter (the threats whose check found something, in the deck's words);
each group at its task's largest number of images, one table each; the machine and
software in one paragraph; every figure drawn (``figures/<stem>.png``, relative to the
report, under its title and caption from the registry ``report.figures.FIGURES``); and the
tables it was written from, which keep every number at full precision.

Numbers are written for people by ``imgbench.words``: times in ms or s, chosen by magnitude
(per value in the recommendations table, whose groups differ by orders of magnitude; per
table in a group's table, the unit in its header), speedups to 2 decimals with their 95%
CI, medians with theirs. Nothing is computed here: verdicts are the analysis's, the wording
of a cell's comparison and of a warning the deck's. Text is escaped for Markdown, and the
file is written atomically, so a reader sees the old report or the whole new one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from imgbench import words
from imgbench.analysis.workload_data import workloads
from imgbench.files import write_atomic
from imgbench.report import summary as verdict
from imgbench.report.deck.cells import bound_mark, cell_frame, vs_best
from imgbench.report.deck.method import equivalence_margin
from imgbench.report.deck.model import group_order, several_hosts, several_places, strategy_rows
from imgbench.report.figures import FIGURES, HOSTS_FIGURE
from imgbench.vocabulary import BASELINE, HOST

#: The report's template, in ``imgbench/report/templates``.
TEMPLATE = "report.md.j2"
#: The tables linked at the end of the report when present, with what each holds.
TABLE_FILES = {
    "recommendations.csv": "each group's fastest cell, its verdicts and sentence",
    "summary.csv": "every cell: median with its CI, spread, throughput, memory",
    "speedup.csv": "speedup over both base cases, with CIs and physical bounds",
    "efficiency.csv": "speedup / workers, and the Karp-Flatt serial fraction",
    "comparisons.csv": "each cell against its group's fastest and the loop",
    "amdahl.csv": "Amdahl fits per strategy",
    "timings.csv": "every timed repetition",
    "metadata.json": "hosts, software, method and cache state of the run",
    "slides.html": "the slide deck",
}
#: A column of a Markdown table: its header and whether it holds numbers (right-aligned).
Column = tuple[str, bool]

# Characters with a meaning in Markdown text; "_" only at a word's edge (intraword, as in
# save_jpeg, CommonMark never reads it as emphasis) and "<" only where it could open a tag.
_SPECIAL = re.compile(r"[\\`*~\[\]|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|<(?=[A-Za-z/!?])")


def escape(text) -> str:
    """Text with every character that Markdown would read as markup backslash-escaped."""
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), str(text))


def table(columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table: a header, an alignment row (numbers to the right)
    and one line per row, each cell escaped (a "|" in a cell cannot end it)."""

    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(escape(c).replace("\n", " ") for c in cells) + " |"

    rule = "|" + "|".join("---:" if number else "---" for _, number in columns) + "|"
    return "\n".join([line(name for name, _ in columns), rule, *(line(row) for row in rows)])


def time_unit(values: Iterable) -> tuple[str, Callable[[object], str]]:
    """The unit that a column of times (in seconds) reads best in (``words.time_unit``),
    and its formatter."""
    unit = words.time_unit(values)
    return unit, words.in_unit(unit)


# ----- the recommendations ------------------------------------------------------------------


def _vs_loop(rec) -> str:
    """The recommendation's verdict against the loop, as recommendations.csv says it."""
    if str(rec.get("best_strategy")) == BASELINE:
        return "is the loop"
    if words.is_true(rec.get("withheld")):
        return "withheld"
    if words.is_missing(rec.get("faster_than_loop")):
        return words.NA
    return "faster" if words.is_true(rec.get("faster_than_loop")) else "not shown faster"


def _runner_up(rec) -> str:
    runner = rec.get("runner_up_strategy")
    if words.is_missing(runner):
        return "—"
    speed = words.number(rec.get("runner_up_speedup"))
    after = f", {words.speedup(speed)}" if math.isfinite(speed) else ""
    return words.who(str(runner), rec.get("runner_up_workers")) + after


def _group_columns(places: bool, hosts: bool) -> list[Column]:
    return [
        *([("host", False)] if hosts else []),
        ("task", False),
        ("size", False),
        *([("storage", False), ("cache", False)] if places else []),
        ("n", True),
    ]


def _group_values(row, places: bool, hosts: bool) -> list[str]:
    return [
        *([str(row[HOST])] if hosts else []),
        str(row["task"]),
        words.size(row),
        *([str(row["storage"]), str(row["cache"])] if places else []),
        words.integer(row["n_images"]),
    ]


def recommendations_table(recommendations: pd.DataFrame) -> str:
    """Every group's fastest cell: its median (ms or s each), speedup over the loop with
    its 95% CI (marked above its physical bound), its verdict against the loop and the
    runner-up; "" without groups."""
    if recommendations.empty:
        return ""
    places, hosts = several_places(recommendations), several_hosts(recommendations)
    columns = [
        *_group_columns(places, hosts),
        ("fastest", False),
        ("median", True),
        ("speedup vs loop (95% CI)", True),
        ("vs loop", False),
        ("runner-up", False),
    ]
    rows = [
        [
            *_group_values(rec, places, hosts),
            words.who(str(rec["best_strategy"]), rec["best_workers"]),
            words.duration(rec.get("best_median_s")),
            words.speedup_ci(rec["speedup"], rec.get("speedup_ci_low"), rec.get("speedup_ci_high"))
            + bound_mark(rec),
            _vs_loop(rec),
            _runner_up(rec),
        ]
        for _, rec in group_order(recommendations).iterrows()
    ]
    return table(columns, rows)


# ----- the groups ---------------------------------------------------------------------------


def group_table(cells: pd.DataFrame) -> str:
    """One group's cells, the loop first: median and its CI (one unit for the table, by
    magnitude), speedup over the loop with its 95% CI, efficiency, and the verdict against
    the group's fastest cell (the deck's words)."""
    unit, fmt = time_unit(cells["median_s"])
    columns = [
        ("strategy", False),
        ("workers", True),
        (f"median ({unit})", True),
        (f"CI of the median ({unit})", True),
        ("speedup vs loop (95% CI)", True),
        ("efficiency", True),
        ("vs fastest", False),
    ]
    rows = [
        [
            str(cell["strategy"]),
            words.integer(cell["workers"]),
            fmt(cell["median_s"]),
            words.interval(cell.get("ci_low_s"), cell.get("ci_high_s"), fmt),
            words.speedup_ci(cell["serial_speedup"], cell["serial_ci_low"], cell["serial_ci_high"])
            + bound_mark(cell),
            words.percent(cell["efficiency"], 0),
            vs_best(cell),
        ]
        for _, cell in strategy_rows(cells).iterrows()
    ]
    return table(columns, rows)


def largest_groups(cells: pd.DataFrame) -> list[dict]:
    """Each group at its task's largest number of images: ``{"title", "table"}``, by
    task, size, storage, cache and host."""
    if cells.empty:
        return []
    hosts = several_hosts(cells)
    keys = ["task", "width", "height", "storage", "cache", HOST]
    largest = cells[cells["n_images"] == cells.groupby("task")["n_images"].transform("max")]
    groups = []
    for key, group in largest.groupby(keys, sort=True):
        row = dict(zip(keys, key, strict=True)) | {"n_images": group["n_images"].iloc[0]}
        groups.append({"title": escape(words.group_title(row, hosts)), "table": group_table(group)})
    return groups


def group_note(comparisons: pd.DataFrame, meta: dict) -> str:
    """What a group's table says, for the tests comparisons.csv has."""
    if "equivalent" in comparisons.columns:
        verdicts = (
            "“slower”: significantly slower than the fastest (Holm-corrected within the "
            f"group); “equivalent”: the 90% CI of the time ratio within ±"
            f"{equivalence_margin(comparisons, meta)} (TOST); “can't tell”: neither, with "
            "the largest difference the repetitions could have missed"
        )
    else:
        verdicts = "“slower”: significantly slower than the fastest (Mann–Whitney U, p < 0.05)"
    return escape(
        "Times are medians of the timed repetitions, pool start-up and shutdown included; "
        "speedup is the loop's median over the cell's, efficiency the speedup per worker. "
        f"vs fastest: {verdicts}. ⚠: a speedup above its physical bound, not a finding."
    )


# ----- the machine, the figures, the files --------------------------------------------------


def _host_sentence(host: dict) -> str:
    cores = " / ".join(
        words.text(host.get(k)) for k in ("physical_cores", "logical_cores", "usable_cores")
    )
    turbo = host.get("pillow_libjpeg_turbo")
    pillow = words.text(host.get("pillow_version")) + (
        "" if turbo is None else (" with libjpeg-turbo" if turbo else " without libjpeg-turbo")
    )
    commit = host.get("workflow_commit")
    return (
        f"{words.text(host.get('host') or host.get('hostname'))}: "
        f"{words.text(host.get('cpu_model'))}, {cores} cores (physical / logical / usable), "
        f"{words.gib(host.get('ram_bytes'))} RAM, {words.text(host.get('platform'))}; "
        f"Python {words.text(host.get('python_version'))}, Pillow {pillow}, numpy "
        f"{words.text(host.get('numpy_version'))}, Snakemake "
        f"{words.text(host.get('snakemake_version'))}"
        + (f"; workflow commit {str(commit)[:12]}" if commit else "")
        + "."
    )


def _counted(values: Sequence, noun: str) -> str:
    """ "2 rounds", "1 round"; several values: "1, 2 rounds"."""
    if len(values) == 1:
        return words.count(int(values[0]), noun)
    return f"{words.joined(values)} {noun}s"


def machine_paragraph(meta: dict, summary: pd.DataFrame) -> str:
    """The machine and software, and how the cells ran, in one paragraph."""
    hosts = meta.get("hosts") or []
    where = " ".join(_host_sentence(h) for h in hosts) or "The hosts were not recorded."
    parts = [f"Measured on {words.count(len(hosts), 'host')}. {where}" if hosts else where]
    if meta.get("repeats"):
        rounds = _counted(meta.get("rounds") or [1], "round")
        repeats = _counted(meta["repeats"], "timed repetition")
        warmup = _counted(meta.get("warmup") or [0], "untimed warm-up")
        parts.append(
            f"Each cell ran {rounds} of {repeats}, each round a separate process after {warmup}."
        )
    methods = meta.get("mp_start_methods") or []
    if methods:
        parts.append(f"Process pools started with {words.joined(methods)}.")
    evictions = meta.get("eviction_methods") or []
    if evictions and "cache" in summary.columns and (summary["cache"] == "cold").any():
        parts.append(f"Cold caches were made by {words.joined(evictions)} eviction.")
    started, finished = meta.get("started_unix"), meta.get("finished_unix")
    if started is not None and finished is not None:
        parts.append(f"The run went from {words.utc(started)} to {words.utc(finished)}.")
    return escape(" ".join(parts))


def figure_entries(results_dir: Path, hosts: bool, workloads: Sequence = ()) -> list[dict]:
    """Every registered figure drawn for this experiment, in the registry's order, a
    per-workload one for each of ``workloads`` ((task, size) pairs): its title, caption and
    files relative to the report (the hosts figure only for several hosts)."""
    entries = []
    for stem, spec in FIGURES.items():
        if stem == HOSTS_FIGURE and not hosts:
            continue
        files = [(stem, spec.title)]
        if spec.per_workload:
            files = [(spec.workload_file(*w), spec.workload_title(*w)) for w in workloads]
        for file_stem, title in files:
            png = f"figures/{file_stem}.png"
            if not (results_dir / png).is_file():
                continue
            svg = f"figures/{file_stem}.svg"
            entries.append(
                {
                    "title": escape(title),
                    "caption": escape(spec.caption),
                    "png": png,
                    "svg": svg if (results_dir / svg).is_file() else "",
                }
            )
    return entries


def file_entries(results_dir: Path) -> list[dict]:
    return [
        {"name": name, "what": escape(what)}
        for name, what in TABLE_FILES.items()
        if (results_dir / name).is_file()
    ]


# ----- the report ---------------------------------------------------------------------------


def report_context(results_dir: Path) -> dict:
    """Everything the template shows, already written and escaped for Markdown."""
    results_dir = Path(results_dir)
    tables, meta = verdict.read_experiment(results_dir)
    cells = cell_frame(tables)
    description = str(meta.get("description") or "").strip()
    return {
        "title": escape(verdict.experiment_name(results_dir, meta)),
        "description": escape(description),
        "run": escape(verdict.heading(results_dir, tables, meta).split(": ", 1)[-1]),
        "sentences": [escape(s) for s in verdict.sentences(tables["recommendations"], None)],
        "recommendations": recommendations_table(tables["recommendations"]),
        "warnings": [escape(w) for w in verdict.warning_lines(tables, meta, full=True)],
        "groups": largest_groups(cells),
        "group_note": group_note(tables["comparisons"], meta),
        "machine": machine_paragraph(meta, tables["summary"]),
        "figures": figure_entries(
            results_dir,
            several_hosts(tables["summary"]),
            workloads(tables["summary"], meta.get("missing_cells")),
        ),
        "files": file_entries(results_dir),
    }


def render_report(results_dir: Path) -> str:
    """The report's Markdown text."""
    env = Environment(
        loader=PackageLoader("imgbench.report", "templates"),
        autoescape=False,  # Markdown, not HTML: the context is escaped for it already
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(TEMPLATE).render(**report_context(results_dir))


def write_report(results_dir: Path, output: Path | None = None) -> Path:
    """Write the experiment's report to ``output`` (default ``results_dir/report.md``),
    replaced atomically; returns the path. Figure links are relative to the results
    directory, so the report belongs in it (or in a folder with the same ``figures/``)."""
    results_dir = Path(results_dir)
    output = Path(output) if output is not None else results_dir / verdict.REPORT
    write_atomic(output, render_report(results_dir).encode("utf-8"))
    return output
