"""The imgbench command: every stage of the workflow, runnable without Snakemake.

One module per group of subcommands (``measure``, ``analysis``, ``report``, ``setup``), each
holding its parsers and its ``cmd_*`` functions, which only wire library calls; what they
share is in ``arguments``. Heavy modules are imported inside each command, so that
``run-cell`` starts quickly (start-up is harness overhead on every cell). Every option has a
help text, ending with its default where it has one; ``run-cell`` asks only for what defines
the cell, the rest defaults to what the config's own defaults are (``tests/test_cli.py``
keeps the two equal).
"""

from __future__ import annotations

import argparse
import sys

from imgbench.cli import analysis, measure, report, setup
from imgbench.cli.arguments import DATASET_SEED, DEFAULT_CONFIG, SCRATCH, _HelpFormatter
from imgbench.errors import ImgbenchError

__all__ = ["DATASET_SEED", "DEFAULT_CONFIG", "DESCRIPTION", "SCRATCH", "build_parser", "main"]

#: The top line of ``imgbench --help``.
DESCRIPTION = "imgbench: every stage of the benchmark workflow, runnable without Snakemake."


def build_parser() -> argparse.ArgumentParser:
    from imgbench import __version__

    parser = argparse.ArgumentParser(
        prog="imgbench", description=DESCRIPTION, formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="`imgbench COMMAND -h` for more"
    )
    for group in (measure, analysis, report, setup):
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ImgbenchError as exc:
        print(f"imgbench: error: {exc}", file=sys.stderr)
        return 1
    return 0
