"""Time aggregation, figures and the deck on 50,000 synthetic repetition rows.

    python benchmarks/aggregate_scale.py [--rows 50000] [--runs 3] [--keep DIR]

Writes a synthetic experiment of ~8,400 cells, each as 2 rounds of 3 timed repetitions (one
result file per round, schema as the runner writes them, times drawn from an Amdahl model
with noise and a small offset per round), then runs ``imgbench aggregate``, ``imgbench plot``
and ``imgbench slides`` as the workflow does (separate processes, imports included) and
prints each stage's wall time per run and the median over runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from imgbench.measure.result import SCHEMA_VERSION
from imgbench.vocabulary import CellSpec

TASKS = ["save_png", "save_jpeg", "read", "decode"]
SIZES = [(64, 64), (640, 480), (1280, 960), (1920, 1080)]
N_IMAGES = [16, 32, 64, 128, 256, 512, 1024, 4096]
PLACES = [("disk", "cold"), ("disk", "warm"), ("shm", "warm")]
STRATEGIES = ["threads", "processes", "processes_chunked", "asyncio"]
WORKERS = [1, 2, 4, 8, 16, 32]


def _cell_result(
    spec: CellSpec, walls: np.ndarray, rng: np.random.Generator, round_: int = 1, rounds: int = 1
) -> dict:
    reps = []
    for i, wall in enumerate(walls):
        first = wall * 0.05
        reps.append(
            {
                "index": i,
                "warmup": i == 0,
                "wall_s": float(wall),
                "first_result_s": float(first),
                "work_s": float(wall * 0.9),
                "shutdown_s": float(wall * 0.05),
                "cpu_user_s": float(wall * 0.9),
                "cpu_sys_s": float(wall * 0.1),
                "cpu_s": float(wall),
                "other_cpu_s": float(rng.uniform(0, 0.01) * wall),
                "steal_s": 0.0,
                "io_read_chars": 1000,
                "io_write_chars": 0,
                "io_read_bytes": 1000,
                "io_write_bytes": 0,
                "peak_rss_bytes": 10**8,
                "peak_rss_reset": True,
                "peak_rss_children_bytes": 10**7,
                "payload_bytes": spec.n_images * 10**5,
                "images_per_s": spec.n_images / float(wall),
                "mb_per_s": spec.n_images * 0.1 / float(wall),
                "cache_method": "drop_caches" if spec.cache == "cold" else "read",
                "resident_fraction": 0.0 if spec.cache == "cold" else 1.0,
                "verified": True,
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "cell": spec.as_dict(),
        "cell_path": spec.result_path(round_),
        "run": {
            "round": round_,
            "rounds": rounds,
            "repeats": len(walls) - 1,
            "warmup": 1,
            "dataset": "synthetic",
            "dataset_format": "jpeg",
            "dataset_seed": 1,
            "scratch": "results/scratch",
            "task_summary": f"{spec.task} (synthetic)",
            "strategy_summary": f"{spec.strategy} (synthetic)",
            "mp_start_method": "fork",
        },
        "machine": {
            "hostname": "bench",
            "cpu_model": "synthetic 16-core",
            "usable_cores": 16,
            "load_average_1m": 0.1,
            "platform": "Linux",
            "physical_cores": 16,
            "logical_cores": 16,
            "ram_bytes": 64 * 2**30,
            "python_version": "3.11",
            "pillow_version": "x",
            "pillow_libjpeg_turbo": True,
            "numpy_version": "x",
            "snakemake_version": "9",
            "workflow_commit": "synthetic",
        },
        "process_started_unix": 0.0,
        "started_unix": 0.0,
        "finished_unix": 1.0,
        "phases": {},
        "warnings": [],
        "repetitions": reps,
    }


def write_synthetic(root: Path, rows: int, repeats: int = 3, rounds: int = 2, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    cells = 0
    for place_i, (storage, cache) in enumerate(PLACES):
        for task in TASKS:
            for width, height in SIZES:
                for n in N_IMAGES:
                    base = n * width * height * 2e-9 * (1 + place_i)
                    serial_fraction = rng.uniform(0.05, 0.6)
                    combos = [("serial", 1)] + [(s, w) for s in STRATEGIES for w in WORKERS]
                    for strategy, workers in combos:
                        if cells * repeats * rounds >= rows:
                            return cells
                        p = min(workers, 16)
                        model = base * (serial_fraction + (1 - serial_fraction) / p)
                        spec = CellSpec(
                            "scale", task, storage, cache, width, height, n, strategy, workers
                        )
                        for r in range(1, rounds + 1):
                            walls = model * rng.lognormal(rng.normal(0, 0.02), 0.05, repeats + 1)
                            path = root / spec.result_path(r)
                            path.parent.mkdir(parents=True, exist_ok=True)
                            result = _cell_result(spec, walls, rng, r, rounds)
                            path.write_text(json.dumps(result))
                        cells += 1
    return cells


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the tree here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="imgbench-scale-"))
    cells = write_synthetic(root, args.rows)
    exp = root / "scale"
    imgbench = [sys.executable, "-m", "imgbench"]
    print(f"{cells} cells, {cells * 6} timed repetition rows (2 rounds x 3) in {exp}")
    totals = []
    for run in range(args.runs):
        aggregate = _timed(
            [*imgbench, "aggregate", "--results-dir", str(exp), "--output-dir", str(exp)]
        )
        plot = _timed(
            [*imgbench, "plot", "--results-dir", str(exp), "--output-dir", str(exp / "figures")]
        )
        slides = _timed(
            [*imgbench, "slides", "--results-dir", str(exp), "--output", str(exp / "slides.html")]
        )
        total = aggregate + plot + slides
        totals.append(total)
        print(
            f"run {run + 1}: aggregate {aggregate:.1f} s, plot {plot:.1f} s, "
            f"slides {slides:.1f} s, total {total:.1f} s"
        )
    print(f"median total over {args.runs} runs: {statistics.median(totals):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
