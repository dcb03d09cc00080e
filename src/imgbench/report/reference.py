"""A source study's findings beside what this workflow measured, written for people: the
comparison's CSV (every finding's numbers, verdict and one-line reason) and a small
self-contained deck in the style of the experiment's slides.

The verdicts and the facts behind them are the analysis' (``imgbench.analysis.references``);
this module only words them. A finding whose experiment or cells were not run is "not
measured", never an error.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from imgbench import words
from imgbench.analysis import references as judged
from imgbench.analysis.thresholds import ALPHA
from imgbench.files import write_atomic
from imgbench.plan.references import CELL_KEYS, load_reference

MARKS = {
    judged.HOLDS: "✓",
    judged.FAILS: "✗",
    judged.NOT_MEASURED: "–",
    judged.UNTESTABLE: "?",
    judged.NOT_CONFIRMED: "≟",
}
#: Findings per table slide: more would not fit on one screen.
ROWS_PER_SLIDE = 8
#: The comparison's CSV.
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
_FOUND = {
    judged.FASTER: "significantly faster",
    judged.SLOWER: "significantly slower",
    judged.NO_DIFFERENCE: "no significant difference",
}


# ----- a finding in words -------------------------------------------------------------------


def _who(cell: dict) -> str:
    return words.who(cell["strategy"], cell["workers"])


def _describe(cell: dict) -> str:
    return (
        f"{cell['experiment']}/{cell['task']} {cell['size']} n={cell['n_images']} "
        f"{cell['storage']}/{cell['cache']}, {_who(cell)}"
    )


def _missing(cell: dict, why: str) -> str:
    """Why a cell has no repetitions, as specific as the results allow."""
    if why == judged.NO_TASK:
        return f"imgbench has no task {cell['task']!r}"
    if why == judged.NO_STRATEGY:
        return f"imgbench has no strategy {cell['strategy']!r}"
    if why == judged.NOT_RUN:
        return f"experiment {cell['experiment']!r} was not run (no timings.csv)"
    return f"no timed repetitions of {_describe(cell)}"


def _p_text(p: float) -> str:
    text = words.p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def cap_text(cap: dict | None) -> str:
    """What caps the speedup here below the published one (``analysis.references.speedup_cap``)."""
    if cap is None:
        return ""
    if cap["by"] == "workers":
        return f"; {cap['workers']} workers cannot give more than {cap['workers']}x"
    there = f"{cap['there']}" if cap["there"] else "an unstated number"
    return f"; {cap['here']} usable cores here vs {there} on the study's machine bound the speedup"


def _untestable(row: dict, measured: str) -> str:
    if row["untestable"] == judged.TOO_FEW:
        why = f"cannot reach p < {ALPHA} (smallest possible p {words.p_value(row['smallest_p'])})"
    elif row["untestable"] == judged.NO_ROUND_DF:
        why = "leave no degrees of freedom for the rounds' spread"
    else:
        why = "give no spread to test (one repetition on a side)"
    sides = f"{row['reps']} vs {row['baseline_reps']} repetitions"
    return f"untestable: {sides} {why}; measured {measured}"


def _judged(finding: dict, row: dict, measured: str) -> str:
    margin = f"{row['equivalence_margin']:.0%}"
    found = _FOUND.get(row["found"], f"equivalent within {margin}")
    head = "holds in direction" if row["in_direction_only"] else row["verdict"]
    reason = f"{head}: {measured} ({found}, {_p_text(row['mann_whitney_p'])})"
    missed = row["max_missed_difference"]
    if row["verdict"] == judged.NOT_CONFIRMED and finding["expect"] == "not_faster":
        reason += (
            f"; not equivalent within {margin}: a difference of up to {missed:.0%} could "
            "have been missed"
            if math.isfinite(missed)
            else f"; not equivalent within {margin}"
        )
    if row["exceeds_bound"]:
        reason += (
            f"; the measured speedup is above the {row['bound']}x that "
            f"{finding['cell']['workers']} workers on {row['cores_here']} usable cores allow "
            "here: the baseline's time is suspect (a slower machine while it ran), not a finding"
        )
    return reason


def _interference(cores: float | None, side: str) -> str:
    if cores is None:
        return ""
    return (
        f"; other processes used {cores:.2f} cores while the {side} ran: its time is "
        "inflated, re-run on a quiet machine"
    )


def reason(finding: dict, row: dict) -> str:
    """A judged finding's one-line reason (``analysis.references.judge_finding``)."""
    if row["verdict"] == judged.NOT_MEASURED:
        side = row["missing"]["side"]
        text = f"not measured: {_missing(finding[side], row['missing']['why'])}"
    else:
        measured = words.speedup_ci(
            row["measured_speedup"], row["speedup_ci_low"], row["speedup_ci_high"]
        )
        measured += " here"
        published = row["published_speedup"]
        if published is not None and math.isfinite(published):
            measured += f" vs {words.speedup(published)} published"
        if row["verdict"] == judged.UNTESTABLE:
            text = _untestable(row, measured)
        else:
            text = _judged(finding, row, measured)
        text += cap_text(row["cap"])
        text += _interference(row["other_cores"]["cell"], "cell")
        text += _interference(row["other_cores"]["baseline"], "baseline")
    if finding["why"]:
        text += f"; {finding['why']}"
    return text


