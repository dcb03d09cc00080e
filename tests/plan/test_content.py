"""The ``content`` of an experiment's datasets: photographs by default, stated by every
preset with its reason, and part of each dataset's identity in the plan and the workflow."""

import re
from types import SimpleNamespace

import pytest
import yaml

from imgbench.errors import ConfigError
from imgbench.measure.datasets import CONTENTS
from imgbench.plan.config import resolve_config
from imgbench.plan.grid import expand_cells, plan_datasets, source_dataset
from imgbench.workflow import DATASET_PATTERN, WorkflowPlan
from tests.helpers import ROOT

PRESETS = sorted((ROOT / "config/presets").glob("*.yaml"))


def _experiment(**keys) -> dict:
    return {"tasks": ["decode", "save_png"], "strategies": ["serial"], "sizes": ["32x16"], **keys}


def test_the_default_content_is_photographs():
    config = resolve_config({"experiments": {"e": _experiment()}})
    assert config["experiments"]["e"]["content"] == "photo"


def test_an_unknown_content_is_refused_naming_the_allowed():
    with pytest.raises(ConfigError) as err:
        resolve_config({"experiments": {"e": _experiment(content="pictures")}})
    text = str(err.value)
    assert "experiments.e.content" in text
    assert all(repr(c) in text for c in CONTENTS)


def _states_content_with_a_reason(path) -> list[str]:
    """The experiments of a config file that do not say ``content:`` below a comment."""
    lines = path.read_text().splitlines()
    config = yaml.safe_load("\n".join(lines))
    stated = [i for i, line in enumerate(lines) if re.match(r"^    content: \w+$", line)]
    reasoned = [i for i in stated if lines[i - 1].lstrip().startswith("#")]
    missing = [e for e, exp in config["experiments"].items() if "content" not in exp]
    if len(reasoned) < len(config["experiments"]):
        missing.append(f"{len(config['experiments']) - len(reasoned)} without a comment")
    return missing


@pytest.mark.parametrize("path", [ROOT / "config/config.yaml", *PRESETS], ids=lambda p: p.name)
def test_every_preset_states_its_content_and_why(path):
    assert not _states_content_with_a_reason(path)
    config = resolve_config(yaml.safe_load(path.read_text()))
    assert {e["content"] for e in config["experiments"].values()} <= set(CONTENTS)


def test_the_default_experiment_and_the_studies_of_photographs_use_photographs():
    def contents(name: str) -> set[str]:
        config = yaml.safe_load((ROOT / name).read_text())
        return {e["content"] for e in config["experiments"].values()}

    assert contents("config/config.yaml") == {"photo"}
    for preset in ("async_reader", "blur_thumbnail", "download_load_grayscale"):
        assert contents(f"config/presets/{preset}.yaml") == {"photo"}
    # Study 002 saved random arrays.
    assert contents("config/presets/tiny_images.yaml") == {"noise"}
    # The golden results were recorded from synthetic images.
    assert contents("tests/configs/golden.yaml") == {"synthetic"}


def test_experiments_that_differ_in_content_read_different_datasets():
    config = resolve_config(
        {
            "experiments": {
                "p": _experiment(),
                "s": _experiment(content="synthetic"),
                "n": _experiment(content="noise"),
            }
        }
    )
    cells = expand_cells(config)
    plan = plan_datasets(config, cells)
    by = {(c.experiment, c.task): plan[c] for c in cells}
    for task in ("decode", "save_png"):
        specs = {by[(e, task)] for e in ("p", "s", "n")}
        assert {s.content for s in specs} == set(CONTENTS)
        assert len({s.name for s in specs}) == 3
    # An encoded dataset is made from the raw dataset of its own content only.
    for e, content in (("p", "photo"), ("s", "synthetic"), ("n", "noise")):
        source = source_dataset(config, cells, by[(e, "decode")])
        assert source == by[(e, "save_png")] and source.content == content


def test_the_dataset_rule_passes_the_content_it_names():
    config = resolve_config({"experiments": {"e": _experiment(content="noise")}})
    plan = WorkflowPlan(config, basedir=ROOT)
    assert "{content}" in DATASET_PATTERN
    constraint = plan.wildcard_constraints()["content"]
    assert all(re.fullmatch(constraint, c) for c in CONTENTS)
    assert not re.fullmatch(constraint, "rgb")
    datasets = set(plan.dataset_of.values())
    (raw,) = [d for d in datasets if d.format == "raw"]
    for dataset in datasets:
        fields = {
            "format": dataset.format,
            "content": dataset.content,
            "color": dataset.color,
            "width": dataset.width,
            "height": dataset.height,
            "images": dataset.count,
            "seed": dataset.seed,
        }
        assert DATASET_PATTERN.format(**fields) == dataset.name
        if dataset.format != "raw":
            wildcards = SimpleNamespace(**{k: str(v) for k, v in fields.items()})
            assert plan.dataset_source(wildcards) == {"source": plan.dataset_path(raw)}
            assert "-noise-" in plan.dataset_path(raw)
    rule = (ROOT / "workflow/rules/datasets.smk").read_text()
    assert "--content {wildcards.content}" in rule
