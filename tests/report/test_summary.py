"""The verdict after a run (``imgbench.report.summary``), on the golden recorded results:
every recommendation sentence, the warnings that matter in the deck's words cut short, and
where the deck, report and bundle are."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from imgbench.analysis.threats import Fact
from imgbench.errors import ImgbenchError
from imgbench.report import summary
from imgbench.report.deck.threats import word
from tests.helpers.golden import copy_of


@pytest.fixture(scope="module")
def results(golden_results, tmp_path_factory):
    """The golden results tree, every table derived (aggregate .. slides, no bundle)."""
    return copy_of(golden_results, tmp_path_factory.mktemp("golden"))


def _flat(text: str) -> str:
    """The text with its line wrapping undone."""
    return " ".join(text.split())


def test_every_recommendation_sentence_is_in_the_summary(results):
    for name in ("golden", "tiny_images"):
        recs = pd.read_csv(results / name / "recommendations.csv")
        text = _flat(summary.experiment_summary(results / name))
        assert text.startswith(f"{name}: ")
        assert len(recs) <= summary.MAX_SENTENCES
        for sentence in recs["sentence"]:
            assert _flat(sentence) in text


def test_the_heading_names_cells_rounds_host_and_date(results):
    first = summary.experiment_summary(results / "golden").splitlines()[0]
    assert first.startswith("golden: 42 cells (2 rounds each) on vm, finished ")
    assert first.endswith(" UTC")


def test_warnings_are_the_threats_found_in_the_decks_words(results):
    tables, meta = summary.read_experiment(results / "golden")
    found = summary.warning_facts(tables, meta)
    assert [f.topic for f in found] == ["Repetition spread", "Outliers", "Rounds disagree"]
    lines = summary.warning_lines(tables, meta)
    for fact, line in zip(found, lines, strict=True):
        topic, text = line.split(": ", 1)
        assert topic == fact.topic
        # The deck's sentence, cut to its main clause: never new wording.
        assert word(fact).startswith(text.removesuffix("."))
        assert len(text) < len(word(fact))
    assert lines[0] == (
        "Repetition spread: 23 of 42 cells vary by more than 10% (coefficient of variation) "
        "between repetitions."
    )
    text = _flat(summary.experiment_summary(results / "golden"))
    assert all(_flat(line) in text for line in lines)
    # What was checked and found nothing is not a warning.
    assert "Interference" not in text and "Hosts:" not in text


def test_it_says_where_deck_report_and_bundle_are(results):
    lines = summary.experiment_summary(results / "golden").splitlines()
    assert f"  Deck:   {results / 'golden' / 'slides.html'}" in lines
    assert f"  Report: {results / 'golden' / 'report.md'}" in lines
    report = (results / "golden" / "report.md").read_bytes()
    (results / "golden" / "report.md").unlink()
    try:
        lines = summary.experiment_summary(results / "golden").splitlines()
        assert f"  Report: {results / 'golden' / 'report.md'} (not written)" in lines
    finally:
        (results / "golden" / "report.md").write_bytes(report)
    assert f"  Bundle: {results / 'bundle.zip'} (not written)" in lines
    other = results / "elsewhere.zip"
    assert f"  Bundle: {other} (not written)" in summary.experiment_summary(
        results / "golden", bundle=other
    )


def test_several_experiments_one_after_the_other_and_the_bundle_once(results, tmp_path):
    text = summary.summaries([results / "golden", results / "tiny_images", tmp_path / "none"])
    lines = text.splitlines()
    assert lines[0].startswith("golden: ")
    assert any(line.startswith("tiny_images: 5 cells") for line in lines)
    assert [line for line in lines if "Bundle:" in line] == [
        f"Bundle: {results / 'bundle.zip'} (not written)",
        f"Bundle: {tmp_path / 'bundle.zip'} (not written)",
    ]
    # An experiment without tables is a line saying why, and does not stop the others.
    (missing,) = [line for line in lines if line.startswith("none: ")]
    assert "missing result tables" in missing and "imgbench aggregate" in missing
    with pytest.raises(ImgbenchError, match="missing result tables"):
        summary.summaries([results / "golden", tmp_path / "none"], strict=True)


def test_many_groups_keep_each_tasks_largest_n():
    rows = [
        {"task": t, "n_images": n, "width": 8, "height": 8, "storage": "disk", "cache": "warm"}
        | {"sentence": f"{t} at {n}."}
        for t in ("decode", "read")
        for n in (8, 16, 32, 64, 128)
    ]
    recs = pd.DataFrame(rows)
    assert len(summary.sentences(recs, limit=None)) == 10
    assert summary.sentences(recs) == ["decode at 128.", "read at 128."]
    assert summary.sentences(recs, limit=1) == ["decode at 128."]


def test_too_many_sentences_or_warnings_are_counted(results):
    text = summary.experiment_summary(results / "golden", max_sentences=2, max_warnings=1)
    assert "    ... and 4 more in report.md" in text.splitlines()
    assert "    ... and 2 more in slides.html" in text.splitlines()


@pytest.mark.parametrize(
    ("sentence", "short"),
    [
        (
            "3 cells read much more than their inputs: decode n=8 (a: b); read.",
            "3 cells read much more than their inputs.",
        ),
        # A colon inside brackets does not end the clause.
        (
            "1 speedup exceeds its bound (CPU work: min(workers, cores); wait: workers), "
            "flagged: decode.",
            "1 speedup exceeds its bound (CPU work: min(workers, cores); wait: workers), flagged.",
        ),
        # Nor does a decimal point, or a full stop inside quotes.
        ("Up to 0.30 cores were used (“a. b”): x.", "Up to 0.30 cores were used (“a. b”)."),
        # A clause too short to say anything is joined with the next.
        (
            "files, system. System eviction empties the page cache: every worker re-reads.",
            "files, system. System eviction empties the page cache.",
        ),
        ("No colon here", "No colon here."),
    ],
)
def test_brief_keeps_the_main_clause(sentence, short):
    assert summary.brief(sentence) == short


def test_interference_and_the_analysis_warnings_are_reported(results, tmp_path):
    directory = tmp_path / "golden"
    shutil.copytree(results / "golden", directory)
    meta = json.loads((directory / "metadata.json").read_text())
    hosts_text = "Hostname vm reported 2 CPU models, so its cells are analysed as 2 hosts: a, b."
    meta |= {
        "other_cpu_per_wall_max": 0.5,
        # A "Hosts" warning of the analysis has a text, not the hosts fact's details.
        "aggregate_warnings": [{"topic": "Hosts", "text": hosts_text}],
        "warnings": ["a cell's own warning", hosts_text],
    }
    (directory / "metadata.json").write_text(json.dumps(meta))
    tables, meta = summary.read_experiment(directory)
    lines = summary.warning_lines(tables, meta)
    assert lines[0] == (
        "Interference: Other processes used up to 0.50 cores (of 2 usable) during one cell's "
        "repetitions."
    )
    assert f"Hosts: {hosts_text}" in lines
    assert lines[-1] == "a cell's own warning"
    assert summary.fact_text(Fact("Hosts", "warn", details={"text": hosts_text})) == hosts_text


def test_missing_metadata_is_an_error_naming_it(results, tmp_path):
    directory = tmp_path / "golden"
    shutil.copytree(results / "golden", directory)
    (directory / "metadata.json").unlink()
    with pytest.raises(ImgbenchError, match="metadata.json: missing metadata"):
        summary.experiment_summary(directory)
