"""Fair to every strategy: what the runner records so that no strategy is biased against.

Priming (no first-use imports in workers), cold inputs rather than a cold interpreter, as
many in flight as the label says, pinned start methods, the pool's start-up apart from the
first result, the memory of the whole process tree, interference that counts only others,
one clock, durability of saving tasks and the task's physical bound.
"""

import asyncio
import mmap
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
import pytest

from imgbench.errors import ImgbenchError
from imgbench.measure import cache, codecs
from imgbench.measure import usage as measure
from imgbench.measure.datasets import make_dataset
from imgbench.measure.instruments import peak_in_flight
from imgbench.measure.machine import process_started
from imgbench.measure.runner import RunOptions, run_cell
from imgbench.measure.strategies import STRATEGIES
from imgbench.measure.tasks import TASKS, Task
from imgbench.vocabulary import CellSpec
from tests.helpers import ROOT
from tests.helpers.cells import SMALL, cell_options, small_cell, verify_paths

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
# -- 1. priming ----------------------------------------------------------------------------


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="")
@pytest.mark.parametrize(
    ("task", "strategy"),
    [
        (task, strategy)
        for task in sorted(TASKS)
        for strategy in ("processes", "processes_chunked", "processes_shm")
        # A task under another library loads it as the Pillow task loads Pillow: one pool
        # each; libvips' are never forked (tests/measure/test_codecs.py).
        if TASKS[task].library in (None, "pillow")
        or (strategy == "processes" and codecs.LIBRARIES[TASKS[task].library].fork_safe)
    ],
)
def test_forked_workers_import_nothing_inside_the_timer(datasets, tmp_path, task, strategy):
    # No warm-up: the very first timed repetition must not pay for a first use either.
    options = cell_options(datasets, tmp_path, task, start_method="fork", repeats=2)
    result = run_cell(small_cell(task, strategy), options)
    assert result["run"]["mp_start_method"] == "fork"
    for rep in result["repetitions"]:
        assert rep["worker_imported_modules"] == [], rep["index"]
    assert list((tmp_path / "scratch").iterdir()) == []  # the priming output is gone too


