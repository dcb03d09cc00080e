"""What starting a process pool cost under each start method: per-batch pools' time until
every worker had started, kept pools' making and warming, per method."""

from __future__ import annotations

import math

import pytest

from imgbench.analysis import threats
from imgbench.analysis.metadata import metadata
from imgbench.analysis.results import timings_frame
from imgbench.analysis.summary import summary_frame
from tests.helpers import start_method_results


@pytest.fixture(scope="module")
def results():
    return start_method_results()


def test_each_method_gets_its_process_pools_start_costs(results):
    costs = metadata(results, timings_frame(results))["start_costs"]
    assert sorted(costs) == ["fork", "loky", "spawn"]
    fork, spawn, loky = costs["fork"], costs["spawn"], costs["loky"]
    assert fork["pool_ready_s"] == pytest.approx(0.005) and fork["cells"] == 2
    assert fork["pool_start_s"] is None and fork["kept_cells"] == 0
    assert spawn["pool_ready_s"] == pytest.approx(0.150) and spawn["cells"] == 2
    assert spawn["pool_start_s"] == pytest.approx(0.4) and spawn["kept_cells"] == 1
    assert loky == {"pool_ready_s": 0.5, "cells": 1, "pool_start_s": 0.9, "kept_cells": 1}


def test_the_fact_carries_the_costs_and_falls_back_to_the_summary(results):
    timings = timings_frame(results)
    summary = summary_frame(timings)
    meta = metadata(results, timings)
    fact = threats.start_method(meta, summary)
    assert fact.details["others"] == ["loky", "spawn"] and fact.found
    assert fact.details["costs"]["spawn"] == {
        "pool_ready_s": pytest.approx(0.150),
        "pool_start_s": pytest.approx(0.4),
    }
    # A metadata.json of before start_costs: none (its start_methods speak for it) ...
    older = {k: v for k, v in meta.items() if k != "start_costs"}
    assert threats.start_method(older, summary).details["costs"] == {}
    # ... and without metadata, the per-batch process cells of the summary.
    costs = threats.start_method({}, summary).details["costs"]
    assert costs["fork"]["pool_ready_s"] == pytest.approx(0.005)
    assert math.isnan(costs["spawn"]["pool_start_s"])
    assert "threads" not in str(costs)
