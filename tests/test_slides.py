"""The deck: one self-contained, escaped HTML file; verdicts that name the fastest option."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from imgbench import analysis
from imgbench.slides import render_deck, task_verdicts

XSS = "<script>alert(1)</script>"


def summary_rows(cells, task="save_png", size=(1280, 960)):
    """Summary rows with every column ``imgbench aggregate`` writes; cells are
    (n_images, strategy, workers, median_s)."""
    return [
        {
            "experiment": "tiny",
            "task": task,
            "storage": "disk",
            "cache": "warm",
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
            "cv": 0.15 if strategy == "processes" else 0.05,
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
        for n, strategy, workers, median in cells
    ]


THREADS_WIN = [
    (16, "serial", 1, 0.090),
    (16, "threads", 2, 0.080),
    (128, "serial", 1, 0.366),
    (128, "threads", 1, 0.380),
    (128, "threads", 2, 0.200),
    (128, "processes", 2, 0.250),
]
SERIAL_WIN = [
    (64, "serial", 1, 0.0107),
    (64, "threads", 4, 0.0120),
    (64, "processes", 2, 0.0300),
]


def frames(cells_by_task):
    summary = pd.DataFrame(
        [row for task, cells in cells_by_task.items() for row in summary_rows(cells, task)]
    )
    return summary, analysis.speedup_frame(summary)


def metadata(**overrides) -> dict:
    host = {
        "hostname": "box",
        "platform": "Linux-6.1-x86_64",
        "cpu_model": "Test CPU",
        "physical_cores": 4,
        "logical_cores": 8,
        "usable_cores": 4,
        "ram_bytes": 16 * 2**30,
        "python_version": "3.11.7",
        "pillow_version": "11.0.0",
        "pillow_libjpeg_turbo": True,
        "numpy_version": "2.0.0",
        "snakemake_version": "9.0.0",
        "workflow_commit": "abc1234",
    }
    meta = {
        "experiments": ["tiny"],
        "cells": 9,
        "timed_repetitions": 45,
        "repeats": [5],
        "warmup": [1],
        "hosts": [host],
        "cpu_models": ["Test CPU"],
        "cache_methods": ["none"],
        "cold_resident_fraction_max": None,
        "cold_resident_fraction_median": None,
        "load_average_1m_max": 0.3,
        "mp_start_methods": ["fork"],
        "started_unix": 1_700_000_000.0,
        "finished_unix": 1_700_000_100.0,
        "warnings": [],
        "task_summaries": {"save_png": "encode arrays as PNG", "decode": "decode files"},
        "strategy_summaries": {"serial": "a plain for loop", "threads": "a thread pool"},
    }
    meta.update(overrides)
    return meta


def write_results(directory: Path, meta: dict, figures=("speedup", "efficiency")) -> Path:
    summary, speedup = frames({"save_png": THREADS_WIN, "decode": SERIAL_WIN})
    directory.mkdir(parents=True)
    summary.to_csv(directory / "summary.csv", index=False)
    speedup.to_csv(directory / "speedup.csv", index=False)
    analysis.efficiency_frame(speedup).to_csv(directory / "efficiency.csv", index=False)
    (directory / "metadata.json").write_text(json.dumps(meta))
    (directory / "figures").mkdir()
    for stem in figures:
        Image.new("RGB", (40, 30), "white").save(directory / "figures" / f"{stem}.png")
    return directory


@pytest.fixture
def deck(tmp_path) -> str:
    results = write_results(tmp_path / "tiny", metadata())
    output = tmp_path / "out" / "slides.html"
    render_deck(results, output)
    assert [p.name for p in output.parent.iterdir()] == ["slides.html"]
    return output.read_text(encoding="utf-8")


def test_deck_has_every_slide(deck):
    # title, question, machine, method, 2 tasks, 3 figures, conclusions
    assert deck.count('<section class="slide') == 10
    assert "Task: save_png" in deck and "Task: decode" in deck
    assert "2023-11-14 22:15 UTC" in deck


def test_deck_needs_no_network(deck):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", deck)
    assert "http://" not in deck and "https://" not in deck
    assert "<style>" in deck and "<script>" in deck


def test_deck_inlines_figures_and_notes_a_missing_one(deck):
    assert deck.count('src="data:image/png;base64,') == 2
    assert "faster_than_serial.png was not found" in deck


def test_deck_escapes_every_value(tmp_path):
    host = {**metadata()["hosts"][0], "hostname": XSS, "cpu_model": XSS}
    meta = metadata(experiments=[XSS], hosts=[host], warnings=[XSS])
    output = tmp_path / "slides.html"
    render_deck(write_results(tmp_path / "tiny", meta), output)
    html = output.read_text(encoding="utf-8")
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script>") == 1


def test_deck_lists_caveats(tmp_path):
    meta = metadata(other_cpu_per_wall_max=0.75, cold_resident_fraction_max=0.2, warnings=["odd"])
    output = tmp_path / "slides.html"
    render_deck(write_results(tmp_path / "tiny", meta), output)
    html = output.read_text(encoding="utf-8")
    assert "Other processes used up to 0.75 cores" in html
    assert "Up to 20.0% of the inputs" in html
    assert "2 of 9 cells vary by more than 10%" in html
    assert "odd" in html


def test_verdict_names_the_fastest_parallel_option():
    summary, speedup = frames({"save_png": THREADS_WIN})
    verdict = task_verdicts(summary, speedup)["save_png"]
    assert verdict.startswith("At 128 images of 1280x960, threads with 2 workers is fastest")
    assert "1.83×" in verdict
    assert "0.200 s vs 0.366 s" in verdict


def test_verdict_says_when_the_serial_loop_is_fastest():
    summary, speedup = frames({"decode": SERIAL_WIN})
    verdict = task_verdicts(summary, speedup)["decode"]
    assert "the serial loop is fastest" in verdict
    assert "threads with 4 workers" in verdict and "0.89×" in verdict


def test_verdict_without_a_serial_loop():
    summary, speedup = frames({"read": [c for c in THREADS_WIN if c[1] != "serial"]})
    verdict = task_verdicts(summary, speedup)["read"]
    assert "threads with 2 workers is fastest" in verdict
    assert "no serial loop was measured" in verdict


def test_verdict_names_storage_and_cache_when_several():
    summary = pd.DataFrame(
        summary_rows(THREADS_WIN)
        + [{**row, "cache": "cold", "n_images": 128} for row in summary_rows(SERIAL_WIN)]
    )
    verdicts = task_verdicts(summary, analysis.speedup_frame(summary))["save_png"]
    assert "At 128 images of 1280x960 (disk, warm cache), threads with 2 workers" in verdicts
    assert "(disk, cold cache), the serial loop is fastest" in verdicts


def test_deck_of_empty_tables(tmp_path):
    results = tmp_path / "empty"
    results.mkdir()
    columns = list(pd.DataFrame(summary_rows(SERIAL_WIN)).columns)
    summary = pd.DataFrame(columns=columns)
    speedup = analysis.speedup_frame(summary)
    summary.to_csv(results / "summary.csv", index=False)
    speedup.to_csv(results / "speedup.csv", index=False)
    analysis.efficiency_frame(speedup).to_csv(results / "efficiency.csv", index=False)
    (results / "metadata.json").write_text(json.dumps(metadata(hosts=[], cpu_models=[])))
    output = tmp_path / "slides.html"
    render_deck(results, output)
    html = output.read_text(encoding="utf-8")
    assert html.count('<section class="slide') == 8
    assert "No cells were measured." in html
