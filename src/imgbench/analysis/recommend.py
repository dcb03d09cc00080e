"""Recommendations: for each group, the fastest strategy, and what can or cannot be told
apart from it.

Every claim has a stated error rate (see ``comparisons.comparisons_frame``): a cell is
"significantly slower" than the best only after Holm's correction within the group; the
best is "faster than the loop" only when its Holm-adjusted p-value against the loop, over
all the group's cells, is below ``ALPHA`` (so that picking the best from the data is
covered); two cells are "equivalent" only by a TOST (the 90% CI of their time ratio within
the experiment's margin). A cell that is neither significantly slower nor equivalent
"cannot be told apart" from the best, with the largest difference its CI leaves open.
Physical bounds gate the speedup: above min(workers, usable cores) (CPU-bound work) or the
workers (waiting work), it is withheld and the sentence names the likely cause. A group is
a group on one host: with results from several hosts each gets its own row, and its
sentence names the host.
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench import words
from imgbench.analysis.thresholds import INTERFERENCE_SHARE
from imgbench.vocabulary import BASELINE, GROUP, HOST, HOST_CELL, HOST_GROUP

#: CPU per image of a base case this much above the cell's (ratio - 1) explains a speedup
#: above its bound: the base case ran while the machine was slower.
CPU_PER_IMAGE_TOLERANCE = 0.10

COLUMNS = [
    *GROUP,
    HOST,
    "best_strategy",
    "best_workers",
    "best_median_s",
    "speedup",
    "speedup_ci_low",
    "speedup_ci_high",
    "p_holm_vs_loop",
    "faster_than_loop",
    "bound",
    "exceeds_bound",
    "withheld",
    "cpu_per_image_ratio",
    "runner_up_strategy",
    "runner_up_workers",
    "runner_up_speedup",
    "runner_up_exceeds_bound",
    "equivalent",
    "not_told_apart",
    "within_noise",
    "sentence",
]


def describe(strategy: str, workers: int) -> str:
    if strategy == BASELINE:
        return "the plain loop"
    return f"{strategy} with {workers} worker{'s' if workers != 1 else ''}"


def _seconds(value: float) -> str:
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"


def _speedup(value: float, low: float, high: float) -> str:
    if math.isnan(low):
        return f"{value:.2f}x"
    return f"{value:.2f}x ({low:.2f}-{high:.2f})"


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%" if value >= 0.095 else f"{value * 100:.1g}%"


def _where(group: dict, name_host: bool) -> str:
    where = (
        f"for {group['task']} at {words.images_of(group)} "
        f"({group['storage']}, {group['cache']} cache)"
    )
    return f"On {group[HOST]}, {where}" if name_host else where[0].upper() + where[1:]


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _ties(best_name: str, equal: list[pd.Series], unclear: list[pd.Series]) -> str:
    """What ties with the best: equivalence by TOST, or cells the repetitions cannot tell
    apart from it (with how large a difference could have been missed)."""
    parts = []
    if equal:
        margin = float(equal[0]["equivalence_margin"])
        names = [describe(r["strategy"], int(r["workers"])) for r in equal]
        parts.append(f"{_and([best_name, *names])} are equivalent (within {_percent(margin)})")
    if unclear:
        names = [describe(r["strategy"], int(r["workers"])) for r in unclear]
        missed = [float(r["max_missed_difference"]) for r in unclear]
        missed = [m for m in missed if math.isfinite(m)]
        parts.append(
            f"{_and(names)} cannot be told apart from the best"
            + (
                f"; a difference of up to {_percent(max(missed))} could have been missed"
                if missed
                else ""
            )
        )
    return "; ".join(parts)


def cause(vs_loop: pd.Series | None, loop: pd.Series | None, cell: pd.Series | None) -> str:
    """The likely cause of a speedup above its physical bound, from the data."""
    ratio = float(vs_loop["cpu_per_image_ratio"]) if vs_loop is not None else math.nan
    if math.isfinite(ratio) and ratio > 1.0 + CPU_PER_IMAGE_TOLERANCE:
        return (
            f"the loop used {_percent(ratio - 1.0)} more CPU per image than this cell: the "
            "machine was probably slower while the base case ran"
        )
    other = float(loop["other_cpu_per_wall"]) if loop is not None else math.nan
    if math.isfinite(other) and other > INTERFERENCE_SHARE:
        return f"other processes used {other:.2f} cores while the loop ran: its time is inflated"
    for side, row in (("the loop", loop), ("this cell", cell)):
        if row is not None and bool(row.get("rounds_disagree", False)):
            return (
                f"the rounds of {side} disagree ({_percent(float(row['round_spread']))} "
                "apart): the machine drifted between them"
            )
    return (
        "no cause shows in the data (CPU per image of the loop and the cell agree within "
        f"{_percent(CPU_PER_IMAGE_TOLERANCE)}, no interference recorded): run both again"
    )


def sentence(
    group: dict,
    best: pd.Series,
    equal: list[pd.Series],
    unclear: list[pd.Series],
    faster: bool,
    withheld_because: str = "",
    name_host: bool = False,
    cells: int = 0,
    why: str = "",
) -> str:
    """One plain sentence: the winner, its speedup with CI (when it is a finding), and what
    ties with it; it starts with the host when ``name_host`` (results of several hosts)."""
    where = _where(group, name_host)
    name = describe(best["strategy"], int(best["workers"]))
    ties = _ties(name, equal, unclear)
    tie_text = f"; {ties}" if ties else ""
    if best["strategy"] == BASELINE:
        if equal or unclear:
            return f"{where}, the plain loop is fastest ({_seconds(best['median_s'])}){tie_text}."
        return (
            f"{where}, the plain loop is fastest ({_seconds(best['median_s'])}); "
            "every parallel strategy is significantly slower."
        )
    speed = _speedup(best["speedup"], best["speedup_ci_low"], best["speedup_ci_high"])
    if withheld_because:
        return (
            f"{where}, {name} has the lowest median, but its {speed} the loop's speed is above "
            f"the {withheld_because}, so it is not reported as a finding: {why}"
            f"{tie_text}."
        )
    if not faster:
        also = f" Of the others, {ties}." if ties else ""
        picked = f" of {cells} cells" if cells > 2 else ""
        return (
            f"{where}, {name} has the lowest median, {speed} the loop's speed, but once the "
            f"best{picked} is picked from the data the loop is not significantly slower: "
            f"parallelism does not reliably pay here.{also}"
        )
    return f"{where}, {name} is {speed} faster than the loop{tie_text}."


def _bound_text(stats: pd.Series, workers: int, cores: int) -> str:
    limit = int(stats["bound"])  # finite: only a bounded speedup can exceed its bound
    if str(stats.get("task_bound", "cpu")) == "wait":
        return f"{limit}x that {workers} workers allow"
    return (
        f"{limit}x that {workers} worker{'s' if workers != 1 else ''} on {cores} usable "
        f"core{'s' if cores != 1 else ''} allow"
    )


def _untested(group: dict, best: pd.Series, name_host: bool) -> dict:
    """A group whose cells have too few repetitions for any difference to be significant."""
    where = _where(group, name_host)
    name = describe(best["strategy"], int(best["workers"]))
    speed = (
        ""
        if best["strategy"] == BASELINE
        else f", {_speedup(best['speedup'], best['speedup_ci_low'], best['speedup_ci_high'])}"
        " the loop's speed"
    )
    return {
        **group,
        **_best_fields(best),
        "faster_than_loop": False,
        "withheld": bool(best["exceeds_bound"]),
        "runner_up_strategy": "",
        "runner_up_workers": None,
        "runner_up_speedup": math.nan,
        "runner_up_exceeds_bound": False,
        "equivalent": "",
        "not_told_apart": "",
        "within_noise": "",
        "sentence": (
            f"{where}, {name} has the lowest median ({_seconds(best['median_s'])}{speed}); "
            "too few repetitions for any difference to reach p < 0.05, so nothing is called "
            "faster, slower or equivalent: repeat at least 4 times."
        ),
    }


def _best_fields(best: pd.Series) -> dict:
    return {
        "best_strategy": best["strategy"],
        "best_workers": int(best["workers"]),
        "best_median_s": float(best["median_s"]),
        "speedup": best["speedup"],
        "speedup_ci_low": best["speedup_ci_low"],
        "speedup_ci_high": best["speedup_ci_high"],
        "p_holm_vs_loop": best["p_holm_vs_loop"],
        "bound": best["bound"],
        "exceeds_bound": bool(best["exceeds_bound"]),
        "cpu_per_image_ratio": best["cpu_per_image_ratio"],
    }


def _label(rows: list[pd.Series]) -> str:
    return "; ".join(f"{r['strategy']} x{int(r['workers'])}" for r in rows)


def recommendations_frame(
    summary: pd.DataFrame, speedup: pd.DataFrame, comparisons: pd.DataFrame
) -> pd.DataFrame:
    """One row per group: the fastest cell, its speedup over the loop, and its ties."""
    if comparisons.empty:
        return pd.DataFrame(columns=COLUMNS)
    vs_loop = speedup[speedup["baseline"] == BASELINE].set_index(HOST_CELL)
    cells = summary.set_index(HOST_CELL)
    name_host = comparisons[HOST].nunique() > 1
    rows = []
    for key, g in comparisons.groupby(HOST_GROUP, sort=True):
        group = dict(zip(HOST_GROUP, key, strict=True))
        g = g.sort_values("median_s", kind="stable")
        best = g.iloc[0].copy()
        best_key = tuple(best[c] for c in HOST_CELL)
        stats = vs_loop.loc[best_key] if best_key in vs_loop.index else None
        for column in ("speedup", "speedup_ci_low", "speedup_ci_high", "cpu_per_image_ratio"):
            best[column] = float(stats[column]) if stats is not None else math.nan
        best["bound"] = float(stats["bound"]) if stats is not None else math.nan
        # A loop that is its own best has speedup 1: never above a bound.
        best["exceeds_bound"] = bool(stats["exceeds_bound"]) if stats is not None else False
        loop_key = (*key, BASELINE, 1)
        loop = cells.loc[loop_key] if loop_key in cells.index else None
        best_cell = cells.loc[best_key] if best_key in cells.index else None
        others = g.iloc[1:]
        if not others["testable"].all():
            rows.append(_untested(group, best, name_host))
            continue
        tied = [r for _, r in others.iterrows() if not r["significantly_slower"]]
        parallel = [r for r in tied if r["strategy"] != BASELINE]
        shown = tied if best["strategy"] == BASELINE else parallel
        equal = [r for r in shown if r["equivalent"]]
        unclear = [r for r in shown if not r["equivalent"]]
        withheld = bool(best["exceeds_bound"]) and best["strategy"] != BASELINE
        because = why = ""
        if withheld:
            because = _bound_text(stats, int(best["workers"]), int(stats["usable_cores"]))
            why = cause(stats, loop, best_cell)
        faster = bool(best["faster_than_loop"]) and not withheld
        runner_up = tied[0] if tied else None
        runner_key = tuple(runner_up[c] for c in HOST_CELL) if runner_up is not None else None
        rows.append(
            {
                **group,
                **_best_fields(best),
                "faster_than_loop": faster,
                "withheld": withheld,
                "runner_up_strategy": runner_up["strategy"] if runner_up is not None else "",
                "runner_up_workers": int(runner_up["workers"]) if runner_up is not None else None,
                "runner_up_speedup": (
                    float(vs_loop.loc[runner_key]["speedup"])
                    if runner_key is not None and runner_key in vs_loop.index
                    else math.nan
                ),
                "runner_up_exceeds_bound": bool(
                    runner_key is not None
                    and runner_key in vs_loop.index
                    and vs_loop.loc[runner_key]["exceeds_bound"]
                ),
                "equivalent": _label([r for r in tied if r["equivalent"]]),
                "not_told_apart": _label([r for r in tied if not r["equivalent"]]),
                "within_noise": _label(tied),
                "sentence": sentence(
                    group, best, equal, unclear, faster, because, name_host, len(g), why
                ),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
