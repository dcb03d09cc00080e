import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from imgbench.errors import DatasetError, ImgbenchError, VerificationError
from imgbench.measure import strategies
from imgbench.measure.datasets import make_dataset
from imgbench.measure.instruments import Outcome
from imgbench.measure.machine import SNAKEMAKE_VERSION_ENV
from imgbench.measure.runner import RunOptions, run_cell
from imgbench.measure.strategies import STRATEGIES, Strategy
from imgbench.measure.tasks import TASKS
from imgbench.vocabulary import CellSpec
from tests.helpers import imported_modules
from tests.helpers.cells import SMALL


def _cell(task="decode", strategy="threads", workers=2, n=6, storage="disk", cache="cold"):
    return CellSpec("t", task, storage, cache, 48, 32, n, strategy, workers)


def _options(datasets, tmp_path, task="decode", repeats=3, warmup=1):
    dataset = datasets["raw" if task.startswith("save") else "jpeg"].directory
    return RunOptions(repeats, warmup, dataset, tmp_path / "scratch", tmp_path / "out.json")


# download has its own tests (tests/measure/test_download.py): it needs a server.
# Tasks under another library than Pillow have theirs (tests/measure/test_codecs.py): the
# strategies' code is the same, what differs is the library in threads, workers and asyncio.
LOCAL_TASKS = [t for t in sorted(TASKS) if t != "download" and TASKS[t].library in (None, "pillow")]
PAIRS = [
    (task, strategy)
    for task in LOCAL_TASKS
    for strategy in sorted(STRATEGIES)
    if strategy != "vectorized" or TASKS[task].batch is not None
    # A persistent strategy runs its per-batch one's code on a kept pool, a start-method
    # variant its family's code under another start method, joblib one code for every task
    # on new interpreters (3 s a cell): a reading and a saving task cover what differs
    # (results back, arrays out; tests/measure/test_start_methods.py the rest of the
    # variants, tests/measure/test_joblib.py joblib's first uses).
    if not (STRATEGIES[strategy].persistent or STRATEGIES[strategy].start_method is not None)
    or task in ("decode", "save_png")
]


@pytest.mark.parametrize(("task", "strategy"), PAIRS)
def test_every_task_and_strategy_runs_verified(datasets, tmp_path, task, strategy):
    workers = 2 if STRATEGIES[strategy].uses_workers else 1
    options = _options(datasets, tmp_path, task)
    # Small options where the defaults are slow (the known-answer tasks spin for tens of ms).
    small = {k: v for k, v in SMALL.get(task, {}).items() if k in TASKS[task].options}
    if small:
        options = replace(options, task_options=small)
    # Saving tasks read no inputs: cold has no meaning for them (refused, see below).
    cache = "warm" if TASKS[task].input_kind == "arrays" else "cold"
    result = run_cell(_cell(task, strategy, workers, cache=cache), options)
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads(json.dumps(result))
    reps = result["repetitions"]
    assert [r["warmup"] for r in reps] == [True, False, False, False]
    for rep in reps:
        assert rep["verified"] is True
        assert rep["wall_s"] > 0 and 0 < rep["first_result_s"] <= rep["wall_s"]
        assert rep["images_per_s"] == pytest.approx(6 / rep["wall_s"])
        assert rep["payload_bytes"] > 0 and rep["peak_rss_bytes"] > 0
        # other_cpu_s is unclipped: tick noise may make it slightly negative.
        assert rep["cpu_s"] >= 0 and rep["other_cpu_s"] > -0.1 and rep["steal_s"] >= 0
        assert rep["worker_imported_modules"] == []
        assert rep["peak_in_flight"] >= 1
        if strategy in ("serial", "vectorized"):
            assert rep["pool_ready_s"] is None and rep["peak_in_flight"] == 1
        elif STRATEGIES[strategy].persistent:  # its workers started before the timer
            assert rep["pool_ready_s"] is None and rep["workers_started"] is None
        else:  # threads, processes, and asyncio's executor threads
            assert 0 < rep["pool_ready_s"] <= rep["wall_s"]
            assert 1 <= rep["workers_started"] <= workers
        parts = rep["first_result_s"] + rep["work_s"] + rep["shutdown_s"]
        assert rep["work_s"] >= 0 and rep["shutdown_s"] >= 0
        assert parts == pytest.approx(rep["wall_s"])
    if TASKS[task].input_kind == "files":
        assert all(r["resident_fraction"] is not None for r in reps)
    # Scratch space is cleaned up.
    assert list((tmp_path / "scratch").iterdir()) == []
    assert result["machine"]["usable_cores"] >= 1
    assert result["started_unix"] <= result["finished_unix"]


def test_vectorized_is_refused_for_tasks_without_a_batch_form(datasets, tmp_path):
    with pytest.raises(ImgbenchError, match="no whole-batch form"):
        run_cell(_cell("decode", "vectorized", 1), _options(datasets, tmp_path))


def test_blur_thumbnail_shrinks_to_the_box_and_records_its_options(datasets, tmp_path):
    options = replace(
        _options(datasets, tmp_path, "blur_thumbnail"),
        task_options={"radius": 3.0, "thumbnail": "24x24"},
    )
    result = run_cell(_cell("blur_thumbnail", "serial", 1), options)
    assert result["run"]["task_options"] == {
        "radius": 3.0,
        "thumbnail": "24x24",
        "durability": "none",
    }
    with pytest.raises(ImgbenchError, match="radius"):
        run_cell(
            _cell("blur_thumbnail", "serial", 1),
            replace(options, task_options={"radius": "wide"}),
        )


