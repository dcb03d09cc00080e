"""The workflow's input functions and parameters (imgbench.workflow), without Snakemake."""

import re
import shlex
import string
from dataclasses import fields
from types import SimpleNamespace

import pytest
import yaml

from imgbench.cli import build_parser
from imgbench.plan.config import resolve_config
from imgbench.vocabulary import RESULT_PATTERN, CellSpec
from imgbench.workflow import WorkflowPlan
from tests.helpers import CONFIGS, ROOT

GOLDEN = yaml.safe_load((CONFIGS / "golden.yaml").read_text())


@pytest.fixture(scope="module")
def plan():
    return WorkflowPlan(resolve_config(GOLDEN), basedir=ROOT)


@pytest.fixture(scope="module")
def elsewhere():
    """The same grid run into a results directory of its own, and another datasets one."""
    config = resolve_config(dict(GOLDEN, results_dir="runs/a/", datasets_dir="./shared/data"))
    return WorkflowPlan(config, basedir=ROOT)


def _wildcards(run) -> SimpleNamespace:
    return SimpleNamespace(
        **{k: str(v) for k, v in run.cell.as_dict().items()}, round=str(run.round)
    )


def _matches(plan, path: str) -> dict | None:
    """The wildcards the cell rule's output pattern gives ``path``, under the constraints."""
    constraints = plan.wildcard_constraints()
    regex = ""
    for literal, field, _, _ in string.Formatter().parse(plan.cell_result):
        regex += re.escape(literal)
        if field:
            regex += f"(?P<{field}>{constraints.get(field, '.+')})"
    match = re.fullmatch(regex, path)
    return match.groupdict() if match else None


@pytest.mark.parametrize("name", ["plan", "elsewhere"])
def test_every_run_is_matched_by_the_cell_pattern_as_itself(name, request):
    plan = request.getfixturevalue(name)
    root = {"plan": "results", "elsewhere": "runs/a"}[name]
    for run in plan.runs:
        found = _matches(plan, f"{root}/{run.path}")
        assert found == vars(_wildcards(run))


def test_by_default_a_run_writes_under_results(plan):
    assert (plan.results_dir, plan.datasets_dir) == ("results", "results/datasets")
    assert plan.cell_log.startswith("results/logs/")
    assert plan.cell_benchmark.startswith("results/benchmarks/")


def test_every_path_of_a_run_is_under_its_results_dir(elsewhere):
    # Given as "runs/a/" and "./shared/data": spelled one way, or Snakemake would see two files.
    assert (elsewhere.results_dir, elsewhere.datasets_dir) == ("runs/a", "shared/data")
    for pattern in (elsewhere.cell_result, elsewhere.cell_log, elsewhere.cell_benchmark):
        assert pattern.startswith("runs/a/") and "//" not in pattern
    assert elsewhere.dataset_log.startswith("runs/a/logs/datasets/")
    assert elsewhere.dataset_dir.startswith("shared/data/")
    assert elsewhere.run_dir(SimpleNamespace()) == "runs/a"
    for name in elsewhere.experiments:
        wildcards = SimpleNamespace(experiment=name)
        assert elsewhere.experiment_dir(wildcards) == f"runs/a/{name}"
        cells = elsewhere.experiment_cells(wildcards)
        assert cells and all(c.startswith(f"runs/a/{name}/cells/") for c in cells)
    for run in elsewhere.runs:
        assert elsewhere.cell_dataset(_wildcards(run)).startswith("shared/data/")
    with pytest.raises(ValueError, match=r"^runs/a/golden/.*w64 is not a cell"):
        elsewhere.cell_args(
            SimpleNamespace(**dict(vars(_wildcards(elsewhere.runs[0])), workers="64"))
        )


def test_the_results_dir_does_not_change_what_a_cell_measures(plan, elsewhere):
    # Moving a run must not re-run its cells: their arguments and provenance are the same.
    assert elsewhere.config_hash == plan.config_hash
    for run in plan.runs:
        wildcards = _wildcards(run)
        assert elsewhere.cell_args(wildcards) == plan.cell_args(wildcards)
        assert elsewhere.cell_priority(wildcards) == plan.cell_priority(wildcards)


