"""Reading cell results: finding their files, loading and checking them, naming their
hosts, and the timings table (one row per repetition) that every other table derives from.

This is the only module of the analysis that reads a cell result's fields; what a result
holds is defined by its model (``imgbench.measure.result``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from imgbench.errors import ImgbenchError
from imgbench.measure.result import CellResult, read_result
from imgbench.vocabulary import CELL, HOST_CELL, CellSpec, format_size

if TYPE_CHECKING:
    from imgbench.plan.grid import CellRun

#: Machine fields that identify a host; the rest (load, time) vary from cell to cell.
HOST_FIELDS = [
    "hostname",
    "platform",
    "cpu_model",
    "physical_cores",
    "logical_cores",
    "usable_cores",
    "ram_bytes",
    "python_version",
    "pillow_version",
    "pillow_libjpeg_turbo",
    "numpy_version",
    "snakemake_version",
    "workflow_commit",
]


# ----- finding and loading cell results ----------------------------------------------------


def find_cell_results(directory: Path) -> list[Path]:
    """Every cell result under ``directory``: its own ``cells/`` tree, or the trees of
    subdirectories, e.g. one per host (``DIR/HOST/EXPERIMENT/cells/...``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ImgbenchError(f"{directory}: no such results directory")
    found = []
    # One walk of the tree; hidden files are other tools' temporary files.
    for folder, _dirs, files in os.walk(directory):
        parts = Path(folder).relative_to(directory).parts
        if "cells" in parts or directory.name == "cells":
            found += [Path(folder, f) for f in files if f.endswith(".json") and f[0] != "."]
    return sorted(found)


def gather_paths(cells: Iterable[Path], directories: Iterable[Path]) -> list[Path]:
    """The cell result files given and those found under ``directories``, each once."""
    paths: dict[Path, Path] = {}
    for path in [*cells, *(p for d in directories for p in find_cell_results(d))]:
        paths.setdefault(Path(os.path.abspath(path)), Path(path))
    return list(paths.values())


def load_results(paths: Iterable[Path]) -> list[CellResult]:
    """Cell results, each checked (``read_result``); an unreadable, damaged or incomplete
    file is an ImgbenchError naming it."""
    return [read_result(Path(p)) for p in paths]


def config_hash(result: dict) -> str | None:
    """The hash of the resolved config the cell ran with (None: not recorded)."""
    return result["run"].get("config_hash")


def host_labels(results: Sequence[dict]) -> list[str]:
    """Each result's host: its hostname, with its CPU model added where one hostname reports
    several (two machines with the same name must not be pooled)."""
    names = [str(r["machine"].get("hostname") or "unknown") for r in results]
    cpus = [str(r["machine"].get("cpu_model") or "unknown") for r in results]
    models: dict[str, set[str]] = {}
    for name, cpu in zip(names, cpus, strict=True):
        models.setdefault(name, set()).add(cpu)
    return [
        name if len(models[name]) == 1 else f"{name} ({cpu})"
        for name, cpu in zip(names, cpus, strict=True)
    ]


def check_results(results: Sequence[dict], paths: Sequence[Path]) -> None:
    """Refuse results that must not be analysed together, naming two files: cells of one
    experiment run with different configs, and one cell twice from the same host."""
    configs: dict[str, tuple[str, Path]] = {}
    for result, path in zip(results, paths, strict=True):
        value = config_hash(result)
        if value is None:
            continue
        experiment = result["cell"]["experiment"]
        first_value, first_path = configs.setdefault(experiment, (value, path))
        if value != first_value:
            raise ImgbenchError(
                f"experiment {experiment!r} mixes results of different configs: {first_path} "
                f"has config hash {first_value}, {path} has {value}. Aggregate the results of "
                "one config only: re-run the stale cells, or leave the other run's results out."
            )
    seen: dict[tuple, Path] = {}
    for result, host, path in zip(results, host_labels(results), paths, strict=True):
        round_ = int(result["run"].get("round") or 1)
        key = (host, *(result["cell"][c] for c in CELL), round_)
        first = seen.setdefault(key, path)
        if first != path:
            raise ImgbenchError(
                f"{first} and {path}: the same cell twice (round {round_}) from host "
                f"{host!r}. Each round of a cell is measured once per host, so its "
                "repetitions cannot be pooled: leave one out (machines that share a hostname "
                "and CPU model cannot be told apart)."
            )


def expected_cells(config_path: Path, experiment: str | None) -> tuple[str, list[CellRun]]:
    """The experiment (the config's only one when None) and every result file its grid
    expects: one per round of each cell (``grid.CellRun``)."""
    experiment, runs, _ = expected_runs(config_path, experiment)
    return experiment, runs


def expected_runs(config_path: Path, experiment: str | None) -> tuple[str, list[CellRun], dict]:
    """``expected_cells`` and the experiment's resolved section (``equivalence_margin``...)."""
    from imgbench.plan.config import load_yaml, resolve_config
    from imgbench.plan.grid import expand_cells, expand_runs

    config = resolve_config(load_yaml(Path(config_path)))
    names = sorted(config["experiments"])
    if experiment is None:
        if len(names) != 1:
            raise ImgbenchError(
                f"{config_path} has {len(names)} experiments ({', '.join(names)}): "
                "name one with --experiment"
            )
        experiment = names[0]
    elif experiment not in names:
        raise ImgbenchError(
            f"--experiment {experiment!r} is not in {config_path} "
            f"(its experiments: {', '.join(names) or 'none'})"
        )
    cells = [c for c in expand_cells(config) if c.experiment == experiment]
    return experiment, expand_runs(config, cells), config["experiments"][experiment]


#: The start of the RuntimeWarning a free-threaded CPython raises when an import enables the
#: GIL again (for the rest of the process), naming the module.
GIL_ENABLED_WARNING = "The global interpreter lock (GIL) has been enabled"
#: The first minor version with a free-threaded build: before it every CPython had a GIL.
FREE_THREADED_SINCE = (3, 13)


def _minor(version: str | None) -> tuple[int, int] | None:
    try:
        major, minor = str(version).split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def interpreter_of(result: dict) -> dict:
    """The interpreter a cell ran under: version, implementation, build (``free-threaded`` or
    ``default``) and whether the GIL was enabled while it ran. That is as recorded once the
    cell's libraries were imported, or True where a later import warned that it enabled the
    GIL; for results that predate the record, known only before 3.13 (every build had a
    GIL), else None."""
    machine = result["machine"]
    version = machine.get("python_version")
    build, gil = machine.get("python_build"), machine.get("gil_enabled")
    if gil is False and any(GIL_ENABLED_WARNING in w for w in result.get("warnings", [])):
        gil = True
    minor = _minor(version)
    if minor is not None and minor < FREE_THREADED_SINCE:
        build = build or "default"
        gil = True if gil is None else gil
    return {
        "python_version": version,
        "python_implementation": machine.get("python_implementation"),
        "python_build": build,
        "gil_enabled": gil,
    }


def spec_of(result: dict) -> CellSpec:
    return CellSpec(**{c: result["cell"][c] for c in CELL})


def run_of(result: dict) -> CellRun:
    """The round of a cell a result is (results that predate rounds are round 1)."""
    from imgbench.plan.grid import CellRun

    return CellRun(spec_of(result), int(result["run"].get("round") or 1))


# ----- tables -------------------------------------------------------------------------------

#: Tasks whose work is waiting (on a server, a timer), not computing, when a result predates
#: ``run.task_bound``: their speedup is bounded by the workers alone, not by the cores.
WAIT_TASKS = frozenset({"download", "sleep"})


def _task_bound(cell: dict, run: dict) -> str:
    return run.get("task_bound") or ("wait" if cell["task"] in WAIT_TASKS else "cpu")


def _modules(value) -> str:
    """A repetition's imported modules (a list) as one CSV cell: ";"-joined, "" when none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    return ";".join(str(v) for v in value)


def timings_frame(results: list[dict]) -> pd.DataFrame:
    """One row per timed (non-warm-up) repetition; every cell parameter is a column.

    ``round`` is the cell's round (1-based: one result file and one process each; results
    that predate rounds are round 1 of 1); ``repetition`` counts within the round.
    """
    rows = []
    for res, host in zip(results, host_labels(results), strict=True):
        cell, run, machine = res["cell"], res["run"], res["machine"]
        for rep in res["repetitions"]:
            if rep["warmup"]:
                continue
            row = {
                **cell,
                "size": format_size(cell["width"], cell["height"]),
                "format": run["dataset_format"],
                # The pixels of one repetition's images (native ones differ in size); older
                # results lack it and stand for n x width x height.
                "input_pixels": run.get("input_pixels")
                or cell["n_images"] * cell["width"] * cell["height"],
                "repeats": run["repeats"],
                "warmup_reps": run["warmup"],
                "round": int(run.get("round") or 1),
                "rounds": int(run.get("rounds") or 1),
                "mp_start_method": run["mp_start_method"],
                "start_method_requested": run.get("start_method_requested") or "",
                "task_bound": _task_bound(cell, run),
                "eviction": run.get("eviction") or "",
                "host": host,
                "cpu_model": machine["cpu_model"],
                "usable_cores": machine["usable_cores"],
                "load_average_1m": machine.get("load_average_1m"),
                "cell_started_unix": res["started_unix"],
                "cell_finished_unix": res["finished_unix"],
                # Making and warming a persistent strategy's pool, once per job, before its
                # repetitions (0: the pool, if any, is made inside every repetition's timer).
                "pool_start_s": (res.get("phases") or {}).get("pool_start_s", 0.0),
                "repetition": rep["index"] - run["warmup"],
                **{k: v for k, v in rep.items() if k not in ("index", "warmup")},
            }
            if "worker_imported_modules" in row:
                row["worker_imported_modules"] = _modules(row["worker_imported_modules"])
            # The whole cell's memory is sampled in its warm-ups (sampling slows the timed
            # work): each timed row of the round carries that round's peak.
            for key, value in (res.get("memory") or {}).items():
                if key.startswith("tree_peak_") and value is not None:
                    row[key] = value
            # What one image moves between processes, once per cell (not recorded: no
            # column, which the summary reads as NaN).
            if "transfer" in res:
                transfer = res["transfer"] or {}
                for key in ("bytes_pickled_per_image", "bytes_shared_per_image"):
                    row[key] = transfer.get(key)
            rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values([*HOST_CELL, "round", "repetition"], kind="stable").reset_index(
            drop=True
        )
    return frame
