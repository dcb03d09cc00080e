"""The comparisons table: each cell against the fastest cell of its group on its host, and
against the loop, as tests with stated error rates (the claims the recommendations make).

The test respects rounds (the experimental unit): with several rounds, the round model
(``comparisons_frame``); with one round per cell (older results), a Mann-Whitney U over the
repetitions. Every claim (slower than the best, faster than the loop) is a test at
``ALPHA`` with Holm's correction within the group; "equivalent" is a TOST within the
experiment's equivalence margin. ``round_comparison`` and ``pooled_round_residual`` give
the same test to two cells outside a group (a reference finding).

scipy is imported inside the functions that compute with it: the stages that only read the
tables (figures, deck, report, bundle, summary) import this module too, and scipy.stats would
cost each of them about a second of start-up.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from imgbench.analysis.rounds import round_table
from imgbench.analysis.stats import (
    equivalent,
    holm,
    mann_whitney_ps,
    max_missed_difference,
    round_residual,
    smallest_mann_whitney_p,
    speedup_cis,
)
from imgbench.analysis.thresholds import ALPHA, DEFAULT_EQUIVALENCE_MARGIN
from imgbench.vocabulary import BASELINE, CELL, HOST, HOST_CELL, HOST_GROUP

COMPARISON_COLUMNS = [
    *CELL,
    HOST,
    "median_s",
    "rounds",
    "best_strategy",
    "best_workers",
    "test",
    "p_value",
    "p_holm",
    "mannwhitney_p",
    "ci_overlap",
    "testable",
    "significantly_slower",
    "ratio",
    "ratio_ci90_low",
    "ratio_ci90_high",
    "equivalence_margin",
    "equivalent",
    "max_missed_difference",
    "ratio_vs_loop",
    "p_vs_loop",
    "p_holm_vs_loop",
    "faster_than_loop",
]
#: The ``test`` column: how a comparison's p-value was computed.
TEST_ROUNDS, TEST_MANN_WHITNEY = "rounds t", "Mann-Whitney"


def _job_log_means(tables: dict[tuple, np.ndarray]) -> dict[tuple, np.ndarray]:
    """Per cell, the mean log wall time of each of its rounds (a job's geometric mean)."""
    return {key: np.nanmean(np.log(t), axis=1) for key, t in tables.items()}


def _group_residual(logs: list[np.ndarray]) -> tuple[float, int]:
    """The residual variance and df of a group's cells x rounds table of job log means, over
    the cells that have the group's most common number of rounds."""
    if not logs:
        return math.nan, 0
    common = Counter(len(v) for v in logs).most_common(1)[0][0]
    complete = [v for v in logs if len(v) == common]
    if len(complete) < 2 or common < 2:
        return math.nan, 0
    ss, df = round_residual(np.array(complete))
    return (ss / df if df else math.nan), df


def pooled_round_residual(timings: pd.DataFrame) -> tuple[float, int]:
    """The residual variance and df of the round model (see ``comparisons_frame``) pooled
    over every group of ``timings``: each group's cells x rounds table has its own round
    effects; sums of squares and degrees of freedom add up."""
    if timings.empty:
        return math.nan, 0
    logs = _job_log_means(round_table(timings))
    by_group: dict[tuple, list[np.ndarray]] = {}
    for key, values in logs.items():
        by_group.setdefault(key[: len(HOST_GROUP)], []).append(values)
    ss, df = 0.0, 0
    for values in by_group.values():
        var, d = _group_residual(values)
        if d:
            ss, df = ss + var * d, df + d
    return (ss / df if df else math.nan), df


def round_comparison(
    walls_a: np.ndarray, walls_b: np.ndarray, residual: tuple[float, int]
) -> tuple[float, float, float, float]:
    """Two cells (rounds x repetitions each) compared as ``comparisons_frame`` does with
    several rounds (``_round_pairs``): (p, time ratio a / b, its 90% CI low, high)."""
    a = np.nanmean(np.log(walls_a), axis=1)
    b = np.nanmean(np.log(walls_b), axis=1)
    table = np.full((2, max(len(a), len(b))), math.nan)
    table[0, : len(a)], table[1, : len(b)] = a, b
    p, ratio, low, high = _round_pairs(table, residual, _within_job([walls_a, walls_b]))
    return float(p[0, 1]), float(ratio[0, 1]), float(low[0, 1]), float(high[0, 1])


def _within_job(tables: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: the variance of log times within its jobs (pooled over its rounds), its
    degrees of freedom, and the mean repetitions per round."""
    var, df, reps = (np.full(len(tables), math.nan) for _ in range(3))
    for i, t in enumerate(tables):
        logs = np.log(t)
        counts = (~np.isnan(logs)).sum(axis=1)
        ss = float(np.nansum((logs - np.nanmean(logs, axis=1, keepdims=True)) ** 2))
        d = int((counts - 1).clip(min=0).sum())
        var[i], df[i], reps[i] = (ss / d if d else math.nan), d, counts.mean()
    return var, df, reps


def _round_pairs(logs: np.ndarray, residual: tuple[float, int], within: tuple) -> tuple:
    """All pairs of a group's cells (cells x rounds, NaN: a round the cell lacks): p, ratio
    i / j and its 90% CI, as cells x cells arrays (``stats.round_contrast``, vectorised).

    The variance of a round's log ratio is the group's pooled residual (2 s^2,
    ``_group_residual``), unless the pair's own, 2 u^2 + v_i / k_i + v_j / k_j, is clearly
    larger (F test at 5%): v is the within-job variance of each cell, k its repetitions per
    round and u^2 the job-to-job excess the residual leaves beyond the within-job part. So
    a cell much noisier than its group is judged on its own noise, not on its quieter
    neighbours' (with Satterthwaite's degrees of freedom).
    """
    from scipy.stats import f as sps_f
    from scipy.stats import t as sps_t

    var, df = residual
    w_var, w_df, w_reps = within
    diff = logs[:, None, :] - logs[None, :, :]
    shared = (~np.isnan(diff)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(shared > 0, np.nansum(np.nan_to_num(diff), axis=-1) / shared, math.nan)
        if not (df >= 1 and math.isfinite(var)):
            nan = np.full(d.shape, math.nan)
            return nan, np.exp(d), nan, nan
        part = w_var / w_reps  # each cell's within-job share of a round mean's variance
        excess = max(0.0, var - float(np.nanmean(part))) if np.isfinite(part).any() else 0.0
        own = 2.0 * excess + part[:, None] + part[None, :]
        own_df = (own**2) / (
            (2.0 * excess) ** 2 / df
            + part[:, None] ** 2 / w_df[:, None]
            + part[None, :] ** 2 / w_df[None, :]
        )
        # The pair's own variance only where it is clearly larger than the pooled one (an F
        # test at 5%): otherwise the pooled estimate, with its many more degrees of freedom.
        clearly = sps_f.ppf(0.95, np.fmax(np.nan_to_num(own_df, nan=1.0), 1.0), df)
        use_own = np.isfinite(own) & (own > 2.0 * var * clearly)
        pair_var = np.where(use_own, own, 2.0 * var)
        pair_df = np.where(use_own, np.fmax(own_df, 1.0), float(df))
        se = np.sqrt(pair_var / shared)
        t = np.where(se > 0, np.abs(d) / se, np.where(d == 0, 0.0, np.inf))
        p = 2.0 * sps_t.sf(t, pair_df)
        q = sps_t.ppf(0.95, pair_df)
        low, high = np.exp(d - q * se), np.exp(d + q * se)
    return p, np.exp(d), low, high


def _rep_pairs(tables: list[np.ndarray]) -> tuple:
    """All pairs of a group's one-round cells: Mann-Whitney p over the repetitions, ratio of
    medians i / j with its 90% percentile bootstrap CI, and whether p < ALPHA is possible."""
    n = len(tables)
    walls = [t[0][~np.isnan(t[0])] for t in tables]
    p, low, high = (np.full((n, n), math.nan) for _ in range(3))
    ratio = np.array([[np.median(a) / np.median(b) for b in walls] for a in walls])
    possible = np.zeros((n, n), dtype=bool)
    # Mann-Whitney's two-sided p is symmetric: each pair once (i > j), mirrored.
    pairs = [(i, j) for i in range(n) for j in range(i)]
    by_shape: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, j in pairs:
        a, b = len(walls[i]), len(walls[j])
        possible[i, j] = possible[j, i] = (
            a >= 2 and b >= 2 and smallest_mann_whitney_p(a, b) < ALPHA
        )
        if a >= 2 and b >= 2:
            by_shape.setdefault((a, b), []).append((i, j))
    for index in by_shape.values():
        a = np.stack([walls[i] for i, _ in index])
        b = np.stack([walls[j] for _, j in index])
        for (i, j), pv in zip(index, mann_whitney_ps(a, b), strict=True):
            p[i, j] = p[j, i] = pv
        # CIs of the ratio to the best (cell 0) only: the others are not reported.
        to_best = [k for k, (_, j) in enumerate(index) if j == 0]
        if to_best:
            lo, hi = speedup_cis(a[to_best], b[to_best], level=0.90)
            for k, lv, hv in zip(to_best, lo, hi, strict=True):
                low[index[k]], high[index[k]] = lv, hv
    return p, ratio, low, high, possible


def _group_tests(tables: list[np.ndarray], logs: list[np.ndarray]) -> tuple:
    """All pairs of a group's cells (sorted fastest first): p, ratio i / j, its 90% CI,
    whether p < ALPHA is possible (cells x cells each), and whether the rounds were used."""
    n = len(tables)
    if not any(t.shape[0] > 1 for t in tables):
        return (*_rep_pairs(tables), False)
    width = max(len(v) for v in logs)
    table = np.full((n, width), math.nan)
    for i, v in enumerate(logs):
        table[i, : len(v)] = v
    residual = _group_residual(logs)
    p, ratio, low, high = _round_pairs(table, residual, _within_job(tables))
    return p, ratio, low, high, np.full((n, n), residual[1] >= 1), True


def _holm_claims(p: np.ndarray, loop: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Holm over every pair (i < j) of the group, as a symmetric matrix, and Holm over
    every cell against the loop (NaN without one)."""
    n = len(p)
    upper = np.triu_indices(n, k=1)
    adjusted = np.full((n, n), math.nan)
    adjusted[upper] = holm(p[upper])
    adjusted = np.fmin(adjusted, adjusted.T)
    vs_loop = np.full(n, math.nan)
    if loop is not None:
        vs_loop = holm(np.where(np.arange(n) == loop, math.nan, p[:, loop]))
    return adjusted, vs_loop


def _group_rows(g: pd.DataFrame, tables: dict, logs: dict, margin: float) -> list[dict]:
    """The comparison rows of one group (on one host)."""
    g = g.sort_values("median_s", kind="stable")
    cells = [tuple(c) for c in g[HOST_CELL].itertuples(index=False)]
    p, ratio, low, high, possible, multi = _group_tests(
        [tables[c] for c in cells], [logs[c] for c in cells]
    )
    loop = next((i for i, c in enumerate(cells) if c[-2] == BASELINE), None)
    adjusted, vs_loop = _holm_claims(p, loop)
    best_row = g.iloc[0]
    rows = []
    for i, (cell, (_, row)) in enumerate(zip(cells, g.iterrows(), strict=True)):
        is_best = i == 0
        lo, hi = (1.0, 1.0) if is_best else (low[i, 0], high[i, 0])
        ratio_i = 1.0 if is_best else ratio[i, 0]
        slower = not is_best and adjusted[i, 0] < ALPHA and ratio_i > 1.0
        lratio = math.nan if loop is None else (1.0 if i == loop else ratio[i, loop])
        rows.append(
            {
                **dict(zip(HOST_CELL, cell, strict=True)),
                "median_s": row["median_s"],
                "rounds": int(tables[cell].shape[0]),
                "best_strategy": cells[0][-2],
                "best_workers": int(cells[0][-1]),
                "test": TEST_ROUNDS if multi else TEST_MANN_WHITNEY,
                "p_value": math.nan if is_best else p[i, 0],
                "p_holm": math.nan if is_best else adjusted[i, 0],
                "mannwhitney_p": math.nan if is_best else p[i, 0],
                "ci_overlap": bool(
                    row["ci_low_s"] <= best_row["ci_high_s"]
                    and best_row["ci_low_s"] <= row["ci_high_s"]
                ),
                "testable": bool(is_best or possible[i, 0]),
                "significantly_slower": bool(slower),
                "ratio": ratio_i,
                "ratio_ci90_low": lo,
                "ratio_ci90_high": hi,
                "equivalence_margin": margin,
                "equivalent": equivalent(lo, hi, margin),
                "max_missed_difference": max_missed_difference(lo, hi),
                "ratio_vs_loop": lratio,
                "p_vs_loop": math.nan if loop is None or i == loop else p[i, loop],
                "p_holm_vs_loop": vs_loop[i],
                "faster_than_loop": bool(vs_loop[i] < ALPHA and lratio < 1.0),
            }
        )
    return rows


def comparisons_frame(
    summary: pd.DataFrame, timings: pd.DataFrame, margins: dict[str, float] | None = None
) -> pd.DataFrame:
    """Each cell against the fastest cell of its group on its host, and against the loop.

    The test respects rounds (the experimental unit). With several rounds: the mean log
    time of each round (job) of each cell forms a cells x rounds table; an additive model
    (cell + round) removes what shifted a whole round, and its residual variance, pooled
    over the group's cells with (cells - 1)(rounds - 1) degrees of freedom, is the
    job-to-job variation that repetitions within one job cannot see. Two cells are compared
    by a t-test of their mean log ratio over the rounds both have (``stats.round_contrast``).
    Why: a pair compared on its repetitions alone would treat the repetitions of one job as
    independent and call drift between two jobs a difference; a pair compared on its own
    rounds only would have 1 degree of freedom with 2 rounds. A pair whose own variance is
    clearly larger than the pooled one (a cell much noisier than its group) is judged on its
    own (``_round_pairs``). The simulation in tests/analysis/test_decisions.py and
    benchmarks/decision_rates.py measures the error rates this gives. With one round per cell
    (older results): today's Mann-Whitney U over the repetitions, and a percentile
    bootstrap CI of the ratio of medians.

    Claims, each at ``ALPHA`` after Holm's correction within the group:
    ``significantly_slower`` (than the best): Holm over *every pair* of the group's cells,
    because the best was picked from the data and a comparison with the data's minimum is
    one of the pairs (Holm over the comparisons with the best alone claimed some identical
    cell slower in 8-10% of simulated groups). ``faster_than_loop``: Holm over all the
    group's cells against the loop, a fixed base case, so that the best's claim is covered
    whichever cell it is. ``equivalent`` (to the best): a TOST, the 90% CI of the time
    ratio cell / best within [1 / (1 + m), 1 + m], m the experiment's
    ``equivalence_margin`` (``margins``; default ``DEFAULT_EQUIVALENCE_MARGIN``).
    """
    if summary.empty:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    margins = margins or {}
    tables = round_table(timings)
    logs = _job_log_means(tables)
    rows = []
    for key, g in summary.groupby(HOST_GROUP, sort=False):
        margin = float(margins.get(key[0], DEFAULT_EQUIVALENCE_MARGIN))
        rows.extend(_group_rows(g, tables, logs, margin))
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    return out.sort_values(HOST_CELL, kind="stable").reset_index(drop=True)
