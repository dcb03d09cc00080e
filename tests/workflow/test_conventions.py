"""The workflow's conventions, kept from falling behind the code they describe.

- ``LICENSE`` is the MIT license that ``pyproject.toml`` names.
- ``config/README.md`` shows every key of the config schema in an example, every example is
  a valid config, and its table names every task option of the registry.
- The default workflow profile (``profiles/default``) holds only Snakemake options that
  change neither which jobs run nor what a cell measures, and Snakemake picks it up by
  itself (the one ``e2e`` test here).
- ``envs/imgbench.yaml`` (``--sdm conda``) pins every package to the version of
  ``envs/requirements.lock`` (pip), and lists every runtime dependency of the package.
"""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
import yaml

from imgbench.measure.tasks import TASKS
from imgbench.plan.config import apply_schema, load_schema, resolve_config
from imgbench.plan.grid import expand_cells, expand_runs
from tests.helpers import CONFIGS, ROOT, pythons_unavailable, snakemake

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONFIG_README = (ROOT / "config/README.md").read_text()
PROFILE_DIR = ROOT / "profiles/default"
PROFILE = yaml.safe_load((PROFILE_DIR / "config.yaml").read_text())
CONDA_ENV = yaml.safe_load((ROOT / "envs/imgbench.yaml").read_text())
LOCK = ROOT / "envs/requirements.lock"


# -- LICENSE -----------------------------------------------------------------------------------


def test_license_file_is_the_mit_license_pyproject_names():
    license = PYPROJECT["project"]["license"]
    # The table form ({text = "MIT"}) or an SPDX expression ("MIT"), as setuptools accepts.
    assert (license["text"] if isinstance(license, dict) else license) == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


# -- config/README.md --------------------------------------------------------------------------


def _readme_configs() -> list[dict]:
    """Every ```yaml block of config/README.md, parsed."""
    blocks = re.findall(r"^```yaml\n(.*?)^```$", CONFIG_README, flags=re.M | re.S)
    assert blocks, "config/README.md has no yaml examples"
    return [yaml.safe_load(block) for block in blocks]


