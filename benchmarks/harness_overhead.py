"""Harness overhead per cell job: Snakemake's job wall time minus the cell's own phases.

    python benchmarks/harness_overhead.py [RESULTS_DIR]

For every cell result under RESULTS_DIR (default: results), reads the job's wall time from
Snakemake's ``benchmark:`` file (results/benchmarks/<experiment>/cells/...tsv, column ``s``)
and subtracts the time the cell spent in setup, preparation, timed repetitions,
verification and teardown. What remains is what the harness costs per job: shell and
interpreter start-up, imports, machine metadata and writing the result.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
from pathlib import Path


def overheads(results: Path) -> list[tuple[str, float, float]]:
    rows = []
    for cell in sorted(results.glob("*/cells/**/*.json")):
        relative = cell.relative_to(results)
        bench = results / "benchmarks" / relative.with_suffix(".tsv")
        if not bench.is_file():
            continue
        with open(bench) as f:
            job_s = float(next(csv.DictReader(f, delimiter="\t"))["s"])
        phases = json.loads(cell.read_text())["phases"]
        rows.append((str(relative), job_s, job_s - sum(phases.values())))
    return rows


def main() -> int:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    rows = overheads(results)
    if not rows:
        print(f"no cell results with benchmark files under {results}", file=sys.stderr)
        return 1
    values = sorted(r[2] for r in rows)
    print(f"cells: {len(rows)}")
    print(f"job wall time, total: {sum(r[1] for r in rows):.1f} s")
    print(
        f"harness overhead per job: median {statistics.median(values):.3f} s, "
        f"p90 {values[int(0.9 * (len(values) - 1))]:.3f} s, max {values[-1]:.3f} s"
    )
    worst = max(rows, key=lambda r: r[2])
    print(f"largest: {worst[0]} ({worst[2]:.3f} s of {worst[1]:.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
