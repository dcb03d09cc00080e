"""End-to-end: an experiment under two interpreters (config key pythons), the running one
and python3.13, each cell run in its interpreter's own environment, built by the workflow
from the registry. Skips, saying so, where python3.13 or the registry is not there."""

import json
import socket
import sys

import pytest
import yaml

from imgbench.errors import ConfigError
from imgbench.plan import pythons
from tests.helpers import CONFIGS, ROOT, job_stats, snakemake

pytestmark = pytest.mark.e2e

GRID = yaml.safe_load((CONFIGS / "pythons.yaml").read_text())
THIS = f"py{sys.version_info[0]}{sys.version_info[1]}"


def _py313() -> str | None:
    try:
        return pythons.probe("python3.13").executable
    except ConfigError:
        return None


def _registry() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if _py313() is None:
        pytest.skip("no python3.13 on PATH or in pyenv here")
    if not _registry():
        pytest.skip("the package registry (pypi.org) cannot be reached")
    if THIS == "py313":
        pytest.skip("the tests run under 3.13 itself: no second interpreter to compare")
    workdir = tmp_path_factory.mktemp("pythons")
    (exp,) = GRID["experiments"].values()
    config = {"experiments": {"interp": {**exp, "pythons": [sys.executable, "python3.13"]}}}
    (workdir / "pythons.yaml").write_text(yaml.safe_dump(config))
    done = snakemake(workdir, "--configfile", str(workdir / "pythons.yaml"), "--cores", "2")
    return workdir, done


def _results(workdir, experiment):
    cells = sorted((workdir / "results" / experiment / "cells").rglob("*.json"))
    return [json.loads(p.read_text()) for p in cells]


def test_each_interpreter_got_an_environment_of_the_lock_s_packages(run):
    workdir, done = run
    assert job_stats(done.stdout + done.stderr)["python_env"] == 2
    lock = (ROOT / pythons.LOCK).read_text()
    marker = json.loads((workdir / "results/environments/py313/environment.json").read_text())
    assert marker["version"].startswith("3.13.") and marker["build"] == "default"
    for name in ("numpy", "pillow", "psutil"):
        assert f"{name}=={marker['packages'][name]}".lower() in lock.lower()
    # Only what a cell needs: none of the analysis' or the workflow's packages.
    assert not {"pandas", "snakemake", "matplotlib", "scipy"} & set(marker["packages"])


def test_cells_ran_under_their_interpreter_and_recorded_it(run):
    workdir, _ = run
    under_313 = _results(workdir, "interp-py313")
    assert len(under_313) == 2
    for result in under_313:
        machine = result["machine"]
        assert machine["python_version"].startswith("3.13.")
        assert machine["python_build"] == "default"
        assert machine["gil_enabled"] is True
        assert all(rep["verified"] for rep in result["repetitions"])
    for result in _results(workdir, f"interp-{THIS}"):
        assert result["machine"]["python_version"] == ".".join(map(str, sys.version_info[:3]))
    meta = json.loads((workdir / "results/interp-py313/metadata.json").read_text())
    (entry,) = meta["interpreters"]
    assert entry["python_version"].startswith("3.13.") and entry["gil_enabled"] is True


def test_the_deck_sets_the_interpreters_side_by_side(run):
    workdir, _ = run
    for experiment in ("interp-py313", f"interp-{THIS}"):
        html = (workdir / "results" / experiment / "slides.html").read_text()
        assert "Interpreters side by side" in html
        assert "CPython 3.13." in html
