"""The names of things, each defined once: what a cell is, its keys, storages, caches,
dataset formats, the base case, and how a size is written.

Every layer (measure, plan, analysis, report) takes these names from here, so that a table
written by the analysis and read by the deck agree on what a group and a cell are.

A cell: one (experiment, task, storage, cache, size, n_images, strategy, workers).

A cell runs as ``rounds`` separate jobs (one process each, ``repeats`` repetitions each):
one result file per round, whose path is part of the user interface. Round r of every
cell runs before round r + 1 of any, so that a slow period of the machine falls on many
cells instead of one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

#: Where a cell's files live: a disk filesystem, or a tmpfs (shared memory).
STORAGES = ("disk", "shm")
#: The page-cache state a repetition starts from.
CACHES = ("cold", "warm")
#: Encoded dataset formats and their file suffixes; ``RAW`` is arrays in one .npy file.
FORMATS = {"png": ".png", "jpeg": ".jpg", "bmp": ".bmp"}
RAW = "raw"
#: A folder's images as found (``sizes: [native]``): each file copied byte for byte, in its
#: own format, size and mode; such a dataset's width and height are 0.
NATIVE_FORMAT = "native"
COLORS = ("rgb", "grey")

#: The base case every speedup is relative to: the plain loop, one worker.
BASELINE = "serial"
BASELINE_WORKERS = 1

#: What limits a cell, as the analysis diagnoses it from measured evidence
#: (``imgbench.analysis.diagnosis``, which says what each means and in which order the rules
#: apply): the loop is the reference; "undetermined" where no rule's evidence holds.
DIAGNOSES = (
    "baseline",
    "gil-bound",
    "transfer-bound",
    "overhead-bound",
    "waiting",
    "oversubscribed",
    "core-bound",
    "undetermined",
)

#: The machine that measured a row, when a table holds several.
HOST = "host"
#: A group: the cells that differ only in strategy and worker count (one speedup base).
GROUP = ["experiment", "task", "storage", "cache", "width", "height", "n_images"]
#: A cell's identity in a table.
CELL = [*GROUP, "strategy", "workers"]
#: The same with the host, second: tables of several machines.
HOST_GROUP = [GROUP[0], HOST, *GROUP[1:]]
HOST_CELL = [*HOST_GROUP, "strategy", "workers"]

_SIZE = re.compile(r"^([1-9][0-9]*)x([1-9][0-9]*)$")
#: ``sizes: [native]``: a folder's images timed as found, whatever their sizes. A cell's
#: width and height are then 0 (its paths say ``0x0``, which reads back as native).
NATIVE = "native"
NATIVE_PATH = "0x0"


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``; ``"native"`` (or its path form ``0x0``) -> ``(0, 0)``;
    ``ValueError`` naming the text otherwise."""
    cleaned = str(text).strip().lower()
    if cleaned in (NATIVE, NATIVE_PATH):
        return 0, 0
    match = _SIZE.match(cleaned)
    if not match:
        raise ValueError(
            f"size {text!r} is not WIDTHxHEIGHT of positive integers (e.g. 640x480) "
            f"nor {NATIVE!r} (a folder's images as found)"
        )
    return int(match.group(1)), int(match.group(2))


def is_native(width: int, height: int) -> bool:
    return int(width) == 0 and int(height) == 0


def format_size(width: int, height: int) -> str:
    """A size for people: "640x480", or "native" for a folder's images as found."""
    return NATIVE if is_native(width, height) else f"{int(width)}x{int(height)}"


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
            f"{format_size(self.width, self.height)} n={self.n_images} {self.strategy} "
            f"x{self.workers}"
        )

    def as_dict(self) -> dict:
        return asdict(self)
