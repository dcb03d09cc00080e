"""The threats to validity in words: one sentence per fact of ``imgbench.analysis.threats``.

The analysis decides (status, value, threshold, cells); this module only says it, and
gives each fact its mark (``mark``): a tick only for a check that was measured and found
nothing; a warning for one that found something; a neutral mark for a stated fact, for
something not measured, and for a check that had nothing to judge (no cold cells, no cells
of its kind, a value not recorded), so that nothing unmeasured is ever ticked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import pandas as pd

from imgbench import words
from imgbench.analysis import threats as facts
from imgbench.analysis.threats import INFO, OK, WARN, Fact
from imgbench.analysis.thresholds import BOUND_MARGIN
from imgbench.report.deck.machine import host_names
from imgbench.report.deck.model import several_hosts

#: How many offending cells a threat names before it only counts them.
NAMED_CELLS = 4
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


#: The marks of a fact on the slide: (symbol, CSS class) of a check measured and passed, of
#: a threat found, and of anything else (stated, not measured, nothing to judge).
PASSED, FOUND, NEUTRAL = ("✓", "ok"), ("!", "warn-item"), ("–", "info")
#: What the marks mean, under the first threats slide.
LEGEND = (
    "✓: checked on these results, nothing found; !: a threat to these results; –: stated, "
    "not measured, or nothing to check (never ticked)."
)


def _judged_nothing(fact: Fact) -> bool:
    """Whether an OK fact had nothing to judge: no cold cells (cache), a residency not
    recorded (cache), or none of the cells its check counts."""
    if fact.topic == "Cache":
        return not fact.details.get("cold") or (
            fact.value is None and not fact.details.get("not_evicted")
        )
    if fact.topic in ("Interference", "Virtual machine", "Repetitions"):
        return fact.value is None
    counted = fact.topic in (
        "Repetition spread",
        "Outliers",
        "Rounds disagree",
        "Extra reads",
        "Imports inside the timer",
        "Operations in flight",
    )
    return counted and fact.checked == 0


def mark(fact: Fact) -> tuple[str, str]:
    """The fact's mark on the slide, (symbol, CSS class): ``PASSED`` only for a check
    measured and passed, ``FOUND`` for a threat, ``NEUTRAL`` for anything else."""
    if fact.status == WARN:
        return FOUND
    if fact.status == OK and not _judged_nothing(fact):
        return PASSED
    return NEUTRAL


def _named(rows: Iterable[dict], describe: Callable) -> str:
    rows = list(rows)
    names = [describe(r) for r in rows[:NAMED_CELLS]]
    more = len(rows) - len(names)
    return "; ".join(names) + (f"; and {more} more" if more > 0 else "")


def _ending(found: bool, text: str, other: str = ".") -> str:
    return text if found else other


# ----- the machine and the method -----------------------------------------------------------


def _interference(fact: Fact, hosted: bool) -> str:
    load = fact.details["load"]
    load_text = (
        ""
        if load is None
        else f" The 1-minute load average before cells reached {words.decimal(load)}, but it "
        "mostly reflects the previous cells' own workers (it decays over a minute), so it is "
        "not taken as interference."
    )
    if fact.value is None:
        return (
            "Not measured: no cell ran 1 s of timed wall time (CPU time is counted in 10 ms "
            "ticks)." + load_text
        )
    return (
        f"Other processes used up to {words.decimal(fact.value)} cores (of "
        f"{words.text(fact.details['usable_cores'])} usable) during one cell's repetitions"
        + _ending(fact.found, ": its times may include interference.")
        + load_text
    )


def _steal(fact: Fact, hosted: bool) -> str:
    return (
        f"The hypervisor took up to {words.decimal(fact.value)} cores from this machine (steal "
        "time) during one cell's repetitions"
        + _ending(fact.found, ": its times include another VM's load.")
        + " Other host contention (a busy SMT sibling, frequency changes) is invisible "
        "from inside, so compare runs, not only the CIs of one run."
    )


def _hosts(fact: Fact, hosted: bool) -> str:
    hosts, cpus = fact.details["hosts"], fact.details["cpu_models"]
    if fact.found:
        return (
            f"Cells ran on {len(hosts)} hosts with {len(cpus)} CPU models "
            f"({words.joined(cpus)}): each host is analysed on its own, against its own serial "
            "loop; compare hosts side by side, never one host's cell against another's."
        )
    if len(hosts) > 1:
        return (
            f"Cells ran on {len(hosts)} hosts ({words.joined(host_names(hosts))}), all with "
            f"{words.joined(cpus)}: each host is analysed on its own, against its own serial "
            "loop."
        )
    return (
        f"Every cell ran on one host ({words.joined(h.get('hostname') for h in hosts)}, "
        f"{words.joined(cpus)})."
    )


def _cache(fact: Fact, hosted: bool) -> str:
    if not fact.details["cold"]:
        return "No cold-cache cells were measured."
    text = []
    if fact.details["not_evicted"]:
        text.append(
            "The page cache could not be evicted for some cold repetitions (method "
            "“none”): cold results may be warm."
        )
    if fact.value is not None:
        partly_warm = fact.value > fact.threshold
        text.append(
            f"Up to {words.percent(fact.value)} of the inputs were still cached before a cold "
            "repetition" + _ending(partly_warm, ": cold results may be partly warm.")
        )
    return " ".join(text) or f"Cold cells were prepared by {words.joined(fact.details['methods'])}."


def _eviction(fact: Fact, hosted: bool) -> str:
    methods = fact.details["methods"]
    if fact.status == INFO:
        return (
            "not recorded (results before it): cold cells may have dropped the whole "
            "page cache, interpreter included."
        )
    if fact.found:
        return (
            f"{words.joined(methods)}. System eviction (drop_caches) empties the whole "
            "page cache, the interpreter's libraries and .pyc files too: every new worker "
            "re-reads them from storage inside the timer, a cost process pools pay and the "
            "loop and threads do not."
        )
    return (
        f"{words.joined(methods)}: only the inputs' pages (and a saving task's output "
        "directory) are evicted, file by file, verified with mincore; the interpreter stays "
        "cached, as for any program that runs twice."
    )


def _start_cost(ready: float, cost: dict | None) -> str:
    """What starting a pool cost under one start method: a process pool's, made per batch
    and kept, where recorded (``start_costs``), else every pool's start-up."""
    pieces = []
    if cost and math.isfinite(cost["pool_ready_s"]):
        pieces.append(
            "a process pool made per batch had every worker started after a median "
            f"{words.milliseconds(cost['pool_ready_s'])} ms"
        )
    if cost and math.isfinite(cost["pool_start_s"]):
        pieces.append(
            f"a kept one took {words.milliseconds(cost['pool_start_s'])} ms to make and warm"
        )
    if pieces:
        return ", ".join(pieces)
    if math.isfinite(ready):
        return f"every pool worker had started after a median {words.milliseconds(ready)} ms"
    return "pool start-up not recorded"


