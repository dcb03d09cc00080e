import math

import numpy as np
import pandas as pd
import pytest

from imgbench.analysis import results as result_files
from imgbench.analysis.amdahl import amdahl_frame
from imgbench.analysis.comparisons import comparisons_frame
from imgbench.analysis.metadata import metadata
from imgbench.analysis.speedup import efficiency_frame, speedup_frame
from imgbench.analysis.summary import summary_frame
from imgbench.vocabulary import CELL
from tests.helpers import cell_result


@pytest.fixture
def tables():
    results = [
        cell_result("serial", 1, [4.0, 4.0, 4.2, 3.8, 4.0, 4.0]),
        cell_result("threads", 2, [2.0, 2.1, 1.9, 2.0, 2.0, 2.0]),
        cell_result("threads", 4, [2.5, 2.5, 2.5, 2.5, 2.5, 2.5]),
        cell_result("processes", 2, [8.0, 8.0, 8.0, 8.0, 8.0, 8.0]),
    ]
    timings = result_files.timings_frame(results)
    summary = summary_frame(timings)
    speedup = speedup_frame(summary, timings)
    return timings, summary, speedup, efficiency_frame(speedup)


def test_timings_have_one_row_per_timed_repetition(tables):
    timings = tables[0]
    assert len(timings) == 24
    assert 99.0 not in set(timings["wall_s"])
    for column in CELL + ["wall_s", "cache_method", "resident_fraction", "verified"]:
        assert column in timings.columns


def test_summary_statistics(tables):
    summary = tables[1].set_index(["strategy", "workers"])
    serial = summary.loc[("serial", 1)]
    assert serial["reps"] == 6
    assert serial["median_s"] == 4.0
    assert serial["min_s"] == 3.8 and serial["max_s"] == 4.2
    assert (serial["ci_low_s"], serial["ci_high_s"], serial["ci_level"]) == (3.8, 4.2, 0.95)
    assert serial["mean_s"] == pytest.approx(4.0)
    # Throughput is a rate over all repetitions: 60 images / 24 s.
    assert serial["images_per_s"] == pytest.approx(60 / 24.0)
    assert serial["cpu_per_wall"] == pytest.approx(1.0)


def _by(frame, baseline):
    return frame[frame["baseline"] == baseline].set_index(["strategy", "workers"])


def test_speedup_is_a_ratio_of_medians_against_serial(tables):
    speedup = _by(tables[2], "serial")
    assert speedup.loc[("serial", 1), "speedup"] == 1.0
    assert speedup.loc[("threads", 2), "speedup"] == pytest.approx(2.0)
    assert speedup.loc[("threads", 4), "speedup"] == pytest.approx(1.6)
    assert speedup.loc[("processes", 2), "speedup"] == pytest.approx(0.5)
    row = speedup.loc[("threads", 2)]
    assert row["speedup_ci_low"] <= 2.0 <= row["speedup_ci_high"]
    assert set(tables[2]["baseline"]) == {"serial", "1 worker"}


def test_speedup_against_one_worker_of_the_same_strategy(tables):
    speedup = _by(tables[2], "1 worker")
    # threads x1 was not run in this grid: no base case, so no number.
    assert math.isnan(speedup.loc[("threads", 2), "speedup"])
    assert speedup.loc[("threads", 2), "baseline_strategy"] == "threads"
    assert speedup.loc[("serial", 1), "speedup"] == 1.0


def test_efficiency_is_speedup_per_worker_with_karp_flatt(tables):
    eff = tables[3]
    assert np.allclose(eff["efficiency"], eff["speedup"] / eff["workers"], equal_nan=True, rtol=0)
    serial = _by(eff, "serial")
    assert serial.loc[("threads", 4), "efficiency"] == pytest.approx(0.4)
    # 4 workers on 2 usable cores: missing cores are not serial work, so no Karp-Flatt.
    assert math.isnan(serial.loc[("threads", 4), "karp_flatt"])
    # S = 2 on p = 2: e = (1/2 - 1/2) / (1/2) = 0
    assert serial.loc[("threads", 2), "karp_flatt"] == pytest.approx(0.0)
    assert math.isnan(serial.loc[("serial", 1), "karp_flatt"])
    row = serial.loc[("threads", 2)]
    assert row["efficiency_ci_low"] <= row["efficiency"] <= row["efficiency_ci_high"]


