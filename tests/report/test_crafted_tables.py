"""The deck's crafted tables (the ``crafted`` fixture of ``conftest.py``) cannot drift from
the real ones unnoticed.

The deck's tests pin exact strings, so their tables are crafted with exact numbers rather
than computed. These tests hold the crafted tables to the real ones: the columns of
``imgbench.analysis.tables.COLUMNS`` (every one, in the order written), and, read back by
the deck's reader, the dtypes of the tables the real analysis writes. The real tables here
are built by ``build_tables`` from cell results (``tests.helpers.cell_result``, with the
optional fields of issue 9 set) chosen so that every column has a value, as the crafted
tables do: a column that is empty reads as NaN whatever it holds, and would say nothing.
``legacy_tables`` (tables written before issue 9) must only drop real columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imgbench.analysis.metadata import metadata
from imgbench.analysis.tables import COLUMNS, build_tables
from imgbench.report.deck.render import read_tables
from tests.helpers import cell_result

#: Groups of the real results: n_images -> (relative spread of the walls, cells as
#: (strategy, workers, median wall)). Three worker counts within the 4 usable cores, so
#: that every strategy gets an Amdahl fit, as the crafted tables have; at n=10 the fastest
#: two are equivalent, at n=20 too noisy to tell apart, at n=30 clearly apart (no
#: runner-up), so that every column of the recommendations has a value.
GROUPS = {
    10: (0.02, [("threads", 4, 1.40), ("processes", 4, 1.41)]),
    20: (0.10, [("threads", 4, 2.8), ("processes", 4, 2.8)]),
    30: (0.001, [("threads", 4, 2.6), ("processes", 4, 2.9)]),
}
#: The other cells of each group, their walls at n=10 (scaled with n).
SLOWER = [("serial", 1, 4.0), ("threads", 1, 4.1), ("threads", 2, 2.3)]
SLOWER += [("processes", 1, 4.3), ("processes", 2, 2.2)]
#: Real columns that the results above leave empty: their dtype is not compared.
EMPTY_IN_REAL = {("amdahl", "fit_note")}  # every strategy is fitted: no note


def real_results() -> list[dict]:
    """Two rounds of each cell, with every optional field the tables read."""
    rng = np.random.default_rng(5)
    results = []
    for n, (spread, fastest) in GROUPS.items():
        slower = [(strategy, workers, wall * n / 10) for strategy, workers, wall in SLOWER]
        for strategy, workers, wall in [*slower, *fastest]:
            for round_ in (1, 2):
                walls = list(wall * (1 + spread * rng.standard_normal(4)))
                result = cell_result(strategy, workers, walls, n=n)
                result["machine"]["usable_cores"] = 4
                result["run"].update(round=round_, rounds=2, eviction="files", task_bound="cpu")
                pooled = strategy != "serial"
                pickled = 3_686_550 if strategy == "processes" else 0
                result["transfer"] = {
                    "item_pickled_bytes": 80 if pickled else 0,
                    "result_pickled_bytes": max(0, pickled - 80),
                    "bytes_pickled_per_image": pickled,
                    "bytes_shared_per_image": 0,
                }
                for rep in result["repetitions"]:
                    rep["pool_ready_s"] = 0.05 if pooled else None
                    rep["peak_in_flight"] = workers if pooled else None
                    rep["tree_peak_pss_bytes"] = 10**8 * workers
                    rep["tree_peak_uss_bytes"] = 9 * 10**7 * workers
                    rep["input_bytes"], rep["extra_read_bytes"] = 1000, 0
                    imports = ["PIL.JpegImagePlugin"] * (strategy == "processes")
                    rep["worker_imported_modules"] = imports
                results.append(result)
    return results


def read_back(tables: dict[str, pd.DataFrame], directory: Path) -> dict[str, pd.DataFrame]:
    """``tables`` written as ``imgbench aggregate`` writes them, read by the deck's reader."""
    directory.mkdir()
    for name, frame in tables.items():
        frame.to_csv(directory / f"{name}.csv", index=False)
    # The deck also reads the timings where they are (optional): only those written here.
    return {name: frame for name, frame in read_tables(directory).items() if name in tables}


@pytest.fixture(scope="module")
def real() -> dict[str, pd.DataFrame]:
    """The real analysis's tables that the deck reads (all but timings)."""
    tables = build_tables(real_results())
    return {name: tables[name] for name in COLUMNS}


def crafted_variants(crafted) -> dict[str, dict[str, pd.DataFrame]]:
    """The crafted tables as the deck's tests use them: as built, of a cold cache (eviction
    named), and with every flag raised (imports inside the timer, a second start method)."""
    return {
        "built": crafted.build_tables(),
        "cold": crafted.build_tables(cache="cold"),
        "flagged": crafted.flagged_tables(),
    }


def test_the_real_tables_are_the_contract(real):
    for name, frame in real.items():
        assert list(frame.columns) == COLUMNS[name], name
        assert not frame.empty, name


def test_crafted_tables_have_exactly_the_real_columns_in_order(crafted):
    for variant, tables in crafted_variants(crafted).items():
        assert list(tables) == list(COLUMNS), variant
        for name, frame in tables.items():
            columns, real = list(frame.columns), COLUMNS[name]
            missing = [c for c in real if c not in columns]
            extra = [c for c in columns if c not in real]
            assert (missing, extra) == ([], []), f"{variant} {name}: missing, extra"
            assert columns == real, f"{variant} {name}: the order of the real table"


def test_crafted_tables_read_back_with_the_real_dtypes(crafted, real, tmp_path):
    real_read = read_back(real, tmp_path / "real")
    empty = {
        (name, column)
        for name, frame in real_read.items()
        for column in frame.columns
        if frame[column].isna().all()
    }
    # The reference must keep its coverage: only the columns named above may be empty.
    assert empty == EMPTY_IN_REAL
    for variant, tables in crafted_variants(crafted).items():
        read = read_back(tables, tmp_path / variant)
        for name, frame in read.items():
            for column in frame.columns:
                if (name, column) in empty or frame[column].isna().all():
                    continue  # an empty column reads as NaN, whatever it would hold
                assert frame[column].dtype == real_read[name][column].dtype, (
                    f"{variant} {name}.{column}: {frame[column].dtype}, "
                    f"the real table reads as {real_read[name][column].dtype}"
                )


def test_legacy_tables_only_drop_real_columns(crafted):
    tables = crafted.build_tables()
    legacy = crafted.legacy_tables(tables)
    assert list(legacy) == list(tables)
    assert set(crafted.NEW_COLUMNS) <= set(tables)
    for name, frame in tables.items():
        dropped = crafted.NEW_COLUMNS.get(name, [])
        # each a real column the crafted table has (``errors="ignore"`` would hide a typo)
        assert set(dropped) <= set(COLUMNS[name]) & set(frame.columns), name
        pd.testing.assert_frame_equal(legacy[name], frame.drop(columns=dropped))


def test_legacy_metadata_only_drops_real_keys(crafted):
    results = real_results()
    tables = build_tables(results)
    real_keys = set(
        metadata(
            results, tables["timings"], None, summary=tables["summary"], speedup=tables["speedup"]
        )
    )
    meta = crafted.metadata()
    assert set(crafted.NEW_METADATA) <= real_keys & set(meta)
    legacy = crafted.legacy_metadata(meta)
    assert legacy == {k: v for k, v in meta.items() if k not in crafted.NEW_METADATA}
