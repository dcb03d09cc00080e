"""A cell: one (experiment, task, storage, cache, size, n_images, strategy, workers).

A cell runs as ``rounds`` separate jobs (one process each, ``repeats`` repetitions each):
one result file per round, whose path is part of the user interface. Round r of every
cell runs before round r + 1 of any, so that a slow period of the machine falls on many
cells instead of one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: A cell, relative to the results directory (no round: what names a cell for people).
CELL_PATTERN = (
    "{experiment}/cells/{task}/{storage}-{cache}/{width}x{height}/n{n_images}/{strategy}-w{workers}"
)
#: One round of a cell: its result file, relative to the results directory.
RESULT_PATTERN = CELL_PATTERN + "-r{round}.json"


@dataclass(frozen=True, order=True)
class CellSpec:
    experiment: str
    task: str
    storage: str
    cache: str
    width: int
    height: int
    n_images: int
    strategy: str
    workers: int

    @property
    def relative_path(self) -> str:
        """The cell, all its rounds: the stem of its result files."""
        return CELL_PATTERN.format(**asdict(self))

    def result_path(self, round: int) -> str:
        """The result file of one round (1-based), relative to the results directory."""
        return RESULT_PATTERN.format(**asdict(self), round=round)

    @property
    def label(self) -> str:
        return (
            f"{self.experiment}: {self.task} {self.storage}-{self.cache} "
            f"{self.width}x{self.height} n={self.n_images} {self.strategy} x{self.workers}"
        )

    def as_dict(self) -> dict:
        return asdict(self)
