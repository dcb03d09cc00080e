"""Time ``snakemake -n`` (parse, DAG, job listing) on a config of about 2,000 cells.

    python benchmarks/dryrun_scale.py [--runs 3] [--cores 8] [--keep DIR] [--profile FILE]

Writes the config into a temporary directory (4 tasks x 3 storage/cache places x 2 sizes x
4 image counts x (serial + 4 pool strategies x 5 worker counts) = 2,016 cells), runs the
real ``snakemake -n`` there ``--runs`` times and prints each wall time and the median.
The target is 15 s or less on 2 cores. ``--profile FILE`` runs one more dry run under
cProfile and writes its statistics to FILE (read them with ``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 15.0

EXPERIMENT = {
    "tasks": ["save_png", "save_jpeg", "read", "decode"],
    "strategies": ["serial", "threads", "processes", "processes_chunked", "asyncio"],
    "workers": [1, 2, 4, 8, 16],
    "n_images": [16, 64, 256, 1024],
    "sizes": ["640x480", "1920x1080"],
    "storage": ["disk", "shm"],
    "cache": ["cold", "warm"],
    "repeats": 6,
    "warmup": 1,
}


def write_config(workdir: Path) -> Path:
    shm = workdir / "fake-tmpfs"  # a dry run writes nothing there; it only has to exist
    shm.mkdir(exist_ok=True)
    config = {"experiments": {"scale": EXPERIMENT}, "scratch": {"shm": str(shm)}}
    path = workdir / "scale.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_command(workdir: Path, config: Path, cores: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--cores",
        str(cores),
        "-n",
    ]


def dry_run(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return elapsed, done.stdout + done.stderr


def count_cells(output: str) -> int:
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "cell" and parts[1].isdigit():
            return int(parts[1])
    raise SystemExit(f"no 'cell' line in the job stats:\n{output[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temp dir)")
    parser.add_argument("--profile", type=Path, help="also write cProfile stats of one dry run")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="dryrun-scale-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        config = write_config(workdir)
        command = snakemake_command(workdir, config, args.cores)
        times = []
        for run in range(1, args.runs + 1):
            elapsed, output = dry_run(command)
            times.append(elapsed)
            print(f"run {run}: {elapsed:.2f} s ({count_cells(output)} cells)", flush=True)
        median = statistics.median(times)
        verdict = "within" if median <= TARGET_S else "OVER"
        print(f"median of {len(times)}: {median:.2f} s ({verdict} the {TARGET_S:g} s target)")
        if args.profile:
            profiled = [sys.executable, "-m", "cProfile", "-o", str(args.profile), *command[1:]]
            elapsed, _ = dry_run(profiled)
            print(f"profiled run: {elapsed:.2f} s; statistics in {args.profile}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
