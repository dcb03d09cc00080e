"""Compare two result sets cell by cell: which cells got significantly slower or faster.

Two experiment directories (another machine, another library version, before and after a
change) are read from their ``timings.csv`` only. Cells are matched on what was measured,
(task, storage, cache, width, height, n_images, strategy, workers), never on the experiment
name or the host, so that runs named differently still line up. For each cell in both sets
the ratio of median wall times B / A (> 1: B is slower) gets a percentile bootstrap CI
and a two-sided p-value; a cell changed significantly when p < alpha *and* the ratio's CI,
at level 1 - alpha, excludes 1. When both sets ran the cell in several rounds (separate
jobs), rounds are the unit: the CI is a hierarchical bootstrap (rounds, then repetitions
within them) and the p-value a Welch t-test of the cell's mean log time per round, with
each set's job-to-job variance pooled over its cells (the spread of a cell's rounds around
its mean, which includes drift of the machine between rounds). Otherwise the CI resamples
repetitions and the p-value is a Mann-Whitney U over them.

Each cell is tested on its own: with many cells, some unchanged ones will pass the test by
chance (about alpha of them by the p-value alone), so a lone small change among thousands
deserves a rerun before it is believed.

``comparison_data`` gives what the comparison figure (``imgbench.report.compare``) draws:
which cells get a whisker, and the range of ratios its axis must hold.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imgbench.analysis.figure_data import NoData
from imgbench.analysis.frames import strategy_order
from imgbench.analysis.stats import hierarchical_speedup_cis, mann_whitney_p, speedup_ci
from imgbench.analysis.tables import MATCH_KEY, read_table
from imgbench.errors import ImgbenchError

#: What identifies a cell across result sets: the experiment name and host are left out.
KEY = MATCH_KEY
COLUMNS = [
    *KEY,
    "n_a",
    "n_b",
    "median_a_s",
    "median_b_s",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "mannwhitney_p",
    "test",
    "rounds_a",
    "rounds_b",
    "significant",
    "change",
    "host_a",
    "host_b",
]
UNMATCHED_COLUMNS = [*KEY, "only_in", "n", "median_s", "host"]
SLOWER, FASTER, UNCHANGED = "slower", "faster", "no significant change"
#: Rows drawn with whiskers in the comparison figure; the rest are in comparison.csv.
MAX_FIGURE_ROWS = 40


def _read_timings(directory: Path) -> pd.DataFrame:
    columns = [*KEY, "wall_s"]
    hint = "give an experiment's result directory, e.g. results/load, after `imgbench aggregate`"
    frame = read_table(Path(directory) / "timings.csv", columns, check_empty=False, hint=hint)
    if not set(columns) <= set(frame.columns):  # an empty table, written without columns
        return pd.DataFrame(columns=columns)
    return frame[frame["wall_s"].notna()]


def _cells(timings: pd.DataFrame) -> dict[tuple, dict]:
    """Per cell key: its wall times, the same by round (rounds x repetitions, NaN-padded),
    and the hosts that measured it."""
    if timings.empty:
        return {}
    walls = timings["wall_s"].to_numpy(dtype=float)
    hosts = timings["host"].astype(str).to_numpy() if "host" in timings.columns else None
    rounds = timings["round"].to_numpy() if "round" in timings.columns else None
    cells = {}
    for key, index in timings.groupby(KEY, sort=True, dropna=False).indices.items():
        host = ",".join(sorted(set(hosts[index]))) if hosts is not None else ""
        if rounds is None:
            table = walls[index][None, :]
        else:
            which = rounds[index]
            per_round = [walls[index][which == r] for r in sorted(set(which))]
            table = np.full((len(per_round), max(len(w) for w in per_round)), math.nan)
            for i, w in enumerate(per_round):
                table[i, : len(w)] = w
        cells[key] = {"walls": walls[index], "rounds": table, "host": host}
    return cells


def _job_variance(cells: dict[tuple, dict]) -> tuple[float, int]:
    """A set's job-to-job variance of the log time: the spread of each cell's round means
    (mean log time per round) around the cell's mean, pooled over its cells of several
    rounds; and its degrees of freedom."""
    ss, df = 0.0, 0
    for cell in cells.values():
        logs = np.nanmean(np.log(cell["rounds"]), axis=1)
        if len(logs) > 1:
            ss += float(((logs - logs.mean()) ** 2).sum())
            df += len(logs) - 1
    return (ss / df if df else math.nan), df


def _rounds_p(a: np.ndarray, b: np.ndarray, var_a: tuple, var_b: tuple) -> float:
    """Welch t-test of the mean log time per round, B against A."""
    from scipy import stats as sps  # here, not at the top: see analysis/stats.py

    logs_a = np.nanmean(np.log(a), axis=1)
    logs_b = np.nanmean(np.log(b), axis=1)
    va, vb = var_a[0] / len(logs_a), var_b[0] / len(logs_b)
    if not (var_a[1] and var_b[1] and math.isfinite(va + vb)):
        return math.nan
    if va + vb == 0:
        return 1.0 if logs_a.mean() == logs_b.mean() else 0.0
    df = (va + vb) ** 2 / (va**2 / var_a[1] + vb**2 / var_b[1])
    t = (logs_b.mean() - logs_a.mean()) / math.sqrt(va + vb)
    return float(2.0 * sps.t.sf(abs(t), df))


def _machines(directory: Path, timings: pd.DataFrame) -> list[tuple[str, str]]:
    """(host, cpu model) pairs of a result set: from metadata.json, else from its timings."""
    path = Path(directory) / "metadata.json"
    if path.is_file():
        try:
            hosts = json.loads(path.read_text()).get("hosts") or []
            pairs = [(str(h.get("hostname", "?")), str(h.get("cpu_model", "?"))) for h in hosts]
            if pairs:
                return sorted(set(pairs))
        except (OSError, ValueError, AttributeError):
            pass  # an unreadable metadata file only costs the title its host names
    if {"host", "cpu_model"} <= set(timings.columns) and not timings.empty:
        pairs = timings[["host", "cpu_model"]].astype(str).drop_duplicates()
        return sorted(pairs.itertuples(index=False, name=None))
    return []


def _short_names(a: Path, b: Path) -> tuple[str, str]:
    """The directories' names, with as many parents as it takes to tell them apart."""
    parts_a, parts_b = Path(a).resolve().parts, Path(b).resolve().parts
    for depth in range(1, max(len(parts_a), len(parts_b)) + 1):
        name_a, name_b = "/".join(parts_a[-depth:]), "/".join(parts_b[-depth:])
        if name_a != name_b:
            return name_a, name_b
    return str(a), str(b)


