import json
import re
import shlex
import sys
from pathlib import Path

from snakemake_interface_executor_plugins.settings import DeploymentMethod

# The engine is the package in src/: import it from this checkout, so the workflow runs the
# code it ships with even where the package is not installed (e.g. with --sdm conda).
SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))

from imgbench.vocabulary import CellSpec
from imgbench.plan.config import check_config, experiment_hash, task_options
from imgbench.plan.grid import (
    CellRun,
    DatasetSpec,
    expand_cells,
    expand_runs,
    plan_datasets,
    run_order,
    source_dataset,
)
from imgbench.measure.known_answers import KNOWN_ANSWER_TASKS
from imgbench.measure.strategies import STRATEGIES
from imgbench.measure.tasks import TASKS

check_config(config)

EXPERIMENTS = sorted(config["experiments"])
CELLS = expand_cells(config)
RUNS = expand_runs(config, CELLS)
DATASET_OF = plan_datasets(config, CELLS)
# Round r of every cell before round r + 1 of any, shuffled within a round: the scheduler
# starts the ready job of highest priority, and a cell takes every core, so jobs run in
# exactly this order. Datasets come first of all: a cell must never wait for one while a
# later cell whose dataset is ready runs in its place.
RUN_ORDER = run_order(config, RUNS)
DATASET_PRIORITY = len(RUNS) + 1
# Provenance of each experiment's cells; as a rule parameter, a change re-runs them.
CONFIG_HASH = {name: experiment_hash(config, name) for name in EXPERIMENTS}
RESULTS = "results"
# Experiments that run a known-answer task get a calibration table and slide.
CALIBRATED = [
    name
    for name in EXPERIMENTS
    if {t.name for t in KNOWN_ANSWER_TASKS} & set(config["experiments"][name]["tasks"])
]
FIGURES = [
    "speedup",
    "efficiency",
    "faster_than_serial",
    "time_vs_n",
    "best_strategy",
    "repetitions",
    "overhead",
]
TABLES = [
    "timings",
    "summary",
    "speedup",
    "efficiency",
    "amdahl",
    "comparisons",
    "recommendations",
]


def _python():
    """This interpreter, by one name whichever of its names started Snakemake.

    `snakemake` runs as .../bin/python3 and `python -m snakemake` as .../bin/python: the
    command is a rule parameter, so two names would re-run every finished job. Symlinks are
    not resolved: a virtual environment's interpreter is known by its own path.
    """
    executable = Path(sys.executable)
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for name in ("python", f"python{sys.version_info[0]}", minor):
        candidate = executable.with_name(name)
        try:
            if candidate.samefile(executable):
                return str(candidate)
        except OSError:
            continue
    return str(executable)


def _imgbench_command():
    """How rules call the engine: this checkout's package, in the job's Python."""
    with_conda = (
        DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    )
    python = "python" if with_conda else shlex.quote(_python())
    return f"PYTHONPATH={shlex.quote(str(SRC))}${{PYTHONPATH:+:$PYTHONPATH}} {python} -m imgbench"


IMGBENCH = _imgbench_command()


def _alternatives(names):
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


wildcard_constraints:
    experiment=_alternatives(EXPERIMENTS),
    task=_alternatives(TASKS),
    strategy=_alternatives(STRATEGIES),
    storage="disk|shm",
    cache="cold|warm",
    format="raw|png|jpeg|bmp",
    color="rgb|grey",
    width=r"\d+",
    height=r"\d+",
    n_images=r"\d+",
    workers=r"\d+",
    round=r"\d+",
    images=r"\d+",
    seed=r"\d+",


def run_path(run):
    return f"{RESULTS}/{run.path}"


def dataset_path(dataset):
    return f"{RESULTS}/datasets/{dataset.name}"


def _cell_from_wildcards(wildcards):
    cell = CellSpec(
        wildcards.experiment,
        wildcards.task,
        wildcards.storage,
        wildcards.cache,
        int(wildcards.width),
        int(wildcards.height),
        int(wildcards.n_images),
        wildcards.strategy,
        int(wildcards.workers),
    )
    if cell not in DATASET_OF:
        raise ValueError(
            f"{RESULTS}/{cell.relative_path} is not a cell of the configured grid"
        )
    return cell


