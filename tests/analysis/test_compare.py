"""Comparing two result sets: matched cells, ratios with CIs, significance and the outputs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imgbench.analysis.compare import KEY, compare_sets
from imgbench.errors import ImgbenchError
from imgbench.report.compare import format_table, write_comparison

SLOW_CELL = ("decode", 1280, 960, 128, "threads", 2)
SAME_CELL = ("decode", 1280, 960, 128, "processes", 4)
ONLY_A_CELL = ("resize", 640, 480, 32, "asyncio", 4)


def compare_results(a: Path, b: Path, output_dir: Path, alpha: float = 0.05) -> pd.DataFrame:
    """What ``imgbench compare`` does: match and test, then write the outputs."""
    matched, unmatched = compare_sets(a, b, alpha)
    write_comparison(matched, unmatched, output_dir)
    return matched


def timings_rows(cells, experiment, host, seed, reps=8):
    """Rows of a ``timings.csv`` (key columns, host, cpu_model, repetition, wall_s); cells
    are (task, width, height, n_images, strategy, workers, median_s, relative noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for task, width, height, n, strategy, workers, median, noise in cells:
        for rep in range(reps):
            rows.append(
                {
                    "experiment": experiment,
                    "task": task,
                    "storage": "disk",
                    "cache": "warm",
                    "width": width,
                    "height": height,
                    "n_images": n,
                    "strategy": strategy,
                    "workers": workers,
                    "size": f"{width}x{height}",
                    "host": host,
                    "cpu_model": f"{host} cpu",
                    "repetition": rep,
                    "wall_s": median * (1 + noise * rng.uniform(-1, 1)),
                }
            )
    return rows


def write_set(directory: Path, rows, host=None) -> Path:
    directory.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(directory / "timings.csv", index=False)
    if host:
        metadata = {"hosts": [{"hostname": host, "cpu_model": "Test CPU 3000"}]}
        (directory / "metadata.json").write_text(json.dumps(metadata))
    return directory


@pytest.fixture
def two_sets(tmp_path):
    """A: three cells; B: the first 1.5x slower, the second unchanged, the third missing."""
    a = write_set(
        tmp_path / "machine_a" / "load",
        timings_rows(
            [(*SLOW_CELL, 0.4, 0.02), (*SAME_CELL, 0.3, 0.05), (*ONLY_A_CELL, 0.1, 0.02)],
            "load",
            "alpha",
            seed=1,
        ),
        host="alpha",
    )
    b = write_set(
        tmp_path / "machine_b" / "load_rerun",
        timings_rows([(*SLOW_CELL, 0.6, 0.02), (*SAME_CELL, 0.3, 0.05)], "other", "beta", seed=2),
    )
    return a, b


def cell(frame: pd.DataFrame, key) -> pd.Series:
    task, width, height, n, strategy, workers = key
    match = frame[
        (frame["task"] == task)
        & (frame["width"] == width)
        & (frame["height"] == height)
        & (frame["n_images"] == n)
        & (frame["strategy"] == strategy)
        & (frame["workers"] == workers)
    ]
    assert len(match) == 1
    return match.iloc[0]


def test_slower_and_unchanged_cells(two_sets, tmp_path):
    a, b = two_sets
    frame = compare_results(a, b, tmp_path / "out")

    assert len(frame) == 2  # matched although the experiments are named differently
    slow = cell(frame, SLOW_CELL)
    assert slow["change"] == "slower"
    assert bool(slow["significant"])
    assert slow["ratio"] == pytest.approx(1.5, rel=0.03)
    assert slow["ratio_ci_low"] <= 1.5 <= slow["ratio_ci_high"]
    assert slow["ratio_ci_low"] > 1.0
    assert slow["mannwhitney_p"] < 0.05
    assert (slow["n_a"], slow["n_b"]) == (8, 8)
    assert slow["median_b_s"] / slow["median_a_s"] == pytest.approx(slow["ratio"])

    same = cell(frame, SAME_CELL)
    assert same["change"] == "no significant change"
    assert not bool(same["significant"])
    assert same["ratio_ci_low"] <= 1.0 <= same["ratio_ci_high"]
    # Significant changes come first.
    assert frame.iloc[0]["strategy"] == "threads"


def test_files_written(two_sets, tmp_path):
    a, b = two_sets
    out = tmp_path / "out"
    compare_results(a, b, out)

    written = pd.read_csv(out / "comparison.csv")
    assert len(written) == 2
    assert set(KEY) <= set(written.columns)
    unmatched = pd.read_csv(out / "unmatched.csv")
    assert len(unmatched) == 1
    row = unmatched.iloc[0]
    assert row["only_in"] == "A"
    assert (row["task"], row["strategy"], row["workers"]) == ("resize", "asyncio", 4)
    with Image.open(out / "comparison.png") as image:
        image.verify()
    assert (out / "comparison.svg").read_text().lstrip().startswith("<?xml")


def test_format_table_lists_changes_and_counts(two_sets, tmp_path):
    a, b = two_sets
    text = format_table(compare_results(a, b, tmp_path / "out"))
    lines = text.splitlines()

    slow_lines = [line for line in lines if "decode 1280x960 n128 threads x2" in line]
    assert len(slow_lines) == 1
    assert re.search(
        r"ms -> \d+ ms, 1\.[45]\dx \(1\.\d\d-1\.\d\d\), p[<=]0\.0\d+, slower$", slow_lines[0]
    )
    assert "processes x4" not in text  # not a significant change: not listed
    assert lines[-1] == (
        "2 cells compared: 1 slower, 0 faster, 1 without significant change; 1 only in A"
    )
    # The sets are named by directory and, where metadata.json says, host and CPU.
    assert "machine_a/load" not in text and "load —" in text
    assert "alpha (Test CPU 3000)" in text and "beta (beta cpu)" in text


def test_limit_counts_the_rest(tmp_path):
    cells = [("decode", 64, 64, n, "threads", 2, 0.1, 0.01) for n in (1, 2, 3)]
    a = write_set(tmp_path / "a", timings_rows(cells, "x", "h", seed=1))
    slower = [(*c[:6], 0.2, 0.01) for c in cells]
    b = write_set(tmp_path / "b", timings_rows(slower, "x", "h", seed=2))
    text = format_table(compare_results(a, b, tmp_path / "out"), limit=1)
    assert "... and 2 more" in text
    assert text.splitlines()[-1].startswith("3 cells compared: 3 slower")


def test_no_common_cells_still_writes_everything(tmp_path):
    a = write_set(tmp_path / "a", timings_rows([(*SLOW_CELL, 0.4, 0.02)], "x", "h", seed=1))
    b = write_set(tmp_path / "b", timings_rows([(*SAME_CELL, 0.4, 0.02)], "x", "h", seed=1))
    out = tmp_path / "out"
    frame = compare_results(a, b, out)
    assert frame.empty
    assert sorted(pd.read_csv(out / "unmatched.csv")["only_in"]) == ["A", "B"]
    with Image.open(out / "comparison.png") as image:
        image.verify()
    assert format_table(frame).splitlines()[-1] == (
        "0 cells compared: 0 slower, 0 faster, 0 without significant change; "
        "1 only in A, 1 only in B"
    )


def test_single_repetition_is_not_significant(tmp_path):
    a = write_set(tmp_path / "a", timings_rows([(*SLOW_CELL, 0.4, 0.0)], "x", "h", 1, reps=1))
    b = write_set(tmp_path / "b", timings_rows([(*SLOW_CELL, 0.8, 0.0)], "x", "h", 1, reps=1))
    row = compare_results(a, b, tmp_path / "out").iloc[0]
    assert row["ratio"] == pytest.approx(2.0)
    assert math.isnan(row["ratio_ci_low"]) and math.isnan(row["mannwhitney_p"])
    assert row["change"] == "no significant change"


def test_missing_timings_is_named(two_sets, tmp_path):
    a, _ = two_sets
    missing = tmp_path / "nowhere"
    with pytest.raises(ImgbenchError, match=re.escape(str(missing / "timings.csv"))):
        compare_results(a, missing, tmp_path / "out")
    with pytest.raises(ImgbenchError, match="timings.csv"):
        compare_results(missing, a, tmp_path / "out")


def test_cli_prints_the_changes(two_sets, tmp_path, capsys):
    from imgbench.cli import main

    a, b = two_sets
    assert main(["compare", str(a), str(b), "--output-dir", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "slower" in out and (tmp_path / "cmp" / "comparison.csv").is_file()


def test_rounds_are_the_unit_when_both_sets_have_them(tmp_path):
    from imgbench.analysis.compare import compare_frames

    def with_rounds(rows, shift_round_2):
        out = []
        for row in rows:
            r = 1 + row["repetition"] % 2
            out.append(
                {**row, "round": r, "wall_s": row["wall_s"] * (shift_round_2 if r == 2 else 1)}
            )
        return pd.DataFrame(out)

    cells = [
        (*SLOW_CELL, 1.0, 0.02),
        (*SAME_CELL, 1.0, 0.02),
        ("read", 64, 64, 8, "serial", 1, 1.0, 0.02),
    ]
    a = with_rounds(timings_rows(cells, "e", "h", seed=1), 1.0)
    # B: the slow cell 30% slower; every cell's second round 4% slower (drift), not a change.
    b_cells = [
        (*SLOW_CELL, 1.3, 0.02),
        (*SAME_CELL, 1.0, 0.02),
        ("read", 64, 64, 8, "serial", 1, 1.0, 0.02),
    ]
    b = with_rounds(timings_rows(b_cells, "e", "h", seed=2), 1.04)
    matched, _ = compare_frames(a, b)
    matched = matched.set_index(["strategy", "workers"])
    assert set(matched["test"]) == {"rounds t"} and set(matched["rounds_a"]) == {2}
    slow = matched.loc[("threads", 2)]
    assert slow["significant"] and slow["change"] == "slower"
    assert slow["ratio_ci_low"] <= slow["ratio"] <= slow["ratio_ci_high"]
    assert not matched.loc[("processes", 4), "significant"]
