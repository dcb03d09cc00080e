"""What the Snakemake workflow needs from the package, so that the rules hold no logic.

``workflow/rules/common.smk`` builds one ``WorkflowPlan`` from the validated config and hands
its methods to the rules as input functions and parameters. Everything here is plain
Python over the config and a rule's wildcards (any object with the wildcard names as
attributes), so it is tested without Snakemake (``tests/workflow/test_glue.py``).

Paths are spelled once: the cell result pattern is ``vocabulary.RESULT_PATTERN``, whose
fields are the rule's wildcard names; the tables and figures are the package's registries.
The figures drawn once per task and size are one folder of the figures rule
(``WORKLOAD_DIR``): which files it holds depends on the experiment's tasks and sizes, and
the outputs of a rule cannot, so the rule declares the folder and the Snakemake report
takes each of its PNGs by ``WORKLOAD_PATTERNS``.
Every path a rule writes is under the config's ``results_dir`` (one run's directory: the
presets each name their own, so runs of different presets keep their results apart), except
the datasets, which are under ``datasets_dir`` and shared between runs (see ``WorkflowPlan``).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

from imgbench.analysis.tables import NAMES as TABLES
from imgbench.measure.datasets import CONTENTS, FOLDER_CONTENT
from imgbench.measure.folder import folder_state
from imgbench.measure.strategies import STRATEGIES
from imgbench.measure.tasks import KNOWN_ANSWER_TASKS, TASKS
from imgbench.plan.config import check_config, experiment_hash, task_options
from imgbench.plan.grid import (
    CellRun,
    DatasetSpec,
    dataset_folders,
    expand_cells,
    expand_runs,
    plan_datasets,
    run_order,
    source_dataset,
)
from imgbench.plan.pythons import (
    LOCK,
    check_wheels,
    environment_python,
    experiment_python,
    siblings,
)
from imgbench.plan.pythons import interpreters as config_interpreters
from imgbench.plan.timings import result_files
from imgbench.report.figures import ALWAYS_WRITTEN as FIGURES
from imgbench.report.figures import FIGURES as FIGURE_REGISTRY
from imgbench.report.figures import FORMATS, PER_WORKLOAD, WORKLOAD_CAPTION, WORKLOAD_DIR
from imgbench.vocabulary import (
    CACHES,
    COLORS,
    NATIVE_FORMAT,
    RAW,
    RESULT_PATTERN,
    STORAGES,
    CellSpec,
)
from imgbench.vocabulary import FORMATS as DATASET_FORMATS

__all__ = [
    "FIGURES",
    "FORMATS",
    "TABLES",
    "WORKLOAD_CAPTION",
    "WORKLOAD_DIR",
    "WORKLOAD_PATTERNS",
    "WorkflowPlan",
    "python_command",
]

#: The PNGs of the per-workload figures in their folder, as the Snakemake report finds
#: them: ``{task}`` and ``{size}`` are its wildcards (a size is WIDTHxHEIGHT, so that a task
#: name with an underscore, save_png, is not split).
WORKLOAD_PATTERNS = [
    FIGURE_REGISTRY[stem].per_workload.format(task="{task}", size="{size,[0-9]+x[0-9]+}") + ".png"
    for stem in PER_WORKLOAD
]

#: Where a run's outputs go when the config names no ``results_dir`` (the schema's default),
#: relative to the working directory.
RESULTS = "results"
#: Where datasets go when the config names no ``datasets_dir`` (the schema's default).
DATASETS = f"{RESULTS}/datasets"
#: One round of a cell, relative to the results directory, without its suffix.
RESULT_STEM = RESULT_PATTERN.removesuffix(".json")
#: One dataset, relative to the datasets directory (its fields are the dataset rule's wildcards).
DATASET_PATTERN = "{format}-{content}-{color}-{width}x{height}-n{images}-s{seed}"


def _alternatives(names: Iterable[str]) -> str:
    # Longest first: "processes_chunked" must not match as "processes" + "_chunked".
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


def python_command() -> str:
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


def imgbench_command(src: Path, with_conda: bool, python: str | None = None) -> str:
    """How rules call the engine: this checkout's package (``src``), in the job's Python
    (the environment's own ``python`` under --sdm conda; ``python`` where an experiment
    names its interpreter: that interpreter's environment, ``imgbench.plan.pythons``)."""
    if python is None:
        python = "python" if with_conda else python_command()
    python = shlex.quote(python)
    return f"PYTHONPATH={shlex.quote(str(src))}${{PYTHONPATH:+:$PYTHONPATH}} {python} -m imgbench"


def python_env_command(src: Path, with_conda: bool) -> str:
    """How the python_env rule builds an interpreter's environment: in the jobs' own Python
    (as ``imgbench_command``), whose pip installs into the new venv
    (``imgbench.plan.pythons.build_environment``)."""
    python = "python" if with_conda else shlex.quote(python_command())
    return (
        f"PYTHONPATH={shlex.quote(str(src))}${{PYTHONPATH:+:$PYTHONPATH}} "
        f"{python} -m imgbench.plan.pythons build"
    )


def run_cell_argv(run: CellRun, experiment: dict, scratch: str) -> list[str]:
    """The ``imgbench run-cell`` arguments of one round, from its cell and experiment
    (the dataset, output and config hash are the rule's own)."""
    cell = run.cell
    argv = [
        "--experiment", cell.experiment,
        "--task", cell.task,
        "--storage", cell.storage,
        "--cache", cell.cache,
        "--size", f"{cell.width}x{cell.height}",
        "--n-images", str(cell.n_images),
        "--strategy", cell.strategy,
        "--workers", str(cell.workers),
        "--repeats", str(experiment["repeats"]),
        "--warmup", str(experiment["warmup"]),
        "--scratch", scratch,
        "--timeout", str(experiment["timeout_s"]),
        "--round", str(run.round),
        "--rounds", str(experiment["rounds"]),
        "--start-method", experiment["start_method"],
        "--eviction", experiment["cache_eviction"],
    ]  # fmt: skip
    function = (experiment.get("task_functions") or {}).get(cell.task)
    if function is not None:  # a user's task: the job loads it (imgbench.measure.tasks.user)
        argv += ["--task-function", function]
    options = task_options(experiment, cell.task)
    return argv + [f"--option={name}={value}" for name, value in sorted(options.items())]


class WorkflowPlan:
    """The grid of a validated config, and the rules' input functions over it."""

    def __init__(self, config: dict, basedir: Path | str = "."):
        #: What ``imgbench validate-config`` warns about (the run goes on).
        self.warnings = check_config(config)
        self.config = config
        self.basedir = Path(basedir)
        #: This run's directory: every output, log and benchmark of a rule is under it.
        self.results_dir = os.path.normpath(config.get("results_dir", RESULTS))
        # Datasets are shared by the runs of every config that names the same datasets_dir
        # (by default all of them: results/datasets). A dataset is a pure function of its
        # name (format, content, colour, size, count, seed), so a run finds the ones an earlier run
        # of another preset made, instead of generating gigabytes again; Snakemake's
        # metadata re-makes one whose parameters or code changed. Their logs stay with the
        # run that made them.
        self.datasets_dir = os.path.normpath(config.get("datasets_dir", DATASETS))
        #: The cell rule's output, log and benchmark patterns (their fields are the wildcards).
        self.cell_result = f"{self.results_dir}/{RESULT_PATTERN}"
        self.cell_log = f"{self.results_dir}/logs/{RESULT_STEM}.log"
        self.cell_benchmark = f"{self.results_dir}/benchmarks/{RESULT_STEM}.tsv"
        #: The dataset rule's output and log patterns.
        self.dataset_dir = f"{self.datasets_dir}/{DATASET_PATTERN}"
        self.dataset_log = f"{self.results_dir}/logs/datasets/{DATASET_PATTERN}.log"
        self.experiments = sorted(config["experiments"])
        self.cells = expand_cells(config)
        self.runs = expand_runs(config, self.cells)
        self.dataset_of = plan_datasets(config, self.cells)
        #: The folders of the user's images datasets are made from, by content.
        self.dataset_folders = dataset_folders(config)
        # Round r of every cell before round r + 1 of any, shuffled within a round: the
        # scheduler starts the ready job of highest priority, and a cell takes every core,
        # so jobs run in exactly this order.
        self.run_order = run_order(config, self.runs)
        # Datasets come first of all: a cell must never wait for one while a later cell
        # whose dataset is ready runs in its place.
        self.dataset_priority = len(self.runs) + 1
        # Provenance of each experiment's cells; as a rule parameter, a change re-runs them.
        self.config_hash = {name: experiment_hash(config, name) for name in self.experiments}
        known = {t.name for t in KNOWN_ANSWER_TASKS}
        #: Experiments that run a known-answer task get a calibration table and slide.
        self.calibrated = [
            name for name in self.experiments if known & set(config["experiments"][name]["tasks"])
        ]
        self.reference = self._reference_file()
        self._init_pythons()

    def _init_pythons(self) -> None:
        """The environments of the experiments that name their interpreter (``pythons``),
        each checked against the registry before any job is planned: a package of a cell
        without a wheel for an interpreter fails here, naming both."""
        #: Each interpreter of the config by its tag, the environment it gets.
        self.interpreters = config_interpreters(self.config)
        self.lock = str(self.basedir / LOCK)
        environments = f"{self.results_dir}/environments"
        #: The python_env rule's outputs and log ({python}: an interpreter's tag).
        self.python_env_dir = f"{environments}/{{python}}/venv"
        self.python_env_marker = f"{environments}/{{python}}/environment.json"
        self.python_env_log = f"{self.results_dir}/logs/environments/{{python}}.log"
        #: What each environment will install (name -> version), as the registry answered.
        self.python_packages = {
            tag: check_wheels(interpreter, Path(self.lock), Path(environments, "checks"))
            for tag, interpreter in sorted(self.interpreters.items())
        }

    def previous_run(self) -> Path | None:
        """This run's results directory, when an earlier run left cell results there."""
        results = Path(self.results_dir)
        return results if result_files(results) else None

    # ----- wildcards -> things ----------------------------------------------------------

    def wildcard_constraints(self) -> dict[str, str]:
        """Each wildcard's alternatives, so that no pattern matches another's file."""
        digits = r"\d+"
        return {
            "experiment": _alternatives(self.experiments),
            "task": _alternatives(TASKS),
            "strategy": _alternatives(STRATEGIES),
            "storage": _alternatives(STORAGES),
            "cache": _alternatives(CACHES),
            "format": _alternatives([RAW, NATIVE_FORMAT, *DATASET_FORMATS]),
            "color": _alternatives(COLORS),
            # A folder of the user's images: folder<id of its path> (measure.datasets).
            "content": _alternatives(CONTENTS) + rf"|{FOLDER_CONTENT}[0-9a-f]{{8}}",
            # No interpreter named: a pattern that matches nothing, never the empty string.
            "python": _alternatives(self.interpreters) or "(?!)",
            **dict.fromkeys(
                ("width", "height", "n_images", "workers", "round", "images", "seed"), digits
            ),
        }

    def cell(self, wildcards) -> CellSpec:
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
        if cell not in self.dataset_of:
            raise ValueError(
                f"{self.results_dir}/{cell.relative_path} is not a cell of the configured grid"
            )
        return cell

    def run(self, wildcards) -> CellRun:
        run = CellRun(self.cell(wildcards), int(wildcards.round))
        if run not in self.run_order:
            raise ValueError(f"{self.results_dir}/{run.path} is not a round of the configured grid")
        return run

    # ----- input functions and parameters of the rules -----------------------------------

    def cell_priority(self, wildcards) -> int:
        return len(self.runs) - self.run_order[self.run(wildcards)]

    def cell_dataset(self, wildcards) -> str:
        return self.dataset_path(self.dataset_of[self.cell(wildcards)])

    def cell_args(self, wildcards) -> str:
        """Run parameters of a cell from the config, quoted for the shell."""
        run = self.run(wildcards)
        experiment = self.config["experiments"][run.cell.experiment]
        return shlex.join(run_cell_argv(run, experiment, self.config["scratch"][run.cell.storage]))

    def cell_config_hash(self, wildcards) -> str:
        return self.config_hash[wildcards.experiment]

    def _tag(self, experiment: str) -> str | None:
        interpreter = experiment_python(self.config["experiments"][experiment])
        return interpreter.tag if interpreter is not None else None

    def cell_python_env(self, wildcards) -> list[str]:
        """The marker of the environment a cell runs in, for an experiment that names its
        interpreter; none for the others (they run in the workflow's own)."""
        tag = self._tag(wildcards.experiment)
        return [] if tag is None else [self.python_env_marker.format(python=tag)]

    def cell_imgbench(self, default: str):
        """The cell rule's engine command: ``default`` (``imgbench_command``), or, for an
        experiment that names its interpreter, the same in that interpreter's environment."""

        def command(wildcards) -> str:
            tag = self._tag(wildcards.experiment)
            if tag is None:
                return default
            python = environment_python(self.python_env_dir.format(python=tag))
            return imgbench_command(self.basedir / "src", False, python=python)

        return command

    def interpreter_tables(self, wildcards) -> list[str]:
        """What the interpreters slide of an experiment reads of the experiments that differ
        from it in their interpreter alone (``imgbench.analysis.interpreters``); none for an
        experiment without such siblings."""
        names = siblings(self.config, wildcards.experiment)
        if len(names) < 2:
            return []
        files = ("speedup.csv", "comparisons.csv", "recommendations.csv", "metadata.json")
        return [f"{self.results_dir}/{name}/{file}" for name in names for file in files]

    def python_env_interpreter(self, wildcards) -> str:
        return self.interpreters[wildcards.python].executable

    def python_env_packages(self, wildcards) -> str:
        """What the registry said the environment will hold: a parameter, so that a changed
        answer (a new lock, another interpreter) builds it again."""
        packages = self.python_packages[wildcards.python]
        return " ".join(f"{name}=={version}" for name, version in sorted(packages.items()))

    def dataset_source(self, wildcards) -> dict[str, str]:
        """An encoded dataset is made from the raw dataset of its size; a raw one from nothing."""
        target = DatasetSpec(
            wildcards.format,
            int(wildcards.width),
            int(wildcards.height),
            int(wildcards.images),
            int(wildcards.seed),
            wildcards.color,
            wildcards.content,
        )
        source = source_dataset(self.config, self.cells, target)
        return {"source": self.dataset_path(source)} if source else {}

    def dataset_folder_args(self, wildcards) -> str:
        """``--folder DIR --on-bad-image X`` for a dataset made from a user's folder."""
        folder = self.dataset_folders.get(wildcards.content)
        if folder is None:
            return ""
        return shlex.join(["--folder", folder[0], "--on-bad-image", folder[1]])

    def dataset_folder_state(self, wildcards) -> str:
        """A digest of the folder's listing (names, sizes, modification times): a parameter
        of the dataset rule, so that Snakemake makes the dataset again when a file of the
        folder changes, is added or goes."""
        folder = self.dataset_folders.get(wildcards.content)
        return folder_state(Path(folder[0])) if folder else ""

    @staticmethod
    def dataset_source_args(wildcards, input) -> str:
        # A rule's input is a list with names: `in` alone would look among the file paths.
        named = input.keys()
        return shlex.join(["--source", input.source]) if "source" in named else ""

    def experiment_cells(self, wildcards) -> list[str]:
        return [
            f"{self.results_dir}/{r.path}"
            for r in self.runs
            if r.cell.experiment == wildcards.experiment
        ]

    def run_dir(self, wildcards) -> str:
        """The results directory, for the rules that read a whole run (reference, bundle)."""
        return self.results_dir

    def experiment_dir(self, wildcards) -> str:
        return f"{self.results_dir}/{wildcards.experiment}"

    def experiment_description(self, wildcards) -> str:
        return self.config["experiments"][wildcards.experiment]["description"]

    def calibration(self, wildcards, outputs: Iterable[str]) -> list[str]:
        """The calibration rule's ``outputs`` for an experiment that has them, else none."""
        if wildcards.experiment not in self.calibrated:
            return []
        return [o.format(experiment=wildcards.experiment) for o in outputs]

    def reference_outputs(self, outputs: Iterable[str]) -> list[str]:
        return list(outputs) if self.reference else []

    def bundle_flags(self, wildcards) -> str:
        return "--reference" if self.reference else ""

    def dataset_path(self, dataset: DatasetSpec) -> str:
        return f"{self.datasets_dir}/{dataset.name}"

    def _reference_file(self) -> str | None:
        """The config's reference file; a relative path is taken from the workflow's
        checkout when it is not found from the working directory (e.g. with --directory)."""
        name = self.config.get("reference")
        if not name or Path(name).is_absolute() or Path(name).exists():
            return name
        return str(self.basedir / name)
