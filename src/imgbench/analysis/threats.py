"""Threats to the validity of an experiment's results, detected from its tables and metadata.

Each check returns a ``Fact``: its topic, a status (``OK``: checked, nothing found;
``WARN``: found; ``INFO``: a stated fact, or not measured, which is never "nothing found"),
the value it judged, the threshold it judged it by, and the cells involved, worst first.
Nothing here is a sentence: the deck (``imgbench.report.deck``) words each fact.

Each threshold is defined once, here or in ``imgbench.analysis.thresholds`` where other
parts of the analysis judge by it too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from imgbench.analysis.metadata import CPU_MODELS_TOPIC, PROCESS_POOLS
from imgbench.analysis.thresholds import INTERFERENCE_SHARE
from imgbench.measure.strategies import STRATEGIES
from imgbench.vocabulary import BASELINE
from imgbench.words import is_missing, is_true, number

OK, WARN, INFO = "ok", "warn", "info"
#: Above this coefficient of variation a cell's repetitions disagree enough to mention.
CV_WARN = 0.10
#: Above this fraction of the inputs still cached, a "cold" repetition was partly warm.
RESIDENT_WARN = 0.01
#: CPU time stolen by a hypervisor, in cores, above which a cell is flagged.
STEAL_WARN = 0.05
#: Below this confidence level the median's interval says too little: too few repetitions.
CI_LEVEL_WANTED = 0.95
#: The start method whose workers inherit the parent's loaded modules.
FORK = "fork"
#: Saving tasks (their files are written inside the timer) where results do not say.
SAVING_TASK_PREFIXES = ("save_", "blur_thumbnail")
#: Strategies whose workers are operations in flight in one process (threads, coroutines).
IN_FLIGHT_STRATEGIES = ("threads", "asyncio")


@dataclass(frozen=True)
class Fact:
    """One threat, checked: ``value`` judged against ``threshold`` (None where the check is
    not a comparison), ``cells`` the rows of the cells involved (worst first) out of
    ``checked`` cells, and ``details`` the other values that the check read."""

    topic: str
    status: str
    value: float | None = None
    threshold: float | None = None
    cells: tuple[dict, ...] = ()
    checked: int = 0
    details: Mapping = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return self.status == WARN


def _warn(found: bool) -> str:
    return WARN if found else OK


def _rows(frame: pd.DataFrame) -> tuple[dict, ...]:
    return tuple(frame.to_dict("records"))


def flags(frame: pd.DataFrame, column: str) -> pd.Series:
    """A boolean column of a table (False where missing); all False without the column."""
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].map(is_true).astype(bool)


def distinct(frame: pd.DataFrame, column: str) -> list:
    """The sorted distinct values of a column; [] without it."""
    return sorted(pd.unique(frame[column].dropna())) if column in frame.columns else []


def usable_cores(meta: dict, summary: pd.DataFrame) -> int | None:
    """The fewest usable cores of any host (metadata first, else the summary)."""
    cores = [h.get("usable_cores") for h in meta.get("hosts", []) if h.get("usable_cores")]
    if cores:
        return min(cores)
    if "usable_cores" in summary.columns and summary["usable_cores"].notna().any():
        return int(summary["usable_cores"].min())
    return None


# ----- the machine and the method -----------------------------------------------------------


def interference(meta: dict, summary: pd.DataFrame) -> Fact:
    """Cores other processes used during one cell's repetitions, at most (INFO: not
    measured); ``details`` has the usable cores and the highest 1-minute load average."""
    other = meta.get("other_cpu_per_wall_max")
    details = {"usable_cores": usable_cores(meta, summary), "load": meta.get("load_average_1m_max")}
    if other is None:
        return Fact("Interference", INFO, details=details)
    busy = other > INTERFERENCE_SHARE
    return Fact("Interference", _warn(busy), other, INTERFERENCE_SHARE, details=details)


def steal(meta: dict) -> Fact | None:
    """Cores a hypervisor took during one cell's repetitions, at most; None if unrecorded."""
    value = meta.get("steal_per_wall_max")
    if value is None:
        return None
    return Fact("Virtual machine", _warn(value > STEAL_WARN), value, STEAL_WARN)


