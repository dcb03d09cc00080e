"""`imgbench aggregate` on what a run left behind: a report of the cells that exist with the
missing ones listed, a damaged result named, and results of different configs refused."""

from __future__ import annotations

import copy
import html as html_lib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from imgbench.cli import main
from imgbench.measure.result import SCHEMA_VERSION
from imgbench.report.deck.machine import MISSING_SHOWN
from imgbench.report.deck.render import render_deck
from imgbench.report.figures.plot import plot_all
from imgbench.vocabulary import CellSpec
from tests.helpers import cell_result

CONFIG = {
    "experiments": {
        "e": {
            "tasks": ["decode"],
            "strategies": ["serial", "threads"],
            "workers": [2, 4],
            "n_images": [10],
            "sizes": ["8x8"],
            "storage": ["disk"],
            "cache": ["cold"],
            "repeats": 6,
            "rounds": 1,
            "warmup": 1,
        },
        "other": {"tasks": ["decode"], "strategies": ["serial"]},
    }
}
MISSING = "e/cells/decode/disk-cold/8x8/n10/threads-w4-r1.json"
WALLS = [4.0, 4.1, 3.9, 4.0, 4.05, 3.95]


def write_cell(root: Path, result: dict, **run) -> Path:
    result = copy.deepcopy(result)
    result["run"].update(run)
    path = root / CellSpec(**result["cell"]).result_path(result["run"].get("round", 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, **result}))
    return path


@pytest.fixture
def tree(tmp_path) -> tuple[Path, Path]:
    """A results tree where threads x4 failed, and the resolved config that expected it."""
    root = tmp_path / "results"
    write_cell(root, cell_result("serial", 1, WALLS), config_hash="c0ffee")
    write_cell(root, cell_result("threads", 2, [w / 2 for w in WALLS]), config_hash="c0ffee")
    config = tmp_path / "config.resolved.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    return root, config


def aggregate(*argv, capsys=None) -> tuple[int, str]:
    code = main(["aggregate", *map(str, argv)])
    err = capsys.readouterr().err if capsys is not None else ""
    return code, err


def headings(deck: str) -> list[str]:
    return [html_lib.unescape(h) for h in re.findall(r"<h[12]>(.*?)</h[12]>", deck)]


def test_partial_results_give_tables_and_a_deck_listing_the_missing_cells(tree, tmp_path, capsys):
    root, config = tree
    out = tmp_path / "out"
    code, err = aggregate(
        "--results-dir",
        root / "e",
        "--config",
        config,
        "--experiment",
        "e",
        "--output-dir",
        out,
        capsys=capsys,
    )
    assert code == 0
    assert "1 of 3 expected cells have no result" in err and MISSING in err
    for name in ("timings", "summary", "speedup", "efficiency", "comparisons", "recommendations"):
        assert not pd.read_csv(out / f"{name}.csv").empty, name
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["missing_cells"] == [MISSING]
    assert meta["expected_cells"] == 3 and meta["config_hash"] == "c0ffee"
    plot_all(out, out / "figures")
    render_deck(out, out / "slides.html")
    deck = (out / "slides.html").read_text(encoding="utf-8")
    assert headings(deck)[:2] == ["e", "Missing cells"]
    slide = deck.split("<h2>Missing cells</h2>")[1].split("</section>")[0]
    assert "1 of 3 expected cells have no result" in slide
    assert f"<code>{MISSING}</code>" in slide
    assert "Partial results: 1 of 3 expected cells are missing." in deck
    assert "config hash c0ffee" in deck  # on the method slide


def test_a_complete_experiment_misses_nothing(tree, tmp_path):
    root, config = tree
    write_cell(root, cell_result("threads", 4, [w / 3 for w in WALLS]), config_hash="c0ffee")
    # The tree's root holds another experiment too: --experiment keeps e's cells only.
    other = cell_result("serial", 1, WALLS)
    other["cell"]["experiment"] = "other"
    write_cell(root, other)
    out = tmp_path / "out"
    argv = ["--results-dir", root, "--config", config, "--experiment", "e", "--output-dir", out]
    assert aggregate(*argv)[0] == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["missing_cells"] == [] and meta["experiments"] == ["e"] and meta["cells"] == 3


