import math

import numpy as np
import pytest
from scipy import stats as sps

from imgbench.analysis.stats import (
    amdahl_fit,
    equivalent,
    hierarchical_median_cis,
    hierarchical_speedup_cis,
    holm,
    karp_flatt,
    mann_whitney_p,
    mann_whitney_ps,
    max_missed_difference,
    median_ci,
    round_contrast,
    round_residual,
    smallest_mann_whitney_p,
    speedup_ci,
    speedup_cis,
    tukey_outliers,
)


def test_six_repetitions_give_min_max_at_95_percent():
    # P(median outside [x(1), x(6)]) = 2 * 0.5**6 = 0.03125, so [min, max] covers >= 95%.
    assert median_ci([5, 1, 3, 2, 6, 4]) == (1.0, 6.0, 0.95)


def test_too_few_repetitions_report_the_level_they_reach():
    low, high, level = median_ci([3, 1, 2, 5, 4])
    assert (low, high) == (1.0, 5.0)
    assert level == pytest.approx(1 - 2 * 0.5**5)  # 0.9375, not a false 95%


def test_twenty_repetitions_use_order_statistics():
    # For n = 20 the exact binomial 95% interval of the median is [x(6), x(15)].
    values = [float(v) for v in range(1, 21)]
    low, high, level = median_ci(values)
    assert (low, high, level) == (6.0, 15.0, 0.95)


def test_degenerate_inputs():
    assert median_ci([2.0]) == (2.0, 2.0, 0.0)
    assert all(math.isnan(v) for v in median_ci([]))


def test_tukey_outliers_are_counted_not_removed():
    # Q1 = 1.0, Q3 = 1.0875, IQR = 0.0875: 5.0 is far outside, 1.1 is inside.
    assert tukey_outliers([1.0, 1.1, 1.0, 1.05, 1.0, 5.0]) == 1
    assert tukey_outliers([1.0, 1.0, 1.0]) == 0


def test_speedup_ci_brackets_the_ratio_of_medians():
    base = [4.0, 4.0, 4.2, 3.8, 4.0, 4.0]
    cell = [2.0, 2.1, 1.9, 2.0, 2.0, 2.0]
    low, high = speedup_ci(base, cell)
    assert low <= 2.0 <= high
    # Bounds are ratios of observed values: 3.8/2.1 is the smallest possible, 4.2/1.9 the largest.
    assert low >= 3.8 / 2.1 and high <= 4.2 / 1.9
    assert speedup_ci(base, cell) == (low, high)  # fixed seed: reproducible
    assert speedup_ci([2.0, 2.0], [1.0, 1.0]) == (2.0, 2.0)


def test_karp_flatt_serial_fraction():
    # S = 1.6 on p = 4: (1/1.6 - 1/4) / (1 - 1/4) = 0.375 / 0.75 = 0.5
    assert karp_flatt(1.6, 4) == pytest.approx(0.5)
    # Perfect speedup: no serial fraction.
    assert karp_flatt(2.0, 2) == pytest.approx(0.0)
    assert math.isnan(karp_flatt(1.0, 1))


def test_amdahl_fit_recovers_the_model():
    # T(p) = 2 + 8 / p at p = 1, 2, 4, 8: 10, 6, 4, 3.
    ts, tp, r2 = amdahl_fit([1, 2, 4, 8], [10.0, 6.0, 4.0, 3.0])
    assert (ts, tp) == (pytest.approx(2.0), pytest.approx(8.0))
    assert r2 == pytest.approx(1.0)
    # Slower with more workers: no parallel part (Tp clipped at 0, not negative).
    ts, tp, r2 = amdahl_fit([1, 2], [1.0, 1.2])
    assert tp == 0.0 and ts == pytest.approx(1.1)
    assert math.isnan(r2)  # two points: R^2 says nothing


def test_mann_whitney():
    # Complete separation of 6 vs 6: p = 2 / C(12, 6) = 2 / 924.
    assert mann_whitney_p([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]) == pytest.approx(2 / 924)
    assert mann_whitney_p([1, 3, 5, 7, 9, 11], [2, 4, 6, 8, 10, 12]) > 0.5
    assert mann_whitney_p([1.0, 1.0], [1.0, 1.0]) == 1.0