def _schema_keys(schema: dict, node: dict, path: str = "") -> set[str]:
    """Dotted paths of every key the schema defines; ``*`` stands for a name the user
    chooses (an experiment's)."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    keys = set()
    for name, sub in node.get("properties", {}).items():
        keys |= {f"{path}{name}", *_schema_keys(schema, sub, f"{path}{name}.")}
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and ("$ref" in extra or "properties" in extra):
        keys |= _schema_keys(schema, extra, f"{path}*.")
    return keys


def _example_keys(data: dict, path: str = "") -> set[str]:
    """Dotted paths of every key set in a config, experiment names written ``*``."""
    keys = set()
    for name, value in data.items():
        here = f"{path}*" if path == "experiments." else f"{path}{name}"
        keys.add(here)
        if isinstance(value, dict):
            keys |= _example_keys(value, f"{here}.")
    return keys


def test_config_readme_shows_every_schema_key_in_an_example():
    schema = load_schema()
    shown = set().union(*(_example_keys(config) for config in _readme_configs()))
    missing = sorted(_schema_keys(schema, schema) - shown)
    assert not missing, f"config/README.md shows no example of: {', '.join(missing)}"


def _resolved(config: dict, scratch) -> dict:
    """The config resolved, its scratch directories this test's own: they must exist and be
    writable where it runs (/dev/shm is not everywhere)."""
    return resolve_config({**config, "scratch": {"disk": str(scratch), "shm": str(scratch)}})


def test_config_readme_examples_are_valid_configs(tmp_path):
    for config in _readme_configs():
        if pythons_unavailable(config):
            # Interpreters this machine lacks: the schema alone checks the example.
            apply_schema(config)
            continue
        _resolved(config, tmp_path)
        if "reference" in config:
            assert (ROOT / config["reference"]).is_file(), config["reference"]


def test_config_readme_counts_the_cells_of_its_example_right(tmp_path):
    config = _resolved(_readme_configs()[0], tmp_path)
    said = re.search(r"This experiment has (\d+) cells.*?run as (\d+) jobs", CONFIG_README, re.S)
    assert said, "config/README.md no longer counts the cells of its first example"
    assert (len(expand_cells(config)), len(expand_runs(config))) == tuple(map(int, said.groups()))


def test_config_readme_names_every_task_option():
    rows = [line for line in CONFIG_README.splitlines() if line.startswith("| `")]
    for name, task in TASKS.items():
        for option, default in task.options.items():
            row = [r for r in rows if f"`{name}`" in r and f"| `{option}` |" in r]
            assert row, f"config/README.md's table has no row for {name}'s option {option}"
            assert f"| `{default}` |" in row[0], f"{name}.{option}: default is {default!r}"


# -- the default profile -----------------------------------------------------------------------

#: Options that would change which jobs run (after a failure, an interruption, or at all) or
#: what a cell measures (its threads, so that it no longer runs alone; its software): each
#: belongs on the command line of the run that wants it, never in every run's defaults.
CHANGES_JOBS_OR_CELLS = {
    "keep-going",
    "rerun-incomplete",
    "forceall",
    "forcerun",
    "until",
    "omit-from",
    "touch",
    "retries",
    "set-threads",
    "max-threads",
    "set-resources",
    "resources",
    "software-deployment-method",
    "sdm",
    "use-conda",
    "scheduler",
}


def test_default_profile_sets_only_harmless_snakemake_options():
    from snakemake.cli import get_argument_parser

    options = get_argument_parser()._option_string_actions
    unknown = [key for key in PROFILE if f"--{key}" not in options]
    assert not unknown, f"not Snakemake options: {unknown}"
    assert not set(PROFILE) & CHANGES_JOBS_OR_CELLS


def test_default_profile_keeps_every_rerun_trigger():
    from snakemake.settings.enums import RerunTrigger

    assert sorted(PROFILE["rerun-triggers"]) == sorted(RerunTrigger.choices())


def test_default_profile_cores_are_the_readme_and_makefile_default():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^CORES \?= {PROFILE['cores']}$", makefile, re.M)


@pytest.mark.e2e
def test_snakemake_picks_up_the_default_profile_by_itself(tmp_path):
    # Started from another directory, with no --cores: the profile is found next to the
    # Snakefile, and its cores are what every cell job asks for (a bare dry run gives 1).
    proc = snakemake(
        tmp_path,
        "-n",
        config=CONFIGS / "cluster.yaml",
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert f"workflow specific profile {PROFILE_DIR} " in err
    cells = out.split("rule cell:")[1:]
    assert cells
    for block in cells:
        assert f"threads: {PROFILE['cores']}\n" in block


# -- the conda environment against the pip lock ------------------------------------------------

#: conda-forge names that differ from PyPI's, for the packages the environment lists.
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}


def _canonical(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_canonical(name)] = version.strip()
    return pins


def _conda_specs() -> dict[str, str]:
    """conda package -> its version spec, as envs/imgbench.yaml writes them."""
    specs = {}
    for dep in CONDA_ENV["dependencies"]:
        name, _, spec = dep.partition(" ")
        specs[name] = spec.strip()
    return specs


def test_conda_env_pins_the_locks_version_of_every_package():
    lock = _lock()
    wrong = []
    for name, spec in _conda_specs().items():
        if name == "python":  # not in the lock; checked below
            continue
        pypi = _canonical(CONDA_TO_PYPI.get(name, name))
        if pypi not in lock:
            wrong.append(f"{name}: not in {LOCK.name}")
        elif spec != f"=={lock[pypi]}":
            wrong.append(f"{name} {spec!r}: the lock has =={lock[pypi]}")
    assert not wrong, "envs/imgbench.yaml disagrees with the lock:\n  " + "\n  ".join(wrong)


def test_conda_env_lists_every_runtime_dependency():
    listed = {_canonical(CONDA_TO_PYPI.get(name, name)) for name in _conda_specs()}
    needed = {
        _canonical(re.match(r"[A-Za-z0-9._-]+", dep).group())
        for dep in PYPROJECT["project"]["dependencies"]
    }
    # Snakemake runs the jobs; it is not run inside their environment.
    assert needed - {"snakemake"} <= listed, sorted(needed - {"snakemake"} - listed)


def test_conda_env_python_is_the_one_pyproject_requires():
    python = _conda_specs()["python"]
    assert python.split(",")[0] == PYPROJECT["project"]["requires-python"]
    assert CONDA_ENV["channels"] == ["conda-forge", "nodefaults"]