def test_group_without_serial_has_no_speedup():
    timings = result_files.timings_frame([cell_result("threads", 2, [1.0, 1.0, 1.0])])
    speedup = speedup_frame(summary_frame(timings), timings)
    assert math.isnan(_by(speedup, "serial")["speedup"].iloc[0])


def test_overhead_breakdown_and_busy_workers(tables):
    summary = tables[1].set_index(["strategy", "workers"])
    serial = summary.loc[("serial", 1)]
    assert serial["median_work_s"] == pytest.approx(3.2)
    assert serial["median_first_result_s"] + serial["median_work_s"] + serial[
        "median_shutdown_s"
    ] == pytest.approx(serial["median_s"])
    # cpu == wall for every repetition: one busy core, i.e. half of two usable workers.
    assert summary.loc[("threads", 4), "worker_busy"] == pytest.approx(0.5)
    assert summary.loc[("serial", 1), "worker_busy"] == pytest.approx(1.0)


def test_amdahl_fit_per_strategy():
    results = [
        cell_result("serial", 1, [10.0] * 4),
        *[cell_result("threads", p, [2.0 + 8.0 / p] * 4) for p in (1, 2, 4, 8)],
    ]
    for r in results:
        r["machine"]["usable_cores"] = 8
    summary = summary_frame(result_files.timings_frame(results))
    fit = amdahl_frame(summary).set_index("strategy").loc["threads"]
    assert fit["points"] == 4 and fit["fit_max_workers"] == 8
    assert fit["serial_fraction"] == pytest.approx(0.2)
    assert fit["max_speedup"] == pytest.approx(5.0)
    assert fit["fit_r2"] == pytest.approx(1.0)


def test_amdahl_fit_leaves_out_oversubscribed_points():
    results = [
        *[cell_result("threads", p, [2.0 + 8.0 / p] * 4) for p in (1, 2, 4)],
        cell_result("threads", 8, [50.0] * 4),
    ]
    for r in results:
        r["machine"]["usable_cores"] = 4
    summary = summary_frame(result_files.timings_frame(results))
    fit = amdahl_frame(summary).iloc[0]
    assert fit["fit_max_workers"] == 4 and fit["points"] == 3 and fit["fit_note"] == ""
    assert fit["serial_fraction"] == pytest.approx(0.2)


def test_amdahl_is_not_fitted_on_fewer_than_three_points_within_the_cores():
    # 2 usable cores: only 1 and 2 workers are within them; 8 is never fitted instead.
    results = [
        *[cell_result("threads", p, [2.0 + 8.0 / p] * 4) for p in (1, 2)],
        cell_result("threads", 8, [50.0] * 4),
    ]
    summary = summary_frame(result_files.timings_frame(results))
    fit = amdahl_frame(summary).iloc[0]
    assert math.isnan(fit["serial_fraction"]) and math.isnan(fit["max_speedup"])
    assert fit["points"] == 2
    assert "2 worker count(s) within the 2 usable cores, 3 needed" in fit["fit_note"]


def test_comparisons_mark_significantly_slower_cells(tables):
    timings, summary = tables[0], tables[1]
    comparisons = comparisons_frame(summary, timings).set_index(["strategy", "workers"])
    assert set(comparisons["best_strategy"]) == {"threads"}
    assert math.isnan(comparisons.loc[("threads", 2), "mannwhitney_p"])
    assert not comparisons.loc[("threads", 2), "significantly_slower"]
    # Six repetitions each, completely separated (with ties, so the normal approximation).
    assert comparisons.loc[("serial", 1), "mannwhitney_p"] < 0.01
    assert comparisons.loc[("serial", 1), "significantly_slower"]
    assert not comparisons.loc[("serial", 1), "ci_overlap"]


def test_metadata_reports_cache_state_and_hosts(tables):
    results = [cell_result("serial", 1, [1.0, 1.0])]
    meta = metadata(results, result_files.timings_frame(results))
    assert meta["cold_resident_fraction_max"] == 0.0
    assert meta["cache_methods"] == ["drop_caches"]
    # Two repetitions of 1 s: enough clock ticks to judge interference.
    assert meta["other_cpu_per_wall_max"] == pytest.approx(0.01)
    assert meta["steal_per_wall_max"] == 0.0
    assert [h["hostname"] for h in meta["hosts"]] == ["h"]


