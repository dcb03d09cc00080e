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

import json
import math
import tempfile
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

import imgbench
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
from imgbench.analysis.tables import COLUMNS, read_tables
from imgbench.analysis.verdicts import cell_verdicts, payoff_n
from imgbench.analysis.views import (
    amdahl_speedup,
    best_per_strategy_and_n,
    best_strategy_grid,
    headline_cells,
    overhead_frame,
    overhead_segments,
)
from imgbench.analysis.workload_data import Workload, workload_speedup_data, workloads
from imgbench.errors import ImgbenchError
from imgbench.report.figures import ALWAYS_WRITTEN as FIGURES
from imgbench.report.figures import FIGURES as REGISTRY
from imgbench.report.figures import (
    FORMATS,
    HOSTS_FIGURE,
    MIN_FONT_KEY,
    PER_WORKLOAD,
    WORKLOAD_CAPTION,
    WORKLOAD_DIR,
    report_caption_rst,
    workload_caption_rst,
)
from imgbench.report.figures.best_strategy import best_strategy_figure
from imgbench.report.figures.layout import footer, time_unit
from imgbench.report.figures.plot import plot_all
from imgbench.report.figures.style import (
    RC_PARAMS,
    SLIDE_FIGURE_IN,
    STRATEGY_COLORS,
    save_figure,
    strategy_color,
)
from imgbench.report.figures.workload import workload_speedup_figure
from tests.helpers import ROOT

GROUP = ["experiment", "task", "storage", "cache", "width", "height", "n_images"]
CELL = [*GROUP, "strategy", "workers"]
EXPECTED = {f"{stem}.{fmt}" for stem in FIGURES for fmt in ("png", "svg")}
#: The cost model's parallel strategies (``model.cells``).
PARALLEL = ("threads", "processes", "processes_chunked", "asyncio")


def expected_files(cells: pd.DataFrame | None = None) -> set[str]:
    """Every file ``plot_all`` writes for ``cells``: the experiment's figures and one
    speedup figure per task and size (in ``tasks/``)."""
    workloads = set()
    if cells is not None:
        sizes = zip(cells["task"], cells["width"], cells["height"], strict=True)
        workloads = {(task, f"{w}x{h}") for task, w, h in sizes}
    per_workload = {
        f"{WORKLOAD_DIR}/speedup_{task}_{size}.{fmt}"
        for task, size in workloads
        for fmt in ("png", "svg")
    }
    return EXPECTED | per_workload


def assert_all_written(written: list[Path], out: Path, cells: pd.DataFrame | None = None) -> None:
    expected = expected_files(cells)
    assert {p.relative_to(out).as_posix() for p in written} == expected
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == expected
    for name in expected:
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


def test_plot_all_writes_every_valid_file(model, tmp_path):
    cells = model.cells(
        tasks=("decode",),
        sizes=((64, 48), (32, 24)),
        conditions=(("disk", "warm"), ("disk", "cold")),
        n_values=(4, 16),
    )
    results = model.write_tables(tmp_path / "res", cells)
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out, cells)
    for name in expected_files(cells):
        if name.endswith(".png"):
            assert (out / name).stat().st_size < 400_000, name


def test_plot_all_is_deterministic(model, tmp_path):
    cells = model.cells(tasks=("read",), n_values=(4, 16), workers=(1, 2))
    results = model.write_tables(tmp_path / "res", cells)
    plot_all(results, tmp_path / "a")
    plot_all(results, tmp_path / "b")
    for name in expected_files(cells):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_plot_all_with_a_group_without_serial_and_an_infinite_ci(model, tmp_path):
    cells = model.cells(tasks=("save_png", "read"), n_values=(4, 16), workers=(1, 2))
    cells = cells[~((cells["task"] == "read") & (cells["strategy"] == "serial"))]
    results = model.write_tables(tmp_path / "res", cells)
    speedup = pd.read_csv(results / "speedup.csv")
    assert speedup["speedup"].isna().any()
    # An edit of the real table: no model cell takes zero time.
    finite = speedup[(speedup["baseline"] == "serial") & speedup["speedup"].notna()]
    speedup.loc[finite.index[-1], "speedup_ci_high"] = math.inf  # a zero time somewhere
    speedup.to_csv(results / "speedup.csv", index=False)
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out, cells)


