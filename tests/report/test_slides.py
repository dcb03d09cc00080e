"""The deck: one self-contained, escaped HTML file with every slide the issue asks for.

Most tables come from the ``crafted`` fixture (``conftest.py``): built from ``docs/results.md``
(the contract between the analysis and the deck), so these tests pin what the deck reads;
the last test goes through the real analysis.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import pytest

from imgbench.analysis.threats import OK, WARN, Fact
from imgbench.errors import ImgbenchError
from imgbench.report.deck.cells import cell_frame
from imgbench.report.deck.render import render_deck
from imgbench.report.deck.tasks import group_table, task_verdicts
from imgbench.report.deck.threats import FOUND, NEUTRAL, PASSED, mark, threats

XSS = "<script>alert(1)</script>"
ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;/script&gt;"


def render(crafted, tmp_path: Path, **kwargs) -> str:
    output = tmp_path / "out" / "slides.html"
    render_deck(crafted.write_results(tmp_path / "tiny", **kwargs), output)
    assert [p.name for p in output.parent.iterdir()] == ["slides.html"]
    return output.read_text(encoding="utf-8")


def headings(deck: str) -> list[str]:
    return [html_lib.unescape(h) for h in re.findall(r"<h[12]>(.*?)</h[12]>", deck)]


@pytest.fixture
def deck(crafted, tmp_path) -> str:
    return render(crafted, tmp_path)


# ----- the deck as a whole ------------------------------------------------------------------


def test_deck_has_every_slide(crafted, deck):
    assert headings(deck) == crafted.EXPECTED_HEADINGS
    assert deck.count('<section class="slide') == len(crafted.EXPECTED_HEADINGS)
    assert "2023-11-14 22:15 UTC" in deck


def test_deck_needs_no_network(deck):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", deck)
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", deck)
    assert "http://" not in deck and "https://" not in deck
    assert "<style>" in deck and "<script>" in deck
    assert "Content-Security-Policy" in deck and "default-src 'none'" in deck
    assert '<link rel="icon" href="data:,">' in deck


def test_deck_prints_one_slide_per_page(deck):
    assert "@page" in deck and "@media print" in deck and "break-after: page" in deck


def test_each_figure_is_embedded_once_and_shown_where_needed(crafted, deck):
    assert deck.count('href="data:image/png;base64,') == len(crafted.SLIDE_FIGURES)
    # each workload's figure on its slide in its task's section; every other figure once;
    # the sheets of every panel are not on a slide
    for stem in crafted.SLIDE_FIGURES:
        assert deck.count(f'<use href="#fig-{stem.replace("/", "-")}"/>') == 1, stem
    assert '#fig-speedup"' not in deck and "#fig-efficiency" not in deck
    task = deck.split("<h2>Task: save_png</h2>")[1].split("<h2>× faster")[0]
    assert task.index("#fig-tasks-speedup_save_png_1280x960") < task.index(
        "<h2>save_png · 1280x960 · disk, warm cache · 128 images</h2>"
    )
    # every figure carries its smallest text, for the legibility rule
    assert deck.count(f'data-min-font-px="{crafted.MIN_FONT_PX}"') == len(crafted.SLIDE_FIGURES)


def test_a_missing_figure_becomes_a_note(crafted, tmp_path):
    html = render(crafted, tmp_path, figures=("speedup", "tasks/speedup_decode_1280x960"))
    assert html.count('href="data:image/png;base64,') == 1
    assert "Figure not available: faster_than_serial.png was not found" in html
    assert "Figure not available: overhead.png was not found" in html
    missing = "tasks/speedup_save_png_1280x960.png was not found"
    assert f"Figure not available: {missing}" in html
    assert headings(html) == crafted.EXPECTED_HEADINGS


def test_a_figure_that_is_not_a_png_becomes_a_note(crafted, tmp_path):
    results = crafted.write_results(tmp_path / "tiny", figures=("speedup",))
    (results / "figures" / "overhead.png").write_text("<svg>not a png</svg>")
    render_deck(results, tmp_path / "slides.html")
    html = (tmp_path / "slides.html").read_text(encoding="utf-8")
    assert "overhead.png is not a PNG image" in html


def test_deck_escapes_every_value(crafted, tmp_path):
    host = {**crafted.metadata()["hosts"][0], "hostname": XSS, "cpu_model": XSS}
    meta = crafted.metadata(
        experiments=[XSS],
        description=XSS,
        hosts=[host],
        cpu_models=[XSS],
        warnings=[XSS],
        task_summaries={"save_png": XSS},
        strategy_summaries={XSS: XSS},
    )
    html = render(crafted, tmp_path, meta=meta, tables=crafted.build_tables(sentence=XSS))
    assert XSS not in html
    assert html.count("<script>") == 1
    assert ESCAPED_XSS in html
    # the sentence on its task's slide, in the conclusions, and the host in the threats
    assert html.count(ESCAPED_XSS) >= 8


def test_both_base_cases_are_named(deck):
    assert "the serial loop (does parallelism pay at all?)" in deck
    assert "the same strategy with 1 worker (how does the strategy scale?)" in deck
    assert '<th colspan="2">vs the serial loop</th><th colspan="2">vs 1 worker</th>' in deck
    # the speedup appendix says which base case each row uses
    appendix = deck.split("<h2>Appendix: speedup and efficiency, both base cases</h2>")[1]
    assert "<td>threads ×1</td>" in appendix and "<td>the serial loop</td>" in appendix
    assert "<td>itself</td>" in appendix  # the loop's own row for the 1-worker base case


def test_verdicts_come_from_recommendations(crafted, tmp_path):
    tables = crafted.build_tables()
    tables["recommendations"].loc[:, "sentence"] = [
        f"Sentence {i} of the analysis." for i in range(len(tables["recommendations"]))
    ]
    html = render(crafted, tmp_path, tables=tables)
    task_slide = html.split("<h2>Task: save_png</h2>")[1].split("</section>")[0]
    conclusions = html.split("<h2>Conclusions</h2>")[1].split("</section>")[0]
    for i in range(len(tables["recommendations"])):
        assert f"Sentence {i} of the analysis." in html
    # save_png has groups at 16 and 128 images: both on its slide, only 128 in conclusions
    assert task_slide.count("of the analysis.") == 2
    assert conclusions.count("of the analysis.") == 2


def test_recommendations_slide_names_best_ci_and_runner_up(deck):
    slide = deck.split("<h2>Recommendations</h2>")[1].split("</section>")[0]
    assert "<td>threads ×2</td>" in slide
    assert "1.83×" in slide and "1.65–2.01" in slide  # 0.366 / 0.200 and its crafted CI
    # decode at 64 images: the loop wins; threads x1 is within 10%, so it is the runner-up
    # medians in ms, the column's unit by magnitude (every best median is below 1 s)
    assert '<th class="num">median ms</th>' in slide
    assert '<td>the serial loop</td><td class="num">10.7</td>' in slide
    # not significantly slower, not equivalent (3% CI around 8% slower): can't tell apart
    assert '<td>threads ×1</td><td class="num">0.93×</td><td>—</td><td>threads x1</td>' in slide
    # save_png at 16 images: nothing is equivalent to threads x2 or can't be told apart
    assert '<td>none</td><td class="num">—</td><td>—</td><td>—</td>' in slide
    assert "<td>faster</td>" in slide and "<td>is the loop</td>" in slide
    assert "within noise" not in slide
    assert "Equivalent: the 90% CI of the time ratio lies within ±5% (TOST)" in slide


def test_recommendations_of_tables_without_the_equivalence_test(crafted, tmp_path):
    html = render(
        crafted,
        tmp_path,
        tables=crafted.legacy_tables(crafted.build_tables()),
        meta=crafted.legacy_metadata(crafted.metadata()),
    )
    slide = html.split("<h2>Recommendations</h2>")[1].split("</section>")[0]
    assert "<th>not significantly slower</th>" in slide and "<th>vs loop</th>" not in slide
    assert '<td>threads ×1</td><td class="num">0.93×</td><td>threads x1</td>' in slide
    assert "does not mean equivalent" in slide


def test_overhead_table_at_the_largest_n(deck):
    slide = deck.split("<h2>Overhead: pool start-up, first result, work and shutdown</h2>")[1]
    slide = slide.split("</section>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", slide.split("<tbody>")[1])
    # save_png n=128: serial, processes x2, threads x2; decode n=64: same with threads x4
    assert len(rows) == 6
    assert '<td>processes</td><td class="num">2</td><td class="num">250</td>' in slide
    # processes: every worker started after 6% of 250 ms, the first result at 10%
    assert '<td class="num">250</td><td class="num">15.0</td><td class="num">10.0</td>' in slide
    assert (
        '<td>serial</td><td class="num">1</td><td class="num">366</td><td class="num">—</td>'
        in (slide)
    )
    assert "until every pool worker had started" in slide
    assert "50%" in slide  # worker busy of 2 workers at 1 CPU per wall second


# ----- the task tables ----------------------------------------------------------------------


def test_group_table_has_both_speedups_significance_and_amdahl(crafted):
    tables = crafted.build_tables()
    cells = deck_cells(tables)
    group = cells[(cells["task"] == "save_png") & (cells["n_images"] == 128)]
    amdahl = tables["amdahl"][tables["amdahl"]["n_images"] == 128]
    table = group_table(group, amdahl)
    rows = {(r.cells[0].text, r.cells[1].text): r for r in table.rows}
    assert list(rows) == [
        ("serial", "1"),
        ("processes", "1"),
        ("processes", "2"),
        ("threads", "1"),
        ("threads", "2"),
    ]
    fastest = [c.text for c in rows[("threads", "2")].cells]
    assert rows[("threads", "2")].css == "fastest"
    assert table.groups[1] == ("time, ms", 2)  # the table's unit, by magnitude
    assert fastest[2:9] == [
        "200",
        "190–210",
        "1.83× (1.65–2.01)",
        "91%",
        "1.90×",
        "0.05",
        "fastest",
    ]
    assert rows[("processes", "2")].cells[8].text == "slower"
    assert rows[("threads", "1")].cells[8].text == "slower"
    assert rows[("processes", "1")].cells[8].text == "slower"
    # Amdahl: one cell per strategy spanning its rows; none for the loop
    assert [c.text for c in rows[("threads", "1")].cells[9:]] == ["5.3%", "19.00×"]
    assert [c.rowspan for c in rows[("threads", "1")].cells[9:]] == [2, 2]
    assert len(rows[("threads", "2")].cells) == 9
    assert rows[("serial", "1")].cells[9].text == "—"


def deck_cells(tables):
    return cell_frame(tables)


# ----- verdicts and threats: pure functions -------------------------------------------------


def test_task_verdicts_order_and_largest_n(crafted):
    recs = crafted.build_tables()["recommendations"]
    verdicts = task_verdicts(recs)
    assert list(verdicts) == ["decode", "save_png"]
    assert verdicts["save_png"][0].startswith("For save_png at 128 images")
    assert verdicts["save_png"][1].startswith("For save_png at 16 images")
    assert task_verdicts(recs, largest_n_only=True)["save_png"] == [verdicts["save_png"][0]]
    assert task_verdicts(recs.iloc[0:0]) == {}


OLD_CLAIM_TOPICS = ("Repetition spread", "Outliers", "Repetitions")


def _threat(found: list[dict], topic: str) -> dict:
    (match,) = [t for t in found if t["topic"] == topic]
    return match


def test_threats_all_clear(crafted):
    summary = crafted.build_summary(reps=6)
    summary["cv"] = 0.02
    summary["outliers"] = 0
    tables = crafted.build_tables()
    found = threats(summary, crafted.metadata(), tables["speedup"], tables["recommendations"])
    # stated facts are never ticked: memory, and that saves end in the page cache
    assert {t["topic"] for t in found if t["status"] == "info"} == {"Memory", "Save durability"}
    assert {t["status"] for t in found} == {"ok", "info"}
    interference = _threat(found, "Interference")["text"]
    assert "up to 0.05 cores (of 4 usable)" in interference
    assert "load average before cells reached 1.70" in interference
    assert "previous cells' own workers" in interference


def test_threats_react_to_metadata(crafted):
    host = crafted.metadata()["hosts"][0]
    meta = crafted.metadata(
        other_cpu_per_wall_max=0.75,
        cold_resident_fraction_max=0.2,
        cache_methods=["none", "read"],
        hosts=[host, {**host, "hostname": "other"}],
        cpu_models=["Test CPU", "Other CPU"],
        warnings=["odd"],
    )
    summary = crafted.build_summary(cache="cold", reps=5)
    found = threats(summary, meta)
    statuses = {t["topic"]: t["status"] for t in found if t["part"] == "machine"}
    statuses |= {t["topic"]: t["status"] for t in found if t["topic"] in OLD_CLAIM_TOPICS}
    assert statuses == {
        "Interference": "warn",
        "Repetition spread": "warn",
        "Outliers": "warn",
        "Hosts": "warn",
        "Cache": "warn",
        "Repetitions": "warn",
        "Run warning": "warn",
        "Eviction": "ok",
        "Start method": "ok",
        "Save durability": "info",
        "Memory": "info",
    }
    assert "its times may include interference" in _threat(found, "Interference")["text"]
    assert "3 of 12 cells vary by more than 10%" in _threat(found, "Repetition spread")["text"]
    assert "2 cells have Tukey outliers" in _threat(found, "Outliers")["text"]
    assert "2 hosts with 2 CPU models" in _threat(found, "Hosts")["text"]
    cache = _threat(found, "Cache")["text"]
    assert "could not be evicted" in cache and "Up to 20.0% of the inputs" in cache
    assert "93.8%, below 95%: too few repetitions" in _threat(found, "Repetitions")["text"]
    assert _threat(found, "Run warning")["text"] == "odd"


def test_threats_slide_shows_warnings(crafted, tmp_path):
    html = render(
        crafted, tmp_path, meta=crafted.metadata(other_cpu_per_wall_max=0.75, warnings=["odd"])
    )
    slide = html.split("<h2>Threats to validity: machine and method</h2>")[1].split("</section>")[0]
    assert 'class="warn-item"' in slide and "Other processes used up to 0.75 cores" in slide
    assert "<b>Run warning</b>: odd" in slide


# ----- formatting and inputs ----------------------------------------------------------------


def test_deck_of_empty_tables(crafted, tmp_path):
    tables = {name: frame.iloc[0:0] for name, frame in crafted.build_tables().items()}
    html = render(crafted, tmp_path, meta=crafted.metadata(hosts=[], cpu_models=[]), tables=tables)
    assert [h for h in headings(html) if h.startswith(("Task", "decode", "save_png"))] == []
    # no task slides (2 tasks, 3 each), and no cell to diagnose
    assert len(headings(html)) == len(crafted.EXPECTED_HEADINGS) - 7
    assert "No cells were measured." in html


def test_missing_table_or_column_is_an_error(crafted, tmp_path):
    results = crafted.write_results(tmp_path / "tiny")
    (results / "amdahl.csv").unlink()
    with pytest.raises(ImgbenchError, match="amdahl.csv: missing result table"):
        render_deck(results, tmp_path / "slides.html")
    tables = crafted.build_tables()
    tables["recommendations"] = tables["recommendations"].drop(columns=["sentence"])
    results = crafted.write_results(tmp_path / "other", tables=tables)
    with pytest.raises(ImgbenchError, match="column\\(s\\) sentence missing"):
        render_deck(results, tmp_path / "slides.html")


# ----- the fairness facts of issue 9: flags, start method, eviction, rounds, calibration ------


def test_deck_names_every_flag(crafted, tmp_path):
    meta = crafted.metadata(
        start_methods={
            "fork": {"results": 16, "median_pool_ready_s": 0.004},
            "spawn": {"results": 8, "median_pool_ready_s": 0.21},
        },
        eviction_methods=["system"],
        durability={"save_png": "fsync"},
    )
    tables = {name: frame.assign(cache="cold") for name, frame in crafted.flagged_tables().items()}
    summary = tables["summary"]
    found = threats(summary, meta, tables["speedup"], tables["recommendations"])
    statuses = {t["topic"]: t["status"] for t in found}
    for topic in (
        "Start method",
        "Eviction",
        "Rounds disagree",
        "Physical bound",
        "Extra reads",
        "Imports inside the timer",
        "Operations in flight",
    ):
        assert statuses[topic] == "warn", topic
    assert statuses["Rounds"] == "ok"
    start = _threat(found, "Start method")["text"]
    assert "spawn" in start and "210 ms" in start and "inside the timer" in start
    eviction = _threat(found, "Eviction")["text"]
    assert "every new worker re-reads them" in eviction
    assert "fsynced inside the timer" in _threat(found, "Save durability")["text"]
    bound = _threat(found, "Physical bound")["text"]
    assert "save_png 1280x960 n=128 threads ×2 1.83× > 1" in bound
    assert "the loop used 30% more CPU per image" in bound  # the recommendation's sentence
    assert "spread 31%" in _threat(found, "Rounds disagree")["text"]
    assert "+3 MiB a repetition" in _threat(found, "Extra reads")["text"]
    assert "(PIL.PngImagePlugin, zlib)" in _threat(found, "Imports inside the timer")["text"]
    assert "threads ×4 at most 2" in _threat(found, "Operations in flight")["text"]

    html = render(crafted, tmp_path, meta=meta, tables=tables)
    group = html.split("<h2>save_png · 1280x960 · disk, cold cache · 128 images</h2>")[1]
    group = group.split("</section>")[0]
    assert "1.83× (1.65–2.01) ⚠ &gt; bound 1" in group
    assert '<tr class="fastest flagged">' in group
    recs = html.split("<h2>Recommendations</h2>")[1].split("</section>")[0]
    assert '<tr class="flagged">' in recs and "<td>withheld</td>" in recs
    method = html.split("<h2>Method: how each cell is measured</h2>")[1].split("</section>")[0]
    assert "spawn is not fork" in method and "System eviction" in method
    assert "Rounds: 2 per cell" in method and "seeded random order" in method


def test_memory_of_the_whole_cell_beside_the_parent(crafted):
    summary = crafted.build_summary()
    text = _threat(threats(summary, crafted.metadata()), "Memory")["text"]
    # the largest: processes x2, parent plus two workers
    assert "processes ×2" in text and "286 MiB" in text and "against the parent's 95 MiB" in text


def test_nothing_unmeasured_gets_a_tick(crafted, tmp_path):
    tables = crafted.legacy_tables(crafted.build_tables())
    meta = crafted.legacy_metadata(crafted.metadata(other_cpu_per_wall_max=None))
    found = threats(tables["summary"], meta, tables["speedup"], tables["recommendations"])
    statuses = {t["topic"]: t["status"] for t in found}
    assert statuses["Interference"] == "info"
    for topic in ("Physical bound", "Extra reads", "Imports inside the timer", "Memory"):
        assert statuses[topic] == "info", topic
        assert _threat(found, topic)["text"].startswith(("Not", "Peak memory: the parent"))
    # results before rounds ran every repetition of a cell in one process
    assert statuses["Rounds"] == "warn"
    html = render(crafted, tmp_path, tables=tables, meta=meta)
    slide = html.split("<h2>Threats to validity: machine and method</h2>")[1]
    slide = slide.split("</section>")[0]
    assert '<li class="info"><span class="status">–</span><b>Interference</b>: Not measured' in (
        slide
    )
    assert headings(html) == crafted.EXPECTED_HEADINGS


def test_known_answers_slide(crafted, tmp_path):
    results = crafted.write_results(tmp_path / "tiny")
    crafted.write_calibration(results)
    render_deck(results, tmp_path / "slides.html")
    html = (tmp_path / "slides.html").read_text(encoding="utf-8")
    names = headings(html)
    assert names[names.index("Conclusions") + 1] == "Known answers: expected vs measured"
    assert len(names) == len(crafted.EXPECTED_HEADINGS) + 1
    slide = html.split("<h2>Known answers: expected vs measured</h2>")[1].split("</section>")[0]
    assert "This machine delivers 1.52 cores of its 2 usable." in slide
    assert "2 of 3 known-answer cells measured within their expected range." in slide
    assert '<p class="known warn">' in slide
    assert "<td>sleep</td>" in slide and "<td>threads ×16</td>" in slide
    assert '<td class="num">16.00×</td><td class="num">15.20–16.00</td>' in slide
    assert '<tr class="flagged">' in slide and "<td>below: 1.52x</td>" in slide
    # without calibration.json the count comes from the table; the cores are not claimed
    (results / "calibration.json").unlink()
    render_deck(results, tmp_path / "slides.html")
    html = (tmp_path / "slides.html").read_text(encoding="utf-8")
    assert "were not measured" in html and "2 of 3 known-answer cells" in html


# ----- the deck and the figures from tables the real analysis wrote --------------------------


def test_deck_and_figures_from_the_real_analysis(crafted, analysis_results, tmp_path):
    from imgbench.analysis.metadata import metadata
    from imgbench.analysis.tables import build_tables
    from imgbench.report.figures.plot import plot_all

    results = analysis_results
    tables = build_tables(results)
    timings, summary, speedup = tables["timings"], tables["summary"], tables["speedup"]
    out = tmp_path / "e"
    out.mkdir()
    for name, frame in tables.items():
        frame.to_csv(out / f"{name}.csv", index=False)
    meta = metadata(results, timings, None, summary=summary, speedup=speedup)
    (out / "metadata.json").write_text(json.dumps(meta, default=str))
    plot_all(out, out / "figures")
    render_deck(out, out / "slides.html")
    html = (out / "slides.html").read_text(encoding="utf-8")
    assert "Rounds: 2 per cell" in html
    assert "decode 8x8 n=10 processes ×2 (PIL.JpegImagePlugin)" in html
    overhead = html.split("<h2>Overhead: pool start-up, first result, work and shutdown</h2>")[1]
    assert '<td class="num">50.0</td>' in overhead.split("</section>")[0]  # pool ready: 50 ms
    # the overview figures, the overhead figure and the one workload's (decode at 8x8)
    shown = re.findall(r'<image id="(fig-[^"]+)"', html)
    assert shown == [
        "fig-tasks-speedup_decode_8x8",
        "fig-faster_than_serial",
        "fig-time_vs_n",
        "fig-best_strategy",
        "fig-repetitions",
        "fig-overhead",
    ]
    assert 'data-min-font-px="0.00"' not in html  # real figures record their smallest text


def test_only_a_check_measured_and_passed_gets_a_tick(crafted, tmp_path):
    # No cold cells: the cache check has nothing to judge (the analysis says "ok"); no
    # cells at all for the counting checks; interference not measured.
    summary = crafted.build_summary()
    meta = crafted.metadata(other_cpu_per_wall_max=None, cold_resident_fraction_max=None)
    found = {t["topic"]: t for t in threats(summary, meta)}
    assert found["Cache"]["status"] == "ok"  # the analysis's verdict: nothing found
    assert (found["Cache"]["mark"], found["Cache"]["css"]) == ("–", "info")
    assert found["Interference"]["mark"] == "–"
    assert found["Rounds"]["mark"] == "✓" and found["Start method"]["mark"] == "✓"
    assert found["Memory"]["mark"] == "–"  # a stated fact
    for fact in (
        Fact("Extra reads", OK, checked=0),
        Fact("Cache", OK, details={"cold": True, "not_evicted": False}),
        Fact("Virtual machine", OK),
        Fact("Something new", "unknown status"),
    ):
        assert mark(fact) == NEUTRAL, fact
    assert mark(Fact("Extra reads", OK, checked=3)) == PASSED
    assert mark(Fact("Cache", OK, 0.0, details={"cold": True, "not_evicted": False})) == PASSED
    assert mark(Fact("Extra reads", WARN, checked=3)) == FOUND
    # on the slide: every tick is a measured pass, and the legend says what each mark means
    html = render(crafted, tmp_path, meta=meta)
    slides = "".join(
        part.split("</section>")[0] for part in html.split("<h2>Threats to validity")[1:]
    )
    ticked = re.findall(r'<li class="ok"><span class="status">✓</span><b>([^<]+)</b>', slides)
    assert "Cache" not in ticked and "Interference" not in ticked and "Rounds" in ticked
    assert '<li class="info"><span class="status">–</span><b>Cache</b>' in slides
    assert "never ticked" in slides
