"""Commands of one cell job: making a dataset (``make-dataset``) and running a cell
(``run-cell``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imgbench.cli.arguments import DATASET_SEED, SCRATCH, _command, _positive, _seconds, _size
from imgbench.errors import ImgbenchError
from imgbench.vocabulary import CACHES, COLORS, FORMATS, NATIVE_FORMAT, RAW, STORAGES, format_size

#: The config's default content (tests/measure/test_photos.py keeps it equal to the schema's).
DATASET_CONTENT = "photo"


def _stop_on_signals(what: str):
    """SIGTERM and SIGHUP stop the command as Ctrl-C does, unwinding so that nothing is left
    half-made (by default they end the process on the spot, leaving its temporary files)."""
    import contextlib
    import os
    import signal

    from imgbench.measure.guard import kill_children

    pid = os.getpid()

    def stop(signum, frame):
        if os.getpid() != pid:  # a forked worker inherits this handler: die as usual
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        # Workers still busy would make the unwinding wait for all their work.
        kill_children()
        raise KeyboardInterrupt(signal.Signals(signum).name)

    @contextlib.contextmanager
    def stopping():
        stops = [s for s in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, s)]
        previous = {getattr(signal, s): signal.signal(getattr(signal, s), stop) for s in stops}
        try:
            yield
        except KeyboardInterrupt as exc:
            signum = signal.Signals.__members__.get(str(exc), signal.SIGINT)
            print(
                f"imgbench: error: {what}: stopped by {signum.name}; nothing written",
                file=sys.stderr,
            )
            raise SystemExit(128 + signum.value) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    return stopping()


def cmd_make_dataset(args: argparse.Namespace) -> None:
    from imgbench.measure.datasets import make_dataset

    width, height = args.size
    with _stop_on_signals(str(args.output)):
        manifest = make_dataset(
            args.output,
            args.format,
            width,
            height,
            args.count,
            args.seed,
            source=args.source,
            color=args.color,
            workers=args.workers,
            content=args.content,
            folder=args.folder,
            on_bad_image=args.on_bad_image,
        )
    print(
        f"{manifest.directory}: {manifest.count} {manifest.format} {manifest.content} images "
        f"{format_size(width, height)}"
    )


def _task_options(task: str, pairs: list[str]) -> dict:
    """``NAME=VALUE`` pairs, each parsed as its default's type (a number or a string)."""
    from imgbench.measure.tasks import TASKS

    defaults = TASKS[task].options if task in TASKS else {}
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ImgbenchError(f"--option {pair!r}: expected NAME=VALUE")
        default = defaults.get(name)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            try:
                options[name] = float(value) if isinstance(default, float) else int(value)
            except ValueError:
                raise ImgbenchError(f"--option {pair!r}: {name} must be a number") from None
        else:
            options[name] = value
    return options


