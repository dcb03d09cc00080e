"""What a run will cost before it starts: ``imgbench plan`` and the lines a run prints first.

``plan_report`` gathers the facts of a resolved config: per experiment its cells, rounds,
repetitions and jobs; the datasets with their images and estimated bytes on disk
(``imgbench.plan.footprint``); the scratch space its largest cell needs, per storage; and an
estimated duration with how it was estimated. ``format_plan`` writes them for people.

The duration is the sum of:

- the cell jobs, each ``overhead + (warmup + repeats) x median repetition wall``, plus
  Snakemake's gap before each: from a previous run's results (``imgbench.plan.timings``)
  where it measured the same cell, from similar cells (same task and size, scaled by
  n_images and workers, or by a per-image cost) where it did not, and else from a short,
  rough calibration on this machine (``imgbench.plan.calibrate``). Cells not measured are
  named as extrapolated;
- the datasets not yet on disk, from the time to generate one sample image;
- Snakemake's start-up and the stages after the cells (aggregation, figures, decks, bundle),
  from the previous run's logs when it has them, else the constants below.

An estimate above ``limit_s`` adds a warning.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

from imgbench.measure.datasets import MANIFEST
from imgbench.measure.tasks import TASKS
from imgbench.plan import calibrate as cal
from imgbench.plan.config import resolve_config, task_options
from imgbench.plan.footprint import cell_scratch, dataset_bytes, image_sample, native_stand_in
from imgbench.plan.grid import (
    DatasetSpec,
    dataset_folders,
    expand_cells,
    expand_runs,
    plan_datasets,
)
from imgbench.plan.timings import PreviousRun, TimedCell, read_previous, task_key, work_key
from imgbench.vocabulary import NATIVE_FORMAT, CellSpec, format_size
from imgbench.words import count, duration, gib, mib

#: Snakemake's gap between two jobs without a previous run to measure it from: the median
#: over the consecutive cell jobs of tests/data/golden/recorded (0.09 s; 0.06-0.15 s).
GAP_S = 0.09
#: Snakemake's own start (importing itself, building the DAG of a few hundred jobs).
SNAKEMAKE_START_S = 5.0
#: The stages after the cells, without logs to measure them from: per experiment
#: (aggregate, calibration, figures, slides, Markdown: a fresh interpreter each, with pandas
#: and matplotlib) and once per run (reference deck, bundle). Measured on this 2-core VM:
#: the quick preset's stages (1 experiment of 20 cells) took 12 s from the first aggregate
#: to the end, the calibrate preset's (2 experiments of 5 and 10 cells) 11 s.
STAGES_PER_EXPERIMENT_S, STAGES_PER_RUN_S = 5.0, 5.0
#: A dataset job's own cost besides its images (an interpreter, a process pool).
DATASET_JOB_S = 1.0


@dataclass(frozen=True)
class ExperimentPlan:
    name: str
    cells: int
    rounds: int
    warmup: int
    repeats: int
    jobs: int
    #: Repetitions per cell: rounds x (warmup + repeats), and those timed: rounds x repeats.
    repetitions: int
    timed_repetitions: int
    #: The jobs still to run: the estimate is theirs.
    estimate_s: float
    done_jobs: int = 0


@dataclass(frozen=True)
class DatasetPlan:
    name: str
    images: int
    bytes: int
    #: Already on disk (a manifest in datasets_dir): Snakemake will not make it again.
    present: bool
    generate_s: float


@dataclass(frozen=True)
class CellTime:
    cell: CellSpec
    jobs: int
    job_s: float
    #: "measured", "scaled from <cell>", "per-image cost of ...", "calibration", "unknown".
    how: str
    #: Rounds whose result file is already in the run's results directory: Snakemake will not
    #: run them again unless the cell changed (its rerun triggers).
    done: int = 0

    @property
    def to_run(self) -> int:
        return self.jobs - self.done

    @property
    def extrapolated(self) -> bool:
        return self.how != "measured"


@dataclass(frozen=True)
class Estimate:
    cells_s: float
    gaps_s: float
    datasets_s: float
    stages_s: float
    method: list[str]
    extrapolated: list[CellTime] = field(default_factory=list)

    @property
    def cell_jobs_s(self) -> float:
        """The cell jobs and Snakemake's gaps between them: comparable to a run's cell span."""
        return self.cells_s + self.gaps_s

    @property
    def total_s(self) -> float:
        return self.cells_s + self.gaps_s + self.datasets_s + self.stages_s


@dataclass(frozen=True)
class Plan:
    experiments: list[ExperimentPlan]
    datasets: list[DatasetPlan]
    #: Per storage: the largest cell's scratch bytes, and that cell.
    scratch: dict[str, tuple[int, str]]
    estimate: Estimate
    limit_s: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def cells(self) -> int:
        return sum(e.cells for e in self.experiments)

    @property
    def jobs(self) -> int:
        return sum(e.jobs for e in self.experiments)

    @property
    def done_jobs(self) -> int:
        return sum(e.done_jobs for e in self.experiments)


# ----- the duration of one cell --------------------------------------------------------------


def _nearest(candidates: list[TimedCell], cell: CellSpec) -> TimedCell:
    return min(
        candidates,
        key=lambda t: (
            abs(t.cell.workers - cell.workers),
            abs(t.cell.n_images - cell.n_images),
            t.cell,
        ),
    )


def _work_s(timed: TimedCell) -> float:
    """A measured cell's repetition wall without its pool's start-up."""
    return max(0.0, timed.wall_s - cal.pool_start_s(timed.cell.strategy, timed.cell.workers))


def _per_image_s(candidates: list[TimedCell], cores: int) -> float:
    """A task's serial cost per image at a size, from whichever cells measured it."""
    serial = [t for t in candidates if t.cell.strategy == "serial"]
    pool = serial or candidates
    return statistics.median(
        _work_s(t)
        * cal.parallel_speedup(t.cell.task, t.cell.strategy, t.cell.workers, cores)
        / t.cell.n_images
        for t in pool
    )