def _run_from_wildcards(wildcards):
    run = CellRun(_cell_from_wildcards(wildcards), int(wildcards.round))
    if run not in RUN_ORDER:
        raise ValueError(f"{run_path(run)} is not a round of the configured grid")
    return run


def get_cell_priority(wildcards):
    return len(RUNS) - RUN_ORDER[_run_from_wildcards(wildcards)]


def get_cell_dataset(wildcards):
    return dataset_path(DATASET_OF[_cell_from_wildcards(wildcards)])


def get_cell_args(wildcards):
    """Run parameters of a cell from the config, quoted for the shell."""
    experiment = config["experiments"][wildcards.experiment]
    return shlex.join(
        [
            "--experiment",
            wildcards.experiment,
            "--task",
            wildcards.task,
            "--storage",
            wildcards.storage,
            "--cache",
            wildcards.cache,
            "--size",
            f"{wildcards.width}x{wildcards.height}",
            "--n-images",
            wildcards.n_images,
            "--strategy",
            wildcards.strategy,
            "--workers",
            wildcards.workers,
            "--repeats",
            str(experiment["repeats"]),
            "--warmup",
            str(experiment["warmup"]),
            "--scratch",
            config["scratch"][wildcards.storage],
            "--timeout",
            str(experiment["timeout_s"]),
            "--round",
            wildcards.round,
            "--rounds",
            str(experiment["rounds"]),
            "--start-method",
            experiment["start_method"],
            "--eviction",
            experiment["cache_eviction"],
        ]
        + [
            f"--option={name}={value}"
            for name, value in sorted(task_options(experiment, wildcards.task).items())
        ]
    )


def get_cell_config_hash(wildcards):
    return CONFIG_HASH[wildcards.experiment]


def get_dataset_source(wildcards):
    """An encoded dataset is made from the raw dataset of its size; a raw one from nothing."""
    target = DatasetSpec(
        wildcards.format,
        int(wildcards.width),
        int(wildcards.height),
        int(wildcards.images),
        int(wildcards.seed),
        wildcards.color,
    )
    source = source_dataset(config, CELLS, target)
    return {"source": dataset_path(source)} if source else {}


def get_dataset_source_args(wildcards, input):
    return shlex.join(["--source", input.source]) if "source" in input.keys() else ""


def get_experiment_cells(wildcards):
    return [run_path(r) for r in RUNS if r.cell.experiment == wildcards.experiment]


def experiment_dir(wildcards):
    return f"{RESULTS}/{wildcards.experiment}"


def get_calibration(wildcards):
    if wildcards.experiment not in CALIBRATED:
        return []
    return [
        f"{RESULTS}/{wildcards.experiment}/calibration.csv",
        f"{RESULTS}/{wildcards.experiment}/calibration.json",
    ]


def get_experiment_description(wildcards):
    return config["experiments"][wildcards.experiment]["description"]


def get_resolved_config(wildcards):
    return json.dumps(config, sort_keys=True)


def _reference_file():
    """The config's reference file; a relative path is taken from the workflow's checkout
    when it is not found from the working directory (e.g. with --directory)."""
    name = config.get("reference")
    if not name or Path(name).is_absolute() or Path(name).exists():
        return name
    return str(Path(workflow.basedir) / name)


REFERENCE = _reference_file()


def get_reference_outputs(wildcards=None):
    if not REFERENCE:
        return []
    return [f"{RESULTS}/reference/slides.html", f"{RESULTS}/reference/comparison.csv"]


def get_bundle_flags(wildcards):
    return "--reference" if REFERENCE else ""


def get_final_outputs():
    outputs = [f"{RESULTS}/bundle.zip", *get_reference_outputs()]
    for name in EXPERIMENTS:
        outputs.append(f"{RESULTS}/{name}/slides.html")
    return outputs
