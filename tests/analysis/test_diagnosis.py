"""The diagnosis of every cell: each label reached by crafted results, the numbers that
decided it, and the break-even arithmetic on a case computed by hand."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from imgbench import words
from imgbench.analysis import diagnosis as dx
from imgbench.analysis.calibration import (
    calibration_frame,
    expected_diagnoses,
    write_calibration,
)
from imgbench.analysis.results import timings_frame
from imgbench.analysis.summary import summary_frame
from imgbench.analysis.tables import COLUMNS, NAMES, build_tables
from imgbench.measure.result import build_result
from imgbench.vocabulary import DIAGNOSES

N = 32


def result(
    strategy,
    workers,
    wall,
    cpu,
    *,
    task="spin_python",
    n=N,
    cores=2,
    ready=None,
    shutdown=0.0,
    pickled=0,
    shared=0,
    bound="cpu",
    reps=3,
    resolution=None,
):
    """A cell result whose timed repetitions each took ``wall`` s and ``cpu`` CPU-s
    (counted in clock ticks, as results recorded them before getrusage, unless
    ``resolution`` says how finely)."""
    cell = {
        "experiment": "e",
        "task": task,
        "storage": "disk",
        "cache": "warm",
        "width": 16,
        "height": 16,
        "n_images": n,
        "strategy": strategy,
        "workers": workers,
    }
    repetitions = [
        {
            "index": i,
            "warmup": i == 0,
            "wall_s": wall,
            "first_result_s": wall / 10,
            "work_s": wall - wall / 10 - shutdown,
            "shutdown_s": shutdown,
            "pool_ready_s": ready,
            "cpu_s": cpu,
            **({} if resolution is None else {"cpu_resolution_s": resolution}),
            "other_cpu_s": 0.0,
            "steal_s": 0.0,
            "peak_rss_bytes": 100,
            "payload_bytes": 1000,
            "verified": True,
        }
        for i in range(reps + 1)
    ]
    transfer = {
        "item_pickled_bytes": min(pickled, 80),
        "result_pickled_bytes": pickled - min(pickled, 80),
        "bytes_pickled_per_image": pickled,
        "bytes_shared_per_image": shared,
    }
    return build_result(
        cell,
        {
            "repeats": reps,
            "warmup": 1,
            "dataset_format": "jpeg",
            "mp_start_method": "fork",
            "task_bound": bound,
        },
        {"hostname": "h", "cpu_model": "cpu", "usable_cores": cores},
        repetitions,
        started_unix=0.0,
        finished_unix=1.0,
        transfer=transfer,
    )


def diagnose(*results) -> pd.DataFrame:
    frame = dx.diagnosis_frame(summary_frame(timings_frame(list(results))))
    return frame.set_index(["strategy", "workers"])


def loop(wall=1.0, cpu=1.0, **kwargs):
    return result("serial", 1, wall, cpu, **kwargs)


# ----- each label, reached ------------------------------------------------------------------


def test_the_loop_is_the_baseline():
    row = diagnose(loop()).loc[("serial", 1)]
    assert row["diagnosis"] == "baseline" and row["decided_by"] == "cpu_per_wall"


def test_threads_near_one_core_on_computing_work_are_gil_bound():
    frame = diagnose(loop(), result("threads", 4, 1.02, 1.04))
    row = frame.loc[("threads", 4)]
    assert row["diagnosis"] == "gil-bound"
    assert row["cpu_per_wall"] == pytest.approx(1.04 / 1.02)
    assert row["cores_in_reach"] == 2 and row["loop_cpu_per_wall"] == pytest.approx(1.0)
    assert row["decided_by"] == (
        "cpu_per_wall;cpu_per_wall_error;cores_in_reach;loop_cpu_per_wall;loop_cpu_per_wall_error"
    )
    assert row["evidence"] == (
        "cpu_per_wall 1.02; cpu_per_wall_error 0.01; cores_in_reach 2; loop_cpu_per_wall 1.00; "
        "loop_cpu_per_wall_error 0.01"
    )


def test_one_core_cannot_show_the_gil():
    # On one usable core, threads at one core are what any work gets: core-bound.
    frame = diagnose(loop(cores=1), result("threads", 4, 1.02, 1.0, cores=1))
    assert frame.loc[("threads", 4), "diagnosis"] == "core-bound"


def test_threads_near_one_core_on_work_that_waits_are_waiting_not_gil_bound():
    # The loop itself uses a tenth of its core: threads at one core of four are waiting.
    frame = diagnose(loop(cpu=0.1, cores=4), result("threads", 4, 1.0, 1.0, cores=4))
    assert frame.loc[("threads", 4), "diagnosis"] == "waiting"


def test_a_short_sleeping_cell_is_waiting_whatever_its_ticks():
    # 16 threads sleep 64 x 20 ms in 0.09 s: 0.27 s of wall over all repetitions, too little
    # for the summary's CPU per wall; even the ticks' error keeps it below half a core.
    sleep = {"task": "sleep", "n": 64, "bound": "wait"}
    frame = diagnose(
        loop(1.3, 0.02, **sleep), result("threads", 16, 0.09, 0.01, ready=0.002, **sleep)
    )
    row = frame.loc[("threads", 16)]
    assert row["diagnosis"] == "waiting"
    assert row["cpu_per_wall"] == pytest.approx(0.01 / 0.09)
    # 3 standard errors of 4 tick-truncated differences (variance tick^2 / 6 each), 3 reps.
    assert row["cpu_per_wall_error"] == pytest.approx(3 * 0.01 * math.sqrt(4 / 6 / 3) / 0.09)
    assert row["cpu_per_wall"] + row["cpu_per_wall_error"] < 0.5 * 2


def test_a_short_cell_whose_ticks_could_change_the_answer_is_undetermined():
    # 20 ms of wall at one core of two: the ticks' error (0.71) spans waiting to core-bound,
    # and the loop's (0.35 on 40 ms) leaves open whether the loop computes at all.
    frame = diagnose(loop(0.04, 0.04), result("threads", 2, 0.02, 0.02))
    row = frame.loc[("threads", 2)]
    assert row["diagnosis"] == "undetermined"
    assert row["cpu_per_wall_error"] == pytest.approx(0.707, abs=0.001)


def test_a_short_cell_counted_to_the_microsecond_is_diagnosed():
    # The same 20 ms of wall, two cores busy: tick-counted it could be anything; counted by
    # getrusage (1 us) its CPU per wall is known well enough to say core-bound.
    short = [loop(0.04, 0.04), result("threads_chunked", 2, 0.02, 0.039)]
    assert diagnose(*short).loc[("threads_chunked", 2), "diagnosis"] == "undetermined"
    exact = [
        loop(0.04, 0.04, resolution=1e-6),
        result("threads_chunked", 2, 0.02, 0.039, resolution=1e-6),
    ]
    row = diagnose(*exact).loc[("threads_chunked", 2)]
    assert row["diagnosis"] == "core-bound"
    assert row["cpu_per_wall_error"] < 1e-3


def test_a_process_pool_that_pickles_megabytes_per_image_is_transfer_bound():
    # The default decode: 128 images, 1.7 s and 1.7 CPU-s in the loop, 2.3 s and 3.9 CPU-s
    # under processes x4 on 2 cores, 3.7 MB pickled back per image.
    decode = {"task": "decode", "n": 128}
    frame = diagnose(
        loop(1.7, 1.7, **decode),
        result("processes", 4, 2.3, 3.9, pickled=3_686_550, ready=0.01, **decode),
        result("processes_shm", 2, 0.95, 1.8, pickled=250, shared=3_686_400, **decode),
    )
    row = frame.loc[("processes", 4)]
    assert row["diagnosis"] == "transfer-bound"
    assert row["excess_cpu_per_image_s"] == pytest.approx((3.9 - 1.7) / 128)
    assert row["loop_cpu_per_image_s"] == pytest.approx(1.7 / 128)
    assert row["evidence"] == (
        "bytes_pickled_per_image 3.52 MiB; excess_cpu_per_image_s 17.2 ms; "
        "excess_cpu_per_image_error_s 0.221 ms; loop_cpu_per_image_s 13.3 ms"
    )
    # The same pixels through shared memory: nothing big pickled, the cores busy.
    shm = frame.loc[("processes_shm", 2)]
    assert shm["diagnosis"] == "core-bound" and shm["bytes_shared_per_image"] == 3_686_400


def test_megabytes_pickled_for_long_work_are_not_what_limits_a_pool():
    # 3.7 MB per image, but 0.5 s of work per image: 5% more CPU is not the transfer.
    frame = diagnose(
        loop(16.0, 16.0), result("processes", 2, 8.4, 16.8, pickled=3_686_550, ready=0.01)
    )
    assert frame.loc[("processes", 2), "diagnosis"] == "core-bound"


def test_more_workers_than_cores_that_lose_to_the_cores_are_oversubscribed():
    frame = diagnose(
        loop(1.2, 1.2),
        result("processes", 2, 0.62, 1.22),
        result("processes", 12, 0.80, 1.56),
    )
    row = frame.loc[("processes", 12)]
    assert row["diagnosis"] == "oversubscribed"
    assert row["best_within_cores_s"] == pytest.approx(0.62)
    assert row["best_within_cores_workers"] == 2
    assert (
        "median_s 800 ms; best_within_cores_s 620 ms; best_within_cores_workers 2"
        in (row["evidence"])
    )
    assert frame.loc[("processes", 2), "diagnosis"] == "core-bound"


def test_more_workers_than_cores_without_a_loss_are_core_bound():
    # The known answer of spin_native under processes x4 on 2 cores: as fast as x2.
    frame = diagnose(
        loop(1.2, 1.2), result("processes", 2, 0.62, 1.22), result("processes", 4, 0.63, 1.24)
    )
    assert frame.loc[("processes", 4), "diagnosis"] == "core-bound"


def test_pool_start_and_submits_beyond_the_work_are_overhead_bound():
    # 32 images of 3 ms: 96 ms in the loop; a process pool takes 150 ms, 40 ms of it to start.
    frame = diagnose(
        loop(0.096, 0.096, reps=12),
        result("processes", 2, 0.15, 0.10, ready=0.035, shutdown=0.005, reps=12),
    )
    row = frame.loc[("processes", 2)]
    assert row["diagnosis"] == "overhead-bound"
    assert row["pool_start_s"] == pytest.approx(0.04)
    assert row["ideal_s"] == pytest.approx(0.048)
    assert row["overhead_s"] == pytest.approx(0.15 - 0.048)
    assert row["decided_by"] == (
        "pool_start_s;overhead_s;ideal_s;loop_cpu_per_wall;loop_cpu_per_wall_error;"
        "cpu_per_wall;cpu_per_wall_error"
    )


def test_cpu_between_waiting_and_the_cores_is_undetermined():
    # 1.21 of 2 cores: above half of them, below three quarters.
    frame = diagnose(loop(2.0, 2.0), result("processes", 2, 1.4, 1.7))
    row = frame.loc[("processes", 2)]
    assert row["diagnosis"] == "undetermined" and row["cpu_per_wall"] == pytest.approx(1.7 / 1.4)


def test_a_group_without_its_loop_is_undetermined():
    frame = diagnose(result("threads", 2, 0.6, 1.2))
    row = frame.loc[("threads", 2)]
    assert row["diagnosis"] == "undetermined" and row["decided_by"] == "loop_median_s"


def test_every_label_is_reached_and_named_in_the_vocabulary():
    reached = set()
    decode = {"task": "decode", "n": 128}
    sleep = {"task": "sleep", "n": 64, "bound": "wait"}
    for frame in (
        diagnose(
            loop(2.0, 2.0), result("threads", 4, 2.02, 2.04), result("processes", 2, 1.4, 1.7)
        ),
        diagnose(loop(1.3, 0.02, **sleep), result("threads", 16, 0.09, 0.01, **sleep)),
        diagnose(loop(1.7, 1.7, **decode), result("processes", 4, 2.3, 3.9, pickled=4e6, **decode)),
        diagnose(
            loop(1.2, 1.2), result("processes", 2, 0.62, 1.22), result("processes", 12, 0.8, 1.56)
        ),
        diagnose(
            loop(0.096, 0.096, reps=12),
            result("processes", 2, 0.15, 0.10, ready=0.035, shutdown=0.005, reps=12),
        ),
    ):
        reached |= set(frame["diagnosis"])
    assert reached == set(DIAGNOSES)


# ----- the break-even ------------------------------------------------------------------------


def test_break_even_work_and_chunk_size_by_hand():
    # n = 32, loop 0.64 s (t = 20 ms per image); processes x2 on 2 cores take 0.40 s, of which
    # pool start and shutdown S = 40 ms. o = 2 x (0.40 - 0.04) / 32 - 0.02 = 2.5 ms per task.
    # t* = (o + 2 S / n) / (2 - 1) = 2.5 ms + 2.5 ms = 5 ms. Chunk: 2.5 / (0.1 x 20) -> 2.
    frame = diagnose(
        loop(0.64, 0.64, reps=4),
        result("processes", 2, 0.40, 0.75, ready=0.03, shutdown=0.01, reps=4),
    )
    row = frame.loc[("processes", 2)]
    assert row["work_per_image_s"] == pytest.approx(0.02)
    assert row["per_task_overhead_s"] == pytest.approx(0.0025)
    assert row["break_even_work_s"] == pytest.approx(0.005)
    assert row["chunk_size"] == 2


def test_break_even_for_waiting_work_uses_the_workers():
    # 64 sleeps of 20 ms under 16 threads: q = 16 (not the 2 cores). 0.1 s with S = 4 ms:
    # o = 16 x 0.096 / 64 - 0.02 = 4 ms; t* = (4 ms + 16 x 4 ms / 64) / 15 = 1/3 ms.
    sleep = {"task": "sleep", "n": 64, "bound": "wait"}
    frame = diagnose(
        loop(1.28, 0.01, **sleep),
        result("threads", 16, 0.10, 0.01, ready=0.003, shutdown=0.001, **sleep),
    )
    row = frame.loc[("threads", 16)]
    assert row["per_task_overhead_s"] == pytest.approx(0.004)
    assert row["break_even_work_s"] == pytest.approx((0.004 + 0.001) / 15)
    assert row["chunk_size"] == 2


def test_no_work_makes_a_pool_pay_under_the_gil_and_chunks_do_not_amortise_bytes():
    decode = {"task": "decode", "n": 128}
    gil = diagnose(loop(), result("threads", 4, 1.02, 1.04)).loc[("threads", 4)]
    assert gil["break_even_work_s"] == math.inf and math.isnan(gil["chunk_size"])
    transfer = diagnose(
        loop(1.7, 1.7, **decode), result("processes", 4, 2.3, 3.9, pickled=4e6, **decode)
    ).loc[("processes", 4)]
    assert transfer["per_task_overhead_s"] > 0 and math.isfinite(transfer["break_even_work_s"])
    assert math.isnan(transfer["chunk_size"])


def test_only_pools_with_one_submit_per_image_get_a_break_even():
    frame = diagnose(
        loop(1.2, 1.2),
        result("processes_chunked", 2, 0.62, 1.22),
        result("threads", 1, 1.25, 1.25),
        result("asyncio", 2, 1.2, 1.2),
    )
    assert frame.loc[("processes_chunked", 2), ["break_even_work_s", "chunk_size"]].isna().all()
    assert frame.loc[("asyncio", 2), ["break_even_work_s", "chunk_size"]].isna().all()
    # One worker: the pool can never beat the loop.
    assert frame.loc[("threads", 1), "break_even_work_s"] == math.inf


# ----- the tables ----------------------------------------------------------------------------


def test_the_summary_carries_each_cell_s_diagnosis_and_bytes_moved():
    results = [
        loop(),
        result("threads", 4, 1.02, 1.04),
        result("processes", 2, 0.6, 1.2, pickled=900),
    ]
    summary = summary_frame(timings_frame(results)).set_index(["strategy", "workers"])
    assert summary.loc[("threads", 4), "diagnosis"] == "gil-bound"
    assert summary.loc[("processes", 2), "bytes_pickled_per_image"] == 900
    assert summary.loc[("threads", 4), "bytes_pickled_per_image"] == 0
    assert summary.loc[("serial", 1), "diagnosis"] == "baseline"


def test_results_that_predate_the_record_of_bytes_leave_them_unknown():
    old = result("processes", 2, 0.6, 1.2)
    del old["transfer"]
    summary = summary_frame(timings_frame([loop(), old])).set_index("strategy")
    assert math.isnan(summary.loc["processes", "bytes_pickled_per_image"])
    assert math.isnan(summary.loc["processes", "bytes_shared_per_image"])
    assert summary.loc["serial", "bytes_pickled_per_image"] == 0


def test_aggregate_writes_the_diagnosis_table_with_its_columns():
    tables = build_tables([loop(), result("threads", 4, 1.02, 1.04)])
    assert "diagnosis" in NAMES
    assert list(tables["diagnosis"].columns) == COLUMNS["diagnosis"]
    assert len(tables["diagnosis"]) == 2
    empty = dx.diagnosis_frame(pd.DataFrame())
    assert empty.empty and list(empty.columns) == dx.COLUMNS


def test_bytes_are_written_in_binary_units():
    assert words.data_size(180) == "180 B"
    assert words.data_size(12 * 1024) == "12.0 KiB"
    assert words.data_size(3_686_400) == "3.52 MiB"
    assert words.data_size(1023 * 1024) == "1023 KiB"
    assert words.data_size(None) == "n/a"


# ----- known answers -------------------------------------------------------------------------


def _calibration_results(gil_free_threads=False):
    """The calibration preset's cells on 2 cores, timed as physics says they would be."""
    cpu = {"n": 32}
    wait = {"task": "sleep", "n": 64, "bound": "wait"}
    threads_python = (0.58, 1.15) if gil_free_threads else (1.15, 1.16)
    return [
        loop(1.12, 1.12, **cpu),
        result("threads", 2, *threads_python, **cpu),
        result("threads", 4, 1.16, 1.17, **cpu),
        result("processes", 2, 0.58, 1.15, pickled=120, ready=0.004, **cpu),
        result("processes", 4, 0.59, 1.16, pickled=120, ready=0.006, **cpu),
        loop(0.96, 0.96, task="spin_native", **cpu),
        *(
            result(s, w, 0.49, 0.97, task="spin_native", pickled=150 * (s == "processes"), **cpu)
            for s in ("threads", "processes")
            for w in (2, 4)
        ),
        loop(1.28, 0.02, **wait),
        *(result(s, 2, 0.645, 0.01, ready=0.001, **wait) for s in ("threads", "asyncio")),
        *(result(s, 16, 0.085, 0.01, ready=0.003, **wait) for s in ("threads", "asyncio")),
    ]


