"""Simulated timings with known answers, for the decision logic's error rates.

Timings are shaped like the default grid's groups (the loop and 4 pool strategies x 1, 2
and 4 workers: 13 cells; 2 rounds of 3 repetitions) and go through the real analysis
(``summary_frame``, ``comparisons_frame``). Noise is lognormal per repetition, plus a
random offset per round shared by the whole group (the machine's state during that round)
and a smaller one per job (a cell's round: drift within a round). Used by
``tests/analysis/test_decisions.py`` (fixed seeds) and ``benchmarks/decision_rates.py``
(many more simulated groups).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imgbench.analysis.comparisons import comparisons_frame
from imgbench.analysis.summary import summary_frame
from imgbench.vocabulary import HOST_CELL

STRATEGIES = ["threads", "processes", "processes_chunked", "asyncio"]
WORKERS = [1, 2, 4]
CELLS = [("serial", 1)] + [(s, w) for s in STRATEGIES for w in WORKERS]
ROUNDS, REPEATS = 2, 3
#: Standard deviations (log scale) of the shared per-round offset and of the per-job drift.
ROUND_SD, JOB_SD = 0.03, 0.01
#: The cell given a real difference when one is simulated.
FAST = ("threads", 4)


def simulate_timings(
    groups: int,
    cv: float | list[float],
    effect: float = 0.0,
    seed: int = 0,
    round_sd: float = ROUND_SD,
    job_sd: float = JOB_SD,
    rounds: int = ROUNDS,
    repeats: int = REPEATS,
) -> pd.DataFrame:
    """A timings table of ``groups`` simulated groups (told apart by ``n_images``).

    Every cell's true time is 1 s, except ``FAST``'s: 1 / (1 + effect) s, i.e. ``effect``
    faster than the loop and every other cell (0: no difference anywhere).
    """
    rng = np.random.default_rng(seed)
    # One CV for every cell, or one per cell (in ``CELLS`` order).
    sigma = np.sqrt(np.log1p(np.asarray(cv, dtype=float) ** 2))
    sigma = np.broadcast_to(sigma, (len(CELLS),))[None, :, None, None]
    shared = rng.normal(0.0, round_sd, (groups, 1, rounds, 1))
    drift = rng.normal(0.0, job_sd, (groups, len(CELLS), rounds, 1))
    noise = rng.normal(0.0, sigma, (groups, len(CELLS), rounds, repeats))
    truth = np.zeros(len(CELLS))
    truth[CELLS.index(FAST)] = -np.log1p(effect)
    walls = np.exp(truth[None, :, None, None] + shared + drift + noise)
    g, c, r, k = np.meshgrid(
        np.arange(groups),
        np.arange(len(CELLS)),
        np.arange(rounds),
        np.arange(repeats),
        indexing="ij",
    )
    strategy = np.array([s for s, _ in CELLS])[c.ravel()]
    workers = np.array([w for _, w in CELLS])[c.ravel()]
    n = 1 + g.ravel()
    frame = pd.DataFrame(
        {
            "experiment": "sim",
            "task": "decode",
            "storage": "disk",
            "cache": "warm",
            "width": 64,
            "height": 64,
            "n_images": n,
            "strategy": strategy,
            "workers": workers,
            "host": "sim",
            "round": 1 + r.ravel(),
            "repetition": k.ravel(),
            "wall_s": walls.ravel(),
            "usable_cores": 4,
            "format": "jpeg",
            "cpu_s": walls.ravel(),
            "peak_rss_bytes": 0,
            "payload_bytes": 1000,
        }
    )
    return frame.sort_values([*HOST_CELL, "round", "repetition"], ignore_index=True)


def decide(timings: pd.DataFrame) -> pd.DataFrame:
    """The comparisons table of simulated timings, as ``imgbench aggregate`` makes it."""
    summary = summary_frame(timings)
    return comparisons_frame(summary, timings)


def rates(comparisons: pd.DataFrame) -> dict[str, float]:
    """Per group: a false or true claim of "faster than the loop", any "significantly
    slower" claim, and the share of cells called equivalent to the best."""
    is_fast = (comparisons["strategy"] == FAST[0]) & (comparisons["workers"] == FAST[1])
    by_group = comparisons.groupby("n_images")
    others = comparisons[
        (comparisons["strategy"] != comparisons["best_strategy"])
        | (comparisons["workers"] != comparisons["best_workers"])
    ]
    return {
        "any_faster": float(by_group["faster_than_loop"].any().mean()),
        "fast_cell_faster": float(comparisons.loc[is_fast, "faster_than_loop"].mean()),
        "any_slower": float(by_group["significantly_slower"].any().mean()),
        "equivalent": float(others["equivalent"].mean()),
        "max_missed": float(others["max_missed_difference"].median()),
    }
