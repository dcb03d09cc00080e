"""Known-answer verdicts: measured speedups against what physics allows."""

import json

import pandas as pd
import pytest

from imgbench.analysis.calibration import (
    TOLERANCE,
    calibration_frame,
    delivered_cores,
    expected_speedup,
    write_calibration,
)


@pytest.mark.parametrize(
    ("task", "strategy", "workers", "cores", "expected"),
    [
        ("sleep", "threads", 16, 2, 16.0),
        ("sleep", "asyncio", 16, 2, 16.0),
        ("sleep", "processes", 4, 2, 4.0),
        ("spin_python", "threads", 4, 2, 1.0),
        ("spin_python", "asyncio", 2, 2, 1.0),
        ("spin_python", "processes", 4, 2, 2.0),
        ("spin_python", "processes_chunked", 2, 8, 2.0),
        ("spin_native", "threads", 4, 2, 2.0),
        ("spin_native", "processes", 2, 16, 2.0),
        ("spin_native", "serial", 1, 2, None),
        ("decode", "threads", 2, 2, None),
    ],
)
def test_expected_speedups(task, strategy, workers, cores, expected):
    assert expected_speedup(task, strategy, workers, cores) == expected


def _speedup(rows):
    keys = dict(storage="disk", cache="warm", width=16, height=16, n_images=32, host="h")
    frame = [
        {
            **keys,
            "task": t,
            "strategy": s,
            "workers": w,
            "baseline": b,
            "speedup": x,
            "speedup_ci_low": x * 0.95,
            "speedup_ci_high": x * 1.05,
            "usable_cores": 2,
        }
        for t, s, w, b, x in rows
    ]
    return pd.DataFrame(frame)


def test_verdicts_within_and_outside_the_tolerance(tmp_path):
    speedup = _speedup(
        [
            ("spin_python", "serial", 1, "serial", 1.0),
            ("spin_python", "threads", 2, "serial", 0.97),
            ("spin_python", "processes", 2, "serial", 1.5),
            ("spin_python", "processes", 2, "1 worker", 1.9),  # another base case: ignored
            ("spin_native", "processes", 4, "serial", 1.93),
            ("sleep", "threads", 16, "serial", 14.5),
            ("sleep", "threads", 2, "serial", 2.5),
        ]
    )
    frame = calibration_frame(speedup).set_index(["task", "strategy", "workers"])
    assert len(frame) == 5
    assert frame.loc[("spin_python", "threads", 2), "within"]
    assert not frame.loc[("spin_python", "processes", 2), "within"]
    assert "below the known answer" in frame.loc[("spin_python", "processes", 2), "verdict"]
    assert frame.loc[("spin_native", "processes", 4), "expected_speedup"] == 2.0
    assert frame.loc[("sleep", "threads", 16), "within"]  # 14.5 of 16 is within 10%
    assert "above the known answer" in frame.loc[("sleep", "threads", 2), "verdict"]
    assert frame.loc[("sleep", "threads", 16), "expected_low"] == pytest.approx(
        16 * (1 - TOLERANCE)
    )
    assert delivered_cores(frame.reset_index()) == pytest.approx(1.93)

    speedup.to_csv(tmp_path / "speedup.csv", index=False)
    write_calibration(tmp_path)
    summary = json.loads((tmp_path / "calibration.json").read_text())
    assert summary == {
        "delivered_cores": pytest.approx(1.93),
        "usable_cores": 2,
        "cells": 5,
        "within": 3,
        "tolerance": TOLERANCE,
        # No diagnosis.csv beside speedup.csv: no diagnosis checked.
        "diagnosed": 0,
        "diagnoses_right": 0,
    }
    assert len(pd.read_csv(tmp_path / "calibration.csv")) == 5


def test_no_known_answer_cells_give_an_empty_table(tmp_path):
    frame = calibration_frame(_speedup([("decode", "threads", 2, "serial", 1.5)]))
    assert frame.empty and "verdict" in frame.columns
    assert delivered_cores(frame) is None
