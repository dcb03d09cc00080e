"""Figures: every file is always written, and is a valid image, whatever the data; the pure
helpers behind them pick the right cells.

How the inputs are built: the figures' tables come from the real analysis. A cost model
(``model_cells``) gives each cell's true time; ``model_results`` turns it into cell results
through the result model (``build_result``: each checked as the analysis's reader checks
a file), with noisy repetitions after a warm-up; ``imgbench.analysis.tables.build_tables``
makes every table from them, and ``write_tables`` writes them as ``imgbench aggregate``
does. Tests of an edge case (an infinite CI, a withheld recommendation, an empty or
headerless table) edit those real tables afterwards, each saying so. The pure helpers are
tested on small crafted frames (``crafted_summary``, ``_speedup_rows``) with known answers;
``test_the_crafted_frames_use_the_contract_s_columns`` checks that they name real columns.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imgbench.analysis.figure_data import (
    NoData,
    best_strategy_data,
    faster_data,
    hosts_data,
    overhead_data,
    repetitions_data,
    scaling_data,
    time_vs_n_data,
)
from imgbench.analysis.frames import STRATEGY_ORDER
from imgbench.analysis.tables import COLUMNS, build_tables, read_tables
from imgbench.analysis.verdicts import cell_verdicts, payoff_n
from imgbench.analysis.views import (
    amdahl_speedup,
    best_per_strategy_and_n,
    best_strategy_grid,
    headline_cells,
    overhead_frame,
    overhead_segments,
)
from imgbench.errors import ImgbenchError
from imgbench.measure.result import CellResult, build_result
from imgbench.report.figures import ALWAYS_WRITTEN as FIGURES
from imgbench.report.figures import FIGURES as REGISTRY
from imgbench.report.figures import FORMATS, HOSTS_FIGURE, report_caption_rst
from imgbench.report.figures.plot import plot_all
from imgbench.report.figures.style import STRATEGY_COLORS, strategy_color
from tests.helpers import ROOT

GROUP = ["experiment", "task", "storage", "cache", "width", "height", "n_images"]
CELL = [*GROUP, "strategy", "workers"]
EXPECTED = {f"{stem}.{fmt}" for stem in FIGURES for fmt in ("png", "svg")}
PARALLEL = ("threads", "processes", "processes_chunked", "asyncio")

# --- cell results of a cost model, and the real analysis's tables of them ----------------


def model_cells(
    tasks=("save_png", "decode"),
    sizes=((64, 48),),
    conditions=(("disk", "warm"),),
    n_values=(4, 16, 64),
    workers=(1, 2, 4),
    strategies=PARALLEL,
    cores=4,
    experiment="tiny",
) -> pd.DataFrame:
    """Cells with a plausible cost model: true median, start-up, shutdown and busy share.

    Threads pay little start-up but keep part of the work serial (the GIL); processes pay a
    start-up per worker and a cost per image sent; the chunked pool sends fewer messages.
    """
    rows = []
    for t_index, task in enumerate(tasks):
        serial_part = 0.15 + 0.25 * t_index
        for width, height in sizes:
            per_image = 2e-4 * width * height / 3072 * (1 + t_index)
            for storage, cache in conditions:
                for n in n_values:
                    work = n * per_image
                    rows.append(
                        (experiment, task, storage, cache, width, height, n, "serial", 1)
                        + (work, 2e-5, 1e-5, 0.98, cores)
                    )
                    for strategy in strategies:
                        for w in workers:
                            p = min(w, cores)
                            if strategy in ("threads", "asyncio"):
                                s = serial_part * (1.6 if strategy == "asyncio" else 1.0)
                                startup, ipc = 2e-4 * w, 0.0
                                busy = 0.9 / (1 + s * (p - 1))
                            else:
                                s = 0.02
                                startup = 0.012 * w
                                ipc = (3e-5 if strategy == "processes" else 8e-6) * n
                                busy = 0.85 if p <= cores else 0.5
                            t = startup + work * (s + (1 - s) / p) + ipc + 1e-3 * max(0, w - p)
                            rows.append(
                                (experiment, task, storage, cache, width, height, n, strategy, w)
                                + (t, startup, 0.3 * startup, busy, cores)
                            )
    return pd.DataFrame(
        rows, columns=[*CELL, "true_s", "startup_s", "shutdown_true_s", "busy", "usable_cores"]
    )


def model_results(
    cells: pd.DataFrame, reps: int = 5, seed: int = 0, pool_ready: bool = False
) -> list[CellResult]:
    """One cell result per model cell (host "box"), built by the result model: a warm-up
    that the analysis must ignore, then ``reps`` timed repetitions with lognormal noise and
    an occasional slow one. ``pool_ready``: pooled strategies record their pool's start-up
    (``pool_ready_s``), as the runner does since issue 9."""
    rng = np.random.default_rng(seed)
    out = cells.loc[cells.index.repeat(reps)].reset_index(drop=True)
    noise = rng.lognormal(0.0, 0.04, len(out))
    noise[rng.random(len(out)) < 0.03] *= 1.4  # an occasional slow repetition
    out["wall_s"] = out["true_s"] * noise
    out["first_result_s"] = out["startup_s"] + out["wall_s"] / out["n_images"] * 0.9
    out["shutdown_s"] = out["shutdown_true_s"] * noise
    out["work_s"] = (out["wall_s"] - out["first_result_s"] - out["shutdown_s"]).clip(lower=0)
    out["cpu_s"] = out["wall_s"] * np.minimum(out["workers"], out["usable_cores"]) * out["busy"]
    out["payload_bytes"] = out["n_images"] * out["width"] * out["height"] * 3
    results = []
    # Records hold Python scalars, as a result read from JSON does.
    timed_reps = out.to_dict("records")
    for i, cell in enumerate(cells.to_dict("records")):
        repetitions = [{"index": 0, "warmup": True, "wall_s": 99.0}]  # must be ignored
        for index, rep in enumerate(timed_reps[i * reps : (i + 1) * reps], start=1):
            repetitions.append(
                {
                    "index": index,
                    "warmup": False,
                    "wall_s": rep["wall_s"],
                    "first_result_s": rep["first_result_s"],
                    "work_s": rep["work_s"],
                    "shutdown_s": rep["shutdown_s"],
                    "cpu_user_s": rep["cpu_s"] * 0.9,
                    "cpu_sys_s": rep["cpu_s"] * 0.1,
                    "cpu_s": rep["cpu_s"],
                    "other_cpu_s": 0.0,
                    "steal_s": 0.0,
                    "peak_rss_bytes": 10**8,
                    "payload_bytes": rep["payload_bytes"],
                    "images_per_s": rep["n_images"] / rep["wall_s"],
                    "mb_per_s": rep["payload_bytes"] / rep["wall_s"] / 1e6,
                    "cache_method": "none",
                    "resident_fraction": None,
                    "verified": True,
                }
            )
            if pool_ready and cell["strategy"] != "serial":
                repetitions[-1]["pool_ready_s"] = rep["first_result_s"] * 0.6
        results.append(
            build_result(
                {c: cell[c] for c in CELL},
                {
                    "repeats": reps,
                    "warmup": 1,
                    "dataset_format": "raw",
                    "mp_start_method": "forkserver",
                },
                {"hostname": "box", "cpu_model": "cpu", "usable_cores": cell["usable_cores"]},
                repetitions,
                started_unix=0.0,
                finished_unix=1.0,
                warnings=[],
            )
        )
    return results


def write_tables(
    directory: Path, cells: pd.DataFrame, reps: int = 5, pool_ready: bool = False
) -> Path:
    """Every table of the real analysis of ``model_results(cells)``, written as
    ``imgbench aggregate`` writes them (``NAME.csv``) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    tables = build_tables(model_results(cells, reps, pool_ready=pool_ready))
    for name, frame in tables.items():
        frame.to_csv(directory / f"{name}.csv", index=False)
    return directory


