import subprocess
from pathlib import Path

import pytest
import yaml

from imgbench.errors import ConfigError
from imgbench.plan.config import (
    MAX_WORKERS,
    experiment_hash,
    load_schema,
    load_yaml,
    resolve_config,
    task_options,
)
from imgbench.plan.grid import expand_cells, plan_datasets, source_dataset
from tests.helpers import ROOT, snakemake


def _config(**experiment):
    base = {"tasks": ["decode"], "strategies": ["serial", "threads"]}
    base.update(experiment)
    return {"experiments": {"e": base}}


def test_the_schema_is_package_data_and_the_workflow_links_to_it():
    # The package reads it with importlib.resources (so it is there installed, too); the
    # Snakefile validates against workflow/schemas/, a relative link to the same file.
    packaged = ROOT / "src" / "imgbench" / "plan" / "schemas" / "config.schema.yaml"
    link = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == packaged.resolve()
    assert load_schema() == yaml.safe_load(packaged.read_text())
    assert "experiments" in load_schema()["properties"]


def test_defaults_are_filled():
    config = resolve_config(_config())
    exp = config["experiments"]["e"]
    assert exp["workers"] == [1, 2, 4] and exp["warmup"] == 1
    # 2 rounds of 3: 6 repetitions in all, from two separate processes.
    assert exp["repeats"] == 3 and exp["rounds"] == 2
    assert exp["start_method"] == "default" and exp["cache_eviction"] == "files"
    assert exp["equivalence_margin"] == 0.05 and config["order_seed"] == 1
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
            "experiments.e.tasks[0]: unknown value 'resize'; allowed: blur_thumbnail, decode",
        ),
        (_config(strategies=["gpu"]), "experiments.e.strategies[0]: unknown value 'gpu'; allowed"),
        (_config(workers=[100000]), "experiments.e.workers[0]: 100000 exceeds the limit"),
        (
            _config(workers=[MAX_WORKERS + 1]),
            f"experiments.e.workers[0]: {MAX_WORKERS + 1} exceeds the limit {MAX_WORKERS}",
        ),
        (_config(workers=[-2]), "experiments.e.workers[0]: -2 is less than the minimum of 1"),
        (_config(n_images=[0]), "experiments.e.n_images[0]: 0 is less than the minimum of 1"),
        (_config(repeats=-1), "experiments.e.repeats: -1 is less than the minimum of 1"),
        (_config(repeats="6"), "experiments.e.repeats: '6' is not of type 'integer'"),
        (_config(tasks=[]), "experiments.e.tasks: [] should be non-empty"),
        (_config(strategies=[]), "experiments.e.strategies: [] should be non-empty"),
        (_config(timeout_s=0), "experiments.e.timeout_s: 0 is less than or equal to the minimum"),
        (_config(timeout_s=-5), "experiments.e.timeout_s: -5 is less than or equal to the minimum"),
        (_config(timeout_s="1h"), "experiments.e.timeout_s: '1h' is not of type 'number'"),
        (_config(timeout_s=True), "experiments.e.timeout_s: True is not of type 'number'"),
        (
            {**_config(), "scratch": {"ssd": "/tmp"}},
            "config key scratch: Additional properties are not allowed ('ssd'",
        ),
        ({**_config(), "dataset_seed": -1}, "config key dataset_seed: -1 is less than the minimum"),
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


def test_greyscale_experiments_get_their_own_datasets():
    config = resolve_config(
        {
            "experiments": {
                "g": {"tasks": ["save_jpeg"], "strategies": ["serial"], "color": "grey"},
                "c": {"tasks": ["save_jpeg"], "strategies": ["serial"]},
            }
        }
    )
    cells = expand_cells(config)
    names = {plan.name for plan in plan_datasets(config, cells).values()}
    assert {n.split("-")[1] for n in names} == {"grey", "rgb"}


