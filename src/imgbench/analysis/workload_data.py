"""The data of the per-workload figures (one task at one image size: speedup against the
workers, one panel per n), which workloads an experiment has, and the facts of a run every
figure's footer states. The figure data of the overview figures is ``figure_data``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from imgbench.analysis.figure_data import NoData
from imgbench.analysis.frames import flag, has, hosted, serial_base, size_label, strategy_order
from imgbench.analysis.views import sorted_unique, thin
from imgbench.vocabulary import BASELINE, CELL, HOST, format_size, parse_size

# --- one workload: speedup against workers, one panel per n ------------------------------


class Workload(NamedTuple):
    """A task at one image size: what a per-workload figure shows (``size``: "64x48")."""

    task: str
    size: str


def _workload_of_cell_path(path: str) -> Workload | None:
    """The workload of a cell's result path (``E/cells/TASK/STORAGE-CACHE/WxH/...``)."""
    parts = str(path).split("/")
    if "cells" not in parts:
        return None
    at = parts.index("cells")
    if len(parts) < at + 4:
        return None
    try:
        size = format_size(*parse_size(parts[at + 3]))  # a native cell's path says 0x0
    except ValueError:
        size = parts[at + 3]
    return Workload(parts[at + 1], size)


def workloads(summary: pd.DataFrame, missing_cells=()) -> list[Workload]:
    """Every task and image size of the experiment: those of the summary's cells and those
    of its missing cells (``missing_cells`` of metadata.json: a workload whose every cell is
    missing still gets a figure, which says so), by task, then size in pixels."""
    found: dict[Workload, int] = {}
    if has(summary, ["task", "width", "height"]):
        for task, width, height in (
            summary[["task", "width", "height"]].drop_duplicates().itertuples(index=False)
        ):
            found[Workload(str(task), format_size(width, height))] = int(width) * int(height)
    for path in missing_cells or ():
        workload = _workload_of_cell_path(path)
        if workload is not None and workload not in found:
            width, _, height = workload.size.partition("x")
            pixels = int(width) * int(height) if width.isdigit() and height.isdigit() else 0
            found[workload] = pixels
    return sorted(found, key=lambda w: (w.task, found[w], w.size))


@dataclass(frozen=True)
class WorkloadSpeedupData:
    """One workload's speedup curves: ``lines`` by (panel, strategy), each sorted by workers,
    with ``speedup``, its CI columns and ``above_bound``; one panel per host, storage, cache
    and shown value of n, in ``panels`` order, each with its usable cores."""

    rows: pd.DataFrame
    lines: dict
    panels: list[str]
    strategies: list[str]
    workers: list[int]
    n_values: list[int]  # the values of n shown (panels), of ``n_count``
    n_count: int
    panel_cores: dict  # panel -> its usable cores (NaN where unknown)
    has_band: bool
    any_above: bool