def assert_all_written(written: list[Path], out: Path) -> None:
    assert {p.name for p in written} == EXPECTED
    assert {p.name for p in out.iterdir()} == EXPECTED
    for name in EXPECTED:
        path = out / name
        assert path.stat().st_size > 0
        if name.endswith(".png"):
            with Image.open(path) as image:
                image.verify()
                assert image.format == "PNG"
        else:
            assert b"<svg" in path.read_bytes()[:2000]


# --- every file, whatever the data --------------------------------------------------------


def test_figures_are_the_seven_declared_ones():
    assert FIGURES == (
        "speedup",
        "efficiency",
        "faster_than_serial",
        "time_vs_n",
        "best_strategy",
        "repetitions",
        "overhead",
    )


def test_plot_all_writes_every_valid_file(tmp_path):
    cells = model_cells(
        tasks=("decode",),
        sizes=((64, 48), (32, 24)),
        conditions=(("disk", "warm"), ("disk", "cold")),
        n_values=(4, 16),
    )
    results = write_tables(tmp_path / "res", cells)
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out)
    for stem in FIGURES:
        assert (out / f"{stem}.png").stat().st_size < 400_000, stem


def test_plot_all_is_deterministic(tmp_path):
    cells = model_cells(tasks=("read",), n_values=(4, 16), workers=(1, 2))
    results = write_tables(tmp_path / "res", cells)
    plot_all(results, tmp_path / "a")
    plot_all(results, tmp_path / "b")
    for name in EXPECTED:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_plot_all_with_a_group_without_serial_and_an_infinite_ci(tmp_path):
    cells = model_cells(tasks=("save_png", "read"), n_values=(4, 16), workers=(1, 2))
    cells = cells[~((cells["task"] == "read") & (cells["strategy"] == "serial"))]
    results = write_tables(tmp_path / "res", cells)
    speedup = pd.read_csv(results / "speedup.csv")
    assert speedup["speedup"].isna().any()
    # An edit of the real table: no model cell takes zero time.
    finite = speedup[(speedup["baseline"] == "serial") & speedup["speedup"].notna()]
    speedup.loc[finite.index[-1], "speedup_ci_high"] = math.inf  # a zero time somewhere
    speedup.to_csv(results / "speedup.csv", index=False)
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out)


