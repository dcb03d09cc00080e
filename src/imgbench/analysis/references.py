"""A source study's findings judged on our repetitions: each finding's verdict as facts
(the numbers, the verdict, the threshold it crossed, what bounds the speedup), no sentences
(``imgbench.report.reference`` words them).

Each finding is tested on the repetitions in ``results/{experiment}/timings.csv`` with the
logic of ``imgbench aggregate``: the speedup is a ratio of medians with a bootstrap CI
(hierarchical, rounds then repetitions, when the cells ran in several rounds), the test is
the round model's t-test (several rounds; its residual variance pooled over the groups of
the cell and its baseline) or a Mann-Whitney U (one round). "Faster" or "slower" holds only
when the test and the CI agree; an equality claim ("no faster than") holds only when the
cell is significantly slower or *equivalent* by a TOST (the 90% CI of the time ratio
within the equivalence margin): a test that merely finds no difference leaves it "not
confirmed" (too few or too noisy repetitions to tell). A speedup measured above the
physical bound here (min(workers, usable cores) for CPU-bound work, the workers for waiting
work) confirms nothing either.

``judge_finding`` returns one record per finding: the columns of the comparison's CSV but
``reason``, plus the facts its reason is written from (``found``, ``untestable``,
``missing``, ``in_direction_only``, ``cap``, ``other_cores``, ``cores_here``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from imgbench.analysis.comparisons import (
    TEST_MANN_WHITNEY,
    TEST_ROUNDS,
    pooled_round_residual,
    round_comparison,
)
from imgbench.analysis.results import WAIT_TASKS
from imgbench.analysis.rounds import round_table
from imgbench.analysis.speedup import bound, exceeds_bound
from imgbench.analysis.stats import (
    equivalent,
    hierarchical_median_cis,
    hierarchical_speedup_cis,
    mann_whitney_p,
    max_missed_difference,
    median_ci,
    smallest_mann_whitney_p,
    speedup_ci,
)
from imgbench.analysis.tables import read_table
from imgbench.analysis.thresholds import (
    ALPHA,
    DEFAULT_EQUIVALENCE_MARGIN,
    INTERFERENCE_SHARE,
    MIN_CPU_SHARE_WALL_S,
)
from imgbench.plan.references import CELL_KEYS
from imgbench.vocabulary import GROUP, HOST_CELL, HOST_GROUP, parse_size

HOLDS, FAILS, NOT_MEASURED, UNTESTABLE = "holds", "does not hold", "not measured", "untestable"
#: Testable, but the data neither confirm nor refute it: an equality claim without
#: equivalence, a "faster" or "slower" claim with neither a significant difference either
#: way nor equivalence (both: underpowered), or a speedup measured above the physical bound.
NOT_CONFIRMED = "not confirmed"
VERDICTS = (HOLDS, FAILS, NOT_MEASURED, UNTESTABLE, NOT_CONFIRMED)
#: Without a recorded task bound, work counts as keeping the cores busy (so that our cores
#: cap a published speedup) when its CPU seconds per wall second reach this share of them.
BUSY_SHARE = 0.75
#: What a finding's test found (``found``).
FASTER, SLOWER, EQUIVALENT, NO_DIFFERENCE = "faster", "slower", "equivalent", "no difference"
#: Why a finding is untestable (``untestable``): too few repetitions for p < ALPHA at all,
#: no degrees of freedom left for the rounds' spread, or one repetition on a side.
TOO_FEW, NO_ROUND_DF, NO_SPREAD = "too few", "no round df", "no spread"
#: Why a side has no repetitions (``missing["why"]``).
NO_TASK, NO_STRATEGY, NOT_RUN, NO_REPETITIONS = "no task", "no strategy", "not run", "none"
_TIMINGS_REQUIRED = [*GROUP[1:], "strategy", "workers", "wall_s"]


class ResultsTree:
    """The timed repetitions and the machines of each experiment of a results tree, read
    once each."""

    def __init__(self, results_dir: Path):
        self.dir = Path(results_dir)
        self._timings: dict[str, pd.DataFrame | None] = {}

    def timings(self, experiment: str) -> pd.DataFrame | None:
        """The experiment's timed repetitions; None when it was not run (no timings.csv)."""
        if experiment not in self._timings:
            path = self.dir / experiment / "timings.csv"
            frame = read_table(path, _TIMINGS_REQUIRED, check_empty=False, missing_ok=True)
            # analysis writes timed repetitions only; a table that kept warm-ups flags them.
            if frame is not None and "warmup" in frame:
                frame = frame[~frame["warmup"].astype(str).str.lower().isin(("true", "1"))]
            self._timings[experiment] = frame
        return self._timings[experiment]

    def rows(self, cell: dict, keys: tuple[str, ...] = CELL_KEYS) -> pd.DataFrame:
        """The repetitions of ``cell`` (a reference file's cell), matched on ``keys``."""
        frame = self.timings(cell["experiment"])
        if not _has_rows(frame):
            return pd.DataFrame()
        width, height = parse_size(cell["size"])
        wanted = {k: cell[k] for k in keys if k not in ("experiment", "size")}
        match = (frame["width"] == width) & (frame["height"] == height)
        for key, value in wanted.items():
            column = frame[key].astype(str) if isinstance(value, str) else frame[key]
            match &= column == value
        return frame[match]

    def cell(self, cell: dict) -> tuple[np.ndarray, pd.DataFrame]:
        """The cell's wall times (NaN dropped) and its rows."""
        rows = self.rows(cell)
        if rows.empty:
            return np.array([]), rows
        walls = rows["wall_s"].to_numpy(dtype=float)
        return walls[~np.isnan(walls)], rows

    def hosts(self, experiments: list[str]) -> list[dict]:
        """Our machines: metadata.json's hosts, else the host columns of timings.csv."""
        hosts: dict[str, dict] = {}
        for experiment in experiments:
            try:
                meta = json.loads((self.dir / experiment / "metadata.json").read_text())
                found = [(h.get("hostname"), h) for h in meta.get("hosts", [])]
            except (OSError, ValueError, AttributeError):
                found = []
            frame = self.timings(experiment)
            cols = ["host", "cpu_model", "usable_cores"]
            if not found and frame is not None and all(c in frame for c in cols):
                found = [
                    (host, {"hostname": host, "cpu_model": cpu, "usable_cores": cores})
                    for host, cpu, cores in frame[cols]
                    .drop_duplicates("host")
                    .itertuples(index=False)
                ]
            for name, host in found:
                hosts.setdefault(str(name), host)
        return list(hosts.values())


