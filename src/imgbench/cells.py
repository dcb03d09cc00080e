"""A cell: one (experiment, task, storage, cache, size, n_images, strategy, workers).

A cell is one Snakemake job and one result file; its path is part of the user interface.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

CELL_PATTERN = (
    "{experiment}/cells/{task}/{storage}-{cache}/{width}x{height}/n{n_images}/"
    "{strategy}-w{workers}.json"
)
_CELL_RE = re.compile(
    r"(?P<experiment>[^/]+)/cells/(?P<task>[^/]+)/(?P<storage>[a-z]+)-(?P<cache>[a-z]+)/"
    r"(?P<width>\d+)x(?P<height>\d+)/n(?P<n_images>\d+)/(?P<strategy>[^/]+)-w(?P<workers>\d+)\.json$"
)


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
        return CELL_PATTERN.format(**asdict(self))

    @property
    def label(self) -> str:
        return (
            f"{self.experiment}: {self.task} {self.storage}-{self.cache} "
            f"{self.width}x{self.height} n={self.n_images} {self.strategy} x{self.workers}"
        )

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_path(cls, path: str | Path) -> CellSpec:
        """Parse a cell result path (absolute, or relative to the results directory)."""
        match = _CELL_RE.search(Path(path).as_posix())
        if not match:
            raise ValueError(f"{path}: not a cell result path ({CELL_PATTERN})")
        d = match.groupdict()
        for key in ("width", "height", "n_images", "workers"):
            d[key] = int(d[key])
        return cls(**d)