def test_many_missing_cells_are_truncated_on_the_slide(tmp_path):
    many = copy.deepcopy(CONFIG)
    many["experiments"]["e"]["n_images"] = list(range(10, 10 + MISSING_SHOWN + 5))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(many))
    root = tmp_path / "results"
    write_cell(root, cell_result("serial", 1, WALLS))
    write_cell(root, cell_result("threads", 2, [w / 2 for w in WALLS]))
    out = tmp_path / "out"
    argv = ["--results-dir", root, "--config", config, "--experiment", "e", "--output-dir", out]
    assert aggregate(*argv)[0] == 0
    meta = json.loads((out / "metadata.json").read_text())
    expected = 3 * (MISSING_SHOWN + 5)
    assert len(meta["missing_cells"]) == expected - 2
    plot_all(out, out / "figures")
    render_deck(out, out / "slides.html")
    slide = (out / "slides.html").read_text().split("<h2>Missing cells</h2>")[1]
    slide = slide.split("</section>")[0]
    assert slide.count("<code>") == MISSING_SHOWN
    assert f"… and {expected - 2 - MISSING_SHOWN} more: metadata.json" in slide


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema_version": 2, "cell": ', "not a valid JSON cell result"),
        ('{"schema_version": 1}', "result schema 1, this imgbench reads 2"),
        ("[1, 2]", "not a cell result"),
        (
            '{"schema_version": 2, "cell": {}}',
            "not a complete cell result (missing cell.experiment",
        ),
    ],
)
def test_a_damaged_result_is_named(tree, tmp_path, capsys, content, message):
    root, config = tree
    bad = root / MISSING
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text(content)
    code, err = aggregate(
        "--results-dir", root / "e", "--output-dir", tmp_path / "out", capsys=capsys
    )
    assert code == 1
    assert err.startswith("imgbench: error: ") and str(bad) in err and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_results_of_different_configs_are_refused(tree, tmp_path, capsys):
    root, config = tree
    stale = write_cell(root, cell_result("threads", 4, WALLS), config_hash="deadbeef")
    code, err = aggregate(
        "--results-dir", root / "e", "--output-dir", tmp_path / "out", capsys=capsys
    )
    assert code == 1
    assert "mixes results of different configs" in err
    assert str(stale) in err and "deadbeef" in err and "c0ffee" in err
    assert str(root / "e/cells/decode/disk-cold/8x8/n10/serial-w1-r1.json") in err


def test_commits_and_unhashed_results_are_warned_about(tree, tmp_path, capsys):
    root, config = tree
    older = cell_result("threads", 4, WALLS)
    older["machine"]["workflow_commit"] = "abc1234"
    write_cell(root, older)  # no config hash: run by an older imgbench
    out = tmp_path / "out"
    code, err = aggregate("--results-dir", root / "e", "--output-dir", out, capsys=capsys)
    assert code == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["config_hash"] == "c0ffee" and meta["workflow_commits"] == ["abc1234"]
    assert {w["topic"] for w in meta["aggregate_warnings"]} == {"Config"}
    assert "1 of 3 cells record no config hash" in err
    other = cell_result("serial", 1, WALLS)
    other["machine"]["workflow_commit"] = "def5678"
    other["cell"] = {**other["cell"], "n_images": 20}
    write_cell(root, other, config_hash="c0ffee")
    code, err = aggregate("--results-dir", root / "e", "--output-dir", out, capsys=capsys)
    assert code == 0 and "2 workflow commits (abc1234, def5678)" in err


def test_config_errors_are_named(tree, tmp_path, capsys):
    root, config = tree
    argv = ["--results-dir", root, "--config", config, "--output-dir", tmp_path / "o"]
    code, err = aggregate(*argv, capsys=capsys)
    assert code == 1 and "2 experiments (e, other): name one with --experiment" in err
    code, err = aggregate(*argv, "--experiment", "nope", capsys=capsys)
    assert code == 1 and "--experiment 'nope' is not in" in err
    code, err = aggregate(
        "--results-dir", tmp_path / "nowhere", "--output-dir", tmp_path / "o", capsys=capsys
    )
    assert code == 1 and "nowhere: no such results directory" in err


def test_cells_the_grid_no_longer_has_are_left_out(tree, tmp_path, capsys):
    # workers 8 is not in the config's grid: a stale file from an earlier, different grid.
    root, config = tree
    write_cell(root, cell_result("threads", 8, WALLS), config_hash="0ld")
    out = tmp_path / "out"
    code, err = aggregate(
        "--results-dir",
        root / "e",
        "--config",
        config,
        "--experiment",
        "e",
        "--output-dir",
        out,
        capsys=capsys,
    )
    assert code == 0 and "left out 1 result file(s)" in err and "threads-w8" in err
    assert 8 not in set(pd.read_csv(out / "summary.csv")["workers"])


def test_a_failed_round_is_listed_by_its_round_file(tree, tmp_path, capsys):
    # Two rounds each: threads x4 has none, threads x2 lacks its round 2.
    root, config = tree
    two = copy.deepcopy(CONFIG)
    two["experiments"]["e"]["rounds"] = 2
    config.write_text(yaml.safe_dump(two))
    second = cell_result("serial", 1, [w * 1.01 for w in WALLS])
    second["run"].update(round=2, rounds=2)
    write_cell(root, second, config_hash="c0ffee")
    out = tmp_path / "out"
    argv = ["--results-dir", root, "--config", config, "--experiment", "e", "--output-dir", out]
    code, err = aggregate(*argv, capsys=capsys)
    assert code == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["expected_cells"] == 6 and meta["cells"] == 3 and meta["distinct_cells"] == 2
    assert meta["missing_cells"] == [
        "e/cells/decode/disk-cold/8x8/n10/threads-w2-r2.json",
        "e/cells/decode/disk-cold/8x8/n10/threads-w4-r1.json",
        "e/cells/decode/disk-cold/8x8/n10/threads-w4-r2.json",
    ]
    timings = pd.read_csv(out / "timings.csv")
    assert sorted(set(timings["round"])) == [1, 2]
    summary = pd.read_csv(out / "summary.csv").set_index("strategy")
    assert summary.loc["serial", "rounds"] == 2 and summary.loc["threads", "rounds"] == 1
