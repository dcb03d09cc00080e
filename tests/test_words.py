"""How numbers and cells are written for people: each rule of ``imgbench.words`` pinned."""

from __future__ import annotations

import math

import pytest

from imgbench import words


@pytest.mark.parametrize("missing", [None, math.nan, "", "  ", "abc", math.inf])
def test_anything_missing_is_na(missing):
    for fmt in (words.seconds, words.milliseconds, words.duration, words.decimal, words.p_value):
        assert fmt(missing) == "n/a"
    assert words.percent(missing) == words.integer(missing) == words.mib(missing) == "n/a"


def test_reading_table_values():
    assert words.number("0.5") == 0.5 and math.isnan(words.number("x"))
    assert words.is_true("True") and words.is_true(" yes ") and words.is_true(1)
    assert not words.is_true(math.nan) and not words.is_true(None) and not words.is_true("no")
    assert words.is_missing(None) and words.is_missing(math.nan) and words.is_missing(" ")
    assert not words.is_missing(0) and not words.is_missing("a")


def test_seconds_three_significant_digits_keeping_zeros():
    assert words.seconds(0.2) == "0.200"
    assert words.seconds(0.0107) == "0.0107"
    assert words.seconds(12) == "12.0"
    assert words.seconds(99.94) == "99.9"
    assert words.seconds(123.4) == "123"
    assert words.seconds("0.25") == "0.250"


def test_milliseconds_and_durations():
    assert words.milliseconds(0.0123) == "12.3"
    assert words.milliseconds(0.25) == "250"
    assert words.milliseconds(2.25e-6) == "<0.01"
    assert words.duration(0.0123) == "12.3 ms"
    assert words.duration(0.2) == "200 ms"
    assert words.duration(1.234) == "1.23 s"


def test_speedups():
    assert words.speedup(1.834) == "1.83×"
    assert words.speedup(1.834, words.ASCII_TIMES) == "1.83x"
    assert words.speedup(math.inf) == "∞"
    assert words.speedup(12.4) == "12.40×"
    assert words.speedup(12.4, compact=True) == "12×"
    assert words.speedup(9.99, compact=True) == "9.99×"
    assert words.speedup(math.inf, compact=True) == "n/a"
    assert words.speedup_ci(1.83, 1.65, 2.01) == "1.83× (1.65–2.01)"
    assert words.speedup_ci(1.83, None, 2.01) == "1.83×"
    assert words.speedup_ci(1.83, 1.65, 2.01, "x", "-") == "1.83x (1.65-2.01)"


def test_intervals_percentages_p_values_sizes():
    assert words.interval(0.19, 0.21) == "0.190–0.210"
    assert words.interval(1.0, 2.0, words.decimal) == "1.00–2.00"
    assert words.interval(1.0, None) == "n/a"
    assert words.percent(0.2) == "20.0%" and words.percent(0.913, 0) == "91%"
    assert words.rough_percent(0.3) == "30%" and words.rough_percent(0.05) == "5%"
    assert words.rough_percent(0.004) == "0.4%"
    assert words.p_value(0.0412) == "0.041" and words.p_value(0.0004) == "<0.001"
    assert words.decimal(1.7) == "1.70" and words.decimal(3.14159, 3) == "3.142"
    assert words.integer(4.0) == "4"
    assert words.mib(3 * 2**20) == "3 MiB" and words.gib(16 * 2**30) == "16.0 GiB"
    assert words.utc(1_700_000_100.0) == "2023-11-14 22:15 UTC" and words.utc(None) == "n/a"


def test_lists_and_counts():
    assert words.joined(["a", "b"]) == "a, b" and words.joined([]) == "n/a"
    assert words.text(None) == "n/a" and words.text(3) == "3"
    assert words.count(1, "cell") == "1 cell" and words.count(3, "cell") == "3 cells"
    assert words.have(1) == "has" and words.have(2) == "have"


def test_a_cell_in_each_style():
    assert words.who("serial", 1) == "the serial loop"
    assert words.who("threads", 2.0) == "threads ×2"
    assert words.who("serial", 1, words.LABEL) == "serial loop"
    assert words.who("threads", 2, words.LABEL, sep="\n") == "threads\n×2"
    assert words.who("serial", 1, words.PROSE) == "the plain loop"
    assert words.who("threads", 1, words.PROSE) == "threads with 1 worker"
    assert words.who("threads", 4, words.PROSE) == "threads with 4 workers"


ROW = {
    "host": "box",
    "task": "decode",
    "storage": "disk",
    "cache": "warm",
    "width": 1280,
    "height": 960,
    "n_images": 128,
    "strategy": "threads",
    "workers": 2,
}


def test_a_cell_and_a_group_named():
    assert words.size(ROW) == "1280x960"
    assert words.cell_name(ROW) == "decode 1280x960 n=128 threads ×2"
    assert words.cell_name(ROW, with_host=True) == "box: decode 1280x960 n=128 threads ×2"
    assert words.cell_key(ROW) == "decode 1280x960 n128 threads x2"
    assert words.cell_key(ROW, with_storage=True, times="×") == (
        "decode disk-warm 1280x960 n128 threads ×2"
    )
    assert words.group_title(ROW) == "decode · 1280x960 · disk, warm cache · 128 images"
    assert words.group_title(ROW, with_host=True).endswith(" · on box")
