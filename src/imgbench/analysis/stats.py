"""Statistics on repetition times.

Medians, their CIs and the Mann-Whitney test are distribution-free (no normality assumed).
With several rounds per cell the comparisons use the round model (``round_residual``,
``round_contrast``): a t-test on log times averaged per round, which assumes roughly normal
round means on the log scale; its error rates are measured by tests/analysis/test_decisions.py.

scipy is imported inside the functions that compute with it: the stages that only read the
tables (figures, deck, report, bundle, summary) import this module too, and scipy.stats would
cost each of them about a second of start-up.
"""

from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=256)
def _median_ci_ranks(n: int, level: float) -> tuple[int, int] | None:
    """0-based ranks of the order statistics bounding the median's CI, or None if too few.

    The ranks depend only on n (the binomial distribution of how many values fall below
    the median), so they are computed once per n with ``scipy.stats.quantile_test``.
    """
    from scipy import stats as sps

    ranks = np.arange(n, dtype=float)
    ci = sps.quantile_test(ranks, q=float(np.median(ranks)), p=0.5).confidence_interval(level)
    if math.isnan(ci.low) or math.isnan(ci.high):
        return None
    return int(ci.low), int(ci.high)


def median_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Confidence interval of the median from order statistics: (low, high, achieved level).

    Uses the exact binomial interval (``scipy.stats.quantile_test``). With too few
    repetitions for ``level`` (fewer than 6 for 95%), the widest interval, [min, max], is
    returned with the level it actually achieves, 1 - 2 * 0.5**n, rather than a false claim.
    """
    x = np.sort(np.asarray(values, dtype=float))
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    if n == 1:
        return float(x[0]), float(x[0]), 0.0
    ranks = _median_ci_ranks(n, level)
    if ranks is None:
        return float(x[0]), float(x[-1]), 1.0 - 2.0 * 0.5**n
    return float(x[ranks[0]]), float(x[ranks[1]]), level


def tukey_outliers(values) -> int:
    """How many values lie outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] (reported, never removed)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 4:
        return 0
    q1, q3 = np.percentile(x, [25, 75])
    fence = 1.5 * (q3 - q1)
    return int(((x < q1 - fence) | (x > q3 + fence)).sum())


def _median_ratio(base, cell, axis=-1):
    return np.median(base, axis=axis) / np.median(cell, axis=axis)


