"""Interpreters side by side (``imgbench.analysis.interpreters``) and their slide, on crafted
tables of two experiments that differ in their interpreter alone."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from imgbench.analysis.interpreters import compare_interpreters, sibling_directories
from imgbench.analysis.results import interpreter_of
from imgbench.errors import ImgbenchError
from imgbench.report.deck.interpreters import interpreters_section

PLACE = {"storage": "disk", "cache": "cold", "width": 64, "height": 64}
#: Per interpreter: group (task, n) -> (strategy, workers) -> (median s, faster than the loop).
CELLS = {
    "3.11.7": {
        ("decode", 16): {("serial", 1): (1.0, False), ("threads", 2): (0.6, True)},
        ("read", 16): {("serial", 1): (0.2, False), ("threads", 2): (0.3, False)},
    },
    "3.13.0": {
        ("decode", 16): {("serial", 1): (0.9, False), ("threads", 2): (1.2, False)},
        ("read", 16): {("serial", 1): (0.2, False), ("threads", 2): (0.31, False)},
    },
}


def _write(directory: Path, experiment: str, version: str, tied: set | None = None) -> None:
    directory.mkdir(parents=True)
    speedup, comparisons, recommendations = [], [], []
    for (task, n), cells in CELLS[version].items():
        group = {"experiment": experiment, "task": task, **PLACE, "n_images": n, "host": "vm"}
        loop = cells[("serial", 1)][0]
        for (strategy, workers), (median, faster) in cells.items():
            cell = {**group, "strategy": strategy, "workers": workers}
            speedup.append({**cell, "baseline": "serial", "median_s": median,
                            "speedup": loop / median})  # fmt: skip
            speedup.append({**cell, "baseline": "one_worker", "median_s": median, "speedup": 1})
            comparisons.append({**cell, "significantly_slower": False, "faster_than_loop": faster})
        (strategy, workers), (median, faster) = min(cells.items(), key=lambda kv: kv[1][0])
        recommendations.append({
            **group, "best_strategy": strategy, "best_workers": workers,
            "speedup": loop / median, "faster_than_loop": faster, "withheld": False,
            "within_noise": "threads x2" if tied and task in tied else "",
        })  # fmt: skip
    for name, rows in (("speedup", speedup), ("comparisons", comparisons),
                       ("recommendations", recommendations)):  # fmt: skip
        pd.DataFrame(rows).to_csv(directory / f"{name}.csv", index=False)
    entry = {"python_version": version, "python_implementation": "CPython",
             "python_build": "default", "gil_enabled": True, "cells": 4}  # fmt: skip
    (directory / "metadata.json").write_text(json.dumps({"interpreters": [entry]}))


@pytest.fixture
def run(tmp_path):
    _write(tmp_path / "load-py313", "load-py313", "3.13.0")
    _write(tmp_path / "load-py311", "load-py311", "3.11.7")
    grid = {"tasks": ["decode", "read"], "strategies": ["serial", "threads"]}
    config = {"experiments": {
        f"load-{tag}": {**grid, "description": f"Load ({v})", "python": {"tag": tag}}
        for tag, v in (("py311", "3.11.7"), ("py313", "3.13.0"))
    }}  # fmt: skip
    config["experiments"]["plain"] = grid
    probed = {"name": "x", "executable": "/x", "version": "3", "build": "default"}
    probed |= {"implementation": "CPython", "platform": "p"}
    for exp in config["experiments"].values():
        if "python" in exp:
            exp["python"] = {**probed, **exp["python"]}
    (tmp_path / "config.resolved.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_the_siblings_are_those_that_differ_in_their_interpreter_alone(run):
    assert sibling_directories(run / "load-py313") == [run / "load-py311", run / "load-py313"]
    assert sibling_directories(run / "plain") == []
    assert sibling_directories(run.parent / "elsewhere") == []


def test_verdicts_that_change_between_interpreters_are_found(run):
    found = compare_interpreters(sibling_directories(run / "load-py311"))
    assert found.labels == ["CPython 3.11.7", "CPython 3.13.0"]  # oldest first
    verdicts = found.verdicts.set_index(["task", "interpreter"])
    decode = verdicts.loc[("decode", "CPython 3.13.0")]
    assert decode["best_strategy"] == "serial"
    assert verdicts.loc[("decode", "CPython 3.11.7"), "best_strategy"] == "threads"
    assert decode["best_changed"] and decode["firm_change"] and decode["claim_changed"]
    read = verdicts.loc[("read", "CPython 3.13.0")]
    assert not (read["best_changed"] or read["claim_changed"])
    cells = found.cells.set_index(["task", "strategy", "interpreter"])
    assert cells.loc[("decode", "threads", "CPython 3.13.0"), "time_ratio"] == pytest.approx(2.0)
    assert cells.loc[("decode", "serial", "CPython 3.11.7"), "time_ratio"] == 1.0
    assert cells.loc[("decode", "serial", "CPython 3.13.0"), "speedup"] == 1.0
    assert not cells.loc[("decode", "threads", "CPython 3.13.0"), "faster_than_loop"]


def test_a_change_between_tied_bests_is_not_firm(tmp_path):
    _write(tmp_path / "a", "a", "3.11.7", tied={"decode"})
    _write(tmp_path / "b", "b", "3.13.0")
    verdicts = compare_interpreters([tmp_path / "a", tmp_path / "b"]).verdicts
    decode = verdicts[verdicts["task"] == "decode"].iloc[0]
    assert decode["best_changed"] and not decode["firm_change"]


def test_the_same_interpreter_twice_or_mixed_is_refused(tmp_path):
    _write(tmp_path / "a", "a", "3.11.7")
    _write(tmp_path / "b", "b", "3.11.7")
    with pytest.raises(ImgbenchError, match="the same interpreter twice"):
        compare_interpreters([tmp_path / "a", tmp_path / "b"])
    meta = json.loads((tmp_path / "b/metadata.json").read_text())
    meta["interpreters"].append({**meta["interpreters"][0], "python_version": "3.13.0"})
    (tmp_path / "b/metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ImgbenchError, match="2 interpreters"):
        compare_interpreters([tmp_path / "a", tmp_path / "b"])


def test_the_slide_sets_the_interpreters_side_by_side(run):
    section = interpreters_section(run / "load-py313")
    assert section["title"] == "Interpreters side by side: CPython 3.11.7, CPython 3.13.0"
    assert "Of 2 groups, the best strategy changes in 1 (1 firm)" in section["summary"]
    rows = [[c.text for c in row.cells] for row in section["table"].rows]
    decode = next(r for r in rows if r[0] == "decode")
    assert decode[-1] == "best: firm; claim"
    assert decode[3].startswith("threads ×2") and "the serial loop" in decode[4].lower()
    assert decode[5] == "0.90×"  # the loop's time under 3.13 against 3.11
    assert next(r for r in rows if r[0] == "read")[-1] == "same"
    assert interpreters_section(run / "plain") is None


def test_the_gil_is_enabled_where_an_import_warned_that_it_enabled_it():
    machine = {"python_version": "3.14.0", "python_build": "free-threaded", "gil_enabled": False}
    assert interpreter_of({"machine": machine, "warnings": []})["gil_enabled"] is False
    warned = ["The global interpreter lock (GIL) has been enabled to load module 'x._c', ..."]
    assert interpreter_of({"machine": machine, "warnings": warned})["gil_enabled"] is True
    # Older results: before 3.13 every build had a GIL; after, it is not known.
    assert interpreter_of({"machine": {"python_version": "3.11.7"}})["gil_enabled"] is True
    assert interpreter_of({"machine": {"python_version": "3.13.0"}})["gil_enabled"] is None
