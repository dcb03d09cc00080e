"""metadata.json: what the deck needs to know about a run as a whole: hosts, method, the
cache state actually reached, interference, where the results came from, which expected
result files are missing, and what is odd about the set (``aggregate_warnings``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from imgbench.analysis.results import (
    HOST_FIELDS,
    config_hash,
    host_labels,
    interpreter_of,
    run_of,
    spec_of,
)
from imgbench.analysis.summary import cpu_share, numeric
from imgbench.measure.datasets import FOLDER_CONTENT, is_folder_content, parse_dataset_name
from imgbench.measure.photos import candidates
from imgbench.measure.strategies import STRATEGIES
from imgbench.vocabulary import HOST_CELL

if TYPE_CHECKING:
    from imgbench.plan.grid import CellRun

#: The topic of the CPU-model warning in ``aggregate_warnings``; the deck shows it on the
#: machine and hosts slides, not again among the threats.
CPU_MODELS_TOPIC = "CPU models"


def _max_interference(timings: pd.DataFrame, column: str) -> float | None:
    """The largest share of a core lost to interference during one cell's repetitions."""
    if timings.empty:
        return None
    per_cell = timings.groupby(HOST_CELL)[[column, "wall_s"]].sum()
    # Clipped over the cell, not per repetition (each repetition's count is unclipped).
    shares = [
        cpu_share(max(0.0, o), w) for o, w in zip(per_cell[column], per_cell["wall_s"], strict=True)
    ]
    shares = [s for s in shares if not math.isnan(s)]
    return max(shares) if shares else None


def _host_entries(results: Sequence[dict], labels: list[str]) -> list[dict]:
    """One entry per host: its machine fields, its label in the tables and its number of
    cell result files (one per round of a cell)."""
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
    results: Sequence[dict], labels: list[str], expected: list[CellRun]
) -> dict[str, list[str]]:
    """Each host's expected result files (one per round of each cell) without a result, as
    relative paths: a cell whose round 2 failed is listed by its round-2 file."""
    present: dict[str, set] = {label: set() for label in labels}
    for res, label in zip(results, labels, strict=True):
        present[label].add(run_of(res))
    wanted = set(expected)
    return {
        label: sorted(c.path for c in wanted - runs)
        for label, runs in sorted(present.items())
        if wanted - runs
    }


def _start_methods(results: Sequence[dict], timings: pd.DataFrame) -> dict[str, dict]:
    """Per start method of the process pools: how many result files used it, and the
    median time until every worker was ready (pool_ready_s; None where not recorded)."""
    counts = Counter(str(r["run"]["mp_start_method"]) for r in results)
    ready = numeric(timings, "pool_ready_s") if not timings.empty else pd.Series(dtype=float)
    out = {}
    for method in sorted(counts):
        values = (
            ready[timings["mp_start_method"].astype(str) == method].dropna()
            if len(ready)
            else ready
        )
        out[method] = {
            "results": counts[method],
            "median_pool_ready_s": float(values.median()) if len(values) else None,
        }
    return out


#: The pools whose workers are processes (``Strategy.pool``): those a start method starts.
PROCESS_POOLS = ("processes", "joblib")


def _start_costs(timings: pd.DataFrame) -> dict[str, dict]:
    """Per start method, what starting a process pool cost (thread pools start none):

    - ``pool_ready_s``: the median, over the timed repetitions of the per-batch process-pool
      strategies, of the time from the timer's start until every worker had started (the
      pool made inside the timer), with how many ``cells`` (per host) it is of;
    - ``pool_start_s``: the median, over the jobs of the persistent ones, of making and
      warming the kept pool once, before the timer, with how many ``kept_cells``.

    None where nothing of the kind ran or recorded it. A method without process pools is
    left out.
    """
    needed = {"strategy", "mp_start_method", *HOST_CELL}
    if timings.empty or not needed <= set(timings.columns):
        return {}
    strategy = timings["strategy"].astype(str).map(STRATEGIES.get)
    pooled = strategy.map(lambda s: s is not None and s.pool in PROCESS_POOLS).astype(bool)
    kept = strategy.map(lambda s: s is not None and s.persistent).astype(bool)
    rows = timings.assign(
        pool_ready_s=numeric(timings, "pool_ready_s"),
        pool_start_s=numeric(timings, "pool_start_s"),
        method=timings["mp_start_method"].astype(str),
    )[pooled]
    out = {}
    for method, frame in rows.groupby("method", sort=True):
        per_batch, persistent = frame[~kept[frame.index]], frame[kept[frame.index]]
        ready = per_batch["pool_ready_s"].dropna()
        # One pool start per job: every repetition row of a round carries it.
        jobs = persistent.drop_duplicates([*HOST_CELL, "round"]) if "round" in frame else persistent
        start = jobs["pool_start_s"].dropna()
        out[str(method)] = {
            "pool_ready_s": float(ready.median()) if len(ready) else None,
            "cells": int(per_batch.drop_duplicates(HOST_CELL).shape[0]),
            "pool_start_s": float(start.median()) if len(start) else None,
            "kept_cells": int(persistent.drop_duplicates(HOST_CELL).shape[0]),
        }
    return out