@pytest.mark.parametrize(
    ("experiment", "named"),
    [
        (
            {"tasks": ["decode", "grayscale"], "strategies": ["serial", "vectorized"]},
            "experiments.e.strategies: vectorized has no meaning for task 'decode'",
        ),
        (
            {
                "tasks": ["blur_thumbnail"],
                "strategies": ["serial"],
                "task_options": {"blur_thumbnail": {"sigma": 3}},
            },
            "experiments.e.task_options.blur_thumbnail.sigma: unknown option; "
            "allowed: durability, radius, thumbnail",
        ),
        (
            {
                "tasks": ["blur_thumbnail"],
                "strategies": ["serial"],
                "task_options": {"blur_thumbnail": {"radius": -1}},
            },
            "experiments.e.task_options.blur_thumbnail.radius: -1 is not a number >= 0",
        ),
        (
            {
                "tasks": ["blur_thumbnail"],
                "strategies": ["serial"],
                "task_options": {"blur_thumbnail": {"thumbnail": "big"}},
            },
            "task_options.blur_thumbnail.thumbnail: 'big' is not a size WIDTHxHEIGHT",
        ),
        (
            {"tasks": ["decode"], "strategies": ["serial"], "task_options": {"resize": {}}},
            "experiments.e.task_options.resize: unknown task 'resize'",
        ),
        (
            {"tasks": ["decode"], "strategies": ["serial"], "color": "cmyk"},
            "experiments.e.color",
        ),
    ],
)
def test_task_and_strategy_mismatches_are_refused(experiment, named):
    with pytest.raises(ConfigError) as err:
        resolve_config({"experiments": {"e": experiment}})
    assert named in str(err.value)


def test_task_options_merge_over_defaults():
    exp = {"task_options": {"blur_thumbnail": {"radius": 4}}}
    assert task_options(exp, "blur_thumbnail") == {
        "radius": 4,
        "thumbnail": "1200x1200",
        "durability": "none",
    }
    assert task_options({}, "decode") == {}


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
    assert names["decode"] == f"jpeg-rgb-32x16-n9-s{seed}"
    assert names["read"] == f"png-rgb-32x16-n20-s{seed}"
    assert names["save_png"] == f"raw-rgb-32x16-n9-s{seed}"
    by_task = {c.task: plan[c] for c in cells}
    # An encoded dataset is made from the raw arrays a saving task needs anyway; where those
    # are too few, it is synthesized (image i of a seed is the same either way).
    assert source_dataset(config, cells, by_task["decode"]).name == names["save_png"]
    assert source_dataset(config, cells, by_task["read"]) is None
    assert source_dataset(config, cells, by_task["save_png"]) is None


def test_timeout_defaults_to_half_an_hour():
    assert resolve_config(_config())["experiments"]["e"]["timeout_s"] == 1800
    assert resolve_config(_config(timeout_s=0.5))["experiments"]["e"]["timeout_s"] == 0.5


def _with_scratch(tmp_path, storage, path):
    return {**_config(storage=[storage]), "scratch": {storage: str(path)}}


def test_a_missing_tmpfs_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        resolve_config(_with_scratch(tmp_path, "shm", tmp_path / "no-tmpfs"))
    assert "config key scratch.shm: " in str(err.value)
    assert "is not an existing directory; it must be a mounted tmpfs" in str(err.value)
    # Only a scratch an experiment uses is checked: a disk-only grid does not need a tmpfs.
    config = {**_config(storage=["disk"]), "scratch": {"shm": str(tmp_path / "no-tmpfs")}}
    assert resolve_config(config)


def test_a_disk_scratch_under_a_file_is_refused(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError) as err:
        resolve_config(_with_scratch(tmp_path, "disk", tmp_path / "a-file" / "scratch"))
    assert f"config key scratch.disk: '{tmp_path / 'a-file' / 'scratch'}' cannot be created" in str(
        err.value
    )
    assert "is not a directory" in str(err.value)


