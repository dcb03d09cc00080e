import time
from pathlib import Path

import pytest

from imgbench.strategies import STRATEGIES, contiguous_chunks
from imgbench.tasks import TASKS


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("workers", [1, 3])
def test_every_strategy_returns_every_result_in_order(datasets, name, workers):
    ds = datasets["jpeg"]
    items = [str(p) for p in ds.paths(7)]
    before = time.perf_counter()
    outcome = STRATEGIES[name].run(TASKS["read"], items, workers)
    after = time.perf_counter()
    assert outcome.results == [Path(p).read_bytes() for p in items]
    assert before < outcome.first_result_at <= outcome.last_result_at <= after


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_failing_image_fails_the_strategy_with_its_name(tmp_path, datasets, name):
    items = [str(p) for p in datasets["jpeg"].paths(3)] + [str(tmp_path / "gone.jpg")]
    with pytest.raises(Exception, match="gone.jpg"):
        STRATEGIES[name].run(TASKS["decode"], items, 2)


def test_only_the_loop_ignores_workers():
    assert [n for n, s in STRATEGIES.items() if not s.uses_workers] == ["serial"]


@pytest.mark.parametrize(("n", "parts", "sizes"), [(10, 3, [4, 3, 3]), (2, 4, [1, 1]), (6, 1, [6])])
def test_contiguous_chunks_cover_items_in_order(n, parts, sizes):
    items = list(range(n))
    chunks = contiguous_chunks(items, parts)
    assert [len(c) for c in chunks] == sizes
    assert [x for c in chunks for x in c] == items
