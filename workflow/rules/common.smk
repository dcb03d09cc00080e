# The rules' input functions and parameters come from the package (imgbench.workflow), so
# they are tested without Snakemake; this file only binds them to this workflow.
import json
import os
import sys
from pathlib import Path

from snakemake import __version__ as SNAKEMAKE_VERSION
from snakemake_interface_executor_plugins.settings import DeploymentMethod

# The engine is the package in src/: import it from this checkout, so the workflow runs the
# code it ships with even where the package is not installed (e.g. with --sdm conda).
SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))

from imgbench.measure.machine import SNAKEMAKE_VERSION_ENV
from imgbench.plan.config import resolve_config
from imgbench.plan.estimate import format_plan, plan_report
from imgbench.workflow import (
    FIGURES,
    FORMATS,
    TABLES,
    WorkflowPlan,
    imgbench_command,
)

# Validated against the schema (defaults filled in, in place) and the registries, every
# problem at once with the nearest valid name, as `imgbench validate-config` does.
config.update(resolve_config(config))
PLAN = WorkflowPlan(config, basedir=workflow.basedir)
if workflow.is_main_process:
    for warning in PLAN.warnings:
        print(f"imgbench: warning: {warning}", file=sys.stderr)
    if not workflow.dryrun:
        # What the run will cost, timed by this run's own earlier results where there are
        # some, else by a short calibration here (a few seconds; `imgbench plan` alone
        # prints the same before a run).
        print(
            format_plan(plan_report(config, previous=PLAN.previous_run())),
            file=sys.stderr,
        )
# Jobs inherit the environment: each cell records the driving Snakemake's version without
# importing importlib.metadata (start-up paid by every job).
os.environ[SNAKEMAKE_VERSION_ENV] = SNAKEMAKE_VERSION
EXPERIMENTS = PLAN.experiments
# This run's directory (config key results_dir): the rules' outputs, logs and benchmarks are
# spelled under it, so that runs of different presets keep their results apart.
RESULTS = PLAN.results_dir
IMGBENCH = imgbench_command(
    SRC, DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
)


wildcard_constraints:
    **PLAN.wildcard_constraints(),


def get_resolved_config(wildcards):
    return json.dumps(config, sort_keys=True)


# Outputs of later rules, looked up when a job is planned (the rules exist by then).
def get_calibration(wildcards):
    return PLAN.calibration(wildcards, rules.calibration.output)


def get_reference_outputs(wildcards=None):
    return PLAN.reference_outputs(rules.reference.output)