def hosts(meta: dict) -> Fact:
    """The hosts and CPU models that took part: several CPU models warn."""
    machines, cpus = meta.get("hosts", []), meta.get("cpu_models", [])
    details = {"hosts": machines, "cpu_models": cpus}
    return Fact("Hosts", _warn(len(cpus) > 1), len(cpus), 1, details=details)


def cold_cells(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["cache"] == "cold"] if "cache" in summary.columns else summary.iloc[0:0]


def cache(meta: dict, summary: pd.DataFrame) -> Fact:
    """Whether cold cells were cold: eviction method "none", or more than ``RESIDENT_WARN``
    of the inputs still cached before a cold repetition."""
    resident = meta.get("cold_resident_fraction_max")
    methods = meta.get("cache_methods", [])
    cold = summary[summary["cache"] == "cold"] if "cache" in summary.columns else summary
    not_evicted = "none" in methods
    details = {"methods": methods, "not_evicted": not_evicted, "cold": not cold.empty}
    if cold.empty:
        return Fact("Cache", OK, details=details)
    partly_warm = resident is not None and resident > RESIDENT_WARN
    return Fact(
        "Cache", _warn(not_evicted or partly_warm), resident, RESIDENT_WARN, details=details
    )


def eviction(meta: dict, summary: pd.DataFrame) -> Fact | None:
    """How cold cells were made cold; None without cold cells. System-wide eviction warns
    (it evicts the interpreter too); ``details["methods"]``: the methods (INFO: none
    recorded)."""
    if cold_cells(summary).empty:
        return None
    methods = [str(m) for m in meta.get("eviction_methods") or []]
    if not methods and "eviction" in summary.columns:
        values = cold_cells(summary)["eviction"].dropna().astype(str)
        methods = sorted({m for v in values for m in v.split(",") if m})
    if not methods:
        return Fact("Eviction", INFO, details={"methods": []})
    return Fact("Eviction", _warn("system" in methods), details={"methods": methods})


def start_methods(meta: dict, summary: pd.DataFrame) -> dict[str, float]:
    """Each start method with its median time until every pool worker had started:
    ``start_methods`` of metadata.json, else the methods named and the summary's
    ``median_pool_ready_s`` (NaN where not recorded)."""
    recorded = meta.get("start_methods")
    if isinstance(recorded, dict) and recorded:
        return {
            str(m): number(v.get("median_pool_ready_s") if isinstance(v, dict) else v)
            for m, v in recorded.items()
        }
    names = meta.get("mp_start_methods") or distinct(summary, "mp_start_method")
    out = {}
    for name in names:
        value = math.nan
        if all(c in summary.columns for c in ("mp_start_method", "median_pool_ready_s")):
            ready = summary.loc[summary["mp_start_method"] == name, "median_pool_ready_s"]
            ready = pd.to_numeric(ready, errors="coerce").dropna()
            value = float(ready.median()) if len(ready) else math.nan
        out[str(name)] = value
    return out


