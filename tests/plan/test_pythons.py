"""Other Pythons as an axis (``pythons``): probing, expansion, the plan-time wheel check, the
workflow's glue, and what a cell job needs installed. Tests that need an interpreter this
machine lacks, or the registry, skip and say so."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from imgbench.errors import ConfigError, ImgbenchError
from imgbench.measure.machine import SNAKEMAKE_VERSION_ENV
from imgbench.plan import pythons
from imgbench.plan.config import experiment_hash, resolve_config, review_config
from imgbench.plan.grid import expand_cells
from tests.helpers import ROOT, imported_modules

THIS = f"python{sys.version_info[0]}.{sys.version_info[1]}"
TAG = f"py{sys.version_info[0]}{sys.version_info[1]}"


def _find(name: str) -> str | None:
    """An interpreter ``name`` that runs here, as the expansion would find it."""
    try:
        return pythons.probe(name).executable
    except ConfigError:
        return None


def _registry_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


PY313 = _find("python3.13")
PY310 = _find("python3.10")
needs_313 = pytest.mark.skipif(PY313 is None, reason="no python3.13 on PATH or in pyenv here")
needs_310 = pytest.mark.skipif(PY310 is None, reason="no python3.10 on PATH or in pyenv here")
needs_registry = pytest.mark.skipif(
    not _registry_reachable(), reason="the package registry (pypi.org) cannot be reached"
)


def _config(**experiment):
    base = {"tasks": ["decode"], "strategies": ["serial", "threads"], "workers": [2]}
    return {"experiments": {"load": {**base, **experiment}}}


def _fake(version="3.13.0", build="default", name="python3.13") -> pythons.Interpreter:
    return pythons.Interpreter(
        name, f"/opt/{name}/bin/python", version, "CPython", build, "linux-x86_64"
    )


# ----- probing --------------------------------------------------------------------------


def test_the_running_interpreter_is_probed_as_it_is():
    found = pythons.probe(sys.executable)
    assert found.version.startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
    assert found.implementation == "CPython" and found.build == "default"
    assert found.tag == TAG and found.executable == sys.executable


def test_tags_name_version_and_build():
    assert _fake("3.11.7").tag == "py311"
    assert _fake("3.14.0", "free-threaded").tag == "py314t"
    assert _fake("3.14.0", "free-threaded").label == "CPython 3.14.0 free-threaded"
    pypy = pythons.Interpreter("pypy3", "/x", "3.10.14", "PyPy", "default", "linux-x86_64")
    assert pypy.tag == "pypy310"
    assert pythons.Interpreter.from_config(_fake().as_config()) == _fake()


def test_a_missing_interpreter_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="python9.9"):
        resolve_config(_config(pythons=["python9.9"]))
    with pytest.raises(ConfigError, match="/no/such/python"):
        resolve_config(_config(pythons=["/no/such/python"]))


def test_a_pyenv_version_is_found_where_path_has_none(tmp_path, monkeypatch):
    # A pyenv layout whose "python3.42" is this interpreter; PATH has no python3.42.
    bin_dir = tmp_path / "versions" / "3.42.0" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python3.42").symlink_to(sys.executable)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    assert shutil.which("python3.42") is None
    assert pythons.candidates("python3.42") == [str(bin_dir / "python3.42")]
    assert pythons.probe("python3.42").version == pythons.probe(sys.executable).version


@needs_310
def test_an_interpreter_below_requires_python_is_refused_naming_both():
    with pytest.raises(ConfigError, match=r"3\.10\.\d+.*requires Python >= 3\.11"):
        resolve_config(_config(pythons=["python3.10"]))


def test_requires_python_is_pyproject_s():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=" + ".".join(map(str, pythons.REQUIRES_PYTHON))


# ----- expansion ------------------------------------------------------------------------


def test_an_experiment_without_pythons_is_left_as_it_was():
    config = resolve_config(_config())
    assert list(config["experiments"]) == ["load"]
    assert "python" not in config["experiments"]["load"]
    assert "pythons" not in config["experiments"]["load"]


def test_each_interpreter_becomes_an_experiment_of_its_own():
    config = resolve_config(_config(pythons=[sys.executable], description="Load"))
    (name,) = config["experiments"]
    assert name == f"load-{TAG}"
    exp = config["experiments"][name]
    assert "pythons" not in exp and exp["python"]["executable"] == sys.executable
    assert exp["python"]["tag"] == TAG and exp["description"].startswith("Load (CPython 3.")
    assert {c.experiment for c in expand_cells(config)} == {name}
    # A resolved config resolves to itself (the analysis reads it again, maybe elsewhere:
    # the probe's facts travel with it, the interpreter need not be there).
    assert resolve_config(config) == config


def test_expansion_with_fake_interpreters_names_every_problem():
    found = {"a": _fake("3.11.7", name="a"), "b": _fake("3.13.0", name="b")}
    found["c"] = _fake("3.13.1", name="c")  # the same version and build as b

    def probe(key, name):
        if name not in found:
            return None, f"config key {key}: {name!r} missing"
        return found[name], None

    config = resolve_config(_config())
    config["experiments"]["load"]["pythons"] = ["a", "b", "c", "zz"]
    config["experiments"]["load-py311"] = {"tasks": ["read"], "strategies": ["serial"]}
    expanded, problems = pythons.expand_pythons(config, probe)
    assert set(expanded["experiments"]) == {"load-py311", "load-py313"}
    assert expanded["experiments"]["load-py311"] == {"tasks": ["read"], "strategies": ["serial"]}
    text = "\n".join(problems)
    assert "'load-py311', is already an experiment" in text
    assert "'c' is CPython 3.13.1, as 'b' is" in text
    assert "'zz' missing" in text


def test_two_interpreters_of_one_tag_in_two_experiments_are_refused():
    found = {"a": _fake("3.13.0", name="a"), "b": _fake("3.13.1", name="b")}
    config = resolve_config(_config())
    config["experiments"]["load"]["pythons"] = ["a"]
    config["experiments"]["other"] = {**config["experiments"]["load"], "pythons": ["b"]}
    _, problems = pythons.expand_pythons(config, lambda key, name: (found[name], None))
    assert len(problems) == 1 and "are both py313" in problems[0]


def test_interpreters_change_the_hash_and_the_siblings_are_found():
    found = {"a": _fake("3.11.7", name="a"), "b": _fake("3.13.0", name="b")}
    config = resolve_config(_config())
    config["experiments"]["load"]["pythons"] = ["a", "b"]
    config["experiments"]["other"] = {**config["experiments"]["load"], "workers": [4]}
    config, problems = pythons.expand_pythons(config, lambda key, name: (found[name], None))
    assert not problems
    assert experiment_hash(config, "load-py311") != experiment_hash(config, "load-py313")
    assert pythons.siblings(config, "load-py313") == ["load-py311", "load-py313"]
    assert pythons.siblings(config, "other-py311") == ["other-py311", "other-py313"]
    assert set(pythons.interpreters(config)) == {"py311", "py313"}


def test_siblings_ignore_what_the_hash_ignores():
    from imgbench.plan.config import UNHASHED_KEYS

    assert set(pythons.NOT_THE_GRID) == {"python", *UNHASHED_KEYS}


def test_validate_config_reports_a_missing_interpreter_without_raising():
    review = review_config(_config(pythons=["python9.9"]))
    assert any("python9.9" in p for p in review.problems)


def test_pythons_and_python_together_are_refused():
    with pytest.raises(ConfigError, match="not both"):
        resolve_config(_config(pythons=[sys.executable], python=_fake().as_config()))


# ----- the wheel check ------------------------------------------------------------------


def test_a_wheel_check_is_cached_and_a_failure_names_package_and_interpreter(tmp_path, monkeypatch):
    lock = tmp_path / "lock.txt"
    lock.write_text("numpy==2.4.6\n")
    calls = []
    report = {"install": [{"metadata": {"name": "numpy", "version": "2.4.6"}}]}

    def dry_run(interpreter, lock, packages):
        calls.append(list(packages))
        ok = interpreter.version != "3.10.0" or "numpy" not in packages
        err = "" if ok else "ERROR: No matching distribution found for numpy==2.4.6\n"
        return subprocess.CompletedProcess([], 0 if ok else 1, json.dumps(report), err)

    monkeypatch.setattr(pythons, "_dry_run", dry_run)
    fine = _fake("3.13.0")
    assert pythons.check_wheels(fine, lock, tmp_path / "checks") == {"numpy": "2.4.6"}
    assert pythons.check_wheels(fine, lock, tmp_path / "checks") == {"numpy": "2.4.6"}
    assert len(calls) == 1, "the second check must come from the cache"
    lock.write_text("numpy==2.4.5\n")  # another lock: asked again
    pythons.check_wheels(fine, lock, tmp_path / "checks")
    assert len(calls) == 2
    with pytest.raises(ImgbenchError, match=r"CPython 3\.10\.0 .* of numpy at the version"):
        pythons.check_wheels(_fake("3.10.0", name="python3.10"), lock, tmp_path / "checks")


def test_a_check_that_cannot_run_pip_says_so_rather_than_blaming_a_wheel(tmp_path, monkeypatch):
    def dry_run(interpreter, lock, packages):
        return subprocess.CompletedProcess([], 1, "", "/x/python: No module named pip\n")

    monkeypatch.setattr(pythons, "_dry_run", dry_run)
    (tmp_path / "lock").write_text("numpy==2.4.6\n")
    with pytest.raises(ImgbenchError, match="needs pip 22.3") as err:
        pythons.check_wheels(_fake(), tmp_path / "lock", None)
    assert "no wheel" not in str(err.value)


@needs_registry
@needs_313
def test_the_registry_has_every_cell_package_for_3_13(tmp_path):
    found = pythons.check_wheels(pythons.probe(PY313), ROOT / pythons.LOCK, tmp_path)
    lock = (ROOT / pythons.LOCK).read_text()
    assert {"numpy", "pillow", "psutil"} <= found.keys()
    assert f"numpy=={found['numpy']}" in lock  # the lock's pin, not another version


@needs_registry
@needs_310
def test_3_10_has_no_wheel_of_the_lock_s_numpy(tmp_path):
    # Below requires-python the config refuses it anyway; the check itself names the
    # package that has no wheel (numpy 2.4 and pandas 3 need Python >= 3.11).
    with pytest.raises(ImgbenchError, match=r"no wheel for CPython 3\.10\.\d+ .*numpy"):
        pythons.check_wheels(pythons.probe(PY310), ROOT / pythons.LOCK, tmp_path)


# ----- the workflow's glue --------------------------------------------------------------


def test_the_workflow_runs_an_interpreter_s_cells_in_its_environment(tmp_path, monkeypatch):
    from imgbench import workflow

    monkeypatch.setattr(workflow, "check_wheels", lambda i, lock, cache: {"numpy": "2.4.6"})
    found = {"a": _fake("3.11.7", name="a"), "b": _fake("3.13.0", name="b")}
    config = resolve_config({**_config(), "results_dir": str(tmp_path / "r")})
    config["experiments"]["load"]["pythons"] = ["a", "b"]
    config["experiments"]["plain"] = {**config["experiments"]["load"]}
    del config["experiments"]["plain"]["pythons"]
    config, _ = pythons.expand_pythons(config, lambda key, name: (found[name], None))
    plan = workflow.WorkflowPlan(config, basedir=ROOT)
    assert set(plan.interpreters) == {"py311", "py313"}
    w = SimpleNamespace(experiment="load-py313", python="py313")
    marker = f"{tmp_path}/r/environments/py313/environment.json"
    assert plan.cell_python_env(w) == [marker]
    assert plan.cell_python_env(SimpleNamespace(experiment="plain")) == []
    command = plan.cell_imgbench("DEFAULT")
    assert command(SimpleNamespace(experiment="plain")) == "DEFAULT"
    assert f"{tmp_path}/r/environments/py313/venv/bin/python -m imgbench" in command(w)
    assert plan.python_env_interpreter(w) == "/opt/b/bin/python"
    assert plan.python_env_packages(w) == "numpy==2.4.6"
    assert plan.wildcard_constraints()["python"] in ("py313|py311", "py311|py313")
    assert len(plan.interpreter_tables(w)) == 8
    assert plan.interpreter_tables(SimpleNamespace(experiment="plain")) == []


# ----- what a cell job needs ------------------------------------------------------------


def _distributions(modules: set[str]) -> set[str]:
    import importlib.metadata

    by_module = importlib.metadata.packages_distributions()
    return {d.lower() for m in modules for d in by_module.get(m.split(".")[0], [])}


def _requirements(names, extras: bool = False) -> set[str]:
    """``names`` and everything they require (their closure), lower-case; with ``extras``,
    their optional requirements too (one level: httpx imports its command line's click,
    rich and pygments where they are installed, and does without them where not)."""
    import importlib.metadata
    import re

    seen, todo, optional = set(), [n.lower() for n in names], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # for another Python (exceptiongroup before 3.11): not imported here
        for req in requires:
            dist = re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0].lower()
            (optional.add if "extra ==" in req else todo.append)(dist)
    return seen | optional if extras else seen


@pytest.mark.parametrize(
    ("task", "strategy", "workers"),
    [("decode", "serial", 1), ("decode", "asyncio", 2), ("download", "threads", 2)],
)
def test_a_cell_job_imports_nothing_beyond_the_cell_packages(tmp_path, task, strategy, workers):
    from imgbench.measure.datasets import make_dataset

    raw = make_dataset(tmp_path / "raw", "raw", 32, 24, 2, seed=1)
    data = make_dataset(tmp_path / "jpeg", "jpeg", 32, 24, 2, seed=1, source=raw.directory)
    command = [
        sys.executable, "-X", "importtime", "-m", "imgbench", "run-cell", "--experiment", "t",
        "--task", task, "--cache", "warm", "--size", "32x24", "--n-images", "2",
        "--strategy", strategy, "--workers", str(workers), "--repeats", "1", "--warmup", "0",
        "--dataset", str(data.directory), "--scratch", str(tmp_path / "scratch"),
        "--output", str(tmp_path / "out.json"), "--option=latency_ms=0",
    ]  # fmt: skip
    if task != "download":
        command.remove("--option=latency_ms=0")
    env = {**os.environ, SNAKEMAKE_VERSION_ENV: "9.0.0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, [line for line in done.stderr.splitlines() if "import" not in line]
    # What the interpreter imports before any code of ours (site's .pth hooks) is not the
    # cell's.
    bare = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True
    )
    mods = imported_modules(done.stderr) - imported_modules(bare.stderr)
    used = _distributions(mods) - {"imgbench"}
    assert used, "the listing is real"
    allowed = _requirements(pythons.CELL_PACKAGES, extras=True)
    assert used <= allowed, sorted(used - allowed)
    # Each cell package is used by some cell: none of them is listed for nothing.
    assert {"numpy", "pillow", "psutil"} <= used


def test_every_cell_package_is_a_dependency_of_imgbench():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    import re

    declared = {re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert set(pythons.CELL_PACKAGES) <= declared


def test_the_build_command_line_is_complete(tmp_path):
    with pytest.raises(SystemExit):
        pythons.main(["build", "--interpreter", sys.executable])
    assert Path(pythons.environment_python(tmp_path / "v")) == tmp_path / "v" / "bin" / "python"
