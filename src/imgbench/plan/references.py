"""Published numbers of a source study beside what this workflow measured.

A reference file (``config/references/*.yaml``) holds a study's findings as data: each
names the cell it is about and a baseline cell, the study's numbers, and what the study
concluded (faster / not_faster / slower). Each finding is tested on our repetitions (read
from ``results/{experiment}/timings.csv``) with the logic of ``imgbench aggregate``: the
speedup is a ratio of medians with a bootstrap CI (hierarchical, rounds then repetitions,
when the cells ran in several rounds), the test is the round model's t-test (several
rounds; its residual variance pooled over the groups of the cell and its baseline) or a
Mann-Whitney U (one round). "Faster" or "slower" holds only when the test and the CI agree;
an equality claim ("no faster than") holds only when the cell is significantly slower or
*equivalent* by a TOST (the 90% CI of the time ratio within the equivalence margin): a test
that merely finds no difference leaves it "not confirmed" (too few or too noisy repetitions
to tell). A speedup measured above the physical bound here (min(workers, usable cores) for
CPU-bound work, the workers for waiting work) confirms nothing either, and a published one
above it is named.
The output is a CSV and a small self-contained deck in the style of ``slides.py``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from imgbench.analysis.aggregate import (
    ALPHA,
    BASELINE,
    DEFAULT_EQUIVALENCE_MARGIN,
    HOST_CELL,
    HOST_GROUP,
    MIN_CPU_SHARE_WALL_S,
    TEST_MANN_WHITNEY,
    TEST_ROUNDS,
    WAIT_TASKS,
    bound,
    pooled_round_residual,
    round_comparison,
    round_table,
)
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
from imgbench.errors import ConfigError, ImgbenchError
from imgbench.files import write_atomic
from imgbench.plan.config import load_yaml
from imgbench.report.slides import (
    INTERFERENCE_WARN,
    fmt_p,
    fmt_seconds,
    fmt_speedup,
    fmt_speedup_ci,
)

TOP_KEYS = {"study", "source", "machine", "cores", "method", "flaws", "departures", "findings"}
FINDING_KEYS = {"id", "claim", "expect", "published", "cell", "baseline", "why"}
PUBLISHED_KEYS = ("time_s", "baseline_time_s", "speedup")
CELL_KEYS = ("experiment", "task", "storage", "cache", "size", "n_images", "strategy", "workers")
EXPECTS = ("faster", "not_faster", "slower")
CHOICES = {"storage": ("disk", "shm"), "cache": ("cold", "warm")}
HOLDS, FAILS, NOT_MEASURED, UNTESTABLE = "holds", "does not hold", "not measured", "untestable"
#: Testable, but the data neither confirm nor refute it: an equality claim without
#: equivalence (underpowered), or a speedup measured above the physical bound.
NOT_CONFIRMED = "not confirmed"
MARKS = {HOLDS: "✓", FAILS: "✗", NOT_MEASURED: "–", UNTESTABLE: "?", NOT_CONFIRMED: "≟"}
#: Findings per table slide: more would not fit on one screen.
ROWS_PER_SLIDE = 8
COLUMNS = [
    "id",
    "claim",
    "expect",
    *CELL_KEYS,
    "published_time_s",
    "published_baseline_time_s",
    "published_speedup",
    "measured_time_s",
    "measured_time_ci_low_s",
    "measured_time_ci_high_s",
    "measured_baseline_time_s",
    "measured_speedup",
    "speedup_ci_low",
    "speedup_ci_high",
    "mann_whitney_p",
    "test",
    "ratio_ci90_low",
    "ratio_ci90_high",
    "equivalent",
    "max_missed_difference",
    "bound",
    "exceeds_bound",
    "reps",
    "baseline_reps",
    "rounds",
    "baseline_rounds",
    "verdict",
    "reason",
]
_ID = re.compile(r"^[a-z0-9_]+$")
_SIZE = re.compile(r"^[1-9][0-9]*x[1-9][0-9]*$")


# ----- the reference file -------------------------------------------------------------------


def _fail(path: Path, key: str, problem: str) -> None:
    raise ConfigError(f"{path}: key {key}: {problem}")


def _text(path: Path, key: str, value, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        _fail(path, key, "must be a non-empty string")
    return value


def _count(path: Path, key: str, value) -> int:
    # bool is an int in Python; `workers: yes` is still a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(path, key, f"must be a positive integer, not {value!r}")
    return value


def _mapping(path: Path, key: str, value, allowed) -> dict:
    if not isinstance(value, dict):
        _fail(path, key, "must be a mapping")
    for name in value:
        if name not in allowed:
            _fail(path, f"{key}.{name}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
    return value


def _cell(path: Path, key: str, cell: dict, required: bool) -> dict:
    if required:
        for name in CELL_KEYS:
            if name not in cell:
                _fail(path, f"{key}.{name}", "missing")
    out = {}
    for name, value in cell.items():
        where = f"{key}.{name}"
        if name in ("n_images", "workers"):
            out[name] = _count(path, where, value)
        elif name == "size":
            if not isinstance(value, str) or not _SIZE.match(value):
                _fail(path, where, f"must be WIDTHxHEIGHT, e.g. 640x480, not {value!r}")
            out["size"] = value
        else:
            out[name] = _text(path, where, value)
            if name in CHOICES and value not in CHOICES[name]:
                _fail(path, where, f"{value!r} not allowed; allowed: {', '.join(CHOICES[name])}")
    return out


def _published(path: Path, key: str, value) -> dict:
    value = _mapping(path, key, value, PUBLISHED_KEYS)
    out = {}
    for name in PUBLISHED_KEYS:
        v = value.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v <= 0):
            _fail(path, f"{key}.{name}", f"must be a positive number, not {v!r}")
        out[name] = None if v is None else float(v)
    # Neither number: a qualitative claim ("chunking fixes it"), judged on direction alone.
    if out["baseline_time_s"] is not None and out["time_s"] is None:
        _fail(path, f"{key}.time_s", "missing: baseline_time_s needs the cell's time_s")
    if out["speedup"] is None and out["baseline_time_s"] is not None:
        out["speedup"] = out["baseline_time_s"] / out["time_s"]
    return out


def load_reference(path: Path) -> dict:
    """Read and check a reference file; every error names the file and the key.

    Each finding comes back with ``cell`` and ``baseline`` both complete (the baseline is
    the cell with the overrides applied) and ``published`` with all three numbers, the
    speedup derived from the two times when the study gave only those (None if unknown).
    """
    path = Path(path)
    data = _mapping(path, "(top level)", load_yaml(path), TOP_KEYS)
    for name in sorted(TOP_KEYS):
        if name not in data:
            _fail(path, name, "missing")
    for name in ("study", "source", "machine", "method"):
        _text(path, name, data[name])
    if data["cores"] is not None:
        _count(path, "cores", data["cores"])
    for name in ("flaws", "departures"):
        items = data[name] if data[name] is not None else []
        if not isinstance(items, list):
            _fail(path, name, "must be a list of strings")
        data[name] = [_text(path, f"{name}[{i}]", item) for i, item in enumerate(items)]
    if not isinstance(data["findings"], list) or not data["findings"]:
        _fail(path, "findings", "must be a non-empty list")
    findings, seen = [], set()
    for i, raw in enumerate(data["findings"]):
        key = f"findings[{i}]"
        raw = _mapping(path, key, raw, FINDING_KEYS)
        for name in ("id", "claim", "expect", "published", "cell", "baseline"):
            if name not in raw:
                _fail(path, f"{key}.{name}", "missing")
        fid = raw["id"]
        if not isinstance(fid, str) or not _ID.match(fid):
            _fail(path, f"{key}.id", f"{fid!r} must match [a-z0-9_]+")
        if fid in seen:
            _fail(path, f"{key}.id", f"{fid!r} is used twice")
        seen.add(fid)
        if raw["expect"] not in EXPECTS:
            _fail(path, f"{key}.expect", f"{raw['expect']!r}; allowed: {', '.join(EXPECTS)}")
        cell = _cell(
            path, f"{key}.cell", _mapping(path, f"{key}.cell", raw["cell"], CELL_KEYS), True
        )
        overrides = _mapping(path, f"{key}.baseline", raw["baseline"], CELL_KEYS)
        baseline = {**cell, **_cell(path, f"{key}.baseline", overrides, False)}
        if baseline == cell:
            _fail(path, f"{key}.baseline", "must differ from the cell")
        findings.append(
            {
                "id": fid,
                "claim": _text(path, f"{key}.claim", raw["claim"]),
                "expect": raw["expect"],
                "published": _published(path, f"{key}.published", raw["published"]),
                "cell": cell,
                "baseline": baseline,
                "why": _text(path, f"{key}.why", raw.get("why"), optional=True),
            }
        )
    return {**data, "findings": findings}


# ----- our measurements ---------------------------------------------------------------------


class _Results:
    """The timed repetitions and the machine of each experiment, read once each."""

    def __init__(self, results_dir: Path):
        self.dir = Path(results_dir)
        self._timings: dict[str, pd.DataFrame | None] = {}

    def timings(self, experiment: str) -> pd.DataFrame | None:
        """The experiment's timed repetitions; None when it was not run (no timings.csv)."""
        if experiment not in self._timings:
            path = self.dir / experiment / "timings.csv"
            frame = None
            if path.is_file():
                try:
                    frame = pd.read_csv(path)
                except pd.errors.EmptyDataError:
                    frame = pd.DataFrame(columns=["wall_s"])
                if not frame.empty:
                    needed = ["task", "storage", "cache", "width", "height", "n_images"]
                    missing = [
                        c for c in [*needed, "strategy", "workers", "wall_s"] if c not in frame
                    ]
                    if missing:
                        raise ImgbenchError(f"{path}: column(s) {', '.join(missing)} missing")
                # analysis writes timed repetitions only; a table that kept warm-ups flags them.
                if "warmup" in frame:
                    frame = frame[~frame["warmup"].astype(str).str.lower().isin(("true", "1"))]
            self._timings[experiment] = frame
        return self._timings[experiment]

    def cell(self, cell: dict) -> tuple[np.ndarray, pd.DataFrame]:
        frame = self.timings(cell["experiment"])
        if frame is None or frame.empty:
            return np.array([]), pd.DataFrame()
        width, height = (int(v) for v in cell["size"].split("x"))
        rows = frame[
            (frame["task"].astype(str) == cell["task"])
            & (frame["storage"].astype(str) == cell["storage"])
            & (frame["cache"].astype(str) == cell["cache"])
            & (frame["width"] == width)
            & (frame["height"] == height)
            & (frame["n_images"] == cell["n_images"])
            & (frame["strategy"].astype(str) == cell["strategy"])
            & (frame["workers"] == cell["workers"])
        ]
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


