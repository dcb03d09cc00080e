"""The deck: one self-contained, escaped HTML file with every slide the issue asks for.

The tables are built here from ``docs/results.md`` (the contract between the analysis and
the deck), not by the analysis itself, so these tests pin what the deck reads.
"""

from __future__ import annotations

import html as html_lib
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imgbench.analysis.aggregate import CELL, GROUP
from imgbench.errors import ImgbenchError
from imgbench.report.slides import (
    fmt_ms,
    fmt_seconds,
    fmt_speedup,
    group_table,
    render_deck,
    task_verdicts,
    threats,
)

XSS = "<script>alert(1)</script>"
ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;/script&gt;"

# Cells are (n_images, strategy, workers, median_s).
THREADS_WIN = [
    (16, "serial", 1, 0.090),
    (16, "threads", 1, 0.095),
    (16, "threads", 2, 0.080),
    (128, "serial", 1, 0.366),
    (128, "threads", 1, 0.380),
    (128, "threads", 2, 0.200),
    (128, "processes", 1, 0.420),
    (128, "processes", 2, 0.250),
]
SERIAL_WIN = [
    (64, "serial", 1, 0.0107),
    (64, "threads", 1, 0.0115),
    (64, "threads", 4, 0.0120),
    (64, "processes", 2, 0.0300),
]
CELLS = {"save_png": THREADS_WIN, "decode": SERIAL_WIN}


# ----- a builder of every table in docs/results.md ------------------------------------------


def summary_rows(cells, task, size=(1280, 960), storage="disk", cache="warm", reps=6):
    rows = []
    for n, strategy, workers, median in cells:
        cv = 0.15 if strategy == "processes" else 0.05
        rows.append(
            {
                "experiment": "tiny",
                "task": task,
                "storage": storage,
                "cache": cache,
                "width": size[0],
                "height": size[1],
                "n_images": n,
                "strategy": strategy,
                "workers": workers,
                "reps": reps,
                "median_s": median,
                "mean_s": median,
                "std_s": median * cv,
                "min_s": median * 0.9,
                "max_s": median * 1.1,
                "cv": cv,
                "ci_low_s": median * 0.95,
                "ci_high_s": median * 1.05,
                "ci_level": 0.9688 if reps >= 6 else 0.9375,
                "outliers": 1 if (strategy, workers) == ("processes", 2) else 0,
                "images_per_s": n / median,
                "mb_per_s": 1.0,
                "median_first_result_s": median * 0.1,
                "median_work_s": median * 0.85,
                "median_shutdown_s": median * 0.05,
                "median_cpu_s": median,
                "cpu_per_wall": 1.0,
                "worker_busy": 1.0 / min(workers, 4),
                "other_cpu_per_wall": 0.01,
                "max_peak_rss_bytes": 10**8,
                "cache_method": "drop_caches" if cache == "cold" else "read",
                "max_resident_fraction": 0.001 if cache == "cold" else 1.0,
                "format": "raw",
                "host": "box",
                "usable_cores": 4,
                # the columns of the fair-measurement analysis (issue 9)
                "rounds": 2,
                "round_spread": 0.02,
                "rounds_disagree": False,
                "median_pool_ready_s": median * 0.06 if strategy != "serial" else math.nan,
                "max_peak_in_flight": workers,
                "max_tree_pss_bytes": 10**8 * (1 + (workers if "processes" in strategy else 0)),
                "max_tree_uss_bytes": 9 * 10**7 * (1 + (workers if "processes" in strategy else 0)),
                "median_extra_read_bytes": 0.0,
                "extra_reads_flag": False,
                "imported_modules": "",
                "mp_start_method": "fork",
                "eviction": "files" if cache == "cold" else "",
                "task_bound": "cpu",
                "cpu_per_image_s": median / n,
            }
        )
    return rows


#: The columns each table gained with issue 9: ``legacy_tables`` drops them, so that the deck
#: is tested on tables written before them too.
NEW_COLUMNS = {
    "summary": [
        "rounds",
        "round_spread",
        "rounds_disagree",
        "median_pool_ready_s",
        "max_peak_in_flight",
        "max_tree_pss_bytes",
        "max_tree_uss_bytes",
        "median_extra_read_bytes",
        "extra_reads_flag",
        "imported_modules",
        "mp_start_method",
        "eviction",
        "task_bound",
        "cpu_per_image_s",
    ],
    "speedup": [
        "bound",
        "exceeds_bound",
        "cpu_per_image_s",
        "baseline_cpu_per_image_s",
        "cpu_per_image_ratio",
    ],
    "comparisons": [
        "p_value",
        "p_holm",
        "ratio",
        "ratio_ci90_low",
        "ratio_ci90_high",
        "equivalence_margin",
        "equivalent",
        "max_missed_difference",
        "faster_than_loop",
    ],
    "recommendations": [
        "bound",
        "exceeds_bound",
        "withheld",
        "faster_than_loop",
        "equivalent",
        "not_told_apart",
    ],
}
NEW_METADATA = (
    "eviction_methods",
    "start_methods",
    "durability",
    "rounds",
    "bound_flags",
    "rounds_disagree",
    "extra_reads_flags",
)