def test_greyscale_datasets_decode_and_save_as_greyscale(tmp_path):
    raw = make_dataset(tmp_path / "raw", "raw", 20, 10, 4, seed=3, color="grey")
    png = make_dataset(
        tmp_path / "png", "png", 20, 10, 4, seed=3, source=raw.directory, color="grey"
    )
    for task, dataset in (
        ("decode", png),
        ("grayscale", png),
        ("save_png", raw),
        ("save_jpeg", raw),
    ):
        result = run_cell(
            CellSpec("t", task, "disk", "warm", 20, 10, 4, "serial", 1),
            RunOptions(2, 0, dataset.directory, tmp_path / "scratch"),
        )
        assert result["run"]["dataset_color"] == "grey"


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
        run_cell(
            _cell("save_png", "skips_write", cache="warm"), _options(datasets, tmp_path, "save_png")
        )


def test_bad_cells_are_refused_before_running(datasets, tmp_path):
    opts = _options(datasets, tmp_path)
    with pytest.raises(ImgbenchError, match="serial uses no workers"):
        run_cell(_cell(strategy="serial", workers=2), opts)
    with pytest.raises(DatasetError, match="needs 20 jpeg images"):
        run_cell(_cell(n=20), opts)
    with pytest.raises(ImgbenchError, match="unknown strategy 'fastest'"):
        run_cell(_cell(strategy="fastest"), opts)
    with pytest.raises(DatasetError, match="raw images"):
        run_cell(_cell(task="save_png", cache="warm"), opts)
    with pytest.raises(ImgbenchError, match="save_png reads no inputs"):
        run_cell(_cell(task="save_png", cache="cold"), _options(datasets, tmp_path, "save_png"))
    assert not opts.output.exists()


def test_a_corrupt_dataset_file_names_it(tmp_path, datasets):
    from imgbench.measure.datasets import make_dataset

    ds = make_dataset(tmp_path / "d", "jpeg", 48, 32, 4, seed=7, source=datasets["raw"].directory)
    victim = ds.paths(4)[2]
    victim.write_bytes(victim.read_bytes()[:100])
    opts = RunOptions(2, 0, ds.directory, tmp_path / "s", tmp_path / "o.json")
    with pytest.raises(DatasetError, match="img_000002.jpg"):
        run_cell(_cell(n=4), opts)


#: What a cell job must not import unless its cell needs it: every job pays its start-up, and a
#: default run has hundreds (asyncio and aiofiles: asyncio cells; httpx and http.server:
#: download cells; scipy, pandas and matplotlib: the analysis and the report;
#: importlib.metadata: the version, a literal, and Snakemake's, from the workflow).
NOT_FOR_EVERY_JOB = {
    "asyncio", "aiofiles", "httpx", "http.server", "ssl", "scipy", "pandas", "matplotlib",
    "importlib.metadata",
}  # fmt: skip


def _run_cell_imports(datasets, tmp_path, strategy: str, workers: int) -> set[str]:
    command = [
        sys.executable, "-X", "importtime", "-m", "imgbench", "run-cell", "--experiment", "t",
        "--task", "read", "--cache", "warm", "--size", "48x32", "--n-images", "4",
        "--strategy", strategy, "--workers", str(workers), "--repeats", "2", "--warmup", "0",
        "--dataset", str(datasets["jpeg"].directory), "--scratch", str(tmp_path / "scratch"),
        "--output", str(tmp_path / f"{strategy}.json"),
    ]  # fmt: skip
    env = {**os.environ, SNAKEMAKE_VERSION_ENV: "9.0.0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, [line for line in done.stderr.splitlines() if "import" not in line]
    return imported_modules(done.stderr)


def test_a_cell_job_imports_only_what_its_cell_needs(datasets, tmp_path):
    serial = _run_cell_imports(datasets, tmp_path, "serial", 1)
    assert {"numpy", "PIL.Image", "imgbench.measure.runner"} <= serial  # the listing is real
    assert not serial & NOT_FOR_EVERY_JOB, sorted(serial & NOT_FOR_EVERY_JOB)
    # An asyncio cell imports asyncio and aiofiles itself, in its untimed priming run.
    assert {"asyncio", "aiofiles"} <= _run_cell_imports(datasets, tmp_path, "asyncio", 2)


@pytest.mark.parametrize("strategy", ["processes", "threads"])
def test_a_persistent_cell_warms_its_pool_before_the_timer_and_counts_its_workers_cpu(
    datasets, tmp_path, strategy
):
    # spin_python: pure-Python CPU work, done wholly in the pool's workers.
    heavy = {"iterations": 300000}

    def run(name: str, workers: int = 2) -> dict:
        spec = CellSpec("t", "spin_python", "disk", "warm", 48, 32, 6, name, workers)
        options = RunOptions(2, 1, datasets["jpeg"].directory, tmp_path / name, task_options=heavy)
        return run_cell(spec, options)

    per_batch, kept = run(strategy), run(strategy + strategies.PERSISTENT_SUFFIX)
    loop = run("serial", 1)
    assert per_batch["phases"]["pool_start_s"] == 0.0
    assert kept["phases"]["pool_start_s"] > 0.0
    for rep in kept["repetitions"]:
        # The pool was there before every timer started: no worker started inside one.
        assert rep["workers_started"] is None and rep["pool_ready_s"] is None
        assert rep["verified"]
    for rep in per_batch["repetitions"]:
        assert rep["workers_started"] == 2
    # The kept workers are never reaped by a repetition, yet their CPU is the cell's own:
    # the work costs at least what the loop's costs (not just the parent's share). Against
    # the loop, not the per-batch pool, whose CPU includes starting its workers: on a busy
    # machine that alone was 0.27 against the kept pool's 0.14 s.
    cpu = [min(r["cpu_s"] for r in res["repetitions"]) for res in (loop, kept)]
    assert cpu[1] > 0.8 * cpu[0], cpu
