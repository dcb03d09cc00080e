"""Commands about the machine and the config: ``flush-cache``, ``info``,
``validate-config`` and ``write-config``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from imgbench.cli.arguments import DEFAULT_CONFIG, _command
from imgbench.errors import ConfigError


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


def cmd_plan(args: argparse.Namespace) -> None:
    from imgbench.plan.config import load_yaml, merge_configs, resolve_config
    from imgbench.plan.estimate import format_plan, plan_report

    try:
        config = resolve_config(merge_configs(load_yaml(path) for path in args.configfile))
    except ConfigError as exc:
        print(f"imgbench: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    limit = None if args.limit_minutes is None else args.limit_minutes * 60
    print(format_plan(plan_report(config, previous=args.previous, limit_s=limit)))


def cmd_write_config(args: argparse.Namespace) -> None:
    import yaml

    from imgbench.files import write_atomic

    write_atomic(args.output, yaml.safe_dump(json.loads(args.json), sort_keys=False).encode())


def add_commands(sub) -> None:
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

    p = _command(
        sub, "plan", "what a run will cost: grid, disk, scratch and estimated duration", cmd_plan
    )
    p.add_argument(
        "--configfile",
        nargs="*",
        type=Path,
        default=[DEFAULT_CONFIG],
        metavar="FILE",
        help=f"config files, merged as Snakemake merges them; default: {DEFAULT_CONFIG}",
    )
    p.add_argument(
        "--previous",
        type=Path,
        metavar="DIR",
        help="a previous run's results directory, whose timings the estimate uses; "
        "default: a short calibration on this machine",
    )
    p.add_argument(
        "--limit-minutes",
        type=float,
        metavar="M",
        help="warn when the estimated duration exceeds M minutes",
    )

    p = _command(sub, "write-config", "write a resolved config (JSON) as YAML", cmd_write_config)
    p.add_argument("--json", required=True, help="the resolved config, as JSON text")
    p.add_argument("--output", required=True, type=Path, help="the YAML file")