def legacy_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables as written before issue 9: without its columns."""
    return {
        name: frame.drop(columns=NEW_COLUMNS.get(name, []), errors="ignore")
        for name, frame in tables.items()
    }


def legacy_metadata(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k not in NEW_METADATA}


def build_summary(cells_by_task=CELLS, **kwargs) -> pd.DataFrame:
    rows = [summary_rows(cells, task, **kwargs) for task, cells in cells_by_task.items()]
    return pd.DataFrame([row for task_rows in rows for row in task_rows])


def build_speedup(summary: pd.DataFrame) -> pd.DataFrame:
    """Both base cases per cell: the serial loop, and the same strategy with 1 worker."""
    rows = []
    for _, cell in summary.iterrows():
        group = summary[(summary[GROUP] == cell[GROUP]).all(axis=1)]
        serial = group[group["strategy"] == "serial"]
        one = group[(group["strategy"] == cell["strategy"]) & (group["workers"] == 1)]
        for baseline, base in (("serial", serial), ("1 worker", one)):
            base_median = float(base["median_s"].iloc[0]) if len(base) else math.nan
            speedup = base_median / cell["median_s"]
            rows.append(
                {
                    **{c: cell[c] for c in CELL},
                    "baseline": baseline,
                    "baseline_strategy": "serial" if baseline == "serial" else cell["strategy"],
                    "baseline_workers": 1,
                    "median_s": cell["median_s"],
                    "ci_low_s": cell["ci_low_s"],
                    "ci_high_s": cell["ci_high_s"],
                    "baseline_median_s": base_median,
                    "speedup": speedup,
                    "speedup_ci_low": speedup * 0.9,
                    "speedup_ci_high": speedup * 1.1,
                    "usable_cores": cell["usable_cores"],
                    "bound": min(cell["workers"], cell["usable_cores"]),
                    "exceeds_bound": bool(speedup > min(cell["workers"], cell["usable_cores"])),
                    "cpu_per_image_s": cell["cpu_per_image_s"],
                    "baseline_cpu_per_image_s": cell["cpu_per_image_s"],
                    "cpu_per_image_ratio": 1.0,
                }
            )
    return pd.DataFrame(rows)


def build_efficiency(speedup: pd.DataFrame) -> pd.DataFrame:
    out = speedup[[*CELL, "baseline", "speedup", "usable_cores"]].copy()
    out["efficiency"] = out["speedup"] / out["workers"]
    out["efficiency_ci_low"] = out["efficiency"] * 0.9
    out["efficiency_ci_high"] = out["efficiency"] * 1.1
    p = out["workers"].astype(float)
    karp = (1 / out["speedup"] - 1 / p) / (1 - 1 / p)
    out["karp_flatt"] = karp.where(p > 1)
    return out


def build_amdahl(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for key, g in summary.groupby([*GROUP, "strategy"], sort=True):
        if g["workers"].nunique() < 2:
            continue
        design = np.column_stack([np.ones(len(g)), 1 / g["workers"].to_numpy(float)])
        (ts, tp), *_ = np.linalg.lstsq(design, g["median_s"].to_numpy(float), rcond=None)
        rows.append(
            {
                **dict(zip([*GROUP, "strategy"], key, strict=True)),
                "points": len(g),
                "fit_max_workers": int(g["workers"].max()),
                "t_serial_s": ts,
                "t_parallel_s": tp,
                "serial_fraction": ts / (ts + tp),
                "max_speedup": (ts + tp) / ts if ts > 0 else math.inf,
                "fit_r2": 0.99,
            }
        )
    columns = [*GROUP, "strategy", "points", "fit_max_workers", "t_serial_s", "t_parallel_s"]
    return pd.DataFrame(rows, columns=[*columns, "serial_fraction", "max_speedup", "fit_r2"])


def build_comparisons(summary: pd.DataFrame) -> pd.DataFrame:
    """Within 10% of the fastest median counts as "not significantly slower"."""
    rows = []
    for _, g in summary.groupby(GROUP, sort=True):
        best = g.loc[g["median_s"].idxmin()]
        for _, cell in g.iterrows():
            is_best = cell.name == best.name
            close = cell["median_s"] < best["median_s"] * 1.1
            p = math.nan if is_best else (0.4 if close else 0.002)
            rows.append(
                {
                    **{c: cell[c] for c in CELL},
                    "median_s": cell["median_s"],
                    "best_strategy": best["strategy"],
                    "best_workers": best["workers"],
                    "mannwhitney_p": p,
                    "p_value": p,
                    "p_holm": p if is_best else min(1.0, p * 2),
                    "ci_overlap": not is_best and p > 0.05,
                    "significantly_slower": bool(not is_best and p < 0.05),
                    "ratio": cell["median_s"] / best["median_s"],
                    "ratio_ci90_low": cell["median_s"] / best["median_s"] * 0.97,
                    "ratio_ci90_high": cell["median_s"] / best["median_s"] * 1.03,
                    "equivalence_margin": 0.05,
                    # within 3% of the best: equivalent; otherwise, if close, can't tell
                    "equivalent": bool(not is_best and cell["median_s"] < best["median_s"] * 1.03),
                    "max_missed_difference": 0.12 if close and not is_best else math.nan,
                    "faster_than_loop": False,
                }
            )
    return pd.DataFrame(rows)


def build_recommendations(
    summary: pd.DataFrame, speedup: pd.DataFrame, comparisons: pd.DataFrame, sentence=None
) -> pd.DataFrame:
    vs_loop = speedup[speedup["baseline"] == "serial"].set_index(CELL)
    rows = []
    for key, g in comparisons.groupby(GROUP, sort=True):
        g = g.sort_values("median_s")
        best, others = g.iloc[0], g.iloc[1:]
        noise = others[~others["significantly_slower"]]
        runner = noise.iloc[0] if len(noise) else None
        stats = vs_loop.loc[tuple(best[c] for c in CELL)]
        group = dict(zip(GROUP, key, strict=True))
        who = f"{best['strategy']} with {best['workers']} workers"
        rows.append(
            {
                **group,
                "best_strategy": best["strategy"],
                "best_workers": best["workers"],
                "best_median_s": best["median_s"],
                "speedup": stats["speedup"],
                "speedup_ci_low": stats["speedup_ci_low"],
                "speedup_ci_high": stats["speedup_ci_high"],
                "runner_up_strategy": runner["strategy"] if runner is not None else "",
                "runner_up_workers": runner["workers"] if runner is not None else None,
                "runner_up_speedup": (
                    vs_loop.loc[tuple(runner[c] for c in CELL)]["speedup"]
                    if runner is not None
                    else math.nan
                ),
                "within_noise": "; ".join(f"{r.strategy} x{r.workers}" for r in noise.itertuples()),
                "bound": min(best["workers"], 4),
                "exceeds_bound": False,
                "withheld": False,
                "faster_than_loop": best["strategy"] != "serial",
                "equivalent": "; ".join(
                    f"{r.strategy} x{r.workers}" for r in noise.itertuples() if r.equivalent
                ),
                "not_told_apart": "; ".join(
                    f"{r.strategy} x{r.workers}" for r in noise.itertuples() if not r.equivalent
                ),
                "sentence": sentence
                or f"For {group['task']} at {group['n_images']} images, {who} is fastest.",
            }
        )
    return pd.DataFrame(rows)


def build_tables(cells_by_task=CELLS, sentence=None, **kwargs) -> dict[str, pd.DataFrame]:
    """Every table of docs/results.md that the deck reads, from crafted cells."""
    summary = build_summary(cells_by_task, **kwargs)
    speedup = build_speedup(summary)
    comparisons = build_comparisons(summary)
    return {
        "summary": summary,
        "speedup": speedup,
        "efficiency": build_efficiency(speedup),
        "amdahl": build_amdahl(summary),
        "comparisons": comparisons,
        "recommendations": build_recommendations(summary, speedup, comparisons, sentence),
    }


def metadata(**overrides) -> dict:
    host = {
        "hostname": "box",
        "platform": "Linux-6.1-x86_64",
        "cpu_model": "Test CPU",
        "physical_cores": 4,
        "logical_cores": 8,
        "usable_cores": 4,
        "ram_bytes": 16 * 2**30,
        "python_version": "3.11.7",
        "pillow_version": "11.0.0",
        "pillow_libjpeg_turbo": True,
        "numpy_version": "2.0.0",
        "snakemake_version": "9.0.0",
        "workflow_commit": "abc1234",
    }
    meta = {
        "description": "A tiny grid",
        "experiments": ["tiny"],
        "cells": 12,
        "timed_repetitions": 72,
        "repeats": [6],
        "warmup": [1],
        "hosts": [host],
        "cpu_models": ["Test CPU"],
        "cache_methods": ["read"],
        "cold_resident_fraction_max": None,
        "cold_resident_fraction_median": None,
        "load_average_1m_max": 1.7,
        "other_cpu_per_wall_max": 0.05,
        "mp_start_methods": ["fork"],
        "start_methods": {"fork": {"results": 24, "median_pool_ready_s": 0.004}},
        "eviction_methods": [],
        "durability": {"save_png": "none"},
        "rounds": [2],
        "bound_flags": 0,
        "rounds_disagree": 0,
        "extra_reads_flags": 0,
        "started_unix": 1_700_000_000.0,
        "finished_unix": 1_700_000_100.0,
        "warnings": [],
        "task_summaries": {"save_png": "encode arrays as PNG", "decode": "decode files"},
        "strategy_summaries": {"serial": "a plain for loop", "threads": "a thread pool"},
    }
    meta.update(overrides)
    return meta


ALL_FIGURES = (
    "speedup",
    "efficiency",
    "faster_than_serial",
    "time_vs_n",
    "best_strategy",
    "repetitions",
    "overhead",
)


def write_results(
    directory: Path, meta: dict | None = None, tables=None, figures=ALL_FIGURES
) -> Path:
    """An experiment's results directory: every table, metadata.json and PNG figures."""
    directory.mkdir(parents=True)
    for name, frame in (tables or build_tables()).items():
        frame.to_csv(directory / f"{name}.csv", index=False)
    (directory / "metadata.json").write_text(json.dumps(meta or metadata()))
    (directory / "figures").mkdir()
    colours = ["#004f86", "#d55e00", "#009e73", "#e69f00", "#cc79a7", "#56b4e9", "#7f7f7f"]
    for stem, colour in zip(figures, colours * 2, strict=False):
        image = Image.new("RGB", (640, 400), "white")
        image.paste(colour, (40, 40, 600, 360))
        image.save(directory / "figures" / f"{stem}.png")
    return directory