def _from_similar(cell: CellSpec, candidates: list[TimedCell], cores: int) -> tuple[float, str]:
    """Predicted repetition wall and job overhead of a cell from cells of its task and size."""
    speedup = cal.parallel_speedup(cell.task, cell.strategy, cell.workers, cores)
    pool = cal.pool_start_s(cell.strategy, cell.workers)
    same = [t for t in candidates if t.cell.strategy == cell.strategy]
    if same:
        ref = _nearest(same, cell)
        ref_speedup = cal.parallel_speedup(
            ref.cell.task, ref.cell.strategy, ref.cell.workers, cores
        )
        scale = cell.n_images / ref.cell.n_images * ref_speedup / speedup
        return pool + _work_s(ref) * scale, f"scaled from {ref.cell.label}"
    per_image = _per_image_s(candidates, cores)
    size = format_size(cell.width, cell.height)
    return pool + cell.n_images * per_image / speedup, f"per-image cost of {cell.task} at {size}"


def _overhead_like(cell: CellSpec, candidates: list[TimedCell]) -> float:
    return _nearest(candidates, cell).overhead_s


def _calibrated(cell: CellSpec, cost: float | None, cores: int) -> tuple[float, float, str]:
    """Repetition wall and job overhead from the calibration (None: the task was not timed)."""
    if cost is None:
        return 0.0, cal.JOB_OVERHEAD_S, "unknown (not calibrated)"
    speedup = cal.parallel_speedup(cell.task, cell.strategy, cell.workers, cores)
    wall = cal.pool_start_s(cell.strategy, cell.workers) + cell.n_images * cost / speedup
    # Tasks that write files verify them after the repetitions: about one more serial pass.
    verify = cell.n_images * cost if TASKS[cell.task].output_suffix else 0.0
    return wall, cal.JOB_OVERHEAD_S + verify, "calibration"


@dataclass
class _Context:
    config: dict
    datasets: dict[CellSpec, DatasetSpec]
    previous: PreviousRun | None
    costs: dict
    cores: int
    #: Per folder content: what its native datasets are planned as (``native_stand_in``).
    stand_ins: dict[str, tuple[str, int, int]] = field(default_factory=dict)

    def planned(self, cell: CellSpec) -> tuple[CellSpec, DatasetSpec]:
        """The cell and its dataset as the estimate sees them: native images (of many
        sizes) as their folder's median image."""
        ds = self.datasets[cell]
        if ds.format != NATIVE_FORMAT:
            return cell, ds
        if ds.content not in self.stand_ins:
            folder, _ = dataset_folders(self.config)[ds.content]
            self.stand_ins[ds.content] = native_stand_in(Path(folder))
        fmt, width, height = self.stand_ins[ds.content]
        return (
            replace(cell, width=width, height=height),
            replace(ds, format=fmt, width=width, height=height),
        )

    def keys(self, cell: CellSpec) -> tuple[tuple, tuple]:
        exp = self.config["experiments"][cell.experiment]
        ds, opts = self.datasets[cell], task_options(exp, cell.task)
        sized, planned = self.planned(cell)
        return (
            work_key(cell, ds.format, ds.color, opts),
            task_key(cell.task, sized.width, sized.height, planned.format, ds.color, opts),
        )


