"""Recommendations: for each group, the fastest strategy and what is as good within noise.

"A beats B" is said only when it holds: a runner-up is named when it is *not*
significantly slower than the best (see ``analysis.comparisons_frame``), and a speedup
over the loop is claimed only when the loop itself is significantly slower. A group is a
group on one host: with results from several hosts each gets its own row, and its sentence
names the host.
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench.analysis import BASELINE, GROUP, HOST, HOST_CELL, HOST_GROUP

COLUMNS = [
    *GROUP,
    HOST,
    "best_strategy",
    "best_workers",
    "best_median_s",
    "speedup",
    "speedup_ci_low",
    "speedup_ci_high",
    "runner_up_strategy",
    "runner_up_workers",
    "runner_up_speedup",
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


def _where(group: dict, name_host: bool) -> str:
    where = (
        f"for {group['task']} at {group['n_images']} images of "
        f"{group['width']}x{group['height']} ({group['storage']}, {group['cache']} cache)"
    )
    return f"On {group[HOST]}, {where}" if name_host else where[0].upper() + where[1:]


def sentence(
    group: dict,
    best: pd.Series,
    noise: list[pd.Series],
    loop_is_noise: bool,
    name_host: bool = False,
) -> str:
    """One plain sentence: the winner, its speedup with CI, and what ties with it; it
    starts with the host when ``name_host`` (results of several hosts)."""
    where = _where(group, name_host)
    tied = [describe(r["strategy"], int(r["workers"])) for r in noise]
    tie_text = ""
    if tied:
        verb = "is" if len(tied) == 1 else "are"
        tie_text = f"; {', '.join(tied)} {verb} within noise"
    if best["strategy"] == BASELINE:
        if tied:
            return f"{where}, the plain loop is fastest ({_seconds(best['median_s'])}){tie_text}."
        return (
            f"{where}, the plain loop is fastest ({_seconds(best['median_s'])}); "
            "every parallel strategy is significantly slower."
        )
    speed = _speedup(best["speedup"], best["speedup_ci_low"], best["speedup_ci_high"])
    name = describe(best["strategy"], int(best["workers"]))
    if loop_is_noise:
        also = (
            f" {', '.join(tied)} {'is' if len(tied) == 1 else 'are'} also within noise."
            if tied
            else ""
        )
        return (
            f"{where}, {name} has the lowest median, {speed} the loop's speed, but the loop "
            f"is not significantly slower: parallelism does not reliably pay here.{also}"
        )
    return f"{where}, {name} is {speed} faster than the loop{tie_text}."


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
        "best_strategy": best["strategy"],
        "best_workers": int(best["workers"]),
        "best_median_s": float(best["median_s"]),
        "speedup": best["speedup"],
        "speedup_ci_low": best["speedup_ci_low"],
        "speedup_ci_high": best["speedup_ci_high"],
        "runner_up_strategy": "",
        "runner_up_workers": None,
        "runner_up_speedup": math.nan,
        "within_noise": "",
        "sentence": (
            f"{where}, {name} has the lowest median ({_seconds(best['median_s'])}{speed}); "
            "too few repetitions for any difference to reach p < 0.05, so nothing is called "
            "faster or tied: repeat at least 4 times."
        ),
    }


def recommendations_frame(
    summary: pd.DataFrame, speedup: pd.DataFrame, comparisons: pd.DataFrame
) -> pd.DataFrame:
    """One row per group: the fastest cell, its speedup over the loop, and its ties."""
    if comparisons.empty:
        return pd.DataFrame(columns=COLUMNS)
    vs_loop = speedup[speedup["baseline"] == BASELINE].set_index(HOST_CELL)
    name_host = comparisons[HOST].nunique() > 1
    rows = []
    for key, g in comparisons.groupby(HOST_GROUP, sort=True):
        group = dict(zip(HOST_GROUP, key, strict=True))
        g = g.sort_values("median_s", kind="stable")
        best = g.iloc[0]
        best_key = tuple(best[c] for c in HOST_CELL)
        stats = vs_loop.loc[best_key] if best_key in vs_loop.index else None
        best = best.copy()
        for column in ("speedup", "speedup_ci_low", "speedup_ci_high"):
            best[column] = float(stats[column]) if stats is not None else math.nan
        others = g.iloc[1:]
        if not others["testable"].all():
            rows.append(_untested(group, best, name_host))
            continue
        noise = [r for _, r in others.iterrows() if not r["significantly_slower"]]
        loop_rows = others[others["strategy"] == BASELINE]
        loop_is_noise = bool(len(loop_rows)) and not bool(loop_rows["significantly_slower"].any())
        parallel_noise = [r for r in noise if r["strategy"] != BASELINE]
        runner_up = noise[0] if noise else None
        rows.append(
            {
                **group,
                "best_strategy": best["strategy"],
                "best_workers": int(best["workers"]),
                "best_median_s": float(best["median_s"]),
                "speedup": best["speedup"],
                "speedup_ci_low": best["speedup_ci_low"],
                "speedup_ci_high": best["speedup_ci_high"],
                "runner_up_strategy": runner_up["strategy"] if runner_up is not None else "",
                "runner_up_workers": int(runner_up["workers"]) if runner_up is not None else None,
                "runner_up_speedup": (
                    float(vs_loop.loc[tuple(runner_up[c] for c in HOST_CELL)]["speedup"])
                    if runner_up is not None
                    and tuple(runner_up[c] for c in HOST_CELL) in vs_loop.index
                    else math.nan
                ),
                "within_noise": "; ".join(f"{r['strategy']} x{int(r['workers'])}" for r in noise),
                "sentence": sentence(
                    group,
                    best,
                    noise if best["strategy"] == BASELINE else parallel_noise,
                    loop_is_noise,
                    name_host,
                ),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