def _who(cell: dict) -> str:
    if cell["strategy"] == BASELINE:
        return "the serial loop"
    return f"{cell['strategy']} ×{cell['workers']}"


def _describe(cell: dict) -> str:
    return (
        f"{cell['experiment']}/{cell['task']} {cell['size']} n={cell['n_images']} "
        f"{cell['storage']}/{cell['cache']}, {_who(cell)}"
    )


def _missing(results: _Results, cell: dict) -> str:
    """Why a cell has no repetitions, as specific as the results allow."""
    from imgbench.measure.strategies import STRATEGIES
    from imgbench.measure.tasks import TASKS

    if cell["task"] not in TASKS:
        return f"imgbench has no task {cell['task']!r}"
    if cell["strategy"] not in STRATEGIES:
        return f"imgbench has no strategy {cell['strategy']!r}"
    if results.timings(cell["experiment"]) is None:
        return f"experiment {cell['experiment']!r} was not run (no timings.csv)"
    return f"no timed repetitions of {_describe(cell)}"


def _p_text(p: float) -> str:
    text = fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _judge(finding: dict, row: dict, cores_here: int | None, cores_there: int | None) -> tuple:
    """The verdict and its one-line reason, from the numbers in ``row``."""
    expect, published = finding["expect"], row["published_speedup"]
    low, high, p = row["speedup_ci_low"], row["speedup_ci_high"], row["mann_whitney_p"]
    n, n_base = row["reps"], row["baseline_reps"]
    measured = fmt_speedup_ci(row["measured_speedup"], low, high) + " here"
    if published is not None and math.isfinite(published):
        measured += f" vs {fmt_speedup(published)} published"
    rounds = row["test"] == TEST_ROUNDS
    smallest = math.nan if rounds else smallest_mann_whitney_p(n, n_base)
    if (not rounds and smallest >= ALPHA) or not (math.isfinite(p) and math.isfinite(low)):
        verdict = UNTESTABLE
        if not rounds and smallest >= ALPHA:
            why = f"cannot reach p < {ALPHA} (smallest possible p {fmt_p(smallest)})"
        elif rounds:
            why = "leave no degrees of freedom for the rounds' spread"
        else:
            why = "give no spread to test (one repetition on a side)"
        reason = f"untestable: {n} vs {n_base} repetitions {why}; measured {measured}"
        return verdict, reason + _bound(finding, row, cores_here, cores_there)
    faster, slower = low > 1 and p < ALPHA, high < 1 and p < ALPHA
    same = bool(row["equivalent"])
    margin = f"{DEFAULT_EQUIVALENCE_MARGIN:.0%}"
    found = (
        "significantly faster"
        if faster
        else "significantly slower"
        if slower
        else f"equivalent within {margin}"
        if same
        else "no significant difference"
    )
    missed = row["max_missed_difference"]
    if expect == "not_faster":
        verdict = FAILS if faster else HOLDS if (slower or same) else NOT_CONFIRMED
    else:
        verdict = HOLDS if {"faster": faster, "slower": slower}[expect] else FAILS
    if row["exceeds_bound"] and verdict == HOLDS and expect == "faster":
        verdict = NOT_CONFIRMED
    head = verdict
    if verdict == HOLDS and expect != "not_faster" and published and not low <= published <= high:
        head = "holds in direction"
    reason = f"{head}: {measured} ({found}, {_p_text(p)})"
    if verdict == NOT_CONFIRMED and expect == "not_faster":
        reason += (
            f"; not equivalent within {margin}: a difference of up to {missed:.0%} could "
            "have been missed"
            if math.isfinite(missed)
            else f"; not equivalent within {margin}"
        )
    if row["exceeds_bound"]:
        reason += (
            f"; the measured speedup is above the {row['bound']}x that "
            f"{finding['cell']['workers']} workers on {cores_here} usable cores allow here: "
            "the baseline's time is suspect (a slower machine while it ran), not a finding"
        )
    return verdict, reason + _bound(finding, row, cores_here, cores_there)


