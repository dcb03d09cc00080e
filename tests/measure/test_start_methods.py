"""Start methods as an axis: every process-pool strategy has a variant per start method
(``<name>_<method>``), which pins that method whatever the experiment's, records it, and
starts workers that import nothing inside the timer."""

import multiprocessing
import os

import pytest

from imgbench.measure import pools, start_methods
from imgbench.measure.runner import run_cell
from imgbench.measure.strategies import (
    PERSISTENT_SUFFIX,
    START_METHOD_VARIANTS,
    STRATEGIES,
    variant_name,
)
from imgbench.measure.tasks import Task
from tests.helpers.cells import FIRST_USE_TASKS, cell_job, cell_options, small_cell

AVAILABLE = multiprocessing.get_all_start_methods()
#: The process-pool strategies of the experiment's start method: each has one variant per method.
FAMILIES = [n for n, s in STRATEGIES.items() if s.pool == "processes" and s.start_method is None]


def needs(method: str):
    return pytest.mark.skipif(method not in AVAILABLE, reason=f"no {method} start method here")


def test_every_process_pool_strategy_has_one_variant_per_method():
    assert FAMILIES == [
        "processes",
        "processes_shm",
        "processes_chunked",
        "processes_persistent",
        "processes_shm_persistent",
        "processes_chunked_persistent",
    ]
    for name in FAMILIES:
        family = STRATEGIES[name]
        for method in START_METHOD_VARIANTS:
            variant = STRATEGIES[variant_name(family.plain, family.persistent, method)]
            assert variant.start_method == method and variant.plain == family.plain
            assert (variant.pool, variant.persistent, variant.uses_workers) == (
                family.pool,
                family.persistent,
                family.uses_workers,
            )
            assert method in variant.summary
            # A kept variant keeps the pool of the per-batch variant of the same method.
            if variant.persistent:
                assert variant.base == variant_name(family.plain, False, method)
    variants = [n for n, s in STRATEGIES.items() if s.start_method in START_METHOD_VARIANTS]
    assert len(variants) == len(FAMILIES) * len(START_METHOD_VARIANTS)
    assert "processes_chunked_persistent_forkserver" in variants
    assert "processes_spawn" in variants and "processes_spawn" + PERSISTENT_SUFFIX not in STRATEGIES


def test_no_other_strategy_has_start_method_variants():
    for name, s in STRATEGIES.items():
        if s.pool != "processes":
            assert s.start_method in (None, start_methods.LOKY), name
    # No strategy's name ends in a method's (the suffix is unambiguous), and every name is
    # safe in a path.
    plain = [n for n, s in STRATEGIES.items() if s.start_method not in START_METHOD_VARIANTS]
    assert not [n for n in plain for m in START_METHOD_VARIANTS if n.endswith(f"_{m}")]
    assert all(n.replace("_", "").isalnum() and n.islower() for n in STRATEGIES)


#: Set in the test process only: a forked worker inherits it, a spawned or forkserver one
#: (a new interpreter, or forked from a server started earlier) does not.
MARK: dict = {}


def inherited(path: str) -> str:
    return f"{path}:{MARK.get('set', False)}"


def verify_inherited(ctx, results) -> None:
    assert len(results) == ctx.n_images


INHERITED = Task(
    "inherited", "says if the parent's mark reached it", "files", inherited, None, verify_inherited
)


@pytest.mark.parametrize(
    ("name", "method", "inherits"),
    [
        pytest.param("processes_fork", "fork", True, marks=needs("fork")),
        pytest.param("processes_spawn", "spawn", False, marks=needs("spawn")),
        pytest.param("processes_chunked_spawn", "spawn", False, marks=needs("spawn")),
    ],
)
def test_a_variant_run_directly_uses_its_own_method(datasets, monkeypatch, name, method, inherits):
    monkeypatch.setitem(MARK, "set", True)
    items = [str(p) for p in datasets["jpeg"].paths(4)]
    # The process's own pin says another method: the variant's wins, for its run only.
    other = next(m for m in AVAILABLE if m != method)
    with start_methods.pinned_start_method(other):
        outcome = STRATEGIES[name].run(INHERITED, items, 2)
        assert start_methods.context().get_start_method() == other
    assert outcome.results == [f"{p}:{inherits}" for p in items]