def test_plot_all_with_only_nan_speedups(tmp_path):
    cells = model_cells(tasks=("read",), n_values=(4, 16), workers=(1, 2))
    results = write_tables(tmp_path / "res", cells[cells["strategy"] != "serial"])
    speedup = pd.read_csv(results / "speedup.csv")
    assert speedup.loc[speedup["baseline"] == "serial", "speedup"].isna().all()
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out)


def test_plot_all_with_empty_tables(tmp_path):
    full = write_tables(tmp_path / "full", model_cells(tasks=("read",), n_values=(4,)))
    empty = tmp_path / "empty"
    empty.mkdir()
    # The real tables with their rows removed: every header, no data.
    for path in full.glob("*.csv"):
        pd.read_csv(path).iloc[0:0].to_csv(empty / path.name, index=False)
    out = tmp_path / "figures"
    assert_all_written(plot_all(empty, out), out)


def test_plot_all_with_headerless_tables_and_no_overhead_fields(tmp_path):
    cells = model_cells(tasks=("read",), n_values=(4, 16), workers=(1, 2))
    results = write_tables(tmp_path / "res", cells)
    # Edits of the real tables: an amdahl.csv without a header, and a summary of results
    # that predate the breakdown of the wall time.
    (results / "amdahl.csv").write_text("")
    summary = pd.read_csv(results / "summary.csv")
    summary["median_work_s"] = math.nan
    summary["median_shutdown_s"] = math.nan
    summary.to_csv(results / "summary.csv", index=False)
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out)


def test_plot_all_names_a_missing_table(tmp_path):
    with pytest.raises(ImgbenchError, match="speedup.csv"):
        plot_all(tmp_path, tmp_path / "figures")


def test_plot_all_on_a_large_grid(tmp_path):
    """2,000 cells and 12,000 repetitions: every figure is drawn and every PNG stays small.

    (The time target, 50,000 rows, is measured by benchmarks/aggregate_scale.py.)
    """
    cells = model_cells(
        tasks=("save_png", "save_jpeg", "read", "decode"),
        sizes=((64, 48), (256, 192)),
        conditions=(("disk", "warm"), ("disk", "cold")),
        n_values=(4, 16, 64, 256, 1024),
        workers=(1, 2, 4, 8, 16, 32),
    )
    assert len(cells) == 2000
    results = write_tables(tmp_path / "res", cells, reps=6)
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out)
    for stem in FIGURES:
        assert (out / f"{stem}.png").stat().st_size < 400_000, stem