def _set_label(name: str, machines: list[tuple[str, str]]) -> str:
    if not machines:
        return name
    shown = [f"{host} ({cpu})" for host, cpu in machines[:3]]
    if len(machines) > 3:
        shown.append(f"+{len(machines) - 3} more")
    return f"{name} — {'host' if len(machines) == 1 else 'hosts'} {', '.join(shown)}"


def _compare_cell(a: dict, b: dict, alpha: float, var_a: tuple, var_b: tuple) -> dict:
    walls_a, walls_b = a["walls"], b["walls"]
    median_a, median_b = float(np.median(walls_a)), float(np.median(walls_b))
    ratio = median_b / median_a if median_a > 0 else math.nan
    rounds_a, rounds_b = a["rounds"].shape[0], b["rounds"].shape[0]
    if rounds_a > 1 and rounds_b > 1:
        low, high = (
            float(v[0])
            for v in hierarchical_speedup_cis(b["rounds"], a["rounds"], level=1.0 - alpha)
        )
        p, test = _rounds_p(a["rounds"], b["rounds"], var_a, var_b), "rounds t"
    else:
        # speedup_ci(baseline, cell) bootstraps median(baseline) / median(cell): B first
        # gives B / A.
        low, high = speedup_ci(walls_b, walls_a, level=1.0 - alpha)
        p, test = mann_whitney_p(walls_a, walls_b), "Mann-Whitney"
    significant = bool(p < alpha and (low > 1.0 or high < 1.0))
    change = (SLOWER if ratio > 1.0 else FASTER) if significant else UNCHANGED
    return {
        "n_a": len(walls_a),
        "n_b": len(walls_b),
        "median_a_s": median_a,
        "median_b_s": median_b,
        "ratio": ratio,
        "ratio_ci_low": low,
        "ratio_ci_high": high,
        "mannwhitney_p": p,
        "test": test,
        "rounds_a": rounds_a,
        "rounds_b": rounds_b,
        "significant": significant,
        "change": change,
    }


def compare_frames(timings_a: pd.DataFrame, timings_b: pd.DataFrame, alpha: float = 0.05):
    """Compare two timings tables: (matched cells, cells in one set only).

    The matched frame has ``COLUMNS``, significant cells first, then by |log ratio|
    (largest change first); the unmatched one has ``UNMATCHED_COLUMNS``.
    """
    if not 0.0 < alpha < 1.0:
        raise ImgbenchError(f"alpha must lie between 0 and 1, not {alpha}")
    cells_a, cells_b = _cells(timings_a), _cells(timings_b)
    var_a, var_b = _job_variance(cells_a), _job_variance(cells_b)
    rows = []
    for key in sorted(cells_a.keys() & cells_b.keys()):
        a, b = cells_a[key], cells_b[key]
        rows.append(
            {
                **dict(zip(KEY, key, strict=True)),
                **_compare_cell(a, b, alpha, var_a, var_b),
                "host_a": a["host"],
                "host_b": b["host"],
            }
        )
    matched = pd.DataFrame(rows, columns=COLUMNS)
    if not matched.empty:
        matched["_size"] = np.abs(np.log(matched["ratio"].astype(float)))
        matched = matched.sort_values(
            ["significant", "_size"], ascending=[False, False], kind="stable", na_position="last"
        ).drop(columns="_size")
        matched["significant"] = matched["significant"].astype(bool)
    matched = matched.reset_index(drop=True)

    unmatched_rows = []
    for only_in, cells, other in (("A", cells_a, cells_b), ("B", cells_b, cells_a)):
        for key in sorted(cells.keys() - other.keys()):
            walls = cells[key]["walls"]
            unmatched_rows.append(
                {
                    **dict(zip(KEY, key, strict=True)),
                    "only_in": only_in,
                    "n": len(walls),
                    "median_s": float(np.median(walls)),
                    "host": cells[key]["host"],
                }
            )
    unmatched = pd.DataFrame(unmatched_rows, columns=UNMATCHED_COLUMNS)
    return matched, unmatched