def _cell_time(cell: CellSpec, ctx: _Context) -> CellTime:
    exp = ctx.config["experiments"][cell.experiment]
    reps, rounds = exp["warmup"] + exp["repeats"], exp.get("rounds", 1)
    wkey, tkey = ctx.keys(cell)
    prev = ctx.previous
    if prev is not None and wkey in prev.cells:
        timed = prev.cells[wkey]
        return CellTime(cell, rounds, timed.overhead_s + reps * timed.wall_s, "measured")
    candidates = prev.by_task().get(tkey, []) if prev is not None else []
    if candidates:
        wall, how = _from_similar(cell, candidates, ctx.cores)
        overhead = _overhead_like(cell, candidates)
    else:
        wall, overhead, how = _calibrated(cell, ctx.costs.get(tkey), ctx.cores)
    return CellTime(cell, rounds, overhead + reps * wall, how)


def _with_done(time: CellTime, config: dict) -> CellTime:
    """``time`` with the rounds whose result file exists under the config's results_dir."""
    results = Path(config.get("results_dir", "results"))
    done = sum((results / time.cell.result_path(r)).is_file() for r in range(1, time.jobs + 1))
    return replace(time, done=done)


# ----- the plan --------------------------------------------------------------------------------


def _unmeasured_keys(ctx: _Context, cells: list[CellSpec]) -> dict[tuple, dict]:
    measured = set(ctx.previous.by_task()) if ctx.previous is not None else set()
    keys = {}
    for cell in cells:
        _, tkey = ctx.keys(cell)
        if tkey not in measured:
            keys[tkey] = task_options(ctx.config["experiments"][cell.experiment], cell.task)
    return keys


def _dataset_plans(ctx: _Context) -> list[DatasetPlan]:
    root = Path(ctx.config.get("datasets_dir", "results/datasets"))
    planned = {ctx.datasets[cell]: ctx.planned(cell)[1] for cell in ctx.datasets}
    out = []
    for ds in sorted(planned, key=lambda d: d.name):
        present = (root / ds.name / MANIFEST).is_file()
        like = planned[ds]
        one = image_sample(like.format, like.color, like.width, like.height).generate_s
        # The dataset rule generates with min(cores, 16) processes.
        generate = 0.0 if present else DATASET_JOB_S + ds.count * one / min(ctx.cores, 16)
        out.append(DatasetPlan(ds.name, ds.count, dataset_bytes(like), present, generate))
    return out


def _scratch(config: dict, ctx: _Context, cells: list[CellSpec]) -> dict[str, tuple[int, str]]:
    largest: dict[str, tuple[int, str]] = {}
    for cell in cells:
        opts = task_options(config["experiments"][cell.experiment], cell.task)
        size = cell_scratch(*ctx.planned(cell), opts)
        if size >= largest.get(cell.storage, (-1, ""))[0]:
            largest[cell.storage] = (size, cell.label)
    return largest


def _stages_s(previous: PreviousRun | None, experiments: int) -> tuple[float, str]:
    if previous is not None and previous.tail_s is not None:
        per = previous.tail_s / max(1, previous.experiments)
        return SNAKEMAKE_START_S + per * experiments, "stages after the cells from its logs"
    rough = SNAKEMAKE_START_S + STAGES_PER_RUN_S + STAGES_PER_EXPERIMENT_S * experiments
    return rough, "stages after the cells from a rough constant per experiment"


def _method(ctx: _Context, times: list[CellTime], stages_how: str) -> list[str]:
    lines = []
    if ctx.previous is not None:
        measured = sum(1 for t in times if not t.extrapolated)
        lines.append(
            f"from the previous run in {ctx.previous.directory} ({count(ctx.previous.jobs, 'job')}"
            f"): {measured} of {count(len(times), 'cell')} measured there"
        )
        if ctx.previous.skipped:
            lines.append(f"{count(len(ctx.previous.skipped), 'result file')} unreadable, left out")
    if ctx.costs:
        lines.append(
            f"from a short calibration on this machine ({count(len(ctx.costs), 'task/size pair')}, "
            "serial, warm caches: rough)"
        )
    gap = ctx.previous.gap_s if ctx.previous is not None else None
    where = "measured in the previous run" if gap is not None else "assumed"
    lines.append(f"Snakemake's gap between jobs {duration(gap or GAP_S)} ({where}); {stages_how}")
    return lines


