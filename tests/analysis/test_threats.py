"""Threats to validity as facts: each check's status, value, threshold and cells, no words.

The tables come from the real analysis (``build_tables`` over ``tests.helpers.cell_result``
results); the metadata is varied where a fact reads it.
"""

from __future__ import annotations

import pytest

from imgbench.analysis import threats
from imgbench.analysis.tables import build_tables
from imgbench.analysis.thresholds import INTERFERENCE_SHARE
from tests.helpers import cell_result


@pytest.fixture(scope="module")
def tables():
    results = [
        cell_result("serial", 1, [4.0, 4.1, 3.9, 4.0, 4.0, 4.0]),
        cell_result("threads", 2, [2.0, 2.1, 1.9, 2.0, 2.0, 2.0]),
        # a noisy cell: its CV is far above CV_WARN
        cell_result("threads", 4, [1.0, 3.0, 1.0, 3.0, 1.0, 3.0]),
        cell_result("processes", 2, [2.2, 2.2, 2.2, 2.2, 2.2, 9.0]),
    ]
    return build_tables(results)


def meta(**overrides) -> dict:
    base = {
        "hosts": [{"hostname": "h", "host": "h", "usable_cores": 2}],
        "cpu_models": ["cpu"],
        "other_cpu_per_wall_max": 0.05,
        "cache_methods": ["drop_caches"],
        "cold_resident_fraction_max": 0.0,
        "repeats": [6],
        "rounds": [1],
        "warnings": [],
    }
    return base | overrides


def by_topic(found: list[threats.Fact]) -> dict[str, threats.Fact]:
    return {f.topic: f for f in found}


def test_facts_carry_no_sentences(tables):
    found = threats.threats(tables["summary"], meta(), tables["speedup"], tables["recommendations"])
    for fact in found:
        assert fact.status in (threats.OK, threats.WARN, threats.INFO)
        assert not hasattr(fact, "text")
    topics = [f.topic for f in found]
    assert topics[:2] == ["Interference", "Repetition spread"]
    assert "Physical bound" in topics and "Memory" in topics


def test_interference_against_the_shared_threshold(tables):
    summary = tables["summary"]
    calm = threats.interference(meta(), summary)
    assert (calm.status, calm.value, calm.threshold) == (threats.OK, 0.05, INTERFERENCE_SHARE)
    assert calm.details["usable_cores"] == 2
    busy = threats.interference(meta(other_cpu_per_wall_max=0.75), summary)
    assert busy.found and busy.value == 0.75
    unmeasured = threats.interference(meta(other_cpu_per_wall_max=None), summary)
    assert unmeasured.status == threats.INFO and unmeasured.value is None


def test_spread_names_the_noisy_cells_worst_first(tables):
    summary = tables["summary"]
    fact = threats.spread(summary)
    assert fact.threshold == threats.CV_WARN and fact.checked == len(summary) == 4
    cvs = [cell["cv"] for cell in fact.cells]
    assert cvs == sorted(cvs, reverse=True) and all(cv > threats.CV_WARN for cv in cvs)
    noisy = {(c["strategy"], c["workers"]) for c in fact.cells}
    assert noisy == {("threads", 4), ("processes", 2)} and fact.found


def test_outliers_count_repetitions(tables):
    fact = threats.outliers(tables["summary"])
    assert fact.found and fact.value >= 1
    assert ("processes", 2) in {(c["strategy"], c["workers"]) for c in fact.cells}


def test_hosts_and_cpu_models():
    one = threats.hosts(meta())
    assert one.status == threats.OK and one.value == 1
    two = threats.hosts(meta(cpu_models=["a", "b"]))
    assert two.found and (two.value, two.threshold) == (2, 1)


def test_cache_partly_warm_and_not_evicted(tables):
    summary = tables["summary"]  # cell_result's cells are cold
    assert threats.cache(meta(), summary).status == threats.OK
    warm = threats.cache(meta(cold_resident_fraction_max=0.2), summary)
    assert warm.found and (warm.value, warm.threshold) == (0.2, threats.RESIDENT_WARN)
    none = threats.cache(meta(cache_methods=["none"]), summary)
    assert none.found and none.details["not_evicted"]
    no_cold = threats.cache(meta(), summary.assign(cache="warm"))
    assert no_cold.status == threats.OK and not no_cold.details["cold"]


