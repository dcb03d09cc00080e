"""The figures of an experiment, each registered once: its file stem, title, captions, and
where the deck shows it.

Every consumer takes the figure list from ``FIGURES``: ``plot_all`` (``figures.plot``) draws
them, the deck shows each with its ``title`` and ``caption`` where its ``slide`` says, the
bundle and the Markdown report list them, the workflow declares their files as outputs and
the Snakemake report captions each with its ``report_caption``
(``workflow/report/figure_<stem>.rst``, written by ``write_report_captions``). Each figure
is written as every format of ``FORMATS``.

Two kinds: a figure of the whole experiment (``figures/<stem>.png``), and a figure drawn
once per workload, each task at each image size (``per_workload``: its file name pattern,
``figures/tasks/speedup_<task>_<WxH>.png``; ``workload_files`` names them). The workflow
declares the experiment's figures one by one and the folder of the per-workload ones
(``WORKLOAD_DIR``), whose files depend on the experiment's tasks and sizes.

This module draws nothing and imports no plotting library, so that the deck, the bundle and
the workflow read the registry without loading matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imgbench.files import write_atomic

#: Every figure is written in each of these formats (``STEM.png`` and ``STEM.svg``).
FORMATS = ("png", "svg")
#: The folder, under an experiment's ``figures/``, of the figures drawn once per workload.
WORKLOAD_DIR = "tasks"
#: The PNG text chunk in which every figure records the height of its smallest text, in
#: pixels of the PNG (points x dpi / 72): the deck keeps that text legible on a slide.
MIN_FONT_KEY = "imgbench:min-font-px"

#: Where the deck shows a figure: in each task's section, one slide per workload; once,
#: after the task sections; on the overhead slide; on the hosts slide. A figure with no
#: slide is in the bundle, the Markdown report and the Snakemake report only (a sheet of
#: every panel at once, too dense for a slide: open the PNG or the SVG and zoom).
TASK_SLIDE, OVERVIEW_SLIDE, OVERHEAD_SLIDE, HOSTS_SLIDE = "task", "overview", "overhead", "hosts"


@dataclass(frozen=True)
class Figure:
    """One figure: ``stem`` names its files, ``title`` (short: the figure's own title) and
    ``caption`` (how to read it) are the deck's and the Markdown report's (plain text),
    ``report_caption`` the Snakemake report's (reStructuredText, without the common footer
    of ``REPORT_FOOTER``). ``slide``: where the deck shows it (``TASK_SLIDE``, ...; "" for
    nowhere). ``several_hosts``: drawn only for results of several hosts (not declared by
    the workflow; the deck and the bundle take it when it is there). ``per_workload``: drawn
    once per task and image size, its files named by this pattern (``{task}``, ``{size}``)
    in ``WORKLOAD_DIR``; its ``report_caption`` may use those wildcards too."""

    stem: str
    title: str
    caption: str
    report_caption: str = ""
    slide: str = ""
    several_hosts: bool = False
    per_workload: str = ""

    def workload_file(self, task: str, size: str) -> str:
        """The stem of one workload's files, relative to ``figures/``:
        ``tasks/speedup_decode_64x64``."""
        return f"{WORKLOAD_DIR}/{self.per_workload.format(task=task, size=size)}"

    def workload_title(self, task: str, size: str) -> str:
        """One workload's figure title: "decode at 64x64: speedup over the serial loop"."""
        return f"{task} at {size}: {self.title[:1].lower()}{self.title[1:]}"


#: The Snakemake report's last paragraph of every figure caption (a Jinja2 template, rendered
#: by Snakemake with the rule's wildcards).
REPORT_FOOTER = (
    "Experiment **{{ snakemake.wildcards.experiment }}**. The SVG next to the PNG in the\n"
    "experiment's ``figures/`` folder is the same figure as vectors.\n"
)

