import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from imgbench.measure import instruments as instrumentation
from imgbench.measure import pools, start_methods, strategies
from imgbench.measure.instruments import begin_repetition
from imgbench.measure.strategies import START_METHOD_VARIANTS, STRATEGIES, contiguous_chunks
from imgbench.measure.tasks import TASKS
from imgbench.measure.tasks.images import grey_loop, grey_of

#: The strategies whose code differs: a start-method variant runs its family's code under
#: another start method (tests/measure/test_start_methods.py covers the variants).
FAMILIES = sorted(n for n, s in STRATEGIES.items() if s.start_method not in START_METHOD_VARIANTS)
PER_IMAGE = [n for n in FAMILIES if n != "vectorized"]


@pytest.mark.parametrize("name", PER_IMAGE)
@pytest.mark.parametrize("workers", [1, 3])
def test_every_strategy_returns_every_result_in_order(datasets, name, workers):
    ds = datasets["jpeg"]
    items = [str(p) for p in ds.paths(7)]
    before = time.perf_counter()
    outcome = STRATEGIES[name].run(TASKS["read"], items, workers)
    after = time.perf_counter()
    assert outcome.results == [Path(p).read_bytes() for p in items]
    assert before < outcome.first_result_at <= outcome.last_result_at <= after


@pytest.mark.parametrize("name", FAMILIES)
def test_every_strategy_greys_every_image_identically(datasets, name):
    items = [str(p) for p in datasets["jpeg"].paths(5)]
    expected = [grey_of(np.asarray(Image.open(p).convert("RGB"))) for p in items]
    for task in ("grayscale", "grayscale_loop"):
        if name == "vectorized" and TASKS[task].batch is None:
            continue
        outcome = STRATEGIES[name].run(TASKS[task], items, 2)
        assert len(outcome.results) == 5
        for got, want in zip(outcome.results, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_the_pure_python_loop_matches_numpy_exactly():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(grey_loop(array), grey_of(array))
    assert grey_of(np.array([[[255, 255, 254]]], np.uint8))[0, 0] == 254  # no uint8 overflow


@pytest.mark.parametrize("name", FAMILIES)
def test_a_failing_image_fails_the_strategy_with_its_name(tmp_path, datasets, name):
    items = [str(p) for p in datasets["jpeg"].paths(3)] + [str(tmp_path / "gone.jpg")]
    task = TASKS["grayscale" if name == "vectorized" else "decode"]
    with pytest.raises(Exception, match="gone.jpg"):
        STRATEGIES[name].run(task, items, 2)


def test_vectorized_refuses_a_task_without_a_batch_form(datasets):
    with pytest.raises(ValueError, match="no whole-batch form"):
        STRATEGIES["vectorized"].run(TASKS["decode"], [], 1)


def test_the_loop_and_the_batch_ignore_workers():
    assert sorted(n for n, s in STRATEGIES.items() if not s.uses_workers) == [
        "serial",
        "vectorized",
    ]


@pytest.mark.parametrize(("n", "parts", "sizes"), [(10, 3, [4, 3, 3]), (2, 4, [1, 1]), (6, 1, [6])])
def test_contiguous_chunks_cover_items_in_order(n, parts, sizes):
    items = list(range(n))
    chunks = contiguous_chunks(items, parts)
    assert [len(c) for c in chunks] == sizes
    assert [x for c in chunks for x in c] == items


@pytest.mark.parametrize("name", FAMILIES)
def test_every_strategy_reports_each_items_span_and_no_imports(datasets, name):
    items = [str(p) for p in datasets["jpeg"].paths(6)]
    task = TASKS["grayscale"]
    STRATEGIES[name].run(task, items, 2)  # first use of anything, in this process
    before = time.perf_counter()
    outcome = STRATEGIES[name].run(task, items, 2)
    after = time.perf_counter()
    assert len(outcome.spans) == (1 if name == "vectorized" else 6)
    assert all(before < start <= end < after for start, end in outcome.spans)
    assert outcome.imported == []


@pytest.mark.parametrize(
    "name", ["threads", "threads_chunked", "processes", "processes_shm", "asyncio"]
)
def test_the_runners_instruments_see_every_worker_start(datasets, name):
    items = [str(p) for p in datasets["jpeg"].paths(6)]
    instruments = begin_repetition()
    before = time.perf_counter()
    STRATEGIES[name].run(TASKS["decode"], items, 3)
    starts = instruments.drain()
    assert 1 <= len(starts) <= 3
    assert all(before < s < time.perf_counter() for s in starts)
    # Used up: a strategy called directly afterwards does not feed them.
    STRATEGIES[name].run(TASKS["decode"], items, 3)
    assert instrumentation._instruments == []


def test_a_forkserver_preloads_the_engine():
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no forkserver here")
    with start_methods.pinned_start_method("forkserver", ["PIL.PngImagePlugin"]) as method:
        assert method == "forkserver"
        preload = multiprocessing.forkserver._forkserver._preload_modules
        engine = {"imgbench.measure.tasks", "numpy", "PIL.Image", "PIL.PngImagePlugin"}
        assert engine <= set(preload)
    assert start_methods.context().get_start_method() == multiprocessing.get_start_method()


@pytest.mark.parametrize("name", ["threads", "processes", "processes_shm", "processes_chunked"])
def test_a_persistent_strategy_keeps_one_warm_pool_for_every_run(datasets, name):
    task = TASKS["decode"]
    items = [str(p) for p in datasets["jpeg"].paths(6)]
    kept = STRATEGIES[name + strategies.PERSISTENT_SUFFIX]
    assert kept.persistent and kept.base == name and kept.pool == STRATEGIES[name].pool
    with pools.kept_pool(kept, task, 2) as started_s:
        assert started_s > 0
        pids = pools.kept_worker_pids()
        assert len(pids) == (2 if kept.pool == "processes" else 0)
        outcomes = []
        for _ in range(2):
            instruments = begin_repetition()
            outcomes.append(kept.run(task, items, 2))
            # Every worker started before the runs: none starts inside them.
            assert instruments.drain() == []
            assert pools.kept_worker_pids() == pids
        for outcome in outcomes:
            assert [r.shape for r in outcome.results] == [(32, 48, 3)] * 6
            assert outcome.imported == []
    assert pools.kept_worker_pids() == []
    assert all(
        not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie" for pid in pids
    )
    # Per batch, the same strategy starts its workers inside every run.
    instruments = begin_repetition()
    STRATEGIES[name].run(task, items, 2)
    assert len(instruments.drain()) == 2


def test_strategies_without_a_pool_have_no_persistent_form():
    assert {s.base for s in STRATEGIES.values() if s.persistent} == {
        name for name, s in STRATEGIES.items() if s.pool is not None and not s.persistent
    }
    assert not {"serial", "vectorized", "asyncio"} & {
        s.base for s in STRATEGIES.values() if s.persistent
    }