def test_plot_all_with_only_nan_speedups(model, tmp_path):
    cells = model.cells(tasks=("read",), n_values=(4, 16), workers=(1, 2))
    results = model.write_tables(tmp_path / "res", cells[cells["strategy"] != "serial"])
    speedup = pd.read_csv(results / "speedup.csv")
    assert speedup.loc[speedup["baseline"] == "serial", "speedup"].isna().all()
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out, cells)


def test_plot_all_with_empty_tables(model, tmp_path):
    full = model.write_tables(tmp_path / "full", model.cells(tasks=("read",), n_values=(4,)))
    empty = tmp_path / "empty"
    empty.mkdir()
    # The real tables with their rows removed: every header, no data.
    for path in full.glob("*.csv"):
        pd.read_csv(path).iloc[0:0].to_csv(empty / path.name, index=False)
    out = tmp_path / "figures"
    assert_all_written(plot_all(empty, out), out)


def test_plot_all_with_headerless_tables_and_no_overhead_fields(model, tmp_path):
    cells = model.cells(tasks=("read",), n_values=(4, 16), workers=(1, 2))
    results = model.write_tables(tmp_path / "res", cells)
    # Edits of the real tables: an amdahl.csv without a header, and a summary of results
    # that predate the breakdown of the wall time.
    (results / "amdahl.csv").write_text("")
    summary = pd.read_csv(results / "summary.csv")
    summary["median_work_s"] = math.nan
    summary["median_shutdown_s"] = math.nan
    summary.to_csv(results / "summary.csv", index=False)
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out, cells)


def test_plot_all_names_a_missing_table(tmp_path):
    with pytest.raises(ImgbenchError, match="speedup.csv"):
        plot_all(tmp_path, tmp_path / "figures")


def test_plot_all_on_a_large_grid(model, tmp_path):
    """1,000 cells and 6,000 repetitions (every size, condition, n and worker count of a
    large grid, for a saving and a reading task): every figure is drawn and every PNG stays
    small. (The time target, 50,000 rows, is measured by benchmarks/aggregate_scale.py.)
    """
    cells = model.cells(
        tasks=("save_png", "decode"),
        sizes=((64, 48), (256, 192)),
        conditions=(("disk", "warm"), ("disk", "cold")),
        n_values=(4, 16, 64, 256, 1024),
        workers=(1, 2, 4, 8, 16, 32),
    )
    assert len(cells) == 1000
    results = model.write_tables(tmp_path / "res", cells, reps=6)
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out, cells)
    for name in expected_files(cells):
        if name.endswith(".png"):
            assert (out / name).stat().st_size < 400_000, name


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


