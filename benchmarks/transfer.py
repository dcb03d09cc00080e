"""Decode's arrays back to the parent: pickled (``processes``) or through shared memory
(``processes_shm``), against the loop and threads: the target of issue #12.

    python benchmarks/transfer.py [--n 128] [--size 1280x960] [--workers 2] [--rounds 3]
                                  [--repeats 5] [--strategies serial,threads,...]

Makes a JPEG dataset (photo content where the installed imgbench has it), then runs every
strategy as separate ``imgbench run-cell`` jobs, round by round in a shuffled order (as the
workflow does: a slow spell of the machine falls on several strategies), each job priming,
warming up once and timing ``--repeats`` repetitions with a warm page cache. Prints per
strategy the median wall time over all rounds, the speedup over the loop's median, the
spread of the round medians, and per image the CPU (whole process tree) and page faults.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT = "serial,threads,processes,processes_shm,processes_persistent,processes_shm_persistent"


def _imgbench(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "imgbench", *args], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--size", default="1280x960")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--strategies", default=DEFAULT)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    with tempfile.TemporaryDirectory(prefix="imgbench-transfer-") as tmp:
        root = Path(tmp)
        dataset = root / "dataset"
        _imgbench("make-dataset", "--format", "jpeg", "--size", args.size, "--count",
                  str(args.n), "--workers", "2", "--output", str(dataset))  # fmt: skip
        walls: dict[str, list[list[float]]] = {s: [] for s in strategies}
        per_image: dict[str, list[tuple[float, float]]] = {s: [] for s in strategies}
        for r in range(1, args.rounds + 1):
            order = list(strategies)
            random.Random(f"{args.seed}-{r}").shuffle(order)
            for strategy in order:
                workers = 1 if strategy == "serial" else args.workers
                out = root / f"{strategy}-r{r}.json"
                _imgbench(
                    "run-cell", "--experiment", "transfer", "--task", "decode",
                    "--cache", "warm", "--size", args.size, "--n-images", str(args.n),
                    "--strategy", strategy, "--workers", str(workers),
                    "--repeats", str(args.repeats), "--warmup", "1",
                    "--round", str(r), "--rounds", str(args.rounds),
                    "--dataset", str(dataset), "--scratch", str(root / "scratch"),
                    "--output", str(out),
                )  # fmt: skip
                reps = [x for x in json.loads(out.read_text())["repetitions"] if not x["warmup"]]
                walls[strategy].append([x["wall_s"] for x in reps])
                per_image[strategy] += [
                    (x["cpu_s"] / args.n, x.get("minor_faults", 0) / args.n) for x in reps
                ]
    base = statistics.median([w for rnd in walls.get("serial", []) for w in rnd] or [float("nan")])
    print(f"decode {args.n} JPEGs {args.size}, {args.workers} workers, {args.rounds} rounds x "
          f"{args.repeats} repetitions (warm cache)")  # fmt: skip
    print(f"{'strategy':28s} {'median s':>9s} {'speedup':>8s} {'round spread':>13s} "
          f"{'CPU ms/img':>11s} {'faults/img':>11s}")  # fmt: skip
    for strategy in strategies:
        every = [w for rnd in walls[strategy] for w in rnd]
        medians = [statistics.median(rnd) for rnd in walls[strategy]]
        spread = max(medians) / min(medians) - 1
        cpu = statistics.median(c for c, _ in per_image[strategy]) * 1e3
        faults = statistics.median(f for _, f in per_image[strategy])
        median = statistics.median(every)
        print(f"{strategy:28s} {median:9.3f} {base / median:8.2f} {spread:12.1%} "
              f"{cpu:11.2f} {faults:11.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