# --- the pure helpers ---------------------------------------------------------------------


def crafted_summary() -> pd.DataFrame:
    """Two groups: at n=16 processes win with 2 and 4 workers and the loop wins at 1; at
    n=4 the loop wins everywhere."""
    medians = {
        16: [("serial", 1, 1.0), ("threads", 1, 1.1), ("threads", 2, 0.6), ("threads", 4, 0.7)]
        + [("processes", 2, 0.5), ("processes", 4, 0.25)],
        4: [("serial", 1, 0.1), ("threads", 1, 0.12), ("threads", 2, 0.15)]
        + [("processes", 2, 0.4), ("processes", 4, 0.5)],
    }
    rows = [
        ("x", "decode", "disk", "warm", 64, 48, n, strategy, workers, median)
        for n, cells in medians.items()
        for strategy, workers, median in cells
    ]
    return pd.DataFrame(rows, columns=[*CELL, "median_s"]).astype({"width": float})


def test_the_crafted_frames_use_the_contract_s_columns():
    """The pure helpers' crafted frames name columns of the real tables, and only those."""
    assert set(crafted_summary().columns) <= set(COLUMNS["summary"])
    rows = _speedup_rows(speedup=1.0, speedup_ci_low=0.9, exceeds_bound=False, bound=2)
    assert set(rows.columns) <= set(COLUMNS["speedup"])


def test_best_strategy_grid_picks_the_fastest_per_column():
    summary = crafted_summary()
    speedup = summary.assign(baseline="serial")
    speedup["speedup"] = speedup["n_images"].map({16: 1.0, 4: 0.1}) / speedup["median_s"]
    grid = best_strategy_grid(summary, speedup)
    winners = {
        (int(r.n_images), int(r.workers)): (r.best_strategy, int(r.best_workers), r.speedup)
        for r in grid.itertuples()
    }
    assert set(winners) == {(16, 1), (16, 2), (16, 4), (4, 1), (4, 2), (4, 4)}
    assert winners[16, 1] == ("serial", 1, pytest.approx(1.0))
    assert winners[16, 2] == ("processes", 2, pytest.approx(2.0))
    assert winners[16, 4] == ("processes", 4, pytest.approx(4.0))
    for workers in (1, 2, 4):
        assert winners[4, workers] == ("serial", 1, pytest.approx(1.0))


def test_best_strategy_grid_without_a_loop_or_a_speedup_table():
    summary = crafted_summary()
    summary = summary[(summary["strategy"] != "serial") | (summary["n_images"] == 4)]
    grid = best_strategy_grid(summary, pd.DataFrame())
    at_16 = grid[grid["n_images"] == 16].set_index("workers")
    assert list(at_16["best_strategy"]) == ["threads", "processes", "processes"]
    assert at_16["speedup"].isna().all()
    at_4 = grid[grid["n_images"] == 4].set_index("workers")
    assert at_4.loc[2, "speedup"] == pytest.approx(1.0)
    assert best_strategy_grid(summary.iloc[0:0], pd.DataFrame()).empty


def test_amdahl_speedup_divides_the_loop_by_the_fitted_time():
    group = {"experiment": "x", "task": "decode", "storage": "disk", "cache": "warm"}
    group |= {"width": 64.0, "height": 48.0, "n_images": 16.0}
    amdahl = pd.DataFrame(
        [{**group, "strategy": "threads", "t_serial_s": 1.0, "t_parallel_s": 3.0}]
    )
    speedup = pd.DataFrame(
        [{**group, "strategy": "threads", "workers": 2.0, "baseline": "serial"}]
        + [{**group, "strategy": "threads", "workers": 2.0, "baseline": "1 worker"}]
    ).assign(baseline_median_s=[4.0, 99.0])
    curve = amdahl_speedup(amdahl, speedup, [1, 3])
    assert list(curve["speedup"]) == pytest.approx([1.0, 2.0])


