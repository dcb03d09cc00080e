"""The Markdown report (``imgbench.report.markdown``), on the golden recorded results: the
recommendations, times in ms or s by magnitude, speedups to 2 decimals with CIs, one
paragraph of machine and software, links to figures that exist, well-formed tables, and
the CSVs left as they were."""

from __future__ import annotations

import hashlib
import re
import shutil

import pandas as pd
import pytest

from imgbench.report import markdown, summary
from imgbench.report.deck.cells import cell_frame
from imgbench.report.figures import FIGURES
from tests.helpers.golden import copy_of

EXPERIMENTS = ("golden", "tiny_images")
# A link or an image: [text](target) or ![text](target).
LINK = re.compile(r"!?\[((?:[^\]\\]|\\.)*)\]\(([^)\s]+)\)")
# A cell boundary of a table row: a "|" that no backslash escapes.
PIPE = re.compile(r"(?<!\\)\|")


def _digests(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.glob("*.csv")}


@pytest.fixture(scope="module")
def reports(golden_results, tmp_path_factory):
    """The golden results tree with every table derived, and each experiment's report
    written to its default place; also each experiment's CSV digests from before."""
    results = copy_of(golden_results, tmp_path_factory.mktemp("golden"))
    before = {name: _digests(results / name) for name in EXPERIMENTS}
    written = {name: markdown.write_report(results / name) for name in EXPERIMENTS}
    return results, written, before


def _text(reports, name: str) -> str:
    return reports[1][name].read_text(encoding="utf-8")


