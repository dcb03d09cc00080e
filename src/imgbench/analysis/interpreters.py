"""Interpreters side by side: the experiments of a config that differ in their interpreter
alone (``pythons``, ``imgbench.plan.pythons``: ``load-py311``, ``load-py313``), cell by cell
and verdict by verdict.

Each experiment is read from its own tables (``speedup.csv``, ``comparisons.csv``,
``recommendations.csv``) and ``metadata.json`` (which interpreter its cells ran under, as
they recorded it); cells are matched on what was measured (task, storage, cache, size,
n_images, strategy, workers), never on the experiment's name. Nothing is tested anew: the
verdicts compared are those each experiment's analysis made, with its error rates
(``imgbench.analysis.recommend``).

``cells_frame``: per cell and interpreter, the median time, the speedup over the loop, the
time against the first interpreter (the oldest version), whether the cell was called
significantly slower than its group's best and whether it was faster than the loop.
``verdicts_frame``: per group and interpreter, the best strategy and its speedup, and
whether that verdict changes between interpreters: ``best_changed`` (another strategy or
worker count is best), ``firm_change`` (and under every interpreter that best was told
apart from every other cell and not withheld), ``claim_changed`` (the best is faster than
the loop under one interpreter and not under another).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from imgbench.analysis.tables import read_tables
from imgbench.errors import ImgbenchError
from imgbench.vocabulary import BASELINE, CELL, GROUP, HOST

#: What identifies a cell, and a group, across the interpreters' experiments.
CELL_KEY = CELL[1:]
GROUP_KEY = GROUP[1:]
CELL_COLUMNS = [
    *CELL_KEY,
    "experiment",
    "interpreter",
    "median_s",
    "speedup",
    "time_ratio",
    "significantly_slower",
    "faster_than_loop",
]
VERDICT_COLUMNS = [
    *GROUP_KEY,
    "experiment",
    "interpreter",
    "best_strategy",
    "best_workers",
    "speedup",
    "faster_than_loop",
    "firm",
    "best_changed",
    "firm_change",
    "claim_changed",
]

#: The columns read of each experiment's tables.
REQUIRED = {
    "speedup": [*CELL_KEY, "baseline", "median_s", "speedup"],
    "comparisons": [*CELL_KEY, "significantly_slower", "faster_than_loop"],
    "recommendations": [
        *GROUP_KEY,
        "best_strategy",
        "best_workers",
        "speedup",
        "faster_than_loop",
        "withheld",
        "within_noise",
    ],
}


@dataclass(frozen=True)
class Interpreters:
    """The comparison of one set of experiments: their interpreters in order (oldest first),
    and the two frames."""

    experiments: list[str]
    labels: list[str]
    cells: pd.DataFrame
    verdicts: pd.DataFrame


def interpreter_label(meta: dict, where: Path | str) -> str:
    """How the cells of an experiment's ``metadata.json`` ran: ``CPython 3.13.0``, with
    ``free-threaded`` for such a build, and ``GIL on`` where a free-threaded build still ran
    with the GIL (an import enabled it). Cells under several interpreters are an error:
    they are not one experiment's interpreter."""
    found = {
        (e.get("python_implementation"), e.get("python_version"), e.get("python_build"))
        for e in meta.get("interpreters", [])
    }
    if len(found) != 1:
        what = "no interpreter recorded" if not found else f"{len(found)} interpreters"
        raise ImgbenchError(f"{where}: {what}; one experiment, one interpreter")
    implementation, version, build = found.pop()
    label = f"{implementation or 'Python'} {version}"
    if build == "free-threaded":
        gil = {e.get("gil_enabled") for e in meta["interpreters"]}
        label += " free-threaded" + (", GIL on" if True in gil else "")
    return label