def test_priming_leaves_the_cache_cold_and_verification_intact(datasets, tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("mincore: Linux")
    options = cell_options(datasets, tmp_path, "blur_thumbnail", repeats=2)
    result = run_cell(small_cell("blur_thumbnail", "processes"), options)
    assert all(r["resident_fraction"] < 0.05 for r in result["repetitions"])
    assert all(r["verified"] for r in result["repetitions"])


def test_asyncio_primes_its_async_work_too(datasets, tmp_path):
    result = run_cell(small_cell("decode", "asyncio"), cell_options(datasets, tmp_path, "decode"))
    assert result["repetitions"][0]["worker_imported_modules"] == []


# -- 2. cold inputs ------------------------------------------------------------------------


@linux
def test_cold_evicts_the_input_files_and_counts_bytes_beyond_their_pages(datasets, tmp_path):
    # With a warm-up, as every preset runs: after a whole-system drop, the first
    # repetition's workers fault in two pages of their own code; the warm-up pays for it.
    options = cell_options(datasets, tmp_path, "decode", repeats=2, warmup=1)
    result = run_cell(small_cell("decode", "processes"), options)
    assert result["run"]["eviction"] == "files"
    sizes = [p.stat().st_size for p in datasets["jpeg"].paths(4)]
    pages = sum(-(-size // mmap.PAGESIZE) * mmap.PAGESIZE for size in sizes)
    timed = [rep for rep in result["repetitions"] if not rep["warmup"]]
    assert len(timed) == 2
    for rep in timed:
        assert rep["cache_method"] == "fadvise"
        assert rep["input_bytes"] == sum(sizes)
        read = rep["io_read_bytes"]
        assert rep["extra_read_bytes"] == (None if read is None else max(0, read - pages))
        # The workers read the inputs and nothing else: the interpreter stayed cached.
        assert read is None or rep["extra_read_bytes"] <= 0.1 * sum(sizes)


def test_saving_tasks_have_no_input_bytes(datasets, tmp_path):
    result = run_cell(
        small_cell("save_png", "serial", 1), cell_options(datasets, tmp_path, "save_png")
    )
    assert all(r["input_bytes"] == 0 for r in result["repetitions"])
    assert all(r["resident_fraction"] is None for r in result["repetitions"])


def test_a_cold_saving_cell_is_refused_unless_the_whole_cache_is_dropped(datasets, tmp_path):
    options = cell_options(datasets, tmp_path, "save_jpeg")
    with pytest.raises(ImgbenchError, match="save_jpeg reads no inputs.*eviction 'system'"):
        run_cell(small_cell("save_jpeg", "serial", 1, cache_state="cold"), options)
    assert not options.output.exists()


def test_system_eviction_that_is_not_allowed_warns_and_says_none(datasets, tmp_path, monkeypatch):
    # As for a user who may not write /proc/sys/vm/drop_caches: never silently warm.
    monkeypatch.setattr(cache, "DROP_CACHES", tmp_path / "no-such-dir" / "drop_caches")
    for task, strategy in (("decode", "threads"), ("save_png", "serial")):
        options = cell_options(datasets, tmp_path, task, eviction="system")
        workers = 2 if STRATEGIES[strategy].uses_workers else 1
        result = run_cell(small_cell(task, strategy, workers, cache_state="cold"), options)
        assert result["run"]["eviction"] == "system"
        assert {r["cache_method"] for r in result["repetitions"]} == {"none"}
        assert any("eviction 'system'" in w for w in result["warnings"]), result["warnings"]


def test_an_unknown_eviction_or_start_method_is_refused(datasets, tmp_path):
    with pytest.raises(ImgbenchError, match="unknown eviction 'all'"):
        run_cell(small_cell("decode"), cell_options(datasets, tmp_path, "decode", eviction="all"))
    with pytest.raises(ImgbenchError, match="unknown start method 'vfork'"):
        run_cell(
            small_cell("decode"), cell_options(datasets, tmp_path, "decode", start_method="vfork")
        )
    with pytest.raises(ImgbenchError, match="round 3 of 2"):
        run_cell(
            small_cell("decode"), cell_options(datasets, tmp_path, "decode", round=3, rounds=2)
        )


# -- 3. as many in flight as the label -----------------------------------------------------

NAP_S = 0.05


def nap(path: str) -> str:
    time.sleep(NAP_S)
    return path


async def anap(path: str) -> str:
    # A blocking call through the loop's default executor, as aiofiles' are.
    return await asyncio.to_thread(nap, path)


NAP = Task("nap", "sleeps 50 ms, GIL released", "files", nap, anap, verify_paths, bound="wait")


@pytest.fixture(scope="module")
def sixteen(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("sixteen") / "ds", "jpeg", 8, 8, 16, seed=2)


@pytest.mark.parametrize("strategy", ["threads", "processes", "asyncio"])
def test_sixteen_workers_run_sixteen_blocking_calls_at_once(
    monkeypatch, sixteen, tmp_path, strategy
):
    monkeypatch.setitem(TASKS, "nap", NAP)
    spec = CellSpec("t", "nap", "disk", "warm", 8, 8, 16, strategy, 16)
    options = RunOptions(5, 1, sixteen.directory, tmp_path / "s", start_method="fork")
    result = run_cell(spec, options)
    assert result["run"]["task_bound"] == "wait"
    reps = [r for r in result["repetitions"] if not r["warmup"]]
    # On a busy machine starting 16 threads or processes can take longer than one nap, and a
    # pool then reuses a worker that is already done: the best repetition shows the capacity.
    best = max(reps, key=lambda r: (r["peak_in_flight"], -r["wall_s"]))
    assert best["peak_in_flight"] == 16, reps
    assert best["workers_started"] == 16
    # One wave of naps, not three (asyncio's own default executor has 6 threads on 2 cores):
    # once every worker had started, at most one nap remains before the shutdown (which,
    # joining 16 processes on a busy machine, can alone take longer than a nap).
    remaining = best["wall_s"] - best["pool_ready_s"] - best["shutdown_s"]
    assert remaining < 2 * NAP_S + 0.05, best
    if strategy != "processes":
        assert min(r["wall_s"] for r in reps) < 2 * NAP_S + 0.1, reps


def test_the_loop_has_one_item_in_flight(sixteen, tmp_path, monkeypatch):
    monkeypatch.setitem(TASKS, "nap", NAP)
    spec = CellSpec("t", "nap", "disk", "warm", 8, 8, 4, "serial", 1)
    result = run_cell(spec, RunOptions(1, 0, sixteen.directory, tmp_path / "s"))
    rep = result["repetitions"][0]
    assert rep["peak_in_flight"] == 1
    assert rep["pool_ready_s"] is None and rep["workers_started"] is None


def test_peak_in_flight_from_spans():
    assert peak_in_flight([]) is None
    assert peak_in_flight([(0, 1), (1, 2), (2, 3)]) == 1  # touching spans do not overlap
    assert peak_in_flight([(0, 3), (1, 2), (1.5, 4), (3.5, 5)]) == 3


# -- 4. start method -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["default", "fork", "forkserver", "spawn"])
def test_each_start_method_is_used_and_recorded(datasets, tmp_path, method):
    import multiprocessing

    if method != "default" and method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    options = cell_options(datasets, tmp_path, "decode", start_method=method)
    result = run_cell(small_cell("decode", "processes"), options)
    expected = multiprocessing.get_start_method() if method == "default" else method
    assert result["run"]["mp_start_method"] == expected
    assert result["run"]["start_method_requested"] == method
    rep = result["repetitions"][0]
    assert rep["verified"] and rep["workers_started"] == 2
    assert 0 < rep["pool_ready_s"] < rep["wall_s"]


# -- 6. memory of the whole cell -----------------------------------------------------------

HOG_BYTES = 200 * 2**20
#: Where the hogs meet (set by the test before the pool forks, so workers inherit it).
HOG_MEETING: dict = {}


def hog(path: str) -> str:
    block = np.ones(HOG_BYTES, np.uint8)  # every page touched: resident and private
    meeting = HOG_MEETING.get("dir")
    if meeting is not None and os.getpid() != HOG_MEETING["parent"]:
        # Wait until both workers hold their block (on a busy machine touching 200 MiB takes
        # a while), then hold on long enough for several samples.
        (meeting / str(os.getpid())).touch()
        deadline = time.monotonic() + 20
        while len(list(meeting.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    time.sleep(0.3)
    del block
    return path


async def ahog(path: str) -> str:
    return await asyncio.to_thread(hog, path)


HOG = Task("hog", "holds 200 MiB for 0.3 s", "files", hog, ahog, verify_paths)


@linux
def test_the_tree_peak_counts_every_worker_and_the_parent_peak_only_itself(
    monkeypatch, datasets, tmp_path
):
    if not Path("/proc/self/smaps_rollup").exists():
        pytest.skip("no smaps_rollup")
    monkeypatch.setitem(TASKS, "hog", HOG)
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    monkeypatch.setitem(HOG_MEETING, "dir", meeting)
    monkeypatch.setitem(HOG_MEETING, "parent", os.getpid())  # its priming run meets nobody
    spec = CellSpec("t", "hog", "disk", "warm", 48, 32, 2, "processes", 2)
    options = RunOptions(1, 1, datasets["jpeg"].directory, tmp_path / "s", start_method="fork")
    rss_before = psutil.Process().memory_info().rss
    result = run_cell(spec, options)
    rep, timed = result["repetitions"]
    # Sampled in the warm-up (untimed), never in a timed repetition, and kept for the cell.
    assert rep["warmup"] and timed["tree_peak_uss_bytes"] is None
    assert result["memory"]["tree_peak_uss_bytes"] == rep["tree_peak_uss_bytes"]
    assert result["memory"]["sampled_in"] == "warm-up repetitions"
    assert rep["tree_peak_uss_bytes"] >= 2 * HOG_BYTES, rep
    assert rep["tree_peak_pss_bytes"] >= 2 * HOG_BYTES, rep
    # The parent's own peak leaves the workers' blocks out: it stays near what the parent
    # held before the cell (pytest's process may itself be large by now, whatever ran before
    # it, so the test compares it with the parent's own size, not with the tree's).
    assert rep["peak_rss_reset"], rep
    assert rep["peak_rss_bytes"] < rss_before + HOG_BYTES / 2, (rss_before, rep)


@linux
def test_the_sampler_is_detached_and_ends_with_its_cell():
    with measure.TreeMemorySampler() as sampler:
        # Launched at creation, answered when asked (a cell asks after its own set-up).
        assert sampler.ready() is not None and sampler.ready() == sampler.pid
        # Nobody's child: a cell's children are its pool workers and its servers.
        assert sampler.pid not in [c.pid for c in psutil.Process().children(recursive=True)]
        sampler.start()
        pss, uss = sampler.stop()
        assert 0 < uss <= pss + psutil.Process().memory_info().rss
        pid = sampler.pid
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.02)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


# -- 8. interference -----------------------------------------------------------------------


def test_a_helper_process_cpu_is_the_cells_own_not_interference():
    spin = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    helper = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep(0.2)\n{spin}"])
    try:
        process = psutil.Process(helper.pid)
        before = measure.Snapshot.take([process])
        helper.wait(30)  # not reaped by os.times until now: its CPU is read by psutil
        after = measure.Snapshot.take([process])
    finally:
        helper.kill()
        helper.wait()
    # A helper that exited before the second snapshot is not counted: read it while alive.
    usage = measure.resource_usage(before, after)
    busy = after.machine_busy - before.machine_busy
    assert usage["other_cpu_s"] == pytest.approx(busy - usage["cpu_s"] - usage["helper_cpu_s"])


def test_a_live_helpers_cpu_is_subtracted():
    code = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    code += "time.sleep(30)"
    helper = subprocess.Popen([sys.executable, "-c", code])
    try:
        process = psutil.Process(helper.pid)
        before = measure.Snapshot.take([process])
        deadline = time.monotonic() + 30
        while sum(process.cpu_times()[:2]) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        after = measure.Snapshot.take([process])
    finally:
        helper.kill()
        helper.wait()
    usage = measure.resource_usage(before, after)
    assert usage["helper_cpu_s"] >= 0.2
    busy = after.machine_busy - before.machine_busy
    # Unclipped: exactly what is left of the usable CPUs' busy time.
    assert usage["other_cpu_s"] == pytest.approx(busy - usage["cpu_s"] - usage["helper_cpu_s"])


def test_busy_time_counts_only_the_usable_cpus():
    cpus = measure.usable_cpus()
    if cpus is None:
        pytest.skip("no affinity mask here")
    mine, _ = measure.machine_busy_seconds(cpus[:1])
    every, _ = measure.machine_busy_seconds(None)
    assert 0 < mine <= every + 0.05


def test_the_download_server_is_a_helper(tmp_path):
    ds = make_dataset(tmp_path / "ds", "jpeg", 16, 16, 4, seed=1)
    spec = CellSpec("t", "download", "disk", "warm", 16, 16, 4, "threads", 2)
    options = RunOptions(2, 0, ds.directory, tmp_path / "s", task_options=dict(SMALL["download"]))
    result = run_cell(spec, options)
    assert result["run"]["task_bound"] == "wait"
    for rep in result["repetitions"]:
        # The server answered 4 requests: its CPU is the cell's, beside the sampler's.
        assert rep["helper_cpu_s"] >= 0 and rep["other_cpu_s"] > -0.1
        assert rep["worker_imported_modules"] == []


# -- 9. one clock --------------------------------------------------------------------------


@linux
def test_the_process_start_time_is_right_to_a_few_ticks():
    code = "from imgbench.measure.machine import process_started; print(*process_started())"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    launched = time.time()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    started, precision = (float(v) for v in done.stdout.split())
    assert precision == pytest.approx(1 / os.sysconf("SC_CLK_TCK"))
    # Started after it was launched (less a tick and clock noise), well before it answered.
    assert launched - 2 * precision - 0.01 <= started <= launched + 1.0


def test_the_cell_records_its_process_start_and_its_precision(datasets, tmp_path):
    result = run_cell(small_cell("read", "serial", 1), cell_options(datasets, tmp_path, "read"))
    assert result["process_started_unix"] <= result["started_unix"]
    if sys.platform.startswith("linux"):
        assert result["process_started_precision_s"] <= 0.01 + 1e-9
    assert process_started()[0] == pytest.approx(result["process_started_unix"], abs=0.05)


# -- 7. durability, 10. bound, 11. run-cell flags -------------------------------------------


def test_durability_fsync_puts_an_fsync_of_each_file_in_the_work(datasets, tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    for strategy in ("serial", "asyncio"):
        synced.clear()
        workers = 1 if strategy == "serial" else 2
        options = replace(
            cell_options(datasets, tmp_path, "save_jpeg", repeats=2),
            task_options={"durability": "fsync"},
            output=None,  # writing the result fsyncs it too
        )
        result = run_cell(small_cell("save_jpeg", strategy, workers), options)
        assert result["run"]["task_options"] == {"durability": "fsync"}
        # 4 images x 2 repetitions, plus the priming run's (once, twice for asyncio).
        assert len(synced) == 8 + (2 if strategy == "asyncio" else 1)
    with pytest.raises(ImgbenchError, match="unknown value 'always'; allowed: none, fsync"):
        run_cell(
            small_cell("save_png", "serial", 1),
            replace(options, task_options={"durability": "always"}),
        )


def test_tasks_say_what_bounds_them():
    assert TASKS["download"].bound == "wait"
    for name in ("save_png", "save_jpeg", "read", "decode", "grayscale", "blur_thumbnail"):
        assert TASKS[name].bound == "cpu"
    for name in ("save_png", "save_jpeg", "blur_thumbnail"):
        assert TASKS[name].options["durability"] == "none"
        assert TASKS[name].choices["durability"] == ("none", "fsync")


def test_run_cell_flags_reach_the_result(datasets, tmp_path, capsys):
    from imgbench.cli import main

    out = tmp_path / "cell.json"
    args = [
        "run-cell",
        *("--experiment", "t", "--task", "decode", "--storage", "disk", "--cache", "cold"),
        *("--size", "48x32", "--n-images", "4", "--strategy", "processes", "--workers", "2"),
        *("--repeats", "1", "--warmup", "0", "--dataset", str(datasets["jpeg"].directory)),
        *("--scratch", str(tmp_path / "s"), "--output", str(out)),
        *("--start-method", "spawn", "--eviction", "files", "--round", "2", "--rounds", "3"),
    ]
    assert main(args) == 0
    import json

    run = json.loads(out.read_text())["run"]
    assert (run["mp_start_method"], run["start_method_requested"]) == ("spawn", "spawn")
    assert (run["eviction"], run["round"], run["rounds"]) == ("files", 2, 3)
    assert run["task_bound"] == "cpu"
    with pytest.raises(SystemExit):
        main([*args[:-8], "--round", "0"])


def test_info_lists_each_tasks_bound_and_choices(capsys):
    import json

    from imgbench.cli import main

    assert main(["info", "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)["tasks"]
    assert tasks["download"]["bound"] == "wait" and tasks["decode"]["bound"] == "cpu"
    assert tasks["save_png"]["choices"] == {"durability": ["none", "fsync"]}