def test_payoff_n_is_where_a_strategy_stays_faster():
    summary = crafted_summary()
    extra = summary[summary["n_images"] == 16].assign(
        n_images=64, median_s=lambda f: f["median_s"] * 4
    )
    extra.loc[extra["strategy"] == "threads", "median_s"] = 5.0
    payoff = payoff_n(best_per_strategy_and_n(pd.concat([summary, extra])))
    by_strategy = payoff.set_index("strategy")["payoff_n"]
    assert by_strategy["processes"] == 16
    assert math.isnan(by_strategy["threads"])  # faster at 16 only, slower again at 64


def test_headline_and_overhead_cells():
    summary = crafted_summary().assign(
        median_first_result_s=0.01, median_work_s=0.1, median_shutdown_s=0.01
    )
    headline = headline_cells(summary)
    assert set(
        zip(headline["strategy"], headline["workers"], headline["n_images"], strict=True)
    ) == {
        ("serial", 1, 16),
        ("threads", 2, 16),
        ("processes", 4, 16),
    }
    bars = overhead_frame(summary)
    assert set(bars["which"]) == {"smallest n", "largest n"}
    small = bars[bars["which"] == "smallest n"].set_index("strategy")["workers"]
    assert small.to_dict() == {"serial": 1, "threads": 1, "processes": 2}


# --- what each figure shows: the data before the drawing ----------------------------------