_FIGURES = (
    Figure(
        "task_speedup",
        "Speedup over the serial loop",
        "Speedup = median time of the serial loop / median time of the cell, same task, "
        "size, storage, cache and number of images, against the worker count; band or "
        "whisker: 95% bootstrap CI of that ratio; dashed: ideal (speedup = workers); "
        "dotted: the usable cores. Hollow markers: above the physical bound (min(workers, "
        "usable cores) for CPU work), flagged in speedup.csv, not a finding.",
        """\
Speedup over the serial loop of one task at one image size, against the worker count: one
panel per number of images (and storage and cache where there are several), one line per
strategy (ratio of medians, same task, size, storage, cache and number of images), with
its 95% bootstrap CI as a band (a whisker where there is one worker count); dashed: ideal
(speedup = workers); dotted: the usable cores. A hollow marker is a speedup above its
physical bound (min(workers, usable cores) for CPU work, the workers for waiting work):
flagged in ``speedup.csv`` (``exceeds_bound``), never a finding.

Task **{{ snakemake.wildcards.task }}** at **{{ snakemake.wildcards.size }}**.
""",
        slide=TASK_SLIDE,
        per_workload="speedup_{task}_{size}",
    ),
    Figure(
        "speedup",
        "Speedup over the serial loop, all tasks",
        "Speedup = median time of the serial loop / median time of the cell, same task, "
        "size, storage, cache and number of images; ideal = the worker count. Hollow "
        "markers: above the physical bound (min(workers, usable cores) for CPU work), "
        "flagged in speedup.csv, not a finding.",
        """\
Speedup over the serial loop of the same task, size, storage, cache and number of images
(ratio of medians), against the worker count, one row of panels per task; ideal = the
worker count, dotted = the usable cores. A hollow marker is a speedup above its physical
bound (min(workers, usable cores) for CPU work, the workers for waiting work): flagged in
``speedup.csv`` (``exceeds_bound``), never a finding. Amdahl fits are drawn only where the
table has one (at least three worker counts within the usable cores). The deck shows one
figure per task and size instead (``tasks/speedup_<task>_<size>.png``).
""",
    ),
    Figure(
        "efficiency",
        "Parallel efficiency, all tasks",
        "Efficiency = speedup over the serial loop / workers: 100% means every worker fully used.",
        """\
Parallel efficiency, speedup over the serial loop / workers, against the worker count: 100%
means every worker was fully used. A hollow marker is a cell whose speedup is above its
physical bound (``exceeds_bound`` of ``speedup.csv``): a flagged measurement, not a finding.
""",
    ),
    Figure(
        "faster_than_serial",
        "× faster than the serial loop",
        "Ratio of medians, serial loop / strategy, at the largest number of images; "
        "whiskers: 95% bootstrap CI of the ratio; black ticks: the physical bound; "
        "hatched: above it, not a finding.",
        """\
How many times faster than the serial loop each strategy is at the largest number of images
(ratio of medians), with the 95% CI of the ratio. The black tick on a bar is its physical
bound (``bound`` of ``speedup.csv``: min(workers, usable cores) for CPU work, the workers for
waiting work); a hatched bar marked "!" is above it, flagged and not a finding.
""",
        slide=OVERVIEW_SLIDE,
    ),
    Figure(
        "time_vs_n",
        "Absolute time against the number of images",
        "Median wall time (ms or s, as the axis says), pool start-up and shutdown "
        "included. “Faster from n = …”: the tables' verdict (faster than the loop, "
        "Holm-corrected, within the physical bound, not withheld), not a comparison of "
        "medians.",
        """\
Absolute median wall time (in ms or s, as the axis says) against the number of images per
cell, pool start-up and shutdown included; each strategy at its fastest worker count for
that n. "Faster from n = ..." is the tables' verdict, not a comparison of medians: from
that n on, some cell of the strategy is ``faster_than_loop`` in ``comparisons.csv``
(Holm-corrected), within its physical bound and not withheld.
""",
        slide=OVERVIEW_SLIDE,
    ),
    Figure(
        "best_strategy",
        "The fastest strategy",
        "The fastest strategy and worker count of each task, size and number of images. "
        "Verdicts from the tables: pale “~”: not shown faster than the loop; hatched "
        "“!”: above the physical bound; framed: the recommendation (dashed: withheld).",
        """\
The fastest strategy and worker count for each task, size and number of images (lowest
median in each worker-count column; the serial loop competes in every column), with the
verdicts of the tables, not of the figure: a pale cell marked "~" is not shown faster than
the loop (``faster_than_loop`` of ``comparisons.csv``, Holm-corrected over the group's
cells); a hatched cell marked "!" is a speedup above its physical bound (``exceeds_bound``
of ``speedup.csv``), a flagged measurement and not a finding; a frame marks the group's
recommendation in ``recommendations.csv`` (dashed: withheld).
""",
        slide=OVERVIEW_SLIDE,
    ),
    Figure(
        "repetitions",
        "Every repetition",
        "The timed repetitions behind the medians: spread and outliers are shown, never removed.",
        """\
The timed repetitions behind the medians, so that spread and outliers show; outliers are
reported, never removed.
""",
        slide=OVERVIEW_SLIDE,
    ),
    Figure(
        "overhead",
        "Where the time goes",
        "Pool start-up (timer start until every worker had started), until the first "
        "result (one item's or one chunk's work), work (first to last result) and "
        "shutdown (last result to the strategy's return), medians.",
        """\
Where the time goes, medians per strategy at its fastest worker count: pool start-up (timer
start until every pool worker had started, ``median_pool_ready_s``), until the first result
(the rest of the time to the first result: one item's work, or one chunk's for chunked
pools), work (first to last result) and shutdown (last result to the strategy's return).
Tables without ``median_pool_ready_s`` show one start-up segment, timer start to the first
result; a pool whose last worker started after the first result is marked.
""",
        slide=OVERHEAD_SLIDE,
    ),
    Figure(
        "hosts",
        "Hosts side by side",
        "One column per host, one row per workload (each task's largest size and number "
        "of images); every speedup is over the serial loop measured on the same host. "
        "Band: 95% bootstrap CI; dashed: ideal; dotted: the host's usable cores.",
        """\
Each host's speedup curves side by side, one column per host and one row per workload (each
task's largest size and number of images); every speedup is over the serial loop measured
on the same host, with its 95% bootstrap CI; dashed: ideal; dotted: the host's usable cores.
""",
        slide=HOSTS_SLIDE,
        several_hosts=True,
    ),
)
#: Every figure by stem, in the order the deck shows them.
FIGURES: dict[str, Figure] = {figure.stem: figure for figure in _FIGURES}
#: The figure drawn only for results of several hosts.
HOSTS_FIGURE = "hosts"
#: The stems written for every experiment, whatever its results (the workflow's outputs).
ALWAYS_WRITTEN = tuple(
    stem for stem, figure in FIGURES.items() if not figure.several_hosts and not figure.per_workload
)
#: The figures drawn once per workload (task and image size), into ``WORKLOAD_DIR``.
PER_WORKLOAD = tuple(stem for stem, figure in FIGURES.items() if figure.per_workload)


