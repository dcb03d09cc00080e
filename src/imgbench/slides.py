"""The slide deck of an experiment: one self-contained HTML file, drawn from result files only.

Everything the deck shows comes from the experiment's tables, ``metadata.json`` and its
figures; the figures are embedded as base64 ``data:`` URIs and the CSS and JS are inline,
so the file opens anywhere without a network. Every value is HTML-escaped by Jinja2.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from imgbench.analysis import BASELINE, CELL
from imgbench.errors import ImgbenchError
from imgbench.results import write_atomic

QUESTION = (
    "Which way of parallelising this image work is fastest, at this size, with this many "
    "workers, on this machine, and why?"
)
#: Above this coefficient of variation a cell's repetitions disagree enough to mention.
CV_WARN = 0.10
#: Above this fraction of the inputs still cached, a "cold" repetition was partly warm.
RESIDENT_WARN = 0.01
#: Other processes using more than this share of a core during a cell's repetitions.
INTERFERENCE_WARN = 0.2
FIGURES = (
    (
        "speedup",
        "Speedup over the serial loop",
        "Speedup = median time of the serial loop / median time of the cell, same task, size, "
        "storage, cache and number of images. Dashed: ideal (speedup = workers); solid grey: "
        "the serial loop; dotted: the machine's usable cores.",
    ),
    (
        "efficiency",
        "Parallel efficiency",
        "Efficiency = speedup / workers. Dashed: 100% (every worker fully used); dotted: the "
        "machine's usable cores.",
    ),
    (
        "faster_than_serial",
        "× faster than the serial loop, at the largest n",
        "Bars: ratio of medians (serial / strategy). Whiskers: the serial median divided by "
        "the ends of the cell's median confidence interval, with the serial median held fixed "
        "(a conservative range, not a CI of the ratio).",
    ),
)


def fmt_seconds(value: float) -> str:
    """Seconds to three significant digits, keeping trailing zeros ("0.200"); "n/a" if NaN."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:#.3g}".rstrip(".")


