"""Cluster execution without a cluster: the real workflow through real executor plugins.

The cluster-generic plugin submits every non-local job (cells, datasets) as a job script
through a stand-in for ``sbatch`` that runs it as a separate background process; the
SLURM plugin is checked with a dry run of profiles/slurm, with fake SLURM commands on PATH
that only record that they were called.
"""

import json
import os
import re
import shlex
import socket
import stat
from pathlib import Path

import pandas as pd
import pytest
import yaml

from imgbench.analysis.tables import NAMES
from tests.helpers import CONFIGS, ROOT, job_stats, snakemake

PROFILE = ROOT / "profiles/slurm"
pytestmark = pytest.mark.e2e

SMALL = yaml.safe_load((CONFIGS / "cluster.yaml").read_text())
# serial runs once (workers = 1), threads with 2 workers; one JPEG dataset.
CELLS = 2
DATASETS = 1
LOCAL_RULES = {
    "all",
    "resolved_config",
    "aggregate",
    "calibration",
    "figures",
    "slides",
    "markdown",
    "reference",
    "bundle",
}
SUBMITTED_RULES = {"cell", "dataset"}
TABLES = NAMES

# Stands in for sbatch: logs the submission, starts the job script as its own process
# (detached: the executor waits for this script's output to end), prints a job id.
SUBMIT = """#!/bin/sh
rule="$1"
jobscript="$2"
here="$(dirname "$0")"
nohup sh "$jobscript" > "$here/jobs/$(basename "$jobscript").out" 2>&1 < /dev/null &
echo "$! $rule $jobscript" >> "$here/submissions.log"
echo "$!"
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _workdir(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "small.yaml").write_text(yaml.safe_dump(SMALL))
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same config run locally and through the cluster-generic executor."""
    base = tmp_path_factory.mktemp("cluster")
    local = _workdir(base / "local")
    snakemake(local, "--cores", "2", config="small.yaml")

    cluster = _workdir(base / "cluster")
    submit = _executable(base / "submit.sh", SUBMIT)
    (base / "jobs").mkdir()
    snakemake(
        cluster,
        "--executor",
        "cluster-generic",
        # {rule} is filled in per job by the plugin; the job script's path is appended.
        "--cluster-generic-submit-cmd",
        f"{shlex.quote(str(submit))} {{rule}}",
        "--jobs",
        "2",
        # The cell rule's threads are workflow.cores: on a cluster it must be given.
        "--cores",
        "2",
        "--seconds-between-status-checks",
        "1",
        "--retries",
        "0",
        config="small.yaml",
    )
    log = base / "submissions.log"
    submissions = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return {"local": local, "cluster": cluster, "submissions": submissions, "base": base}


def _cells(workdir: Path) -> list[str]:
    root = workdir / "results/small/cells"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.json"))


def test_cluster_run_writes_what_a_local_run_writes(runs):
    local, cluster = runs["local"], runs["cluster"]
    assert len(_cells(local)) == CELLS
    assert _cells(cluster) == _cells(local)
    for table in TABLES:
        ours = pd.read_csv(cluster / f"results/small/{table}.csv")
        theirs = pd.read_csv(local / f"results/small/{table}.csv")
        assert list(ours.columns) == list(theirs.columns), table
        assert len(ours) == len(theirs), table
    keys = ["task", "storage", "cache", "strategy", "workers"]
    summary = pd.read_csv(cluster / "results/small/summary.csv")
    assert len(summary) == CELLS
    assert sorted(map(tuple, summary[keys].values.tolist())) == sorted(
        map(tuple, pd.read_csv(local / "results/small/summary.csv")[keys].values.tolist())
    )
    for name in ["slides.html", "metadata.json", "figures/speedup.png"]:
        assert (cluster / "results/small" / name).is_file(), name
    assert (cluster / "results/bundle.zip").is_file()


def test_each_cell_records_the_host_it_ran_on(runs):
    for path in (runs["cluster"] / "results/small/cells").rglob("*.json"):
        result = json.loads(path.read_text())
        assert result["machine"]["hostname"] == socket.gethostname(), path
        assert len(result["repetitions"]) == SMALL["experiments"]["small"]["repeats"]
        assert all(rep["verified"] for rep in result["repetitions"])