def test_batched_mann_whitney_matches_scipy_row_by_row():
    rng = np.random.default_rng(3)
    a = rng.normal(1.0, 0.1, (20, 6))
    b = rng.normal(1.1, 0.1, (20, 6))
    b[:5, 0] = a[:5, 0]  # ties in some rows only
    expected = [
        sps.mannwhitneyu(x, y, alternative="two-sided").pvalue for x, y in zip(a, b, strict=True)
    ]
    assert np.allclose(mann_whitney_ps(a, b), expected)


def test_batched_speedup_cis_bracket_each_ratio():
    rng = np.random.default_rng(4)
    base = rng.lognormal(0.7, 0.05, (30, 6))
    cells = rng.lognormal(0.0, 0.05, (30, 6))
    low, high = speedup_cis(base, cells)
    ratio = np.median(base, axis=1) / np.median(cells, axis=1)
    assert (low <= ratio).all() and (ratio <= high).all()
    assert np.array_equal(speedup_cis(base, cells)[0], low)


def test_smallest_mann_whitney_p():
    assert smallest_mann_whitney_p(3, 3) == pytest.approx(0.1)
    assert smallest_mann_whitney_p(4, 4) == pytest.approx(2 / 70)
    assert smallest_mann_whitney_p(6, 6) == pytest.approx(2 / 924)


def test_holm_adjusts_step_down_and_ignores_nan():
    adjusted = holm([0.01, 0.04, math.nan, 0.03])
    # Sorted 0.01, 0.03, 0.04 (m = 3): 0.03, max(0.03, 0.06), max(0.06, 0.04).
    assert adjusted[0] == pytest.approx(0.03)
    assert adjusted[3] == pytest.approx(0.06) and adjusted[1] == pytest.approx(0.06)
    assert math.isnan(adjusted[2])
    assert holm([0.5, 0.9]).max() == 1.0
    assert holm([]).size == 0


def test_hierarchical_cis_resample_rounds_then_repetitions():
    rng = np.random.default_rng(5)
    base = rng.lognormal(0.7, 0.03, (40, 2, 3))
    cells = rng.lognormal(0.0, 0.03, (40, 2, 3))
    low, high = hierarchical_speedup_cis(base, cells)
    ratio = np.median(base.reshape(40, -1), axis=1) / np.median(cells.reshape(40, -1), axis=1)
    assert (low <= ratio).all() and (ratio <= high).all()
    assert np.array_equal(hierarchical_speedup_cis(base, cells)[1], high)  # fixed seed
    # Two rounds far apart: the interval spans both rounds' medians, unlike one of
    # repetitions that ignores which round each came from.
    two = np.array([[[1.0, 1.01, 0.99], [1.5, 1.51, 1.49]]])
    low, high = hierarchical_median_cis(two)
    assert low[0] <= 1.01 and high[0] >= 1.49
    # A round with fewer repetitions (NaN-padded) never draws the padding.
    padded = np.array([[[1.0, 1.0, math.nan], [2.0, 2.0, 2.0]]])
    low, high = hierarchical_median_cis(padded)
    assert 1.0 <= low[0] <= high[0] <= 2.0


def test_the_round_model_cancels_a_shift_of_the_whole_round():
    # Two cells, three rounds; round 2 is 30% slower for both: no residual at all.
    table = np.log([[1.0, 1.3, 1.0], [2.0, 2.6, 2.0]])
    ss, df = round_residual(table)
    assert ss == pytest.approx(0.0, abs=1e-12) and df == 2
    p, ratio, low, high = round_contrast(table[1], table[0], residual_var=0.01**2, df=12)
    assert ratio == pytest.approx(2.0) and p < 1e-6 and low < 2.0 < high
    p, ratio, low, high = round_contrast(table[0], table[0], residual_var=0.01**2, df=12)
    assert (p, ratio) == (pytest.approx(1.0), pytest.approx(1.0))
    assert all(math.isnan(v) for v in round_contrast(table[0], table[1], 0.01, 0))


def test_equivalence_is_a_ci_inside_the_margin():
    assert equivalent(0.97, 1.04, 0.05)
    assert not equivalent(0.94, 1.02, 0.05)  # 1 / 1.05 = 0.952
    assert not equivalent(math.nan, 1.0, 0.05)
    assert max_missed_difference(0.9, 1.05) == pytest.approx(1 / 0.9 - 1)
    assert max_missed_difference(0.99, 1.2) == pytest.approx(0.2)