def test_every_calibration_cell_gets_its_known_diagnosis(tmp_path):
    tables = build_tables(_calibration_results())
    frame = calibration_frame(tables["speedup"], tables["diagnosis"])
    assert len(frame) == 12
    assert frame["diagnosis_right"].eq(True).all(), frame[["task", "strategy", "diagnosis"]]
    by_cell = frame.set_index(["task", "strategy", "workers"])
    assert by_cell.loc[("spin_python", "threads", 4), "diagnosis"] == "gil-bound"
    assert by_cell.loc[("spin_native", "threads", 2), "diagnosis"] == "core-bound"
    assert by_cell.loc[("sleep", "asyncio", 16), "diagnosis"] == "waiting"
    assert by_cell.loc[("spin_python", "processes", 4), "expected_diagnosis"] == (
        "core-bound or oversubscribed"
    )
    # As the workflow runs it: from the tables aggregate wrote.
    for name in ("speedup", "diagnosis"):
        tables[name].to_csv(tmp_path / f"{name}.csv", index=False)
    write_calibration(tmp_path)
    summary = json.loads((tmp_path / "calibration.json").read_text())
    assert (summary["diagnosed"], summary["diagnoses_right"]) == (12, 12)


def test_threads_that_escape_the_gil_on_pure_python_are_a_wrong_diagnosis():
    # What a free-threaded interpreter would show: the harness's known answer no longer holds.
    tables = build_tables(_calibration_results(gil_free_threads=True))
    frame = calibration_frame(tables["speedup"], tables["diagnosis"])
    cell = frame.set_index(["task", "strategy", "workers"]).loc[("spin_python", "threads", 2)]
    assert cell["expected_diagnosis"] == "gil-bound" and cell["diagnosis"] == "core-bound"
    assert not cell["diagnosis_right"] and cell["diagnosis_right"] is not None
    assert frame["diagnosis_right"].eq(False).sum() == 1


@pytest.mark.parametrize(
    ("task", "strategy", "workers", "cores", "expected"),
    [
        ("sleep", "threads", 16, 2, ("waiting",)),
        ("sleep", "processes", 2, 2, ("waiting",)),
        ("spin_python", "threads", 2, 2, ("gil-bound",)),
        ("spin_python", "asyncio", 4, 2, ("gil-bound",)),
        ("spin_python", "threads", 4, 1, ("core-bound", "oversubscribed")),
        ("spin_python", "processes", 2, 2, ("core-bound",)),
        ("spin_native", "threads", 4, 2, ("core-bound", "oversubscribed")),
        ("spin_native", "serial", 1, 2, ()),
        ("decode", "threads", 2, 2, ()),
    ],
)
def test_expected_diagnoses(task, strategy, workers, cores, expected):
    assert expected_diagnoses(task, strategy, workers, cores) == expected