def test_interference_is_not_judged_on_too_little_time():
    results = [cell_result("serial", 1, [0.01, 0.01])]
    timings = result_files.timings_frame(results)
    assert math.isnan(summary_frame(timings)["other_cpu_per_wall"].iloc[0])
    assert metadata(results, timings)["other_cpu_per_wall_max"] is None


def test_empty_input_gives_empty_tables():
    summary = summary_frame(pd.DataFrame())
    assert summary.empty


def test_cpu_shares_are_not_judged_on_too_little_time():
    # 10 ms of timed wall time in all: CPU time (10 ms ticks) cannot say how busy workers were.
    ticks = cell_result("threads", 2, [0.005, 0.005])
    for rep in ticks["repetitions"]:
        rep["cpu_resolution_s"] = 0.01  # as os.times counted, before getrusage
    summary = summary_frame(result_files.timings_frame([ticks]))
    assert math.isnan(summary["cpu_per_wall"].iloc[0])
    assert math.isnan(summary["worker_busy"].iloc[0])
    # Counted to the microsecond (getrusage), the same 10 ms say how busy the workers were.
    exact = summary_frame(result_files.timings_frame([cell_result("threads", 2, [0.005, 0.005])]))
    assert exact["cpu_per_wall"].iloc[0] == pytest.approx(1.0)


def _rounds(strategy, workers, walls_by_round, n=10, **rep_fields):
    """One result per round of a cell, each with ``rep_fields`` set on every repetition."""
    out = []
    for r, walls in enumerate(walls_by_round, start=1):
        result = cell_result(strategy, workers, walls, n=n)
        result["run"].update(round=r, rounds=len(walls_by_round))
        for rep in result["repetitions"]:
            rep.update(rep_fields)
        out.append(result)
    return out


@pytest.fixture
def rounds_tables():
    results = [
        *_rounds("serial", 1, [[4.0, 4.1, 3.9], [4.2, 4.3, 4.1]]),
        *_rounds("threads", 2, [[2.0, 2.1, 1.9], [2.1, 2.2, 2.0]]),
        # Round 2 is 20% slower than round 1 and they do not overlap: the rounds disagree.
        *_rounds("threads", 4, [[2.0, 2.05, 1.95], [2.4, 2.45, 2.35]]),
    ]
    timings = result_files.timings_frame(results)
    summary = summary_frame(timings)
    return timings, summary, speedup_frame(summary, timings)


def test_rounds_are_pooled_for_medians_and_kept_apart_for_their_spread(rounds_tables):
    timings, summary, _ = rounds_tables
    assert sorted(set(timings["round"])) == [1, 2] and set(timings["rounds"]) == {2}
    assert list(timings["repetition"][:6]) == [0, 1, 2, 0, 1, 2]
    row = summary.set_index(["strategy", "workers"]).loc[("threads", 4)]
    assert row["reps"] == 6 and row["rounds"] == 2
    assert row["median_s"] == pytest.approx((2.05 + 2.35) / 2)  # every repetition pooled
    assert row["round_spread"] == pytest.approx(2.4 / 2.0 - 1)
    assert row["rounds_disagree"]
    assert not summary.set_index("strategy").loc["serial", "rounds_disagree"]
    # The hierarchical bootstrap CI of the median brackets it, at 95%.
    assert row["ci_low_s"] <= row["median_s"] <= row["ci_high_s"] and row["ci_level"] == 0.95


def test_rates_agree_with_the_medians(tables):
    summary = tables[1].set_index(["strategy", "workers"])
    serial = summary.loc[("serial", 1)]
    assert serial["images_per_s"] == pytest.approx(10 / serial["median_s"])
    assert serial["mb_per_s"] == pytest.approx(1000 / serial["median_s"] / 1e6)


def test_speedups_of_rounds_are_hierarchical_and_a_cell_against_itself_is_exact(rounds_tables):
    speedup = _by(rounds_tables[2], "serial")
    row = speedup.loc[("threads", 2)]
    assert row["speedup"] == pytest.approx(4.1 / 2.05)
    assert row["speedup_ci_low"] <= row["speedup"] <= row["speedup_ci_high"]
    loop = speedup.loc[("serial", 1)]
    assert (loop["speedup"], loop["speedup_ci_low"], loop["speedup_ci_high"]) == (1, 1, 1)
    one = _by(rounds_tables[2], "1 worker").loc[("serial", 1)]
    assert (one["speedup_ci_low"], one["speedup_ci_high"]) == (1.0, 1.0)