def render(tmp_path: Path, **kwargs) -> str:
    output = tmp_path / "out" / "slides.html"
    render_deck(write_results(tmp_path / "tiny", **kwargs), output)
    assert [p.name for p in output.parent.iterdir()] == ["slides.html"]
    return output.read_text(encoding="utf-8")


def headings(deck: str) -> list[str]:
    return [html_lib.unescape(h) for h in re.findall(r"<h[12]>(.*?)</h[12]>", deck)]


EXPECTED_HEADINGS = [
    "tiny",
    "The question",
    "Machine and software",
    "Method: how each cell is measured",
    "Method: how cells are compared",
    "Task: decode",
    "decode: speedup over the serial loop",
    "decode · 1280x960 · disk, warm cache · 64 images",
    "Task: save_png",
    "save_png: speedup over the serial loop",
    "save_png · 1280x960 · disk, warm cache · 128 images",
    "Parallel efficiency",
    "× faster than the serial loop",
    "Absolute time against the number of images",
    "The fastest strategy",
    "Every repetition",
    "Overhead",
    "Overhead: pool start-up, first result, work and shutdown",
    "Recommendations",
    "Conclusions",
    "Threats to validity: machine and method",
    "Threats to validity: cells and claims",
    "Appendix: every cell",
    "Appendix: speedup and efficiency, both base cases",
    "Appendix: Amdahl fits",
]