def test_steal_and_ci_level(tables):
    assert threats.steal(meta()) is None
    stolen = threats.steal(meta(steal_per_wall_max=0.3))
    assert stolen.found and stolen.threshold == threats.STEAL_WARN
    level = threats.ci_level(tables["summary"])
    assert level.threshold == threats.CI_LEVEL_WANTED
    assert level.found == (level.value < threats.CI_LEVEL_WANTED)


def test_rounds_one_round_warns(tables):
    summary = tables["summary"]
    assert threats.rounds(meta(), summary).found
    assert threats.rounds(meta(rounds=[2]), summary).status == threats.OK
    assert threats.rounds(meta(rounds=[]), summary.drop(columns="rounds")).found


def test_start_method_warns_for_spawn(tables):
    summary = tables["summary"]
    fork = threats.start_method(meta(start_methods={"fork": 0.004}), summary)
    assert fork.status == threats.OK and fork.details["others"] == []
    spawn = threats.start_method(meta(start_methods={"fork": 0.004, "spawn": 0.2}), summary)
    assert spawn.found and spawn.details["others"] == ["spawn"]
    assert spawn.details["methods"]["spawn"] == 0.2


def test_physical_bound_cells_and_withheld_sentences(tables):
    speedup = tables["speedup"].copy()
    above = (speedup["strategy"] == "threads") & (speedup["workers"] == 2)
    above &= speedup["baseline"] == "serial"
    speedup.loc[above, ["bound", "exceeds_bound"]] = [1, True]
    recs = tables["recommendations"].assign(withheld=True, sentence="withheld: above bound")
    fact = threats.physical_bound(speedup, recs)
    assert fact.found and len(fact.cells) == 1
    assert (fact.cells[0]["strategy"], fact.cells[0]["bound"]) == ("threads", 1)
    assert fact.details["sentences"] == ["withheld: above bound"]
    assert threats.physical_bound(None, None).status == threats.INFO


def test_flags_of_the_fair_measurement(tables):
    summary = tables["summary"].copy()
    threads = summary["strategy"] == "threads"
    threads2, threads4 = threads & (summary["workers"] == 2), threads & (summary["workers"] == 4)
    processes = summary["strategy"] == "processes"
    summary["rounds_disagree"] = threads2
    summary["round_spread"] = threads2 * 0.3
    summary["extra_reads_flag"] = threads4
    summary["median_extra_read_bytes"] = threads4 * 3e6
    summary["imported_modules"] = processes.map({True: "zlib", False: ""})
    summary["max_peak_in_flight"] = summary["workers"].where(~threads2, 1)

    def cells(fact):
        return [(c["strategy"], c["workers"]) for c in fact.cells]

    assert cells(threats.rounds_disagree(summary)) == [("threads", 2)]
    assert cells(threats.extra_reads(summary)) == [("threads", 4)]
    assert cells(threats.imports(summary)) == [("processes", 2)]
    flight = threats.in_flight(summary)
    assert flight.found and cells(flight) == [("threads", 2)] and flight.checked == 2
    legacy = summary.drop(columns=["rounds_disagree", "extra_reads_flag", "imported_modules"])
    for check in (threats.rounds_disagree, threats.extra_reads, threats.imports):
        assert check(legacy).status == threats.INFO


def test_memory_and_warnings(tables):
    memory = threats.memory(tables["summary"])
    assert memory.status == threats.INFO and memory.details["kind"] is None
    found = threats.warnings(
        meta(
            warnings=["odd", "shown"],
            aggregate_warnings=[
                {"topic": "CPU models", "text": "two CPUs"},
                {"topic": "Spread", "text": "shown"},
            ],
        )
    )
    assert [(f.topic, f.details["text"]) for f in found] == [
        ("Spread", "shown"),
        ("Run warning", "odd"),
    ]
    assert threats.missing_cells(meta(missing_cells=["a", "b"], expected_cells=9)).value == 2
