"""Figures: all six files are always written, and are valid images, whatever the data."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from imgbench import analysis
from imgbench.plots import STRATEGY_COLORS, plot_all, strategy_color

EXPECTED = {
    f"{stem}.{fmt}"
    for stem in ("speedup", "efficiency", "faster_than_serial")
    for fmt in ("png", "svg")
}


def summary_rows(cells, task="save_png", size=(64, 48), storage="disk", cache="warm"):
    """Summary rows with every column ``imgbench aggregate`` writes; cells are
    (n_images, strategy, workers, median_s)."""
    rows = []
    for n, strategy, workers, median in cells:
        rows.append(
            {
                "experiment": "tiny",
                "task": task,
                "storage": storage,
                "cache": cache,
                "width": size[0],
                "height": size[1],
                "n_images": n,
                "strategy": strategy,
                "workers": workers,
                "reps": 5,
                "median_s": median,
                "mean_s": median,
                "std_s": median / 20,
                "min_s": median * 0.9,
                "max_s": median * 1.1,
                "ci_low_s": median * 0.95,
                "ci_high_s": median * 1.05,
                "ci_level": 0.9375,
                "cv": 0.05,
                "images_per_s": n / median,
                "mb_per_s": 1.0,
                "median_first_result_s": median / n,
                "median_cpu_s": median,
                "cpu_per_wall": 1.0,
                "max_peak_rss_bytes": 10**8,
                "cache_method": "none",
                "max_resident_fraction": math.nan,
                "format": "raw",
                "host": "box",
                "usable_cores": 4,
            }
        )
    return rows


def write_tables(directory: Path, summary: pd.DataFrame) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    speedup = analysis.speedup_frame(summary)
    for name, frame in (
        ("summary", summary),
        ("speedup", speedup),
        ("efficiency", analysis.efficiency_frame(speedup)),
    ):
        frame.to_csv(directory / f"{name}.csv", index=False)
    return directory


GRID = [
    (n, strategy, workers, base / speedup)
    for n, base in ((4, 0.04), (16, 0.16))
    for strategy, workers, speedup in (
        ("serial", 1, 1.0),
        ("threads", 1, 0.9),
        ("threads", 2, 1.8),
        ("threads", 4, 2.5),
        ("processes", 2, 1.2),
        ("processes", 4, 1.6),
    )
]


def assert_all_written(written: list[Path], out: Path) -> None:
    assert {p.name for p in written} == EXPECTED
    assert {p.name for p in out.iterdir()} == EXPECTED
    for name in EXPECTED:
        path = out / name
        assert path.stat().st_size > 0
        if name.endswith(".png"):
            with Image.open(path) as image:
                image.verify()
                assert image.format == "PNG"
        else:
            assert b"<svg" in path.read_bytes()[:2000]


def test_plot_all_writes_six_valid_files(tmp_path):
    summary = pd.DataFrame(
        summary_rows(GRID) + summary_rows(GRID, task="decode", size=(32, 24), cache="cold")
    )
    results = write_tables(tmp_path / "res", summary)
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out)
    assert (out / "speedup.png").stat().st_size < 400_000


def test_plot_all_is_deterministic(tmp_path):
    results = write_tables(tmp_path / "res", pd.DataFrame(summary_rows(GRID)))
    plot_all(results, tmp_path / "a")
    plot_all(results, tmp_path / "b")
    for name in EXPECTED:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_plot_all_with_a_group_without_serial(tmp_path):
    no_serial = [c for c in GRID if c[1] != "serial"]
    summary = pd.DataFrame(summary_rows(GRID) + summary_rows(no_serial, task="read"))
    results = write_tables(tmp_path / "res", summary)
    assert pd.read_csv(results / "speedup.csv")["speedup"].isna().any()
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out)


def test_plot_all_with_only_nan_speedups(tmp_path):
    no_serial = [c for c in GRID if c[1] != "serial"]
    results = write_tables(tmp_path / "res", pd.DataFrame(summary_rows(no_serial)))
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out)


def test_plot_all_with_empty_tables(tmp_path):
    columns = list(pd.DataFrame(summary_rows(GRID[:1])).columns)
    results = write_tables(tmp_path / "res", pd.DataFrame(columns=columns))
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out)


def test_plot_all_names_a_missing_table(tmp_path):
    from imgbench.errors import ImgbenchError

    with pytest.raises(ImgbenchError, match="speedup.csv"):
        plot_all(tmp_path, tmp_path / "figures")


def test_strategy_colors_are_fixed_with_a_fallback():
    assert strategy_color("threads") == STRATEGY_COLORS["threads"]
    assert len(set(STRATEGY_COLORS.values())) == len(STRATEGY_COLORS)
    assert strategy_color("gpu") == strategy_color("gpu")
    assert strategy_color("gpu").startswith("#")
