"""imgbench.analysis.libraries and the deck's slide: the same task under each library,
its loop and its best cell against Pillow's loop."""

import pytest

from imgbench.analysis.libraries import libraries_frame
from imgbench.analysis.results import timings_frame
from imgbench.analysis.summary import summary_frame
from imgbench.report.deck.libraries import libraries_section
from tests.helpers import cell_result


@pytest.fixture
def summary():
    results = [
        cell_result("serial", 1, [1.0, 1.0, 1.0]),
        cell_result("threads", 2, [0.6, 0.6, 0.6]),
        cell_result("serial", 1, [0.8, 0.8, 0.8], task="decode_opencv"),
        cell_result("threads", 2, [0.5, 0.5, 0.5], task="decode_opencv"),
        cell_result("serial", 1, [2.0, 2.0, 2.0], task="decode_pyvips"),
        cell_result("threads", 2, [2.5, 2.5, 2.5], task="decode_pyvips"),
        # A task with no form under another library: not on the slide.
        cell_result("serial", 1, [0.1, 0.1, 0.1], task="read"),
    ]
    return summary_frame(timings_frame(results))


def test_each_library_s_loop_and_best_against_pillow_s_loop(summary):
    frame = libraries_frame(summary)
    # Pillow first, then the fastest loop first.
    assert list(frame["library"]) == ["pillow", "opencv", "pyvips"]
    assert set(frame["base"]) == {"decode"}
    row = frame.set_index("library").loc["opencv"]
    assert row["loop_median_s"] == pytest.approx(0.8)
    assert row["loop_vs_pillow"] == pytest.approx(1.25)
    assert (row["best_strategy"], row["best_workers"]) == ("threads", 2)
    assert row["best_vs_pillow_loop"] == pytest.approx(2.0)
    slow = frame.set_index("library").loc["pyvips"]
    # Its loop is its best: threads are slower for it.
    assert slow["best_strategy"] == "serial" and slow["loop_vs_pillow"] == pytest.approx(0.5)
    assert slow["loop_megapixels_per_cpu_s"] == pytest.approx(10 * 64 / 1e6 / 2.0)


def test_one_library_alone_gets_no_slide(summary):
    pillow_only = summary[summary["task"].isin(["decode", "read"])]
    assert libraries_frame(pillow_only).empty
    assert libraries_section(pillow_only) is None


def test_the_slide_names_each_library_and_how_it_was_held_to_one_thread(summary):
    section = libraries_section(summary)
    rows = [[c.text for c in row.cells] for row in section["table"].rows]
    assert [r[0] for r in rows] == ["decode"] * 3
    assert [r[3] for r in rows] == ["pillow", "opencv", "pyvips"]
    assert "cv2.setNumThreads" in section["note"] and "VIPS_CONCURRENCY" in section["note"]