def _section(text: str, title: str) -> str:
    """The body of a "## title" section, up to the next one."""
    body = text.split(f"\n## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


#: Each golden experiment's workloads: every task at its one image size.
WORKLOADS = {
    "golden": [("decode", "64x64"), ("read", "64x64"), ("sleep", "64x64")],
    "tiny_images": [("save_jpeg", "50x50")],
}


def _figures(name: str) -> list[tuple[str, str]]:
    """The figures the report links, in registry order: (file stem under figures/,
    title); a per-workload figure once per workload, no hosts figure (one host)."""
    out = []
    for stem, figure in FIGURES.items():
        if stem == "hosts":
            continue
        if figure.per_workload:
            out += [(figure.workload_file(*w), figure.workload_title(*w)) for w in WORKLOADS[name]]
        else:
            out.append((stem, figure.title))
    return out


def _tables(text: str) -> list[list[str]]:
    """Every block of consecutive lines that start with "|"."""
    blocks, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            blocks.append(block)
            block = []
    return blocks


def test_the_report_is_written_where_the_summary_points(reports):
    results, written, _ = reports
    for name in EXPERIMENTS:
        assert written[name] == results / name / summary.REPORT
        assert f"Report: {written[name]}\n" in summary.experiment_summary(results / name)
        # Written atomically: no temporary sibling left behind.
        assert not list((results / name).glob(".report.md.*"))


def test_every_recommendation_sentence_is_in_the_report(reports):
    results = reports[0]
    for name in EXPERIMENTS:
        text = _text(reports, name)
        assert text.startswith(f"# {name}\n\ngolden run\n\n")
        recommendations = _section(text, "Recommendations")
        for sentence in pd.read_csv(results / name / "recommendations.csv")["sentence"]:
            assert f"- {sentence}\n" in recommendations


def test_times_in_ms_or_s_by_magnitude(reports):
    text = _text(reports, "golden")
    # The fastest cells' medians, each in its own unit: 0.937 ms to 82.3 ms.
    table = _tables(_section(text, "Recommendations"))[0]
    assert "| read | 64x64 | 8 | the serial loop | 0.937 ms |" in table[5]
    assert "| sleep | 64x64 | 16 | threads ×4 | 82.3 ms |" in table[6]
    # A group's table has one unit, in its header: every golden median is under a second.
    groups = _section(text, "At the largest number of images")
    assert groups.count("| median (ms) | CI of the median (ms) |") == 3
    assert "(s)" not in groups
    assert "| serial | 1 | 323 | 323–326 | 1.00× (1.00–1.00) | 100% | slower |" in groups
    assert "| threads | 4 | 82.3 | 81.5–84.0 | 3.93× (3.85–3.98) | 98% | fastest |" in groups
    # No number keeps the CSVs' full precision.
    assert not re.search(r"\d\.\d{5,}", text)


def test_seconds_from_a_second_up(reports):
    tables, _ = summary.read_experiment(reports[0] / "golden")
    cells = cell_frame(tables)
    sleep = cells[(cells["task"] == "sleep") & (cells["n_images"] == 16)].copy()
    for column in ("median_s", "ci_low_s", "ci_high_s"):
        sleep[column] *= 10
    lines = markdown.group_table(sleep).splitlines()
    assert lines[0].startswith("| strategy | workers | median (s) | CI of the median (s) |")
    assert lines[2].startswith("| serial | 1 | 3.23 | 3.23–3.26 |")
    assert markdown.time_unit([0.2, 0.999]) == ("ms", markdown.words.milliseconds)
    assert markdown.time_unit([0.2, 1.0])[0] == "s"
    assert markdown.time_unit([float("nan")])[0] == "ms"


def test_speedups_have_two_decimals_and_their_ci(reports):
    text = _text(reports, "golden")
    tables = "\n".join(line for block in _tables(text) for line in block)
    speedups = re.findall(r"(\S+)× \(([^)]*)\)", tables)
    assert len(speedups) == 6 + 3 * 7
    for value, ci in speedups:
        assert re.fullmatch(r"\d+\.\d\d", value)
        assert re.fullmatch(r"\d+\.\d\d–\d+\.\d\d", ci)


def test_tables_are_well_formed(reports):
    for name in EXPERIMENTS:
        text = _text(reports, name)
        blocks = _tables(text)
        groups = _section(text, "At the largest number of images")
        assert len(blocks) == 1 + groups.count("\n### ")
        for block in blocks:
            widths = {len(PIPE.split(line)) for line in block}
            assert len(widths) == 1, block  # every row has the header's cells
            assert re.fullmatch(r"\|(---:?\|)+", block[1])
            assert len(block) >= 3
            # A table starts after a blank line (or Markdown reads it as a paragraph).
            start = text.index(block[0] + "\n")
            assert text[start - 2 : start] == "\n\n"


def test_tables_parse_as_markdown_tables(reports):
    markdown_it = pytest.importorskip("markdown_it")
    parser = markdown_it.MarkdownIt("commonmark").enable("table")
    for name in EXPERIMENTS:
        text = _text(reports, name)
        tokens = parser.parse(text)
        assert sum(t.type == "table_open" for t in tokens) == len(_tables(text))
        images = [
            child.attrs["src"]
            for token in tokens
            if token.type == "inline"
            for child in token.children or []
            if child.type == "image"
        ]
        assert images == [f"figures/{stem}.png" for stem, _ in _figures(name)]


def test_links_point_at_figures_and_files_that_exist(reports):
    results = reports[0]
    for name in EXPERIMENTS:
        text = _text(reports, name)
        links = LINK.findall(text)
        assert links
        for _, target in links:
            assert (results / name / target).is_file(), target
        figures = _section(text, "Figures")
        assert "figures/hosts" not in text  # one host: not drawn, not linked
        for stem, title in _figures(name):
            image = f"![{markdown.escape(title)}](figures/{stem}.png)"
            assert f"### {markdown.escape(title)}\n\n{image}\n" in figures
            assert f"([SVG](figures/{stem}.svg))" in figures
        assert "[recommendations.csv](recommendations.csv)" in _section(text, "Tables")


def test_a_missing_figure_is_not_linked(reports, tmp_path):
    directory = tmp_path / "golden"
    shutil.copytree(reports[0] / "golden", directory)
    (directory / "figures" / "overhead.png").unlink()
    text = markdown.render_report(directory)
    assert "figures/overhead.png" not in text
    assert "figures/speedup.png" in text


def test_machine_and_software_in_one_paragraph(reports):
    section = _section(_text(reports, "golden"), "Machine and software").strip()
    assert "\n" not in section
    for part in (
        "vm: AMD EPYC, 2 / 2 / 2 cores (physical / logical / usable), 23.5 GiB RAM",
        "Python 3.11.7, Pillow 13.0.0 with libjpeg-turbo, numpy 2.4.6, Snakemake 9.27.1",
        "workflow commit 8ebe4f1f0a7d.",
        "Each cell ran 2 rounds of 2 timed repetitions",
        "after 1 untimed warm-up.",
        "Process pools started with fork.",
        "Cold caches were made by files eviction.",
    ):
        assert part in section
    # tiny_images has no cold cells: nothing said about eviction.
    tiny = _section(_text(reports, "tiny_images"), "Machine and software")
    assert "eviction" not in tiny


def test_warnings_in_the_decks_words(reports):
    results = reports[0]
    tables, meta = summary.read_experiment(results / "golden")
    section = _section(_text(reports, "golden"), "Warnings")
    lines = summary.warning_lines(tables, meta, full=True)
    assert [line for line in section.splitlines() if line] == [
        f"- {markdown.escape(line)}" for line in lines
    ]
    assert section.count("- ") == 3 and "Repetition spread: 23 of 42 cells" in section


def test_csvs_keep_full_precision(reports):
    results, _, before = reports
    for name in EXPERIMENTS:
        assert _digests(results / name) == before[name]
    # The CSVs hold what the report rounds.
    assert "0.00093706100" in (results / "golden" / "recommendations.csv").read_text()


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a | b", "a \\| b"),
        ("*bold* and `code`", "\\*bold\\* and \\`code\\`"),
        ("[x](y)", "\\[x\\](y)"),
        ("save_jpeg", "save_jpeg"),
        ("_emphasis_", "\\_emphasis\\_"),
        ("<0.01 and <b>", "<0.01 and \\<b>"),
        ("pale “~”", "pale “\\~”"),
    ],
)
def test_escape(raw, escaped):
    assert markdown.escape(raw) == escaped


def test_flags_and_older_tables(crafted, tmp_path):
    # Crafted tables (tests/report/conftest.py) with every flag raised once ...
    flagged = crafted.write_results(tmp_path / "flagged", tables=crafted.flagged_tables())
    text = markdown.render_report(flagged)
    row = "| save_png | 1280x960 | 128 | threads ×2 | 200 ms | 1.83× (1.65–2.01) ⚠ > bound 1 |"
    assert f"{row} withheld | — |" in text
    assert "- Physical bound: 1 speedup over the serial loop exceeds" in text
    assert "Physical bound: 1 speedup" in summary.experiment_summary(flagged)
    # ... and tables written before the fair-measurement columns: still a report.
    legacy = crafted.write_results(
        tmp_path / "legacy",
        meta=crafted.legacy_metadata(crafted.metadata()),
        tables=crafted.legacy_tables(crafted.build_tables()),
    )
    text = markdown.render_report(legacy)
    assert "| save_png | 1280x960 | 128 | threads ×2 | 200 ms | 1.83× (1.65–2.01) | n/a |" in text
    assert "- Rounds: not recorded (results before rounds)" in text
