"""The known-answer tasks: they do their work under every strategy and verify it."""

import pytest

from imgbench.errors import VerificationError
from imgbench.measure.runner import RunOptions, run_cell
from imgbench.measure.strategies import STRATEGIES
from imgbench.measure.tasks import TASKS, VerifyContext
from imgbench.measure.tasks.known_answers import KNOWN_ANSWER_TASKS, spin_native, spin_python
from imgbench.vocabulary import CellSpec

#: Small amounts of work, so that each cell takes a fraction of a second.
LIGHT = {
    "sleep": {"sleep_ms": 2.0},
    "spin_python": {"iterations": 2000},
    "spin_native": {"hash_mb": 1.0},
}
NAMES = [t.name for t in KNOWN_ANSWER_TASKS]


def test_they_are_registered_with_options():
    for name in NAMES:
        assert TASKS[name] is next(t for t in KNOWN_ANSWER_TASKS if t.name == name)
        assert set(TASKS[name].options) == set(LIGHT[name])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "strategy", ["serial", "threads", "processes", "asyncio", "threads_chunked"]
)
def test_every_strategy_does_the_work(datasets, tmp_path, name, strategy):
    workers = 2 if STRATEGIES[strategy].uses_workers else 1
    spec = CellSpec("t", name, "disk", "warm", 48, 32, 6, strategy, workers)
    options = RunOptions(
        2, 0, datasets["jpeg"].directory, tmp_path / "scratch", task_options=LIGHT[name]
    )
    result = run_cell(spec, options)
    assert [r["verified"] for r in result["repetitions"]] == [True, True]


def test_sleep_takes_its_time(datasets, tmp_path):
    spec = CellSpec("t", "sleep", "disk", "warm", 48, 32, 4, "serial", 1)
    options = RunOptions(
        1, 0, datasets["jpeg"].directory, tmp_path / "scratch", task_options={"sleep_ms": 25.0}
    )
    (rep,) = run_cell(spec, options)["repetitions"]
    assert rep["wall_s"] >= 4 * 0.025
    # Waiting uses next to no CPU: the point of the task.
    assert rep["cpu_s"] < rep["wall_s"] / 2


def test_results_depend_on_the_image_so_a_swap_is_caught():
    a, b = ("x/img_000000.jpg", 5000), ("x/img_000001.jpg", 5000)
    assert spin_python(a) != spin_python(b)
    assert spin_native((a[0], 1)) != spin_native((b[0], 1))
    items = [a, b]
    ctx = VerifyContext(2, 1, 1, items=items)
    TASKS["spin_python"].verify(ctx, [spin_python(a), spin_python(b)])
    with pytest.raises(VerificationError, match="img_000000.jpg"):
        TASKS["spin_python"].verify(
            VerifyContext(2, 1, 1, items=items), [spin_python(b), spin_python(a)]
        )
    with pytest.raises(VerificationError, match="img_000001.jpg"):
        TASKS["sleep"].verify(VerifyContext(2, 1, 1, items=[(a[0], 0), (b[0], 0)]), [a[0], a[0]])


def test_only_sleep_is_waiting_work():
    assert {t.name: t.bound for t in KNOWN_ANSWER_TASKS} == {
        "sleep": "wait",
        "spin_python": "cpu",
        "spin_native": "cpu",
    }
