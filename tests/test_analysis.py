import math

import numpy as np
import pandas as pd
import pytest

from imgbench import analysis


def _result(strategy, workers, walls, n=10, task="decode"):
    cell = {
        "experiment": "e",
        "task": task,
        "storage": "disk",
        "cache": "cold",
        "width": 8,
        "height": 8,
        "n_images": n,
        "strategy": strategy,
        "workers": workers,
    }
    reps = [
        {
            "index": i,
            "warmup": i == 0,
            "wall_s": w,
            "first_result_s": w / 10,
            "work_s": w * 0.8,
            "shutdown_s": w / 10,
            "cpu_user_s": w,
            "cpu_sys_s": 0.0,
            "cpu_s": w,
            "other_cpu_s": w / 100,
            "steal_s": 0.0,
            "peak_rss_bytes": 100,
            "peak_rss_reset": True,
            "peak_rss_children_bytes": 0,
            "payload_bytes": 1000,
            "images_per_s": n / w,
            "mb_per_s": 1000 / w / 1e6,
            "cache_method": "drop_caches",
            "resident_fraction": 0.0,
            "verified": True,
        }
        for i, w in enumerate([99.0, *walls])  # the warm-up (99 s) must be ignored
    ]
    return {
        "cell": cell,
        "run": {
            "repeats": len(walls),
            "warmup": 1,
            "dataset_format": "jpeg",
            "mp_start_method": "fork",
            "task_summary": "t",
            "strategy_summary": "s",
        },
        "machine": {
            "hostname": "h",
            "cpu_model": "cpu",
            "usable_cores": 2,
            "load_average_1m": 0.1,
        },
        "started_unix": 0.0,
        "finished_unix": 1.0,
        "warnings": [],
        "repetitions": reps,
    }


@pytest.fixture
def tables():
    results = [
        _result("serial", 1, [4.0, 4.0, 4.2, 3.8, 4.0, 4.0]),
        _result("threads", 2, [2.0, 2.1, 1.9, 2.0, 2.0, 2.0]),
        _result("threads", 4, [2.5, 2.5, 2.5, 2.5, 2.5, 2.5]),
        _result("processes", 2, [8.0, 8.0, 8.0, 8.0, 8.0, 8.0]),
    ]
    timings = analysis.timings_frame(results)
    summary = analysis.summary_frame(timings)
    speedup = analysis.speedup_frame(summary, timings)
    return timings, summary, speedup, analysis.efficiency_frame(speedup)


def test_timings_have_one_row_per_timed_repetition(tables):
    timings = tables[0]
    assert len(timings) == 24
    assert 99.0 not in set(timings["wall_s"])
    for column in analysis.CELL + ["wall_s", "cache_method", "resident_fraction", "verified"]:
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
    # S = 1.6 on p = 4: e = (1/1.6 - 1/4) / (3/4) = 0.5
    assert serial.loc[("threads", 4), "karp_flatt"] == pytest.approx(0.5)
    assert math.isnan(serial.loc[("serial", 1), "karp_flatt"])
    row = serial.loc[("threads", 2)]
    assert row["efficiency_ci_low"] <= row["efficiency"] <= row["efficiency_ci_high"]


def test_group_without_serial_has_no_speedup():
    timings = analysis.timings_frame([_result("threads", 2, [1.0, 1.0, 1.0])])
    speedup = analysis.speedup_frame(analysis.summary_frame(timings), timings)
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
        _result("serial", 1, [10.0] * 4),
        *[_result("threads", p, [2.0 + 8.0 / p] * 4) for p in (1, 2, 4, 8)],
    ]
    for r in results:
        r["machine"]["usable_cores"] = 8
    summary = analysis.summary_frame(analysis.timings_frame(results))
    fit = analysis.amdahl_frame(summary).set_index("strategy").loc["threads"]
    assert fit["points"] == 4 and fit["fit_max_workers"] == 8
    assert fit["serial_fraction"] == pytest.approx(0.2)
    assert fit["max_speedup"] == pytest.approx(5.0)
    assert fit["fit_r2"] == pytest.approx(1.0)


def test_amdahl_fit_leaves_out_oversubscribed_points():
    results = [
        *[_result("threads", p, [2.0 + 8.0 / p] * 4) for p in (1, 2)],
        _result("threads", 8, [50.0] * 4),
    ]
    summary = analysis.summary_frame(analysis.timings_frame(results))
    fit = analysis.amdahl_frame(summary).iloc[0]
    assert fit["fit_max_workers"] == 2 and fit["points"] == 2
    assert fit["serial_fraction"] == pytest.approx(0.2)


def test_comparisons_mark_significantly_slower_cells(tables):
    timings, summary = tables[0], tables[1]
    comparisons = analysis.comparisons_frame(summary, timings).set_index(["strategy", "workers"])
    assert set(comparisons["best_strategy"]) == {"threads"}
    assert math.isnan(comparisons.loc[("threads", 2), "mannwhitney_p"])
    assert not comparisons.loc[("threads", 2), "significantly_slower"]
    # Six repetitions each, completely separated (with ties, so the normal approximation).
    assert comparisons.loc[("serial", 1), "mannwhitney_p"] < 0.01
    assert comparisons.loc[("serial", 1), "significantly_slower"]
    assert not comparisons.loc[("serial", 1), "ci_overlap"]


def test_metadata_reports_cache_state_and_hosts(tables):
    results = [_result("serial", 1, [1.0, 1.0])]
    meta = analysis.metadata(results, analysis.timings_frame(results))
    assert meta["cold_resident_fraction_max"] == 0.0
    assert meta["cache_methods"] == ["drop_caches"]
    # Two repetitions of 1 s: enough clock ticks to judge interference.
    assert meta["other_cpu_per_wall_max"] == pytest.approx(0.01)
    assert meta["steal_per_wall_max"] == 0.0
    assert [h["hostname"] for h in meta["hosts"]] == ["h"]


def test_interference_is_not_judged_on_too_little_time():
    results = [_result("serial", 1, [0.01, 0.01])]
    timings = analysis.timings_frame(results)
    assert math.isnan(analysis.summary_frame(timings)["other_cpu_per_wall"].iloc[0])
    assert analysis.metadata(results, timings)["other_cpu_per_wall_max"] is None


def test_empty_input_gives_empty_tables():
    summary = analysis.summary_frame(pd.DataFrame())
    assert summary.empty


def test_cpu_shares_are_not_judged_on_too_little_time():
    # 10 ms of timed wall time in all: CPU time (10 ms ticks) cannot say how busy workers were.
    summary = analysis.summary_frame(
        analysis.timings_frame([_result("threads", 2, [0.005, 0.005])])
    )
    assert math.isnan(summary["cpu_per_wall"].iloc[0])
    assert math.isnan(summary["worker_busy"].iloc[0])
