"""The joblib strategy: joblib.Parallel on loky, traced and verified as every strategy, fair
to the per-batch pools (its kept workers shut down inside the timer) and saying how many of
its workers it reused."""

import os
import signal
from pathlib import Path

import numpy as np
import psutil
import pytest

from imgbench.measure import pools
from imgbench.measure.instruments import begin_repetition
from imgbench.measure.pools import WorkerDiedError
from imgbench.measure.runner import RunOptions, run_cell
from imgbench.measure.start_methods import LOKY
from imgbench.measure.strategies import STRATEGIES
from imgbench.measure.tasks import TASKS, Task
from imgbench.vocabulary import CellSpec
from tests.helpers.cells import FIRST_USE_TASKS, cell_job, cell_options, small_cell, verify_paths


def _loky_workers() -> list[psutil.Process]:
    """This process's live loky workers (children running loky's worker entry point; loky's
    resource tracker, started once per process, is not one)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = " ".join(child.cmdline())
            if child.status() != psutil.STATUS_ZOMBIE and "popen_loky" in command:
                found.append(child)
        except psutil.Error:
            continue
    return found


def test_joblib_is_a_pool_strategy_with_a_kept_form_and_loky_as_its_method():
    plain, kept = STRATEGIES["joblib"], STRATEGIES["joblib_persistent"]
    assert plain.uses_workers and plain.pool == "joblib" and not plain.persistent
    assert kept.persistent and kept.base == "joblib" and kept.plain == "joblib"
    assert plain.start_method == kept.start_method == LOKY
    # loky has its own way to start workers: no fork/forkserver/spawn variants of joblib.
    assert not [n for n in STRATEGIES if n.startswith("joblib_") and n != "joblib_persistent"]


@pytest.mark.parametrize("task", ["decode", "grayscale", "grayscale_loop"])
def test_joblib_gives_the_serial_loops_results_in_input_order(datasets, task):
    items = [str(p) for p in datasets["jpeg"].paths(7)]
    want = STRATEGIES["serial"].run(TASKS[task], items, 1)
    got = STRATEGIES["joblib"].run(TASKS[task], items, 3)
    assert len(got.results) == len(want.results) == 7
    for a, b in zip(got.results, want.results, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert got.first_result_at <= got.last_result_at
    assert len(got.spans) == 7 and got.imported == []


@pytest.mark.parametrize("task", ["decode", "save_png"])
def test_a_joblib_cell_verifies_and_records_loky_and_its_reuse(datasets, tmp_path, task):
    options = cell_options(datasets, tmp_path, task, repeats=2, warmup=1, start_method="fork")
    result = run_cell(small_cell(task, "joblib", workers=2), options)
    assert result["run"]["mp_start_method"] == LOKY
    reps = result["repetitions"]
    assert len(reps) == 3 and all(r["verified"] for r in reps)
    for rep in reps:
        # Per batch: every worker that did work was started inside this repetition.
        assert rep["workers_reused"] == 0, rep
        assert 1 <= rep["workers_started"] <= 2, rep
        assert 0 < rep["pool_ready_s"] < rep["wall_s"]
    assert _loky_workers() == []  # shut down inside the timer, every repetition


def test_the_persistent_form_reuses_every_worker_and_starts_none(datasets, tmp_path):
    options = cell_options(datasets, tmp_path, "decode", repeats=3, warmup=1)
    result = run_cell(small_cell("decode", "joblib_persistent", workers=2), options)
    assert result["run"]["mp_start_method"] == LOKY
    assert result["phases"]["pool_start_s"] > 0
    for rep in result["repetitions"]:
        # Every worker that did work existed before the repetition; none started in it.
        assert rep["workers_reused"] >= 1, rep
        assert rep["workers_started"] is None and rep["pool_ready_s"] is None, rep
    assert _loky_workers() == []  # the kept pool ends with its cell


def test_the_per_batch_run_starts_fresh_workers_and_the_kept_one_keeps_them(datasets):
    task = TASKS["decode"]
    items = [str(p) for p in datasets["jpeg"].paths(8)]
    for _ in range(2):
        instruments = begin_repetition()
        outcome = STRATEGIES["joblib"].run(task, items, 2)
        assert outcome.workers_reused == 0
        assert 1 <= len(instruments.drain()) <= 2
        assert _loky_workers() == []
    kept = STRATEGIES["joblib_persistent"]
    with pools.kept_pool(kept, task, 2) as started_s:
        assert started_s > 0
        pids = pools.kept_worker_pids()
        assert len(pids) == 2 and sorted(p.pid for p in _loky_workers()) == pids
        for _ in range(2):
            instruments = begin_repetition()
            outcome = kept.run(task, items, 2)
            assert instruments.drain() == []
            assert 1 <= outcome.workers_reused <= 2
            assert pools.kept_worker_pids() == pids
    assert pools.kept_worker_pids() == [] and _loky_workers() == []


def test_with_one_worker_joblib_runs_in_the_caller_and_says_nothing_of_reuse(datasets):
    items = [str(p) for p in datasets["jpeg"].paths(3)]
    outcome = STRATEGIES["joblib"].run(TASKS["read"], items, 1)
    assert outcome.results == [Path(p).read_bytes() for p in items]
    assert outcome.workers_reused is None


@pytest.mark.parametrize("task", FIRST_USE_TASKS)
def test_joblib_workers_import_nothing_inside_the_timer(datasets, tmp_path, task):
    # As tests/measure/test_fairness.py asks of the forked pools: loky's workers are new
    # interpreters, readied by their initializer (what the priming run imported) before
    # their first item.
    result = cell_job(datasets, tmp_path, task, "joblib")
    assert result["run"]["mp_start_method"] == LOKY
    for rep in result["repetitions"]:
        assert rep["worker_imported_modules"] == [], rep["index"]
        assert rep["workers_reused"] == 0
    assert list((tmp_path / "scratch").iterdir()) == []


def die(path: str) -> str:
    if os.environ.get("IMGBENCH_TEST_PARENT") != str(os.getpid()):
        os.kill(os.getpid(), signal.SIGKILL)
    return path


DIE = Task("die", "a worker kills itself", "files", die, None, verify_paths)


def test_a_dead_joblib_worker_fails_the_run_as_a_dead_worker(datasets, monkeypatch):
    monkeypatch.setenv("IMGBENCH_TEST_PARENT", str(os.getpid()))
    items = [str(p) for p in datasets["jpeg"].paths(4)]
    with pytest.raises(WorkerDiedError, match="joblib worker process died"):
        STRATEGIES["joblib"].run(DIE, items, 2)
    assert _loky_workers() == []


def test_a_joblib_cell_records_its_strategy_and_runs_without_a_pin(datasets, tmp_path):
    spec = CellSpec("t", "read", "disk", "warm", 48, 32, 4, "joblib", 2)
    result = run_cell(spec, RunOptions(1, 0, datasets["jpeg"].directory, tmp_path / "s"))
    assert result["cell"]["strategy"] == "joblib"
    assert result["run"]["mp_start_method"] == LOKY
    assert result["run"]["start_method_requested"] == "default"