def cmd_run_cell(args: argparse.Namespace) -> None:
    from imgbench.measure.runner import RunOptions, run_cell
    from imgbench.vocabulary import CellSpec

    width, height = args.size
    if args.task_function:
        from imgbench.measure.tasks import register_function

        register_function(args.task, args.task_function)
    spec = CellSpec(
        args.experiment,
        args.task,
        args.storage,
        args.cache,
        width,
        height,
        args.n_images,
        args.strategy,
        args.workers,
    )
    result = run_cell(
        spec,
        RunOptions(
            args.repeats,
            args.warmup,
            args.dataset,
            args.scratch or SCRATCH[args.storage],
            args.output,
            task_options=_task_options(args.task, args.option),
            config_hash=args.config_hash,
            # Always guarded, even without a limit: a signal stops the cell cleanly.
            timeout_s=float("inf") if args.timeout is None else args.timeout,
            eviction=args.eviction,
            start_method=args.start_method,
            round=args.round,
            rounds=args.rounds,
        ),
    )
    walls = sorted(r["wall_s"] for r in result["repetitions"] if not r["warmup"])
    median = walls[len(walls) // 2] if len(walls) % 2 else sum(walls[len(walls) // 2 - 1 :][:2]) / 2
    print(f"{spec.label}: median {median:.4f} s over {len(walls)} repetitions, verified")


def add_commands(sub) -> None:
    """Commands of one cell job: making a dataset, running a cell."""
    p = _command(
        sub,
        "make-dataset",
        "make a dataset of photographs, synthetic images or noise",
        cmd_make_dataset,
    )
    p.add_argument(
        "--format",
        required=True,
        choices=[RAW, NATIVE_FORMAT, *FORMATS],
        help="image encoding (native: a --folder's files as found)",
    )
    p.add_argument(
        "--size", required=True, type=_size, help="image size, WIDTHxHEIGHT (native: 0x0)"
    )
    p.add_argument("--count", required=True, type=int, help="number of images")
    p.add_argument(
        "--seed",
        type=int,
        default=DATASET_SEED,
        help="image i of a seed is always the same (the config's dataset_seed)",
    )
    p.add_argument("--color", default="rgb", choices=COLORS, help="colour mode")
    # Checked by make_dataset, which names the allowed contents: their registry
    # (imgbench.measure.datasets.CONTENTS) imports numpy, which this parser must not.
    p.add_argument(
        "--content",
        default=DATASET_CONTENT,
        metavar="CONTENT",
        help="what the pixels are (the config's content): photo (native-scale crops of the "
        "public-domain and CC0 photographs scikit-image ships), synthetic (photo-like "
        "generated images) or noise (uniform random pixels, as study 002)",
    )
    p.add_argument("--workers", type=int, default=1, help="processes generating images")
    p.add_argument("--source", type=Path, help="raw dataset to encode (else make the images)")
    p.add_argument(
        "--folder",
        type=Path,
        help="a folder of your own images to make the dataset from (only read; the content "
        "is then folder<id>: imgbench.measure.folder)",
    )
    p.add_argument(
        "--on-bad-image",
        choices=("fail", "skip"),
        default="fail",
        help="a file of the folder that cannot be used stops the dataset (fail, naming it) or "
        "is left out and recorded (skip)",
    )
    p.add_argument("--output", required=True, type=Path, help="dataset directory")
    _add_run_cell(sub)


def _add_run_cell(sub) -> None:
    """``run-cell`` asks only for what defines the cell; the rest are the config's defaults."""
    p = _command(sub, "run-cell", "run one cell's repetitions and write its result", cmd_run_cell)
    p.add_argument("--experiment", required=True, help="experiment name (cell.experiment)")
    p.add_argument("--task", required=True, help="task name (see `imgbench info`)")
    p.add_argument(
        "--task-function",
        metavar="FUNCTION",
        help="the task is your function MODULE:FUNCTION or FILE.py:FUNCTION, named --task "
        "(imgbench.measure.tasks.user says what it receives and returns)",
    )
    p.add_argument(
        "--storage",
        default="disk",
        choices=STORAGES,
        help="where inputs are staged and outputs written: disk or shm (a tmpfs)",
    )
    p.add_argument(
        "--cache",
        default="cold",
        choices=CACHES,
        help="cold: the inputs evicted before each repetition; warm: read once before it",
    )
    p.add_argument("--size", required=True, type=_size, help="image size, WIDTHxHEIGHT")
    p.add_argument("--n-images", required=True, type=int, help="images per repetition")
    p.add_argument("--strategy", required=True, help="strategy name (see `imgbench info`)")
    p.add_argument("--workers", required=True, type=int, help="pool size (1 for serial)")
    p.add_argument("--repeats", type=_positive, default=3, help="timed repetitions")
    p.add_argument("--warmup", type=int, default=1, help="untimed repetitions before them")
    p.add_argument("--dataset", required=True, type=Path, help="dataset directory")
    p.add_argument(
        "--scratch",
        type=Path,
        help="scratch root on the storage; default: "
        + ", ".join(f"{path} for {storage}" for storage, path in SCRATCH.items()),
    )
    p.add_argument("--output", required=True, type=Path, help="cell result JSON")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a task option (see `imgbench info`), e.g. radius=15; repeatable; default: the "
        "task's own",
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="stop the cell (no result, exit status 124) if it runs longer; default: no limit",
    )
    p.add_argument("--config-hash", help="provenance recorded in the result (run.config_hash)")
    p.add_argument(
        "--start-method",
        choices=["default", "fork", "forkserver", "spawn"],
        default="default",
        help="start method of process pools, recorded as run.mp_start_method; default: the "
        "platform's",
    )
    p.add_argument(
        "--eviction",
        choices=["files", "system"],
        default="files",
        help="how cold is made: evict the inputs one by one (files) or drop the whole page "
        "cache (system, root only)",
    )
    p.add_argument(
        "--round",
        type=_positive,
        default=1,
        help="which round of the cell this is, recorded as run.round",
    )
    p.add_argument(
        "--rounds",
        type=_positive,
        default=1,
        help="how many rounds the cell has, recorded as run.rounds",
    )