def test_cells_and_datasets_were_submitted_as_separate_jobs(runs):
    submissions = runs["submissions"]
    assert len(submissions) >= CELLS + DATASETS, submissions
    rules = [rule for _, rule, _ in submissions]
    assert rules.count("cell") == CELLS and rules.count("dataset") == DATASETS, rules
    # Every job got its own process and its own job script.
    assert len({pid for pid, _, _ in submissions}) == len(submissions)
    assert len({script for _, _, script in submissions}) == len(submissions)
    # ... and each ran snakemake for its one job.
    outs = sorted((runs["base"] / "jobs").glob("*.out"))
    assert len(outs) == len(submissions)
    for out in outs:
        assert "1 of 1 steps (100%) done" in out.read_text(), out


def test_local_rules_were_not_submitted(runs):
    assert {rule for _, rule, _ in runs["submissions"]} == SUBMITTED_RULES


ACTING_SLURM = {"sbatch", "srun", "salloc", "scancel"}
FAKE_SLURM = [*sorted(ACTING_SLURM), "sinfo", "squeue", "sacct", "sacctmgr", "scontrol"]


def test_slurm_profile_dry_run_plans_the_grid(tmp_path, monkeypatch):
    """A dry run with the SLURM plugin and the shipped profile, submitting nothing.

    Fake SLURM commands on PATH record every call and fail, so that the test fails (instead
    of submitting anything) should the plugin ever submit in a dry run.
    """
    fake = tmp_path / "fake-slurm"
    fake.mkdir()
    calls = tmp_path / "slurm-calls.log"
    for name in FAKE_SLURM:
        _executable(fake / name, f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit 1\n')
    workdir = _workdir(tmp_path / "work")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ.get('PATH', '')}")
    done = snakemake(
        workdir,
        "--executor",
        "slurm",
        "--workflow-profile",
        str(PROFILE),
        "-n",
        config="small.yaml",
    )
    # The plugin may query SLURM's configuration even in a dry run (scontrol show config);
    # nothing may be submitted, run or cancelled.
    called = calls.read_text().splitlines() if calls.exists() else []
    assert not [c for c in called if c.split()[0] in ACTING_SLURM], called
    assert f"workflow specific profile {PROFILE}" in done.stdout + done.stderr
    assert job_stats(done.stdout) == {
        "dataset": DATASETS,
        "resolved_config": 1,
        "cell": CELLS,
        "aggregate": 1,
        "figures": 1,
        "slides": 1,
        "markdown": 1,
        "bundle": 1,
        "all": 1,
    }
    # A cell asks for a whole node and its cores; not the 1 thread a bare dry run gives it.
    profile = yaml.safe_load((PROFILE / "profile.yaml").read_text())
    cells = done.stdout.split("rule cell:")[1:]
    assert len(cells) == CELLS
    for block in cells:
        assert f"threads: {profile['cores']}" in block
        assert "slurm_extra=--exclusive" in block


def test_profile_gives_cells_an_exclusive_node_and_keeps_bookkeeping_local():
    profile = yaml.safe_load((PROFILE / "profile.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["retries"] == 0
    assert profile["slurm-no-requeue"] is True
    assert isinstance(profile["cores"], int) and profile["cores"] >= 2
    cell = profile["set-resources"]["cell"]
    # Resource values are Python expressions: the string needs its own quotes.
    assert cell["slurm_extra"] in ("'--exclusive'", '"--exclusive"')
    assert "slurm_extra" not in profile["set-resources"].get("dataset", {})
    assert {"runtime", "mem_mb"} <= set(profile["default-resources"])

    text = (ROOT / "Snakefile").read_text()
    block = re.search(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", text, flags=re.M)
    assert block, "no localrules: directive in the Snakefile"
    local = set(re.findall(r"\w+", block.group(1)))
    assert local == LOCAL_RULES
    assert not local & SUBMITTED_RULES
