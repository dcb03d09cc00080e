"""A cell's wall times as rounds x repetitions: the shape every statistic of the analysis
takes, because a round (one job, one process) is the experimental unit and the repetitions
within it are not independent of each other.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from imgbench.vocabulary import HOST_CELL


def round_table(timings: pd.DataFrame) -> dict[tuple, np.ndarray]:
    """Per cell (``HOST_CELL``): its wall times, rounds x repetitions (NaN pads a round with
    fewer repetitions), rounds in order."""
    if timings.empty:
        return {}
    rounds = timings["round"] if "round" in timings else pd.Series(1, index=timings.index)
    cell = timings.groupby(HOST_CELL, sort=False).ngroup().to_numpy()
    order = np.lexsort((np.arange(len(cell)), rounds.to_numpy(), cell))
    cell, rnd = cell[order], rounds.to_numpy()[order]
    walls = timings["wall_s"].to_numpy(dtype=float)[order]
    new_job = np.r_[True, (cell[1:] != cell[:-1]) | (rnd[1:] != rnd[:-1])]
    job = np.cumsum(new_job) - 1
    job_start = np.flatnonzero(new_job)
    position = np.arange(len(cell)) - job_start[job]
    first_job = np.r_[0, np.flatnonzero(cell[1:] != cell[:-1]) + 1]
    cell_first_job = job[first_job]
    round_index = job - cell_first_job[cell]
    n_cells = int(cell.max()) + 1
    padded = np.full((n_cells, int(round_index.max()) + 1, int(position.max()) + 1), math.nan)
    padded[cell, round_index, position] = walls
    n_rounds = np.zeros(n_cells, dtype=int)
    np.maximum.at(n_rounds, cell, round_index + 1)
    width = np.zeros(n_cells, dtype=int)
    np.maximum.at(width, cell, position + 1)
    keys = timings.groupby(HOST_CELL, sort=False).size().index
    return {tuple(key): padded[i, : n_rounds[i], : width[i]] for i, key in enumerate(keys)}
