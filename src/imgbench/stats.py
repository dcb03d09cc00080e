"""Statistics on repetition times: distribution-free, so no normality is assumed."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


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
