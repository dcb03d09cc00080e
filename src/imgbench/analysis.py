"""Aggregate cell results into tables: timings, summary, speedup, efficiency, Amdahl fits
and significance of differences (docs/results.md describes every column).

Reads only result files (never the runner). Speedup has two base cases, stated in every
row: the ``serial`` loop of the same group (task, storage, cache, size, n_images) and the
same strategy with one worker. Speedup is a ratio of medians, never a mean of ratios; its
confidence interval is a bootstrap over the repetitions of both cells.

Results gathered from several machines are analysed host by host: the host is part of every
key the analysis groups by (``HOST_GROUP``, ``HOST_CELL``), so the same cell measured on two
hosts is two cells and a cell's base cases are those measured on its own host.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from imgbench.cells import CellSpec
from imgbench.errors import ImgbenchError
from imgbench.results import load_cell_result
from imgbench.stats import (
    amdahl_fit,
    karp_flatt,
    mann_whitney_ps,
    median_ci,
    smallest_mann_whitney_p,
    speedup_cis,
    tukey_outliers,
)

GROUP = ["experiment", "task", "storage", "cache", "width", "height", "n_images"]
CELL = [*GROUP, "strategy", "workers"]
HOST = "host"
#: The keys the analysis groups by. The host follows the experiment so that rows sort host
#: by host; with a single host the order is exactly GROUP's and CELL's.
HOST_GROUP = [GROUP[0], HOST, *GROUP[1:]]
HOST_CELL = [*HOST_GROUP, "strategy", "workers"]
BASELINE = "serial"
ONE_WORKER = "1 worker"
#: Two-sided significance level for "A is slower than B".
ALPHA = 0.05
#: CPU time is counted in clock ticks (10 ms), so a ratio of CPU time to wall time (how
#: busy the workers were, how much other processes used) means something only over this
#: much timed wall time; below it, it is NaN.
MIN_CPU_SHARE_WALL_S = 1.0
#: Machine fields that identify a host; the rest (load, time) vary from cell to cell.
HOST_FIELDS = [
    "hostname",
    "platform",
    "cpu_model",
    "physical_cores",
    "logical_cores",
    "usable_cores",
    "ram_bytes",
    "python_version",
    "pillow_version",
    "pillow_libjpeg_turbo",
    "numpy_version",
    "snakemake_version",
    "workflow_commit",
]


#: What the analysis reads from a cell result; a file without one of these is not a result.
REQUIRED_FIELDS = {
    "cell": CELL,
    "run": ["repeats", "warmup", "dataset_format", "mp_start_method"],
    "machine": ["hostname", "cpu_model", "usable_cores"],
}
#: The topic of the CPU-model warning in metadata.json's ``aggregate_warnings``; the deck
#: shows it on the machine and hosts slides, not again among the threats.
CPU_MODELS_TOPIC = "CPU models"


# ----- finding and loading cell results ----------------------------------------------------


def find_cell_results(directory: Path) -> list[Path]:
    """Every cell result under ``directory``: its own ``cells/`` tree, or the trees of
    subdirectories, e.g. one per host (``DIR/HOST/EXPERIMENT/cells/...``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ImgbenchError(f"{directory}: no such results directory")
    found = []
    # One walk of the tree; hidden files are other tools' temporary files.
    for folder, _dirs, files in os.walk(directory):
        parts = Path(folder).relative_to(directory).parts
        if "cells" in parts or directory.name == "cells":
            found += [Path(folder, f) for f in files if f.endswith(".json") and f[0] != "."]
    return sorted(found)


def gather_paths(cells: Iterable[Path], directories: Iterable[Path]) -> list[Path]:
    """The cell result files given and those found under ``directories``, each once."""
    paths: dict[Path, Path] = {}
    for path in [*cells, *(p for d in directories for p in find_cell_results(d))]:
        paths.setdefault(Path(os.path.abspath(path)), Path(path))
    return list(paths.values())


def _load(path: Path) -> dict:
    """One cell result, or an error naming the file and what is wrong with it."""
    advice = "delete it (or move it away) and run the cell again"
    try:
        result = load_cell_result(path)
    except FileNotFoundError:
        raise ImgbenchError(f"{path}: cell result not found") from None
    except OSError as exc:
        raise ImgbenchError(f"{path}: cannot read cell result ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        # Results are written atomically, so a damaged one was changed after the run.
        raise ImgbenchError(f"{path}: not a valid JSON cell result ({exc}); {advice}") from None
    except ValueError as exc:  # the schema version: the message names the file
        raise ImgbenchError(f"{exc}; {advice}") from None
    except AttributeError:  # valid JSON, but not an object
        raise ImgbenchError(f"{path}: not a cell result (a JSON object); {advice}") from None
    missing = [
        f"{section}.{key}"
        for section, keys in REQUIRED_FIELDS.items()
        for key in keys
        if not isinstance(result.get(section), dict) or key not in result[section]
    ]
    missing += [key for key in ("started_unix", "finished_unix") if key not in result]
    reps = result.get("repetitions")
    if not isinstance(reps, list) or not all(
        isinstance(r, dict) and {"index", "warmup", "wall_s"} <= r.keys() for r in reps
    ):
        missing.append("repetitions (each with index, warmup, wall_s)")
    if missing:
        raise ImgbenchError(
            f"{path}: not a complete cell result (missing {', '.join(missing)}); {advice}"
        )
    return result


def load_results(paths: Iterable[Path]) -> list[dict]:
    """Cell results; an unreadable or damaged file is an ImgbenchError naming it."""
    return [_load(Path(p)) for p in paths]


def config_hash(result: dict) -> str | None:
    """The hash of the resolved config the cell ran with (None: not recorded)."""
    return result["run"].get("config_hash")


def host_labels(results: Sequence[dict]) -> list[str]:
    """Each result's host: its hostname, with its CPU model added where one hostname reports
    several (two machines with the same name must not be pooled)."""
    names = [str(r["machine"].get("hostname") or "unknown") for r in results]
    cpus = [str(r["machine"].get("cpu_model") or "unknown") for r in results]
    models: dict[str, set[str]] = {}
    for name, cpu in zip(names, cpus, strict=True):
        models.setdefault(name, set()).add(cpu)
    return [
        name if len(models[name]) == 1 else f"{name} ({cpu})"
        for name, cpu in zip(names, cpus, strict=True)
    ]


def check_results(results: Sequence[dict], paths: Sequence[Path]) -> None:
    """Refuse results that must not be analysed together, naming two files: cells of one
    experiment run with different configs, and one cell twice from the same host."""
    configs: dict[str, tuple[str, Path]] = {}
    for result, path in zip(results, paths, strict=True):
        value = config_hash(result)
        if value is None:
            continue
        experiment = result["cell"]["experiment"]
        first_value, first_path = configs.setdefault(experiment, (value, path))
        if value != first_value:
            raise ImgbenchError(
                f"experiment {experiment!r} mixes results of different configs: {first_path} "
                f"has config hash {first_value}, {path} has {value}. Aggregate the results of "
                "one config only: re-run the stale cells, or leave the other run's results out."
            )
    seen: dict[tuple, Path] = {}
    for result, host, path in zip(results, host_labels(results), paths, strict=True):
        key = (host, *(result["cell"][c] for c in CELL))
        first = seen.setdefault(key, path)
        if first != path:
            raise ImgbenchError(
                f"{first} and {path}: the same cell twice from host {host!r}. A cell is "
                "measured once per host, so its repetitions cannot be pooled: leave one out "
                "(machines that share a hostname and CPU model cannot be told apart)."
            )


def expected_cells(config_path: Path, experiment: str | None) -> tuple[str, list[CellSpec]]:
    """The experiment (the config's only one when None) and every cell its grid expects."""
    from imgbench.config import load_yaml, resolve_config
    from imgbench.grid import expand_cells

    config = resolve_config(load_yaml(Path(config_path)))
    names = sorted(config["experiments"])
    if experiment is None:
        if len(names) != 1:
            raise ImgbenchError(
                f"{config_path} has {len(names)} experiments ({', '.join(names)}): "
                "name one with --experiment"
            )
        experiment = names[0]
    elif experiment not in names:
        raise ImgbenchError(
            f"--experiment {experiment!r} is not in {config_path} "
            f"(its experiments: {', '.join(names) or 'none'})"
        )
    return experiment, [c for c in expand_cells(config) if c.experiment == experiment]


def _spec(result: dict) -> CellSpec:
    return CellSpec(**{c: result["cell"][c] for c in CELL})


# ----- tables -------------------------------------------------------------------------------


def timings_frame(results: list[dict]) -> pd.DataFrame:
    """One row per timed (non-warm-up) repetition; every cell parameter is a column."""
    rows = []
    for res, host in zip(results, host_labels(results), strict=True):
        cell, run, machine = res["cell"], res["run"], res["machine"]
        for rep in res["repetitions"]:
            if rep["warmup"]:
                continue
            rows.append(
                {
                    **cell,
                    "size": f"{cell['width']}x{cell['height']}",
                    "format": run["dataset_format"],
                    "repeats": run["repeats"],
                    "warmup_reps": run["warmup"],
                    "mp_start_method": run["mp_start_method"],
                    "host": host,
                    "cpu_model": machine["cpu_model"],
                    "usable_cores": machine["usable_cores"],
                    "load_average_1m": machine.get("load_average_1m"),
                    "cell_started_unix": res["started_unix"],
                    "cell_finished_unix": res["finished_unix"],
                    "repetition": rep["index"] - run["warmup"],
                    **{k: v for k, v in rep.items() if k not in ("index", "warmup")},
                }
            )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values([*HOST_CELL, "repetition"], kind="stable").reset_index(drop=True)
    return frame


def _cpu_share(cpu_s: float, wall_s: float) -> float:
    return float(cpu_s / wall_s) if wall_s >= MIN_CPU_SHARE_WALL_S else math.nan


SUMMARY_COLUMNS = [
    *CELL,
    "reps",
    "median_s",
    "mean_s",
    "std_s",
    "min_s",
    "max_s",
    "ci_low_s",
    "ci_high_s",
    "ci_level",
    "cv",
    "outliers",
    "images_per_s",
    "mb_per_s",
    "median_first_result_s",
    "median_work_s",
    "median_shutdown_s",
    "median_cpu_s",
    "cpu_per_wall",
    "worker_busy",
    "other_cpu_per_wall",
    "steal_per_wall",
    "max_peak_rss_bytes",
    "cache_method",
    "max_resident_fraction",
    "format",
    "host",
    "usable_cores",
]


def _joined_set(values: pd.Series) -> str:
    return ",".join(sorted(set(values.astype(str))))


def summary_frame(timings: pd.DataFrame) -> pd.DataFrame:
    """Per cell: repetitions, median with its distribution-free CI, spread and throughput."""
    if timings.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    groups = timings.groupby(HOST_CELL, sort=True)
    out = groups.agg(
        reps=("wall_s", "size"),
        median_s=("wall_s", "median"),
        mean_s=("wall_s", "mean"),
        std_s=("wall_s", "std"),
        min_s=("wall_s", "min"),
        max_s=("wall_s", "max"),
        wall_sum=("wall_s", "sum"),
        payload_sum=("payload_bytes", "sum"),
        cpu_sum=("cpu_s", "sum"),
        other_sum=("other_cpu_s", "sum"),
        steal_sum=("steal_s", "sum"),
        median_first_result_s=("first_result_s", "median"),
        median_work_s=("work_s", "median"),
        median_shutdown_s=("shutdown_s", "median"),
        median_cpu_s=("cpu_s", "median"),
        max_peak_rss_bytes=("peak_rss_bytes", "max"),
        max_resident_fraction=("resident_fraction", "max"),
        format=("format", "first"),
        usable_cores=("usable_cores", "max"),
    ).reset_index()
    out["cache_method"] = groups["cache_method"].agg(_joined_set).to_numpy()
    cis, outliers = [], []
    for walls in groups["wall_s"]:
        cis.append(median_ci(walls[1].to_numpy()))
        outliers.append(tukey_outliers(walls[1].to_numpy()))
    out["ci_low_s"], out["ci_high_s"], out["ci_level"] = zip(*cis, strict=True)
    out["outliers"] = outliers
    out["cv"] = out["std_s"] / out["mean_s"]
    # Rates over all repetitions (total work / total time), never a mean of rates.
    out["images_per_s"] = out["n_images"] * out["reps"] / out["wall_sum"]
    out["mb_per_s"] = out["payload_sum"] / out["wall_sum"] / 1e6
    # How busy the process tree was: CPU seconds per wall second, and per worker that
    # could actually run at once.
    out["cpu_per_wall"] = [
        _cpu_share(c, w) for c, w in zip(out["cpu_sum"], out["wall_sum"], strict=True)
    ]
    out["worker_busy"] = out["cpu_per_wall"] / np.minimum(out["workers"], out["usable_cores"])
    # CPU seconds other processes used per wall second: cores lost to interference.
    out["other_cpu_per_wall"] = [
        _cpu_share(o, w) for o, w in zip(out["other_sum"], out["wall_sum"], strict=True)
    ]
    out["steal_per_wall"] = [
        _cpu_share(s, w) for s, w in zip(out["steal_sum"], out["wall_sum"], strict=True)
    ]
    return out[SUMMARY_COLUMNS].astype(
        {"reps": int, "outliers": int, "max_peak_rss_bytes": int, "usable_cores": int}
    )


def _walls(timings: pd.DataFrame) -> dict[tuple, np.ndarray]:
    return {key: g["wall_s"].to_numpy() for key, g in timings.groupby(HOST_CELL, sort=False)}


def _paired(
    walls: dict[tuple, np.ndarray], pairs: list[tuple[tuple, tuple]], batched, width: int
) -> list[tuple]:
    """Apply a batched row-wise statistic to (a, b) cell pairs, batching equal shapes.

    ``batched(a, b)`` returns ``width`` arrays, one value per row; a pair with a cell
    that was not measured gets NaNs.
    """
    out: list[tuple] = [(math.nan,) * width] * len(pairs)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, (a, b) in enumerate(pairs):
        if a in walls and b in walls:
            by_shape.setdefault((len(walls[a]), len(walls[b])), []).append(i)
    for index in by_shape.values():
        a = np.stack([walls[pairs[i][0]] for i in index])
        b = np.stack([walls[pairs[i][1]] for i in index])
        for i, values in zip(index, zip(*batched(a, b), strict=True), strict=True):
            out[i] = values
    return out


def speedup_frame(summary: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """Speedup of each cell over both base cases, with bootstrap CIs; one row per base case.

    ``serial``: median(serial loop of the group) / median(cell). ``1 worker``: the same
    strategy with one worker in the same group (the loop is its own base). Both base cases
    are those measured on the cell's own host.
    """
    walls = _walls(timings)
    medians = summary.set_index(HOST_CELL)["median_s"].to_dict()
    rows, pairs = [], []
    columns = [*HOST_CELL, "median_s", "ci_low_s", "ci_high_s", "usable_cores"]
    for cell in summary[columns].itertuples(index=False):
        key = tuple(getattr(cell, c) for c in HOST_CELL)
        group = key[: len(HOST_GROUP)]
        uses_workers = cell.strategy != BASELINE
        bases = (
            (BASELINE, BASELINE, 1),
            (ONE_WORKER, cell.strategy, 1 if uses_workers else cell.workers),
        )
        for name, strategy, workers in bases:
            base_key = (*group, strategy, workers)
            base_median = medians.get(base_key, math.nan)
            pairs.append((base_key, key))
            rows.append(
                {
                    **dict(zip(HOST_CELL, key, strict=True)),
                    "baseline": name,
                    "baseline_strategy": strategy,
                    "baseline_workers": workers,
                    "median_s": cell.median_s,
                    "ci_low_s": cell.ci_low_s,
                    "ci_high_s": cell.ci_high_s,
                    "baseline_median_s": base_median,
                    # Exactly 1 for a cell that is its own base, whatever rounding would say.
                    "speedup": 1.0 if base_key == key else base_median / cell.median_s,
                    "usable_cores": cell.usable_cores,
                }
            )
    cis = _paired(walls, pairs, speedup_cis, width=2)
    for row, (low, high) in zip(rows, cis, strict=True):
        row["speedup_ci_low"], row["speedup_ci_high"] = low, high
    columns = [
        *CELL,
        HOST,
        "baseline",
        "baseline_strategy",
        "baseline_workers",
        "median_s",
        "ci_low_s",
        "ci_high_s",
        "baseline_median_s",
        "speedup",
        "speedup_ci_low",
        "speedup_ci_high",
        "usable_cores",
    ]
    return pd.DataFrame(rows, columns=columns)


def efficiency_frame(speedup: pd.DataFrame) -> pd.DataFrame:
    """Efficiency (speedup / workers) with its CI, and the Karp-Flatt serial fraction."""
    out = speedup[[*CELL, HOST, "baseline", "speedup", "usable_cores"]].copy()
    out["efficiency"] = out["speedup"] / out["workers"]
    out["efficiency_ci_low"] = speedup["speedup_ci_low"] / out["workers"]
    out["efficiency_ci_high"] = speedup["speedup_ci_high"] / out["workers"]
    out["karp_flatt"] = [
        karp_flatt(s, p) for s, p in zip(out["speedup"], out["workers"], strict=True)
    ]
    return out[
        [
            *CELL,
            HOST,
            "baseline",
            "speedup",
            "efficiency",
            "efficiency_ci_low",
            "efficiency_ci_high",
            "karp_flatt",
            "usable_cores",
        ]
    ]


def amdahl_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Fit T(p) = Ts + Tp / p per (group, strategy) on each host over its worker counts.

    Points beyond the usable cores are left out when at least two remain: there, workers
    compete for cores, which Amdahl's law does not model.
    """
    rows = []
    columns = [
        *GROUP,
        "strategy",
        HOST,
        "points",
        "fit_max_workers",
        "t_serial_s",
        "t_parallel_s",
        "serial_fraction",
        "max_speedup",
        "fit_r2",
    ]
    for key, g in summary.groupby([*HOST_GROUP, "strategy"], sort=True):
        g = g.sort_values("workers")
        if g["workers"].nunique() < 2:
            continue
        within = g[g["workers"] <= g["usable_cores"].max()]
        fitted = within if within["workers"].nunique() >= 2 else g
        ts, tp, r2 = amdahl_fit(fitted["workers"], fitted["median_s"])
        total = ts + tp
        rows.append(
            {
                **dict(zip([*HOST_GROUP, "strategy"], key, strict=True)),
                "points": len(fitted),
                "fit_max_workers": int(fitted["workers"].max()),
                "t_serial_s": ts,
                "t_parallel_s": tp,
                "serial_fraction": ts / total if total > 0 else math.nan,
                "max_speedup": total / ts if ts > 0 else math.inf,
                "fit_r2": r2,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def comparisons_frame(summary: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """Each cell against the fastest cell of its group on its host: is it significantly slower?

    Two-sided Mann-Whitney U over the repetitions (p < ALPHA); whether the two median CIs
    overlap is reported beside it.
    """
    columns = [
        *CELL,
        HOST,
        "median_s",
        "best_strategy",
        "best_workers",
        "mannwhitney_p",
        "ci_overlap",
        "testable",
        "significantly_slower",
    ]
    if summary.empty:
        return pd.DataFrame(columns=columns)
    walls = _walls(timings)
    best = summary.loc[summary.groupby(HOST_GROUP, sort=False)["median_s"].idxmin()]
    best = best.set_index(HOST_GROUP)
    out = summary[[*HOST_CELL, "median_s", "ci_low_s", "ci_high_s"]].copy()
    joined = best.loc[[tuple(k) for k in out[HOST_GROUP].itertuples(index=False)]]
    out["best_strategy"] = joined["strategy"].to_numpy()
    out["best_workers"] = joined["workers"].astype(int).to_numpy()
    is_best = (out["strategy"] == out["best_strategy"]) & (out["workers"] == out["best_workers"])
    keys = [tuple(k) for k in out[HOST_CELL].itertuples(index=False)]
    best_keys = [
        (*k[: len(HOST_GROUP)], s, w)
        for k, s, w in zip(keys, out["best_strategy"], out["best_workers"], strict=True)
    ]

    def p_values(a, b):
        return (mann_whitney_ps(a, b),)

    pairs = list(zip(keys, best_keys, strict=True))
    p = [v[0] for v in _paired(walls, pairs, p_values, width=1)]
    out["mannwhitney_p"] = np.where(is_best, math.nan, p)
    out["ci_overlap"] = (out["ci_low_s"] <= joined["ci_high_s"].to_numpy()) & (
        joined["ci_low_s"].to_numpy() <= out["ci_high_s"]
    )
    # With few repetitions even complete separation is not significant (3 vs 3: p >= 0.1):
    # such a cell is not "within noise", it is untested.
    best_reps = joined["reps"].to_numpy()
    out["testable"] = is_best | np.array(
        [
            smallest_mann_whitney_p(int(a), int(b)) < ALPHA
            for a, b in zip(summary["reps"], best_reps, strict=True)
        ]
    )
    out["significantly_slower"] = ~is_best & (out["mannwhitney_p"] < ALPHA)
    return out[columns].reset_index(drop=True)


def _max_interference(timings: pd.DataFrame, column: str) -> float | None:
    """The largest share of a core lost to interference during one cell's repetitions."""
    if timings.empty:
        return None
    per_cell = timings.groupby(HOST_CELL)[[column, "wall_s"]].sum()
    shares = [_cpu_share(o, w) for o, w in zip(per_cell[column], per_cell["wall_s"], strict=True)]
    shares = [s for s in shares if not math.isnan(s)]
    return max(shares) if shares else None


def _host_entries(results: Sequence[dict], labels: list[str]) -> list[dict]:
    """One entry per host: its machine fields, its label in the tables and its cell count."""
    counts = Counter(labels)
    hosts: dict[str, dict] = {}
    for res, label in zip(results, labels, strict=True):
        m = res["machine"]
        hosts.setdefault(label, {k: m.get(k) for k in HOST_FIELDS} | {"host": label})
    return [{**hosts[label], "cells": counts[label]} for label in sorted(hosts)]


def _and(names: Iterable[str]) -> str:
    return ", ".join(str(n) for n in names)


def _aggregate_warnings(
    results: Sequence[dict], labels: list[str], commits: list[str], unexpected: list[str]
) -> list[dict]:
    """What is odd about this set of results as a whole, each ``{"topic", "text"}``."""
    warnings = []
    by_experiment: dict[str, dict[str, set[str]]] = {}
    hostnames: dict[str, set[str]] = {}
    for res, label in zip(results, labels, strict=True):
        cpu = str(res["machine"].get("cpu_model") or "unknown")
        by_experiment.setdefault(res["cell"]["experiment"], {}).setdefault(cpu, set()).add(label)
        hostnames.setdefault(str(res["machine"].get("hostname") or "unknown"), set()).add(label)
    for experiment, models in sorted(by_experiment.items()):
        if len(models) > 1:
            where = "; ".join(f"{cpu} ({_and(sorted(h))})" for cpu, h in sorted(models.items()))
            warnings.append(
                {
                    "topic": CPU_MODELS_TOPIC,
                    "text": f"The cells of experiment {experiment} ran on {len(models)} CPU "
                    f"models: {where}. Each host is analysed on its own; compare hosts side "
                    "by side, never one host's cell against another's.",
                }
            )
    for name, split in sorted(hostnames.items()):
        if len(split) > 1:
            warnings.append(
                {
                    "topic": "Hosts",
                    "text": f"Hostname {name} reported {len(split)} CPU models, so its cells "
                    f"are analysed as {len(split)} hosts: {_and(sorted(split))}.",
                }
            )
    known = [c for c in commits if c != "unknown"]
    if len(known) > 1:
        warnings.append(
            {
                "topic": "Workflow commits",
                "text": f"The cells were run from {len(known)} workflow commits "
                f"({_and(known)}): the measured code may differ between cells.",
            }
        )
    hashes = [config_hash(r) for r in results]
    unhashed = sum(h is None for h in hashes)
    if 0 < unhashed < len(hashes):
        warnings.append(
            {
                "topic": "Config",
                "text": f"{unhashed} of {len(hashes)} cells record no config hash (written by "
                "an older imgbench): they could not be checked against the others' config.",
            }
        )
    if unexpected:
        shown = _and(unexpected[:3]) + (
            f" and {len(unexpected) - 3} more" if len(unexpected) > 3 else ""
        )
        warnings.append(
            {
                "topic": "Config",
                "text": f"{len(unexpected)} cell results are not in the config's grid and are "
                f"analysed all the same: {shown}.",
            }
        )
    return warnings


def _missing_by_host(
    results: Sequence[dict], labels: list[str], expected: list[CellSpec]
) -> dict[str, list[str]]:
    """Each host's expected cells without a result, as relative paths."""
    present: dict[str, set[CellSpec]] = {label: set() for label in labels}
    for res, label in zip(results, labels, strict=True):
        present[label].add(_spec(res))
    wanted = set(expected)
    return {
        label: sorted(c.relative_path for c in wanted - cells)
        for label, cells in sorted(present.items())
        if wanted - cells
    }


def metadata(
    results: list[dict], timings: pd.DataFrame, expected: list[CellSpec] | None = None
) -> dict:
    """What the deck needs about the run: hosts, method, cache state actually reached, where
    the results came from, and (given the ``expected`` cells) which are missing."""
    labels = host_labels(results)
    hosts = _host_entries(results, labels)
    commits = sorted({str(c) for r in results if (c := r["machine"].get("workflow_commit"))})
    experiments = sorted({r["cell"]["experiment"] for r in results})
    by_experiment = {
        e: {config_hash(r) for r in results if r["cell"]["experiment"] == e} for e in experiments
    }
    config_hashes = {
        e: next((h for h in sorted(v, key=str) if h is not None), None)
        for e, v in by_experiment.items()
    }
    distinct = {h for h in config_hashes.values() if h is not None}
    missing_by_host = _missing_by_host(results, labels, expected) if expected is not None else {}
    missing = sorted({path for paths in missing_by_host.values() for path in paths})
    wanted = set(expected or [])
    unexpected = (
        sorted({_spec(r).relative_path for r in results} - {c.relative_path for c in wanted})
        if expected is not None
        else []
    )
    aggregate_warnings = _aggregate_warnings(results, labels, commits, unexpected)
    cold = timings[timings["cache"] == "cold"] if not timings.empty else timings
    resident = cold["resident_fraction"].dropna() if not cold.empty else pd.Series([], dtype=float)
    loads = [r["machine"].get("load_average_1m") for r in results]
    loads = [x for x in loads if x is not None]
    return {
        "experiments": experiments,
        "cells": len(results),
        "timed_repetitions": len(timings),
        "repeats": sorted({r["run"]["repeats"] for r in results}),
        "warmup": sorted({r["run"]["warmup"] for r in results}),
        "hosts": hosts,
        "cpu_models": sorted({str(r["machine"].get("cpu_model") or "unknown") for r in results}),
        "cache_methods": sorted({rep["cache_method"] for r in results for rep in r["repetitions"]}),
        "cold_resident_fraction_max": float(resident.max()) if len(resident) else None,
        "cold_resident_fraction_median": float(resident.median()) if len(resident) else None,
        "load_average_1m_max": max(loads) if loads else None,
        "other_cpu_per_wall_max": _max_interference(timings, "other_cpu_s"),
        "steal_per_wall_max": _max_interference(timings, "steal_s"),
        "mp_start_methods": sorted({r["run"]["mp_start_method"] for r in results}),
        "started_unix": min((r["started_unix"] for r in results), default=None),
        "finished_unix": max((r["finished_unix"] for r in results), default=None),
        "config_hash": distinct.pop() if len(distinct) == 1 else None,
        "config_hashes": config_hashes,
        "workflow_commits": commits,
        "expected_cells": len(expected) if expected is not None else None,
        "missing_cells": missing,
        "missing_cells_by_host": missing_by_host,
        "aggregate_warnings": aggregate_warnings,
        "warnings": [
            *sorted({w for r in results for w in r.get("warnings", [])}),
            *(w["text"] for w in aggregate_warnings),
        ],
        "task_summaries": {r["cell"]["task"]: r["run"].get("task_summary", "") for r in results},
        "strategy_summaries": {
            r["cell"]["strategy"]: r["run"].get("strategy_summary", "") for r in results
        },
    }