def model_tables(**cells) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Timings, summary and speedup tables of the real analysis of ``model_cells(**cells)``,
    written and read back as ``plot_all`` reads them (typed, the one host's name blanked)."""
    with tempfile.TemporaryDirectory() as tmp:
        results = write_tables(Path(tmp), model_cells(**cells))
        tables = read_tables(
            results,
            ("timings", "summary", "speedup"),
            coerce=True,
            blank_one_host=True,
            missing_host="blank",
        )
    return tables["timings"], tables["summary"], tables["speedup"]


def test_every_figure_s_data_says_why_there_is_none():
    empty = pd.DataFrame()
    for data in (
        scaling_data(empty, "speedup"),
        faster_data(empty),
        time_vs_n_data(empty),
        best_strategy_data(empty, empty),
        overhead_data(empty),
        hosts_data(empty, empty),
        repetitions_data(empty, empty),
    ):
        assert isinstance(data, NoData) and data.reason


def test_scaling_data_thins_n_and_groups_the_lines():
    _, _, speedup = model_tables(
        tasks=("decode",), sizes=((64, 48), (32, 24)), n_values=(4, 16, 64, 256, 1024)
    )
    data = scaling_data(speedup, "speedup", max_shades=6, max_lines=8)
    assert data.n_count == 5 and data.n_values == [4, 16, 256, 1024]  # 8 lines / 2 sizes
    assert data.panels == ["decode"] and data.workers == [1, 2, 4]
    assert data.strategies == [s for s in STRATEGY_ORDER if s in PARALLEL]
    assert data.has_band and not data.any_above and not data.fits and data.cores == [4]
    lines = data.lines[("decode", "threads")]
    assert [key for key, _rows in lines] == [(n, s) for n in (4, 16, 256, 1024) for s in data.sizes]
    assert all(list(rows["workers"]) == [1, 2, 4] for _key, rows in lines)
    assert (data.rows["strategy"] != "serial").all()


def test_faster_data_is_one_bar_per_cell_at_the_largest_size_and_n():
    _, _, speedup = model_tables(sizes=((64, 48), (32, 24)))
    data = faster_data(speedup)
    # The analysis gives every row its physical bound; a table without one (older) has none.
    assert data.dropped_size and data.has_ci and data.has_bound
    assert not faster_data(speedup.drop(columns=["bound", "exceeds_bound"])).has_bound
    assert data.panels == ["decode · 64x48 · n=64", "save_png · 64x48 · n=64"]
    bars = data.by_panel["decode · 64x48 · n=64"]
    assert data.most_bars == len(bars) == 1 + len(PARALLEL) * 3
    assert bars["strategy"].iloc[0] == "serial" and bars["speedup"].iloc[0] == pytest.approx(1)


def test_time_vs_n_data_marks_where_each_strategy_pays_off():
    _, summary, _ = model_tables(tasks=("decode",), n_values=(4, 16, 64))
    data = time_vs_n_data(summary)
    assert data.n_values == [4, 16, 64] and data.has_ci and not data.judged
    payoffs = {p.strategy: p for p in data.payoffs["decode"]}
    expected = payoff_n(best_per_strategy_and_n(summary)).set_index("strategy")["payoff_n"]
    assert set(payoffs) == set(expected.index)
    for strategy, payoff in payoffs.items():
        assert payoff.n == expected[strategy] or (
            math.isnan(payoff.n) and math.isnan(expected[strategy])
        )
        if math.isfinite(payoff.n):
            line = data.lines[("decode", strategy)]
            assert payoff.median_s == line.loc[line["n_images"] == payoff.n, "median_s"].iloc[0]


def test_best_strategy_and_overhead_data_group_by_panel():
    timings, summary, speedup = model_tables(tasks=("decode",))
    heatmap = best_strategy_data(summary, speedup)
    assert heatmap.workers == [1, 2, 4] and heatmap.n_values == [4, 16, 64]
    assert not heatmap.incomplete and not heatmap.any("recommended")
    assert len(heatmap.by_panel["decode"]) == 9
    overhead = overhead_data(summary)
    assert overhead.which == ["smallest n", "largest n"] and not overhead.pool_split
    facet = overhead.facets[("decode", "largest n")]
    assert facet["all_recorded"].all() and list(facet["pooled"])[-1] == False  # noqa: E712
    reps = repetitions_data(summary, timings)
    assert reps.panels == ["decode · 64x48 · n=64"]
    assert list(reps.boxes[reps.panels[0]]["strategy"])[0] == "serial"


def test_hosts_data_names_each_host_s_cpu_and_cores():
    timings, _, speedup = model_tables(tasks=("decode",))
    data = hosts_data(speedup.assign(host="box"), timings.assign(host="box"))
    assert data.cpu_of == {"box": "cpu"} and data.cores_of == {"box": 4}
    assert data.workloads == ["decode · 64x48 · n=64"]
    assert all(list(line["workers"]) == [1, 2, 4] for line in data.lines.values())


def test_strategy_colors_are_fixed_with_a_fallback():
    assert strategy_color("threads") == STRATEGY_COLORS["threads"]
    assert len(set(STRATEGY_COLORS.values())) == len(STRATEGY_COLORS)
    assert strategy_color("gpu") == strategy_color("gpu")
    assert strategy_color("gpu").startswith("#")


# --- the tables' verdicts: significance, equivalence, withheld, the physical bound ---------


def verdict_tables(results: Path) -> Path:
    """Raise the verdicts the model never reaches in a results directory that
    ``write_tables`` wrote: the real tables, edited so that every mark of the figures shows.

    The model's cells stay below their physical bound, so the analysis withholds nothing;
    one cell is set above its bound in speedup.csv (whatever its speedup) and the first
    group's recommendation in recommendations.csv is set withheld.
    """
    speedup = pd.read_csv(results / "speedup.csv", dtype={"host": str})
    above = speedup.index[(speedup["strategy"] == "threads") & (speedup["workers"] == 2)]
    speedup.loc[above, "exceeds_bound"] = True
    speedup.to_csv(results / "speedup.csv", index=False)
    recs = pd.read_csv(results / "recommendations.csv", dtype={"host": str})
    recs.loc[recs.index[0], "withheld"] = True
    recs.to_csv(results / "recommendations.csv", index=False)
    return results


def _speedup_rows(**columns) -> pd.DataFrame:
    group = {"experiment": "x", "task": "decode", "storage": "disk", "cache": "warm"}
    group |= {"width": 64.0, "height": 48.0, "n_images": 16.0}
    cells = [("threads", 2.0), ("processes", 2.0), ("processes", 4.0), ("asyncio", 2.0)]
    frame = pd.DataFrame(
        [{**group, "strategy": s, "workers": w, "baseline": "serial"} for s, w in cells]
    )
    return frame.assign(**columns)


def test_cell_verdicts_read_significance_bound_and_withheld():
    speedup = _speedup_rows(
        speedup=[1.8, 1.9, 3.1, 1.05],
        speedup_ci_low=[1.5, 1.6, 2.5, 0.9],
        exceeds_bound=["False", "False", "True", "False"],
    )
    group = speedup.iloc[[0]][GROUP]
    loop = group.assign(strategy="serial", workers=1.0, significantly_slower=True)
    comparisons = pd.concat([loop, speedup[CELL].assign(significantly_slower=False)])
    recs = group.assign(best_strategy="processes", best_workers=2, withheld="True")
    verdicts = cell_verdicts(speedup, comparisons, recs).set_index(["strategy", "workers"])
    # threads x2: CI above 1, loop significantly slower than the best: faster
    assert verdicts.loc[("threads", 2.0), "faster_than_loop"]
    # processes x2: the recommendation, withheld: not shown as faster
    assert verdicts.loc[("processes", 2.0), "recommended"]
    assert verdicts.loc[("processes", 2.0), "withheld"]
    assert not verdicts.loc[("processes", 2.0), "faster_than_loop"]
    # processes x4: above its bound: never a finding
    assert verdicts.loc[("processes", 4.0), "above_bound"]
    assert not verdicts.loc[("processes", 4.0), "faster_than_loop"]
    # asyncio: its CI reaches below 1
    assert not verdicts.loc[("asyncio", 2.0), "faster_than_loop"]
    # the loop not significantly slower than the best (Holm): nothing is faster
    comparisons["significantly_slower"] = False
    assert not cell_verdicts(speedup, comparisons, recs)["faster_than_loop"].any()


def test_cell_verdicts_degrade_without_the_new_columns():
    speedup = _speedup_rows(speedup=[1.8, 0.9, 3.1, 1.05], bound=[2, 2, 4, 2])
    verdicts = cell_verdicts(speedup).set_index(["strategy", "workers"])
    # no CI and no comparisons: a speedup above 1; no exceeds_bound: speedup > bound
    assert list(verdicts["faster_than_loop"]) == [True, False, True, True]
    assert not verdicts["above_bound"].any()
    old = _speedup_rows(speedup=[1.8, 0.9, 3.1, 1.05], speedup_ci_low=[1.2, 0.8, 2.0, 0.9])
    assert list(cell_verdicts(old, pd.DataFrame(), pd.DataFrame())["faster_than_loop"]) == [
        True,
        False,
        True,
        False,
    ]
    assert cell_verdicts(pd.DataFrame()).empty


def test_payoff_n_follows_the_tables_not_the_medians():
    summary = crafted_summary()
    best = best_per_strategy_and_n(summary)
    # by medians processes pay from n=16; the tables say it was never shown faster
    verdicts = best[best["strategy"] != "serial"][CELL].assign(faster_than_loop=False)
    payoff = payoff_n(best, verdicts).set_index("strategy")["payoff_n"]
    assert math.isnan(payoff["processes"])
    verdicts.loc[
        (verdicts["strategy"] == "threads") & (verdicts["n_images"] == 16), "faster_than_loop"
    ] = True
    payoff = payoff_n(best, verdicts).set_index("strategy")["payoff_n"]
    assert payoff["threads"] == 16


def test_best_strategy_grid_carries_the_verdicts():
    summary = crafted_summary()
    speedup = summary.assign(baseline="serial")
    speedup["speedup"] = speedup["n_images"].map({16: 1.0, 4: 0.1}) / speedup["median_s"]
    speedup["speedup_ci_low"] = speedup["speedup"] * 0.9
    speedup["exceeds_bound"] = (speedup["strategy"] == "processes") & (speedup["workers"] == 4)
    group16 = summary[summary["n_images"] == 16].iloc[[0]][GROUP]
    recs = pd.concat(
        [
            group16.assign(best_strategy="processes", best_workers=4, withheld=True),
            summary[summary["n_images"] == 4]
            .iloc[[0]][GROUP]
            .assign(best_strategy="serial", best_workers=1, withheld=False),
        ]
    )
    grid = best_strategy_grid(summary, speedup, pd.DataFrame(), recs)
    cell = grid.set_index(["n_images", "workers"])
    assert cell.loc[(16, 4), "above_bound"] and not cell.loc[(16, 4), "faster_than_loop"]
    assert cell.loc[(16, 4), "recommended"] and cell.loc[(16, 4), "withheld"]
    assert cell.loc[(16, 2), "faster_than_loop"] and not cell.loc[(16, 2), "above_bound"]
    # the loop is recommended at n=4: framed in its own column only
    assert list(cell.loc[4, "recommended"]) == [True, False, False]


def test_overhead_segments_split_pool_start_up_from_the_first_result():
    summary = crafted_summary().assign(
        median_first_result_s=[0.02] * 11, median_work_s=0.1, median_shutdown_s=0.01
    )
    summary["median_pool_ready_s"] = [math.nan, 0.005, 0.005, 0.005, 0.05, 0.05] + [math.nan] * 5
    segments = overhead_segments(summary)
    first = segments.iloc[1]
    assert first["pool_startup_s"] == pytest.approx(0.005)
    assert first["until_first_s"] == pytest.approx(0.015)
    late = segments.iloc[4]  # every worker started only after the first result came back
    assert late["pool_after_first"] and late["pool_startup_s"] == pytest.approx(0.02)
    assert late["until_first_s"] == pytest.approx(0.0)
    loop = segments.iloc[0]
    assert not loop["pool_recorded"] and loop["until_first_s"] == pytest.approx(0.02)
    older = overhead_segments(summary.drop(columns="median_pool_ready_s"))
    assert not older["pool_recorded"].any()
    assert list(older["until_first_s"]) == pytest.approx([0.02] * 11)


def test_plot_all_with_the_new_columns_and_verdict_tables(tmp_path):
    cells = model_cells(tasks=("decode",), n_values=(4, 16), workers=(1, 2, 4), cores=2)
    # pool ready times come from the results; the bound and the withheld claim are edits
    results = verdict_tables(write_tables(tmp_path / "res", cells, pool_ready=True))
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out)
    svg = (out / "best_strategy.svg").read_text()
    assert "above the" in svg and "the recommendation" in svg and "withheld" in svg
    assert "hollow: above the physical" in (out / "speedup.svg").read_text()
    overhead = (out / "overhead.svg").read_text()
    assert "pool start-up" in overhead and "until first result" in overhead
    assert "faster: the tables" in (out / "time_vs_n.svg").read_text()