def _start_method(fact: Fact, hosted: bool) -> str:
    methods, others = fact.details["methods"], fact.details["others"]
    costs = fact.details.get("costs") or {}
    if not methods:
        return "not recorded."
    parts = [
        f"{name} ({_start_cost(ready, costs.get(name))})" for name, ready in sorted(methods.items())
    ]
    text = "; ".join(parts) + "."
    if not others:
        return text + " Forked workers inherit the modules the parent loaded untimed."
    return text + (
        f" {words.joined(others)} is not fork: every worker of every pool starts a new "
        "interpreter and imports the engine inside the timer (forkserver preloads it in its "
        "server once), a start cost that fork does not pay and that every process-pool time "
        "includes."
    )


def _durability(fact: Fact, hosted: bool) -> str:
    cached, synced = fact.details["cached"], fact.details["synced"]
    parts = []
    if cached:
        parts.append(
            f"{words.joined(cached)}: page cache (durability none): the timer stops before the "
            "files reach the disk"
        )
    if synced:
        parts.append(
            f"{words.joined(synced)}: durability fsync, every file fsynced inside the timer"
        )
    return "; ".join(parts) + "."


def _memory(fact: Fact, hosted: bool) -> str:
    kind = fact.details["kind"]
    if kind is None:
        return (
            f"Peak memory: the parent process's peak RSS only (up to {words.mib(fact.value)}); "
            "the workers' memory was not measured."
        )
    (row,) = fact.cells
    uss = (
        f", USS {words.mib(row.get('max_tree_uss_bytes'))}"
        if kind == "PSS" and math.isfinite(words.number(row.get("max_tree_uss_bytes")))
        else ""
    )
    return (
        f"Peak memory of the whole cell (parent + every worker, {kind}, sampled during the "
        "warm-up repetitions, which do the same work untimed: sampling slowed timed process "
        f"pools by 3-6%) beside the parent's own peak RSS: largest {words.cell_name(row)}, "
        f"{words.mib(fact.value)}{uss} against the parent's "
        f"{words.mib(row.get('max_peak_rss_bytes'))}."
    )


