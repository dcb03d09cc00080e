"""Helpers every test module may use; test modules never import from each other.

This package is the one place for them: ``golden`` (the recorded results tree and what is
derived from it), ``simulation`` (timings with known answers); and here:

- ``ROOT``, ``CONFIGS``: the checkout and its runnable test configs (``tests/configs``).
- ``snakemake``: the one way tests start the workflow (a test that calls it is ``e2e``).
- ``job_stats``: the "Job stats" table Snakemake prints, as rule -> count.
- ``cell_result``: a cell result as the runner writes it, built from wall times by the
  result model; ``write_cell_result``: one written at its place in a results directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from imgbench.measure.result import Cell, CellResult, Repetition, build_result, write_result
from imgbench.vocabulary import CellSpec

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "tests" / "configs"
#: Set by conftest before each test: whether it carries the ``e2e`` marker.
RUNNING_E2E: bool | None = None


def snakemake(
    workdir: Path,
    *args: str,
    config: str | Path | None = None,
    check: bool = True,
    timeout: float = 900,
    env: dict | None = None,
    **popen,
) -> subprocess.CompletedProcess | subprocess.Popen:
    """Run this checkout's workflow in ``workdir``.

    ``config`` is a file name in ``workdir`` or a path (``--configfile``). With ``popen``
    keyword arguments (``stdout=...``), the process is started and returned unwaited;
    otherwise it is waited for and, with ``check``, a failure shows Snakemake's output.
    """
    # `pytest -m "not e2e"` is the fast unit run only if every test that starts the
    # workflow says so.
    assert RUNNING_E2E is not False, "a test that starts snakemake must be marked e2e"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(workdir), *args]
    if config:
        cmd += ["--configfile", str(Path(workdir) / config)]
    if popen:
        return subprocess.Popen(cmd, text=True, env=env, **popen)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        )
    return done


def imported_modules(importtime: str) -> set[str]:
    """Module names from ``python -X importtime`` output (stderr)."""
    names = set()
    for line in importtime.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def job_stats(text: str) -> dict[str, int]:
    """Rule -> number of jobs, from the "Job stats:" table of a Snakemake run's output."""
    lines = text.split("Job stats:")[1].splitlines()[3:]
    stats = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        stats[parts[0]] = int(parts[1])
    return stats


def cell_result(strategy, workers, walls, n=10, task="decode") -> CellResult:
    """A result of one cell (experiment "e", 8x8 images) whose timed repetitions took
    ``walls`` seconds, after a 99 s warm-up that every analysis must ignore.

    Built by the result model (``build_result``), which checks it as the analysis's reader
    does: a test cannot build a result that a real run's reader would refuse.
    """
    cell: Cell = {
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
    reps: list[Repetition] = [
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
            "cpu_resolution_s": 1e-6,
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
    return build_result(
        cell,
        {
            "repeats": len(walls),
            "warmup": 1,
            "dataset_format": "jpeg",
            "task_summary": "t",
            "strategy_summary": "s",
            "mp_start_method": "fork",
        },
        {
            "hostname": "h",
            "cpu_model": "cpu",
            "usable_cores": 2,
            "load_average_1m": 0.1,
        },
        reps,
        started_unix=0.0,
        finished_unix=1.0,
        warnings=[],
    )


def write_cell_result(root: Path, result: CellResult) -> Path:
    """Write ``result`` where the workflow puts it under the results directory ``root``
    (its cell's path, its round), as the runner writes it; return the path."""
    path = Path(root) / CellSpec(**result["cell"]).result_path(result["run"].get("round", 1))
    write_result(path, result)
    return path


def pythons_unavailable(config: Path | dict, registry: bool = False) -> str | None:
    """Why a config that names interpreters (``pythons``) cannot be resolved here, or None:
    an interpreter not found (on PATH or in pyenv), or, with ``registry`` (the workflow
    asks it for wheels before planning), the package registry unreachable. The tests that
    resolve every shipped config skip, saying so, or check the schema alone for it."""
    import socket

    import yaml

    from imgbench.errors import ConfigError
    from imgbench.plan.pythons import probe

    name = "the config" if isinstance(config, dict) else Path(config).name
    if not isinstance(config, dict):
        config = yaml.safe_load(Path(config).read_text()) or {}
    experiments = config.get("experiments", {})
    names = sorted({n for e in experiments.values() for n in (e or {}).get("pythons", [])})
    absent = []
    for name in names:
        try:
            probe(name)
        except ConfigError:
            absent.append(name)
    if absent:
        return f"{name}: no {', '.join(absent)} on PATH or in pyenv here"
    if names and registry:
        try:
            socket.create_connection(("pypi.org", 443), timeout=5).close()
        except OSError:
            return f"{name}: the package registry cannot be reached"
    return None


def start_method_result(strategy, method, ready, start=0.0, workers=2) -> CellResult:
    """A cell under start ``method`` whose timed repetitions' pools were ready after
    ``ready`` seconds (None: no worker started in them), its kept pool made in ``start``."""
    result = cell_result(strategy, workers, [1.0, 1.0, 1.0])
    result["run"]["mp_start_method"] = method
    for rep in result["repetitions"]:
        rep["pool_ready_s"] = ready
    result["phases"] = {
        "setup_s": 0.1,
        "pool_start_s": start,
        "prepare_s": 0.1,
        "timed_s": 3.0,
        "verify_s": 0.1,
        "teardown_s": 0.0,
    }
    return result


def start_method_results() -> list[CellResult]:
    """Cells of every start method: fork, spawn and joblib's loky, per batch and kept; a
    thread pool, whose quick start must not count as fork's."""
    return [
        start_method_result("serial", "fork", None, workers=1),
        start_method_result("threads", "fork", 0.001),
        start_method_result("processes_fork", "fork", 0.006),
        start_method_result("processes_shm_fork", "fork", 0.004),
        start_method_result("processes_spawn", "spawn", 0.140),
        start_method_result("processes_chunked_spawn", "spawn", 0.160),
        start_method_result("processes_persistent_spawn", "spawn", None, start=0.4),
        start_method_result("joblib", "loky", 0.5),
        start_method_result("joblib_persistent", "loky", None, start=0.9),
    ]


def write_image_folder(root: Path, sizes=((64, 48), (40, 60), (50, 50), (30, 30))) -> Path:
    """A folder of a user's images: mixed formats (JPEG, PNG, WebP), sizes and a greyscale
    one, in a subfolder too; each image random pixels of its own."""
    import numpy as np
    from PIL import Image

    formats = ("JPEG", "PNG", "WEBP")
    rng = np.random.default_rng(3)
    for i, (width, height) in enumerate(sizes):
        array = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        image = Image.fromarray(array) if i % 4 != 3 else Image.fromarray(array[..., 0])
        place = root / ("trip" if i % 2 else "")
        place.mkdir(parents=True, exist_ok=True)
        fmt = formats[i % len(formats)]
        image.save(place / f"{i}.{fmt.lower()}", format=fmt)
    return root


def image_folders(config_path: Path, workdir: Path) -> None:
    """Make in ``workdir`` the image folders a config's experiments name by a relative
    ``dataset.path``, so that it runs there (tests/configs/folder.yaml)."""
    import yaml

    config = yaml.safe_load(Path(config_path).read_text())
    for exp in (config.get("experiments") or {}).values():
        path = (exp.get("dataset") or {}).get("path")
        if path and not Path(path).is_absolute():
            write_image_folder(Path(workdir) / path)