def plan_report(config: dict, previous: Path | None = None, limit_s: float | None = None) -> Plan:
    """The plan of a config (resolved here), its duration estimated from ``previous`` (a
    results directory) where it has timings, else from a short calibration."""
    config = resolve_config(config)
    cells = expand_cells(config)
    runs = expand_runs(config, cells)
    datasets = plan_datasets(config, cells)
    ctx = _Context(config, datasets, read_previous(previous) if previous else None, {}, 0)
    ctx.cores = cal.usable_cores()
    ctx.costs = cal.calibrate(_unmeasured_keys(ctx, cells))
    times = [_with_done(_cell_time(cell, ctx), config) for cell in cells]
    gap = (ctx.previous.gap_s if ctx.previous is not None else None) or GAP_S
    dataset_plans = _dataset_plans(ctx)
    stages, stages_how = _stages_s(ctx.previous, len(config["experiments"]))
    estimate = Estimate(
        cells_s=sum(t.to_run * t.job_s for t in times),
        gaps_s=gap * (len(runs) - sum(t.done for t in times)),
        datasets_s=sum(d.generate_s for d in dataset_plans),
        stages_s=stages,
        method=_method(ctx, times, stages_how),
        extrapolated=[t for t in times if t.extrapolated],
    )
    experiments = []
    for name, exp in config["experiments"].items():
        mine = [t for t in times if t.cell.experiment == name]
        rounds, reps = exp.get("rounds", 1), exp["warmup"] + exp["repeats"]
        experiments.append(
            ExperimentPlan(
                name,
                len(mine),
                rounds,
                exp["warmup"],
                exp["repeats"],
                sum(t.jobs for t in mine),
                rounds * reps,
                rounds * exp["repeats"],
                sum(t.to_run * (t.job_s + gap) for t in mine),
                sum(t.done for t in mine),
            )  # fmt: skip
        )
    warnings = []
    if limit_s is not None and estimate.total_s > limit_s:
        warnings.append(
            f"the estimated {_long(estimate.total_s)} exceeds the limit of {_long(limit_s)}"
        )
    scratch = _scratch(config, ctx, cells)
    return Plan(experiments, dataset_plans, scratch, estimate, limit_s, warnings)


# ----- for people ------------------------------------------------------------------------------


def _long(seconds: float) -> str:
    """Seconds as a person reads a run's length: ms and s below two minutes, then minutes."""
    if seconds < 120:
        return duration(seconds)
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _bytes(n: float) -> str:
    if n < 1 << 20:
        return f"{n / 1024:.0f} KiB"
    return mib(n) if n < 1 << 30 else gib(n)


def format_plan(plan: Plan) -> str:
    """The plan as lines for a terminal: the grid, the disk, the estimate and how."""
    head = f"imgbench plan: {count(plan.cells, 'cell')}, {count(plan.jobs, 'cell job')}"
    if plan.done_jobs:
        head += f" ({plan.done_jobs} done, {plan.jobs - plan.done_jobs} to run: estimated below)"
    lines = [head]
    for e in plan.experiments:
        done = f"{e.done_jobs} done, " if e.done_jobs else ""
        lines.append(
            f"  {e.name}: {count(e.cells, 'cell')} x {count(e.rounds, 'round')} = "
            f"{count(e.jobs, 'job')}; per cell {e.repetitions} repetitions "
            f"({e.timed_repetitions} timed, {e.warmup} warm-up per round); "
            f"{done}about {_long(e.estimate_s)}"
        )
    total = sum(d.bytes for d in plan.datasets)
    lines.append(f"datasets: {count(len(plan.datasets), 'dataset')}, about {_bytes(total)}")
    for d in plan.datasets:
        state = "present" if d.present else f"to make, about {_long(d.generate_s)}"
        lines.append(f"  {d.name}: {count(d.images, 'image')}, about {_bytes(d.bytes)} ({state})")
    for storage, (size, label) in sorted(plan.scratch.items()):
        lines.append(f"scratch ({storage}): about {_bytes(size)} at most ({label})")
    est = plan.estimate
    lines.append(
        f"estimated duration: about {_long(est.total_s)} (cell jobs {_long(est.cells_s)}, "
        f"Snakemake's gaps {_long(est.gaps_s)}, datasets {_long(est.datasets_s)}, "
        f"start and stages after the cells {_long(est.stages_s)})"
    )
    lines += [f"  {line}" for line in est.method]
    # Cells from the calibration are said by the method line; those predicted from other
    # cells of a previous run are named, since that is where the estimate is weakest.
    named = [t for t in est.extrapolated if t.how != "calibration"]
    if named:
        lines.append(f"  {count(len(named), 'cell')} extrapolated:")
        lines += [f"    {t.cell.label}: {t.how}" for t in named[:10]]
        if len(named) > 10:
            lines.append(f"    ... and {len(named) - 10} more")
    lines += [f"imgbench: warning: {w}" for w in plan.warnings]
    return "\n".join(lines)