def test_a_path_outside_the_grid_is_refused_naming_it(plan):
    run = plan.runs[0]
    wildcards = _wildcards(run)
    wildcards.workers = "64"
    with pytest.raises(ValueError, match=r"w64 is not a cell of the configured grid"):
        plan.cell_args(wildcards)
    wildcards = _wildcards(run)
    wildcards.round = "9"
    with pytest.raises(ValueError, match=r"-r9.json is not a round of the configured grid"):
        plan.cell_priority(wildcards)


def test_cell_arguments_are_the_run_cell_flags_of_that_round(plan):
    parser = build_parser()
    for run in plan.runs:
        experiment = plan.config["experiments"][run.cell.experiment]
        argv = shlex.split(plan.cell_args(_wildcards(run)))
        args = parser.parse_args(
            ["run-cell", *argv, "--dataset", "d", "--output", "o.json", "--config-hash", "h"]
        )
        cell = run.cell
        assert (args.experiment, args.task, args.storage, args.cache) == (
            cell.experiment,
            cell.task,
            cell.storage,
            cell.cache,
        )
        assert tuple(args.size) == (cell.width, cell.height)
        assert (args.n_images, args.strategy, args.workers) == (
            cell.n_images,
            cell.strategy,
            cell.workers,
        )
        assert (args.repeats, args.warmup, args.round, args.rounds) == (
            experiment["repeats"],
            experiment["warmup"],
            run.round,
            experiment["rounds"],
        )
        assert args.start_method == experiment["start_method"]
        assert args.eviction == experiment["cache_eviction"]


def test_priorities_follow_the_round_by_round_order_after_the_datasets(plan):
    priorities = {run: plan.cell_priority(_wildcards(run)) for run in plan.runs}
    ordered = sorted(plan.runs, key=lambda r: -priorities[r])
    assert [r.round for r in ordered] == sorted(r.round for r in plan.runs)
    assert max(priorities.values()) < plan.dataset_priority


def test_only_experiments_with_a_known_answer_task_are_calibrated(plan):
    assert plan.calibrated == ["golden"]
    outputs = ["results/{experiment}/calibration.csv"]
    assert plan.calibration(SimpleNamespace(experiment="golden"), outputs) == [
        "results/golden/calibration.csv"
    ]
    assert plan.calibration(SimpleNamespace(experiment="tiny_images"), outputs) == []


def test_the_result_pattern_names_exactly_the_cell_rule_wildcards():
    names = {f for _, f, _, _ in string.Formatter().parse(RESULT_PATTERN) if f}
    assert names == {f.name for f in fields(CellSpec)} | {"round"}


def _pattern_regex(pattern: str) -> re.Pattern:
    """A Snakemake file pattern ("{name}" or "{name,regex}") as the regex it matches."""
    parts = re.split(r"\{([^{}]+)\}", pattern)
    regex = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(part)
        else:
            name, _, constraint = part.partition(",")
            regex += f"(?P<{name}>{constraint or '.+'})"
    return re.compile(regex + "$")


def test_the_report_finds_each_task_and_size_figure_of_the_grid_as_itself(plan):
    # The figures rule declares the per-workload folder; the report takes each PNG in it
    # by WORKLOAD_PATTERNS: every task and size of the grid must come back as itself,
    # save_png's underscore included.
    from imgbench.report.figures import FIGURES, PER_WORKLOAD
    from imgbench.workflow import WORKLOAD_DIR, WORKLOAD_PATTERNS

    workloads = {(c.task, f"{c.width}x{c.height}") for c in plan.cells}
    workloads |= {("save_png", "640x480")}
    assert len(WORKLOAD_PATTERNS) == len(PER_WORKLOAD) == 1
    regex = _pattern_regex(WORKLOAD_PATTERNS[0])
    for task, size in sorted(workloads):
        folder, name = FIGURES[PER_WORKLOAD[0]].workload_file(task, size).split("/")
        assert folder == WORKLOAD_DIR
        match = regex.match(f"{name}.png")
        assert match and match.groupdict() == {"task": task, "size": size}, name
    rules = (ROOT / "workflow/rules/figures.smk").read_text()
    assert 'directory(f"{RESULTS}/{{experiment}}/figures/{WORKLOAD_DIR}")' in rules
    assert "patterns=WORKLOAD_PATTERNS" in rules