@pytest.fixture
def deck(tmp_path) -> str:
    return render(tmp_path)


# ----- the deck as a whole ------------------------------------------------------------------


def test_deck_has_every_slide(deck):
    assert headings(deck) == EXPECTED_HEADINGS
    assert deck.count('<section class="slide') == len(EXPECTED_HEADINGS)
    assert "2023-11-14 22:15 UTC" in deck


def test_deck_needs_no_network(deck):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", deck)
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", deck)
    assert "http://" not in deck and "https://" not in deck
    assert "<style>" in deck and "<script>" in deck
    assert "Content-Security-Policy" in deck and "default-src 'none'" in deck
    assert '<link rel="icon" href="data:,">' in deck


def test_deck_prints_one_slide_per_page(deck):
    assert "@page" in deck and "@media print" in deck and "break-after: page" in deck


def test_each_figure_is_embedded_once_and_shown_where_needed(deck):
    assert deck.count('href="data:image/png;base64,') == len(ALL_FIGURES)
    # the speedup figure in each task's section; every other figure once
    assert deck.count('<use href="#fig-speedup"/>') == 2
    for stem in ALL_FIGURES[1:]:
        assert deck.count(f'<use href="#fig-{stem}"/>') == 1


def test_a_missing_figure_becomes_a_note(tmp_path):
    html = render(tmp_path, figures=("speedup", "efficiency"))
    assert html.count('href="data:image/png;base64,') == 2
    assert "Figure not available: faster_than_serial.png was not found" in html
    assert "Figure not available: overhead.png was not found" in html
    assert headings(html) == EXPECTED_HEADINGS


def test_a_figure_that_is_not_a_png_becomes_a_note(tmp_path):
    results = write_results(tmp_path / "tiny", figures=("speedup",))
    (results / "figures" / "overhead.png").write_text("<svg>not a png</svg>")
    render_deck(results, tmp_path / "slides.html")
    html = (tmp_path / "slides.html").read_text(encoding="utf-8")
    assert "overhead.png is not a PNG image" in html


def test_deck_escapes_every_value(tmp_path):
    host = {**metadata()["hosts"][0], "hostname": XSS, "cpu_model": XSS}
    meta = metadata(
        experiments=[XSS],
        description=XSS,
        hosts=[host],
        cpu_models=[XSS],
        warnings=[XSS],
        task_summaries={"save_png": XSS},
        strategy_summaries={XSS: XSS},
    )
    html = render(tmp_path, meta=meta, tables=build_tables(sentence=XSS))
    assert XSS not in html
    assert html.count("<script>") == 1
    assert ESCAPED_XSS in html
    # the sentence on its task's slide, in the conclusions, and the host in the threats
    assert html.count(ESCAPED_XSS) >= 8


def test_both_base_cases_are_named(deck):
    assert "the serial loop (does parallelism pay at all?)" in deck
    assert "the same strategy with 1 worker (how does the strategy scale?)" in deck
    assert '<th colspan="2">vs the serial loop</th><th colspan="2">vs 1 worker</th>' in deck
    # the speedup appendix says which base case each row uses
    appendix = deck.split("<h2>Appendix: speedup and efficiency, both base cases</h2>")[1]
    assert "<td>threads ×1</td>" in appendix and "<td>the serial loop</td>" in appendix
    assert "<td>itself</td>" in appendix  # the loop's own row for the 1-worker base case


