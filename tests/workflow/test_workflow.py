"""End-to-end: the real snakemake on a tiny config in a temporary directory."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.helpers import CONFIGS, ROOT, image_folders, job_stats, pythons_unavailable, snakemake

pytestmark = pytest.mark.e2e

TINY = yaml.safe_load((CONFIGS / "tiny.yaml").read_text())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    shm = workdir / "fake-tmpfs"
    shm.mkdir()
    config = dict(TINY, scratch={"shm": str(shm)})
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--configfile", str(workdir / "tiny.yaml"), "--cores", "2")
    return workdir


def _results(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (run / "results/tiny/cells").rglob("*.json")]


def test_every_cell_wrote_a_verified_result(run):
    cells = sorted((run / "results/tiny/cells").rglob("*.json"))
    # (save_png: disk-warm, shm-warm -- it reads no inputs, so it has no cold state with
    # file eviction -- and decode: disk-cold, disk-warm, shm-warm) x (serial + 2 threads
    # + 2 processes_chunked) x 2 rounds
    assert len(cells) == (2 + 3) * 5 * 2
    for round in (1, 2):
        assert (
            run / f"results/tiny/cells/decode/disk-cold/32x24/n6/threads-w2-r{round}.json"
        ).is_file()
    assert (run / "results/tiny/cells/save_png/shm-warm/32x24/n6/serial-w1-r2.json").is_file()
    assert not list((run / "results/tiny/cells").rglob("save_png/disk-cold"))
    for path in cells:
        result = json.loads(path.read_text())
        assert len(result["repetitions"]) == 3
        assert all(rep["verified"] for rep in result["repetitions"])
        assert result["run"]["round"] == int(path.stem.rsplit("-r", 1)[1])
        assert result["run"]["rounds"] == 2
    assert not list((run / "fake-tmpfs").iterdir())


def test_no_two_cell_jobs_overlapped_interpreter_start_included(run):
    # From the job process's start (interpreter start-up and imports included) to its end.
    spans = sorted(
        (r["process_started_unix"], r["finished_unix"], r["cell_path"]) for r in _results(run)
    )
    for (_, end, a), (start, _, b) in zip(spans, spans[1:], strict=False):
        assert end <= start, f"{a} overlapped {b}"


def test_rounds_run_in_order_shuffled_within_a_round(run):
    from imgbench.plan.config import load_yaml, resolve_config
    from imgbench.plan.grid import CellRun, expand_runs, run_order
    from imgbench.vocabulary import CellSpec

    results = sorted(_results(run), key=lambda r: r["started_unix"])
    ran = [CellRun(CellSpec(**r["cell"]), r["run"]["round"]) for r in results]
    rounds = [r.round for r in ran]
    assert rounds == sorted(rounds), "a round-2 job ran before a round-1 job"
    config = resolve_config(load_yaml(run / "tiny.yaml"))
    order = run_order(config, expand_runs(config))
    assert ran == sorted(order, key=order.get)
    first = [r.cell for r in ran if r.round == 1]
    second = [r.cell for r in ran if r.round == 2]
    assert first != second and first != sorted(first), "the order within a round is shuffled"


def test_tables(run):
    exp = run / "results/tiny"
    timings = pd.read_csv(exp / "timings.csv")
    assert len(timings) == 25 * 2 * 2
    assert sorted(timings["round"].unique()) == [1, 2]
    summary = pd.read_csv(exp / "summary.csv")
    assert len(summary) == 25
    for column in [
        "reps",
        "median_s",
        "mean_s",
        "std_s",
        "min_s",
        "max_s",
        "ci_low_s",
        "ci_high_s",
        "cv",
        "images_per_s",
    ]:
        assert summary[column].notna().all(), column
    assert (summary["ci_low_s"] <= summary["median_s"]).all()
    assert (summary["median_s"] <= summary["ci_high_s"]).all()
    speedup = pd.read_csv(exp / "speedup.csv")
    serial = speedup[(speedup["strategy"] == "serial") & (speedup["baseline"] == "serial")]
    assert (serial["speedup"] == 1.0).all()
    efficiency = pd.read_csv(exp / "efficiency.csv")
    expected = efficiency["speedup"] / efficiency["workers"]
    assert np.allclose(efficiency["efficiency"], expected, equal_nan=True, rtol=0, atol=0)
    assert set(speedup["baseline"]) == {"serial", "1 worker"}
    for table in ["amdahl", "comparisons", "recommendations"]:
        assert not pd.read_csv(exp / f"{table}.csv").empty, table
    meta = json.loads((exp / "metadata.json").read_text())
    assert meta["cells"] == 50


def test_figures_slides_and_bundle(run):
    exp = run / "results/tiny"
    for name in ["speedup", "efficiency", "faster_than_serial"]:
        with Image.open(exp / "figures" / f"{name}.png") as im:
            assert im.size[0] > 300
        assert (exp / "figures" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    html = (exp / "slides.html").read_text()
    assert "data:image/png;base64," in html and "decode" in html
    assert "A tiny grid&#39;s &lt;description&gt;" in html
    with zipfile.ZipFile(run / "results/bundle.zip") as bundle:
        names = set(bundle.namelist())
        assert "config.yaml" in names
        for item in [
            "timings.csv",
            "summary.csv",
            "speedup.csv",
            "efficiency.csv",
            "slides.html",
            "figures/speedup.png",
            "figures/speedup.svg",
        ]:
            assert f"tiny/{item}" in names
        config = yaml.safe_load(bundle.read("config.yaml"))
    assert config["experiments"]["tiny"]["repeats"] == 2
    assert config["experiments"]["tiny"]["rounds"] == 2
    assert config["experiments"]["tiny"]["warmup"] == 1


def test_nothing_left_to_do_and_forcerun_redoes_one_cell(run):
    done = snakemake(run, "--cores", "2", "-n", config="tiny.yaml")
    assert "Nothing to be done" in done.stdout + done.stderr
    # One round of a cell, or all its rounds (as the README says: a shell glob).
    cell = "results/tiny/cells/decode/disk-cold/32x24/n6/threads-w2"
    done = snakemake(run, "--cores", "2", "-n", "--forcerun", f"{cell}-r2.json", config="tiny.yaml")
    stats = job_stats(done.stdout)
    assert stats["cell"] == 1
    assert {"aggregate", "figures", "slides", "bundle"} <= set(stats)
    rounds = sorted(str(p.relative_to(run)) for p in run.glob(f"{cell}-r*.json"))
    done = snakemake(run, "--cores", "2", "-n", "--forcerun", *rounds, config="tiny.yaml")
    assert job_stats(done.stdout)["cell"] == 2


def test_a_wrong_config_key_stops_the_run_naming_it(tmp_path):
    bad = {"experiments": {"e": {**TINY["experiments"]["tiny"], "wokers": [2]}}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    done = snakemake(tmp_path, "--cores", "1", "-n", config="bad.yaml", check=False)
    assert done.returncode != 0
    assert "unknown key 'wokers'; did you mean 'workers'?" in done.stderr + done.stdout
    bad["experiments"]["e"].pop("wokers")
    bad["experiments"]["e"]["strategies"] = ["serial", "gpu"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    done = snakemake(tmp_path, "--cores", "1", "-n", config="bad.yaml", check=False)
    assert done.returncode != 0
    assert "experiments.e.strategies[1]: unknown value 'gpu'" in done.stderr + done.stdout
    assert not (tmp_path / "results").exists()


SHIPPED = [
    "config/config.yaml",
    *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("config/presets/*.yaml")),
    # The tests' own configs are runnable too (each names the test that uses it).
    *sorted(str(p.relative_to(ROOT)) for p in CONFIGS.glob("*.yaml")),
]
#: Snakemake plans these in a dry run (6-11 s each); every other shipped config is planned
#: in this process by the package the Snakefile calls (``WorkflowPlan``), which is where a
#: config can fail: CI must stay under 15 minutes.
DRY_RUN = {"config/config.yaml", "config/presets/quick.yaml", "tests/configs/folder.yaml"}


def test_every_shipped_config_plans_cells(tmp_path, monkeypatch):
    from imgbench.plan.config import load_yaml, resolve_config
    from imgbench.workflow import WorkflowPlan

    monkeypatch.chdir(tmp_path)
    for preset in sorted(set(SHIPPED) - DRY_RUN):
        if pythons_unavailable(ROOT / preset, registry=True):
            continue  # interpreters or a registry this machine lacks
        image_folders(ROOT / preset, tmp_path)
        plan = WorkflowPlan(resolve_config(load_yaml(ROOT / preset)), ROOT)
        assert plan.runs, preset


@pytest.mark.parametrize("preset", sorted(DRY_RUN))
def test_shipped_configs_dry_run(tmp_path, preset):
    reason = pythons_unavailable(ROOT / preset, registry=True)
    if reason:
        pytest.skip(reason)
    image_folders(ROOT / preset, tmp_path)  # a folder of images, for configs that name one
    done = snakemake(tmp_path, "--configfile", str(ROOT / preset), "--cores", "8", "-n")
    jobs = job_stats(done.stdout)
    assert "cell" in jobs
    if "reference:" in (ROOT / preset).read_text():
        assert jobs.get("reference") == 1


def test_preset_replaces_the_default_experiments(tmp_path):
    done = snakemake(
        tmp_path, "--configfile", str(ROOT / "config/presets/quick.yaml"), "-n", "--cores", "8"
    )
    assert "results/quick/" in done.stdout and "results/save/" not in done.stdout


def _planned(done: subprocess.CompletedProcess) -> set[str]:
    """Every file the jobs of a dry run would write: their outputs, logs and benchmarks."""
    files = set()
    for line in done.stdout.splitlines():
        key, _, value = line.strip().partition(": ")
        if key in ("output", "log", "benchmark"):
            files.update(path.strip() for path in value.split(","))
    return files


def test_two_presets_run_in_turn_keep_their_outputs_apart(tmp_path):
    # In one working directory, as a user runs them; blur_thumbnail has a reference deck.
    # (Every pair of shipped configs, the default included, is checked without Snakemake in
    # tests/plan/test_presets.py.)
    planned = {}
    for preset in ("quick", "blur_thumbnail"):
        config = str(ROOT / f"config/presets/{preset}.yaml")
        run = f"results/{preset}"
        planned[run] = _planned(snakemake(tmp_path, "--configfile", config, "--cores", "8", "-n"))
        for name in ("bundle.zip", "logs/bundle.log", "config.resolved.yaml"):
            assert f"{run}/{name}" in planned[run], name
        outside = {p for p in planned[run] if not p.startswith((f"{run}/", "results/datasets/"))}
        assert not outside, f"{preset} writes outside {run}/: {sorted(outside)[:5]}"
    assert {
        "results/blur_thumbnail/reference/slides.html",
        "results/blur_thumbnail/reference/comparison.csv",
    } <= planned["results/blur_thumbnail"]
    # Only datasets may be shared: each is a pure function of its name.
    shared = planned["results/quick"] & planned["results/blur_thumbnail"]
    assert all(p.startswith("results/datasets/") for p in shared), sorted(shared)[:5]


def test_lint_and_format_are_clean():
    lint = snakemake(ROOT, "--lint", "--cores", "1", check=False)
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout
    fmt = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stderr
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "src", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0, formatted.stdout
