"""Study presets: each passes the schema, its reference loads, its findings point at its grid,
and a study-style run (several experiments, a reference file) works end to end."""

import itertools
import zipfile
from pathlib import PurePosixPath

import pandas as pd
import pytest
import yaml

from imgbench.plan.config import apply_schema, load_yaml, resolve_config
from imgbench.plan.grid import expand_cells
from imgbench.plan.references import load_reference
from imgbench.vocabulary import parse_size
from tests.helpers import ROOT, pythons_unavailable, snakemake

#: Presets that are not studies: a smoke run, the known-answer calibration, the default load
#: grid under two interpreters, the pools beyond the pickle, the image libraries, and the
#: default's largest cells on photographs and on synthetic images.
NOT_STUDIES = ("quick", "calibrate", "pythons", "pools", "libraries", "content")
STUDIES = sorted(p for p in ROOT.glob("config/presets/*.yaml") if p.stem not in NOT_STUDIES)
SEEDS = sorted((ROOT.parent / "shared" / "seeds").glob("00*.txt"))
#: Every config that ships: the default experiment and the presets.
SHIPPED = [ROOT / "config/config.yaml", *sorted(ROOT.glob("config/presets/*.yaml"))]
#: What a run writes at the top of its results directory besides one directory per experiment.
RUN_ENTRIES = (
    "bundle.zip", "config.resolved.yaml", "reference", "logs", "benchmarks", "environments",
)  # fmt: skip


def _key(cell: dict) -> tuple:
    width, height = parse_size(cell["size"])
    return (
        cell["experiment"],
        cell["task"],
        cell["storage"],
        cell["cache"],
        width,
        height,
        cell["n_images"],
        cell["strategy"],
        cell["workers"],
    )


def test_there_is_a_preset_for_every_study():
    assert len(STUDIES) == 5
    if SEEDS:
        assert len(SEEDS) == len(STUDIES)


def test_experiment_names_are_unique_across_the_shipped_configs():
    seen: dict[str, str] = {}
    for path in SHIPPED:
        for name in load_yaml(path)["experiments"]:
            assert name not in seen, f"experiment {name!r} is in {seen[name]} and {path.name}"
            seen[name] = path.name


def test_every_preset_writes_under_its_own_name():
    # A config naming interpreters this machine lacks: its schema's defaults alone (the
    # names of its experiments are then those before the expansion, one per interpreter).
    configs = {
        path: (apply_schema if pythons_unavailable(path) else resolve_config)(load_yaml(path))
        for path in SHIPPED
    }
    for path, config in configs.items():
        expected = "results" if path.name == "config.yaml" else f"results/{path.stem}"
        assert config["results_dir"] == expected, path.name
    # What each run writes; no entry of one run is another's, or inside another's.
    entries = {
        path: {
            PurePosixPath(config["results_dir"], name)
            for name in [*config["experiments"], *RUN_ENTRIES]
        }
        for path, config in configs.items()
    }
    for a, b in itertools.permutations(SHIPPED, 2):
        for mine, theirs in itertools.product(entries[a], entries[b]):
            assert not mine.is_relative_to(theirs), (
                f"{a.name} writes {mine}, in {b.name}'s {theirs}"
            )
    # The datasets are shared (a dataset is a pure function of its name), outside every run.
    assert {config["datasets_dir"] for config in configs.values()} == {"results/datasets"}
    for entry in set().union(*entries.values()):
        assert not PurePosixPath("results/datasets").is_relative_to(entry), entry


@pytest.mark.parametrize("preset", STUDIES, ids=lambda p: p.stem)
def test_study_preset_is_valid_and_its_findings_are_in_its_grid(preset):
    config = resolve_config(load_yaml(preset))
    reference = load_reference(ROOT / config["reference"])
    cells = {
        (
            c.experiment,
            c.task,
            c.storage,
            c.cache,
            c.width,
            c.height,
            c.n_images,
            c.strategy,
            c.workers,
        )
        for c in expand_cells(config)
    }
    largest = {name: max(exp["n_images"]) for name, exp in config["experiments"].items()}
    measured = 0
    for finding in reference["findings"]:
        for side in ("cell", "baseline"):
            key = _key(finding[side])
            if key in cells:
                continue
            # A cell outside the grid is allowed only where the preset scaled the study's
            # image count down, and the reference says so.
            assert key[6] > largest[key[0]], f"{finding['id']}.{side} is not in the grid"
            assert any("stop at" in d or "scaled" in d for d in reference["departures"])
        measured += _key(finding["cell"]) in cells
    assert measured >= 1


