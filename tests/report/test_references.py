"""Published findings against measured ones: verdicts, reasons, the CSV and the deck.

The results tree is made by the analysis (``imgbench.analysis``) from fake cell results, so
the tests read the same columns that ``imgbench aggregate`` writes.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from imgbench.analysis import references
from imgbench.analysis import results as result_files
from imgbench.analysis.metadata import metadata
from imgbench.errors import ConfigError
from imgbench.plan.references import load_reference
from imgbench.report.reference import COLUMNS, build_reference, cap_text
from tests.helpers import ROOT
from tests.helpers import cell_result as analysis_result

SERIAL = [1.00, 1.02, 0.98, 1.01, 0.99, 1.03]
XSS = "<script>alert(1)</script>"


def _result(strategy, workers, walls, n=100, experiment="saving", other=0.0):
    """A cell result of the saving experiment the reference below describes; ``other`` is
    the share of a core other processes took while it ran."""
    result = analysis_result(strategy, workers, walls, n=n, task="save_png")
    result["cell"].update(experiment=experiment, cache="warm", width=256, height=256)
    result["machine"].update(hostname="testhost", cpu_model="Test CPU 9000")
    for rep in result["repetitions"]:
        rep["other_cpu_s"] = other * rep["wall_s"]
    return result


@pytest.fixture
def results_dir(tmp_path):
    results = [
        _result("serial", 1, SERIAL),
        _result("threads", 4, [w / 2 for w in SERIAL]),  # clearly faster
        _result("threads", 2, list(reversed(SERIAL))),  # the same times
        _result("processes", 4, [w * 2 for w in SERIAL]),  # clearly slower
        _result("serial", 1, SERIAL[:3], n=10),  # too few repetitions to test
        _result("threads", 4, [w / 2 for w in SERIAL[:3]], n=10),
    ]
    timings = result_files.timings_frame(results)
    out = tmp_path / "results" / "saving"
    out.mkdir(parents=True)
    timings.to_csv(out / "timings.csv", index=False)
    (out / "metadata.json").write_text(json.dumps(metadata(results, timings)))
    return tmp_path / "results"


def _finding(fid, strategy, workers, expect="faster", published=None, n=100, **cell):
    return {
        "id": fid,
        "claim": f"claim of {fid}",
        "expect": expect,
        "published": published or {"speedup": 1.5},
        "cell": {
            "experiment": "saving",
            "task": "save_png",
            "storage": "disk",
            "cache": "warm",
            "size": "256x256",
            "n_images": n,
            "strategy": strategy,
            "workers": workers,
            **cell,
        },
        "baseline": {"strategy": "serial", "workers": 1},
    }


REFERENCE = {
    "study": "imageproc README",
    "source": "seeds/000_de89cd45113df62c.txt",
    "machine": "AMD Ryzen 9 3900X",
    "cores": 24,
    "method": "one run per configuration",
    "flaws": ["A single run per configuration."],
    "departures": ["Image size not stated; 256x256 chosen."],
    "findings": [
        _finding("holds", "threads", 4, published={"time_s": 1.1797, "baseline_time_s": 18.4185}),
        _finding("equal", "threads", 2),
        _finding("not_faster", "threads", 2, expect="not_faster", published={"speedup": 0.93}),
        _finding("slower", "processes", 4, expect="slower", published={"speedup": 0.5}),
        _finding("missing", "threads", 4, experiment="loading"),
        _finding("few", "threads", 4, n=10),
    ],
}


def _write(tmp_path, reference, name="ref.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(reference, allow_unicode=True))
    return path


@pytest.fixture
def built(tmp_path, results_dir):
    html, csv = tmp_path / "out" / "ref.html", tmp_path / "out" / "ref.csv"
    frame = build_reference(_write(tmp_path, REFERENCE), results_dir, html, csv)
    return frame.set_index("id"), html.read_text(), csv


def test_verdicts(built):
    frame, _, _ = built
    assert frame["verdict"].to_dict() == {
        "holds": "holds",
        "equal": "does not hold",
        "not_faster": "holds",
        "slower": "holds",
        "missing": "not measured",
        "few": "untestable",
    }


def test_measured_numbers_ignore_warmups(built):
    row = built[0].loc["holds"]
    assert row["reps"] == row["baseline_reps"] == 6
    assert row["measured_time_s"] == pytest.approx(0.5025)
    assert row["measured_baseline_time_s"] == pytest.approx(1.005)
    assert row["measured_speedup"] == pytest.approx(2.0)
    assert 1 < row["speedup_ci_low"] <= 2.0 <= row["speedup_ci_high"]
    assert row["measured_time_ci_low_s"] <= 0.5025 <= row["measured_time_ci_high_s"]
    assert row["mann_whitney_p"] < 0.05


def test_published_speedup_is_derived_from_times(built):
    row = built[0].loc["holds"]
    assert row["published_speedup"] == pytest.approx(18.4185 / 1.1797)
    assert row["published_time_s"] == 1.1797


def test_reason_names_what_bounds_the_speedup(built):
    frame = built[0]
    reason = frame.loc["holds", "reason"]
    assert reason.startswith("holds in direction: 2.00×")
    assert "15.61× published" in reason
    # 15.61x from 4 workers: the workers, not the cores, are the first bound to name.
    assert "4 workers cannot give more than 4x" in reason
    # 1.5x published is within 2 cores: no bound to blame.
    assert "usable cores" not in frame.loc["equal", "reason"]


@pytest.mark.parametrize(("busy", "named"), [(1.9, True), (0.1, False), (None, True)])
def test_the_core_bound_is_named_only_for_work_that_kept_the_cores_busy(busy, named):
    cap = references.speedup_cap(3.5, 8, cores_here=2, cores_there=8, busy=busy, task_bound=None)
    text = cap_text(cap)
    assert ("2 usable cores here vs 8 on the study's machine" in text) is named


def test_interference_during_a_side_is_named(tmp_path, results_dir):
    # The same times, but another process took a whole core while the loop ran: the
    # speedup over it cannot be trusted, and the reason says so.
    results = [_result("serial", 1, SERIAL, other=1.0), _result("threads", 2, SERIAL)]
    timings = result_files.timings_frame(results)
    timings.to_csv(results_dir / "saving" / "timings.csv", index=False)
    frame = build_reference(
        _write(tmp_path, REFERENCE), results_dir, tmp_path / "r.html", tmp_path / "r.csv"
    ).set_index("id")
    reason = frame.loc["equal", "reason"]
    assert "other processes used 1.00 cores while the baseline ran" in reason
    assert "while the cell ran" not in reason


def test_reasons_of_other_verdicts(built):
    frame = built[0]
    # The same times: not faster, and equivalent by TOST (90% CI of the ratio within 5%).
    assert "equivalent within 5%" in frame.loc["equal", "reason"]
    assert frame.loc["not_faster", "equivalent"]
    assert "experiment 'loading' was not run" in frame.loc["missing", "reason"]
    assert math.isnan(frame.loc["missing", "measured_speedup"])
    assert frame.loc["missing", "reps"] == 0
    assert "3 vs 3 repetitions cannot reach p < 0.05" in frame.loc["few", "reason"]


def test_why_is_appended(tmp_path, results_dir):
    reference = copy.deepcopy(REFERENCE)
    reference["findings"][1]["why"] = "the study's timer was never reset"
    frame = build_reference(
        _write(tmp_path, reference), results_dir, tmp_path / "r.html", tmp_path / "r.csv"
    )
    assert frame.loc[1, "reason"].endswith("; the study's timer was never reset")


def test_csv_has_the_documented_columns(built):
    _, _, csv = built
    frame = pd.read_csv(csv)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == len(REFERENCE["findings"])


def test_html_shows_every_finding_escaped(tmp_path, results_dir):
    reference = copy.deepcopy(REFERENCE)
    reference["findings"][0]["claim"] = XSS
    reference["flaws"].append(XSS)
    html_path = tmp_path / "r.html"
    build_reference(_write(tmp_path, reference), results_dir, html_path, tmp_path / "r.csv")
    html = html_path.read_text()
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for finding in reference["findings"][1:]:
        assert finding["claim"] in html
    for finding in reference["findings"]:
        assert f'id="{finding["id"]}"' in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "Flaws in the original timing" in html
    assert "Where this preset departs from the study" in html
    assert "Test CPU 9000" in html and "testhost" in html
    assert "v-does-not-hold" in html and "v-not-measured" in html


def test_many_findings_are_split_over_slides(tmp_path, results_dir):
    reference = copy.deepcopy(REFERENCE)
    reference["findings"] = [_finding(f"f{i}", "threads", 4) for i in range(9)]
    reference["flaws"] = reference["departures"] = []
    html_path = tmp_path / "r.html"
    build_reference(_write(tmp_path, reference), results_dir, html_path, tmp_path / "r.csv")
    html = html_path.read_text()
    assert "Published vs measured (1/2)" in html and "Published vs measured (2/2)" in html
    assert "Flaws in the original timing" not in html


def test_only_a_speedup_shows_no_times(tmp_path, results_dir):
    html_path = tmp_path / "r.html"
    build_reference(_write(tmp_path, REFERENCE), results_dir, html_path, tmp_path / "r.csv")
    row = html_path.read_text().split('id="equal"')[1].split("</tr>")[0]
    assert row.count("—") >= 2 and "1.50×" in row


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda r: r.pop("machine"), "key machine"),
        (lambda r: r["findings"][0]["cell"].pop("workers"), "findings[0].cell.workers"),
        (lambda r: r["findings"][2].update(expect="quicker"), "findings[2].expect"),
        (
            lambda r: r["findings"][0].update(published={"baseline_time_s": 2.0}),
            "findings[0].published.time_s",
        ),
        (
            lambda r: r["findings"][0].update(published={"speedup": -1}),
            "findings[0].published.speedup",
        ),
        (lambda r: r["findings"][0]["cell"].update(size="big"), "findings[0].cell.size"),
        (lambda r: r["findings"][1].update(id="holds"), "findings[1].id"),
        (lambda r: r["findings"][0].update(colour="red"), "findings[0].colour"),
        (lambda r: r.update(cores=0), "key cores"),
    ],
)
def test_bad_reference_names_the_key(tmp_path, edit, key):
    reference = copy.deepcopy(REFERENCE)
    edit(reference)
    path = _write(tmp_path, reference)
    with pytest.raises(ConfigError) as err:
        load_reference(path)
    assert key in str(err.value) and str(path) in str(err.value)


def test_a_qualitative_finding_is_judged_on_direction_alone(tmp_path):
    reference = copy.deepcopy(REFERENCE)
    reference["findings"][0]["published"] = {}
    finding = load_reference(_write(tmp_path, reference))["findings"][0]
    assert finding["published"] == {"time_s": None, "baseline_time_s": None, "speedup": None}


def test_load_reference_completes_the_baseline(tmp_path):
    ref = load_reference(_write(tmp_path, REFERENCE))
    finding = ref["findings"][0]
    assert finding["baseline"] == {**finding["cell"], "strategy": "serial", "workers": 1}
    assert finding["published"]["speedup"] == pytest.approx(15.6128, abs=1e-3)
    assert ref["findings"][1]["published"]["time_s"] is None


@pytest.mark.parametrize(
    "path", sorted((ROOT / "config" / "references").glob("*.yaml")), ids=lambda p: p.name
)
def test_shipped_references_are_valid(path):
    assert load_reference(path)["findings"]


def _tree(tmp_path, results) -> Path:
    timings = result_files.timings_frame(results)
    out = tmp_path / "results" / "saving"
    out.mkdir(parents=True, exist_ok=True)
    timings.to_csv(out / "timings.csv", index=False)
    return tmp_path / "results"


def _rounds(strategy, workers, walls_by_round, n=100):
    """One result per round of a cell."""
    out = []
    for r, walls in enumerate(walls_by_round, start=1):
        result = _result(strategy, workers, walls, n=n)
        result["run"].update(round=r, rounds=len(walls_by_round))
        out.append(result)
    return out


def _verdict(tmp_path, root, finding) -> pd.Series:
    reference = copy.deepcopy(REFERENCE)
    reference["findings"] = [finding]
    frame = build_reference(
        _write(tmp_path, reference), root, tmp_path / "r.html", tmp_path / "r.csv"
    )
    return frame.iloc[0]


def test_no_faster_without_equivalence_is_not_confirmed(tmp_path):
    # Noisy times (20% apart) that no test tells apart: "no faster than" is not confirmed,
    # and the reason says how large a difference could have been missed.
    noisy = [1.0, 1.2, 0.8, 1.1, 0.9, 1.15]
    root = _tree(tmp_path, [_result("serial", 1, noisy), _result("threads", 2, noisy[::-1])])
    row = _verdict(tmp_path, root, _finding("same", "threads", 2, expect="not_faster"))
    assert row["verdict"] == references.NOT_CONFIRMED
    assert not row["equivalent"] and row["max_missed_difference"] > 0.05
    assert "could have been missed" in row["reason"]


def test_rounds_are_the_unit_of_a_verdict(tmp_path):
    results = [
        *_rounds("serial", 1, [[1.0, 1.01, 0.99], [1.02, 1.0, 1.01]]),
        *_rounds("threads", 2, [[0.55, 0.56, 0.54], [0.56, 0.55, 0.55]]),
        *_rounds("threads", 4, [[1.0, 0.99, 1.01], [1.01, 1.0, 1.02]]),
    ]
    root = _tree(tmp_path, results)
    row = _verdict(tmp_path, root, _finding("x2", "threads", 2, published={"speedup": 1.9}))
    assert row["test"] == "rounds t" and row["rounds"] == row["baseline_rounds"] == 2
    assert row["verdict"] == "holds" and row["reps"] == 6
    assert row["speedup_ci_low"] <= row["measured_speedup"] <= row["speedup_ci_high"]


def test_a_speedup_above_the_cores_confirms_nothing(tmp_path):
    # 3x with 4 workers on 2 usable cores: the loop's time is suspect, not a finding.
    root = _tree(
        tmp_path, [_result("serial", 1, SERIAL), _result("threads", 4, [w / 3 for w in SERIAL])]
    )
    row = _verdict(tmp_path, root, _finding("x4", "threads", 4, published={"speedup": 3.0}))
    assert row["bound"] == 2 and row["exceeds_bound"]
    assert row["verdict"] == references.NOT_CONFIRMED
    assert "above the 2x that 4 workers on 2 usable cores allow" in row["reason"]
    # ... and a published 3x above the 2 cores here is named.
    assert "2 usable cores here vs 24 on the study's machine" in row["reason"]


@pytest.mark.parametrize(
    ("low", "high", "p", "same", "verdict"),
    [
        (1.2, 1.9, 0.01, False, "holds"),
        (0.5, 0.8, 0.01, False, "does not hold"),  # significantly the other way
        (0.98, 1.02, 0.6, True, "does not hold"),  # equivalent: no difference to claim
        # Too noisy to tell (study 002's disk cells: 0.40-11.32x): neither way.
        (0.40, 11.3, 0.47, False, "not confirmed"),
    ],
)
def test_a_directional_claim_is_refuted_only_by_data_that_say_so(low, high, p, same, verdict):
    from imgbench.analysis.references import TEST_ROUNDS, _verdict

    row = {
        "published_speedup": 1.5,
        "speedup_ci_low": low,
        "speedup_ci_high": high,
        "mann_whitney_p": p,
        "test": TEST_ROUNDS,
        "reps": 6,
        "baseline_reps": 6,
        "equivalent": same,
        "exceeds_bound": False,
    }
    assert _verdict("faster", row)["verdict"] == verdict
