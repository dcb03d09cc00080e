"""The imgbench command behaves: --version, help for every option, run-cell's defaults equal
to the config's, a readable info, and validate-config's merge, problems and warnings."""

from __future__ import annotations

import argparse
import importlib.metadata
import json

import pytest
import yaml

import imgbench
from imgbench.cli import DATASET_SEED, SCRATCH, build_parser, main
from imgbench.plan.config import load_schema, load_yaml
from tests.helpers import ROOT


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_version_is_the_installed_distributions(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    version = importlib.metadata.version("imgbench")
    assert capsys.readouterr().out == f"imgbench {version}\n"
    assert imgbench.__version__ == version


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    commands = _subcommands(parser)
    assert {"run-cell", "info", "validate-config", "aggregate"} <= set(commands)
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, command in [("imgbench", parser), *commands.items()]
        for action in command._actions
        if not (action.help and action.help.strip())
    ]
    assert not missing, missing
    for name, command in commands.items():
        command.format_help()  # every %(default)s expands
        assert command.description, name


def test_help_states_defaults_and_no_markup():
    parser = build_parser()
    top = parser.format_help()
    assert "``" not in top
    assert "imgbench: every stage of the benchmark workflow" in top
    run_cell = " ".join(_subcommands(parser)["run-cell"].format_help().split())
    for shown in ("(default: 3)", "(default: 1)", "(default: disk)", "(default: cold)"):
        assert shown in run_cell
    # No "(default: None)" where an option is unset unless given, nor on a required one.
    for command in _subcommands(parser).values():
        text = command.format_help()
        assert "default: None" not in text and "PosixPath" not in text and "``" not in text


def _required(command: argparse.ArgumentParser) -> set[str]:
    return {a.dest for a in command._actions if a.required}


def test_run_cell_asks_only_for_what_defines_the_cell(tmp_path):
    run_cell = _subcommands(build_parser())["run-cell"]
    assert _required(run_cell) == {
        "experiment",
        "task",
        "size",
        "n_images",
        "strategy",
        "workers",
        "dataset",
        "output",
    }
    args = build_parser().parse_args(
        ["run-cell", "--experiment", "e", "--task", "decode", "--size", "32x24"]
        + ["--n-images", "4", "--strategy", "serial", "--workers", "1"]
        + ["--dataset", "d", "--output", "o.json"]
    )
    assert (args.storage, args.cache, args.repeats, args.warmup) == ("disk", "cold", 3, 1)
    assert args.scratch is None and args.timeout is None  # the storage's scratch, no limit


def test_run_cell_defaults_are_the_configs():
    schema = load_schema()
    experiment = schema["$defs"]["experiment"]["properties"]
    run_cell = _subcommands(build_parser())["run-cell"]
    defaults = {a.dest: a.default for a in run_cell._actions}
    assert defaults["repeats"] == experiment["repeats"]["default"]
    assert defaults["warmup"] == experiment["warmup"]["default"]
    assert [defaults["storage"]] == experiment["storage"]["default"]
    assert [defaults["cache"]] == experiment["cache"]["default"]
    assert defaults["start_method"] == experiment["start_method"]["default"]
    assert defaults["eviction"] == experiment["cache_eviction"]["default"]
    scratch = schema["properties"]["scratch"]["properties"]
    assert {k: str(v) for k, v in SCRATCH.items()} == {k: v["default"] for k, v in scratch.items()}
    assert schema["properties"]["dataset_seed"]["default"] == DATASET_SEED
    make_dataset = _subcommands(build_parser())["make-dataset"]
    assert make_dataset.get_default("seed") == DATASET_SEED


def test_info_is_readable_and_json_for_machines(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    for shown in ("usable core", "cold cache here:", "fadvise", "drop_caches", "mincore"):
        assert shown in text
    assert "start method: " in text and "Pillow " in text and "strategies:" in text
    assert not text.lstrip().startswith("{")
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"machine", "tasks", "strategies"} <= set(info)
    assert info["machine"]["usable_cores"] >= 1


def _write(tmp_path, name: str, config: dict):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _experiment(**keys) -> dict:
    return {"tasks": ["decode"], "strategies": ["serial", "threads"], "workers": [1], **keys}


def test_validate_config_merges_files_as_snakemake_does(tmp_path, capsys):
    a = _write(tmp_path, "a.yaml", {"experiments": {"a": _experiment()}})
    b = _write(tmp_path, "b.yaml", {"experiments": {"b": _experiment()}})
    assert main(["validate-config", a, b]) == 0
    # Snakemake plans both experiments; a top-level dict.update kept the last file's only.
    assert capsys.readouterr().out.startswith("config valid: 2 experiments, ")
    presets = [str(p) for p in sorted((ROOT / "config" / "presets").glob("*.yaml"))[:2]]
    assert main(["validate-config", *presets]) == 0
    wanted = sum(len(load_yaml(p)["experiments"]) for p in presets)
    assert capsys.readouterr().out.startswith(f"config valid: {wanted} experiments, ")


def test_validate_config_lists_every_problem_with_the_nearest_name(tmp_path, capsys):
    bad = _experiment(wokers=[2], strategies=["serial", "thread"], cache=["cld"])
    path = _write(tmp_path, "bad.yaml", {"experiments": {"e": bad}})
    assert main(["validate-config", path]) == 1
    err = capsys.readouterr().err
    assert (
        "imgbench: error: invalid config (3 problems):\n"
        "  config key experiments.e: unknown key 'wokers'; did you mean 'workers'?\n"
        "  config key experiments.e.cache[0]: 'cld' is not one of ['cold', 'warm']; "
        "did you mean 'cold'?\n"
        "  config key experiments.e.strategies[1]: unknown value 'thread'; "
        "did you mean 'threads'?\n"
    ) in err


def test_validate_config_warns_but_accepts(tmp_path, capsys, monkeypatch):
    import imgbench.measure.machine

    monkeypatch.setattr(imgbench.measure.machine, "usable_cores", lambda: 2)
    few = _experiment(rounds=1, repeats=2, workers=[1, 64])
    path = _write(tmp_path, "few.yaml", {"experiments": {"e": few}})
    assert main(["validate-config", path]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("config valid: 1 experiments, ")
    assert err.splitlines() == [
        "imgbench: warning: config key experiments.e: 1 round x 2 repeats = 2 timed "
        "repetitions per cell, fewer than the 6 a 95% CI of the median needs; its interval "
        "will be [min, max], at 50% confidence",
        "imgbench: warning: config key experiments.e.workers: 64 exceeds the 2 cores usable "
        "here; the CPU-bound tasks (decode) can use at most 2 at once",
    ]


def test_validate_config_defaults_to_the_workflows_config(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["validate-config"]) == 0
    assert capsys.readouterr().out.startswith("config valid: ")