def test_cell_verdicts_prefer_the_analysis_faster_than_loop():
    speedup = _speedup_rows(speedup=[1.8, 1.9, 1.2, 1.05], speedup_ci_low=[1.5, 1.6, 1.1, 1.01])
    comparisons = speedup[CELL].assign(
        significantly_slower=False, faster_than_loop=[True, False, "True", False]
    )
    verdicts = cell_verdicts(speedup, comparisons)
    assert list(verdicts["faster_than_loop"]) == [True, False, True, False]


# --- the registry -------------------------------------------------------------------------


def test_every_figure_is_registered_once_with_a_title_and_captions():
    assert list(REGISTRY) == [figure.stem for figure in REGISTRY.values()]
    assert tuple(s for s in REGISTRY if s != HOSTS_FIGURE) == FIGURES
    assert REGISTRY[HOSTS_FIGURE].several_hosts
    assert FORMATS == ("png", "svg")
    for figure in REGISTRY.values():
        assert figure.title and figure.caption and figure.report_caption, figure.stem


def test_the_strategy_colours_follow_the_strategy_order():
    assert tuple(STRATEGY_COLORS) == STRATEGY_ORDER


def test_the_report_captions_are_the_registry_s():
    # Snakemake renders a caption file with Jinja2 but cannot tell it which file of a job
    # it captions, so each figure has its own file, written from the registry.
    fix = (
        'python -c "from imgbench.report.figures import write_report_captions; '
        "write_report_captions('workflow/report')\""
    )
    report = ROOT / "workflow/report"
    on_disk = {p.name for p in report.glob("figure_*.rst")}
    assert on_disk == {f"figure_{stem}.rst" for stem in FIGURES}, fix
    for stem in FIGURES:
        assert (report / f"figure_{stem}.rst").read_text() == report_caption_rst(stem), fix