def _bound(finding: dict, row: dict, cores_here: int | None, cores_there: int | None) -> str:
    """What caps the speedup here below the published one: the cell's own workers, or, for
    work that keeps the cores busy, this machine's cores. Latency-bound work (downloads)
    is capped by its workers, not by cores."""
    published, workers = row["published_speedup"], finding["cell"]["workers"]
    if published is None or not math.isfinite(published):
        return ""
    if published > workers > 1:
        return f"; {workers} workers cannot give more than {workers}x"
    busy = row.get("cpu_per_wall")
    kind = row.get("task_bound")
    cpu_bound = (
        kind == "cpu"
        if kind in ("cpu", "wait")
        else busy is None or not math.isfinite(busy) or busy >= 0.75 * (cores_here or 0)
    )
    if cores_here is not None and published > cores_here and cpu_bound:
        there = f"{cores_there}" if cores_there else "an unstated number"
        return (
            f"; {cores_here} usable cores here vs {there} on the study's machine bound the speedup"
        )
    return ""


def _share(rows: pd.DataFrame, column: str) -> float | None:
    """CPU seconds per wall second over a side's repetitions; None where the clock ticks
    (10 ms) are too coarse for the time measured."""
    if not {column, "wall_s"} <= set(rows.columns):
        return None
    wall = float(rows["wall_s"].sum())
    if wall < MIN_CPU_SHARE_WALL_S:
        return None
    return float(rows[column].sum()) / wall


