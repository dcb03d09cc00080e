import math

import pytest

from imgbench.stats import coefficient_of_variation, median_ci


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


def test_coefficient_of_variation():
    assert coefficient_of_variation([1.0, 1.0, 1.0]) == 0.0
    assert coefficient_of_variation([2.0, 4.0]) == pytest.approx(math.sqrt(2) / 3)
    assert math.isnan(coefficient_of_variation([1.0]))