def fmt_speedup(value: float) -> str:
    """A ratio as "1.83×"; "n/a" if it is missing."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2f}×"


def fmt_percent(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}%}"


def _workers_phrase(workers: int) -> str:
    return f"{workers} worker" if workers == 1 else f"{workers} workers"


def _who(strategy: str, workers: int) -> str:
    return (
        "the serial loop" if strategy == BASELINE else f"{strategy} with {_workers_phrase(workers)}"
    )


def _serial_first(strategy: str) -> tuple[bool, str]:
    return (strategy != BASELINE, strategy)


def _cells_with_speedup(summary: pd.DataFrame, speedup: pd.DataFrame) -> pd.DataFrame:
    extra = ["baseline_median_s", "speedup"]
    if speedup.empty or not all(c in speedup.columns for c in [*CELL, *extra]):
        out = summary.copy()
        for col in extra:
            out[col] = math.nan
        return out
    return summary.merge(speedup[[*CELL, *extra]], on=CELL, how="left")


def task_verdict_sentences(summary: pd.DataFrame, speedup: pd.DataFrame) -> dict[str, list[str]]:
    """For each task, one sentence per (size, storage, cache) at the task's largest n_images.

    The sentence names the fastest strategy and worker count (lowest median), and its
    speedup over the serial loop of the same group, or says that the serial loop is fastest
    and how close the best parallel cell came. Storage and cache are named only when the
    task was measured on more than one combination of them.
    """
    cells = _cells_with_speedup(summary, speedup)
    verdicts: dict[str, list[str]] = {}
    for task, rows in cells.groupby("task", sort=True):
        largest = rows[rows["n_images"] == rows["n_images"].max()]
        several_places = rows[["storage", "cache"]].drop_duplicates().shape[0] > 1
        sentences = []
        for (width, height, storage, cache), group in largest.groupby(
            ["width", "height", "storage", "cache"], sort=True
        ):
            where = f"{int(group['n_images'].iloc[0])} images of {int(width)}x{int(height)}"
            if several_places:
                where += f" ({storage}, {cache} cache)"
            ranked = group.sort_values(["median_s", "strategy", "workers"], kind="stable")
            best = ranked.iloc[0]
            serial = ranked[ranked["strategy"] == BASELINE]
            if serial.empty:
                sentences.append(
                    f"At {where}, {_who(best['strategy'], int(best['workers']))} is fastest "
                    f"(median {fmt_seconds(best['median_s'])} s); no serial loop was measured "
                    "to compare with."
                )
            elif best["strategy"] == BASELINE:
                parallel = ranked[ranked["strategy"] != BASELINE]
                sentence = (
                    f"At {where}, the serial loop is fastest "
                    f"(median {fmt_seconds(best['median_s'])} s)"
                )
                if not parallel.empty:
                    runner_up = parallel.iloc[0]
                    sentence += (
                        f"; the best parallel option, "
                        f"{_who(runner_up['strategy'], int(runner_up['workers']))}, is "
                        f"{fmt_speedup(runner_up['speedup'])} the serial loop "
                        f"(median {fmt_seconds(runner_up['median_s'])} s)"
                    )
                sentences.append(sentence + ".")
            else:
                base = float(serial["median_s"].iloc[0])
                sentences.append(
                    f"At {where}, {_who(best['strategy'], int(best['workers']))} is fastest: "
                    f"{fmt_speedup(base / float(best['median_s']))} the serial loop "
                    f"(median {fmt_seconds(best['median_s'])} s vs {fmt_seconds(base)} s)."
                )
        verdicts[str(task)] = sentences
    return verdicts


def task_verdicts(summary: pd.DataFrame, speedup: pd.DataFrame) -> dict[str, str]:
    """For each task, its verdict sentences (see ``task_verdict_sentences``) as one text."""
    return {
        task: " ".join(sentences)
        for task, sentences in task_verdict_sentences(summary, speedup).items()
    }


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ImgbenchError(f"{path}: missing result table (run `imgbench aggregate` first)")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=CELL)
    for col in CELL:
        if col not in frame.columns:
            raise ImgbenchError(f"{path}: column {col!r} missing")
    return frame


def _read_metadata(path: Path) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ImgbenchError(f"{path}: missing metadata (run `imgbench aggregate` first)") from None
    except json.JSONDecodeError as exc:
        raise ImgbenchError(f"{path}: not valid JSON ({exc})") from None


def _utc(unix: float | None) -> str:
    if unix is None:
        return "n/a"
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _joined(values) -> str:
    return ", ".join(str(v) for v in values) or "n/a"


def _text(value) -> str:
    return "n/a" if value is None else str(value)


def _machine_rows(hosts: list[dict]) -> list[tuple[str, list[str]]]:
    def ram(host: dict) -> str:
        size = host.get("ram_bytes")
        return "n/a" if size is None else f"{size / 2**30:.1f} GiB"

    def pillow(host: dict) -> str:
        turbo = host.get("pillow_libjpeg_turbo")
        turbo_text = "n/a" if turbo is None else ("yes" if turbo else "no")
        return f"{_text(host.get('pillow_version'))} (libjpeg-turbo: {turbo_text})"

    def cores(host: dict) -> str:
        keys = ("physical_cores", "logical_cores", "usable_cores")
        return " / ".join(_text(host.get(k)) for k in keys)

    fields = [
        ("Host", lambda h: _text(h.get("hostname"))),
        ("CPU", lambda h: _text(h.get("cpu_model"))),
        ("Cores: physical / logical / usable", cores),
        ("RAM", ram),
        ("OS", lambda h: _text(h.get("platform"))),
        ("Python", lambda h: _text(h.get("python_version"))),
        ("Pillow", pillow),
        ("numpy", lambda h: _text(h.get("numpy_version"))),
        ("Snakemake", lambda h: _text(h.get("snakemake_version"))),
        ("Workflow commit", lambda h: _text(h.get("workflow_commit"))),
    ]
    return [(label, [get(h) for h in hosts]) for label, get in fields]


def _usable_cores(meta: dict, summary: pd.DataFrame) -> int | None:
    cores = [h.get("usable_cores") for h in meta.get("hosts", []) if h.get("usable_cores")]
    if cores:
        return min(cores)
    if "usable_cores" in summary.columns and summary["usable_cores"].notna().any():
        return int(summary["usable_cores"].min())
    return None


def _method(summary: pd.DataFrame, meta: dict) -> list[str]:
    def uniq(col: str) -> list:
        return sorted(pd.unique(summary[col].dropna())) if col in summary.columns else []

    parallel = summary[summary["strategy"] != BASELINE]
    pairs = zip(summary["width"], summary["height"], strict=True)
    sizes = [f"{int(w)}x{int(h)}" for w, h in sorted(set(pairs))]
    workers = sorted({int(w) for w in parallel["workers"]})
    items = [
        f"Grid: tasks {_joined(uniq('task'))}; strategies "
        f"{_joined(sorted(uniq('strategy'), key=_serial_first))}; "
        f"workers {_joined(workers)} (the serial loop runs once, with 1); images per cell "
        f"{_joined(int(n) for n in uniq('n_images'))}; sizes {_joined(sizes)}; storage "
        f"{_joined(uniq('storage'))}; cache {_joined(uniq('cache'))}; input format "
        f"{_joined(uniq('format'))}.",
        f"{_joined(meta.get('repeats', []))} timed repetitions per cell after "
        f"{_joined(meta.get('warmup', []))} warm-up; {_text(meta.get('cells'))} cells, "
        f"{_text(meta.get('timed_repetitions'))} timed repetitions in all.",
        "The timed region is the whole batch, including pool start-up and shutdown "
        f"(multiprocessing start method: {_joined(meta.get('mp_start_methods', []))}).",
    ]
    cold_max = meta.get("cold_resident_fraction_max")
    methods = _joined(meta.get("cache_methods", []))
    if cold_max is None:
        items.append(f"Cache control: {methods}; no cold-cache repetition was measured.")
    else:
        items.append(
            f"Cache control: {methods}. Share of the inputs still in the page cache before a "
            f"cold repetition: max {fmt_percent(cold_max)}, median "
            f"{fmt_percent(meta.get('cold_resident_fraction_median'))}."
        )
    items += [
        "Every repetition is verified (checksums of written files, decoded pixels of reads): "
        "a repetition that lost or corrupted work is never reported.",
        "Speedup base case: the serial loop of the same task, size, storage, cache and number "
        "of images. Speedup is a ratio of medians; efficiency = speedup / workers.",
    ]
    levels = summary["ci_level"].dropna() if "ci_level" in summary.columns else pd.Series([])
    statistic = (
        "Statistic: the median, with a distribution-free confidence interval (order statistics)"
    )
    if levels.empty:
        items.append(statistic + ".")
    elif levels.min() < 0.95:
        items.append(
            f"{statistic}: with this few repetitions the interval is [min, max] and its "
            f"achieved level is {fmt_percent(levels.min())}, below 95%."
        )
    else:
        items.append(f"{statistic} at {fmt_percent(levels.min())}.")
    return items


def _warnings(summary: pd.DataFrame, meta: dict) -> list[str]:
    out = [str(w) for w in meta.get("warnings", [])]
    hosts, cpus = meta.get("hosts", []), meta.get("cpu_models", [])
    if len(hosts) > 1 or len(cpus) > 1:
        out.append(f"Cells ran on {len(hosts)} hosts ({_joined(cpus)}): results mix machines.")
    cores = _usable_cores(meta, summary)
    other = meta.get("other_cpu_per_wall_max")
    if other is not None and other > INTERFERENCE_WARN:
        out.append(
            f"Other processes used up to {other:.2f} cores during one cell's repetitions "
            f"(of {cores} usable): its times may include interference."
        )
    resident = meta.get("cold_resident_fraction_max")
    if resident is not None and resident > RESIDENT_WARN:
        out.append(
            f"Up to {fmt_percent(resident)} of the inputs were still cached before a cold "
            "repetition: cold results may be partly warm."
        )
    if "cv" in summary.columns and not summary.empty:
        noisy = int((summary["cv"] > CV_WARN).sum())
        if noisy:
            out.append(
                f"{noisy} of {len(summary)} cells vary by more than {CV_WARN:.0%} "
                "(coefficient of variation) between repetitions: their medians are less sure."
            )
    return out


def _task_table(cells: pd.DataFrame) -> tuple[list[tuple[str, bool]], list[dict]]:
    """Header and rows of a task's table: cells per (size, storage, cache, n), by median.

    Header entries are ``(name, is_number)``; each row is ``{"values": [(text, is_number),
    ...], "fastest": bool}``, the fastest cell of each block flagged for highlighting.
    """
    several_places = cells[["storage", "cache"]].drop_duplicates().shape[0] > 1
    text = ["size", *(["storage", "cache"] if several_places else [])]
    header = [(name, False) for name in text] + [("n", True), ("strategy", False)]
    header += [
        (name, True)
        for name in ("workers", "median s", "CI s", "speedup", "efficiency", "images/s", "CPU/wall")
    ]
    ordered = cells.sort_values(
        ["width", "height", "storage", "cache", "n_images", "median_s"], kind="stable"
    )
    fastest = ordered.groupby(["width", "height", "storage", "cache", "n_images"])[
        "median_s"
    ].transform("min")
    rows = []
    for (_, cell), is_fastest in zip(
        ordered.iterrows(), ordered["median_s"] == fastest, strict=True
    ):
        values = [(f"{int(cell['width'])}x{int(cell['height'])}", False)]
        if several_places:
            values += [(str(cell["storage"]), False), (str(cell["cache"]), False)]
        values += [(str(int(cell["n_images"])), True), (str(cell["strategy"]), False)]
        values += [
            (text, True)
            for text in (
                str(int(cell["workers"])),
                fmt_seconds(cell["median_s"]),
                f"{fmt_seconds(cell['ci_low_s'])}–{fmt_seconds(cell['ci_high_s'])}",
                fmt_speedup(cell["speedup"]),
                fmt_percent(cell["efficiency"], 0),
                f"{cell['images_per_s']:.0f}" if math.isfinite(cell["images_per_s"]) else "n/a",
                f"{cell['cpu_per_wall']:.2f}" if math.isfinite(cell["cpu_per_wall"]) else "n/a",
            )
        ]
        rows.append({"values": values, "fastest": bool(is_fastest)})
    return header, rows


def _figure(figures_dir: Path, stem: str, title: str, caption: str) -> dict:
    path = figures_dir / f"{stem}.png"
    if not path.is_file():
        return {"title": title, "caption": caption, "src": None, "missing": str(path)}
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"title": title, "caption": caption, "src": f"data:image/png;base64,{encoded}"}


def deck_context(results_dir: Path) -> dict:
    """Everything the template shows, as plain strings and lists (no formatting left to it)."""
    results_dir = Path(results_dir)
    summary = _read_csv(results_dir / "summary.csv")
    speedup = _read_csv(results_dir / "speedup.csv")
    efficiency = _read_csv(results_dir / "efficiency.csv")
    meta = _read_metadata(results_dir / "metadata.json")

    cells = _cells_with_speedup(summary, speedup)
    if "efficiency" in efficiency.columns and not efficiency.empty:
        cells = cells.merge(efficiency[[*CELL, "efficiency"]], on=CELL, how="left")
    else:
        cells["efficiency"] = math.nan
    verdicts = task_verdict_sentences(summary, speedup)
    task_summaries = meta.get("task_summaries", {})
    tasks = [
        {
            "name": task,
            "summary": task_summaries.get(task, ""),
            "verdicts": verdicts.get(task, []),
            "table": _task_table(rows),
        }
        for task, rows in cells.groupby("task", sort=True)
    ]
    experiments = meta.get("experiments") or sorted(pd.unique(summary["experiment"].dropna()))
    hosts = meta.get("hosts", [])
    strategy_summaries = meta.get("strategy_summaries", {})
    return {
        "experiment": _joined(experiments) if experiments else results_dir.name,
        "description": meta.get("description", ""),
        "date": _utc(meta.get("finished_unix")),
        "hosts": _joined(h.get("hostname") for h in hosts),
        "cells": meta.get("cells", len(summary)),
        "question": QUESTION,
        "machine_headers": [_text(h.get("hostname")) for h in hosts],
        "machine_rows": _machine_rows(hosts),
        "machine_warning": (
            f"{len(hosts)} hosts / {len(meta.get('cpu_models', []))} CPU models took part: "
            "compare cells only within one machine."
            if len(hosts) > 1 or len(meta.get("cpu_models", [])) > 1
            else ""
        ),
        "method": _method(summary, meta),
        "strategies": sorted(strategy_summaries.items(), key=lambda kv: _serial_first(kv[0])),
        "tasks": tasks,
        "figures": [_figure(results_dir / "figures", *spec) for spec in FIGURES],
        "warnings": _warnings(summary, meta),
    }


def render_deck(results_dir: Path, output: Path) -> None:
    """Write the experiment's deck to ``output``: one HTML file that needs no network.

    Reads the tables and ``metadata.json`` in ``results_dir`` and the PNG figures in
    ``results_dir / "figures"``; a missing figure becomes a note on its slide. The file is
    replaced atomically.
    """
    env = Environment(
        loader=PackageLoader("imgbench", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("slides.html.j2").render(**deck_context(results_dir))
    write_atomic(Path(output), html.encode("utf-8"))