def test_verdicts_come_from_recommendations(tmp_path):
    tables = build_tables()
    tables["recommendations"].loc[:, "sentence"] = [
        f"Sentence {i} of the analysis." for i in range(len(tables["recommendations"]))
    ]
    html = render(tmp_path, tables=tables)
    task_slide = html.split("<h2>Task: save_png</h2>")[1].split("</section>")[0]
    conclusions = html.split("<h2>Conclusions</h2>")[1].split("</section>")[0]
    for i in range(len(tables["recommendations"])):
        assert f"Sentence {i} of the analysis." in html
    # save_png has groups at 16 and 128 images: both on its slide, only 128 in conclusions
    assert task_slide.count("of the analysis.") == 2
    assert conclusions.count("of the analysis.") == 2


def test_recommendations_slide_names_best_ci_and_runner_up(deck):
    slide = deck.split("<h2>Recommendations</h2>")[1].split("</section>")[0]
    assert "<td>threads ×2</td>" in slide
    assert "1.83×" in slide and "1.65–2.01" in slide  # 0.366 / 0.200 and its crafted CI
    # decode at 64 images: the loop wins; threads x1 is within 10%, so it is the runner-up
    assert '<td>the serial loop</td><td class="num">0.0107</td>' in slide
    # not significantly slower, not equivalent (3% CI around 8% slower): can't tell apart
    assert '<td>threads ×1</td><td class="num">0.93×</td><td>—</td><td>threads x1</td>' in slide
    # save_png at 16 images: nothing is equivalent to threads x2 or can't be told apart
    assert '<td>none</td><td class="num">—</td><td>—</td><td>—</td>' in slide
    assert "<td>faster</td>" in slide and "<td>is the loop</td>" in slide
    assert "within noise" not in slide
    assert "Equivalent: the 90% CI of the time ratio lies within ±5% (TOST)" in slide


def test_recommendations_of_tables_without_the_equivalence_test(tmp_path):
    html = render(tmp_path, tables=legacy_tables(build_tables()), meta=legacy_metadata(metadata()))
    slide = html.split("<h2>Recommendations</h2>")[1].split("</section>")[0]
    assert "<th>not significantly slower</th>" in slide and "<th>vs loop</th>" not in slide
    assert '<td>threads ×1</td><td class="num">0.93×</td><td>threads x1</td>' in slide
    assert "does not mean equivalent" in slide


def test_overhead_table_at_the_largest_n(deck):
    slide = deck.split("<h2>Overhead: pool start-up, first result, work and shutdown</h2>")[1]
    slide = slide.split("</section>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", slide.split("<tbody>")[1])
    # save_png n=128: serial, processes x2, threads x2; decode n=64: same with threads x4
    assert len(rows) == 6
    assert '<td>processes</td><td class="num">2</td><td class="num">250</td>' in slide
    # processes: every worker started after 6% of 250 ms, the first result at 10%
    assert '<td class="num">250</td><td class="num">15.0</td><td class="num">10.0</td>' in slide
    assert (
        '<td>serial</td><td class="num">1</td><td class="num">366</td><td class="num">—</td>'
        in (slide)
    )
    assert "until every pool worker had started" in slide
    assert "50%" in slide  # worker busy of 2 workers at 1 CPU per wall second


# ----- the task tables ----------------------------------------------------------------------


def test_group_table_has_both_speedups_significance_and_amdahl():
    tables = build_tables()
    cells = deck_cells(tables)
    group = cells[(cells["task"] == "save_png") & (cells["n_images"] == 128)]
    amdahl = tables["amdahl"][tables["amdahl"]["n_images"] == 128]
    table = group_table(group, amdahl)
    rows = {(r.cells[0].text, r.cells[1].text): r for r in table.rows}
    assert list(rows) == [
        ("serial", "1"),
        ("processes", "1"),
        ("processes", "2"),
        ("threads", "1"),
        ("threads", "2"),
    ]
    fastest = [c.text for c in rows[("threads", "2")].cells]
    assert rows[("threads", "2")].css == "fastest"
    assert fastest[2:9] == [
        "0.200",
        "0.190–0.210",
        "1.83× (1.65–2.01)",
        "91%",
        "1.90×",
        "0.05",
        "fastest",
    ]
    assert rows[("processes", "2")].cells[8].text == "slower"
    assert rows[("threads", "1")].cells[8].text == "slower"
    assert rows[("processes", "1")].cells[8].text == "slower"
    # Amdahl: one cell per strategy spanning its rows; none for the loop
    assert [c.text for c in rows[("threads", "1")].cells[9:]] == ["5.3%", "19.00×"]
    assert [c.rowspan for c in rows[("threads", "1")].cells[9:]] == [2, 2]
    assert len(rows[("threads", "2")].cells) == 9
    assert rows[("serial", "1")].cells[9].text == "—"


def deck_cells(tables):
    from imgbench.report.slides import cell_frame

    return cell_frame(tables)


# ----- verdicts and threats: pure functions -------------------------------------------------