def test_physical_bounds_and_cpu_per_image(tables):
    speedup = _by(tables[2], "serial")
    # 2 usable cores: threads x4 may give at most 2x; the loop took 4 s of CPU for 10 images.
    assert speedup.loc[("threads", 4), "bound"] == 2
    assert speedup.loc[("threads", 2), "bound"] == 2
    assert not speedup["exceeds_bound"].any()
    row = speedup.loc[("threads", 2)]
    assert row["baseline_cpu_per_image_s"] == pytest.approx(0.4)
    assert row["cpu_per_image_s"] == pytest.approx(0.2)
    assert row["cpu_per_image_ratio"] == pytest.approx(2.0)


def test_waiting_work_is_bounded_by_its_workers_alone():
    results = [
        cell_result("serial", 1, [4.0] * 4, task="download"),
        cell_result("threads", 4, [1.0] * 4, task="download"),
        cell_result("threads", 8, [1.0] * 4, task="download"),
    ]
    results[2]["run"]["task_bound"] = "cpu"  # recorded: wins over the task's default
    timings = result_files.timings_frame(results)
    summary = summary_frame(timings)
    speedup = _by(speedup_frame(summary, timings), "serial")
    assert (
        speedup.loc[("threads", 4), "bound"] == 4 and not speedup.loc[("threads", 4)].exceeds_bound
    )
    assert speedup.loc[("threads", 8), "bound"] == 2 and speedup.loc[("threads", 8)].exceeds_bound
    assert list(summary["task_bound"]) == ["wait", "wait", "cpu"]


def test_a_speedup_is_above_its_bound_only_beyond_noise():
    # 2 usable cores. threads x1 equal to the loop within noise (1.00x-1.01x, CI around 1)
    # and threads x2 1.03x above perfect with a CI reaching 2: perfect scaling measured
    # with noise, not flagged. processes x1 1.04x with every repetition above 1x:
    # significantly above its bound of 1. threads x4 2.2x: 10% above its bound of 2.
    loop = [4.0, 4.01, 3.99, 4.0, 4.02, 3.98]
    results = [
        cell_result("serial", 1, loop),
        cell_result("threads", 1, [3.98, 4.2, 3.8, 4.1, 3.9, 4.0]),
        cell_result("threads", 2, [1.94, 2.1, 1.85, 2.0, 1.9, 1.95]),
        cell_result("processes", 1, [3.85, 3.84, 3.86, 3.85, 3.84, 3.86]),
        cell_result("threads", 4, [1.82, 1.8, 1.84, 1.82, 1.81, 1.83]),
    ]
    timings = result_files.timings_frame(results)
    speedup = _by(speedup_frame(summary_frame(timings), timings), "serial")
    for cell in [("threads", 1), ("threads", 2)]:
        row = speedup.loc[cell]
        assert row["speedup"] > row["bound"] >= row["speedup_ci_low"]
        assert not row["exceeds_bound"], cell
    significant = speedup.loc[("processes", 1)]
    assert 1 < significant["speedup"] < 1.05 and significant["speedup_ci_low"] > 1
    assert significant["exceeds_bound"]
    assert speedup.loc[("threads", 4), "exceeds_bound"]


def test_fairness_facts_and_flagged_extra_reads():
    results = [
        cell_result("serial", 1, [1.0] * 4),
        cell_result("threads", 2, [1.0] * 4),
        cell_result("processes", 2, [1.0] * 4),
    ]
    for result, extra, ready, modules in zip(
        results,
        [0, 1000, 2_000_000],
        [None, None, 0.05],
        [[], [], ["PIL.JpegImagePlugin"]],
        strict=True,
    ):
        result["run"].update(eviction="files", mp_start_method="fork", task_bound="cpu")
        for rep in result["repetitions"]:
            rep.update(
                extra_read_bytes=extra,
                input_bytes=64_000,
                pool_ready_s=ready,
                peak_in_flight=2,
                tree_peak_pss_bytes=300,
                tree_peak_uss_bytes=200,
                worker_imported_modules=modules,
            )
    summary = summary_frame(result_files.timings_frame(results)).set_index("strategy")
    assert list(summary["extra_reads_flag"]) == [True, False, False]  # processes, serial, threads
    assert summary.loc["processes", "median_extra_read_bytes"] == 2_000_000
    assert summary.loc["processes", "median_pool_ready_s"] == pytest.approx(0.05)
    assert math.isnan(summary.loc["threads", "median_pool_ready_s"])
    assert summary.loc["processes", "imported_modules"] == "PIL.JpegImagePlugin"
    assert summary.loc["threads", "imported_modules"] == ""
    assert summary.loc["serial", "max_tree_pss_bytes"] == 300
    assert summary.loc["serial", "max_peak_in_flight"] == 2
    assert summary.loc["serial", "eviction"] == "files"