def model_tables(model, **cells) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Timings, summary and speedup tables of the real analysis of ``model.cells(**cells)``,
    written and read back as ``plot_all`` reads them (typed, the one host's name blanked)."""
    with tempfile.TemporaryDirectory() as tmp:
        results = model.write_tables(Path(tmp), model.cells(**cells))
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


def test_scaling_data_thins_n_and_groups_the_lines(model):
    _, _, speedup = model_tables(
        model, tasks=("decode",), sizes=((64, 48), (32, 24)), n_values=(4, 16, 64, 256, 1024)
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


def test_faster_data_is_one_bar_per_cell_at_the_largest_size_and_n(model):
    _, _, speedup = model_tables(model, sizes=((64, 48), (32, 24)))
    data = faster_data(speedup)
    # The analysis gives every row its physical bound; a table without one (older) has none.
    assert data.dropped_size and data.has_ci and data.has_bound
    assert not faster_data(speedup.drop(columns=["bound", "exceeds_bound"])).has_bound
    assert data.panels == ["decode · 64x48 · n=64", "save_png · 64x48 · n=64"]
    bars = data.by_panel["decode · 64x48 · n=64"]
    assert data.most_bars == len(bars) == 1 + len(PARALLEL) * 3
    assert bars["strategy"].iloc[0] == "serial" and bars["speedup"].iloc[0] == pytest.approx(1)


def test_time_vs_n_data_marks_where_each_strategy_pays_off(model):
    _, summary, _ = model_tables(model, tasks=("decode",), n_values=(4, 16, 64))
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


def test_best_strategy_and_overhead_data_group_by_panel(model):
    timings, summary, speedup = model_tables(model, tasks=("decode",))
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


def test_hosts_data_names_each_host_s_cpu_and_cores(model):
    timings, _, speedup = model_tables(model, tasks=("decode",))
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


def test_plot_all_with_the_new_columns_and_verdict_tables(model, tmp_path):
    cells = model.cells(tasks=("decode",), n_values=(4, 16), workers=(1, 2, 4), cores=2)
    # pool ready times come from the results; the bound and the withheld claim are edits
    results = verdict_tables(model.write_tables(tmp_path / "res", cells, pool_ready=True))
    out = tmp_path / "figures"
    assert_all_written(plot_all(results, out), out, cells)
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
    assert tuple(s for s in REGISTRY if s != HOSTS_FIGURE and s not in PER_WORKLOAD) == FIGURES
    assert REGISTRY[HOSTS_FIGURE].several_hosts
    assert FORMATS == ("png", "svg")
    for figure in REGISTRY.values():
        assert figure.title and figure.caption and figure.report_caption, figure.stem
        # short titles: no experiment, no paragraph (the method is in the caption)
        assert len(figure.title) <= 50 and ";" not in figure.title, figure.stem


def test_the_registry_says_where_each_figure_is_shown():
    slides = {stem: figure.slide for stem, figure in REGISTRY.items()}
    assert slides == {
        "task_speedup": "task",
        # the sheets of every panel at once are too dense for a slide: bundle and report only
        "speedup": "",
        "efficiency": "",
        "faster_than_serial": "overview",
        "time_vs_n": "overview",
        "best_strategy": "overview",
        "repetitions": "overview",
        "overhead": "overhead",
        "hosts": "hosts",
    }
    assert PER_WORKLOAD == ("task_speedup",)
    task = REGISTRY["task_speedup"]
    assert task.workload_file("save_png", "64x48") == "tasks/speedup_save_png_64x48"
    assert task.workload_title("decode", "64x48") == (
        "decode at 64x48: speedup over the serial loop"
    )


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
    assert on_disk == {f"figure_{stem}.rst" for stem in FIGURES} | {WORKLOAD_CAPTION}, fix
    for stem in FIGURES:
        assert (report / f"figure_{stem}.rst").read_text() == report_caption_rst(stem), fix
    # the per-workload figures share their folder's caption, which names task and size
    caption = (report / WORKLOAD_CAPTION).read_text()
    assert caption == workload_caption_rst(), fix
    assert "{{ snakemake.wildcards.task }}" in caption and "wildcards.size" in caption


# --- one figure per workload, fit to publish ------------------------------------------------


def _png_text(path: Path) -> dict:
    with Image.open(path) as image:
        return dict(image.text)


def test_workload_data_has_a_panel_per_n_and_a_line_per_strategy(model):
    _, _, speedup = model_tables(model, tasks=("decode", "read"), n_values=(4, 16))
    data = workload_speedup_data(speedup, Workload("decode", "64x48"))
    assert data.panels == ["4 images", "16 images"]
    assert data.strategies == [s for s in STRATEGY_ORDER if s in PARALLEL]
    assert data.workers == [1, 2, 4] and data.has_band
    line = data.lines[("16 images", "threads")]
    assert list(line["workers"]) == [1, 2, 4] and set(line["task"]) == {"decode"}
    assert data.panel_cores == {"4 images": 4.0, "16 images": 4.0}


def test_workload_data_keeps_to_a_handful_of_panels(model):
    many_n = (4, 16, 64, 256, 1024)
    _, _, speedup = model_tables(model, tasks=("decode",), n_values=many_n)
    data = workload_speedup_data(speedup, Workload("decode", "64x48"))
    assert data.n_values == [4, 16, 256, 1024] and data.n_count == 5  # smallest, largest kept
    assert len(data.panels) == 4
    # several storages and caches: each has its panels, fewer values of n each
    _, _, speedup = model_tables(
        model, tasks=("decode",), n_values=many_n, conditions=(("disk", "warm"), ("disk", "cold"))
    )
    data = workload_speedup_data(speedup, Workload("decode", "64x48"))
    assert data.panels == [
        "disk, cold cache · 4 images",
        "disk, cold cache · 1024 images",
        "disk, warm cache · 4 images",
        "disk, warm cache · 1024 images",
    ]


def test_workload_without_results_says_so(model):
    _, _, speedup = model_tables(model, tasks=("decode",))
    assert workload_speedup_data(speedup, Workload("read", "64x48")) == NoData(
        "no results for read at 64x48"
    )
    only_loop = speedup[speedup["strategy"] == "serial"]
    reason = workload_speedup_data(only_loop, Workload("decode", "64x48")).reason
    assert reason == "no parallel cell of decode at 64x48 has a serial loop to compare with"


def test_workloads_are_the_cells_and_the_missing_cells():
    summary = pd.DataFrame(
        {"task": ["decode", "decode", "read"], "width": [640, 64, 64], "height": [480, 48, 48]}
    )
    missing = ["e/cells/save_png/disk-warm/32x24/n4/threads-w2-r1.json", "not a cell path"]
    assert workloads(summary, missing) == [
        Workload("decode", "64x48"),
        Workload("decode", "640x480"),
        Workload("read", "64x48"),
        Workload("save_png", "32x24"),
    ]
    assert workloads(pd.DataFrame()) == []


def test_one_worker_count_gives_points_with_whiskers(model):
    _, _, speedup = model_tables(model, tasks=("decode",), n_values=(16,), workers=(4,))
    data = workload_speedup_data(speedup, Workload("decode", "64x48"))
    assert data.workers == [4] and data.panels == ["16 images"]  # one n: one panel
    fig = workload_speedup_figure(speedup, Workload("decode", "64x48"), "a title")
    try:
        (ax,) = [ax for ax in fig.axes if ax.get_visible()]
        colours = {strategy_color(s) for s in data.strategies}
        # no line to nowhere: the strategies are points, side by side, with CI whiskers
        assert not [line for line in ax.get_lines() if line.get_color() in colours]
        points = [c for c in ax.collections if type(c).__name__ == "PathCollection"]
        xs = sorted(float(c.get_offsets()[0][0]) for c in points)
        assert len(xs) == len(data.strategies) and len(set(xs)) == len(xs)
        whiskers = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
        assert len(whiskers) >= len(data.strategies)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["4"]
    finally:
        plt.close(fig)


def test_one_strategy_besides_the_loop_gives_a_readable_figure(model, tmp_path):
    cells = model.cells(tasks=("decode",), strategies=("threads",), n_values=(8,))
    results = model.write_tables(tmp_path / "res", cells)
    out = tmp_path / "figures"
    plot_all(results, out)
    svg = (out / WORKLOAD_DIR / "speedup_decode_64x48.svg").read_text()
    assert "threads" in svg and "ideal: speedup = workers" in svg and "8 images" in svg


def test_a_workload_whose_cells_are_all_missing_gets_a_figure_that_says_so(model, tmp_path):
    cells = model.cells(tasks=("decode",), n_values=(8,))
    results = model.write_tables(tmp_path / "res", cells)
    meta = {"missing_cells": ["tiny/cells/read/disk-warm/64x48/n8/serial-w1-r1.json"]}
    (results / "metadata.json").write_text(json.dumps(meta))
    out = tmp_path / "figures"
    written = {p.relative_to(out).as_posix() for p in plot_all(results, out)}
    assert f"{WORKLOAD_DIR}/speedup_read_64x48.png" in written
    svg = (out / WORKLOAD_DIR / "speedup_read_64x48.svg").read_text()
    assert "no results for read at 64x48" in svg


def test_a_workload_figure_left_from_an_earlier_grid_is_removed(model, tmp_path):
    results = model.write_tables(tmp_path / "res", model.cells(tasks=("decode",), n_values=(8,)))
    out = tmp_path / "figures"
    stale = out / WORKLOAD_DIR / "speedup_read_64x48.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    plot_all(results, out)
    assert not stale.exists()
    assert (out / WORKLOAD_DIR / "speedup_decode_64x48.png").is_file()


def test_every_figure_has_a_short_title_a_footer_and_its_smallest_text(model, tmp_path):
    cells = model.cells(tasks=("decode",), n_values=(4, 16), workers=(1, 2))
    results = model.write_tables(tmp_path / "res", cells)
    out = tmp_path / "figures"
    # without metadata.json: the machine and the date from the timings (the model's cells
    # finished at Unix time 1.0; the tables name no host where there is one)
    for path in plot_all(results, out):
        if path.suffix == ".svg":
            svg = path.read_text()
            assert "cpu, 4 usable cores · run of 1970-01-01 00:00 UTC · imgbench" in svg
            assert f"imgbench {imgbench.__version__}" in svg
            assert "tiny:" not in svg, path.name  # no experiment prefix
        else:
            # 9 pt (the footer) at the PNG's dpi, recorded for the deck
            min_font_px = float(_png_text(path)[MIN_FONT_KEY])
            assert 9 * 72 / 72 <= min_font_px <= 9 * 120 / 72, path.name
    # the title is the registry's, alone
    title = ">Absolute time against the number of images</text>"
    assert title in (out / "time_vs_n.svg").read_text()
    # with metadata.json: its hosts and the end of the run, as the deck says them
    meta = {"hosts": [{"hostname": "vm", "cpu_model": "AMD EPYC", "usable_cores": 2}]}
    meta["finished_unix"] = 1_700_000_000.0
    (results / "metadata.json").write_text(json.dumps(meta))
    plot_all(results, out)
    svg = (out / "overhead.svg").read_text()
    assert "vm: AMD EPYC, 2 usable cores · run of 2023-11-14 22:13 UTC" in svg


#: The tasks of a run of the libraries preset: each library's form of decode and the saves.
LIBRARY_TASKS = tuple(
    f"{task}_{library}"
    for task in ("decode", "save_png", "save_jpeg")
    for library in ("opencv", "pillow", "pyvips", "imagecodecs")
)


@pytest.mark.parametrize("tasks", [LIBRARY_TASKS[:1], LIBRARY_TASKS], ids=["1-panel", "12-panels"])
def test_the_note_legend_and_footer_overlap_neither_each_other_nor_the_panels(model, tasks):
    """The verdicts' note (several lines under a heatmap of many panels), the legend and the
    footer each keep a place of their own, measured from the saved figure's artists."""
    _, summary, speedup = model_tables(model, tasks=tasks, n_values=(4, 16), workers=(1, 2))
    signature = "vm: AMD EPYC 7763 64-Core Processor, 2 usable cores · run of 2026-12-02 00:39 UTC"
    with matplotlib.rc_context(RC_PARAMS), tempfile.TemporaryDirectory() as tmp:
        fig = best_strategy_figure(summary, speedup, REGISTRY["best_strategy"].title)
        footer(fig, signature)
        save_figure(fig, Path(tmp), "best_strategy")
    # save_figure laid the figure out, froze it and closed it: a new canvas measures it as saved.
    renderer = FigureCanvasAgg(fig).get_renderer()
    (note,) = (t for t in fig.texts if t.get_text() == fig.get_supxlabel())
    (signed,) = (t for t in fig.texts if t.get_text() == signature)
    assert note.get_text().count("\n") >= 1  # the case at stake: a note of several lines
    boxes = {
        "note": note.get_window_extent(renderer),
        "footer": signed.get_window_extent(renderer),
        "legend": fig.legends[0].get_window_extent(renderer),
    }
    panels = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
    assert len(panels) == len(tasks)
    for name, box in boxes.items():
        assert box.y0 >= 0 and box.y1 <= fig.bbox.y1, name
        for other, other_box in boxes.items():
            assert other == name or not box.overlaps(other_box), (name, other)
        for panel in panels:
            assert not box.overlaps(panel), (name, panel)


def test_time_axes_are_in_the_unit_their_values_read_best_in(model, tmp_path):
    # the model's decode cells take milliseconds at 4 images and seconds at 4096
    cells = model.cells(tasks=("decode",), sizes=((640, 480),), n_values=(4, 4096))
    results = model.write_tables(tmp_path / "res", cells)
    out = tmp_path / "figures"
    plot_all(results, out)
    overhead = (out / "overhead.svg").read_text()
    assert "median time (ms)" in overhead and "median time (s)" in overhead
    assert "median seconds" not in overhead
    assert "median time (s, log)" in (out / "time_vs_n.svg").read_text()
    summary = pd.read_csv(results / "summary.csv")
    assert summary["median_s"].min() < 1 < summary["median_s"].max()
    assert time_unit(summary["median_s"].iloc[:1]) == ("ms", 1e3)
    assert time_unit([0.2, 1.5]) == ("s", 1.0) and time_unit([]) == ("ms", 1e3)


def test_figures_meant_for_a_slide_fit_it_on_a_default_sized_grid(model, tmp_path):
    """The default config's grid (2 tasks, 2 sizes, 2 values of n, 4 strategies, 3 worker
    counts): every figure the deck shows stays within the size at which its 9 pt text is
    legible on a slide."""
    cells = model.cells(tasks=("read", "decode"), sizes=((64, 48), (256, 192)), n_values=(16, 64))
    results = model.write_tables(tmp_path / "res", cells)
    out = tmp_path / "figures"
    plot_all(results, out)
    shown = [f"{s}.png" for s, f in REGISTRY.items() if f.slide and not f.per_workload]
    shown += [p.relative_to(out).as_posix() for p in (out / WORKLOAD_DIR).glob("*.png")]
    assert len(shown) == 6 + 4
    for name in shown:
        if name.startswith("hosts"):
            continue
        with Image.open(out / name) as image:
            width, height = image.size
            dpi = float(image.text[MIN_FONT_KEY]) * 72 / 9
        assert width / dpi <= SLIDE_FIGURE_IN[0] + 0.05, name
        assert height / dpi <= SLIDE_FIGURE_IN[1] + 0.05, name


def test_an_svg_is_the_same_whatever_was_drawn_before_it(tmp_path):
    # matplotlib hashes clip-path ids from memory addresses; save_figure renumbers them.
    def figure():
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [1, 4, 9], marker="o")
        ax.fill_between([1, 2, 3], [0, 3, 8], [2, 5, 10], alpha=0.2)
        return fig

    first = save_figure(figure(), tmp_path / "a", "f")[1].read_bytes()
    clutter = [figure() for _ in range(3)]  # other objects, other addresses
    second = save_figure(figure(), tmp_path / "b", "f")[1].read_bytes()
    for fig in clutter:
        plt.close(fig)
    assert first == second
    assert b'clip-path="url(#p' in first and b'id="p' in first
