"""The imgbench command: every stage of the workflow, runnable without Snakemake.

Heavy modules are imported inside each command, so that ``run-cell`` starts quickly
(start-up is harness overhead on every cell). Every option has a help text, ending with its
default where it has one; ``run-cell`` asks only for what defines the cell, the rest defaults
to what the config's own defaults are (``tests/test_cli.py`` keeps the two equal).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from imgbench.errors import ConfigError, ImgbenchError
from imgbench.vocabulary import CACHES, COLORS, FORMATS, RAW, STORAGES, parse_size

#: The top line of ``imgbench --help``.
DESCRIPTION = "imgbench: every stage of the benchmark workflow, runnable without Snakemake."
#: The config's defaults, as run-cell's and make-dataset's (not read from the schema here:
#: parsing YAML would slow every cell's start-up).
SCRATCH = {"disk": Path("results/scratch"), "shm": Path("/dev/shm")}
DATASET_SEED = 20261122
#: The workflow's own config, which Snakemake reads when given no --configfile.
DEFAULT_CONFIG = Path("config/config.yaml")


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        )
    print(f"{manifest.directory}: {manifest.count} {manifest.format} images {width}x{height}")


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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds > 0")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return value


def cmd_run_cell(args: argparse.Namespace) -> None:
    from imgbench.measure.runner import RunOptions, run_cell
    from imgbench.vocabulary import CellSpec

    width, height = args.size
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


def cmd_aggregate(args: argparse.Namespace) -> None:
    from imgbench.analysis import results as result_files
    from imgbench.analysis.metadata import metadata
    from imgbench.analysis.tables import build_tables
    from imgbench.analysis.thresholds import DEFAULT_EQUIVALENCE_MARGIN
    from imgbench.files import write_atomic, write_json_atomic

    experiment, expected, margins = args.experiment, None, {}
    if args.config:
        experiment, expected, section = result_files.expected_runs(args.config, args.experiment)
        margins[experiment] = float(section.get("equivalence_margin", DEFAULT_EQUIVALENCE_MARGIN))
    paths = result_files.gather_paths(args.cells, args.results_dir)
    results = result_files.load_results(paths)
    if experiment is not None:
        # Only the result itself says which experiment it is: a tree gathered from several
        # machines may be laid out in any way.
        kept = [i for i, r in enumerate(results) if r["cell"]["experiment"] == experiment]
        results, paths = [results[i] for i in kept], [paths[i] for i in kept]
    if expected is not None:
        # A cell (or round) the config's grid no longer has (workers, sizes or rounds changed
        # since) is a stale file, not part of this experiment: leave it out, not mix it in.
        grid = set(expected)
        kept = [i for i, r in enumerate(results) if result_files.run_of(r) in grid]
        stale = len(results) - len(kept)
        if stale:
            print(
                f"aggregate: left out {stale} result file(s) of cells the config no longer "
                f"has, e.g. {paths[next(i for i in range(len(results)) if i not in kept)]}",
                file=sys.stderr,
            )
        results, paths = [results[i] for i in kept], [paths[i] for i in kept]
    if not results:
        wanted = f" of experiment {experiment}" if experiment else ""
        expecting = f" ({len(expected)} expected)" if expected is not None else ""
        raise ImgbenchError(f"aggregate: no cell results{wanted} given or found{expecting}")
    result_files.check_results(results, paths)
    tables = build_tables(results, margins)
    timings, summary, speedup = tables["timings"], tables["summary"], tables["speedup"]
    out = Path(args.output_dir)
    for name, frame in tables.items():
        write_atomic(out / f"{name}.csv", frame.to_csv(index=False).encode())
    meta = {
        "description": args.description,
        **metadata(results, timings, expected, summary=summary, speedup=speedup),
    }
    write_json_atomic(out / "metadata.json", meta)
    hosts = len(meta["hosts"])
    print(
        f"{out}: {meta['distinct_cells']} cells ({len(results)} result files), "
        f"{len(timings)} timed repetitions" + (f", {hosts} hosts" if hosts > 1 else "")
    )
    missing = meta["missing_cells"]
    if missing:
        print(
            f"partial results: {len(missing)} of {len(expected)} expected cells have no result "
            f"(listed in {out / 'metadata.json'}), e.g. {missing[0]}",
            file=sys.stderr,
        )
    for warning in meta["aggregate_warnings"]:
        print(f"warning: {warning['text']}", file=sys.stderr)


def cmd_calibration(args: argparse.Namespace) -> None:
    from imgbench.analysis.calibration import write_calibration

    frame = write_calibration(args.results_dir, args.output_dir)
    within = int(frame["within"].sum())
    print(f"{args.output_dir or args.results_dir}: {within} of {len(frame)} known answers met")
    for row in frame.itertuples(index=False):
        print(f"  {row.task} {row.strategy} x{row.workers}: {row.speedup:.2f}x, {row.verdict}")


def cmd_plot(args: argparse.Namespace) -> None:
    from imgbench.report.figures.plot import plot_all

    written = plot_all(args.results_dir, args.output_dir)
    print(f"{args.output_dir}: {len(written)} figures")


def cmd_summary(args: argparse.Namespace) -> None:
    from imgbench.report.summary import summaries

    print(summaries(args.results_dirs, bundle=args.bundle, strict=True), end="")


def cmd_markdown(args: argparse.Namespace) -> None:
    from imgbench.report.markdown import write_report

    print(f"{write_report(args.results_dir, args.output)}: written")


def cmd_slides(args: argparse.Namespace) -> None:
    from imgbench.report.deck.render import render_deck

    render_deck(args.results_dir, args.output)
    print(f"{args.output}: written")


def cmd_bundle(args: argparse.Namespace) -> None:
    from imgbench.report import bundle

    bundle.make_bundle(
        args.output, args.results_root, args.experiments, args.config, reference=args.reference
    )
    print(f"{args.output}: written")


def cmd_reference(args: argparse.Namespace) -> None:
    from imgbench.report.reference import build_reference

    frame = build_reference(args.reference, args.results_root, args.output_html, args.output_csv)
    tally = ", ".join(f"{n} {v}" for v, n in frame["verdict"].value_counts().items())
    print(f"{args.output_html}: {len(frame)} published findings ({tally})")


def cmd_compare(args: argparse.Namespace) -> None:
    from imgbench.analysis.compare import compare_sets
    from imgbench.report.compare import format_table, write_comparison

    output = args.output_dir or Path(f"compare-{args.a.name}-vs-{args.b.name}")
    matched, unmatched = compare_sets(args.a, args.b, alpha=args.alpha)
    write_comparison(matched, unmatched, output)
    print(format_table(matched, limit=args.limit))
    print(f"tables and figure: {output}/comparison.csv, unmatched.csv, comparison.png/.svg")


def cmd_flush_cache(args: argparse.Namespace) -> None:
    from imgbench.measure import cache

    files = [
        p
        for root in args.paths
        for p in (Path(root).rglob("*") if Path(root).is_dir() else [Path(root)])
        if p.is_file()
    ]
    method = cache.evict_from_page_cache(files)
    fraction = cache.resident_fraction(files)
    shown = "n/a" if fraction is None else f"{fraction:.2%}"
    print(f"evicted {len(files)} files with {method}; resident afterwards: {shown}")


def cmd_info(args: argparse.Namespace) -> None:
    from imgbench.measure.machine import collect_machine_info
    from imgbench.plan import host

    machine = collect_machine_info(Path(args.storage_path))
    if args.json:
        print(json.dumps({"machine": machine, **host.registries()}, indent=1))
    else:
        print(host.host_summary(machine))


def cmd_validate_config(args: argparse.Namespace) -> None:
    from imgbench.plan.config import load_yaml, merge_configs, review_config
    from imgbench.plan.grid import expand_cells, expand_runs
    from imgbench.words import count

    review = review_config(merge_configs(load_yaml(path) for path in args.configs))
    for warning in review.warnings:
        print(f"imgbench: warning: {warning}", file=sys.stderr)
    if review.problems:
        raise ConfigError(
            f"invalid config ({count(len(review.problems), 'problem')}):\n  "
            + "\n  ".join(review.problems)
        )
    config = review.config
    cells = expand_cells(config)
    runs = expand_runs(config, cells)
    print(
        f"config valid: {len(config['experiments'])} experiments, {len(cells)} cells, "
        f"{len(runs)} cell jobs (rounds)"
    )


def cmd_write_config(args: argparse.Namespace) -> None:
    import yaml

    from imgbench.files import write_atomic

    write_atomic(args.output, yaml.safe_dump(json.loads(args.json), sort_keys=False).encode())


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, where it has one worth stating (not for a
    required option, a flag, an option unset unless given, or a help that states its own)."""

    def _get_help_string(self, action):
        default = action.default
        if action.required or default is None or default is False or default == []:
            return action.help
        if "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _command(sub, name: str, summary: str, func) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=summary, description=summary, formatter_class=_HelpFormatter)
    p.set_defaults(func=func)
    return p