def _interference(rows: pd.DataFrame, side: str) -> str:
    """A warning when other processes took CPU while a side ran: its time is inflated, and a
    speedup against it can exceed the cores (seen here: 2.15x on 2 cores). Work on the core
    a loop leaves idle counts too: the loop then got 0.82 of its core, not 1."""
    cores = _share(rows, "other_cpu_s")
    if cores is None or cores <= INTERFERENCE_WARN:
        return ""
    return (
        f"; other processes used {cores:.2f} cores while the {side} ran: its time is "
        "inflated, re-run on a quiet machine"
    )


def _rounds_of(rows: pd.DataFrame) -> np.ndarray:
    """A side's wall times as rounds x repetitions (one round when the table has none)."""
    frame = rows.assign(**{c: rows.get(c, "") for c in HOST_CELL})
    frame = frame[frame["wall_s"].notna()]
    tables = round_table(frame)
    return next(iter(tables.values())) if tables else np.empty((0, 0))


def _groups_of(results: _Results, *cells: dict) -> pd.DataFrame:
    """The timed repetitions of every group the cells belong to (for the round model)."""
    parts = []
    for c in cells:
        frame = results.timings(c["experiment"])
        if frame is None or frame.empty:
            continue
        width, height = (int(v) for v in c["size"].split("x"))
        parts.append(
            frame[
                (frame["task"].astype(str) == c["task"])
                & (frame["storage"].astype(str) == c["storage"])
                & (frame["cache"].astype(str) == c["cache"])
                & (frame["width"] == width)
                & (frame["height"] == height)
                & (frame["n_images"] == c["n_images"])
            ]
        )
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts).drop_duplicates()
    frame = frame.assign(**{c: frame.get(c, "") for c in HOST_GROUP})
    return frame[frame["wall_s"].notna()]


