"""The package works installed, not only checked out.

A wheel is built from a copy of the package's sources, installed into a fresh virtual
environment outside the checkout (its dependencies those of the test run, found after its
own packages; ``pip check`` says they satisfy it), and run from a directory outside it:
``imgbench validate-config`` (the schema is package data),
``imgbench make-dataset`` and ``imgbench run-cell`` of a tiny cell (and of a download cell,
whose HTTP server is a child process that must find the installed package).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imgbench import __version__ as imgbench_version
from imgbench.measure.result import read_result
from tests.helpers import CONFIGS, ROOT

pytestmark = pytest.mark.e2e

#: Building the wheel fetches the build backend from the package index.
INSTALL_TIMEOUT_S = 600


def _run(cmd: list, cwd: Path, timeout: float = 300) -> str:
    # No PYTHONPATH: nothing may lead the installed interpreter back to the checkout.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        )
    return done.stdout


def _sources(dest: Path) -> Path:
    """What a wheel is built from, copied (links followed, no caches or build outputs)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(
        ROOT / "src" / "imgbench",
        dest / "src" / "imgbench",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return dest


def _dependencies_of(venv: Path) -> None:
    """Give ``venv`` the test run's installed dependencies, after its own site-packages.

    A path in a ``.pth`` file is appended to ``sys.path`` without its own ``.pth`` files
    being read, so the checkout's editable install (a finder a ``.pth`` file registers)
    never loads there: ``imgbench`` can only come from the wheel. Installing the locked
    dependencies afresh took a minute of every CI run, and ``.ci/run`` installs them from
    the lock into a fresh environment anyway.
    """
    import sysconfig

    ours = Path(sysconfig.get_paths()["purelib"])
    (theirs,) = venv.glob("lib/python*/site-packages")
    (theirs / "zz_test_dependencies.pth").write_text(f"{ours}\n")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment, outside the checkout, with the wheel installed."""
    root = tmp_path_factory.mktemp("install")
    assert ROOT not in root.parents
    project = _sources(root / "project")
    wheels = root / "wheels"
    # Build isolation: the build backend's own requirements come from the index, as they
    # would for anyone building the package.
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, project], root)
    (wheel,) = wheels.glob("imgbench-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv], root)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", wheel], root, INSTALL_TIMEOUT_S)
    _dependencies_of(venv)
    # Everything the wheel requires is there, at versions it accepts.
    _run([python, "-m", "pip", "check"], root)
    return venv


def test_the_installed_package_validates_a_config_and_runs_a_cell(installed, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    imgbench = installed / "bin" / "imgbench"
    where = _run(
        [installed / "bin" / "python", "-c", "import imgbench; print(imgbench.__file__)"], work
    )
    assert Path(where.strip()).is_relative_to(installed), where

    shutil.copy2(CONFIGS / "tiny.yaml", work / "tiny.yaml")
    assert "config valid: 1 experiments" in _run([imgbench, "validate-config", "tiny.yaml"], work)

    _run(
        [imgbench, "make-dataset", "--format", "jpeg", "--size", "16x12", "--count", "3"]
        + ["--seed", "1", "--output", "dataset"],
        work,
    )
    for task, strategy, workers, options in (
        ("decode", "threads", "2", []),
        ("download", "serial", "1", ["--option", "latency_ms=0"]),
    ):
        out = work / "results" / f"{task}.json"
        _run(
            [imgbench, "run-cell", "--experiment", "e", "--task", task, "--storage", "disk"]
            + ["--cache", "warm", "--size", "16x12", "--n-images", "3", "--strategy", strategy]
            + ["--workers", workers, "--repeats", "2", "--warmup", "1", "--dataset", "dataset"]
            + ["--scratch", "scratch", "--output", out, "--timeout", "300", *options],
            work,
        )
        result = read_result(out)
        assert result["cell"]["task"] == task
        assert [r["warmup"] for r in result["repetitions"]] == [True, False, False]
        assert all(r["verified"] for r in result["repetitions"])
        # Installed, the package comes from no checkout: no commit to record.
        assert result["machine"]["workflow_commit"] == "unknown"
        assert result["machine"]["imgbench_version"] == imgbench_version
