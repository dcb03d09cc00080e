"""The diagnosis slide (why each headline cell won or lost, in words) and the diagnoses on
the known-answers slide."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pandas as pd

from imgbench.report.deck.diagnosis import diagnosis_sections, pays, why
from imgbench.report.deck.render import render_deck

TITLE = "<h2>Why each strategy won or lost</h2>"


def _render(crafted, tmp_path: Path, tables=None) -> str:
    results = crafted.write_results(tmp_path / "tiny", tables=tables)
    render_deck(results, tmp_path / "slides.html")
    return (tmp_path / "slides.html").read_text(encoding="utf-8")


def _slide(deck: str, title: str = TITLE) -> str:
    return html_lib.unescape(deck.split(title)[1].split("</section>")[0])


def _items(slide: str) -> list[str]:
    return [re.sub(r"\s+", " ", i).strip() for i in re.findall(r"<li>([^<]*)</li>", slide)]


def _groups(slide: str) -> dict[str, list[str]]:
    """Each group's title and its cells' sentences, in the slide's order."""
    parts = re.split(r"<li><b>(.*?)</b>", slide)[1:]
    return {title: _items(body) for title, body in zip(parts[::2], parts[1::2], strict=True)}


def test_the_slide_says_why_each_headline_cell_won_or_lost(crafted, tmp_path):
    groups = _groups(_slide(_render(crafted, tmp_path)))
    # The headline groups: each task at its largest n (the crafted tables' 1280x960).
    assert list(groups) == [
        "decode · 1280x960 · disk, warm cache · 64 images",
        "save_png · 1280x960 · disk, warm cache · 128 images",
    ]
    save = groups["save_png · 1280x960 · disk, warm cache · 128 images"]
    # The fastest first, then the loop, then each other strategy's fastest cell.
    assert save[0] == (
        "Threads ×2: fastest, 1.83× the loop; held by the GIL: CPU per wall 1.00 with 2 "
        "cores in reach, on work that keeps the loop's core busy (1.00). 0 ms per task; no "
        "per-image work makes this pool pay."
    )
    assert save[1].startswith("The serial loop: 1.83× the fastest's time; the reference")
    assert save[2].startswith("Processes ×2: 1.25× the fastest's time (1.46× the loop); ")
    assert save[2].endswith("; chunks of 3 amortise it.")
    decode = groups["decode · 1280x960 · disk, warm cache · 64 images"]
    assert decode[0] == (
        "The serial loop: fastest; the reference: one image after another, CPU per wall 1.00."
    )
    # The crafted process pool pickles 3.52 MiB per image back and spends more CPU per image
    # than the loop: counted to the microsecond (getrusage), its 30 ms cells say so.
    assert decode[1].startswith(
        "Processes ×2: 2.80× the fastest's time (0.36× the loop); drowned by transfer: "
        "3.52 MiB pickled per image, and 0.302 ms of CPU per image beyond the loop's 0.167 ms."
    )
    assert len(decode) == 3


def test_each_diagnosis_is_worded_with_the_numbers_that_decided_it():
    row = {
        "strategy": "processes",
        "workers": 4,
        "diagnosis": "transfer-bound",
        "bytes_pickled_per_image": 3_686_550,
        "excess_cpu_per_image_s": 0.0172,
        "loop_cpu_per_image_s": 0.0133,
    }
    assert why(row) == (
        "drowned by transfer: 3.52 MiB pickled per image, and 17.2 ms of CPU per image "
        "beyond the loop's 13.3 ms"
    )
    gil = {"diagnosis": "gil-bound", "cpu_per_wall": 1.02, "cores_in_reach": 2}
    assert why({**gil, "loop_cpu_per_wall": 0.99}) == (
        "held by the GIL: CPU per wall 1.02 with 2 cores in reach, on work that keeps the "
        "loop's core busy (0.99)"
    )
    over = {"diagnosis": "oversubscribed", "workers": 12, "usable_cores": 2, "median_s": 0.8}
    assert why({**over, "best_within_cores_s": 0.62, "best_within_cores_workers": 2}) == (
        "out of cores: 12 workers on 2 cores, 800 ms against 620 ms with 2"
    )
    shm = {"diagnosis": "core-bound", "cpu_per_wall": 1.9, "cores_in_reach": 2}
    assert why({**shm, "bytes_shared_per_image": 3_686_400}) == (
        "uses its cores: CPU per wall 1.90 of 2 cores, 3.52 MiB per image through shared memory"
    )
    assert why({"diagnosis": "undetermined", "decided_by": "loop_median_s"}).startswith(
        "not diagnosed: its group has no serial loop"
    )


def test_a_pool_s_break_even_in_words():
    row = {
        "per_task_overhead_s": 0.0025,
        "break_even_work_s": 0.005,
        "work_per_image_s": 0.02,
        "chunk_size": 2.0,
    }
    assert pays(row) == (
        "2.5 ms per task; pays from 5 ms of work per image (here 20 ms); chunks of 2 amortise it."
    )
    never = {**row, "break_even_work_s": float("inf"), "chunk_size": float("nan")}
    assert pays(never) == "2.5 ms per task; no per-image work makes this pool pay."
    assert pays({"break_even_work_s": float("nan"), "work_per_image_s": float("nan")}) == ""


def test_results_aggregated_before_diagnoses_have_no_diagnosis_slide(crafted, tmp_path):
    tables = crafted.build_tables()
    tables.pop("diagnosis")
    deck = _render(crafted, tmp_path, tables=tables)
    assert TITLE not in deck
    assert diagnosis_sections(tables["summary"], pd.DataFrame()) == []


def test_the_known_answers_slide_marks_each_diagnosis(crafted, tmp_path):
    results = crafted.write_results(tmp_path / "tiny")
    crafted.write_calibration(results)
    path = results / "calibration.csv"
    frame = pd.read_csv(path)
    frame["expected_diagnosis"] = ["waiting", "gil-bound", "core-bound"]
    frame["diagnosis"] = ["waiting", "core-bound", "core-bound"]
    frame["diagnosis_right"] = [True, False, True]
    frame.to_csv(path, index=False)
    render_deck(results, tmp_path / "slides.html")
    deck = (tmp_path / "slides.html").read_text(encoding="utf-8")
    slide = _slide(deck, "<h2>Known answers: expected vs measured</h2>")
    assert "2 of 3 diagnosed as known." in slide
    assert "<td>waiting ✓</td>" in slide
    assert "<td>core-bound ✗ (known: gil-bound)</td>" in slide


def test_a_known_answers_table_without_diagnoses_claims_none(crafted, tmp_path):
    results = crafted.write_results(tmp_path / "tiny")
    crafted.write_calibration(results)
    render_deck(results, tmp_path / "slides.html")
    slide = _slide(
        (tmp_path / "slides.html").read_text(encoding="utf-8"),
        "<h2>Known answers: expected vs measured</h2>",
    )
    assert "diagnosed as known" not in slide and "<td>n/a</td>" in slide
