import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from imgbench.errors import ConfigError
from imgbench.measure.strategies import STRATEGIES
from imgbench.plan.checks import MAX_WORKERS, config_warnings, repetitions_for
from imgbench.plan.config import (
    apply_schema,
    check_config,
    experiment_hash,
    load_schema,
    load_yaml,
    merge_configs,
    resolve_config,
    review_config,
    task_options,
)
from imgbench.plan.grid import expand_cells, plan_datasets, source_dataset
from tests.helpers import ROOT, pythons_unavailable, snakemake


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
            "config key (top level): unknown key 'bogus'; allowed: ",
        ),
        (
            _config(wokers=[2]),
            "config key experiments.e: unknown key 'wokers'; did you mean 'workers'?",
        ),
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
            "config key scratch: unknown key 'ssd'; allowed: disk, shm",
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
        if pythons_unavailable(path):
            # Interpreters this machine lacks: the schema checks it (tests/plan/test_pythons.py
            # resolves one where they are).
            apply_schema(load_yaml(path))
            continue
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
    # format-content-colour-...
    assert {n.split("-")[2] for n in names} == {"grey", "rgb"}


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
    assert names["decode"] == f"jpeg-photo-rgb-32x16-n9-s{seed}"
    assert names["read"] == f"png-photo-rgb-32x16-n20-s{seed}"
    assert names["save_png"] == f"raw-photo-rgb-32x16-n9-s{seed}"
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
    bad = _config(tasks=["save_png"], task_options={"save_png": {"durability": "always"}})
    with pytest.raises(ConfigError) as err:
        resolve_config(bad)
    assert (
        "experiments.e.task_options.save_png.durability: unknown value 'always'; "
        "allowed: none, fsync" in str(err.value)
    )


# -- one pass, nearest names, warnings (imgbench validate-config and the workflow) ----------


@pytest.mark.parametrize(
    ("experiment", "message"),
    [
        (
            {"wokers": [2]},
            "config key experiments.e: unknown key 'wokers'; did you mean 'workers'?",
        ),
        (
            {"cache": ["cld"]},
            "config key experiments.e.cache[0]: 'cld' is not one of ['cold', 'warm']; "
            "did you mean 'cold'?",
        ),
        (
            {"strategies": ["serial", "thread"]},
            "config key experiments.e.strategies[1]: unknown value 'thread'; "
            "did you mean 'threads'?",
        ),
        (
            {"tasks": ["decod"]},
            "config key experiments.e.tasks[0]: unknown value 'decod'; did you mean 'decode'?",
        ),
        (
            {"tasks": ["blur_thumbnail"], "task_options": {"blur_thumbnail": {"radus": 3}}},
            "config key experiments.e.task_options.blur_thumbnail.radus: unknown option; "
            "did you mean 'radius'?",
        ),
        (
            {"tasks": ["save_png"], "task_options": {"save_png": {"durability": "sync"}}},
            "config key experiments.e.task_options.save_png.durability: unknown value 'sync'; "
            "did you mean 'fsync'?",
        ),
        (
            {"task_options": {"grayscal": {}}},
            "config key experiments.e.task_options.grayscal: unknown task 'grayscal'; "
            "did you mean 'grayscale'?",
        ),
    ],
)
def test_a_misspelt_key_or_value_gets_the_nearest_valid_one(experiment, message):
    review = review_config(_config(**experiment), cores=64)
    assert review.problems == [message]
    with pytest.raises(ConfigError) as err:
        resolve_config(_config(**experiment))
    assert str(err.value) == f"invalid config:\n  {message}"


def test_a_top_level_typo_is_named_beside_what_is_then_missing():
    review = review_config({"experiment": {"e": {"tasks": ["decode"]}}})
    assert review.problems == [
        "config key (top level): unknown key 'experiment'; did you mean 'experiments'?",
        "config key (top level): 'experiments' is a required property",
    ]


def test_every_problem_is_reported_at_once():
    # Schema errors (wrong key, wrong type, out of range) and registry problems (unknown
    # names, task options) together: before, the first schema error hid all the others.
    config = _config(
        wokers=[2],
        repeats=0,
        storage=["ssd"],
        strategies=["serial", "thread", "gpu"],
        tasks=["decode", "blur_thumbnail"],
        task_options={"blur_thumbnail": {"sigma": 1}},
    )
    review = review_config(config, cores=64)
    assert review.problems == [
        "config key experiments.e: unknown key 'wokers'; did you mean 'workers'?",
        "config key experiments.e.repeats: 0 is less than the minimum of 1",
        "config key experiments.e.storage[0]: 'ssd' is not one of ['disk', 'shm']",
        "config key experiments.e.strategies[1]: unknown value 'thread'; did you mean 'threads'?",
        "config key experiments.e.strategies[2]: unknown value 'gpu'; allowed: "
        + ", ".join(sorted(STRATEGIES)),
        "config key experiments.e.task_options.blur_thumbnail.sigma: unknown option; "
        "allowed: durability, radius, thumbnail",
    ]
    with pytest.raises(ConfigError) as err:
        resolve_config(config)
    assert str(err.value).splitlines()[1:] == [f"  {p}" for p in review.problems]


def test_wrong_types_are_named_once_not_checked_again():
    config = {"experiments": {"e": {"tasks": "decode", "strategies": [["serial"]]}, "f": 3}}
    assert review_config(config).problems == [
        "config key experiments.e.strategies[0]: ['serial'] is not of type 'string'",
        "config key experiments.e.tasks: 'decode' is not of type 'array'",
        "config key experiments.f: 3 is not of type 'object'",
    ]