def _rounds(fact: Fact, hosted: bool) -> str:
    counts = fact.details["counts"]
    repeats = words.joined(fact.details["repeats"])
    if not counts:
        return (
            "not recorded (results before rounds): all repetitions of a cell ran "
            "back-to-back in one process, and cells ran one after another in a fixed order, so "
            "drift of the machine between cells is invisible to every confidence interval."
        )
    if fact.found:
        return (
            f"1 ({repeats} repetitions per cell in one process): cells ran one after "
            "another, so drift of the machine between two cells is invisible to every "
            "confidence interval."
        )
    return (
        f"{words.joined(counts)} per cell, each a separate job of {repeats} repetitions; "
        "round by round (round r of every cell before round r+1 of any), the jobs of a round "
        "in a seeded random order, so a slow period of the machine falls on many strategies. "
        "The rounds are the experimental unit: CIs resample rounds, then repetitions."
    )


def _ci_level(fact: Fact, hosted: bool) -> str:
    wanted = f"{fact.threshold:.0%}"
    return f"The median's CI reaches {words.percent(fact.value)}" + (
        f", below {wanted}: too few repetitions (6 or more give 95%)."
        if fact.found
        else f" or more in every cell ({wanted} wanted)."
    )


def _missing_cells(fact: Fact, hosted: bool) -> str:
    return (
        f"{fact.value} of {words.text(fact.details['expected'])} expected cells have no "
        "result (see “Missing cells”): every table, figure and verdict covers only the "
        "cells that ran, and a group that lost its fastest cell may name another."
    )


# ----- the cells and the claims -------------------------------------------------------------


def _spread(fact: Fact, hosted: bool) -> str:
    def name(row) -> str:
        return f"{words.cell_name(row, hosted)} CV {words.percent(row['cv'], 0)}"

    return (
        f"{len(fact.cells)} of {fact.checked} cells vary by more than {fact.threshold:.0%} "
        "(coefficient of variation) between repetitions"
        + _ending(fact.found, f": their medians are less sure ({_named(fact.cells, name)}).")
    )


def _outliers(fact: Fact, hosted: bool) -> str:
    def name(row) -> str:
        return words.cell_name(row, hosted)

    return (
        f"{len(fact.cells)} cells have Tukey outliers ({fact.value} repetitions outside "
        "1.5 IQR), reported, never removed" + _ending(fact.found, f": {_named(fact.cells, name)}.")
    )


def _rounds_disagree(fact: Fact, hosted: bool) -> str:
    if fact.status == INFO:
        return "Not checked: these tables have no rounds."

    def name(row) -> str:
        spread = words.percent(row.get("round_spread"), 0)
        return f"{words.cell_name(row, hosted)} spread {spread}"

    n = len(fact.cells)
    return (
        f"{n} of {fact.checked} cells {words.have(n)} rounds whose medians disagree beyond "
        "what the spread within a round explains"
        + _ending(
            fact.found,
            f": the machine drifted between their jobs ({_named(fact.cells, name)}).",
        )
    )


def _physical_bound(fact: Fact, hosted: bool) -> str:
    if fact.status == INFO:
        return (
            "Not checked: these tables carry no bound; a speedup above min(workers, usable "
            "cores) for CPU work cannot be a finding."
        )

    def name(row) -> str:
        return (
            f"{words.cell_name(row, hosted)} {words.speedup(row.get('speedup'))} > "
            f"{words.integer(row.get('bound'))}"
        )

    rows = fact.cells
    text = (
        f"{words.count(len(rows), 'speedup')} over the serial loop "
        f"{'exceeds its' if len(rows) == 1 else 'exceed their'} physical bound "
        "(CPU work: min(workers, usable cores); waiting work: workers) by more than "
        f"{words.percent(BOUND_MARGIN, 0)} or significantly, flagged and never reported as "
        "findings"
    )
    text += f": {_named(rows, name)}." if rows else "."
    sentences = fact.details["sentences"]
    if sentences:
        shown = sentences[:NAMED_CELLS]
        more = len(sentences) - len(shown)
        text += " " + " ".join(shown) + (f" (and {more} more withheld)" if more > 0 else "")
    return text


