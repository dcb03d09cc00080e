"""Commands that turn tables into figures, decks, bundles and comparisons: ``plot``,
``slides``, ``summary``, ``markdown``, ``bundle``, ``reference`` and ``compare``."""

from __future__ import annotations

import argparse
from pathlib import Path

from imgbench.cli.arguments import _command


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


def add_commands(sub) -> None:
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