def _durability(results: Sequence[dict]) -> dict[str, str]:
    """Per task whose options record ``durability`` (saving tasks), the values used."""
    found: dict[str, set[str]] = {}
    for r in results:
        value = (r["run"].get("task_options") or {}).get("durability")
        if value is not None:
            found.setdefault(r["cell"]["task"], set()).add(str(value))
    return {task: ",".join(sorted(v)) for task, v in sorted(found.items())}


def _config_hashes(results: Sequence[dict], experiments: list[str]) -> dict:
    """Per experiment, the config hash its results record (None where none does)."""
    by_experiment = {
        e: {config_hash(r) for r in results if r["cell"]["experiment"] == e} for e in experiments
    }
    return {
        e: next((h for h in sorted(v, key=str) if h is not None), None)
        for e, v in by_experiment.items()
    }


def _unexpected(results: Sequence[dict], expected: list[CellRun] | None) -> list[str]:
    """The result files that are not in the config's grid (none without a grid)."""
    if expected is None:
        return []
    return sorted({run_of(r).path for r in results} - {c.path for c in set(expected)})


def _cache_and_load(results: Sequence[dict], timings: pd.DataFrame) -> dict:
    """How cold the cold repetitions were, and how loaded the machine was."""
    cold = timings[timings["cache"] == "cold"] if not timings.empty else timings
    resident = cold["resident_fraction"].dropna() if not cold.empty else pd.Series([], dtype=float)
    loads = [r["machine"].get("load_average_1m") for r in results]
    loads = [x for x in loads if x is not None]
    return {
        "cold_resident_fraction_max": float(resident.max()) if len(resident) else None,
        "cold_resident_fraction_median": float(resident.median()) if len(resident) else None,
        "load_average_1m_max": max(loads) if loads else None,
        "other_cpu_per_wall_max": _max_interference(timings, "other_cpu_s"),
        "steal_per_wall_max": _max_interference(timings, "steal_s"),
    }


def _interpreters(results: Sequence[dict]) -> list[dict]:
    """Each interpreter the cells ran under (version, implementation, build, GIL enabled),
    with how many result files ran so: a GIL enabled in some cells and not in others shows
    as two entries."""
    counts = Counter(tuple(interpreter_of(r).items()) for r in results)
    return [
        {**dict(key), "cells": n}
        for key, n in sorted(counts.items(), key=lambda kv: tuple(map(str, kv[0])))
    ]


def _content_of(result: dict) -> str | None:
    """What the pixels of a cell's dataset were: as recorded, else as the dataset's name says
    (its last path part, ``imgbench.measure.datasets.dataset_name``); None when neither
    tells (a dataset named otherwise)."""
    run = result["run"]
    if run.get("dataset_content"):
        content = str(run["dataset_content"])
    else:
        fields = parse_dataset_name(str(run.get("dataset", "")).rstrip("/").rsplit("/", 1)[-1])
        content = fields["content"] if fields else None
    # Every folder of the user's images is the content "folder" (its id names a directory).
    return FOLDER_CONTENT if content and is_folder_content(content) else content


