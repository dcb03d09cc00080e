"""What the figures show, as plain frames (no drawing): the panel each row belongs to, the
cells each figure picks (each strategy's fastest worker count, the headline cells, the
overhead bars, the hosts' curves), the winner of each heatmap cell, the overhead segments
and the speedups the Amdahl fits predict. Labels for people come from ``imgbench.words``.

The headline figures show each task's largest image size; groups include the host, so
results of several hosts are never pooled.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from imgbench import words
from imgbench.analysis.frames import (
    CELL,
    GROUP,
    flag,
    has,
    hosted,
    largest_size,
    serial_base,
    size_label,
    strategy_order,
)
from imgbench.analysis.verdicts import above_bound, cell_verdicts
from imgbench.vocabulary import BASELINE


def sorted_unique(values) -> list:
    return sorted(pd.unique(values))


def thin(values: list, most: int) -> list:
    """At most ``most`` of the sorted values, evenly spaced, first and last kept."""
    if len(values) <= most:
        return list(values)
    index = np.unique(np.round(np.linspace(0, len(values) - 1, most)).astype(int))
    return [values[i] for i in index]


def with_panel(frame: pd.DataFrame, size_in_panel: bool = False) -> pd.DataFrame:
    """Add ``size``, ``storage_cache`` and ``panel`` labels.

    A panel is the task, plus storage-cache when several are in the table, plus the size when
    ``size_in_panel`` and several are in the table (line plots of speedup tell sizes apart by
    marker instead).
    """
    out = hosted(frame)
    out["size"] = size_label(out)
    out["storage_cache"] = out["storage"].astype(str) + "-" + out["cache"].astype(str)
    out["panel"] = out["task"].astype(str)
    if out["storage_cache"].nunique() > 1:
        out["panel"] = out["panel"] + " · " + out["storage_cache"]
    if size_in_panel and out["size"].nunique() > 1:
        out["panel"] = out["panel"] + " · " + out["size"]
    if out["host"].nunique() > 1:
        out["panel"] = out["host"].astype(str) + ": " + out["panel"]
    return out


def attach_panel(frame: pd.DataFrame, labelled: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the ``panel`` and ``size`` labels ``labelled`` gave the same task,
    storage, cache and size (rows of other conditions are dropped), so that an overlay
    lands in the panel of the data it belongs to."""
    keys = GROUP[1:-1]
    frame = hosted(frame)
    if frame.empty or not all(k in frame.columns for k in keys):
        return frame.iloc[0:0].assign(panel=[], size=[])
    labels = labelled[[*keys, "panel", "size"]].drop_duplicates(keys)
    return frame.merge(labels, on=keys, how="inner")


def amdahl_speedup(amdahl: pd.DataFrame, speedup: pd.DataFrame, workers) -> pd.DataFrame:
    """Speedup over the serial loop that each Amdahl fit predicts, at the given worker counts.

    Predicted time is T(p) = t_serial_s + t_parallel_s / p; the predicted speedup is the
    group's serial-loop median (``baseline_median_s`` of the ``serial`` rows of
    ``speedup``) divided by it. One row per (group, strategy, workers): the group, strategy,
    ``workers`` and ``speedup``. Groups without a measured loop, and worker counts where the
    fitted time is not positive, are left out.
    """
    amdahl, speedup = hosted(amdahl), hosted(speedup)
    needed = [*GROUP, "strategy", "t_serial_s", "t_parallel_s"]
    columns = [*GROUP, "strategy", "workers", "speedup"]
    if not has(amdahl, needed) or not has(speedup, [*GROUP, "baseline_median_s"]):
        return pd.DataFrame(columns=columns)
    base = (
        serial_base(speedup)
        .dropna(subset=["baseline_median_s"])
        .groupby(GROUP, as_index=False)["baseline_median_s"]
        .first()
    )
    fits = amdahl[needed].merge(base, on=GROUP, how="inner")
    grid = np.asarray(workers, dtype=float)
    if fits.empty or grid.size == 0:
        return pd.DataFrame(columns=columns)
    repeated = fits.loc[fits.index.repeat(grid.size)].reset_index(drop=True)
    repeated["workers"] = np.tile(grid, len(fits))
    predicted = repeated["t_serial_s"] + repeated["t_parallel_s"] / repeated["workers"]
    repeated["speedup"] = repeated["baseline_median_s"] / predicted
    valid = (predicted > 0) & np.isfinite(repeated["speedup"])
    return repeated.loc[valid, columns].reset_index(drop=True)