def _add_measure_commands(sub) -> None:
    """Commands of one cell job: making a dataset, running a cell."""
    p = _command(sub, "make-dataset", "generate a synthetic photo-like dataset", cmd_make_dataset)
    p.add_argument("--format", required=True, choices=[RAW, *FORMATS], help="image encoding")
    p.add_argument("--size", required=True, type=_size, help="image size, WIDTHxHEIGHT")
    p.add_argument("--count", required=True, type=int, help="number of images")
    p.add_argument(
        "--seed",
        type=int,
        default=DATASET_SEED,
        help="image i of a seed is always the same (the config's dataset_seed)",
    )
    p.add_argument("--color", default="rgb", choices=COLORS, help="colour mode")
    p.add_argument("--workers", type=int, default=1, help="processes generating images")
    p.add_argument("--source", type=Path, help="raw dataset to encode (else synthesize)")
    p.add_argument("--output", required=True, type=Path, help="dataset directory")
    _add_run_cell(sub)


def _add_run_cell(sub) -> None:
    """``run-cell`` asks only for what defines the cell; the rest are the config's defaults."""
    p = _command(sub, "run-cell", "run one cell's repetitions and write its result", cmd_run_cell)
    p.add_argument("--experiment", required=True, help="experiment name (cell.experiment)")
    p.add_argument("--task", required=True, help="task name (see `imgbench info`)")
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


