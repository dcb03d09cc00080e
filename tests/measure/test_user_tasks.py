"""A user's own function as a task (``imgbench.measure.tasks.user``): it runs under every
strategy, its outputs must equal the plain loop's, and a failure names the image and the
function. The worked example in examples/thumbnail_webp is run here, cell by cell."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from imgbench.errors import ConfigError, TaskError, VerificationError
from imgbench.measure.runner import RunOptions, run_cell
from imgbench.measure.tasks import TASKS, register_function
from imgbench.plan.config import load_yaml, resolve_config
from imgbench.plan.grid import expand_runs
from imgbench.vocabulary import CellSpec
from imgbench.workflow import run_cell_argv
from tests.helpers import ROOT

EXAMPLE = ROOT / "examples" / "thumbnail_webp"
SPEC = f"{EXAMPLE / 'steps.py'}:thumbnail_webp"


@pytest.fixture
def registry():
    """User tasks registered by a test are gone after it."""
    before = dict(TASKS)
    yield TASKS
    TASKS.clear()
    TASKS.update(before)


def _steps(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "steps.py"
    path.write_text(textwrap.dedent(body))
    return path


def _run(datasets, tmp_path, task, strategy, workers=2, n=6, **options):
    cell = CellSpec("t", task, "disk", "warm", 48, 32, n, strategy, workers)
    opts = RunOptions(2, 1, datasets["jpeg"].directory, tmp_path / "scratch", tmp_path / "o.json")
    for key, value in options.items():
        setattr(opts, key, value)
    return run_cell(cell, opts)


@pytest.mark.parametrize(
    "strategy", ["serial", "threads", "processes", "processes_chunked", "asyncio"]
)
def test_the_example_runs_and_verifies_under_every_strategy(registry, datasets, tmp_path, strategy):
    register_function("thumbnail_webp", SPEC)
    result = _run(datasets, tmp_path, "thumbnail_webp", strategy, 1 if strategy == "serial" else 2)
    assert all(rep["verified"] for rep in result["repetitions"])
    assert list((tmp_path / "scratch").iterdir()) == []  # outputs stay in the cell's scratch


def test_outputs_that_differ_from_the_loops_fail_naming_the_first_image(
    registry, datasets, tmp_path
):
    steps = _steps(
        tmp_path,
        """
        import os
        from pathlib import Path

        def stamp(path, out_dir):
            # The worker's pid: the loop's own in the loop, another one in a pool.
            Path(out_dir, "pid.txt").write_text(str(os.getpid()))
        """,
    )
    register_function("stamp", f"{steps}:stamp")
    _run(datasets, tmp_path, "stamp", "serial", 1)  # the same process as the reference
    with pytest.raises(
        VerificationError, match=r"img_000000.jpg \(image #0\).*wrote a different pid.txt"
    ):
        _run(datasets, tmp_path, "stamp", "processes", 2)


def test_a_function_that_raises_names_the_image_and_the_function(registry, datasets, tmp_path):
    steps = _steps(
        tmp_path,
        """
        def fussy(path, out_dir):
            if path.endswith("img_000003.jpg"):
                raise ValueError("not this one")
            return len(path)
        """,
    )
    register_function("fussy", f"{steps}:fussy")
    for strategy in ("serial", "processes"):
        with pytest.raises(
            TaskError,
            match=rf"img_000003.jpg: task function {steps}:fussy raised ValueError: not this one",
        ):
            _run(datasets, tmp_path, "fussy", strategy, 1 if strategy == "serial" else 2)


def test_the_users_own_verify_is_called(registry, datasets, tmp_path):
    steps = _steps(
        tmp_path,
        """
        def half(path, out_dir):
            return 1

        def refuse(path, value, out_dir):
            raise AssertionError("one is not enough")

        half.verify = refuse
        """,
    )
    register_function("half", f"{steps}:half")
    with pytest.raises(
        VerificationError, match=r"image #0\): .*half's verify rejected .*one is not enough"
    ):
        _run(datasets, tmp_path, "half", "threads", 2)


def test_each_image_gets_an_empty_directory_of_its_own(registry, datasets, tmp_path):
    steps = _steps(
        tmp_path,
        """
        import os

        def look(path, out_dir):
            assert os.listdir(out_dir) == [], out_dir
            open(os.path.join(out_dir, "x"), "w").close()
            return os.path.basename(out_dir)
        """,
    )
    register_function("look", f"{steps}:look")
    result = _run(datasets, tmp_path, "look", "threads", 2)
    assert len(result["repetitions"]) == 3  # a warm-up and two timed: each began empty


# -- the config ------------------------------------------------------------------------------


def _config(tasks, **exp):
    return {"experiments": {"mine": {"tasks": tasks, "strategies": ["serial"], **exp}}}


def test_a_function_in_tasks_is_named_after_itself_and_registered(registry, tmp_path):
    config = resolve_config(_config(["decode", SPEC]))
    exp = config["experiments"]["mine"]
    assert exp["tasks"] == ["decode", "thumbnail_webp"]
    assert exp["task_functions"] == {"thumbnail_webp": SPEC}
    assert TASKS["thumbnail_webp"].function == SPEC
    # Resolving the resolved config again (a job, the analysis) loads the same function.
    again = resolve_config(config)
    assert again["experiments"]["mine"]["task_functions"] == {"thumbnail_webp": SPEC}


def test_a_relative_file_is_found_from_the_working_directory(registry, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = resolve_config(_config(["examples/thumbnail_webp/steps.py:thumbnail_webp"]))
    assert config["experiments"]["mine"]["task_functions"]["thumbnail_webp"] == SPEC


def test_task_functions_names_a_function_otherwise(registry):
    config = resolve_config(
        _config(["thumb"], task_functions={"thumb": SPEC}, strategies=["serial", "threads"])
    )
    assert config["experiments"]["mine"]["tasks"] == ["thumb"]
    assert TASKS["thumb"].function == SPEC


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("no_such_module_xyz:f", r"cannot import no_such_module_xyz \(ModuleNotFoundError"),
        ("/nowhere/steps.py:f", r"/nowhere/steps.py: no such file"),
        (f"{EXAMPLE / 'steps.py'}:nothing", r"has no nothing"),
        (f"{EXAMPLE / 'steps.py'}:BOX", r"BOX is not callable"),
    ],
)
def test_a_function_that_cannot_be_loaded_is_a_config_error_naming_it(registry, entry, says):
    with pytest.raises(ConfigError, match=rf"experiments\.mine\.tasks: task .*{says}") as error:
        resolve_config(_config([entry]))
    assert "unknown value" not in str(error.value)  # said once, not again as a typo


def test_a_function_may_not_take_a_built_in_tasks_name(registry):
    with pytest.raises(ConfigError, match=r"task name decode is taken by a built-in task"):
        resolve_config(_config(["decode"], task_functions={"decode": SPEC}))


def test_a_cell_job_is_given_its_function(registry, datasets, tmp_path):
    config = resolve_config(load_yaml(EXAMPLE / "config.yaml") | {})
    run = next(r for r in expand_runs(config) if r.cell.strategy == "processes")
    exp = config["experiments"][run.cell.experiment]
    argv = run_cell_argv(run, exp, str(tmp_path / "scratch"))
    assert argv[argv.index("--task-function") + 1] == SPEC
    # The job, a process of its own, loads it from the command line alone.
    argv[argv.index("--size") + 1] = "48x32"
    argv[argv.index("--n-images") + 1] = "4"
    argv[argv.index("--repeats") + 1] = "1"
    out = tmp_path / "cell.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "imgbench", "run-cell", *argv, "--dataset",
         str(datasets["jpeg"].directory), "--output", str(out)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout and out.is_file()


def test_the_example_config_plans_its_cells(registry, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = resolve_config(load_yaml(EXAMPLE / "config.yaml"))
    tasks = {run.cell.task for run in expand_runs(config)}
    assert tasks == {"thumbnail_webp"}


def test_an_entry_point_of_the_group_names_a_task(registry, tmp_path, monkeypatch):
    # A distribution on sys.path that offers the example's function under another name.
    info = tmp_path / "mysteps-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mysteps\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[imgbench.tasks]\nthumbs = {SPEC}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = resolve_config(_config(["thumbs"]))
    assert config["experiments"]["mine"]["task_functions"] == {"thumbs": SPEC}
    assert TASKS["thumbs"].function == SPEC