def test_interference_is_clipped_over_the_cell_not_per_repetition():
    result = cell_result("serial", 1, [1.0, 1.0, 1.0, 1.0])
    # Tick noise: one repetition slightly negative, the others positive.
    for rep, other in zip(result["repetitions"], [0.0, -0.02, 0.01, 0.03, 0.02], strict=True):
        rep["other_cpu_s"] = other
    timings = result_files.timings_frame([result])
    summary = summary_frame(timings)
    assert summary["other_cpu_per_wall"].iloc[0] == pytest.approx(0.04 / 4)
    result["repetitions"][2]["other_cpu_s"] = -0.5
    assert summary_frame(result_files.timings_frame([result]))["other_cpu_per_wall"].iloc[
        0
    ] == pytest.approx(0.0)


def test_comparisons_of_rounds_use_the_round_model_with_holm(rounds_tables):
    timings, summary, _ = rounds_tables
    comparisons = comparisons_frame(summary, timings, {"e": 0.10})
    comparisons = comparisons.set_index(["strategy", "workers"])
    assert set(comparisons["test"]) == {"rounds t"} and set(comparisons["rounds"]) == {2}
    best = comparisons.loc[("threads", 2)]
    assert math.isnan(best["p_value"]) and best["ratio"] == 1.0
    assert (best["ratio_ci90_low"], best["ratio_ci90_high"]) == (1.0, 1.0)
    loop = comparisons.loc[("serial", 1)]
    assert loop["p_holm"] >= loop["p_value"]
    assert loop["ratio"] == pytest.approx(2.0, rel=0.02)
    assert loop["significantly_slower"] and not loop["equivalent"]
    assert comparisons.loc[("threads", 2), "faster_than_loop"]
    assert comparisons.loc[("threads", 2), "ratio_vs_loop"] < 1
    assert set(comparisons["equivalence_margin"]) == {0.10}


def test_metadata_counts_flags_and_methods(rounds_tables):
    timings, summary, speedup = rounds_tables
    results = _rounds("serial", 1, [[1.0, 1.0], [1.0, 1.0]])
    for r in results:
        r["run"].update(eviction="files", task_options={"durability": "fsync"})
    meta = metadata(results, result_files.timings_frame(results), summary=summary, speedup=speedup)
    assert meta["cells"] == 2 and meta["distinct_cells"] == 1 and meta["rounds"] == [2]
    assert meta["eviction_methods"] == ["files"]
    assert meta["durability"] == {"decode": "fsync"}
    assert meta["start_methods"] == {"fork": {"results": 2, "median_pool_ready_s": None}}
    assert meta["rounds_disagree"] == 1 and meta["bound_flags"] == 0
    assert meta["extra_reads_flags"] == 0


def test_a_vectorized_cell_has_no_physical_bound():
    # One numpy operation over the batch: another algorithm, not parallelism.
    results = [
        cell_result("serial", 1, [4.0] * 4, task="grayscale"),
        cell_result("vectorized", 1, [0.1] * 4, task="grayscale"),
    ]
    timings = result_files.timings_frame(results)
    speedup = speedup_frame(summary_frame(timings), timings)
    row = _by(speedup, "serial").loc[("vectorized", 1)]
    assert row["speedup"] == pytest.approx(40.0)
    assert math.isnan(row["bound"]) and not row["exceeds_bound"]


def test_the_cells_memory_comes_from_its_warm_ups():
    result = cell_result("processes", 2, [1.0] * 4)
    for rep in result["repetitions"]:
        rep.update(tree_peak_pss_bytes=None, tree_peak_uss_bytes=None)
    result["memory"] = {"tree_peak_pss_bytes": 900, "tree_peak_uss_bytes": 700}
    summary = summary_frame(result_files.timings_frame([result]))
    assert summary.loc[0, "max_tree_pss_bytes"] == 900
    assert summary.loc[0, "max_tree_uss_bytes"] == 700
