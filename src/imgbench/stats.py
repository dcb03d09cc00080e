"""Statistics on repetition times: distribution-free, so no normality is assumed."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps
from scipy.optimize import nnls


def median_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Confidence interval of the median from order statistics: (low, high, achieved level).

    Uses the exact binomial interval (``scipy.stats.quantile_test``). With too few
    repetitions for ``level`` (fewer than 6 for 95%), the widest interval, [min, max], is
    returned with the level it actually achieves, 1 - 2 * 0.5**n, rather than a false claim.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    if n == 1:
        return float(x[0]), float(x[0]), 0.0
    ci = sps.quantile_test(x, q=float(np.median(x)), p=0.5).confidence_interval(level)
    if math.isnan(ci.low) or math.isnan(ci.high):
        return float(x.min()), float(x.max()), 1.0 - 2.0 * 0.5**n
    return float(ci.low), float(ci.high), level


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


def speedup_ci(
    baseline, cell, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap CI of median(baseline) / median(cell), resampling both sets of repetitions.

    Percentile intervals from ``scipy.stats.bootstrap`` with a fixed seed, so the same
    timings always give the same interval.
    """
    base = np.asarray(baseline, dtype=float)
    this = np.asarray(cell, dtype=float)
    if len(base) < 2 or len(this) < 2:
        return math.nan, math.nan
    if np.ptp(base) == 0 and np.ptp(this) == 0:
        ratio = float(base[0] / this[0])
        return ratio, ratio
    result = sps.bootstrap(
        (base, this),
        _median_ratio,
        n_resamples=resamples,
        confidence_level=level,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


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


def mann_whitney_p(a, b) -> float:
    """Two-sided Mann-Whitney U p-value: do two sets of repetitions differ in location?"""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if np.array_equal(np.unique(a), np.unique(b)) and len(np.unique(a)) == 1:
        return 1.0
    return float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