def test_task_verdicts_order_and_largest_n():
    recs = build_tables()["recommendations"]
    verdicts = task_verdicts(recs)
    assert list(verdicts) == ["decode", "save_png"]
    assert verdicts["save_png"][0].startswith("For save_png at 128 images")
    assert verdicts["save_png"][1].startswith("For save_png at 16 images")
    assert task_verdicts(recs, largest_n_only=True)["save_png"] == [verdicts["save_png"][0]]
    assert task_verdicts(recs.iloc[0:0]) == {}


OLD_CLAIM_TOPICS = ("Repetition spread", "Outliers", "Repetitions")


def _threat(found: list[dict], topic: str) -> dict:
    (match,) = [t for t in found if t["topic"] == topic]
    return match


def test_threats_all_clear():
    summary = build_summary(reps=6)
    summary["cv"] = 0.02
    summary["outliers"] = 0
    tables = build_tables()
    found = threats(summary, metadata(), tables["speedup"], tables["recommendations"])
    # stated facts are never ticked: memory, and that saves end in the page cache
    assert {t["topic"] for t in found if t["status"] == "info"} == {"Memory", "Save durability"}
    assert {t["status"] for t in found} == {"ok", "info"}
    interference = _threat(found, "Interference")["text"]
    assert "up to 0.05 cores (of 4 usable)" in interference
    assert "load average before cells reached 1.70" in interference
    assert "previous cells' own workers" in interference


def test_threats_react_to_metadata():
    host = metadata()["hosts"][0]
    meta = metadata(
        other_cpu_per_wall_max=0.75,
        cold_resident_fraction_max=0.2,
        cache_methods=["none", "read"],
        hosts=[host, {**host, "hostname": "other"}],
        cpu_models=["Test CPU", "Other CPU"],
        warnings=["odd"],
    )
    summary = build_summary(cache="cold", reps=5)
    found = threats(summary, meta)
    statuses = {t["topic"]: t["status"] for t in found if t["part"] == "machine"}
    statuses |= {t["topic"]: t["status"] for t in found if t["topic"] in OLD_CLAIM_TOPICS}
    assert statuses == {
        "Interference": "warn",
        "Repetition spread": "warn",
        "Outliers": "warn",
        "Hosts": "warn",
        "Cache": "warn",
        "Repetitions": "warn",
        "Run warning": "warn",
        "Eviction": "ok",
        "Start method": "ok",
        "Save durability": "info",
        "Memory": "info",
    }
    assert "its times may include interference" in _threat(found, "Interference")["text"]
    assert "3 of 12 cells vary by more than 10%" in _threat(found, "Repetition spread")["text"]
    assert "2 cells have Tukey outliers" in _threat(found, "Outliers")["text"]
    assert "2 hosts with 2 CPU models" in _threat(found, "Hosts")["text"]
    cache = _threat(found, "Cache")["text"]
    assert "could not be evicted" in cache and "Up to 20.0% of the inputs" in cache
    assert "93.8%, below 95%: too few repetitions" in _threat(found, "Repetitions")["text"]
    assert _threat(found, "Run warning")["text"] == "odd"


def test_threats_slide_shows_warnings(tmp_path):
    html = render(tmp_path, meta=metadata(other_cpu_per_wall_max=0.75, warnings=["odd"]))
    slide = html.split("<h2>Threats to validity: machine and method</h2>")[1].split("</section>")[0]
    assert 'class="warn-item"' in slide and "Other processes used up to 0.75 cores" in slide
    assert "<b>Run warning</b>: odd" in slide


# ----- formatting and inputs ----------------------------------------------------------------


def test_formatting():
    assert fmt_seconds(0.2) == "0.200"
    assert fmt_seconds(123.4) == "123"
    assert fmt_seconds(math.nan) == fmt_seconds(None) == fmt_seconds("") == "n/a"
    assert fmt_speedup(1.834) == "1.83×"
    assert fmt_speedup(math.inf) == "∞"
    assert fmt_ms(0.0123) == "12.3" and fmt_ms(2.25e-6) == "<0.01" and fmt_ms(None) == "n/a"


def test_deck_of_empty_tables(tmp_path):
    tables = {name: frame.iloc[0:0] for name, frame in build_tables().items()}
    html = render(tmp_path, meta=metadata(hosts=[], cpu_models=[]), tables=tables)
    assert [h for h in headings(html) if h.startswith(("Task", "decode", "save_png"))] == []
    assert len(headings(html)) == len(EXPECTED_HEADINGS) - 6
    assert "No cells were measured." in html


def test_missing_table_or_column_is_an_error(tmp_path):
    results = write_results(tmp_path / "tiny")
    (results / "amdahl.csv").unlink()
    with pytest.raises(ImgbenchError, match="amdahl.csv: missing result table"):
        render_deck(results, tmp_path / "slides.html")
    tables = build_tables()
    tables["recommendations"] = tables["recommendations"].drop(columns=["sentence"])
    results = write_results(tmp_path / "other", tables=tables)
    with pytest.raises(ImgbenchError, match="column\\(s\\) sentence missing"):
        render_deck(results, tmp_path / "slides.html")


# ----- the fairness facts of issue 9: flags, start method, eviction, rounds, calibration ------