def workload_speedup_data(
    speedup: pd.DataFrame,
    workload: Workload,
    verdicts: pd.DataFrame | None = None,
    max_panels: int = 4,
) -> WorkloadSpeedupData | NoData:
    """The speedup over the loop of one task at one size against workers, a line per
    parallel strategy, a panel per (host, storage, cache, n): at most ``max_panels`` panels,
    values of n evenly thinned (the smallest and largest kept; every host, storage and
    cache kept). ``verdicts`` (``cell_verdicts``) give ``above_bound``."""
    where = f"{workload.task} at {workload.size}"
    if not has(speedup, [*CELL, "usable_cores", "speedup"]):
        return NoData(f"no results for {where}")
    data = hosted(serial_base(speedup))
    data = data[(data["task"].astype(str) == workload.task) & (size_label(data) == workload.size)]
    if data.empty:
        return NoData(f"no results for {where}")
    data = data[(data["strategy"] != BASELINE) & np.isfinite(data["speedup"])]
    if data.empty:
        return NoData(f"no parallel cell of {where} has a serial loop to compare with")
    if verdicts is not None and not verdicts.empty:
        flags = verdicts[[*CELL, "above_bound"]].drop_duplicates(CELL)
        data = data.drop(columns="above_bound", errors="ignore").merge(flags, on=CELL, how="left")
    data = data.assign(above_bound=flag(data, "above_bound"))
    has_band = has(data, ["speedup_ci_low", "speedup_ci_high"])
    if not has_band:
        data = data.assign(speedup_ci_low=math.nan, speedup_ci_high=math.nan)
    places = (
        data[[HOST, "storage", "cache"]].drop_duplicates().sort_values([HOST, "storage", "cache"])
    )
    all_n = sorted_unique(data["n_images"])
    n_values = [int(n) for n in thin(all_n, max(1, max_panels // len(places)))]
    data = data[data["n_images"].isin(n_values)].copy()
    several_places = len(places[["storage", "cache"]].drop_duplicates()) > 1
    several_hosts = data[HOST].nunique() > 1
    data["panel"] = [
        _workload_panel(row, several_places, several_hosts)
        for row in data[[HOST, "storage", "cache", "n_images"]].itertuples(index=False)
    ]
    data = data.sort_values([HOST, "storage", "cache", "n_images", "strategy", "workers"])
    order = data.drop_duplicates("panel")["panel"].tolist()
    return WorkloadSpeedupData(
        rows=data,
        lines={
            key: rows.sort_values("workers")
            for key, rows in data.groupby(["panel", "strategy"], sort=False)
        },
        panels=order,
        strategies=strategy_order(data["strategy"].unique()),
        workers=[int(w) for w in sorted_unique(data["workers"])],
        n_values=n_values,
        n_count=len(all_n),
        panel_cores={
            panel: float(pd.to_numeric(rows["usable_cores"], errors="coerce").max())
            for panel, rows in data.groupby("panel", sort=False)
        },
        has_band=has_band,
        any_above=bool(data["above_bound"].any()),
    )


def _workload_panel(row, several_places: bool, several_hosts: bool) -> str:
    """A panel's label: "16 images", after "disk, cold cache · " and "host: " where a
    workload has several of those."""
    label = f"{int(row.n_images)} images"
    if several_places:
        label = f"{row.storage}, {row.cache} cache · {label}"
    if several_hosts:
        label = f"{row.host}: {label}"
    return label


# --- what every figure's footer says about the run ---------------------------------------


class HostFacts(NamedTuple):
    """One machine as a figure's footer names it."""

    host: str
    cpu_model: str
    usable_cores: float  # NaN where not recorded


@dataclass(frozen=True)
class RunFacts:
    """The machines that measured the cells and when the run finished (Unix time; None where
    not recorded)."""

    hosts: tuple[HostFacts, ...]
    finished_unix: float | None


def run_facts(timings: pd.DataFrame, meta: dict | None = None) -> RunFacts:
    """The hosts (name, CPU model, usable cores) and the end of the run, as ``metadata.json``
    (``meta``) records them, the deck's machine slide and date; without it, as the timed
    repetitions do (the last cell's end). Taken from the results, never from the clock, so
    that the same results give the same figures."""
    meta = meta or {}
    if meta.get("hosts"):
        hosts = tuple(
            HostFacts(
                str(h.get("host") or h.get("hostname") or ""),
                str(h.get("cpu_model") or ""),
                float(h["usable_cores"]) if h.get("usable_cores") is not None else math.nan,
            )
            for h in meta["hosts"]
        )
        return RunFacts(hosts, meta.get("finished_unix"))
    hosts: list[HostFacts] = []
    if has(timings, ["host"]):
        for host, rows in timings.groupby(timings["host"].fillna("").astype(str), sort=True):
            cpu = rows["cpu_model"].dropna().astype(str) if "cpu_model" in rows else pd.Series([])
            cores = (
                pd.to_numeric(rows["usable_cores"], errors="coerce").max()
                if "usable_cores" in rows
                else math.nan
            )
            hosts.append(HostFacts(host, cpu.iloc[0] if len(cpu) else "", float(cores)))
    finished = None
    if "cell_finished_unix" in timings.columns:
        ends = pd.to_numeric(timings["cell_finished_unix"], errors="coerce").dropna()
        finished = float(ends.max()) if len(ends) else None
    return RunFacts(tuple(hosts), finished)
