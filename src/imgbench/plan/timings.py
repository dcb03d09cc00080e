"""What a previous run's results say about how long jobs take on this machine.

A results tree's cell files (``<results_dir>/<experiment>/cells/**/*.json``) carry, per job,
when its process started (``process_started_unix``: interpreter start-up included), when it
finished, and every repetition's ``wall_s``. A job's time is modelled as

    fixed overhead + (warmup + repeats) x the cell's median repetition wall,

where the overhead (interpreter start-up, setup, cache eviction, verification, teardown) is
the job's span minus its repetitions' walls, and between two jobs Snakemake spends a gap
(``gap_s``: the median of the next job's process start minus the previous job's finish, over
consecutive cell jobs; on the 2-core VM of ``tests/data/golden/recorded`` 0.09 s, from 0.06
to 0.15 s). What runs after the last cell (aggregation, figures, decks, bundle) is measured
from the run's logs when they are there (``tail_s``).

``TimedCell`` is what one cell's jobs measured; ``PreviousRun`` the whole tree.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from imgbench.errors import ImgbenchError
from imgbench.measure.result import CellResult, read_result
from imgbench.vocabulary import CellSpec

#: A gap longer than this between two cell jobs is not Snakemake's scheduling: another job
#: (a dataset, an aggregation) ran in between.
MAX_GAP_S = 2.0

#: What identifies the work of a cell apart from its experiment's name: (task, storage,
#: cache, width, height, n_images, strategy, workers, format, colour, task options).
WorkKey = tuple
#: What identifies a task's per-image work: (task, width, height, format, colour, options).
TaskKey = tuple


def options_text(options: dict | None) -> str:
    return json.dumps(options or {}, sort_keys=True)


def task_key(task: str, width: int, height: int, fmt: str, color: str, options: dict) -> TaskKey:
    return (task, width, height, fmt, color, options_text(options))


@dataclass
class TimedCell:
    """The jobs (rounds) of one cell of a previous run."""

    cell: CellSpec
    fmt: str
    color: str
    options: dict
    walls: list[float] = field(default_factory=list)
    overheads: list[float] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        """The median repetition wall (warm-ups included: they are run, and timed, too)."""
        return statistics.median(self.walls)

    @property
    def overhead_s(self) -> float:
        return statistics.median(self.overheads)

    @property
    def task_key(self) -> TaskKey:
        c = self.cell
        return task_key(c.task, c.width, c.height, self.fmt, self.color, self.options)


@dataclass
class PreviousRun:
    """Timings of a previous run's cell jobs."""

    directory: Path
    cells: dict[WorkKey, TimedCell]
    jobs: int
    #: Max finished - min process start over the cell files: the cells' part of the run.
    span_s: float
    #: Snakemake's median gap between consecutive cell jobs (None: fewer than two jobs).
    gap_s: float | None
    #: Seconds from the last cell's end to the last log written (None: no logs).
    tail_s: float | None
    experiments: int
    skipped: list[str] = field(default_factory=list)

    def by_task(self) -> dict[TaskKey, list[TimedCell]]:
        out: dict[TaskKey, list[TimedCell]] = defaultdict(list)
        for timed in self.cells.values():
            out[timed.task_key].append(timed)
        return out


def work_key(cell: CellSpec, fmt: str, color: str, options: dict) -> WorkKey:
    c = cell
    return (
        c.task, c.storage, c.cache, c.width, c.height, c.n_images, c.strategy, c.workers,
        fmt, color, options_text(options),
    )  # fmt: skip


def _start(result: CellResult) -> float:
    # The process start, when recorded, includes the interpreter's start-up and imports: a
    # large part of a short job (0.3 s of about 0.7 s in the golden run).
    return result.get("process_started_unix") or result["started_unix"]


def result_files(directory: Path) -> list[Path]:
    """The cell result files of a results tree (or of one experiment's directory)."""
    directory = Path(directory)
    if (directory / "cells").is_dir():
        return sorted((directory / "cells").rglob("*.json"))
    return sorted(directory.glob("*/cells/**/*.json"))


def _tail(directory: Path, last_finish: float) -> float | None:
    """Seconds the stages after the cells took, from the run's logs' modification times."""
    logs = Path(directory) / "logs"
    if not logs.is_dir():
        return None
    times = [
        p.stat().st_mtime
        for p in logs.rglob("*.log")
        if "/cells/" not in p.as_posix() and "datasets" not in p.relative_to(logs).parts
    ]
    tail = max(times, default=0.0) - last_finish
    # A copied tree has fresh modification times: an hour after its cells is not a tail.
    return tail if 0.0 < tail < 3600.0 else None


def read_previous(directory: Path) -> PreviousRun:
    """Every cell job of a results tree; files that cannot be read are listed, not fatal."""
    cells: dict[WorkKey, TimedCell] = {}
    spans: list[tuple[float, float]] = []
    skipped: list[str] = []
    experiments = set()
    for path in result_files(directory):
        try:
            result = read_result(path)
        except ImgbenchError as exc:
            skipped.append(f"{path}: {exc}")
            continue
        c, run = result["cell"], result["run"]
        cell = CellSpec(**c)
        fmt, color = run["dataset_format"], run.get("dataset_color", "rgb")
        options = run.get("task_options") or {}
        key = work_key(cell, fmt, color, options)
        timed = cells.setdefault(key, TimedCell(cell, fmt, color, options))
        walls = [r["wall_s"] for r in result["repetitions"]]
        timed.walls += walls
        start = _start(result)
        timed.overheads.append(max(0.0, result["finished_unix"] - start - sum(walls)))
        spans.append((start, result["finished_unix"]))
        experiments.add(cell.experiment)
    if not spans:
        raise ImgbenchError(f"{directory}: no cell results (looked for */cells/**/*.json)")
    spans.sort()
    gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)]
    gaps = [g for g in gaps if 0.0 <= g < MAX_GAP_S]
    last = max(end for _, end in spans)
    return PreviousRun(
        Path(directory),
        cells,
        len(spans),
        last - spans[0][0],
        statistics.median(gaps) if gaps else None,
        _tail(Path(directory), last),
        len(experiments),
        skipped,
    )