def test_a_missing_disk_scratch_is_fine_where_it_can_be_created(tmp_path):
    assert resolve_config(_with_scratch(tmp_path, "disk", tmp_path / "new" / "deeper"))
    assert not (tmp_path / "new").exists()  # checking creates nothing


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only tmpfs: unwritable even for root, who passes every permission check."""
    path = tmp_path / "ro"
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here ({done.stderr.decode().strip()})")
    yield path
    subprocess.run(["umount", str(path)], check=True)


@pytest.mark.parametrize("storage", ["disk", "shm"])
def test_an_unwritable_scratch_is_refused(read_only_dir, tmp_path, storage):
    with pytest.raises(ConfigError) as err:
        resolve_config(_with_scratch(tmp_path, storage, read_only_dir))
    assert f"config key scratch.{storage}: '{read_only_dir}' is not writable" in str(err.value)
    if storage == "disk":
        with pytest.raises(ConfigError, match="cannot be created: .* is not writable"):
            resolve_config(_with_scratch(tmp_path, storage, read_only_dir / "sub"))


def test_experiment_hash_follows_what_is_measured():
    config = resolve_config(_config())
    base = experiment_hash(config, "e")
    assert len(base) == 16 and int(base, 16) >= 0
    # Defaults written out change nothing: the hash is of the resolved section.
    assert experiment_hash(resolve_config(_config(repeats=3, rounds=2, warmup=1)), "e") == base
    for changed in (_config(repeats=7), _config(workers=[1, 2]), _config(sizes=["64x48"])):
        assert experiment_hash(resolve_config(changed), "e") != base
    reseeded = resolve_config({**_config(), "dataset_seed": 1})
    assert experiment_hash(reseeded, "e") != base
    # A title does not change what a cell measures.
    assert experiment_hash(resolve_config(_config(description="new title")), "e") == base


def _dry_run(workdir: Path, config: dict) -> subprocess.CompletedProcess:
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    return snakemake(workdir, "--cores", "1", "-n", config="bad.yaml", check=False, timeout=300)


@pytest.mark.e2e
def test_a_bad_config_stops_snakemake_before_any_job(tmp_path):
    done = _dry_run(tmp_path, _config(workers=[2], timeout_s=0))
    assert done.returncode != 0
    assert "timeout_s" in done.stdout + done.stderr
    done = _dry_run(
        tmp_path, {**_config(storage=["shm"]), "scratch": {"shm": str(tmp_path / "no-tmpfs")}}
    )
    assert done.returncode != 0
    assert "config key scratch.shm: " in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()


def test_saving_tasks_have_no_cold_state_with_file_eviction():
    config = resolve_config(_config(tasks=["save_png", "decode"], cache=["cold"]))
    cells = expand_cells(config)
    assert {c.cache for c in cells if c.task == "save_png"} == {"warm"}
    assert {c.cache for c in cells if c.task == "decode"} == {"cold"}
    # With whole-system eviction a saving task can start cold: the page cache is dropped.
    config = resolve_config(_config(tasks=["save_png"], cache=["cold"], cache_eviction="system"))
    assert {c.cache for c in expand_cells(config)} == {"cold"}


def test_rounds_run_in_order_and_shuffled_with_the_seed():
    from imgbench.plan.grid import expand_runs, run_order

    config = resolve_config(_config(workers=[1, 2, 4], n_images=[4, 8], rounds=3))
    runs = expand_runs(config)
    assert len(runs) == 3 * len(expand_cells(config))
    assert {r.path for r in runs} >= {"e/cells/decode/disk-cold/640x480/n4/serial-w1-r3.json"}
    order = run_order(config, runs)
    ranked = sorted(runs, key=order.get)
    assert [r.round for r in ranked] == sorted(r.round for r in runs)
    per_round = [[r.cell for r in ranked if r.round == k] for k in (1, 2, 3)]
    assert per_round[0] != per_round[1] != per_round[2]
    assert run_order(config, runs) == order  # the same config, the same order
    other = run_order({**config, "order_seed": 2}, runs)
    assert other != order


def test_an_option_with_choices_takes_one_of_them():
    ok = _config(tasks=["save_png"], task_options={"save_png": {"durability": "fsync"}})
    assert resolve_config(ok)["experiments"]["e"]["task_options"]["save_png"]["durability"] == (
        "fsync"
    )
    bad = _config(tasks=["save_png"], task_options={"save_png": {"durability": "sync"}})
    with pytest.raises(ConfigError) as err:
        resolve_config(bad)
    assert (
        "experiments.e.task_options.save_png.durability: unknown value 'sync'; allowed: none, fsync"
        in str(err.value)
    )
