import math

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
            "cpu_user_s": w,
            "cpu_sys_s": 0.0,
            "cpu_s": w,
            "other_cpu_s": w / 100,
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
    speedup = analysis.speedup_frame(summary)
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


def test_speedup_is_a_ratio_of_medians_against_serial(tables):
    speedup = tables[2].set_index(["strategy", "workers"])["speedup"]
    assert speedup[("serial", 1)] == 1.0
    assert speedup[("threads", 2)] == pytest.approx(2.0)
    assert speedup[("threads", 4)] == pytest.approx(1.6)
    assert speedup[("processes", 2)] == pytest.approx(0.5)
    assert set(tables[2]["baseline"]) == {"serial"}


def test_efficiency_is_speedup_per_worker(tables):
    eff = tables[3]
    assert (eff["efficiency"] == eff["speedup"] / eff["workers"]).all()
    assert eff.set_index(["strategy", "workers"])["efficiency"][("threads", 4)] == 0.4


def test_group_without_serial_has_no_speedup():
    timings = analysis.timings_frame([_result("threads", 2, [1.0, 1.0, 1.0])])
    speedup = analysis.speedup_frame(analysis.summary_frame(timings))
    assert math.isnan(speedup["speedup"].iloc[0])


def test_metadata_reports_cache_state_and_hosts(tables):
    results = [_result("serial", 1, [1.0, 1.0])]
    meta = analysis.metadata(results, analysis.timings_frame(results))
    assert meta["cold_resident_fraction_max"] == 0.0
    assert meta["cache_methods"] == ["drop_caches"]
    # Two repetitions of 1 s: enough clock ticks to judge interference.
    assert meta["other_cpu_per_wall_max"] == pytest.approx(0.01)
    assert [h["hostname"] for h in meta["hosts"]] == ["h"]


def test_interference_is_not_judged_on_too_little_time():
    results = [_result("serial", 1, [0.01, 0.01])]
    timings = analysis.timings_frame(results)
    assert math.isnan(analysis.summary_frame(timings)["other_cpu_per_wall"].iloc[0])
    assert analysis.metadata(results, timings)["other_cpu_per_wall_max"] is None


def test_empty_input_gives_empty_tables():
    summary = analysis.summary_frame(pd.DataFrame())
    assert summary.empty
