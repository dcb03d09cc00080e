"""The decision logic on simulated timings with known answers: how often it claims what is
not so, and how often it finds what is.

Timings are shaped like the default grid's groups (the loop and 4 pool strategies x 1, 2
and 4 workers: 13 cells; 2 rounds of 3 repetitions) and go through the real analysis
(``summary_frame``, ``comparisons_frame``, ``recommendations_frame``). Noise is lognormal
per repetition (CV 3% or 10%), plus a random offset per round shared by the whole group
(the machine's state during that round) and a smaller one per job (a cell's round: drift
within a round). Seeds are fixed, so the rates below are exact for these seeds;
``benchmarks/decision_rates.py`` prints them with many more simulated groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imgbench.analysis import aggregate as analysis
from imgbench.analysis.recommend import recommendations_frame

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
    return frame.sort_values([*analysis.HOST_CELL, "round", "repetition"], ignore_index=True)


def decide(timings: pd.DataFrame) -> pd.DataFrame:
    """The comparisons table of simulated timings, as ``imgbench aggregate`` makes it."""
    summary = analysis.summary_frame(timings)
    return analysis.comparisons_frame(summary, timings)


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


@pytest.fixture(scope="module")
def null_3():
    return rates(decide(simulate_timings(120, cv=0.03, seed=1)))


@pytest.fixture(scope="module")
def null_10():
    return rates(decide(simulate_timings(120, cv=0.10, seed=3)))


def test_no_false_faster_than_the_loop_claims(null_3, null_10):
    # Holm over all 12 cells against the loop: at most 5% of groups claim any.
    assert null_3["any_faster"] <= 0.05
    assert null_10["any_faster"] <= 0.05


def test_few_false_significantly_slower_claims(null_3, null_10):
    # Holm over the group's 12 comparisons with the best picked from the data.
    assert null_3["any_slower"] <= 0.05
    assert null_10["any_slower"] <= 0.05


def test_cells_noisier_than_their_group_are_judged_on_their_own_noise():
    # Process pools at 10% CV among cells at 2-3%: a variance pooled over the group alone
    # would call some identical cell slower in about 8% of groups.
    mixed = [0.02, 0.02, 0.02, 0.02, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.03, 0.03, 0.03]
    found = rates(decide(simulate_timings(120, cv=mixed, seed=5)))
    assert found["any_slower"] <= 0.05 and found["any_faster"] <= 0.05


def test_equivalence_of_equal_cells_needs_low_noise(null_3, null_10):
    # At 3% CV two rounds of three repetitions bound the ratio within 5% for about a third
    # of equal cells (benchmarks/decision_rates.py: 31% with 1% drift per job, 48% without);
    # at 10% they never do, and equivalence is then not claimed instead of being assumed.
    assert 0.2 <= null_3["equivalent"] <= 0.6
    assert null_10["equivalent"] == 0.0
    # What the sentence says instead: the difference the repetitions could have missed.
    assert 0.04 <= null_3["max_missed"] <= 0.08
    assert 0.12 <= null_10["max_missed"] <= 0.25


def test_a_real_10_percent_difference_is_found_at_3_percent_cv():
    # 89% in benchmarks/decision_rates.py (250 groups); 60 groups vary by a few %.
    found = rates(decide(simulate_timings(60, cv=0.03, effect=0.10, seed=3)))
    assert found["fast_cell_faster"] >= 0.75


def test_the_recommendation_follows_the_decisions():
    timings = simulate_timings(8, cv=0.03, effect=0.30, seed=4)
    summary = analysis.summary_frame(timings)
    speedup = analysis.speedup_frame(summary, timings)
    comparisons = analysis.comparisons_frame(summary, timings)
    rec = recommendations_frame(summary, speedup, comparisons)
    assert (rec["best_strategy"] == FAST[0]).all() and rec["faster_than_loop"].all()
    assert rec["sentence"].str.contains("faster than the loop").all()
    assert not rec["sentence"].str.contains("within noise").any()
