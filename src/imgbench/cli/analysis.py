"""Commands that turn result files into tables: ``aggregate`` and ``calibration``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imgbench.cli.arguments import _command
from imgbench.errors import ImgbenchError


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


def add_commands(sub) -> None:
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