def start_costs(meta: dict, summary: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Each start method's cost of starting a process pool: ``pool_ready_s``, the median
    time until every worker of a per-batch process pool had started, and ``pool_start_s``,
    the median making and warming of a kept one (NaN: none ran). From ``start_costs`` of
    metadata.json; a metadata.json of before them gives none (its ``start_methods`` say every
    pool's start-up); without metadata, from the summary's per-batch process-pool cells (no
    pool start there)."""
    recorded = meta.get("start_costs")
    if isinstance(recorded, dict) and recorded:
        return {
            str(m): {
                key: number(v.get(key)) if isinstance(v, dict) else math.nan
                for key in ("pool_ready_s", "pool_start_s")
            }
            for m, v in recorded.items()
        }
    if meta.get("start_methods") or meta.get("mp_start_methods"):
        return {}
    needed = ("strategy", "mp_start_method", "median_pool_ready_s")
    if not all(c in summary.columns for c in needed):
        return {}
    strategy = summary["strategy"].astype(str).map(STRATEGIES.get)
    pooled = strategy.map(
        lambda s: s is not None and s.pool in PROCESS_POOLS and not s.persistent
    ).astype(bool)
    out = {}
    for method, cells in summary[pooled].groupby(summary["mp_start_method"].astype(str)):
        ready = pd.to_numeric(cells["median_pool_ready_s"], errors="coerce").dropna()
        out[str(method)] = {
            "pool_ready_s": float(ready.median()) if len(ready) else math.nan,
            "pool_start_s": math.nan,
        }
    return out


def start_method(meta: dict, summary: pd.DataFrame) -> Fact:
    """The multiprocessing start methods (``details["methods"]``: name -> median pool
    start-up over every pool, threads' too), what starting a process pool cost under each
    (``details["costs"]``, ``start_costs``) and the methods that are not fork
    (``details["others"]``), which warn: their workers import the engine inside the timer.
    INFO when none is recorded."""
    methods = start_methods(meta, summary)
    others = sorted(m for m in methods if m != FORK)
    details = {"methods": methods, "others": others, "costs": start_costs(meta, summary)}
    if not methods:
        return Fact("Start method", INFO, details=details)
    return Fact("Start method", _warn(bool(others)), details=details)


def durability(meta: dict, summary: pd.DataFrame) -> Fact | None:
    """What "written" means for the tasks that save (``details``: the tasks fsynced and
    those left in the page cache); None when no task saves. Always INFO: a stated fact."""
    recorded = meta.get("durability")
    saving = [t for t in distinct(summary, "task") if str(t).startswith(SAVING_TASK_PREFIXES)]
    if not (isinstance(recorded, dict) and recorded) and not saving:
        return None
    by_task = dict(recorded) if isinstance(recorded, dict) else {}
    for task in saving:
        by_task.setdefault(str(task), "not recorded: none")
    synced = sorted(t for t, v in by_task.items() if "fsync" in str(v))
    cached = sorted(t for t, v in by_task.items() if "fsync" not in str(v))
    return Fact("Save durability", INFO, details={"synced": synced, "cached": cached})


def memory(summary: pd.DataFrame) -> Fact:
    """The cell with the largest whole-cell peak memory (``details["kind"]`` "PSS" or
    "USS"), or, where it was not measured, the parent's largest peak RSS (``value``).
    Always INFO: a stated fact."""
    columns = [c for c in ("max_tree_pss_bytes", "max_tree_uss_bytes") if c in summary.columns]
    tree = (
        pd.to_numeric(summary[columns[0]], errors="coerce") if columns else pd.Series(dtype=float)
    )
    if tree.dropna().empty:
        parent = summary.get("max_peak_rss_bytes")
        biggest = pd.to_numeric(parent, errors="coerce").max() if parent is not None else None
        return Fact("Memory", INFO, biggest, details={"kind": None})
    row = summary.loc[tree.idxmax()]
    kind = "PSS" if columns[0] == "max_tree_pss_bytes" else "USS"
    return Fact("Memory", INFO, row[columns[0]], cells=(row.to_dict(),), details={"kind": kind})


def rounds(meta: dict, summary: pd.DataFrame) -> Fact:
    """How many rounds each cell ran (``details["counts"]``): one round, or none recorded,
    warns (drift between cells is invisible to every CI)."""
    counts = [int(r) for r in meta.get("rounds") or [] if number(r) == number(r)]
    if not counts and "rounds" in summary.columns:
        counts = sorted(
            {int(r) for r in pd.to_numeric(summary["rounds"], errors="coerce").dropna()}
        )
    details = {"counts": counts, "repeats": meta.get("repeats", [])}
    return Fact("Rounds", _warn(not counts or max(counts) <= 1), details=details)


def ci_level(summary: pd.DataFrame) -> Fact | None:
    """The lowest confidence level of a median's CI against ``CI_LEVEL_WANTED``; None
    without levels."""
    levels = summary["ci_level"].dropna() if "ci_level" in summary.columns else pd.Series([])
    if levels.empty:
        return None
    lowest = levels.min()
    return Fact("Repetitions", _warn(lowest < CI_LEVEL_WANTED), lowest, CI_LEVEL_WANTED)


def missing_cells(meta: dict) -> Fact | None:
    """The expected cells without a result; None when none is missing."""
    missing = meta.get("missing_cells") or []
    if not missing:
        return None
    details = {"expected": meta.get("expected_cells")}
    return Fact("Missing cells", WARN, len(missing), details=details)


def warnings(meta: dict) -> list[Fact]:
    """The analysis's warnings (but the CPU models', which the hosts fact covers) and the
    run's, each a WARN whose ``details["text"]`` is the warning as written."""
    out = []
    aggregate = [w for w in meta.get("aggregate_warnings", []) if isinstance(w, dict)]
    for warning in aggregate:
        if warning.get("topic") != CPU_MODELS_TOPIC:
            out.append(Fact(str(warning.get("topic")), WARN, details={"text": warning.get("text")}))
    shown = {w.get("text") for w in aggregate}
    for warning in meta.get("warnings", []):
        if warning not in shown:
            out.append(Fact("Run warning", WARN, details={"text": warning}))
    return out


# ----- the cells and the claims -------------------------------------------------------------


def spread(summary: pd.DataFrame) -> Fact | None:
    """Cells whose coefficient of variation exceeds ``CV_WARN``, noisiest first."""
    if "cv" not in summary.columns or summary.empty:
        return None
    noisy = summary[summary["cv"] > CV_WARN].sort_values("cv", ascending=False)
    return Fact(
        "Repetition spread",
        _warn(not noisy.empty),
        threshold=CV_WARN,
        cells=_rows(noisy),
        checked=len(summary),
    )


def outliers(summary: pd.DataFrame) -> Fact | None:
    """Cells with Tukey outliers; ``value``: how many repetitions are outliers in all."""
    if "outliers" not in summary.columns or summary.empty:
        return None
    counts = pd.to_numeric(summary["outliers"], errors="coerce").fillna(0)
    odd = summary[counts > 0]
    return Fact("Outliers", _warn(not odd.empty), int(counts.sum()), 0, _rows(odd), len(summary))


def rounds_disagree(summary: pd.DataFrame) -> Fact:
    """Cells whose rounds' medians disagree beyond the spread within a round, widest
    first (INFO: tables without rounds)."""
    if "rounds_disagree" not in summary.columns:
        return Fact("Rounds disagree", INFO)
    split = summary[flags(summary, "rounds_disagree")]
    split = split.sort_values("round_spread", ascending=False) if "round_spread" in split else split
    return Fact("Rounds disagree", _warn(not split.empty), cells=_rows(split), checked=len(summary))


def physical_bound(speedup: pd.DataFrame | None, recommendations: pd.DataFrame | None) -> Fact:
    """Speedups over the loop above their physical bound (``cells``), and the sentences of
    the recommendations withheld or flagged for it (``details["sentences"]``); INFO for
    tables without bounds."""
    speedup = speedup if speedup is not None else pd.DataFrame()
    if "exceeds_bound" not in speedup.columns:
        return Fact("Physical bound", INFO)
    rows = speedup[(speedup.get("baseline") == BASELINE) & flags(speedup, "exceeds_bound")]
    flagged = pd.DataFrame()
    if recommendations is not None and not recommendations.empty:
        flagged = recommendations[
            flags(recommendations, "withheld") | flags(recommendations, "exceeds_bound")
        ]
    sentences = [str(t) for t in flagged.get("sentence", []) if isinstance(t, str) and t]
    return Fact(
        "Physical bound",
        _warn(not rows.empty or bool(sentences)),
        cells=_rows(rows),
        details={"sentences": sentences},
    )


def extra_reads(summary: pd.DataFrame) -> Fact:
    """Cells that read much more from storage than their inputs and their group (INFO:
    bytes read not measured)."""
    measured = "median_extra_read_bytes" not in summary.columns or bool(
        pd.to_numeric(summary["median_extra_read_bytes"], errors="coerce").notna().any()
    )
    if "extra_reads_flag" not in summary.columns or not measured:
        return Fact("Extra reads", INFO)
    extra = summary[flags(summary, "extra_reads_flag")]
    return Fact("Extra reads", _warn(not extra.empty), cells=_rows(extra), checked=len(summary))


def imports(summary: pd.DataFrame) -> Fact:
    """Cells whose workers imported modules inside the timer (INFO: not tracked)."""
    if "imported_modules" not in summary.columns:
        return Fact("Imports inside the timer", INFO)
    modules = summary["imported_modules"].map(lambda v: "" if is_missing(v) else str(v).strip())
    importing = summary[modules != ""]
    return Fact(
        "Imports inside the timer",
        _warn(not importing.empty),
        cells=_rows(importing),
        checked=len(summary),
    )


def in_flight(summary: pd.DataFrame) -> Fact | None:
    """Thread and asyncio cells that ran fewer operations at once than min(workers,
    images) (INFO: not recorded); None without such cells."""
    pooled = summary["strategy"].isin(IN_FLIGHT_STRATEGIES)
    peak = (
        pd.to_numeric(summary["max_peak_in_flight"], errors="coerce")
        if "max_peak_in_flight" in summary.columns
        else pd.Series(math.nan, index=summary.index)
    )
    if (pooled & peak.notna()).any():
        wanted = np.minimum(summary["workers"].astype(float), summary["n_images"].astype(float))
        short = summary[pooled & peak.notna() & (peak < wanted)]
        return Fact(
            "Operations in flight",
            _warn(not short.empty),
            cells=_rows(short),
            checked=int(pooled.sum()),
        )
    if pooled.any():
        return Fact("Operations in flight", INFO)
    return None


def claims(
    summary: pd.DataFrame,
    meta: dict,
    speedup: pd.DataFrame | None,
    recommendations: pd.DataFrame | None,
) -> list[Fact]:
    """The facts about the cells' measurements that the claims rest on: rounds, rounds
    that disagree, physical bounds, extra reads, imports inside the timer, operations in
    flight ([] without cells)."""
    if summary.empty:
        return []
    found = [
        rounds(meta, summary),
        rounds_disagree(summary),
        physical_bound(speedup, recommendations),
        extra_reads(summary),
        imports(summary),
        in_flight(summary),
    ]
    return [f for f in found if f is not None]


def threats(
    summary: pd.DataFrame,
    meta: dict,
    speedup: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> list[Fact]:
    """Every threat to validity, in the order the deck shows them: interference, the
    virtual machine, repetition spread, outliers, hosts, cache state, eviction, start
    method, save durability, memory, the claims' facts, repetitions, missing cells and
    warnings."""
    found = [
        interference(meta, summary),
        steal(meta),
        spread(summary),
        outliers(summary),
        hosts(meta),
        cache(meta, summary),
        eviction(meta, summary),
        start_method(meta, summary),
        durability(meta, summary),
        memory(summary) if not summary.empty else None,
        *claims(summary, meta, speedup, recommendations),
        ci_level(summary),
        missing_cells(meta),
        *warnings(meta),
    ]
    return [f for f in found if f is not None]
