"""imgbench.analysis.pools and the deck's slide: per batch against a kept pool, and the
break-even against the loop."""

import math

import pytest

from imgbench.analysis.pools import break_even, pools_frame
from imgbench.analysis.results import timings_frame
from imgbench.analysis.summary import summary_frame
from imgbench.report.deck.pools import pools_section
from tests.helpers import cell_result


def _kept(result, start_s):
    result["phases"] = {"pool_start_s": start_s}
    return result


@pytest.fixture
def tables():
    results = [
        cell_result("serial", 1, [1.0, 1.0, 1.0]),
        cell_result("processes", 2, [0.8, 0.8, 0.8]),
        _kept(cell_result("processes_persistent", 2, [0.55, 0.55, 0.55]), 0.9),
        cell_result("threads", 2, [0.7, 0.7, 0.7]),  # no kept form: no row
        # A kept pool no faster than the loop never pays for its start.
        cell_result("processes_chunked", 2, [1.3, 1.3, 1.3]),
        _kept(cell_result("processes_chunked_persistent", 2, [1.1, 1.1, 1.1]), 0.2),
    ]
    timings = timings_frame(results)
    return summary_frame(timings), timings


def test_each_pair_gets_its_saving_and_break_even(tables):
    frame = pools_frame(*tables).set_index("strategy")
    assert sorted(frame.index) == ["processes", "processes_chunked"]
    row = frame.loc["processes"]
    assert row["per_batch_median_s"] == pytest.approx(0.8)
    assert row["persistent_median_s"] == pytest.approx(0.55)
    assert row["pool_start_s"] == pytest.approx(0.9)
    assert row["saved_per_batch_s"] == pytest.approx(0.25)
    # 0.9 s of start repaid at 0.45 s per batch against the loop: after 2 batches.
    assert row["break_even_batches"] == 2
    assert math.isinf(frame.loc["processes_chunked", "break_even_batches"])


def test_break_even():
    assert break_even(0.9, 1.0, 0.55) == 2
    assert break_even(0.0, 1.0, 0.5) == 1  # a free pool pays from the first batch
    assert math.isinf(break_even(0.1, 1.0, 1.0))
    assert math.isinf(break_even(math.nan, 1.0, 0.5))


def test_the_deck_shows_the_pairs_only_where_both_ran(tables):
    section = pools_section(*tables)
    cells = [[c.text for c in row.cells] for row in section["table"].rows]
    assert [c[-1] for c in cells] == ["2 batches", "none"]
    assert "Break-even" in section["note"]
    summary, timings = tables
    per_batch_only = ~summary["strategy"].str.endswith("_persistent")
    assert pools_section(summary[per_batch_only], timings) is None


def test_results_before_persistent_pools_read_as_per_batch():
    timings = timings_frame([cell_result("processes", 2, [0.8, 0.8])])
    assert (timings["pool_start_s"] == 0.0).all()
