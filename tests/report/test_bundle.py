"""The bundle: every experiment's files plus the config, reproducible, and loud when short."""

from __future__ import annotations

import zipfile
from pathlib import Path

import PIL
import pytest

from imgbench.errors import ImgbenchError
from imgbench.report.bundle import (
    EXPERIMENT_FILES,
    OPTIONAL_FILES,
    REFERENCE_FILES,
    WORKLOAD_FILES,
    make_bundle,
)
from imgbench.report.figures import WORKLOAD_DIR


def write_experiment(root: Path, name: str) -> None:
    for relative in EXPERIMENT_FILES:
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{name}/{relative}\n")


@pytest.fixture
def inputs(tmp_path):
    root = tmp_path / "results"
    for name in ("demo", "big"):
        write_experiment(root, name)
    config = tmp_path / "resolved.yaml"
    config.write_text("experiments: {}\n")
    return root, config


def test_bundle_holds_every_file_and_the_config(tmp_path, inputs):
    root, config = inputs
    (root / "demo" / "figures" / "extra.svg").write_text("<svg/>")
    output = tmp_path / "out" / "bundle.zip"
    make_bundle(output, root, ["demo", "big"], config)
    with zipfile.ZipFile(output) as archive:
        names = set(archive.namelist())
        assert archive.read("config.yaml") == b"experiments: {}\n"
        assert archive.read("demo/summary.csv") == b"demo/summary.csv\n"
        assert b"slides.html" in archive.read("README.txt")
        software = archive.read("software.txt").decode().splitlines()
        names_in_lock = [line.split("==")[0] for line in software]
        assert names_in_lock == sorted(names_in_lock) and f"pillow=={PIL.__version__}" in software
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    expected = {f"{e}/{f}" for e in ("demo", "big") for f in EXPERIMENT_FILES}
    assert names == expected | {
        "config.yaml",
        "README.txt",
        "software.txt",
        "demo/figures/extra.svg",
    }
    for entry in ("demo/timings.csv", "big/figures/speedup.png", "big/figures/speedup.svg"):
        assert entry in names
    assert [p.name for p in output.parent.iterdir()] == ["bundle.zip"]


def test_bundle_is_reproducible(tmp_path, inputs):
    root, config = inputs
    make_bundle(tmp_path / "a.zip", root, ["demo"], config)
    make_bundle(tmp_path / "b.zip", root, ["demo"], config)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_missing_file_is_named(tmp_path, inputs):
    root, config = inputs
    (root / "big" / "figures" / "efficiency.svg").unlink()
    output = tmp_path / "bundle.zip"
    with pytest.raises(ImgbenchError, match=r"big/figures/efficiency\.svg"):
        make_bundle(output, root, ["demo", "big"], config)
    assert not output.exists()
    assert list(tmp_path.glob(".bundle.zip.*")) == []


def test_missing_config_is_named(tmp_path, inputs):
    root, _ = inputs
    with pytest.raises(ImgbenchError, match="nowhere.yaml"):
        make_bundle(tmp_path / "bundle.zip", root, ["demo"], tmp_path / "nowhere.yaml")


def test_optional_files_are_bundled_when_present(tmp_path, inputs):
    root, config = inputs
    for name in ("comparisons.csv", "calibration.csv", "calibration.json"):
        (root / "demo" / name).write_text(name)
    output = tmp_path / "bundle.zip"
    make_bundle(output, root, ["demo", "big"], config)
    with zipfile.ZipFile(output) as archive:
        names = set(archive.namelist())
        assert archive.read("demo/calibration.csv") == b"calibration.csv"
        assert "calibration.json" in archive.read("README.txt").decode()
    assert {"demo/comparisons.csv", "demo/calibration.csv", "demo/calibration.json"} <= names
    assert not any(n.startswith("big/calibration") for n in names)
    assert set(OPTIONAL_FILES) >= {"calibration.csv", "calibration.json"}


def test_a_runs_bundle_holds_that_run_alone_and_names_it(tmp_path, inputs):
    # Two runs side by side, as two presets write them: results/a (with a reference deck)
    # inside the default run's results/, and results/b.
    root, config = inputs
    for run in ("a", "b"):
        write_experiment(root / run, run)
        for name in REFERENCE_FILES:
            (root / run / name).parent.mkdir(parents=True, exist_ok=True)
            (root / run / name).write_text(f"{run}/{name}")
    make_bundle(root / "a/bundle.zip", root / "a", ["a"], config, reference=True)
    with zipfile.ZipFile(root / "a/bundle.zip") as archive:
        names = set(archive.namelist())
        readme = archive.read("README.txt").decode()
        assert archive.read("reference/slides.html") == b"a/reference/slides.html"
    assert readme.startswith(f"imgbench results bundle of the run in {(root / 'a').as_posix()}\n")
    assert names == {f"a/{f}" for f in EXPERIMENT_FILES} | set(REFERENCE_FILES) | {
        "config.yaml",
        "README.txt",
        "software.txt",
    }
    assert not (root / "b/bundle.zip").exists()


def test_the_figures_of_each_task_and_size_are_bundled_and_named(tmp_path, inputs):
    root, config = inputs
    tasks = root / "demo" / "figures" / WORKLOAD_DIR
    tasks.mkdir()
    for name in ("speedup_decode_64x48.png", "speedup_decode_64x48.svg", "speedup_read_8x8.png"):
        (tasks / name).write_text(name)
    # Snakemake's mark in a folder output is not a figure
    (tasks / ".snakemake_timestamp").write_text("")
    output = tmp_path / "bundle.zip"
    make_bundle(output, root, ["demo", "big"], config)
    with zipfile.ZipFile(output) as archive:
        names = set(archive.namelist())
        readme = archive.read("README.txt").decode()
    assert {n for n in names if "/tasks/" in n} == {
        "demo/figures/tasks/speedup_decode_64x48.png",
        "demo/figures/tasks/speedup_decode_64x48.svg",
        "demo/figures/tasks/speedup_read_8x8.png",
    }
    assert "E/figures/tasks/speedup_<task>_<WxH>.png" in readme
    assert "one per task and image size (PNG)" in readme
    assert "further figure" not in readme  # named by their pattern, not one by one
    assert set(WORKLOAD_FILES) == {
        "figures/tasks/speedup_<task>_<WxH>.png",
        "figures/tasks/speedup_<task>_<WxH>.svg",
    }