@pytest.mark.parametrize(
    ("strategy", "method"),
    [
        pytest.param("processes_spawn", "spawn", marks=needs("spawn")),
        pytest.param("processes_shm_forkserver", "forkserver", marks=needs("forkserver")),
        pytest.param("processes_chunked_fork", "fork", marks=needs("fork")),
        pytest.param("processes_persistent_spawn", "spawn", marks=needs("spawn")),
    ],
)
def test_a_variant_cell_records_its_method_whatever_the_experiments(
    datasets, tmp_path, strategy, method
):
    experiment = next(m for m in ("fork", "spawn", "forkserver") if m != method and m in AVAILABLE)
    options = cell_options(datasets, tmp_path, "decode", repeats=2, start_method=experiment)
    result = run_cell(small_cell("decode", strategy), options)
    assert result["cell"]["strategy"] == strategy
    assert result["run"]["mp_start_method"] == method
    # What the experiment asked for stays recorded beside it.
    assert result["run"]["start_method_requested"] == experiment
    for rep in result["repetitions"]:
        assert rep["verified"]
        # Spawned workers import what the priming run loaded before their first item.
        assert rep["worker_imported_modules"] == [], rep
        if STRATEGIES[strategy].persistent:
            assert rep["workers_started"] is None
        else:
            assert rep["workers_started"] == 2 and 0 < rep["pool_ready_s"] < rep["wall_s"]


@needs("spawn")
@pytest.mark.parametrize("task", FIRST_USE_TASKS)
def test_spawned_workers_import_nothing_inside_the_timer(datasets, tmp_path, task):
    # A cell job of its own (as the workflow runs it): the priming run then lists what the
    # task loads on first use, and every spawned worker imports it before its first item.
    result = cell_job(datasets, tmp_path, task, "processes_spawn")
    assert result["run"]["mp_start_method"] == "spawn"
    for rep in result["repetitions"]:
        assert rep["worker_imported_modules"] == [], rep["index"]


def pid_of(path: str) -> int:
    return os.getpid()


PID = Task("pid", "the worker's pid", "files", pid_of, None, verify_inherited)


@needs("spawn")
def test_a_kept_variant_pool_starts_its_workers_with_its_method(datasets):
    kept = STRATEGIES["processes_persistent_spawn"]
    items = [str(p) for p in datasets["jpeg"].paths(4)]
    with start_methods.pinned_start_method(kept.start_method), pools.kept_pool(kept, PID, 2):
        pids = pools.kept_worker_pids()
        assert len(pids) == 2
        outcome = kept.run(PID, items, 2)
        assert set(outcome.results) <= set(pids)
        children = {p.pid: p for p in multiprocessing.active_children()}
        assert {type(children[pid]).__name__ for pid in pids} == {"SpawnProcess"}


@needs("forkserver")
@pytest.mark.parametrize("strategy", ["processes_forkserver", "processes_shm_forkserver"])
def test_a_forkservers_workers_cpu_is_the_cells(datasets, tmp_path, strategy):
    # The forkserver, not this process, starts and reaps its workers: their CPU reached no
    # count of this process, and a per-batch forkserver cell used less CPU than the loop
    # for the same work (3.9 against 7.1 ms per 1280x960 decode). Work of a known CPU cost:
    # 4 images hashing 8 MB each in C, about 10 ms apiece here.
    options = cell_options(datasets, tmp_path, "spin_native", repeats=2)
    options.task_options["hash_mb"] = 8.0
    serial = run_cell(small_cell("spin_native", "serial", 1), options)
    pooled = run_cell(small_cell("spin_native", strategy), options)
    loop_cpu = min(r["cpu_s"] for r in serial["repetitions"])
    for rep in pooled["repetitions"]:
        assert rep["cpu_s"] >= 0.8 * loop_cpu, (rep["cpu_s"], loop_cpu)
        assert rep["cpu_resolution_s"] >= 0.001  # the reaped workers' CPU is in clock ticks