def missing_why(results: ResultsTree, cell: dict) -> str:
    """Why a cell has no repetitions, as specific as the results allow."""
    from imgbench.measure.strategies import STRATEGIES
    from imgbench.measure.tasks import TASKS

    if cell["task"] not in TASKS:
        return NO_TASK
    if cell["strategy"] not in STRATEGIES:
        return NO_STRATEGY
    if results.timings(cell["experiment"]) is None:
        return NOT_RUN
    return NO_REPETITIONS


def speedup_cap(
    published: float | None,
    workers: int,
    cores_here: int | None,
    cores_there: int | None,
    busy: float | None,
    task_bound: str | None,
) -> dict | None:
    """What caps the speedup here below the published one: the cell's own workers
    (``{"by": "workers", "workers"}``), or, for work that keeps the cores busy, this
    machine's cores (``{"by": "cores", "here", "there"}``); None when nothing does.
    Latency-bound work (downloads) is capped by its workers, not by cores."""
    if published is None or not math.isfinite(published):
        return None
    if published > workers > 1:
        return {"by": "workers", "workers": workers}
    cpu_bound = (
        task_bound == "cpu"
        if task_bound in ("cpu", "wait")
        else busy is None or not math.isfinite(busy) or busy >= BUSY_SHARE * (cores_here or 0)
    )
    if cores_here is not None and published > cores_here and cpu_bound:
        return {"by": "cores", "here": cores_here, "there": cores_there}
    return None


def _share(rows: pd.DataFrame, column: str) -> float | None:
    """CPU seconds per wall second over a side's repetitions; None where the clock ticks
    (10 ms) are too coarse for the time measured."""
    if not {column, "wall_s"} <= set(rows.columns):
        return None
    wall = float(rows["wall_s"].sum())
    if wall < MIN_CPU_SHARE_WALL_S:
        return None
    return float(rows[column].sum()) / wall