def flagged_tables() -> dict[str, pd.DataFrame]:
    """Tables in which every new flag is raised once."""
    tables = build_tables()
    summary, speedup = tables["summary"], tables["speedup"]
    proc = (summary["task"] == "save_png") & (summary["strategy"] == "processes")
    proc2 = proc & (summary["workers"] == 2) & (summary["n_images"] == 128)
    summary.loc[proc2, ["rounds_disagree", "round_spread"]] = [True, 0.31]
    summary.loc[proc2, "extra_reads_flag"] = True
    summary.loc[proc2, "median_extra_read_bytes"] = 3 * 2**20
    summary.loc[proc2, "imported_modules"] = "PIL.PngImagePlugin;zlib"
    summary.loc[proc, "mp_start_method"] = "spawn"
    asyncio = summary.index[(summary["strategy"] == "threads") & (summary["workers"] == 4)]
    summary.loc[asyncio, "max_peak_in_flight"] = 2
    above = (
        (speedup["task"] == "save_png")
        & (speedup["n_images"] == 128)
        & (speedup["strategy"] == "threads")
        & (speedup["workers"] == 2)
        & (speedup["baseline"] == "serial")
    )
    speedup.loc[above, ["bound", "exceeds_bound"]] = [1, True]
    recs = tables["recommendations"]
    flagged = (recs["task"] == "save_png") & (recs["n_images"] == 128)
    recs.loc[flagged, ["exceeds_bound", "withheld", "bound"]] = [True, True, 1]
    recs.loc[flagged, "sentence"] = (
        "For save_png at 128 images, threads with 2 workers measured 1.83x, above what 1 "
        "usable core allows: the loop used 30% more CPU per image, so it is not reported."
    )
    return tables


def test_deck_names_every_flag(tmp_path):
    meta = metadata(
        start_methods={
            "fork": {"results": 16, "median_pool_ready_s": 0.004},
            "spawn": {"results": 8, "median_pool_ready_s": 0.21},
        },
        eviction_methods=["system"],
        durability={"save_png": "fsync"},
    )
    tables = {name: frame.assign(cache="cold") for name, frame in flagged_tables().items()}
    summary = tables["summary"]
    found = threats(summary, meta, tables["speedup"], tables["recommendations"])
    statuses = {t["topic"]: t["status"] for t in found}
    for topic in (
        "Start method",
        "Eviction",
        "Rounds disagree",
        "Physical bound",
        "Extra reads",
        "Imports inside the timer",
        "Operations in flight",
    ):
        assert statuses[topic] == "warn", topic
    assert statuses["Rounds"] == "ok"
    start = _threat(found, "Start method")["text"]
    assert "spawn" in start and "210 ms" in start and "inside the timer" in start
    eviction = _threat(found, "Eviction")["text"]
    assert "every new worker re-reads them" in eviction
    assert "fsynced inside the timer" in _threat(found, "Save durability")["text"]
    bound = _threat(found, "Physical bound")["text"]
    assert "save_png 1280x960 n=128 threads ×2 1.83× > 1" in bound
    assert "the loop used 30% more CPU per image" in bound  # the recommendation's sentence
    assert "spread 31%" in _threat(found, "Rounds disagree")["text"]
    assert "+3 MiB a repetition" in _threat(found, "Extra reads")["text"]
    assert "(PIL.PngImagePlugin, zlib)" in _threat(found, "Imports inside the timer")["text"]
    assert "threads ×4 at most 2" in _threat(found, "Operations in flight")["text"]

    html = render(tmp_path, meta=meta, tables=tables)
    group = html.split("<h2>save_png · 1280x960 · disk, cold cache · 128 images</h2>")[1]
    group = group.split("</section>")[0]
    assert "1.83× (1.65–2.01) ⚠ &gt; bound 1" in group
    assert '<tr class="fastest flagged">' in group
    recs = html.split("<h2>Recommendations</h2>")[1].split("</section>")[0]
    assert '<tr class="flagged">' in recs and "<td>withheld</td>" in recs
    method = html.split("<h2>Method: how each cell is measured</h2>")[1].split("</section>")[0]
    assert "spawn is not fork" in method and "System eviction" in method
    assert "Rounds: 2 per cell" in method and "seeded random order" in method


def test_memory_of_the_whole_cell_beside_the_parent():
    summary = build_summary()
    text = _threat(threats(summary, metadata()), "Memory")["text"]
    # the largest: processes x2, parent plus two workers
    assert "processes ×2" in text and "286 MiB" in text and "against the parent's 95 MiB" in text


def test_nothing_unmeasured_gets_a_tick(tmp_path):
    tables = legacy_tables(build_tables())
    meta = legacy_metadata(metadata(other_cpu_per_wall_max=None))
    found = threats(tables["summary"], meta, tables["speedup"], tables["recommendations"])
    statuses = {t["topic"]: t["status"] for t in found}
    assert statuses["Interference"] == "info"
    for topic in ("Physical bound", "Extra reads", "Imports inside the timer", "Memory"):
        assert statuses[topic] == "info", topic
        assert _threat(found, topic)["text"].startswith(("Not", "Peak memory: the parent"))
    # results before rounds ran every repetition of a cell in one process
    assert statuses["Rounds"] == "warn"
    html = render(tmp_path, tables=tables, meta=meta)
    slide = html.split("<h2>Threats to validity: machine and method</h2>")[1]
    slide = slide.split("</section>")[0]
    assert '<li class="info"><span class="status">–</span><b>Interference</b>: Not measured' in (
        slide
    )
    assert headings(html) == EXPECTED_HEADINGS


