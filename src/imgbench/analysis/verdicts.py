"""What the tables say about each cell against the serial loop, read, never tested here:
above its physical bound (``exceeds_bound`` of speedup.csv), faster than the loop
(``faster_than_loop`` of comparisons.csv, Holm-corrected, within the bound, not withheld),
the group's recommendation and whether it is withheld (recommendations.csv); and from which
number of images each strategy pays off. Older tables without these columns fall back on
the speedup's own CI, and have no bound.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from imgbench.analysis.frames import (
    CELL,
    GROUP,
    flag,
    has,
    hosted,
    serial_base,
)
from imgbench.vocabulary import BASELINE


def above_bound(rows: pd.DataFrame) -> pd.Series:
    """Whether each speedup row is above its physical bound: ``exceeds_bound`` of
    speedup.csv, else speedup > ``bound`` where the table has one, else False (older tables
    carry no bound)."""
    if "exceeds_bound" in rows.columns:
        return flag(rows, "exceeds_bound")
    if "bound" in rows.columns and "speedup" in rows.columns:
        bound = pd.to_numeric(rows["bound"], errors="coerce")
        return (rows["speedup"] > bound).fillna(False).astype(bool)
    return pd.Series(False, index=rows.index)


def cell_verdicts(
    speedup: pd.DataFrame,
    comparisons: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """What the tables say about each cell against the serial loop: one row per cell of the
    ``serial`` rows of ``speedup``, with ``speedup``, ``above_bound``, ``faster_than_loop``,
    ``recommended`` and ``withheld``. Nothing is tested here; the verdicts are read:

    - ``above_bound``: ``exceeds_bound`` of speedup.csv (else speedup > ``bound`` where the
      table has a bound; else False): a speedup the workers and usable cores cannot give.
    - ``recommended`` / ``withheld``: the cell is its group's ``best_strategy`` x
      ``best_workers`` in recommendations.csv, and whether that recommendation is withheld.
    - ``faster_than_loop``: comparisons.csv's ``faster_than_loop`` (Holm-corrected over the
      group's cells against the loop), within the bound and not withheld. Tables without
      that column: the loop is ``significantly_slower`` than the group's best (where the
      table has the loop's row), and the cell's speedup CI lies above 1 (where speedup.csv
      has one); with neither, a speedup above 1.
    """
    columns = [*CELL, "speedup", "above_bound", "faster_than_loop", "recommended", "withheld"]
    speedup = hosted(speedup)
    if not has(speedup, [*CELL, "speedup"]):
        return pd.DataFrame(columns=columns)
    rows = serial_base(speedup)
    rows = rows[rows["strategy"] != BASELINE].drop_duplicates(CELL).copy()
    value = rows["speedup"]
    rows["above_bound"] = above_bound(rows)
    if "speedup_ci_low" in rows.columns and rows["speedup_ci_low"].notna().any():
        by_ci = (rows["speedup_ci_low"] > 1).fillna(False)
        known_ci = rows["speedup_ci_low"].notna()
    else:
        by_ci = pd.Series(False, index=rows.index)
        known_ci = pd.Series(False, index=rows.index)
    gate = pd.Series(math.nan, index=rows.index, dtype=object)
    comparisons = hosted(comparisons) if comparisons is not None else pd.DataFrame()
    if has(comparisons, [*CELL, "significantly_slower"]):
        loop = comparisons[comparisons["strategy"] == BASELINE].drop_duplicates(GROUP)
        loop = loop.assign(_gate=flag(loop, "significantly_slower"))[[*GROUP, "_gate"]]
        merged = rows[GROUP].merge(loop, on=GROUP, how="left")
        gate = pd.Series(merged["_gate"].to_numpy(), index=rows.index, dtype=object)
    known_gate = gate.notna()
    gate_ok = gate.where(known_gate, True).astype(bool)
    fallback = (value > 1).fillna(False)
    faster = np.where(known_ci, by_ci, np.where(known_gate, True, fallback)) & gate_ok
    if has(comparisons, [*CELL, "faster_than_loop"]):
        # The analysis's own verdict: Holm-corrected over the group's cells against the loop.
        told = comparisons[comparisons["strategy"] != BASELINE].drop_duplicates(CELL)
        told = told.assign(_told=flag(told, "faster_than_loop"))[[*CELL, "_told"]]
        merged = rows[CELL].merge(told, on=CELL, how="left")
        known = merged["_told"].notna().to_numpy()
        faster = np.where(known, merged["_told"].fillna(False).astype(bool).to_numpy(), faster)
    rows["recommended"] = False
    rows["withheld"] = False
    recommendations = hosted(recommendations) if recommendations is not None else pd.DataFrame()
    if has(recommendations, [*GROUP, "best_strategy", "best_workers"]):
        recs = recommendations.drop_duplicates(GROUP).assign(
            _withheld=lambda f: flag(f, "withheld")
        )
        recs = recs[[*GROUP, "best_strategy", "best_workers", "_withheld"]].rename(
            columns={"best_strategy": "strategy", "best_workers": "workers"}
        )
        recs = recs.assign(workers=pd.to_numeric(recs["workers"], errors="coerce"))
        merged = rows[CELL].merge(recs.assign(_best=True), on=CELL, how="left")
        rows["recommended"] = merged["_best"].fillna(False).astype(bool).to_numpy()
        rows["withheld"] = (merged["_withheld"].fillna(False).astype(bool)).to_numpy()
    rows["faster_than_loop"] = faster & ~rows["above_bound"] & ~rows["withheld"]
    return rows[columns].reset_index(drop=True)


def payoff_n(best: pd.DataFrame, verdicts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Where each strategy starts to pay off: the smallest n from which it is faster than the
    serial loop at every larger n measured.

    ``best`` is ``best_per_strategy_and_n``'s output. With ``verdicts`` (``cell_verdicts``),
    "faster" is the tables' verdict: some cell of the strategy in that group is
    ``faster_than_loop`` (significant, within its bound, not withheld); without them, its
    fastest cell's median is below the loop's. One row per (task, storage, cache, size,
    parallel strategy) whose group has a measured loop: ``payoff_n`` (NaN: never faster).
    """
    condition = GROUP[:-1]
    columns = [*condition, "strategy", "payoff_n"]
    if best.empty:
        return pd.DataFrame(columns=columns)
    best = hosted(best)
    loop = best[best["strategy"] == BASELINE][[*GROUP, "median_s"]].rename(
        columns={"median_s": "serial_median_s"}
    )
    parallel = best[best["strategy"] != BASELINE].merge(loop, on=GROUP, how="inner")
    if parallel.empty:
        return pd.DataFrame(columns=columns)
    if verdicts is None:
        parallel["faster"] = (parallel["median_s"] < parallel["serial_median_s"]).astype(int)
    else:
        confirmed = (
            hosted(verdicts)
            .assign(faster=lambda f: flag(f, "faster_than_loop").astype(int))
            .groupby([*GROUP, "strategy"], as_index=False)["faster"]
            .max()
        )
        parallel = parallel.merge(confirmed, on=[*GROUP, "strategy"], how="left")
        parallel["faster"] = parallel["faster"].fillna(0).astype(int)
    parallel = parallel.sort_values([*condition, "strategy", "n_images"], ascending=False)
    # From the largest n down: faster here and at every larger n.
    parallel["faster_from_here"] = parallel.groupby([*condition, "strategy"])["faster"].cummin()
    parallel["candidate"] = parallel["n_images"].where(parallel["faster_from_here"] == 1)
    out = parallel.groupby([*condition, "strategy"], as_index=False)["candidate"].min()
    return out.rename(columns={"candidate": "payoff_n"})[columns]