def interference(rows: pd.DataFrame) -> float | None:
    """The cores other processes took while a side ran, when above ``INTERFERENCE_SHARE``:
    its time is inflated, and a speedup against it can exceed the cores (seen here: 2.15x
    on 2 cores). Work on the core a loop leaves idle counts too."""
    cores = _share(rows, "other_cpu_s")
    return None if cores is None or cores <= INTERFERENCE_SHARE else cores


def _rounds_of(rows: pd.DataFrame) -> np.ndarray:
    """A side's wall times as rounds x repetitions (one round when the table has none)."""
    frame = rows.assign(**{c: rows.get(c, "") for c in HOST_CELL})
    frame = frame[frame["wall_s"].notna()]
    tables = round_table(frame)
    return next(iter(tables.values())) if tables else np.empty((0, 0))


def _groups_of(results: ResultsTree, *cells: dict) -> pd.DataFrame:
    """The timed repetitions of every group the cells belong to (for the round model)."""
    keys = ("experiment", "task", "storage", "cache", "size", "n_images")
    parts = [results.rows(c, keys) for c in cells if _has_rows(results.timings(c["experiment"]))]
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts).drop_duplicates()
    frame = frame.assign(**{c: frame.get(c, "") for c in HOST_GROUP})
    return frame[frame["wall_s"].notna()]


def _has_rows(frame: pd.DataFrame | None) -> bool:
    return frame is not None and not frame.empty


def _task_bound(rows: pd.DataFrame, cell: dict) -> str:
    if "task_bound" in rows and rows["task_bound"].notna().any():
        return str(rows["task_bound"].dropna().iloc[0])
    return "wait" if cell["task"] in WAIT_TASKS else "cpu"


def _tests(results: ResultsTree, finding: dict, walls, rows, base_walls, base_rows) -> dict:
    """The medians' CI, the speedup's CI, the test and the time ratio's 90% CI."""
    both = len(walls) >= 2 and len(base_walls) >= 2
    table = _rounds_of(rows) if len(walls) else np.empty((0, 0))
    base_table = _rounds_of(base_rows) if len(base_walls) else np.empty((0, 0))
    rounds, base_rounds = table.shape[0], base_table.shape[0]
    low, high, _ = median_ci(walls)
    r_low = r_high = math.nan
    if both and (rounds > 1 or base_rounds > 1):
        lo, hi = hierarchical_median_cis(table) if rounds > 1 else (low, high)
        low, high = float(np.atleast_1d(lo)[0]), float(np.atleast_1d(hi)[0])
        s_low, s_high = (float(v[0]) for v in hierarchical_speedup_cis(base_table, table))
        residual = pooled_round_residual(_groups_of(results, finding["cell"], finding["baseline"]))
        p, _, r_low, r_high = round_comparison(table, base_table, residual)
        test = TEST_ROUNDS
    else:
        s_low, s_high = speedup_ci(base_walls, walls) if both else (math.nan, math.nan)
        if both:
            # The time ratio cell / baseline at 90%, for the TOST.
            r_low, r_high = speedup_ci(walls, base_walls, level=0.90)
        p = mann_whitney_p(walls, base_walls) if both else math.nan
        test = TEST_MANN_WHITNEY
    return dict(
        measured_time_ci_low_s=low,
        measured_time_ci_high_s=high,
        speedup_ci_low=s_low,
        speedup_ci_high=s_high,
        mann_whitney_p=p,
        test=test,
        ratio_ci90_low=r_low,
        ratio_ci90_high=r_high,
        equivalent=equivalent(r_low, r_high, DEFAULT_EQUIVALENCE_MARGIN),
        max_missed_difference=max_missed_difference(r_low, r_high),
        rounds=rounds,
        baseline_rounds=base_rounds,
    )


def _physical_bound(finding: dict, rows, base_rows, speedup: float, ci_low: float) -> dict:
    """The physical bound of the speedup here, and the usable cores it is computed from."""
    cell, base = finding["cell"], finding["baseline"]
    task_bound = _task_bound(rows, cell) if len(rows) else "cpu"
    cores = pd.concat([rows, base_rows]).get("usable_cores", pd.Series(dtype=float)).dropna()
    here = int(cores.min()) if len(cores) else None
    # A physical bound holds for a parallel speedup over one worker of the same work only:
    # a baseline of another task, size or storage, or of several workers, bounds nothing.
    same_work = all(base[k] == cell[k] for k in CELL_KEYS if k not in ("strategy", "workers"))
    limit = (
        bound(task_bound, cell["workers"], here, cell["strategy"])
        if here is not None and same_work and base["workers"] == 1
        else math.nan
    )
    return {
        "bound": limit,
        "exceeds_bound": exceeds_bound(speedup, ci_low, limit),
        "task_bound": task_bound,
        "cores_here": here,
    }