def _add_analysis_commands(sub) -> None:
    """Commands that turn result files into tables."""
    p = _command(sub, "aggregate", "cell results -> timings/summary/speedup CSVs", cmd_aggregate)
    p.add_argument("cells", nargs="*", type=Path, help="cell result files")
    p.add_argument(
        "--results-dir",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="also every cell under DIR/cells/ or under DIR/*/.../cells/ (e.g. one subdirectory "
        "per host); repeatable, e.g. once per machine. Hosts are told apart by the hostname "
        "each result records",
    )
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the resolved config (<results_dir>/config.resolved.yaml): cells it expects but that "
        "have no result are listed as missing",
    )
    p.add_argument(
        "--experiment",
        help="aggregate this experiment only (required with --config of several experiments)",
    )
    p.add_argument(
        "--output-dir", required=True, type=Path, help="where the CSVs and metadata.json go"
    )
    p.add_argument("--description", default="", help="one line about the experiment")

    p = _command(
        sub,
        "calibration",
        "known-answer cells (sleep, spin_python, spin_native) against their expected speedup",
        cmd_calibration,
    )
    p.add_argument("--results-dir", required=True, type=Path, help="holds speedup.csv")
    p.add_argument("--output-dir", type=Path, help="default: the results directory")


def _add_report_commands(sub) -> None:
    """Commands that turn tables into figures, decks, bundles and comparisons."""
    experiment = "an experiment's results directory (with its CSVs)"
    p = _command(sub, "plot", "figures (PNG and SVG) from an experiment's CSVs", cmd_plot)
    p.add_argument("--results-dir", required=True, type=Path, help=experiment)
    p.add_argument("--output-dir", required=True, type=Path, help="where the figures go")

    p = _command(sub, "slides", "the self-contained slide deck of an experiment", cmd_slides)
    p.add_argument("--results-dir", required=True, type=Path, help=experiment)
    p.add_argument("--output", required=True, type=Path, help="the deck, an HTML file")

    p = _command(sub, "summary", "the verdict of each experiment in a few lines", cmd_summary)
    p.add_argument("results_dirs", nargs="+", type=Path, metavar="RESULTS_DIR", help=experiment)
    p.add_argument(
        "--bundle",
        type=Path,
        help="the bundle to point at (default: bundle.zip beside the results directories)",
    )

    p = _command(sub, "markdown", "an experiment's Markdown report (report.md)", cmd_markdown)
    p.add_argument("--results-dir", required=True, type=Path, help=experiment)
    p.add_argument(
        "--output",
        type=Path,
        help="the report (default: RESULTS_DIR/report.md); its figure links are relative to "
        "RESULTS_DIR",
    )

    p = _command(sub, "bundle", "zip the tables, figures and decks with the config", cmd_bundle)
    p.add_argument(
        "--results-root", required=True, type=Path, help="the results directory of the run"
    )
    p.add_argument("--experiments", required=True, nargs="+", help="the experiments to include")
    p.add_argument("--config", required=True, type=Path, help="the resolved config file")
    p.add_argument("--output", required=True, type=Path, help="the zip file")
    p.add_argument(
        "--reference", action="store_true", help="include results-root/reference/ (a study preset)"
    )

    p = _command(
        sub, "reference", "published numbers of a study beside ours, with verdicts", cmd_reference
    )
    p.add_argument("--reference", required=True, type=Path, help="config/references/*.yaml")
    p.add_argument("--results-root", required=True, type=Path, help="the results directory")
    p.add_argument("--output-html", required=True, type=Path, help="the reference deck")
    p.add_argument("--output-csv", required=True, type=Path, help="its findings as a table")

    p = _command(sub, "compare", "cells that changed significantly between two runs", cmd_compare)
    p.add_argument("a", type=Path, help="experiment results directory A (with timings.csv)")
    p.add_argument("b", type=Path, help="experiment results directory B")
    p.add_argument("--output-dir", type=Path, help="default: compare-A-vs-B")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level")
    p.add_argument("--limit", type=int, default=20, help="changed cells to print")


