"""What a task is: its type, what its verifier is given, the checks verifiers share, and
what its options may hold.

A task is a pair of per-image functions (plain and ``async``) plus how to verify a whole
repetition's results. The plain function runs in a loop, a thread or a worker process, so
it is a module-level function of one picklable item.

Items are prepared before the timer: a path (``str``) for tasks that read a dataset, an
``(array, output path, durability)`` triple for tasks that save.

Options with a fixed set of values list it in ``Task.choices``; ``option_problems`` checks
a value against a task's options, for the config and for the runner alike.

``Task.bound`` says what limits the work: ``"cpu"`` (most tasks: at most min(workers, usable
cores) times faster in parallel) or ``"wait"`` (work that mostly waits, such as downloads:
up to workers times faster). The analysis uses it for the physical bound of a speedup.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgbench.errors import VerificationError
from imgbench.measure.generators import channels

if TYPE_CHECKING:
    import numpy as np

#: ``Task.bound`` values.
BOUNDS = ("cpu", "wait")


@dataclass
class VerifyContext:
    """What a repetition was asked to do, for checking what it did."""

    n_images: int
    width: int
    height: int
    input_paths: list[Path] = field(default_factory=list)
    input_sha256: list[str] = field(default_factory=list)
    input_pixel_sha256: list[str] = field(default_factory=list)
    #: Each input's decoded shape where the images differ (native sizes); else None.
    input_shapes: list[tuple[int, ...] | None] = field(default_factory=list)
    source_arrays: np.ndarray | None = None
    output_paths: list[Path] = field(default_factory=list)
    output_dir: Path | None = None
    #: "rgb" or "grey": the colour mode of the dataset.
    color: str = "rgb"
    #: The task's options (defaults merged with the config's).
    options: dict[str, Any] = field(default_factory=dict)
    #: The items the strategy was given, and a place for a reference run's outputs.
    items: list[Any] = field(default_factory=list)
    reference_dir: Path | None = None
    #: Verifiers keep expensive references here, computed once per cell (untimed).
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.height, self.width, *channels(self.color))

    def shape_of(self, index: int) -> tuple[int, ...]:
        """Input ``index``'s decoded shape: its own for native images, else the dataset's."""
        if index < len(self.input_shapes) and self.input_shapes[index] is not None:
            return tuple(self.input_shapes[index])
        return self.shape


@dataclass(frozen=True)
class Task:
    name: str
    summary: str
    #: "files": reads the dataset's encoded files; "arrays": encodes in-memory arrays to files.
    input_kind: str
    work: Callable[[Any], Any]
    awork: Callable[[Any], Awaitable[Any]]
    verify: Callable[[VerifyContext, Sequence[Any]], None]
    #: Suffix of the files the task writes (None: it returns its results in memory).
    output_suffix: str | None = None
    #: Option defaults (config ``task_options.<task>``); an option must have its default's type.
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Builds one picklable item from (input, output path, options, service); by default the
    #: input path, or (array, output path) for "arrays" tasks.
    make_item: Callable[[Any, str | None, dict[str, Any], Any], Any] | None = None
    #: Started once per cell around every repetition (untimed): (input paths, options) ->
    #: a context manager whose value make_item receives, e.g. an HTTP server's address.
    service: Callable[[list[Path], dict[str, Any]], AbstractContextManager[Any]] | None = None
    #: Whole-batch work for the ``vectorized`` strategy; None refuses that strategy.
    batch: Callable[[Sequence[Any]], list[Any]] | None = None
    #: Options whose value must be one of a fixed set: option -> allowed values (its default
    #: among them). Other string options are sizes WIDTHxHEIGHT.
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: "cpu": the work needs a core (the default); "wait": it mostly waits (a download).
    bound: str = "cpu"
    #: Each image's output is an empty directory of its own (made before every repetition,
    #: untimed), not a file: a user's task writes what it wants there.
    output_dirs: bool = False
    #: A user's task: the function it runs (``imgbench.measure.tasks.user``); None for
    #: imgbench's own.
    function: str | None = None
    #: The image library doing the work (``imgbench.measure.codecs.LIBRARIES``; None for
    #: tasks that use none), and the Pillow task this one is a form of under another
    #: library (``imgbench.measure.tasks.libraries``; the Pillow task names itself).
    library: str | None = None
    base: str | None = None

    def build_item(self, source: Any, output: str | None, options: dict, service: Any) -> Any:
        if self.make_item is not None:
            return self.make_item(source, output, options, service)
        return source if output is None else (source, output)


def option_problems(
    key: str, option: str, value: Any, defaults: Mapping, choices: Mapping | None = None
) -> list[str]:
    """A task option must be known and have its default's type; numbers are never negative;
    an option with ``choices`` (``Task.choices``) takes one of them, other strings are sizes.

    ``key`` names the option in the messages (a config key, or how the runner was given it).
    """
    if option not in defaults:
        allowed = ", ".join(sorted(defaults)) or "(this task has no options)"
        return [f"config key {key}: unknown option; allowed: {allowed}"]
    default = defaults[option]
    allowed_values = (choices or {}).get(option)
    if allowed_values is not None:
        if value not in allowed_values:
            return [
                f"config key {key}: unknown value {value!r}; allowed: {', '.join(allowed_values)}"
            ]
        return []
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            return [f"config key {key}: {value!r} is not a number >= 0"]
    elif isinstance(default, str) and not (
        isinstance(value, str) and re.fullmatch(r"[1-9][0-9]{0,4}x[1-9][0-9]{0,4}", value)
    ):
        return [f"config key {key}: {value!r} is not a size WIDTHxHEIGHT, e.g. {default}"]
    return []


# -- checks every verifier makes ----------------------------------------------------------------


def on_every_core(function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[function(item) for item in items]``, on threads, one per usable core.

    For verification, which is untimed but is harness time after every repetition: the
    checksums it computes (hashlib releases the GIL for buffers of more than 2 KB) of every
    decoded 1280x960 array took a second per default decode cell on one core.
    """
    from concurrent.futures import ThreadPoolExecutor

    from imgbench.measure.machine import usable_cores

    cores = min(usable_cores(), len(items))
    if cores <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=cores, thread_name_prefix="imgbench-verify") as pool:
        return list(pool.map(function, items))


def check_count(ctx: VerifyContext, results: Sequence[Any]) -> None:
    """One result per image, none of them missing."""
    if len(results) != ctx.n_images:
        raise VerificationError(f"expected {ctx.n_images} results, got {len(results)}")
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise VerificationError(
            f"{len(missing)} of {ctx.n_images} images have no result (first: #{missing[0]})"
        )


def check_output_files(ctx: VerifyContext) -> None:
    """The output directory holds exactly the expected files: none lost, none extra."""
    assert ctx.output_dir is not None
    expected = {p.name for p in ctx.output_paths}
    present = set(os.listdir(ctx.output_dir))
    if present != expected:
        lost = sorted(expected - present)
        extra = sorted(present - expected)
        raise VerificationError(
            f"{ctx.output_dir}: {len(lost)} expected files missing {lost[:3]}, "
            f"{len(extra)} unexpected {extra[:3]}"
        )
