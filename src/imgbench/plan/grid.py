"""Expand a resolved config into the cells and datasets the workflow must produce."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from imgbench.measure.datasets import DEFAULT_CONTENT, RAW, dataset_name, folder_content
from imgbench.measure.strategies import START_METHOD_VARIANTS, STRATEGIES, variant_name
from imgbench.measure.tasks import TASKS
from imgbench.vocabulary import NATIVE_FORMAT, CellSpec, is_native, parse_size


def cache_states(exp: dict, task: str, storage: str) -> list[str]:
    """The cache states a task's cells run with on a storage (see ``expand_cells``)."""
    states = [s for s in exp["cache"] if not (storage == "shm" and s == "cold")]
    if TASKS[task].input_kind == "arrays" and exp.get("cache_eviction", "files") == "files":
        states = ["warm" if s == "cold" else s for s in states]
    return sorted(set(states))


def experiment_strategies(exp: dict) -> list[str]:
    """The strategies an experiment runs: those it lists, per batch and/or persistent
    (``pool``), and with ``start_methods`` each process-pool form once per method, as its
    variant ``<form>_<method>`` (``imgbench.measure.strategies.variant_name``).

    A strategy without a pool runs once whatever ``pool`` says, and one not on a process
    pool (or whose method is its own: a variant listed by name, joblib) once whatever
    ``start_methods`` says: the loop's and the threads' cells are shared by every method.
    """
    modes = exp.get("pool", ["per_batch"])
    methods = exp.get("start_methods") or []
    names: list[str] = []
    for name in exp["strategies"]:
        for form in _pool_forms(name, modes):
            names += _method_forms(form, methods)
    return list(dict.fromkeys(names))


def _pool_forms(name: str, modes: list[str]) -> list[str]:
    """``name`` per batch and/or its persistent form, as ``pool`` asks."""
    strategy = STRATEGIES[name]
    forms = []
    if "per_batch" in modes or strategy.pool is None or strategy.persistent:
        forms.append(name)
    if "persistent" in modes and not strategy.persistent:
        method = strategy.start_method if strategy.start_method in START_METHOD_VARIANTS else None
        kept = variant_name(strategy.plain, True, method)
        if kept in STRATEGIES:
            forms.append(kept)
    return forms


def _method_forms(name: str, methods: list[str]) -> list[str]:
    """``name`` under each of ``methods``, where it is a process pool of the experiment's
    start method; else ``name`` alone."""
    strategy = STRATEGIES[name]
    if not methods or strategy.pool != "processes" or strategy.start_method is not None:
        return [name]
    return [variant_name(strategy.plain, strategy.persistent, m) for m in methods]


def expand_cells(config: dict) -> list[CellSpec]:
    """Every cell of every experiment, sorted and without duplicates.

    ``serial`` runs once per group (workers = 1). A tmpfs has no cold state (its pages are
    the storage), so ``shm`` cells run with a warm cache only. Saving tasks read no inputs:
    with ``cache_eviction: files`` there is nothing to make cold, so their cells run, and
    are labelled, warm (``system`` eviction gives them a cold state: the whole page cache).
    """
    cells = set()
    for name, exp in config["experiments"].items():
        strategies = experiment_strategies(exp)
        for task in exp["tasks"]:
            for storage in exp["storage"]:
                for cache in cache_states(exp, task, storage):
                    for size in exp["sizes"]:
                        width, height = parse_size(size)
                        for n in exp["n_images"]:
                            for strategy in strategies:
                                workers = (
                                    exp["workers"] if STRATEGIES[strategy].uses_workers else [1]
                                )
                                for w in workers:
                                    cells.add(
                                        CellSpec(
                                            name,
                                            task,
                                            storage,
                                            cache,
                                            width,
                                            height,
                                            n,
                                            strategy,
                                            w,
                                        )
                                    )
    return sorted(cells)


@dataclass(frozen=True, order=True)
class CellRun:
    """One round of a cell: one job, one process, one result file."""

    cell: CellSpec
    round: int

    @property
    def path(self) -> str:
        """The result file, relative to the results directory."""
        return self.cell.result_path(self.round)


def expand_runs(config: dict, cells: list[CellSpec] | None = None) -> list[CellRun]:
    """Every round of every cell (``rounds`` per experiment), sorted."""
    cells = expand_cells(config) if cells is None else cells
    experiments = config["experiments"]
    return [
        CellRun(cell, r)
        for cell in cells
        for r in range(1, experiments[cell.experiment].get("rounds", 1) + 1)
    ]


