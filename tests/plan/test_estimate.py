"""imgbench.plan.estimate: the plan's counts, its disk use, and the estimate from a previous run
(behaviour only: no assertion depends on how fast this machine is)."""

import json
from pathlib import Path

import pytest

from imgbench.plan.config import load_yaml
from imgbench.plan.estimate import format_plan, plan_report
from imgbench.plan.timings import read_previous
from tests.helpers import ROOT

GOLDEN = ROOT / "tests/configs/golden.yaml"
RECORDED = ROOT / "tests/data/golden/recorded"


@pytest.fixture(scope="module")
def golden_plan(tmp_path_factory):
    # An empty results directory: nothing is done yet, whatever lies in the checkout's.
    config = {**load_yaml(GOLDEN), "results_dir": str(tmp_path_factory.mktemp("results"))}
    return plan_report(config, previous=RECORDED)


def _span(directory: Path) -> float:
    """The recorded run's cells, first process start to last finish, from the files."""
    starts, ends = [], []
    for path in directory.glob("*/cells/**/*.json"):
        result = json.loads(path.read_text())
        starts.append(result.get("process_started_unix") or result["started_unix"])
        ends.append(result["finished_unix"])
    return max(ends) - min(starts)


def test_golden_counts(golden_plan):
    by_name = {e.name: e for e in golden_plan.experiments}
    # golden: 3 tasks x 2 n x (serial + 3 strategies x 2 workers); tiny_images: 5 strategies.
    assert (by_name["golden"].cells, by_name["golden"].jobs) == (42, 84)
    assert (by_name["tiny_images"].cells, by_name["tiny_images"].jobs) == (5, 10)
    assert (golden_plan.cells, golden_plan.jobs) == (47, 94)
    # 2 rounds of (1 warm-up + 2 repeats).
    assert {(e.repetitions, e.timed_repetitions) for e in golden_plan.experiments} == {(6, 4)}
    assert sorted((d.name, d.images) for d in golden_plan.datasets) == [
        ("jpeg-synthetic-rgb-64x64-n16-s20261122", 16),
        ("raw-synthetic-grey-50x50-n100-s20261122", 100),
    ]
    assert all(d.bytes > 0 for d in golden_plan.datasets)
    assert set(golden_plan.scratch) == {"disk"}
    assert "save_jpeg" in golden_plan.scratch["disk"][1]


def test_raw_dataset_bytes_are_exact(golden_plan):
    raw = next(d for d in golden_plan.datasets if d.name.startswith("raw-synthetic-grey-50x50"))
    pixels = 50 * 50 * 100
    assert pixels <= raw.bytes <= pixels + 8192


def test_estimate_from_recorded_run_within_a_quarter(golden_plan):
    est = golden_plan.estimate
    assert not est.extrapolated
    span = _span(RECORDED)
    assert abs(est.cell_jobs_s - span) <= 0.25 * span
    assert est.total_s > est.cell_jobs_s
    assert "previous run" in " ".join(est.method)


def test_previous_run_gap_is_measured():
    previous = read_previous(RECORDED)
    assert previous.jobs == 94
    assert previous.gap_s is not None and 0 < previous.gap_s < 1


def test_limit_warning():
    config = load_yaml(GOLDEN)
    over = plan_report(config, previous=RECORDED, limit_s=1.0)
    assert over.warnings and "exceeds the limit" in over.warnings[0]
    assert "warning" in format_plan(over)
    under = plan_report(config, previous=RECORDED, limit_s=1e6)
    assert not under.warnings


def test_extrapolated_cell_is_named():
    config = load_yaml(GOLDEN)
    config["experiments"]["golden"]["n_images"] = [8, 16, 32]
    plan = plan_report(config, previous=RECORDED)
    extrapolated = {t.cell.label: t.how for t in plan.estimate.extrapolated}
    label = "golden: decode disk-cold 64x64 n=32 threads x4"
    assert extrapolated[label].startswith("scaled from ")
    assert all(t.cell.n_images == 32 for t in plan.estimate.extrapolated)
    text = format_plan(plan)
    assert "extrapolated" in text and label in text


def test_rounds_already_done_are_counted_and_left_out_of_the_estimate(tmp_path):
    config = load_yaml(GOLDEN)
    config["results_dir"] = str(tmp_path)
    before = plan_report(config, previous=RECORDED)
    assert before.done_jobs == 0
    # Two rounds' result files already in this run's results directory.
    for path in sorted(RECORDED.glob("golden/cells/**/*-r*.json"))[:2]:
        target = tmp_path / path.relative_to(RECORDED)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    after = plan_report(config, previous=RECORDED)
    assert (after.jobs, after.done_jobs) == (before.jobs, 2)
    assert {e.name: e.done_jobs for e in after.experiments} == {"golden": 2, "tiny_images": 0}
    assert after.estimate.cells_s < before.estimate.cells_s
    assert after.estimate.gaps_s < before.estimate.gaps_s
    assert "(2 done, 92 to run" in format_plan(after)