# ----- the deck -----------------------------------------------------------------------------


def _time(value) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{words.seconds(value)} s"


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
        measured += f" ({words.seconds(low)}–{words.seconds(high)})"
    speedup, published = row["measured_speedup"], row["published_speedup"]
    return {
        "id": row["id"],
        "claim": row["claim"],
        "cell": _describe(finding["cell"]),
        "versus": _versus(finding["cell"], finding["baseline"]),
        "published_time": _time(row["published_time_s"]),
        "published_baseline": _time(row["published_baseline_time_s"]),
        "published_speedup": "—" if published is None else words.speedup(published),
        "measured_time": measured,
        "measured_baseline": _time(row["measured_baseline_time_s"]),
        "measured_speedup": "—"
        if not math.isfinite(speedup)
        else words.speedup_ci(speedup, row["speedup_ci_low"], row["speedup_ci_high"]),
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


def _deck(ref: dict, rows: list[dict], ours: str) -> str:
    table = [_table_row(f, r) for f, r in zip(ref["findings"], rows, strict=True)]
    tally = pd.Series([r["verdict"] for r in rows]).value_counts()
    env = Environment(
        loader=PackageLoader("imgbench.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("reference.html.j2").render(
        study=ref["study"],
        source=ref["source"],
        machine=ref["machine"],
        cores="unknown" if ref["cores"] is None else str(ref["cores"]),
        method=ref["method"],
        ours=ours,
        tally=", ".join(f"{count} {verdict}" for verdict, count in tally.items()),
        pages=[table[i : i + ROWS_PER_SLIDE] for i in range(0, len(table), ROWS_PER_SLIDE)],
        flaws=ref["flaws"],
        departures=ref["departures"],
        alpha=ALPHA,
    )


def build_reference(
    reference_yaml: Path, results_dir: Path, html_out: Path, csv_out: Path
) -> pd.DataFrame:
    """Compare every finding of a reference file with our results; write the CSV and deck.

    Both files are replaced atomically. Returns the CSV's frame (``COLUMNS``).
    """
    ref = load_reference(reference_yaml)
    results = judged.ResultsTree(results_dir)
    rows = [judged.judge_finding(f, results, ref["cores"]) for f in ref["findings"]]
    for finding, row in zip(ref["findings"], rows, strict=True):
        row["reason"] = reason(finding, row)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    write_atomic(Path(csv_out), frame.to_csv(index=False).encode("utf-8"))
    experiments = sorted(
        {f[k]["experiment"] for f in ref["findings"] for k in ("cell", "baseline")}
    )
    html = _deck(ref, rows, _machine(results.hosts(experiments)))
    write_atomic(Path(html_out), html.encode("utf-8"))
    return frame