STUDY = {
    "reference": "ref.yaml",
    # Not the default: every rule of a study run must write under the run's own directory.
    "results_dir": "runs/study",
    "experiments": {
        "loop": {
            "tasks": ["grayscale_loop"],
            "strategies": ["serial", "processes"],
            "workers": [2],
            "n_images": [4],
            "sizes": ["32x24"],
            "cache": ["warm"],
            "repeats": 4,
            "rounds": 1,
            "warmup": 1,
        },
        "numpy": {
            "tasks": ["grayscale"],
            "strategies": ["serial", "vectorized"],
            "n_images": [4],
            "sizes": ["32x24"],
            "format": "png",
            "cache": ["warm"],
            "repeats": 4,
            "rounds": 1,
            "warmup": 1,
        },
        "tiny": {
            "tasks": ["save_jpeg"],
            "strategies": ["serial", "threads_chunked"],
            "workers": [2],
            "n_images": [4],
            "sizes": ["16x16"],
            "color": "grey",
            "cache": ["warm"],
            "repeats": 4,
            "rounds": 1,
            "warmup": 1,
        },
    },
}
CELL = {"storage": "disk", "cache": "warm", "size": "32x24", "n_images": 4}
REFERENCE = {
    "study": "A made-up study <with markup>",
    "source": "tests",
    "machine": "a laptop",
    "cores": 4,
    "method": "one run",
    "flaws": ["the timer was never reset"],
    "departures": [],
    "findings": [
        {
            "id": "vectorized",
            "claim": "numpy over the batch beats the pure-Python loop",
            "expect": "faster",
            "published": {"time_s": 0.5, "baseline_time_s": 50.0},
            "cell": {
                **CELL,
                "experiment": "numpy",
                "task": "grayscale",
                "strategy": "vectorized",
                "workers": 1,
            },
            "baseline": {"experiment": "loop", "task": "grayscale_loop", "strategy": "serial"},
        },
        {
            "id": "absent",
            "claim": "a cell this run did not have",
            "expect": "faster",
            "published": {"speedup": 2.0},
            "cell": {
                **CELL,
                "experiment": "loop",
                "task": "grayscale_loop",
                "strategy": "threads",
                "workers": 2,
            },
            "baseline": {"strategy": "serial", "workers": 1},
        },
    ],
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("study")
    (workdir / "ref.yaml").write_text(yaml.safe_dump(REFERENCE))
    (workdir / "study.yaml").write_text(yaml.safe_dump(STUDY))
    snakemake(workdir, "--cores", "2", config="study.yaml")
    return workdir


@pytest.mark.e2e
def test_study_run_sets_published_numbers_beside_ours(study):
    table = pd.read_csv(study / "runs/study/reference/comparison.csv").set_index("id")
    assert table.loc["vectorized", "verdict"] == "holds"
    assert table.loc["vectorized", "measured_speedup"] > 1
    assert table.loc["vectorized", "published_speedup"] == pytest.approx(100.0)
    assert table.loc["absent", "verdict"] == "not measured"
    html = (study / "runs/study/reference/slides.html").read_text()
    assert "&lt;with markup&gt;" in html and "the timer was never reset" in html
    with zipfile.ZipFile(study / "runs/study/bundle.zip") as bundle:
        names = set(bundle.namelist())
        assert bundle.read("README.txt").startswith(
            b"imgbench results bundle of the run in runs/study"
        )
    assert {"reference/slides.html", "reference/comparison.csv"} <= names
    assert {"loop/slides.html", "numpy/slides.html", "tiny/slides.html"} <= names


@pytest.mark.e2e
def test_study_run_wrote_everything_under_its_results_dir_but_the_datasets(study):
    top = {p.name for p in study.iterdir()} - {".snakemake"}
    assert top <= {"runs", "results", "ref.yaml", "study.yaml"}
    # results/ holds the shared datasets and the cells' scratch root (removed with each cell).
    assert {p.name for p in (study / "results").iterdir()} <= {"datasets", "scratch"}
    run = study / "runs/study"
    assert {"loop", "numpy", "tiny", "reference", "logs", "benchmarks"} <= {
        p.name for p in run.iterdir()
    }
    assert (run / "config.resolved.yaml").is_file()
    assert list((run / "logs/datasets").glob("*.log"))


@pytest.mark.e2e
def test_study_run_used_greyscale_datasets_where_asked(study):
    names = sorted(p.name for p in (study / "results/datasets").iterdir())
    assert any(n.startswith("raw-photo-grey-16x16") for n in names)
    assert any(n.startswith("png-photo-rgb-32x24") for n in names)