def workload_files(stem: str, workloads) -> list[str]:
    """The file stems, relative to ``figures/``, of a per-workload figure for each
    ``(task, size)`` of ``workloads``, in their order."""
    return [FIGURES[stem].workload_file(task, size) for task, size in workloads]


#: The Snakemake report's caption file of the per-workload figures, which share one folder
#: (one caption for its files: every per-workload figure's caption, in registry order).
WORKLOAD_CAPTION = "figure_workloads.rst"


def report_caption_rst(stem: str) -> str:
    """The Snakemake report's caption file of a figure: its ``report_caption``, then the
    footer."""
    return FIGURES[stem].report_caption + "\n" + REPORT_FOOTER


def workload_caption_rst() -> str:
    """The caption file of the per-workload figures' folder: each one's ``report_caption``
    (under its title when there are several), then the footer."""
    parts = [FIGURES[stem].report_caption for stem in PER_WORKLOAD]
    if len(parts) > 1:
        parts = [
            f"**{FIGURES[stem].title}**: {FIGURES[stem].report_caption}" for stem in PER_WORKLOAD
        ]
    return "\n".join(parts) + "\n" + REPORT_FOOTER


def write_report_captions(directory: Path) -> list[Path]:
    """Write ``figure_<stem>.rst`` for each figure of ``ALWAYS_WRITTEN``, and
    ``WORKLOAD_CAPTION`` for the per-workload ones, into ``directory``
    (``workflow/report``): the caption files the figures rule points the report at."""
    written = []
    for stem in ALWAYS_WRITTEN:
        path = Path(directory) / f"figure_{stem}.rst"
        write_atomic(path, report_caption_rst(stem).encode())
        written.append(path)
    path = Path(directory) / WORKLOAD_CAPTION
    write_atomic(path, workload_caption_rst().encode())
    return [*written, path]