def _task_bound(rows: pd.DataFrame, cell: dict) -> str:
    if "task_bound" in rows and rows["task_bound"].notna().any():
        return str(rows["task_bound"].dropna().iloc[0])
    return "wait" if cell["task"] in WAIT_TASKS else "cpu"


def _finding_row(finding: dict, results: _Results, cores_there: int | None) -> dict:
    cell, base, published = finding["cell"], finding["baseline"], finding["published"]
    walls, rows = results.cell(cell)
    base_walls, base_rows = results.cell(base)
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
    }
    median = float(np.median(walls)) if len(walls) else math.nan
    base_median = float(np.median(base_walls)) if len(base_walls) else math.nan
    both = len(walls) >= 2 and len(base_walls) >= 2
    table = _rounds_of(rows) if len(walls) else np.empty((0, 0))
    base_table = _rounds_of(base_rows) if len(base_walls) else np.empty((0, 0))
    rounds, base_rounds = table.shape[0], base_table.shape[0]
    multi = both and (rounds > 1 or base_rounds > 1)
    low, high, _ = median_ci(walls)
    r_low = r_high = math.nan
    if multi:
        lo, hi = hierarchical_median_cis(table) if rounds > 1 else (low, high)
        low, high = float(np.atleast_1d(lo)[0]), float(np.atleast_1d(hi)[0])
        s_low, s_high = (float(v[0]) for v in hierarchical_speedup_cis(base_table, table))
        residual = pooled_round_residual(_groups_of(results, cell, base))
        p, _, r_low, r_high = round_comparison(table, base_table, residual)
        test = TEST_ROUNDS
    else:
        s_low, s_high = speedup_ci(base_walls, walls) if both else (math.nan, math.nan)
        if both:
            # The time ratio cell / baseline at 90%, for the TOST.
            r_low, r_high = speedup_ci(walls, base_walls, level=0.90)
        p = mann_whitney_p(walls, base_walls) if both else math.nan
        test = TEST_MANN_WHITNEY
    speedup = base_median / median if len(walls) and len(base_walls) else math.nan
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
    row.update(
        measured_time_s=median,
        measured_time_ci_low_s=low,
        measured_time_ci_high_s=high,
        measured_baseline_time_s=base_median,
        measured_speedup=speedup,
        speedup_ci_low=s_low,
        speedup_ci_high=s_high,
        mann_whitney_p=p,
        test=test,
        ratio_ci90_low=r_low,
        ratio_ci90_high=r_high,
        equivalent=equivalent(r_low, r_high, DEFAULT_EQUIVALENCE_MARGIN),
        max_missed_difference=max_missed_difference(r_low, r_high),
        bound=limit,
        exceeds_bound=bool(math.isfinite(speedup) and speedup > limit),  # NaN: False
        rounds=rounds,
        baseline_rounds=base_rounds,
        task_bound=task_bound,
    )
    if not len(walls) or not len(base_walls):
        which = cell if not len(walls) else base
        row["verdict"], row["reason"] = NOT_MEASURED, f"not measured: {_missing(results, which)}"
    else:
        row["cpu_per_wall"] = _share(rows, "cpu_s")
        row["verdict"], row["reason"] = _judge(finding, row, here, cores_there)
        row["reason"] += _interference(rows, "cell") + _interference(base_rows, "baseline")
    if finding["why"]:
        row["reason"] += f"; {finding['why']}"
    return row


