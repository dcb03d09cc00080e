"""Error and detection rates of imgbench's claims on simulated timings with known answers.

    python benchmarks/decision_rates.py [--groups 2000] [--seed 0]

The simulation is tests/test_decisions.py's (13 cells like the default grid's groups, 2
rounds x 3 repetitions, lognormal noise, a shared offset per round and a drift per job),
run through the real analysis with more simulated groups. It measures decision rates, not
seconds, so it may run beside other work. Prints, per noise level (CV) and drift:

- false "faster than the loop" claims when no cell differs (share of groups with any);
- false "significantly slower" claims when no cell differs (share of groups with any);
- equivalence (TOST within the margin) among equal cells, and the median difference the
  repetitions could have missed;
- the same with CVs that differ between cells (2% to 10%);
- detection of one cell truly faster than all others by 2% ... 30% (share of groups where
  that cell is claimed faster than the loop), and the smallest difference found in 80%.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.simulation import (  # noqa: E402
    JOB_SD,
    REPEATS,
    ROUND_SD,
    ROUNDS,
    decide,
    rates,
    simulate_timings,
)

EFFECTS = [0.02, 0.03, 0.05, 0.075, 0.10, 0.15, 0.20, 0.30]
#: Per-cell CVs in ``CELLS`` order: the loop and threads quiet (2%), processes and chunked
#: processes noisy (10%), asyncio 3%: a group whose cells differ in noise.
MIXED = [0.02, 0.02, 0.02, 0.02, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.03, 0.03, 0.03]
CVS = [0.03, 0.10, MIXED]
DRIFTS = [0.0, JOB_SD, 0.03]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=2000, help="simulated groups per rate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = args.groups
    print(
        f"{n} simulated groups per rate: 13 cells, {ROUNDS} rounds x {REPEATS} repetitions, "
        f"shared round offset sd {ROUND_SD:.0%} (log scale)"
    )
    seed = args.seed
    for drift in DRIFTS:
        for cv in CVS:
            seed += 1
            null = rates(decide(simulate_timings(n, cv, seed=seed, job_sd=drift)))
            label = f"CV {cv:.0%}" if isinstance(cv, float) else "CV 2-10% by cell"
            print(
                f"\n{label}, job drift sd {drift:.0%}: no difference: "
                f"false 'faster than the loop' {null['any_faster']:.1%} of groups, "
                f"false 'significantly slower' {null['any_slower']:.1%} of groups, "
                f"equivalent (within 5%) {null['equivalent']:.1%} of equal cells, "
                f"median max missed difference {null['max_missed']:.1%}"
            )
            found_80 = None
            line = []
            for effect in EFFECTS:
                seed += 1
                hit = rates(
                    decide(simulate_timings(max(n // 4, 50), cv, effect, seed=seed, job_sd=drift))
                )["fast_cell_faster"]
                line.append(f"{effect:.1%}: {hit:.0%}")
                if found_80 is None and hit >= 0.8:
                    found_80 = effect
            print("  detection of a cell truly faster by " + ", ".join(line))
            smallest = f"{found_80:.1%}" if found_80 is not None else f"> {EFFECTS[-1]:.0%}"
            print(f"  smallest difference detected in 80% of groups: {smallest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
