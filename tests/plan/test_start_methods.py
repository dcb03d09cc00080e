"""Config ``start_methods``: the process-pool strategies expand into one variant per method,
the loop's and the threads' cells are shared, and a method the platform lacks or a
contradicting ``start_method`` is refused before any job runs."""

import multiprocessing

import pytest

from imgbench.errors import ConfigError
from imgbench.plan.checks import config_warnings
from imgbench.plan.config import resolve_config, review_config
from imgbench.plan.grid import expand_cells, experiment_strategies
from imgbench.vocabulary import CELL


def _config(**experiment):
    base = {"tasks": ["decode"], "strategies": ["serial", "threads", "processes"]}
    base.update(experiment)
    return {"experiments": {"e": base}}


def _strategies(**experiment) -> list[str]:
    return experiment_strategies(resolve_config(_config(**experiment))["experiments"]["e"])


@pytest.fixture
def every_method(monkeypatch):
    """The platform offers every start method (so that the tests run the same everywhere)."""
    monkeypatch.setattr(
        multiprocessing, "get_all_start_methods", lambda: ["fork", "spawn", "forkserver"]
    )


def test_without_start_methods_nothing_changes(every_method):
    assert _strategies() == ["serial", "threads", "processes"]
    assert "start_methods" not in resolve_config(_config())["experiments"]["e"]


def test_each_process_pool_strategy_runs_once_per_method(every_method):
    listed = ["serial", "threads", "processes", "processes_shm", "asyncio", "joblib"]
    assert _strategies(strategies=listed, start_methods=["fork", "spawn"]) == [
        "serial",
        "threads",
        "processes_fork",
        "processes_spawn",
        "processes_shm_fork",
        "processes_shm_spawn",
        "asyncio",
        "joblib",
    ]
    # With persistent pools, the kept forms too, each under each method.
    assert _strategies(
        strategies=["processes_chunked"],
        pool=["per_batch", "persistent"],
        start_methods=["forkserver", "spawn"],
    ) == [
        "processes_chunked_forkserver",
        "processes_chunked_spawn",
        "processes_chunked_persistent_forkserver",
        "processes_chunked_persistent_spawn",
    ]


def test_a_variant_listed_by_name_keeps_its_method(every_method):
    assert _strategies(strategies=["processes_spawn"], start_methods=["fork"]) == [
        "processes_spawn"
    ]
    assert _strategies(strategies=["processes_spawn"], pool=["persistent"]) == [
        "processes_persistent_spawn"
    ]


def test_the_cells_identity_is_unchanged_and_shared_cells_run_once(every_method):
    config = resolve_config(
        _config(workers=[2], n_images=[8], start_methods=["fork", "forkserver", "spawn"])
    )
    cells = expand_cells(config)
    by_strategy = {}
    for cell in cells:
        assert tuple(cell.as_dict()) == tuple(CELL)
        by_strategy.setdefault(cell.strategy, []).append(cell)
    assert sorted(by_strategy) == [
        "processes_fork",
        "processes_forkserver",
        "processes_spawn",
        "serial",
        "threads",
    ]
    # One loop cell and one threads cell for the group, not one per method.
    assert len(by_strategy["serial"]) == len(by_strategy["threads"]) == 1
    assert "processes_spawn-w2" in by_strategy["processes_spawn"][0].relative_path


def test_a_method_the_platform_lacks_is_refused_naming_it(monkeypatch):
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with pytest.raises(ConfigError) as error:
        resolve_config(_config(start_methods=["spawn", "forkserver"], start_method="fork"))
    message = str(error.value)
    assert "experiments.e.start_methods[1]: start method forkserver is not available" in message
    assert "experiments.e.start_method: start method fork is not available" in message
    assert "(available: spawn)" in message


def test_a_name_that_is_no_start_method_is_refused_once(every_method):
    problems = review_config(_config(start_methods=["fork", "default"])).problems
    assert len(problems) == 1 and "start_methods[1]" in problems[0], problems


def test_a_contradicting_start_method_is_refused_saying_what_to_do(every_method):
    with pytest.raises(ConfigError, match="start_method spawn contradicts start_methods"):
        resolve_config(_config(start_methods=["fork", "forkserver"], start_method="spawn"))
    problems = review_config(_config(start_methods=["fork"], start_method="spawn")).problems
    assert any("add it to start_methods, or leave start_method out" in p for p in problems)
    # Consistent: the experiment's method is among those listed, or left at default.
    for single in ("default", "fork"):
        resolve_config(_config(start_methods=["fork", "spawn"], start_method=single))


def test_start_methods_without_a_process_pool_warn(every_method):
    config = resolve_config(_config(strategies=["serial", "threads"], start_methods=["spawn"]))
    assert any("start_methods changes nothing" in w for w in config_warnings(config, cores=8))
    config = resolve_config(_config(start_methods=["spawn"]))
    assert not any("start_methods" in w for w in config_warnings(config, cores=8))