# ----- outputs ------------------------------------------------------------------------------


def _time(value) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{fmt_seconds(value)} s"


def _versus(cell: dict, base: dict) -> str:
    """The baseline in words, as what it changes in the cell."""
    changed = [k for k in CELL_KEYS if base[k] != cell[k] and k not in ("strategy", "workers")]
    told = [f"{k} {base[k]}" for k in changed]
    if (base["strategy"], base["workers"]) != (cell["strategy"], cell["workers"]):
        told.insert(0, _who(base))
    return "vs " + ", ".join(told)


def _table_row(finding: dict, row: dict) -> dict:
    measured = _time(row["measured_time_s"])
    if row["reps"] > 1:
        low, high = row["measured_time_ci_low_s"], row["measured_time_ci_high_s"]
        measured += f" ({fmt_seconds(low)}–{fmt_seconds(high)})"
    speedup, published = row["measured_speedup"], row["published_speedup"]
    return {
        "id": row["id"],
        "claim": row["claim"],
        "cell": _describe(finding["cell"]),
        "versus": _versus(finding["cell"], finding["baseline"]),
        "published_time": _time(row["published_time_s"]),
        "published_baseline": _time(row["published_baseline_time_s"]),
        "published_speedup": "—" if published is None else fmt_speedup(published),
        "measured_time": measured,
        "measured_baseline": _time(row["measured_baseline_time_s"]),
        "measured_speedup": "—"
        if not math.isfinite(speedup)
        else fmt_speedup_ci(speedup, row["speedup_ci_low"], row["speedup_ci_high"]),
        "verdict": row["verdict"],
        "css": "v-" + row["verdict"].replace(" ", "-"),
        "mark": MARKS[row["verdict"]],
        "reason": row["reason"],
    }


def _machine(hosts: list[dict]) -> str:
    if not hosts:
        return "no results yet"
    return "; ".join(
        f"{h.get('hostname') or 'n/a'}, {h.get('cpu_model') or 'n/a'}, "
        f"{h.get('usable_cores') or 'n/a'} usable cores"
        for h in hosts
    )


def build_reference(
    reference_yaml: Path, results_dir: Path, html_out: Path, csv_out: Path
) -> pd.DataFrame:
    """Compare every finding of a reference file with our results; write the CSV and deck.

    A finding whose experiment or cells were not run is "not measured", never an error.
    Both files are replaced atomically. Returns the CSV's frame (``COLUMNS``).
    """
    ref = load_reference(reference_yaml)
    results = _Results(results_dir)
    rows = [_finding_row(f, results, ref["cores"]) for f in ref["findings"]]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    write_atomic(Path(csv_out), frame.to_csv(index=False).encode("utf-8"))

    table = [_table_row(f, r) for f, r in zip(ref["findings"], rows, strict=True)]
    experiments = sorted(
        {f[k]["experiment"] for f in ref["findings"] for k in ("cell", "baseline")}
    )
    tally = pd.Series([r["verdict"] for r in rows]).value_counts()
    env = Environment(
        loader=PackageLoader("imgbench.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("reference.html.j2").render(
        study=ref["study"],
        source=ref["source"],
        machine=ref["machine"],
        cores="unknown" if ref["cores"] is None else str(ref["cores"]),
        method=ref["method"],
        ours=_machine(results.hosts(experiments)),
        tally=", ".join(f"{count} {verdict}" for verdict, count in tally.items()),
        pages=[table[i : i + ROWS_PER_SLIDE] for i in range(0, len(table), ROWS_PER_SLIDE)],
        flaws=ref["flaws"],
        departures=ref["departures"],
        alpha=ALPHA,
    )
    write_atomic(Path(html_out), html.encode("utf-8"))
    return frame