def run_order(config: dict, runs: list[CellRun]) -> dict[CellRun, int]:
    """Where each run comes in the order the workflow runs them (0 first).

    Round by round: round r of every cell, of every experiment, before round r + 1 of any.
    Within a round the runs are shuffled with ``order_seed`` (a different order each round),
    so that a slow period of the machine falls on many strategies instead of one, and the
    same config always runs in the same order.
    """
    seed = config.get("order_seed", 0)
    order: dict[CellRun, int] = {}
    for r in sorted({run.round for run in runs}):
        this_round = sorted(run for run in runs if run.round == r)
        random.Random(f"{seed}-{r}").shuffle(this_round)
        for run in this_round:
            order[run] = len(order)
    return order


@dataclass(frozen=True)
class DatasetSpec:
    format: str
    width: int
    height: int
    count: int
    seed: int
    color: str = "rgb"
    #: What the pixels are (photo, synthetic, noise): part of the name, so that datasets of
    #: one size but different content never share a directory.
    content: str = DEFAULT_CONTENT

    @property
    def name(self) -> str:
        return dataset_name(
            self.format, self.width, self.height, self.count, self.seed, self.color, self.content
        )


def dataset_format(config: dict, cell: CellSpec) -> str:
    """Saving tasks start from raw arrays; reading tasks from the experiment's format, or
    at native size from the folder's files as found (whatever their formats)."""
    if TASKS[cell.task].input_kind == "arrays":
        return RAW
    if is_native(cell.width, cell.height):
        return NATIVE_FORMAT
    return config["experiments"][cell.experiment]["format"]


def dataset_color(config: dict, cell: CellSpec) -> str:
    return config["experiments"][cell.experiment].get("color", "rgb")


def dataset_content(config: dict, cell: CellSpec) -> str:
    """What a cell's images are: the experiment's ``content``, or a folder of the user's
    images (``dataset.path``), whose content names it (``folder_content``)."""
    exp = config["experiments"][cell.experiment]
    if exp.get("dataset"):
        return folder_content(Path(exp["dataset"]["path"]))
    return exp.get("content", DEFAULT_CONTENT)


def dataset_folders(config: dict) -> dict[str, tuple[str, str]]:
    """Each folder content of the config: (the folder, on_bad_image). A folder named by
    several experiments fails on a bad file if any of them says ``fail``."""
    folders: dict[str, tuple[str, str]] = {}
    for exp in config["experiments"].values():
        dataset = exp.get("dataset")
        if not dataset:
            continue
        content = folder_content(Path(dataset["path"]))
        on_bad = dataset.get("on_bad_image", "fail")
        if folders.get(content, ("", "skip"))[1] == "fail":
            on_bad = "fail"
        folders[content] = (str(Path(dataset["path"]).resolve()), on_bad)
    return folders


#: What makes two cells read the same dataset: (format, content, colour, width, height).
DatasetKey = tuple[str, str, str, int, int]


def _key(config: dict, cell: CellSpec) -> DatasetKey:
    return (
        dataset_format(config, cell),
        dataset_content(config, cell),
        dataset_color(config, cell),
        cell.width,
        cell.height,
    )


def _counts(config: dict, cells: list[CellSpec]) -> dict[DatasetKey, int]:
    """The largest number of images each (format, content, colour, size) is used with."""
    counts: dict[DatasetKey, int] = {}
    for cell in cells:
        key = _key(config, cell)
        counts[key] = max(counts.get(key, 0), cell.n_images)
    return counts


def plan_datasets(config: dict, cells: list[CellSpec]) -> dict[CellSpec, DatasetSpec]:
    """The dataset each cell reads: one per (format, content, colour, size, seed), as large
    as its largest use."""
    counts = _counts(config, cells)
    plan = {}
    for cell in cells:
        key = _key(config, cell)
        fmt, content, color, width, height = key
        plan[cell] = DatasetSpec(
            fmt, width, height, counts[key], config["dataset_seed"], color, content
        )
    return plan


def source_dataset(config: dict, cells: list[CellSpec], target: DatasetSpec) -> DatasetSpec | None:
    """The raw dataset an encoded dataset is made from, when a saving task needs that raw
    dataset anyway; None otherwise (the images are made directly, identically)."""
    if target.format == RAW:
        return None
    key = (RAW, target.content, target.color, target.width, target.height)
    raw = _counts(config, cells).get(key)
    if raw is None or raw < target.count:
        return None
    return DatasetSpec(
        RAW, target.width, target.height, raw, target.seed, target.color, target.content
    )
