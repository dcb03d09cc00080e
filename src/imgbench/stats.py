"""Statistics on repetition times: distribution-free, so no normality is assumed."""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats as sps
from scipy.optimize import nnls


@functools.lru_cache(maxsize=256)
def _median_ci_ranks(n: int, level: float) -> tuple[int, int] | None:
    """0-based ranks of the order statistics bounding the median's CI, or None if too few.

    The ranks depend only on n (the binomial distribution of how many values fall below
    the median), so they are computed once per n with ``scipy.stats.quantile_test``.
    """
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


def coefficient_of_variation(values) -> float:
    x = np.asarray(values, dtype=float)
    if len(x) < 2 or x.mean() == 0:
        return math.nan
    return float(x.std(ddof=1) / x.mean())


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
