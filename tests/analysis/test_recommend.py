import pytest

from imgbench.analysis import results as result_files
from imgbench.analysis.comparisons import comparisons_frame
from imgbench.analysis.recommend import recommendations_frame
from imgbench.analysis.speedup import speedup_frame
from imgbench.analysis.summary import summary_frame
from tests.helpers import cell_result


def _recommend(*results):
    timings = result_files.timings_frame(list(results))
    summary = summary_frame(timings)
    speedup = speedup_frame(summary, timings)
    comparisons = comparisons_frame(summary, timings)
    return recommendations_frame(summary, speedup, comparisons)


def test_a_clear_winner_with_a_tie_names_the_runner_up():
    rec = _recommend(
        cell_result("serial", 1, [4.0, 4.1, 3.9, 4.0, 4.05, 3.95], n=800),
        cell_result("processes_chunked", 2, [2.15, 2.2, 2.1, 2.14, 2.16, 2.12], n=800),
        # Interleaved with the winner's repetitions: not significantly slower.
        cell_result("threads", 2, [2.13, 2.21, 2.11, 2.17, 2.15, 2.19], n=800),
        cell_result("asyncio", 2, [3.0, 3.1, 2.9, 3.0, 3.05, 2.95], n=800),
    ).iloc[0]
    assert (rec["best_strategy"], rec["best_workers"]) == ("processes_chunked", 2)
    assert rec["speedup"] == pytest.approx(4.0 / 2.145)
    assert (rec["runner_up_strategy"], rec["runner_up_workers"]) == ("threads", 2)
    assert rec["within_noise"] == "threads x2"
    sentence = rec["sentence"]
    assert sentence.startswith(
        "For decode at 800 images of 8x8 (disk, cold cache), processes_chunked with 2 workers "
        "is 1.86x ("
    )
    assert sentence.endswith(
        "faster than the loop; processes_chunked with 2 workers and threads with 2 workers are "
        "equivalent (within 5%)."
    )
    assert rec["equivalent"] == "threads x2" and rec["not_told_apart"] == ""
    assert rec["faster_than_loop"] and not rec["withheld"] and rec["bound"] == 2
    assert "asyncio" not in sentence and "within noise" not in sentence


def test_no_runner_up_when_everything_else_is_slower():
    rec = _recommend(
        cell_result("serial", 1, [4.0, 4.1, 3.9, 4.0, 4.05, 3.95]),
        cell_result("threads", 2, [2.0, 2.1, 1.9, 2.0, 2.0, 2.05]),
    ).iloc[0]
    assert rec["runner_up_strategy"] == "" and rec["within_noise"] == ""
    # The CI is a seeded bootstrap: reproducible, and inside [3.9/2.05, 4.1/1.95].
    assert rec["sentence"] == (
        "For decode at 10 images of 8x8 (disk, cold cache), threads with 2 workers is "
        "2.00x (1.93-2.05) faster than the loop."
    )


def test_the_loop_winning_is_said_plainly():
    rec = _recommend(
        cell_result("serial", 1, [1.0, 1.01, 0.99, 1.0, 1.0, 1.02]),
        cell_result("processes", 2, [5.0, 5.1, 4.9, 5.0, 5.0, 5.2]),
    ).iloc[0]
    assert rec["best_strategy"] == "serial"
    assert (
        "the plain loop is fastest (1 s); every parallel strategy is significantly slower"
        in (rec["sentence"])
    )


def test_no_claim_when_the_loop_is_within_noise():
    rec = _recommend(
        cell_result("serial", 1, [1.0, 1.2, 0.9, 1.1, 1.0, 1.15]),
        cell_result("threads", 2, [0.98, 1.19, 0.92, 1.05, 1.01, 1.1]),
    ).iloc[0]
    assert rec["best_strategy"] == "threads"
    assert "the loop is not significantly slower" in rec["sentence"]
    assert "faster than the loop" not in rec["sentence"]


def test_too_few_repetitions_claim_no_tie():
    # 3 vs 3 repetitions: even complete separation gives p = 0.1, so nothing is "within noise".
    rec = _recommend(
        cell_result("serial", 1, [1.0, 1.01, 0.99]),
        cell_result("processes", 2, [7.0, 7.1, 6.9]),
    ).iloc[0]
    assert rec["best_strategy"] == "serial"
    assert rec["within_noise"] == "" and rec["runner_up_strategy"] == ""
    assert "too few repetitions for any difference to reach p < 0.05" in rec["sentence"]
    assert "within noise" not in rec["sentence"]


def test_a_speedup_above_the_cores_is_withheld_with_its_likely_cause():
    # 2.5x with 4 workers on 2 usable cores, and the loop used 39% more CPU per image.
    loop = cell_result("serial", 1, [3.0, 3.1, 2.9, 3.0, 3.05, 2.95])
    threads = cell_result("threads", 4, [1.2, 1.21, 1.19, 1.2, 1.2, 1.22])
    for rep in threads["repetitions"]:
        rep["cpu_s"] = rep["wall_s"] * 1.8
    rec = _recommend(loop, threads).iloc[0]
    assert rec["bound"] == 2 and rec["exceeds_bound"] and rec["withheld"]
    assert not rec["faster_than_loop"]
    assert rec["cpu_per_image_ratio"] == pytest.approx(3.0 / (1.2 * 1.8))
    sentence = rec["sentence"]
    assert "is above the 2x that 4 workers on 2 usable cores allow" in sentence
    assert "not reported as a finding" in sentence and "faster than the loop" not in sentence
    assert "the loop used 39% more CPU per image than this cell" in sentence


def test_cells_that_cannot_be_told_apart_say_what_could_have_been_missed():
    rec = _recommend(
        cell_result("serial", 1, [1.0, 1.2, 0.9, 1.1, 1.0, 1.15]),
        cell_result("threads", 2, [0.98, 1.19, 0.92, 1.05, 1.01, 1.1]),
        cell_result("asyncio", 2, [0.99, 1.18, 0.93, 1.04, 1.0, 1.1]),
    ).iloc[0]
    assert rec["not_told_apart"] == "threads x2; serial x1" and rec["equivalent"] == ""
    assert (
        "threads with 2 workers cannot be told apart from the best; a difference of up to"
        in (rec["sentence"])
    )
    assert "could have been missed" in rec["sentence"]
    assert "equivalent" not in rec["sentence"] and "within noise" not in rec["sentence"]
