"""Cells of the measure tests: small options, a small cell, a cell job run as the workflow
runs it (``imgbench run-cell``, a process of its own), and a verifier for tasks that return
their input paths."""

import json
import os
import subprocess
import sys

from imgbench.measure.runner import RunOptions
from imgbench.measure.tasks import TASKS, VerifyContext
from imgbench.measure.tasks.task import check_count
from imgbench.vocabulary import CellSpec
from tests.helpers import ROOT

#: Tasks whose first call imports something (Pillow's format plugins, httpx's transport):
#: what a worker that starts a new interpreter (spawn, loky) would import inside the timer
#: unless primed. The forked pools' test covers every task; a new interpreter per cell job
#: costs seconds, so those tests take these.
FIRST_USE_TASKS = ["blur_thumbnail", "decode", "download", "save_jpeg", "save_png"]
#: Small options for tasks whose defaults would make a test slow.
SMALL = {
    "blur_thumbnail": {"radius": 2.0, "thumbnail": "24x24"},
    "download": {"latency_ms": 0.0, "bandwidth_mb_s": 0.0},
    "sleep": {"sleep_ms": 1.0},
    "spin_python": {"iterations": 1000},
    "spin_native": {"hash_mb": 0.25},
}


def cell_options(datasets, tmp_path, task, **kw):
    """Run options of a small cell of ``task`` on the session's datasets: 1 repetition, no
    warm-up, the task's ``SMALL`` options, unless ``kw`` says otherwise."""
    dataset = datasets["raw" if TASKS[task].input_kind == "arrays" else "jpeg"].directory
    small = {k: v for k, v in SMALL.get(task, {}).items() if k in TASKS[task].options}
    return RunOptions(
        kw.pop("repeats", 1),
        kw.pop("warmup", 0),
        dataset,
        tmp_path / "scratch",
        tmp_path / "out.json",
        task_options=small,
        **kw,
    )


def small_cell(task, strategy="processes", workers=2, n=4, cache_state=None, size=(48, 32)):
    """A cell of 4 images of 48x32, cold where the task reads files, warm where it saves."""
    if cache_state is None:
        cache_state = "warm" if TASKS[task].input_kind == "arrays" else "cold"
    return CellSpec("t", task, "disk", cache_state, *size, n, strategy, workers)


def verify_paths(ctx: VerifyContext, results) -> None:
    """The results are the input paths: tasks that only wait or hold memory return them."""
    check_count(ctx, results)
    assert results == [str(p) for p in ctx.input_paths]


def cell_job(datasets, tmp_path, task: str, strategy: str) -> dict:
    """The cell run as the workflow runs it: ``imgbench run-cell``, a process of its own.

    In this test process earlier tests have loaded what a task loads on first use, so that
    the priming run here would find nothing to list for workers that start a new
    interpreter; a cell job starts from nothing, as a user's program does.
    """
    kind = "raw" if TASKS[task].input_kind == "arrays" else "jpeg"
    out = tmp_path / "cell.json"
    options = [
        f"--option={k}={v}" for k, v in SMALL.get(task, {}).items() if k in TASKS[task].options
    ]
    cache_state = "warm" if kind == "raw" else "cold"
    args = [
        *("run-cell", "--experiment", "t", "--task", task, "--storage", "disk"),
        *("--cache", cache_state, "--size", "48x32", "--n-images", "4"),
        *("--strategy", strategy, "--workers", "2", "--repeats", "2", "--warmup", "0"),
        *("--dataset", str(datasets[kind].directory), "--scratch", str(tmp_path / "scratch")),
        *("--output", str(out), *options),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "imgbench", *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())
