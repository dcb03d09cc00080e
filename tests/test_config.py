from pathlib import Path

import pytest

from imgbench.config import load_yaml, resolve_config
from imgbench.errors import ConfigError
from imgbench.grid import expand_cells, plan_datasets, source_dataset

ROOT = Path(__file__).resolve().parents[1]


def _config(**experiment):
    base = {"tasks": ["decode"], "strategies": ["serial", "threads"]}
    base.update(experiment)
    return {"experiments": {"e": base}}


def test_defaults_are_filled():
    config = resolve_config(_config())
    exp = config["experiments"]["e"]
    assert exp["workers"] == [1, 2, 4] and exp["repeats"] == 6 and exp["warmup"] == 1
    assert config["scratch"] == {"disk": "results/scratch", "shm": "/dev/shm"}


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (
            {"experiments": {"e": {"tasks": ["decode"], "strategies": ["serial"]}}, "bogus": 1},
            "'bogus' was unexpected",
        ),
        (_config(wokers=[2]), "experiments.e: Additional properties are not allowed ('wokers'"),
        (_config(workers=[0]), "experiments.e.workers[0]: 0 is less than the minimum of 1"),
        (_config(workers=[]), "experiments.e.workers: [] should be non-empty"),
        (_config(workers="2"), "experiments.e.workers: '2' is not of type 'array'"),
        (_config(n_images=[-5]), "experiments.e.n_images[0]"),
        (_config(sizes=["640*480"]), "experiments.e.sizes[0]"),
        (_config(storage=["ssd"]), "experiments.e.storage[0]: 'ssd' is not one of ['disk', 'shm']"),
        (_config(repeats=0), "experiments.e.repeats"),
        (
            _config(tasks=["resize"]),
            "experiments.e.tasks[0]: unknown value 'resize'; allowed: decode",
        ),
        (_config(strategies=["gpu"]), "experiments.e.strategies[0]: unknown value 'gpu'; allowed"),
        (_config(workers=[100000]), "experiments.e.workers[0]: 100000 exceeds the limit"),
        ({"experiments": {}}, "experiments: {} should be non-empty"),
        (
            {"experiments": {"datasets": {"tasks": ["read"], "strategies": ["serial"]}}},
            "experiments: 'datasets' should not be valid",
        ),
    ],
)
def test_bad_values_are_refused_with_the_key_named(config, named):
    with pytest.raises(ConfigError) as err:
        resolve_config(config)
    assert named in str(err.value)


def test_shipped_configs_are_valid():
    for path in [
        ROOT / "config" / "config.yaml",
        *sorted((ROOT / "config" / "presets").glob("*.yaml")),
    ]:
        config = resolve_config(load_yaml(path))
        assert expand_cells(config), path


def test_grid_runs_serial_once_per_group_and_skips_cold_tmpfs():
    config = resolve_config(
        _config(
            strategies=["serial", "threads", "asyncio"],
            workers=[1, 2],
            n_images=[4, 8],
            storage=["disk", "shm"],
            cache=["cold", "warm"],
        )
    )
    cells = expand_cells(config)
    # (disk-cold, disk-warm, shm-warm) x 2 n x (1 serial + 2 threads + 2 asyncio)
    assert len(cells) == 3 * 2 * 5
    assert not [c for c in cells if c.storage == "shm" and c.cache == "cold"]
    assert {c.workers for c in cells if c.strategy == "serial"} == {1}


def test_datasets_are_shared_and_sized_for_their_largest_use():
    config = resolve_config(
        {
            "experiments": {
                "a": {
                    "tasks": ["decode", "save_png"],
                    "strategies": ["serial"],
                    "n_images": [4, 9],
                    "sizes": ["32x16"],
                },
                "b": {
                    "tasks": ["read"],
                    "strategies": ["serial"],
                    "n_images": [20],
                    "sizes": ["32x16"],
                    "format": "png",
                },
            }
        }
    )
    cells = expand_cells(config)
    plan = plan_datasets(config, cells)
    names = {c.task: plan[c].name for c in cells}
    seed = config["dataset_seed"]
    assert names["decode"] == f"jpeg-32x16-n9-s{seed}"
    assert names["read"] == f"png-32x16-n20-s{seed}"
    # The raw arrays serve the encoded datasets too, so they are as large as any use.
    assert names["save_png"] == f"raw-32x16-n20-s{seed}"
    source = source_dataset(config, cells, plan[cells[0]])
    assert source is None or source.name == f"raw-32x16-n20-s{seed}"