def compare_sets(a: Path, b: Path, alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare result sets A and B (experiment directories holding ``timings.csv``):
    (matched cells, cells in one set only), as ``compare_frames`` gives them.

    The matched frame's ``attrs`` carry what its outputs need besides it
    (``imgbench.report.compare``): the sets' labels, alpha and how many cells each set
    alone holds.
    """
    a, b = Path(a), Path(b)
    timings_a, timings_b = _read_timings(a), _read_timings(b)
    matched, unmatched = compare_frames(timings_a, timings_b, alpha)
    name_a, name_b = _short_names(a, b)
    matched.attrs.update(
        {
            "label_a": _set_label(name_a, _machines(a, timings_a)),
            "label_b": _set_label(name_b, _machines(b, timings_b)),
            "alpha": alpha,
            "only_in_a": int((unmatched["only_in"] == "A").sum()),
            "only_in_b": int((unmatched["only_in"] == "B").sum()),
        }
    )
    return matched, unmatched


# --- the figure's data -----------------------------------------------------------------


def varies(frame: pd.DataFrame) -> bool:
    """Whether storage or cache differ between cells, so that labels must name them."""
    return len(frame) > 0 and (frame["storage"].nunique() > 1 or frame["cache"].nunique() > 1)


@dataclass(frozen=True)
class ComparisonData:
    """What the comparison figure draws.

    ``cells`` are the matched cells with a finite, positive ratio; ``rows`` those drawn with
    whiskers, by task, slowest first, chosen as ``shown`` says: "all" (every cell), "largest"
    (the ``MAX_FIGURE_ROWS`` largest of ``n_significant`` significant changes),
    "significant" (every significant change) or "none" (no significant change). The ratio
    axis must hold ``low`` .. ``high``: every cell's ratio, the rows' CIs and 1.
    """

    rows: pd.DataFrame
    shown: str
    n_significant: int
    cells: pd.DataFrame
    with_storage: bool
    low: float
    high: float
    #: The significant rows' strategies, in legend order.
    strategies: list[str]
    #: Whether some row's change is not significant (drawn hollow).
    has_not_significant: bool

    @property
    def all_shown(self) -> bool:
        """Whether the rows are every cell (else a histogram below shows them all)."""
        return len(self.rows) == len(self.cells)


def _figure_rows(cells: pd.DataFrame) -> tuple[pd.DataFrame, str, int]:
    """The cells drawn with whiskers, by task, slowest first; which were chosen (see
    ``ComparisonData.shown``); and how many changed significantly."""
    significant = cells[cells["significant"].astype(bool)]
    if len(cells) <= MAX_FIGURE_ROWS:
        rows, shown = cells, "all"
    elif len(significant) > MAX_FIGURE_ROWS:
        size = np.abs(np.log(significant["ratio"].astype(float)))
        rows = significant.loc[size.sort_values(ascending=False).index[:MAX_FIGURE_ROWS]]
        shown = "largest"
    else:
        rows, shown = significant, "significant"
    if rows.empty:
        shown = "none"
    rows = rows.sort_values(["task", "ratio"], ascending=[True, False], kind="stable")
    return rows, shown, len(significant)


def comparison_data(matched: pd.DataFrame) -> ComparisonData | NoData:
    """What the comparison figure draws of ``matched`` (``compare_frames``' first frame), or
    ``NoData`` when no cell has a ratio to draw."""
    ratios = matched["ratio"].astype(float)
    cells = matched[np.isfinite(ratios) & (ratios > 0)] if len(matched) else matched
    if cells.empty:
        return NoData(
            "no cell measured in both sets" if matched.empty else "no ratio could be formed"
        )
    rows, shown, n_significant = _figure_rows(cells)
    ends = np.concatenate(
        [
            cells["ratio"].to_numpy(float),
            rows[["ratio_ci_low", "ratio_ci_high"]].to_numpy(float).ravel(),
            [1.0],
        ]
    )
    ends = ends[np.isfinite(ends) & (ends > 0)]
    significant = rows["significant"].astype(bool)
    return ComparisonData(
        rows=rows,
        shown=shown,
        n_significant=n_significant,
        cells=cells,
        with_storage=varies(cells),
        low=float(ends.min()),
        high=float(ends.max()),
        strategies=strategy_order(rows.loc[significant, "strategy"].unique()),
        has_not_significant=bool((~significant).any()),
    )