def _contents(results: Sequence[dict]) -> dict:
    """Per experiment, the contents of the datasets its cells read ("unknown" where the
    results do not tell), and the photographs (credit and licence) that photo datasets are
    cut from: those each cell recorded, else the registry's for the cell's colour."""
    by_experiment: dict[str, set[str]] = {}
    photos: dict[str, dict] = {}
    colors: set[str] = set()
    folders: dict[str, dict] = {}
    for r in results:
        content = _content_of(r)
        by_experiment.setdefault(r["cell"]["experiment"], set()).add(content or "unknown")
        source = r["run"].get("dataset_folder")
        if source:
            # A folder of the user's images: each dataset made from it records the same
            # folder and bad files; the fewest upscaled images per size are what it says.
            # A folder timed as found and fitted to sizes is said twice: once each way.
            key = f"{source.get('folder')}\0{'native' if source.get('native') else 'fitted'}"
            seen = folders.setdefault(key, dict(source))
            seen["upscaled"] = max(seen.get("upscaled") or 0, source.get("upscaled") or 0)
        if content != "photo":
            continue
        color = str(r["run"].get("dataset_color") or "rgb")
        colors.add(color)
        recorded = r["run"].get("dataset_photos")
        if recorded:
            photos.update({str(name): dict(credit) for name, credit in recorded.items()})
        else:
            photos.update({p.name: p.credit() for p in candidates(color)})
    return {
        "dataset_contents": {e: sorted(c) for e, c in sorted(by_experiment.items())},
        "photos": [photos[name] for name in sorted(photos)],
        "photo_colors": sorted(colors),
        "folders": [folders[name] for name in sorted(folders)],
    }


def _flag_count(frame: pd.DataFrame | None, column: str) -> int | None:
    """How many rows of a table are flagged in ``column``; None without the table."""
    if frame is None or column not in frame:
        return None
    return int(frame[column].astype(bool).sum())


def metadata(
    results: list[dict],
    timings: pd.DataFrame,
    expected: list[CellRun] | None = None,
    summary: pd.DataFrame | None = None,
    speedup: pd.DataFrame | None = None,
) -> dict:
    """What the deck needs about the run: hosts, method, cache state actually reached, where
    the results came from, (given the ``expected`` result files) which are missing, and
    (given ``summary`` and ``speedup``) how many cells were flagged."""
    labels = host_labels(results)
    commits = sorted({str(c) for r in results if (c := r["machine"].get("workflow_commit"))})
    experiments = sorted({r["cell"]["experiment"] for r in results})
    config_hashes = _config_hashes(results, experiments)
    distinct = {h for h in config_hashes.values() if h is not None}
    missing_by_host = _missing_by_host(results, labels, expected) if expected is not None else {}
    aggregate_warnings = _aggregate_warnings(
        results, labels, commits, _unexpected(results, expected)
    )
    return {
        "experiments": experiments,
        # Result files (one per round of a cell), as the workflow counts its cell jobs.
        "cells": len(results),
        "distinct_cells": len(
            {(label, spec_of(r)) for r, label in zip(results, labels, strict=True)}
        ),
        "timed_repetitions": len(timings),
        "repeats": sorted({r["run"]["repeats"] for r in results}),
        "warmup": sorted({r["run"]["warmup"] for r in results}),
        "hosts": _host_entries(results, labels),
        "cpu_models": sorted({str(r["machine"].get("cpu_model") or "unknown") for r in results}),
        "cache_methods": sorted({rep["cache_method"] for r in results for rep in r["repetitions"]}),
        **_cache_and_load(results, timings),
        "mp_start_methods": sorted({r["run"]["mp_start_method"] for r in results}),
        "interpreters": _interpreters(results),
        "start_methods": _start_methods(results, timings),
        "start_costs": _start_costs(timings),
        "eviction_methods": sorted({str(e) for r in results if (e := r["run"].get("eviction"))}),
        "durability": _durability(results),
        **_contents(results),
        "rounds": sorted({int(r["run"].get("rounds") or 1) for r in results}),
        "bound_flags": _flag_count(speedup, "exceeds_bound"),
        "rounds_disagree": _flag_count(summary, "rounds_disagree"),
        "extra_reads_flags": _flag_count(summary, "extra_reads_flag"),
        "started_unix": min((r["started_unix"] for r in results), default=None),
        "finished_unix": max((r["finished_unix"] for r in results), default=None),
        "config_hash": distinct.pop() if len(distinct) == 1 else None,
        "config_hashes": config_hashes,
        "workflow_commits": commits,
        "expected_cells": len(expected) if expected is not None else None,
        "missing_cells": sorted({path for paths in missing_by_host.values() for path in paths}),
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
