import json
import os

import pytest

from imgbench import strategies
from imgbench.cells import CellSpec
from imgbench.errors import DatasetError, ImgbenchError, VerificationError
from imgbench.runner import RunOptions, run_cell
from imgbench.strategies import STRATEGIES, Outcome, Strategy


def _cell(task="decode", strategy="threads", workers=2, n=6, storage="disk", cache="cold"):
    return CellSpec("t", task, storage, cache, 48, 32, n, strategy, workers)


def _options(datasets, tmp_path, task="decode", repeats=3, warmup=1):
    dataset = datasets["raw" if task.startswith("save") else "jpeg"].directory
    return RunOptions(repeats, warmup, dataset, tmp_path / "scratch", tmp_path / "out.json")


@pytest.mark.parametrize("task", ["save_png", "save_jpeg", "read", "decode"])
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_task_and_strategy_runs_verified(datasets, tmp_path, task, strategy):
    workers = 1 if strategy == "serial" else 2
    result = run_cell(_cell(task, strategy, workers), _options(datasets, tmp_path, task))
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads(json.dumps(result))
    reps = result["repetitions"]
    assert [r["warmup"] for r in reps] == [True, False, False, False]
    for rep in reps:
        assert rep["verified"] is True
        assert rep["wall_s"] > 0 and 0 < rep["first_result_s"] <= rep["wall_s"]
        assert rep["images_per_s"] == pytest.approx(6 / rep["wall_s"])
        assert rep["payload_bytes"] > 0 and rep["peak_rss_bytes"] > 0
        assert rep["cpu_s"] >= 0 and rep["other_cpu_s"] >= 0 and rep["steal_s"] >= 0
        parts = rep["first_result_s"] + rep["work_s"] + rep["shutdown_s"]
        assert rep["work_s"] >= 0 and rep["shutdown_s"] >= 0
        assert parts == pytest.approx(rep["wall_s"])
    if task in ("read", "decode"):
        assert all(r["resident_fraction"] is not None for r in reps)
    # Scratch space is cleaned up.
    assert list((tmp_path / "scratch").iterdir()) == []
    assert result["machine"]["usable_cores"] >= 1
    assert result["started_unix"] <= result["finished_unix"]


def test_cold_cells_start_nearly_uncached(datasets, tmp_path):
    if not os.sys.platform.startswith("linux"):
        pytest.skip("mincore: Linux")
    result = run_cell(_cell(cache="cold"), _options(datasets, tmp_path))
    assert all(r["resident_fraction"] < 0.05 for r in result["repetitions"])
    warm = run_cell(_cell(cache="warm"), _options(datasets, tmp_path))
    assert all(r["resident_fraction"] > 0.95 for r in warm["repetitions"])


def test_shm_storage_is_staged_and_removed(datasets, tmp_path):
    shm = tmp_path / "tmpfs"
    shm.mkdir()
    opts = RunOptions(2, 0, datasets["jpeg"].directory, shm, tmp_path / "o.json")
    result = run_cell(_cell(storage="shm", cache="warm"), opts)
    assert result["run"]["scratch"] == str(shm)
    assert result["machine"]["storage_path"].startswith(str(shm))
    assert list(shm.iterdir()) == []


def _register(monkeypatch, name, run):
    monkeypatch.setitem(STRATEGIES, name, Strategy(name, "faulty", True, run))


def test_a_strategy_that_drops_an_image_fails_the_cell(monkeypatch, datasets, tmp_path):
    def drops_one(task, items, workers):
        outcome = strategies.run_threads(task, items[:-1], workers)
        return Outcome(outcome.results, outcome.first_result_at, outcome.last_result_at)

    _register(monkeypatch, "drops_one", drops_one)
    opts = _options(datasets, tmp_path)
    with pytest.raises(VerificationError, match="expected 6 results, got 5"):
        run_cell(_cell(strategy="drops_one"), opts)
    assert not opts.output.exists()
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_strategy_that_corrupts_an_image_fails_the_cell(monkeypatch, datasets, tmp_path):
    def corrupts_one(task, items, workers):
        outcome = strategies.run_serial(task, items, workers)
        outcome.results[3] = outcome.results[3][::-1].copy()
        return outcome

    _register(monkeypatch, "corrupts_one", corrupts_one)
    opts = _options(datasets, tmp_path)
    with pytest.raises(VerificationError, match="img_000003.jpg: decoded pixels differ"):
        run_cell(_cell(strategy="corrupts_one"), opts)
    assert not opts.output.exists()


def test_a_save_strategy_that_skips_a_file_fails_the_cell(monkeypatch, datasets, tmp_path):
    def skips_write(task, items, workers):
        outcome = strategies.run_serial(task, items[1:], workers)
        return Outcome(
            [items[0][1], *outcome.results], outcome.first_result_at, outcome.last_result_at
        )

    _register(monkeypatch, "skips_write", skips_write)
    with pytest.raises(VerificationError, match="1 expected files missing"):
        run_cell(_cell("save_png", "skips_write"), _options(datasets, tmp_path, "save_png"))


def test_bad_cells_are_refused_before_running(datasets, tmp_path):
    opts = _options(datasets, tmp_path)
    with pytest.raises(ImgbenchError, match="serial uses no workers"):
        run_cell(_cell(strategy="serial", workers=2), opts)
    with pytest.raises(DatasetError, match="needs 20 jpeg images"):
        run_cell(_cell(n=20), opts)
    with pytest.raises(ImgbenchError, match="unknown strategy 'fastest'"):
        run_cell(_cell(strategy="fastest"), opts)
    with pytest.raises(DatasetError, match="raw images"):
        run_cell(_cell(task="save_png"), opts)
    assert not opts.output.exists()


def test_a_corrupt_dataset_file_names_it(tmp_path, datasets):
    from imgbench.datasets import make_dataset

    ds = make_dataset(tmp_path / "d", "jpeg", 48, 32, 4, seed=7, source=datasets["raw"].directory)
    victim = ds.paths(4)[2]
    victim.write_bytes(victim.read_bytes()[:100])
    opts = RunOptions(2, 0, ds.directory, tmp_path / "s", tmp_path / "o.json")
    with pytest.raises(DatasetError, match="img_000002.jpg"):
        run_cell(_cell(n=4), opts)