def best_per_strategy_and_n(summary: pd.DataFrame) -> pd.DataFrame:
    """For each group and strategy, the summary row of its fastest worker count (median)."""
    data = hosted(summary).dropna(subset=["median_s"])
    return (
        data.sort_values(["median_s", "workers"], kind="stable")
        .drop_duplicates([*GROUP, "strategy"])
        .sort_values(CELL, kind="stable")
        .reset_index(drop=True)
    )


def best_strategy_grid(
    summary: pd.DataFrame,
    speedup: pd.DataFrame,
    comparisons: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The fastest strategy per (group, worker count): the heatmap's cells.

    Candidates at worker count w are the cells run with w workers, and the group's serial
    loop, which competes in every column as the one-worker loop. One row per group and worker
    count of that group: the group, ``workers`` (the column), ``best_strategy``,
    ``best_workers`` (the winner's own worker count), ``best_median_s``, and ``speedup`` of
    the winner over the serial loop (from ``speedup``'s ``serial`` rows, else the ratio of
    medians; NaN when the group has no loop). Ties go to the earlier strategy in registry
    order, then fewer workers.

    The tables' verdicts on the winner (``cell_verdicts``): ``above_bound``,
    ``faster_than_loop`` (True for a loop that wins), ``recommended`` (the winner is the
    group's recommendation in recommendations.csv) and ``withheld``.
    """
    columns = [*GROUP, "workers", "best_strategy", "best_workers", "best_median_s", "speedup"]
    columns += _VERDICT_COLUMNS
    summary, speedup = hosted(summary), hosted(speedup)
    if not has(summary, [*CELL, "median_s"]):
        return pd.DataFrame(columns=columns)
    cells = summary[[*CELL, "median_s"]].dropna(subset=["median_s"])
    if cells.empty:
        return pd.DataFrame(columns=columns)
    winners = _column_winners(cells, speedup)
    winners = _winner_verdicts(winners, speedup, comparisons, recommendations)
    return winners.sort_values([*GROUP, "workers"])[columns].reset_index(drop=True)


#: The verdicts ``best_strategy_grid`` gives each winner.
_VERDICT_COLUMNS = ["above_bound", "faster_than_loop", "recommended", "withheld"]


def _column_winners(cells: pd.DataFrame, speedup: pd.DataFrame) -> pd.DataFrame:
    """The fastest cell of each (group, worker count) of ``cells`` (summary rows with a
    median), the group's loop competing in every column, with its speedup over the loop."""
    loop = (
        cells[cells["strategy"] == BASELINE]
        .sort_values(["median_s", "workers"], kind="stable")
        .drop_duplicates(GROUP)
    )
    worker_columns = cells[[*GROUP, "workers"]].drop_duplicates()
    parallel = cells[cells["strategy"] != BASELINE].assign(best_workers=lambda f: f["workers"])
    loop_everywhere = worker_columns.merge(
        loop.drop(columns="workers"), on=GROUP, how="inner"
    ).merge(loop[[*GROUP, "workers"]].rename(columns={"workers": "best_workers"}), on=GROUP)
    candidates = pd.concat([parallel, loop_everywhere], ignore_index=True)
    rank = {s: i for i, s in enumerate(strategy_order(candidates["strategy"].unique()))}
    candidates["rank"] = candidates["strategy"].map(rank)
    winners = (
        candidates.sort_values(["median_s", "rank", "best_workers"], kind="stable")
        .drop_duplicates([*GROUP, "workers"])
        .rename(columns={"strategy": "best_strategy", "median_s": "best_median_s"})
    )
    loop_median = loop[[*GROUP, "median_s"]].rename(columns={"median_s": "loop_median_s"})
    winners = winners.merge(loop_median, on=GROUP, how="left")
    winners["speedup"] = winners["loop_median_s"] / winners["best_median_s"]
    if has(speedup, [*CELL, "speedup"]):
        # Where speedup.csv has the winner, show its number, so the heatmap agrees with it.
        table = (
            serial_base(speedup)[[*CELL, "speedup"]]
            .drop_duplicates(CELL)
            .rename(
                columns={
                    "strategy": "best_strategy",
                    "workers": "best_workers",
                    "speedup": "table_speedup",
                }
            )
        )
        winners = winners.merge(table, on=[*GROUP, "best_strategy", "best_workers"], how="left")
        winners["speedup"] = winners["table_speedup"].fillna(winners["speedup"])
    return winners


def _winner_verdicts(
    winners: pd.DataFrame,
    speedup: pd.DataFrame,
    comparisons: pd.DataFrame | None,
    recommendations: pd.DataFrame | None,
) -> pd.DataFrame:
    """``winners`` with the tables' verdicts on each (``cell_verdicts``); a loop that wins
    counts as faster than the loop, and as recommended in its own column where it is the
    group's recommendation."""
    verdicts = cell_verdicts(speedup, comparisons, recommendations)
    verdicts = verdicts.drop(columns="speedup").rename(
        columns={"strategy": "best_strategy", "workers": "best_workers"}
    )
    winners = winners.merge(verdicts, on=[*GROUP, "best_strategy", "best_workers"], how="left")
    is_loop = winners["best_strategy"] == BASELINE
    for column in _VERDICT_COLUMNS:
        winners[column] = winners[column].astype(object).where(winners[column].notna(), False)
        winners[column] = winners[column].astype(bool)
    if has(hosted(recommendations) if recommendations is not None else pd.DataFrame(), GROUP):
        recs = hosted(recommendations).drop_duplicates(GROUP)
        loop_best = recs[recs["best_strategy"] == BASELINE][GROUP].assign(
            _loop_withheld=flag(recs, "withheld")
        )
        winners = winners.merge(loop_best, on=GROUP, how="left")
        # The loop competes in every column; it is recommended in its own (1 worker).
        own = (winners["workers"] == winners["best_workers"]).to_numpy()
        chosen = is_loop.to_numpy() & own & winners["_loop_withheld"].notna().to_numpy()
        winners.loc[chosen, "recommended"] = True
        winners.loc[chosen, "withheld"] = winners.loc[chosen, "_loop_withheld"].astype(bool)
    winners.loc[is_loop.to_numpy(), "faster_than_loop"] = True
    return winners


def headline_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The cells whose repetitions are shown: for each task, storage and cache, at its
    largest size and then its largest n, the serial loop and the fastest cell of each
    parallel strategy. Summary rows plus ``label``."""
    summary = hosted(summary)
    if not has(summary, [*CELL, "median_s"]):
        return pd.DataFrame(columns=[*CELL, "median_s", "label"])
    data, _ = largest_size(summary.dropna(subset=["median_s"]))
    largest_n = data.groupby(GROUP[:-1])["n_images"].transform("max")
    data = best_per_strategy_and_n(data[data["n_images"] == largest_n])
    return data.assign(label=cell_labels(data, "\n")).reset_index(drop=True)


def overhead_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The overhead bars: for each task, storage and cache at its largest size, at the
    smallest and the largest n, each strategy at its fastest worker count.

    Summary rows plus ``which`` ("smallest n" or "largest n"; one "only n" when they
    coincide) and ``label``.
    """
    summary = hosted(summary)
    if not has(summary, [*CELL, "median_s"]):
        return pd.DataFrame(columns=[*CELL, "median_s", "which", "label"])
    data, _ = largest_size(summary.dropna(subset=["median_s"]))
    condition = GROUP[:-1]
    smallest = data.groupby(condition)["n_images"].transform("min")
    largest = data.groupby(condition)["n_images"].transform("max")
    which = np.where(
        smallest == largest,
        "only n",
        np.where(data["n_images"] == smallest, "smallest n", "largest n"),
    )
    data = data.assign(which=which)[(data["n_images"] == smallest) | (data["n_images"] == largest)]
    data = best_per_strategy_and_n(data)
    return data.assign(label=cell_labels(data)).reset_index(drop=True)


#: The segments of an overhead bar, in timeline order (columns of ``overhead_segments``):
#: together they make the cell's median wall time.
SEGMENT_COLUMNS = ("pool_startup_s", "until_first_s", "median_work_s", "median_shutdown_s")

#: The summary columns the overhead breakdown needs (``median_pool_ready_s`` is optional).
OVERHEAD_COLUMNS = ("median_first_result_s", "median_work_s", "median_shutdown_s")


def overhead_segments(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` plus the bar segments of ``SEGMENT_COLUMNS`` (seconds, medians) and
    ``pool_after_first`` / ``pool_recorded``.

    ``pool_startup_s`` is ``median_pool_ready_s`` (timer start until every pool worker had
    started), ``until_first_s`` the rest of ``median_first_result_s`` (one item's or one
    chunk's work, plus waiting for it). A pool whose last worker started after the first
    result came back (``pool_after_first``) has its start-up cut at the first result, so that
    the segments still add up to the wall time. Without ``median_pool_ready_s`` (older tables,
    a strategy without a pool) the whole first-result time is ``until_first_s`` and
    ``pool_recorded`` is False.
    """
    out = summary.copy()
    first = (
        pd.to_numeric(out["median_first_result_s"], errors="coerce")
        if "median_first_result_s" in out.columns
        else pd.Series(math.nan, index=out.index)
    )
    ready = (
        pd.to_numeric(out["median_pool_ready_s"], errors="coerce")
        if "median_pool_ready_s" in out.columns
        else pd.Series(math.nan, index=out.index)
    )
    out["pool_recorded"] = ready.notna()
    out["pool_after_first"] = (ready > first).fillna(False)
    pool = np.fmin(ready, first).where(ready.notna() & first.notna())
    out["pool_startup_s"] = pool
    out["until_first_s"] = (first - pool.fillna(0.0)).clip(lower=0.0)
    return out


def hosts_frame(speedup: pd.DataFrame) -> pd.DataFrame:
    """The curves of the hosts figure: speedup over the serial loop of the same host, of
    each parallel strategy, at the largest size and then the largest n of each task, storage
    and cache. The size and n are chosen over all hosts, so that every host's panel shows
    the same workload. Serial-base rows of ``speedup`` plus ``row`` (the workload's label).
    """
    speedup = hosted(speedup)
    if not has(speedup, [*CELL, "speedup", "usable_cores"]):
        return pd.DataFrame(columns=[*CELL, "speedup", "row"])
    data = serial_base(speedup)
    data = data[(data["strategy"] != BASELINE) & np.isfinite(data["speedup"])]
    place = ["experiment", "task", "storage", "cache"]
    pixels = data["width"] * data["height"]
    data = data[pixels == pixels.groupby([data[c] for c in place]).transform("max")]
    largest_n = data.groupby([*place, "width", "height"])["n_images"].transform("max")
    data = data[data["n_images"] == largest_n].copy()
    if data.empty:
        return data.assign(row=[])
    data["above_bound"] = above_bound(data)
    label = data["task"].astype(str)
    places = data["storage"].astype(str) + "-" + data["cache"].astype(str)
    if places.nunique() > 1:
        label = label + " · " + places
    data["row"] = (
        label + " · " + size_label(data) + " · n=" + data["n_images"].astype(int).astype(str)
    )
    return data.sort_values(["row", "host", "strategy", "workers"]).reset_index(drop=True)


def cell_labels(frame: pd.DataFrame, sep: str = " ") -> list[str]:
    """Each row's strategy and workers as the figures label them ("threads ×2")."""
    pairs = zip(frame["strategy"], frame["workers"], strict=True)
    return [words.who(strategy, workers, words.LABEL, sep) for strategy, workers in pairs]