def _extra_reads(fact: Fact, hosted: bool) -> str:
    if fact.status == INFO:
        return "Not recorded: bytes read beyond the inputs were not measured."

    def name(row) -> str:
        extra = words.mib(row.get("median_extra_read_bytes"))
        return f"{words.cell_name(row, hosted)} +{extra} a repetition"

    return (
        f"{words.count(len(fact.cells), 'cell')} read much more from storage than the inputs "
        "and than the other cells of their group"
        + _ending(
            fact.found,
            f": {_named(fact.cells, name)}: their times include reading more than their inputs.",
        )
    )


def _imports(fact: Fact, hosted: bool) -> str:
    if fact.status == INFO:
        return "Not recorded: workers' imports were not tracked."

    def name(row) -> str:
        modules = str(row["imported_modules"]).replace(";", ", ")
        return f"{words.cell_name(row, hosted)} ({modules})"

    return (
        f"{words.count(len(fact.cells), 'cell')} had workers that imported modules inside the "
        "timer"
        + _ending(
            fact.found,
            f": {_named(fact.cells, name)}: their times include first-use costs.",
            ": the task ran once untimed before any pool started.",
        )
    )


def _in_flight(fact: Fact, hosted: bool) -> str:
    if fact.status == INFO:
        return "Not recorded: how many operations thread and asyncio cells ran at once."

    def name(row) -> str:
        return f"{words.cell_name(row, hosted)} at most {words.integer(row['max_peak_in_flight'])}"

    return (
        f"{words.count(len(fact.cells), 'thread or asyncio cell')} ran fewer operations at once "
        "than their workers"
        + _ending(
            fact.found,
            f": {_named(fact.cells, name)}: their label overstates their parallelism.",
        )
    )


def _warning(fact: Fact, hosted: bool) -> str:
    return str(fact.details["text"])


_SENTENCES: dict[str, Callable[[Fact, bool], str]] = {
    "Interference": _interference,
    "Virtual machine": _steal,
    "Repetition spread": _spread,
    "Outliers": _outliers,
    "Hosts": _hosts,
    "Cache": _cache,
    "Eviction": _eviction,
    "Start method": _start_method,
    "Save durability": _durability,
    "Memory": _memory,
    "Rounds": _rounds,
    "Rounds disagree": _rounds_disagree,
    "Physical bound": _physical_bound,
    "Extra reads": _extra_reads,
    "Imports inside the timer": _imports,
    "Operations in flight": _in_flight,
    "Repetitions": _ci_level,
    "Missing cells": _missing_cells,
}


def word(fact: Fact, hosted: bool = False) -> str:
    """The fact as a sentence; ``hosted``: cells are named with their host. A warning of
    the analysis or the run is its own text."""
    # A warning of the analysis or the run carries its own text (e.g. "Hosts": one hostname
    # with two CPU models), whatever its topic.
    if fact.topic == "Run warning" or fact.topic not in _SENTENCES or "text" in fact.details:
        return _warning(fact, hosted)
    return _SENTENCES[fact.topic](fact, hosted)


def threats(
    summary: pd.DataFrame,
    meta: dict,
    speedup: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> list[dict]:
    """The threats to validity for the slides, each ``{"topic", "status", "text", "part",
    "mark", "css"}``: status as the analysis gave it ("ok", "warn", "info"), ``mark`` and
    ``css`` its mark on the slide (``mark``: a tick only for a check measured and passed);
    part "claims" for the topics of ``CLAIM_TOPICS``, else "machine". The facts are
    ``imgbench.analysis.threats.threats``'s, in its order."""
    hosted = several_hosts(summary)
    out = []
    for fact in facts.threats(summary, meta, speedup, recommendations):
        symbol, css = mark(fact)
        out.append(
            {
                "topic": fact.topic,
                "status": fact.status,
                "text": word(fact, hosted),
                "part": "claims" if fact.topic in CLAIM_TOPICS else "machine",
                "mark": symbol,
                "css": css,
            }
        )
    return out