def _verdict(expect: str, row: dict) -> dict:
    """The verdict, what the test found, and whether it holds in direction only; or why it
    is untestable."""
    published = row["published_speedup"]
    low, high, p = row["speedup_ci_low"], row["speedup_ci_high"], row["mann_whitney_p"]
    rounds = row["test"] == TEST_ROUNDS
    smallest = math.nan if rounds else smallest_mann_whitney_p(row["reps"], row["baseline_reps"])
    if (not rounds and smallest >= ALPHA) or not (math.isfinite(p) and math.isfinite(low)):
        why = TOO_FEW if not rounds and smallest >= ALPHA else NO_ROUND_DF if rounds else NO_SPREAD
        return {"verdict": UNTESTABLE, "untestable": why, "smallest_p": smallest}
    faster, slower = low > 1 and p < ALPHA, high < 1 and p < ALPHA
    same = bool(row["equivalent"])
    found = FASTER if faster else SLOWER if slower else EQUIVALENT if same else NO_DIFFERENCE
    if expect == "not_faster":
        verdict = FAILS if faster else HOLDS if (slower or same) else NOT_CONFIRMED
    else:
        # Refuted by a difference the other way or by equivalence; a difference neither way
        # without equivalence is not confirmed, as for an equality claim without it (the
        # repetitions may be too few or too noisy to tell).
        confirmed, opposite = (faster, slower) if expect == "faster" else (slower, faster)
        verdict = HOLDS if confirmed else FAILS if (opposite or same) else NOT_CONFIRMED
    if row["exceeds_bound"] and verdict == HOLDS and expect == "faster":
        verdict = NOT_CONFIRMED
    in_direction_only = bool(
        verdict == HOLDS and expect != "not_faster" and published and not low <= published <= high
    )
    return {"verdict": verdict, "found": found, "in_direction_only": in_direction_only}


def judge_finding(finding: dict, results: ResultsTree, cores_there: int | None) -> dict:
    """One finding of a loaded reference file (``plan.references.load_reference``) against
    our results: its record (see the module docstring)."""
    cell, base, published = finding["cell"], finding["baseline"], finding["published"]
    walls, rows = results.cell(cell)
    base_walls, base_rows = results.cell(base)
    median = float(np.median(walls)) if len(walls) else math.nan
    base_median = float(np.median(base_walls)) if len(base_walls) else math.nan
    speedup = base_median / median if len(walls) and len(base_walls) else math.nan
    tests = _tests(results, finding, walls, rows, base_walls, base_rows)
    row = {
        "id": finding["id"],
        "claim": finding["claim"],
        "expect": finding["expect"],
        **{k: cell[k] for k in CELL_KEYS},
        "published_time_s": published["time_s"],
        "published_baseline_time_s": published["baseline_time_s"],
        "published_speedup": published["speedup"],
        "reps": len(walls),
        "baseline_reps": len(base_walls),
        "measured_time_s": median,
        "measured_baseline_time_s": base_median,
        "measured_speedup": speedup,
        **tests,
        **_physical_bound(finding, rows, base_rows, speedup, tests["speedup_ci_low"]),
        "equivalence_margin": DEFAULT_EQUIVALENCE_MARGIN,
    }
    if not len(walls) or not len(base_walls):
        side = "cell" if not len(walls) else "baseline"
        row["verdict"] = NOT_MEASURED
        row["missing"] = {"side": side, "why": missing_why(results, finding[side])}
        return row
    row["cpu_per_wall"] = _share(rows, "cpu_s")
    row.update(_verdict(finding["expect"], row))
    row["cap"] = speedup_cap(
        row["published_speedup"],
        cell["workers"],
        row["cores_here"],
        cores_there,
        row["cpu_per_wall"],
        row["task_bound"],
    )
    row["other_cores"] = {"cell": interference(rows), "baseline": interference(base_rows)}
    return row