def write_calibration(directory: Path, summary: bool = True) -> None:
    rows = [
        ("sleep", "threads", 16, 16.0, 15.2, 16.0, 15.6, 15.1, 15.9, True, "holds"),
        ("spin_python", "threads", 2, 1.0, 0.9, 1.1, 0.97, 0.95, 0.99, True, "holds"),
        ("spin_python", "processes", 2, 2.0, 1.8, 2.0, 1.52, 1.44, 1.6, False, "below: 1.52x"),
    ]
    names = ["task", "strategy", "workers", "expected_speedup", "expected_low"]
    names += ["expected_high", "speedup", "speedup_ci_low", "speedup_ci_high", "within", "verdict"]
    frame = pd.DataFrame(rows, columns=names).assign(
        storage="shm", cache="warm", width=64, height=48, n_images=32, host="box", usable_cores=2
    )
    frame.to_csv(directory / "calibration.csv", index=False)
    if summary:
        (directory / "calibration.json").write_text(
            json.dumps({"delivered_cores": 1.52, "cells": 3, "within": 2})
        )


def test_known_answers_slide(tmp_path):
    results = write_results(tmp_path / "tiny")
    write_calibration(results)
    render_deck(results, tmp_path / "slides.html")
    html = (tmp_path / "slides.html").read_text(encoding="utf-8")
    names = headings(html)
    assert names[names.index("Conclusions") + 1] == "Known answers: expected vs measured"
    assert len(names) == len(EXPECTED_HEADINGS) + 1
    slide = html.split("<h2>Known answers: expected vs measured</h2>")[1].split("</section>")[0]
    assert "This machine delivers 1.52 cores of its 2 usable." in slide
    assert "2 of 3 known-answer cells measured within their expected range." in slide
    assert '<p class="known warn">' in slide
    assert "<td>sleep</td>" in slide and "<td>threads ×16</td>" in slide
    assert '<td class="num">16.00×</td><td class="num">15.20–16.00</td>' in slide
    assert '<tr class="flagged">' in slide and "<td>below: 1.52x</td>" in slide
    # without calibration.json the count comes from the table; the cores are not claimed
    (results / "calibration.json").unlink()
    render_deck(results, tmp_path / "slides.html")
    html = (tmp_path / "slides.html").read_text(encoding="utf-8")
    assert "were not measured" in html and "2 of 3 known-answer cells" in html


# ----- the deck and the figures from tables the real analysis wrote --------------------------


def _analysis_results() -> list[dict]:
    """Cell results of two rounds each, built on the analysis tests' helper, with the fields
    of issue 9: pool ready time, whole-cell memory, bytes read, imports inside the timer."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "analysis_cells", Path(__file__).parents[1] / "analysis" / "test_aggregate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(3)
    results = []
    cells = [("serial", 1, 4.0), ("threads", 2, 2.3), ("processes", 2, 2.2), ("processes", 4, 2.1)]
    for strategy, workers, wall in cells:
        for round_ in (1, 2):
            walls = list(wall * (1 + 0.02 * rng.standard_normal(4)))
            result = module._result(strategy, workers, walls)
            result["run"].update(round=round_, rounds=2, eviction="files")
            for rep in result["repetitions"]:
                rep["pool_ready_s"] = 0.05 if strategy != "serial" else None
                rep["tree_peak_pss_bytes"] = 10**8 * workers
                rep["input_bytes"], rep["extra_read_bytes"] = 1000, 0
                rep["worker_imported_modules"] = ["PIL.JpegImagePlugin"] * (strategy == "processes")
            results.append(result)
    return results


def test_deck_and_figures_from_the_real_analysis(tmp_path):
    from imgbench.analysis import aggregate as analysis
    from imgbench.analysis.tables import build_tables
    from imgbench.report.plots import plot_all

    results = _analysis_results()
    tables = build_tables(results)
    timings, summary, speedup = tables["timings"], tables["summary"], tables["speedup"]
    out = tmp_path / "e"
    out.mkdir()
    for name, frame in tables.items():
        frame.to_csv(out / f"{name}.csv", index=False)
    meta = analysis.metadata(results, timings, None, summary=summary, speedup=speedup)
    (out / "metadata.json").write_text(json.dumps(meta, default=str))
    plot_all(out, out / "figures")
    render_deck(out, out / "slides.html")
    html = (out / "slides.html").read_text(encoding="utf-8")
    assert "Rounds: 2 per cell" in html
    assert "decode 8x8 n=10 processes ×2 (PIL.JpegImagePlugin)" in html
    overhead = html.split("<h2>Overhead: pool start-up, first result, work and shutdown</h2>")[1]
    assert '<td class="num">50.0</td>' in overhead.split("</section>")[0]  # pool ready: 50 ms
    assert html.count('href="data:image/png;base64,') == len(ALL_FIGURES)