def _add_setup_commands(sub) -> None:
    """Commands about the machine and the config."""
    p = _command(
        sub, "flush-cache", "evict files from the page cache and measure it", cmd_flush_cache
    )
    p.add_argument("paths", nargs="+", type=Path, help="files, or directories of files")

    p = _command(
        sub,
        "info",
        "what this machine offers (cores, cold-cache methods, start methods, library "
        "versions) and the task and strategy registries",
        cmd_info,
    )
    p.add_argument("--storage-path", default=".", help="a directory on the storage to describe")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the recorded machine metadata and the registries as JSON",
    )

    p = _command(
        sub,
        "validate-config",
        "check config files, merged as Snakemake merges them, listing every problem",
        cmd_validate_config,
    )
    p.add_argument(
        "configs",
        nargs="*",
        type=Path,
        default=[DEFAULT_CONFIG],
        metavar="FILE",
        help="config files, merged in order as `snakemake --configfile FILE...` merges them "
        "(mappings key by key, other values replaced by the later file's); default: "
        f"{DEFAULT_CONFIG}, which Snakemake reads when given none",
    )

    p = _command(sub, "write-config", "write a resolved config (JSON) as YAML", cmd_write_config)
    p.add_argument("--json", required=True, help="the resolved config, as JSON text")
    p.add_argument("--output", required=True, type=Path, help="the YAML file")


def build_parser() -> argparse.ArgumentParser:
    from imgbench import __version__

    parser = argparse.ArgumentParser(
        prog="imgbench", description=DESCRIPTION, formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="`imgbench COMMAND -h` for more"
    )
    for add in (
        _add_measure_commands,
        _add_analysis_commands,
        _add_report_commands,
        _add_setup_commands,
    ):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ImgbenchError as exc:
        print(f"imgbench: error: {exc}", file=sys.stderr)
        return 1
    return 0
