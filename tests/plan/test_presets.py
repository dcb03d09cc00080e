"""Study presets: each passes the schema, its reference loads, its findings point at its grid,
and a study-style run (several experiments, a reference file) works end to end."""

import zipfile

import pandas as pd
import pytest
import yaml

from imgbench.plan.config import load_yaml, resolve_config
from imgbench.plan.grid import expand_cells
from imgbench.plan.references import load_reference
from imgbench.vocabulary import parse_size
from tests.helpers import ROOT, snakemake

# quick and calibrate are not studies: a smoke run and the known-answer calibration.
STUDIES = sorted(
    p for p in ROOT.glob("config/presets/*.yaml") if p.stem not in ("quick", "calibrate")
)
SEEDS = sorted((ROOT.parent / "shared" / "seeds").glob("00*.txt"))


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
    table = pd.read_csv(study / "results/reference/comparison.csv").set_index("id")
    assert table.loc["vectorized", "verdict"] == "holds"
    assert table.loc["vectorized", "measured_speedup"] > 1
    assert table.loc["vectorized", "published_speedup"] == pytest.approx(100.0)
    assert table.loc["absent", "verdict"] == "not measured"
    html = (study / "results/reference/slides.html").read_text()
    assert "&lt;with markup&gt;" in html and "the timer was never reset" in html
    with zipfile.ZipFile(study / "results/bundle.zip") as bundle:
        names = set(bundle.namelist())
    assert {"reference/slides.html", "reference/comparison.csv"} <= names
    assert {"loop/slides.html", "numpy/slides.html", "tiny/slides.html"} <= names


@pytest.mark.e2e
def test_study_run_used_greyscale_datasets_where_asked(study):
    names = sorted(p.name for p in (study / "results/datasets").iterdir())
    assert any(n.startswith("raw-grey-16x16") for n in names)
    assert any(n.startswith("png-rgb-32x24") for n in names)