def speedup_cis(
    baseline, cells, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap CIs of median(baseline[i]) / median(cells[i]) for every row i at once.

    ``baseline`` and ``cells`` are 2-D (rows x repetitions). Percentile intervals from one
    batched ``scipy.stats.bootstrap`` call with a fixed seed: the same table of timings
    always gives the same intervals.
    """
    from scipy import stats as sps

    base = np.atleast_2d(np.asarray(baseline, dtype=float))
    this = np.atleast_2d(np.asarray(cells, dtype=float))
    rows = base.shape[0]
    if rows == 0 or base.shape[1] < 2 or this.shape[1] < 2:
        return np.full(rows, math.nan), np.full(rows, math.nan)
    result = sps.bootstrap(
        (base, this),
        _median_ratio,
        n_resamples=resamples,
        confidence_level=level,
        method="percentile",
        vectorized=True,
        axis=-1,
        batch=250,
        rng=np.random.default_rng(seed),
    )
    low = np.asarray(result.confidence_interval.low, dtype=float).reshape(rows)
    high = np.asarray(result.confidence_interval.high, dtype=float).reshape(rows)
    # Constant repetitions give a degenerate (but exact) interval: the ratio itself.
    constant = (np.ptp(base, axis=1) == 0) & (np.ptp(this, axis=1) == 0)
    low[constant] = high[constant] = base[constant, 0] / this[constant, 0]
    return low, high


def speedup_ci(
    baseline, cell, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap CI of median(baseline) / median(cell), resampling both sets of repetitions."""
    low, high = speedup_cis([baseline], [cell], level, resamples, seed)
    return float(low[0]), float(high[0])


def karp_flatt(speedup: float, workers: int) -> float:
    """Experimentally determined serial fraction e = (1/S - 1/p) / (1 - 1/p); NaN for p = 1."""
    if workers <= 1 or not math.isfinite(speedup) or speedup <= 0:
        return math.nan
    return (1.0 / speedup - 1.0 / workers) / (1.0 - 1.0 / workers)


def amdahl_fit(workers, times) -> tuple[float, float, float]:
    """Fit T(p) = Ts + Tp / p by non-negative least squares; return (Ts, Tp, R^2).

    R^2 is NaN with two points or fewer: two points fit any such curve exactly.
    """
    from scipy.optimize import nnls

    p = np.asarray(workers, dtype=float)
    t = np.asarray(times, dtype=float)
    design = np.column_stack([np.ones_like(p), 1.0 / p])
    (ts, tp), _ = nnls(design, t)
    residual = t - design @ np.array([ts, tp])
    total = float(((t - t.mean()) ** 2).sum())
    r2 = 1.0 - float((residual**2).sum()) / total if total > 0 and len(p) > 2 else math.nan
    return float(ts), float(tp), r2


def mann_whitney_ps(a, b) -> np.ndarray:
    """Two-sided Mann-Whitney U p-values row by row for 2-D (rows x repetitions) inputs."""
    from scipy import stats as sps

    a = np.atleast_2d(np.asarray(a, dtype=float))
    b = np.atleast_2d(np.asarray(b, dtype=float))
    rows = a.shape[0]
    if rows == 0 or a.shape[1] < 2 or b.shape[1] < 2:
        return np.full(rows, math.nan)
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    ties = (np.diff(both, axis=1) == 0).any(axis=1)
    # As scipy's "auto" does per call: the exact distribution for small samples without
    # ties, the normal approximation (tie-corrected) otherwise.
    small = min(a.shape[1], b.shape[1]) <= 8
    p = np.empty(rows)
    for mask, method in ((~ties, "exact" if small else "asymptotic"), (ties, "asymptotic")):
        if mask.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                result = sps.mannwhitneyu(
                    a[mask], b[mask], alternative="two-sided", axis=-1, method=method
                )
            p[mask] = np.asarray(result.pvalue, dtype=float).reshape(int(mask.sum()))
    # Identical constant samples have no spread to test: they do not differ.
    same = (np.ptp(a, axis=1) == 0) & (np.ptp(b, axis=1) == 0) & (a[:, 0] == b[:, 0])
    p[same] = 1.0
    return p


def smallest_mann_whitney_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value Mann-Whitney U can give for these sample sizes.

    Complete separation is the most extreme outcome: 2 / C(n_a + n_b, n_a). Where that is
    not below the significance level, no difference can ever be shown.
    """
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def mann_whitney_p(a, b) -> float:
    """Two-sided Mann-Whitney U p-value: do two sets of repetitions differ in location?"""
    return float(mann_whitney_ps([a], [b])[0])


# ----- rounds: the experimental unit ---------------------------------------------------------


def _draw_rounds(
    values: np.ndarray, counts: np.ndarray, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Hierarchical bootstrap medians: rows x resamples.

    ``values`` is rows x rounds x repetitions (a round with fewer repetitions is padded),
    ``counts`` rows x rounds the repetitions each round really has. Each resample draws the
    rounds with replacement, then within each drawn round its repetitions with replacement,
    and takes the median of everything drawn.
    """
    rows, n_rounds, width = values.shape
    picked = rng.integers(0, n_rounds, size=(rows, resamples, n_rounds))
    row_index = np.arange(rows)[:, None, None]
    if (counts == width).all():
        reps = rng.integers(0, width, size=(rows, resamples, n_rounds, width))
    else:
        have = counts[row_index, picked]
        reps = (rng.random((rows, resamples, n_rounds, width)) * have[..., None]).astype(np.intp)
    drawn = values[row_index[..., None], picked[..., None], reps]
    return np.median(drawn.reshape(rows, resamples, n_rounds * width), axis=-1)


def _as_rounds(data) -> tuple[np.ndarray, np.ndarray]:
    """(values, counts) from rows x rounds x repetitions, NaN marking missing repetitions."""
    values = np.asarray(data, dtype=float)
    if values.ndim == 2:
        values = values[None]
    present = ~np.isnan(values)
    counts = present.sum(axis=-1)
    if (counts == 0).any():
        raise ValueError("every round needs at least one repetition")
    # Padding is never drawn (indices stay below each round's count) once values are packed
    # to the front of each round.
    order = np.argsort(~present, axis=-1, kind="stable")
    return np.take_along_axis(values, order, axis=-1), counts


#: Rows per batch of the hierarchical bootstrap: bounds its memory (rows x resamples x values).
HIERARCHICAL_BATCH = 64


def hierarchical_speedup_cis(
    baseline, cells, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Hierarchical bootstrap CIs of median(baseline[i]) / median(cells[i]) for every row i.

    ``baseline`` and ``cells`` are rows x rounds x repetitions (NaN pads a round with fewer
    repetitions). Rounds are resampled with replacement, then the repetitions within each
    drawn round, independently for both sides; percentile interval, fixed seed. A round is a
    separate process started at another time, so it is the experimental unit: repetitions of
    one round share its state of the machine and are not independent of each other.
    """
    base, base_n = _as_rounds(baseline)
    this, this_n = _as_rounds(cells)
    rows = base.shape[0]
    low, high = np.full(rows, math.nan), np.full(rows, math.nan)
    rng = np.random.default_rng(seed)
    tail = (1.0 - level) / 2.0
    for start in range(0, rows, HIERARCHICAL_BATCH):
        part = slice(start, start + HIERARCHICAL_BATCH)
        ratio = _draw_rounds(base[part], base_n[part], resamples, rng) / _draw_rounds(
            this[part], this_n[part], resamples, rng
        )
        low[part], high[part] = np.quantile(ratio, [tail, 1.0 - tail], axis=1)
    return low, high


def hierarchical_median_cis(
    values, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Hierarchical bootstrap CIs of the median of every row (rows x rounds x repetitions)."""
    data, counts = _as_rounds(values)
    rows = data.shape[0]
    low, high = np.full(rows, math.nan), np.full(rows, math.nan)
    rng = np.random.default_rng(seed)
    tail = (1.0 - level) / 2.0
    for start in range(0, rows, HIERARCHICAL_BATCH):
        part = slice(start, start + HIERARCHICAL_BATCH)
        medians = _draw_rounds(data[part], counts[part], resamples, rng)
        low[part], high[part] = np.quantile(medians, [tail, 1.0 - tail], axis=1)
    return low, high


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count as a test).

    Holm controls the probability of any false claim among the tests at the level used,
    whatever their dependence: the adjusted p of the i-th smallest of m p-values is
    max over j <= i of min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def round_residual(log_medians) -> tuple[float, int]:
    """Residual sum of squares and degrees of freedom of cells x rounds (complete table).

    The additive model log m[c, r] = cell effect + round effect + residual, fitted to the
    log median of each round of each cell: the residual is what varies from one job of a
    cell to the next beyond what shifted the whole round (drift of the machine between
    jobs, and the within-round noise of a median of a few repetitions).
    """
    table = np.asarray(log_medians, dtype=float)
    cells, rounds = table.shape
    df = (cells - 1) * (rounds - 1)
    if df < 1:
        return math.nan, 0
    fitted = table.mean(axis=1, keepdims=True) + table.mean(axis=0, keepdims=True) - table.mean()
    return float(((table - fitted) ** 2).sum()), df


def round_contrast(
    log_a, log_b, residual_var: float, df: int, level: float = 0.90
) -> tuple[float, float, float, float]:
    """Compare two cells on the rounds both have: (p, ratio, ci_low, ci_high).

    ``log_a``, ``log_b``: each round's log median (same rounds, same order). The estimate is
    the mean over rounds of log(a_r / b_r), so a shift of the whole round cancels; its
    standard error sqrt(2 s^2 / rounds) uses the residual variance s^2 of the group's
    cells x rounds table (``round_residual``) with its ``df``. Two-sided t p-value; the ratio
    a / b and its CI at ``level`` are exp of the estimate and of its t interval.
    """
    from scipy import stats as sps

    a, b = np.asarray(log_a, dtype=float), np.asarray(log_b, dtype=float)
    if len(a) == 0 or df < 1 or not math.isfinite(residual_var):
        return math.nan, math.nan, math.nan, math.nan
    d = float(np.mean(a - b))
    se = math.sqrt(2.0 * residual_var / len(a))
    if se == 0:
        p = 1.0 if d == 0 else 0.0
        return p, math.exp(d), math.exp(d), math.exp(d)
    t = d / se
    p = float(2.0 * sps.t.sf(abs(t), df))
    q = float(sps.t.ppf(0.5 + level / 2.0, df))
    return p, math.exp(d), math.exp(d - q * se), math.exp(d + q * se)


def equivalent(ci_low: float, ci_high: float, margin: float) -> bool:
    """TOST at 5%: the 90% CI of a time ratio lies within [1 / (1 + margin), 1 + margin]."""
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return False
    return 1.0 / (1.0 + margin) <= ci_low and ci_high <= 1.0 + margin


def max_missed_difference(ci_low: float, ci_high: float) -> float:
    """The largest relative difference a ratio's CI does not exclude (0.08: 8%), either way."""
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)) or ci_low <= 0:
        return math.nan
    return max(ci_high - 1.0, 1.0 / ci_low - 1.0, 0.0)