def test_a_valid_config_has_no_problems_and_its_defaults():
    review = review_config(_config(), cores=64)
    assert review.problems == [] and review.warnings == []
    assert review.config == resolve_config(_config())


def test_the_repetitions_rule_is_the_analysis_rule():
    from imgbench.analysis.stats import median_ci

    needed = repetitions_for(0.95)
    assert needed == 6
    assert median_ci(range(needed))[2] == 0.95
    assert median_ci(range(needed - 1))[2] < 0.95


@pytest.mark.parametrize(
    ("rounds", "repeats", "warning"),
    [
        (
            1,
            3,
            "config key experiments.e: 1 round x 3 repeats = 3 timed repetitions per cell, "
            "fewer than the 6 a 95% CI of the median needs; its interval will be [min, max], "
            "at 75% confidence",
        ),
        (
            1,
            1,
            "config key experiments.e: 1 round x 1 repeat = 1 timed repetition per cell, "
            "fewer than the 6 a 95% CI of the median needs; a single repetition gives no interval",
        ),
        (2, 3, None),
        (6, 1, None),
    ],
)
def test_too_few_repetitions_for_a_ci_are_warned_not_refused(rounds, repeats, warning):
    config = _config(rounds=rounds, repeats=repeats, workers=[1])
    review = review_config(config, cores=64)
    assert review.problems == []
    assert review.warnings == ([warning] if warning else [])
    resolve_config(config)  # accepted


def test_more_workers_than_cores_are_warned_for_cpu_work_only():
    config = _config(tasks=["decode", "sleep"], workers=[1, 2, 4, 64])
    assert config_warnings(resolve_config(config), cores=2) == [
        "config key experiments.e.workers: 4, 64 exceed the 2 cores usable here; the "
        "CPU-bound tasks (decode) can use at most 2 at once"
    ]
    one = _config(workers=[1, 3])
    assert config_warnings(resolve_config(one), cores=1) == [
        "config key experiments.e.workers: 3 exceeds the 1 core usable here; the CPU-bound "
        "tasks (decode) can use at most 1 at once"
    ]
    # Waiting work may use more workers than cores; the loop uses none.
    assert config_warnings(resolve_config(_config(tasks=["sleep"], workers=[64])), cores=2) == []
    serial = _config(strategies=["serial"], workers=[64])
    assert config_warnings(resolve_config(serial), cores=2) == []


def test_persistent_pools_add_a_kept_form_of_each_pool_strategy():
    def strategies(**experiment) -> set[str]:
        config = resolve_config(_config(workers=[2], **experiment))
        return {c.strategy for c in expand_cells(config)}

    listed = ["serial", "threads", "processes_shm", "asyncio"]
    assert strategies(strategies=listed) == set(listed)  # per batch by default
    assert strategies(strategies=listed, pool=["per_batch", "persistent"]) == {
        *listed,
        "threads_persistent",
        "processes_shm_persistent",
    }
    # Persistent only: the pool strategies run kept; those without a pool run as they are.
    assert strategies(strategies=listed, pool=["persistent"]) == {
        "serial",
        "threads_persistent",
        "processes_shm_persistent",
        "asyncio",
    }
    warned = config_warnings(resolve_config(_config(strategies=listed, pool=["persistent"])))
    assert any("pool: asyncio has no pool to keep" in w for w in warned), warned
    assert not [w for w in config_warnings(resolve_config(_config())) if "pool" in w]


def test_the_workflow_gets_the_same_problems_and_warnings():
    # WorkflowPlan calls check_config: it raises with the problems validate-config lists and
    # returns its warnings, for the workflow to print.
    config = resolve_config(_config(rounds=1, repeats=2, workers=[1]))
    assert check_config(config) == review_config(config).warnings
    assert len(check_config(config)) == 1
    bad = apply_schema(_config(strategies=["serial", "thread"]))
    with pytest.raises(ConfigError) as err:
        check_config(bad)
    assert str(err.value).splitlines()[1:] == [f"  {p}" for p in review_config(bad).problems]


def test_files_merge_as_snakemake_merges_them():
    a = {
        "experiments": {"x": {"tasks": ["decode"], "strategies": ["serial"], "workers": [1, 2]}},
        "scratch": {"disk": "a"},
    }
    b = {"experiments": {"y": {"tasks": ["read"], "strategies": ["serial"]}, "x": {"workers": [4]}}}
    merged = merge_configs([a, b])
    # Mappings key by key (both experiments, both scratch settings), lists replaced.
    assert sorted(merged["experiments"]) == ["x", "y"]
    assert merged["experiments"]["x"] == {
        "tasks": ["decode"],
        "strategies": ["serial"],
        "workers": [4],
    }
    assert merged["scratch"] == {"disk": "a"}
    assert a["experiments"]["x"]["workers"] == [1, 2]  # the inputs are left alone
    # Snakemake's own semantics, file by file: what `snakemake --configfile A B` plans.
    from snakemake.utils import update_config

    expected: dict = {}
    for c in (copy.deepcopy(a), copy.deepcopy(b)):
        update_config(expected, c)
    assert merged == expected


def test_two_presets_merged_give_both_presets_experiments():
    presets = sorted((ROOT / "config" / "presets").glob("*.yaml"))[:2]
    merged = merge_configs(load_yaml(p) for p in presets)
    names = [set(load_yaml(p)["experiments"]) for p in presets]
    assert set(merged["experiments"]) == names[0] | names[1]
