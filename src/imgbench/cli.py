"""The ``imgbench`` command: every stage of the workflow, runnable without Snakemake.

Heavy modules are imported inside each command, so that ``run-cell`` starts quickly
(start-up is harness overhead on every cell).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from imgbench.errors import ImgbenchError
from imgbench.vocabulary import CACHES, COLORS, FORMATS, RAW, STORAGES, parse_size


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
            args.scratch,
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
    from imgbench.measure.strategies import STRATEGIES
    from imgbench.measure.tasks import TASKS

    info = {
        "machine": collect_machine_info(Path(args.storage_path)),
        "tasks": {
            name: {
                "summary": t.summary,
                "options": dict(t.options),
                "choices": {k: list(v) for k, v in t.choices.items()},
                "bound": t.bound,
                "input_kind": t.input_kind,
                "vectorized": bool(t.batch),
            }
            for name, t in TASKS.items()
        },
        "strategies": {name: s.summary for name, s in STRATEGIES.items()},
    }
    print(json.dumps(info, indent=1))


def cmd_validate_config(args: argparse.Namespace) -> None:
    from imgbench.plan.config import load_yaml, resolve_config
    from imgbench.plan.grid import expand_cells, expand_runs

    merged: dict = {}
    for path in args.configs:
        merged.update(load_yaml(path))
    config = resolve_config(merged)
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


def _add_measure_commands(sub) -> None:
    """Commands of one cell job: making a dataset, running a cell."""
    p = sub.add_parser("make-dataset", help="generate a synthetic photo-like dataset")
    p.add_argument("--format", required=True, choices=[RAW, *FORMATS])
    p.add_argument("--size", required=True, type=_size, help="WIDTHxHEIGHT")
    p.add_argument("--count", required=True, type=int)
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--color", default="rgb", choices=COLORS)
    p.add_argument("--workers", type=int, default=1, help="processes generating images")
    p.add_argument("--source", type=Path, help="raw dataset to encode (else synthesize)")
    p.add_argument("--output", required=True, type=Path, help="dataset directory")
    p.set_defaults(func=cmd_make_dataset)

    p = sub.add_parser("run-cell", help="run one cell's repetitions and write its result")
    p.add_argument("--experiment", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--storage", required=True, choices=STORAGES)
    p.add_argument("--cache", required=True, choices=CACHES)
    p.add_argument("--size", required=True, type=_size, help="WIDTHxHEIGHT")
    p.add_argument("--n-images", required=True, type=int)
    p.add_argument("--strategy", required=True)
    p.add_argument("--workers", required=True, type=int)
    p.add_argument("--repeats", required=True, type=int)
    p.add_argument("--warmup", required=True, type=int)
    p.add_argument("--dataset", required=True, type=Path, help="dataset directory")
    p.add_argument("--scratch", required=True, type=Path, help="scratch root on the storage")
    p.add_argument("--output", required=True, type=Path, help="cell result JSON")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a task option (see `imgbench info`), e.g. radius=15; repeatable",
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
        help="start method of process pools (default: the platform's); run.mp_start_method",
    )
    p.add_argument(
        "--eviction",
        choices=["files", "system"],
        default="files",
        help="how cold is made: evict the inputs one by one (files, the default) or drop the "
        "whole page cache (system, root only)",
    )
    p.add_argument(
        "--round", type=_positive, default=1, help="which round of the cell this is (run.round)"
    )
    p.add_argument(
        "--rounds", type=_positive, default=1, help="how many rounds the cell has (run.rounds)"
    )
    p.set_defaults(func=cmd_run_cell)


def _add_analysis_commands(sub) -> None:
    """Commands that turn result files into tables."""
    p = sub.add_parser("aggregate", help="cell results -> timings/summary/speedup CSVs")
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
        help="the resolved config (results/config.resolved.yaml): cells it expects but that "
        "have no result are listed as missing",
    )
    p.add_argument(
        "--experiment",
        help="aggregate this experiment only (required with --config of several experiments)",
    )
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--description", default="", help="one line about the experiment")
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser(
        "calibration",
        help="known-answer cells (sleep, spin_python, spin_native) against their expected speedup",
    )
    p.add_argument("--results-dir", required=True, type=Path, help="holds speedup.csv")
    p.add_argument("--output-dir", type=Path, help="default: the results directory")
    p.set_defaults(func=cmd_calibration)


def _add_report_commands(sub) -> None:
    """Commands that turn tables into figures, decks, bundles and comparisons."""
    p = sub.add_parser("plot", help="figures (PNG and SVG) from an experiment's CSVs")
    p.add_argument("--results-dir", required=True, type=Path)
    p.add_argument("--output-dir", required=True, type=Path)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("slides", help="the self-contained slide deck of an experiment")
    p.add_argument("--results-dir", required=True, type=Path)
    p.add_argument("--output", required=True, type=Path)
    p.set_defaults(func=cmd_slides)

    p = sub.add_parser("bundle", help="zip the tables, figures and decks with the config")
    p.add_argument("--results-root", required=True, type=Path)
    p.add_argument("--experiments", required=True, nargs="+")
    p.add_argument("--config", required=True, type=Path, help="the resolved config file")
    p.add_argument("--output", required=True, type=Path)
    p.add_argument(
        "--reference", action="store_true", help="include results-root/reference/ (a study preset)"
    )
    p.set_defaults(func=cmd_bundle)

    p = sub.add_parser("reference", help="published numbers of a study beside ours, with verdicts")
    p.add_argument("--reference", required=True, type=Path, help="config/references/*.yaml")
    p.add_argument("--results-root", required=True, type=Path, help="the results directory")
    p.add_argument("--output-html", required=True, type=Path)
    p.add_argument("--output-csv", required=True, type=Path)
    p.set_defaults(func=cmd_reference)

    p = sub.add_parser("compare", help="cells that changed significantly between two runs")
    p.add_argument("a", type=Path, help="experiment results directory A (with timings.csv)")
    p.add_argument("b", type=Path, help="experiment results directory B")
    p.add_argument("--output-dir", type=Path, help="default: compare-A-vs-B")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level")
    p.add_argument("--limit", type=int, default=20, help="changed cells to print")
    p.set_defaults(func=cmd_compare)


def _add_setup_commands(sub) -> None:
    """Commands about the machine and the config."""
    p = sub.add_parser("flush-cache", help="evict files from the page cache and measure it")
    p.add_argument("paths", nargs="+", type=Path)
    p.set_defaults(func=cmd_flush_cache)

    p = sub.add_parser("info", help="print the machine metadata and the registries")
    p.add_argument("--storage-path", default=".")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("validate-config", help="validate config files (merged in order)")
    p.add_argument("configs", nargs="+", type=Path)
    p.set_defaults(func=cmd_validate_config)

    p = sub.add_parser("write-config", help="write a resolved config (JSON) as YAML")
    p.add_argument("--json", required=True)
    p.add_argument("--output", required=True, type=Path)
    p.set_defaults(func=cmd_write_config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
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
