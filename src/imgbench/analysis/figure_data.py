"""What each figure shows, as plain data: one function per figure (``scaling_data``,
``workload_speedup_data``, ``faster_data``, ``time_vs_n_data``, ``best_strategy_data``,
``overhead_data``, ``hosts_data``, ``repetitions_data``) returns the rows it draws, grouped
the way it draws them, with the panels, strategies, worker counts and values of n of its
axes and the facts its legend and notes state; or ``NoData`` with the reason there is
nothing to draw. ``workloads`` lists the tasks and sizes that get a figure each, and
``run_facts`` what every figure's footer says about the run (machine and date).

Rows carry a ``panel`` label (``imgbench.analysis.views.with_panel``): the task, plus
storage-cache, size and host where the table has several. Nothing here draws, picks a
colour or words a sentence; the figures in ``imgbench.report.figures`` do, from these
values only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from imgbench.analysis.frames import (
    CELL,
    flag,
    has,
    largest_size,
    serial_base,
    strategy_order,
)
from imgbench.analysis.verdicts import above_bound, payoff_n
from imgbench.analysis.views import (
    OVERHEAD_COLUMNS,
    SEGMENT_COLUMNS,
    attach_panel,
    best_per_strategy_and_n,
    best_strategy_grid,
    cell_labels,
    headline_cells,
    hosts_frame,
    overhead_frame,
    overhead_segments,
    sorted_unique,
    thin,
    with_panel,
)
from imgbench.vocabulary import BASELINE


class NoData(NamedTuple):
    """Nothing to draw, and why (the figure shows the reason in its place)."""

    reason: str


def _lines_by_n_and_size(rows: pd.DataFrame) -> dict:
    """(panel, strategy) -> [((n_images, size), rows of that line)], lines sorted by n, size."""
    rows = rows.sort_values(["panel", "strategy", "n_images", "size", "workers"])
    return {
        key: list(group.groupby(["n_images", "size"], sort=True))
        for key, group in rows.groupby(["panel", "strategy"], sort=False)
    }


# --- speedup and efficiency against workers ------------------------------------------------


@dataclass(frozen=True)
class ScalingData:
    """The speedup or efficiency curves: ``rows`` (serial-base rows of parallel cells at the
    shown values of n, with ``metric``, its CI columns, ``above_bound`` and panel labels),
    ``lines`` and ``fits`` (the Amdahl curves) by (panel, strategy)."""

    metric: str
    rows: pd.DataFrame
    lines: dict
    fits: dict
    panels: list
    strategies: list[str]
    sizes: list
    workers: list[int]
    n_values: list
    n_count: int  # values of n in the table; ``n_values`` may show fewer
    cores: list[int]  # every usable-core count of the rows
    panel_cores: pd.Series  # panel -> its largest usable-core count
    has_band: bool
    any_above: bool

    @property
    def low_col(self) -> str:
        return f"{self.metric}_ci_low"

    @property
    def high_col(self) -> str:
        return f"{self.metric}_ci_high"


def scaling_data(
    frame: pd.DataFrame,
    metric: str,
    amdahl: pd.DataFrame | None = None,
    verdicts: pd.DataFrame | None = None,
    max_shades: int = 6,
    max_lines: int = 8,
) -> ScalingData | NoData:
    """The curves of the speedup (``metric`` "speedup") or efficiency figure from its
    long-format table: parallel cells against the serial loop, at most ``max_shades`` values
    of n and ``max_lines`` lines (n times sizes) a panel, evenly picked. ``verdicts``
    (``cell_verdicts``) give ``above_bound``; ``amdahl`` (``amdahl_speedup`` over a grid of
    workers) gives the fits, for the speedup only."""
    low_col, high_col = f"{metric}_ci_low", f"{metric}_ci_high"
    if not has(frame, [*CELL, "usable_cores", metric]):
        return NoData("the result table is empty")
    data = serial_base(frame)
    data = with_panel(data[data["strategy"] != BASELINE])
    data = data[np.isfinite(data[metric])]
    if data.empty:
        return NoData("no parallel cell has a serial loop to compare with")
    if verdicts is not None and not verdicts.empty:
        flags = verdicts[[*CELL, "above_bound"]].drop_duplicates(CELL)
        data = data.drop(columns="above_bound", errors="ignore").merge(flags, on=CELL, how="left")
        data["above_bound"] = flag(data, "above_bound")
    any_above = "above_bound" in data.columns and bool(flag(data, "above_bound").any())
    has_band = low_col in data.columns and high_col in data.columns
    if not has_band:
        data = data.assign(**{low_col: math.nan, high_col: math.nan})
    all_n = sorted_unique(data["n_images"])
    n_values = thin(all_n, min(max_shades, max(2, max_lines // data["size"].nunique())))
    data = data[data["n_images"].isin(n_values)]
    fits: dict = {}
    if metric == "speedup" and amdahl is not None and not amdahl.empty:
        fits = _lines_by_n_and_size(attach_panel(amdahl[amdahl["n_images"].isin(n_values)], data))
    return ScalingData(
        metric=metric,
        rows=data.sort_values(["panel", "strategy", "n_images", "size", "workers"]),
        lines=_lines_by_n_and_size(data),
        fits=fits,
        panels=sorted_unique(data["panel"]),
        strategies=strategy_order(data["strategy"].unique()),
        sizes=sorted_unique(data["size"]),
        workers=[int(w) for w in sorted_unique(data["workers"])],
        n_values=n_values,
        n_count=len(all_n),
        cores=sorted({int(c) for c in data["usable_cores"].dropna()}),
        panel_cores=data.groupby("panel")["usable_cores"].max(),
        has_band=has_band,
        any_above=any_above,
    )


# --- × faster than the loop ------------------------------------------------------------


@dataclass(frozen=True)
class FasterData:
    """The bars of the "× faster" figure, by panel (each panel's rows in bar order)."""

    bars: pd.DataFrame
    by_panel: dict
    panels: list
    most_bars: int  # bars of the fullest panel
    dropped_size: bool  # smaller image sizes were left out
    has_ci: bool
    has_bound: bool  # some bar has a physical bound
    any_above: bool


def bar_frame(speedup: pd.DataFrame) -> pd.DataFrame:
    """The cells at the largest size and then the largest n_images of each task, storage and
    cache, serial base case only, in bar order (``bar``: the label)."""
    data, _ = largest_size(serial_base(speedup))
    data = with_panel(data)
    data["panel"] = data["panel"] + " · " + data["size"]
    largest = data.groupby("panel")["n_images"].transform("max")
    data = data[data["n_images"] == largest].copy()
    data["panel"] = data["panel"] + " · n=" + data["n_images"].astype(int).astype(str)
    order = {s: i for i, s in enumerate(strategy_order(data["strategy"].unique()))}
    data["strategy_rank"] = data["strategy"].map(order)
    data["bar"] = cell_labels(data)
    data["above_bound"] = above_bound(data)
    return data.sort_values(["panel", "strategy_rank", "workers"]).reset_index(drop=True)


def faster_data(speedup: pd.DataFrame) -> FasterData | NoData:
    """Each cell's speedup over the loop at the largest size and n of each task, with its
    CI and physical bound (``bar_frame``)."""
    if not has(speedup, [*CELL, "speedup"]):
        return NoData("the result table is empty")
    data = bar_frame(speedup)
    if data.empty:
        return NoData("no cell has the serial loop as its base case")
    return FasterData(
        bars=data,
        by_panel={
            panel: rows.reset_index(drop=True) for panel, rows in data.groupby("panel", sort=False)
        },
        panels=sorted_unique(data["panel"]),
        most_bars=int(data.groupby("panel").size().max()),
        dropped_size=largest_size(serial_base(speedup))[1],
        has_ci=has(data, ["speedup_ci_low", "speedup_ci_high"]),
        has_bound="bound" in data.columns and bool(data["bound"].notna().any()),
        any_above=bool(data["above_bound"].any()),
    )


# --- absolute time against n -------------------------------------------------------------


class Payoff(NamedTuple):
    """Where a strategy starts to pay off in a panel: ``n`` (NaN: never shown faster) and
    its median time there (NaN with it)."""

    strategy: str
    n: float
    median_s: float


@dataclass(frozen=True)
class TimeVsNData:
    """Each strategy's fastest cell per n (``lines`` by (panel, strategy), sorted by n) and
    the payoffs of each panel, in strategy order."""

    lines: dict
    payoffs: dict  # panel -> list[Payoff]
    panels: list
    strategies: list[str]
    n_values: list[int]
    has_ci: bool
    judged: bool  # "faster" is the tables' verdict, not a lower median


def time_vs_n_data(
    summary: pd.DataFrame, verdicts: pd.DataFrame | None = None
) -> TimeVsNData | NoData:
    """Median time against n, each strategy at its fastest worker count for each n
    (``best_per_strategy_and_n``), with where it pays off (``payoff_n`` of ``verdicts``)."""
    if not has(summary, [*CELL, "median_s"]):
        return NoData("the summary table is empty")
    best = best_per_strategy_and_n(summary)
    if best.empty:
        return NoData("no cell has a median time")
    best = with_panel(best, size_in_panel=True)
    payoff = attach_panel(payoff_n(best, verdicts), best)
    strategies = strategy_order(best["strategy"].unique())
    lines = {
        key: rows.sort_values("n_images")
        for key, rows in best.groupby(["panel", "strategy"], sort=False)
    }
    payoffs: dict[str, list[Payoff]] = {}
    by_panel = payoff.groupby("panel", sort=False) if not payoff.empty else ()
    for panel, rows in by_panel:
        payoffs[panel] = []
        for strategy in strategies:
            row = rows[rows["strategy"] == strategy]
            if row.empty:
                continue
            n = row["payoff_n"].iloc[0]
            median = math.nan
            if math.isfinite(n):
                line = lines[(panel, strategy)]
                median = line.loc[line["n_images"] == n, "median_s"].iloc[0]
            payoffs[panel].append(Payoff(strategy, n, median))
    return TimeVsNData(
        lines=lines,
        payoffs=payoffs,
        panels=sorted_unique(best["panel"]),
        strategies=strategies,
        n_values=[int(n) for n in sorted_unique(best["n_images"])],
        has_ci=has(best, ["ci_low_s", "ci_high_s"]),
        judged=verdicts is not None,
    )


# --- the fastest strategy ----------------------------------------------------------------


@dataclass(frozen=True)
class BestStrategyData:
    """The heatmap's cells (``best_strategy_grid`` at each task's largest size, with panel
    labels), by panel, and its axes."""

    grid: pd.DataFrame
    by_panel: dict
    panels: list
    strategies: list[str]  # the winners
    workers: list[int]
    n_values: list[int]
    dropped_size: bool  # smaller image sizes were left out

    @property
    def unconfirmed(self) -> bool:
        """Some winner is not shown faster than the loop (and not above its bound)."""
        grid = self.grid
        return bool((~grid["faster_than_loop"] & ~grid["above_bound"]).any())

    @property
    def incomplete(self) -> bool:
        """Some (panel, n, workers) place has no cell."""
        places = len(self.panels) * len(self.n_values) * len(self.workers)
        return len(self.grid) < places

    def any(self, verdict: str) -> bool:
        """Whether some winner has ``verdict`` ("above_bound", "recommended", "withheld")."""
        return bool(self.grid[verdict].any())


def best_strategy_data(
    summary: pd.DataFrame,
    speedup: pd.DataFrame,
    comparisons: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> BestStrategyData | NoData:
    """The fastest strategy per (n images, workers) of each task, storage and cache at its
    largest size, with the tables' verdicts on it."""
    grid = best_strategy_grid(summary, speedup, comparisons, recommendations)
    if grid.empty:
        return NoData("the summary table has no median times")
    grid, dropped_size = largest_size(grid)
    grid = with_panel(grid, size_in_panel=True)
    return BestStrategyData(
        grid=grid,
        by_panel=dict(tuple(grid.groupby("panel", sort=False))),
        panels=sorted_unique(grid["panel"]),
        strategies=strategy_order(grid["best_strategy"].unique()),
        workers=[int(w) for w in sorted_unique(grid["workers"])],
        n_values=[int(n) for n in sorted_unique(grid["n_images"])],
        dropped_size=dropped_size,
    )


# --- where the time goes -----------------------------------------------------------------


@dataclass(frozen=True)
class OverheadData:
    """The overhead bars by facet, (panel, which n), each facet's rows in bar order from the
    bottom, with ``busy`` (NaN where not recorded), ``any_recorded`` / ``all_recorded`` (of
    the segments after the pool start-up) and ``pooled``."""

    facets: dict
    panels: list
    which: list[str]  # the facets of a panel, in order: "only n" or "smallest n", "largest n"
    most_bars: int  # bars of the fullest facet
    dropped_size: bool  # smaller image sizes were left out
    pool_split: bool  # some bar has its pool start-up apart from the first result


def overhead_data(summary: pd.DataFrame) -> OverheadData | NoData:
    """Where each cell's median time goes (``overhead_segments`` of ``overhead_frame``'s
    cells), at the smallest and the largest n of each task."""
    if summary.empty:
        return NoData("the summary table is empty")
    if not has(summary, [*CELL, "median_s", *OVERHEAD_COLUMNS]):
        return NoData("the summary table has no overhead breakdown")
    bars = overhead_frame(overhead_segments(summary))
    if bars.empty:
        return NoData("no cell has a median time")
    _, dropped_size = largest_size(summary.dropna(subset=["median_s"]))
    bars = with_panel(bars)
    rank = {s: i for i, s in enumerate(strategy_order(bars["strategy"].unique()))}
    after_pool = [c for c in SEGMENT_COLUMNS if c != "pool_startup_s"]
    facets = {}
    for key, facet in bars.groupby(["panel", "which"], sort=False):
        facet = facet.assign(rank=facet["strategy"].map(rank)).sort_values(
            ["rank", "workers"], ascending=False
        )
        present = facet[after_pool].notna()
        facets[key] = facet.assign(
            busy=facet["worker_busy"] if "worker_busy" in facet.columns else math.nan,
            any_recorded=present.any(axis=1),
            all_recorded=present.all(axis=1),
            pooled=facet["strategy"] != BASELINE,
        )
    return OverheadData(
        facets=facets,
        panels=sorted_unique(bars["panel"]),
        which=[w for w in ("only n", "smallest n", "largest n") if w in set(bars["which"])],
        most_bars=int(bars.groupby(["panel", "which"]).size().max()),
        dropped_size=dropped_size,
        pool_split=bool(bars["pool_recorded"].any()),
    )


# --- hosts side by side ------------------------------------------------------------------


@dataclass(frozen=True)
class HostsData:
    """The hosts' speedup curves (``hosts_frame`` with CI columns), ``lines`` by (row, host,
    strategy) sorted by workers, and each host's CPU model and usable cores."""

    rows: pd.DataFrame
    lines: dict
    workloads: list  # the row labels
    strategies: list[str]
    workers: list[int]
    cpu_of: dict  # host -> CPU model, where the timings say
    cores_of: dict  # host -> its largest usable-core count


def hosts_data(speedup: pd.DataFrame, timings: pd.DataFrame) -> HostsData | NoData:
    """Each host's speedup over its own serial loop, one workload per task, storage and
    cache (``hosts_frame``)."""
    data = hosts_frame(speedup)
    if data.empty:
        return NoData("no parallel cell has a serial loop on its host")
    if not has(data, ["speedup_ci_low", "speedup_ci_high"]):
        data = data.assign(speedup_ci_low=math.nan, speedup_ci_high=math.nan)
    cpu_of: dict[str, str] = {}
    if has(timings, ["host", "cpu_model"]):
        pairs = timings[["host", "cpu_model"]].drop_duplicates("host")
        cpu_of = dict(zip(pairs["host"], pairs["cpu_model"].astype(str), strict=True))
    return HostsData(
        rows=data,
        lines={
            key: line.sort_values("workers")
            for key, line in data.groupby(["row", "host", "strategy"], sort=False)
        },
        workloads=sorted_unique(data["row"]),
        strategies=strategy_order(data["strategy"].unique()),
        workers=[int(w) for w in sorted_unique(data["workers"])],
        cpu_of=cpu_of,
        cores_of=data.groupby("host")["usable_cores"].max().to_dict(),
    )


# --- every repetition --------------------------------------------------------------------


@dataclass(frozen=True)
class RepetitionsData:
    """The timed repetitions of the headline cells by panel (with ``label``), and each
    panel's boxes: its cells' ``label``, ``strategy`` and ``workers`` in box order."""

    by_panel: dict
    boxes: dict
    panels: list
    most_boxes: int  # boxes of the fullest panel


def repetitions_data(summary: pd.DataFrame, timings: pd.DataFrame) -> RepetitionsData | NoData:
    """Every timed repetition (warm-ups left out) of the headline cells (``headline_cells``):
    one panel per task, storage, cache, size and n."""
    headline = headline_cells(summary)
    if headline.empty or not has(timings, [*CELL, "wall_s"]):
        return NoData("no timed repetitions")
    reps = timings[[*CELL, "wall_s", *(["warmup"] if "warmup" in timings.columns else [])]]
    if "warmup" in reps.columns:
        reps = reps[reps["warmup"].astype(str).str.lower() != "true"]
    reps = reps.merge(headline[[*CELL, "label"]], on=CELL, how="inner").dropna(subset=["wall_s"])
    if reps.empty:
        return NoData("no timed repetitions of the headline cells")
    reps = with_panel(reps)
    reps["panel"] = (
        reps["panel"] + " · " + reps["size"] + " · n=" + reps["n_images"].astype(int).astype(str)
    )
    rank = {s: i for i, s in enumerate(strategy_order(reps["strategy"].unique()))}
    by_panel = dict(tuple(reps.groupby("panel", sort=False)))
    boxes = {
        panel: rows[["label", "strategy", "workers"]]
        .drop_duplicates()
        .assign(rank=lambda f: f["strategy"].map(rank))
        .sort_values(["rank", "workers"])
        for panel, rows in by_panel.items()
    }
    return RepetitionsData(
        by_panel=by_panel,
        boxes=boxes,
        panels=sorted_unique(reps["panel"]),
        most_boxes=int(reps.groupby("panel")["label"].nunique().max()),
    )
