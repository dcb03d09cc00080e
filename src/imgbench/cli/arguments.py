"""What every group of subcommands shares: the config's defaults that options state, the
argument types, and the help formatter that ends each option's help with its default.

Nothing here imports more than the standard library and the vocabulary: ``run-cell`` starts
quickly (start-up is harness overhead on every cell).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from imgbench.vocabulary import parse_size

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