def _version_key(meta: dict) -> tuple:
    version = str(meta["interpreters"][0].get("python_version"))
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def _read(directory: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    path = directory / "metadata.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ImgbenchError(f"{path}: cannot read metadata ({exc})") from None
    tables = read_tables(directory, list(REQUIRED), REQUIRED, coerce=True)
    for name, frame in tables.items():
        if HOST in frame and frame[HOST].nunique() > 1:
            raise ImgbenchError(
                f"{directory}/{name}.csv holds several hosts: compare interpreters host by host"
            )
    return meta, tables


def compare_interpreters(directories: list[Path]) -> Interpreters:
    """The experiments in ``directories`` (two or more, one interpreter each) compared."""
    if len(directories) < 2:
        raise ImgbenchError("comparing interpreters needs two experiments or more")
    read = [(Path(d), *_read(Path(d))) for d in directories]
    read.sort(key=lambda item: _version_key(item[1]))
    labels = [interpreter_label(meta, d) for d, meta, _ in read]
    if len(set(labels)) != len(labels):
        raise ImgbenchError(f"{', '.join(map(str, directories))}: the same interpreter twice")
    cells, verdicts = [], []
    for (directory, _meta, tables), label in zip(read, labels, strict=True):
        cells.append(_cells(tables, directory.name, label))
        verdicts.append(_verdicts(tables["recommendations"], directory.name, label))
    return Interpreters(
        [d.name for d, _, _ in read],
        labels,
        _time_ratios(pd.concat(cells, ignore_index=True), labels[0]),
        _changes(pd.concat(verdicts, ignore_index=True)),
    )


def _cells(tables: dict[str, pd.DataFrame], experiment: str, label: str) -> pd.DataFrame:
    speedup = tables["speedup"]
    speedup = speedup[speedup["baseline"] == BASELINE][[*CELL_KEY, "median_s", "speedup"]]
    claims = tables["comparisons"][[*CELL_KEY, "significantly_slower", "faster_than_loop"]]
    frame = speedup.merge(claims, on=CELL_KEY, how="left")
    return frame.assign(experiment=experiment, interpreter=label)


def _time_ratios(cells: pd.DataFrame, first: str) -> pd.DataFrame:
    """Each cell's median time over the same cell's under the first interpreter."""
    reference = cells[cells["interpreter"] == first].set_index(CELL_KEY)["median_s"]
    keys = pd.MultiIndex.from_frame(cells[CELL_KEY])
    cells = cells.assign(time_ratio=cells["median_s"].to_numpy() / reference.reindex(keys).values)
    return cells[CELL_COLUMNS].sort_values([*CELL_KEY, "interpreter"], ignore_index=True)


def _verdicts(recommendations: pd.DataFrame, experiment: str, label: str) -> pd.DataFrame:
    frame = recommendations[
        [*GROUP_KEY, "best_strategy", "best_workers", "speedup", "faster_than_loop"]
    ].copy()
    # A best that some cell could not be told from, or that exceeded its physical bound,
    # names no single winner: its change is not a change of a firm verdict.
    tied = recommendations["within_noise"].map(lambda v: isinstance(v, str) and v != "")
    frame["firm"] = ~(tied | recommendations["withheld"].astype(bool))
    frame["faster_than_loop"] = frame["faster_than_loop"].astype(bool)
    return frame.assign(experiment=experiment, interpreter=label)


def _changes(verdicts: pd.DataFrame) -> pd.DataFrame:
    groups = verdicts.groupby(GROUP_KEY, sort=False)
    best = verdicts["best_strategy"].astype(str) + "x" + verdicts["best_workers"].astype(str)
    changed = best.groupby([verdicts[k] for k in GROUP_KEY]).transform("nunique") > 1
    seen = groups["interpreter"].transform("nunique") > 1
    all_firm = groups["firm"].transform("all")
    claim = groups["faster_than_loop"].transform("nunique") > 1
    verdicts = verdicts.assign(
        best_changed=changed & seen,
        firm_change=changed & seen & all_firm,
        claim_changed=claim & seen,
    )
    return verdicts[VERDICT_COLUMNS].sort_values([*GROUP_KEY, "interpreter"], ignore_index=True)


def sibling_directories(results_dir: Path) -> list[Path]:
    """The experiment directories that differ from ``results_dir``'s in their interpreter
    alone (itself included), as the run's resolved config (``config.resolved.yaml`` beside
    them) says; none where it names no interpreter, or has no such sibling."""
    from imgbench.plan.config import load_yaml
    from imgbench.plan.pythons import siblings

    results_dir = Path(results_dir)
    config_path = results_dir.parent / "config.resolved.yaml"
    if not config_path.is_file():
        return []
    config = load_yaml(config_path)
    if results_dir.name not in config.get("experiments", {}):
        return []
    names = siblings(config, results_dir.name)
    return [results_dir.parent / name for name in names] if len(names) > 1 else []
