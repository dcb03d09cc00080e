"""An experiment of the user's own images (``dataset: {path: DIR}``): its datasets are named
after the folder, the folder must exist, and nothing imgbench writes may lie inside it."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgbench.errors import ConfigError
from imgbench.measure.datasets import folder_content
from imgbench.plan.config import resolve_config
from imgbench.plan.grid import dataset_folders, expand_cells, plan_datasets


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), i * 40, np.uint8)).save(root / f"{i}.jpg")
    return root


def _config(folder, tmp_path, **top):
    return {
        "results_dir": str(tmp_path / "results"),
        "scratch": {"disk": str(tmp_path / "scratch"), "shm": str(tmp_path / "scratch")},
        **top,
        "experiments": {
            "own": {
                "tasks": ["decode", "save_png"],
                "strategies": ["serial", "threads"],
                "sizes": ["32x24"],
                "n_images": [3],
                "dataset": {"path": str(folder), "on_bad_image": "skip"},
            }
        },
    }


def test_the_datasets_of_a_folder_are_named_after_it(folder, tmp_path):
    config = resolve_config(_config(folder, tmp_path))
    datasets = set(plan_datasets(config, expand_cells(config)).values())
    content = folder_content(folder)
    assert {d.content for d in datasets} == {content}
    assert {d.format for d in datasets} == {"jpeg", "raw"}
    assert all(content in d.name for d in datasets)
    assert dataset_folders(config) == {content: (str(folder.resolve()), "skip")}


def test_a_folder_that_is_not_there_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"experiments\.own\.dataset\.path: .* not an existing"):
        resolve_config(_config(tmp_path / "nowhere", tmp_path))


@pytest.mark.parametrize("key", ["results_dir", "datasets_dir"])
def test_nothing_imgbench_writes_may_lie_in_the_folder(folder, tmp_path, key):
    config = _config(folder, tmp_path, **{key: str(folder / "out")})
    with pytest.raises(ConfigError, match=rf"{key} .* lies inside the image folder"):
        resolve_config(config)


def test_a_folder_is_made_again_when_it_changes(folder):
    from imgbench.measure.folder import folder_state

    before = folder_state(folder)
    assert folder_state(folder) == before
    (folder / "3.jpg").write_bytes((folder / "0.jpg").read_bytes())
    assert folder_state(folder) != before
    assert Path(folder / "3.jpg").is_file()


# -- native sizes ---------------------------------------------------------------------------


def _native(folder, tmp_path, **exp):
    config = _config(folder, tmp_path)
    config["experiments"]["own"] |= {"tasks": ["decode"], "sizes": ["native", "32x24"], **exp}
    return config


def test_native_cells_read_the_folders_files_as_found(folder, tmp_path):
    config = resolve_config(_native(folder, tmp_path))
    cells = expand_cells(config)
    native = [c for c in cells if (c.width, c.height) == (0, 0)]
    assert native and all(c.result_path(1).count("/0x0/") == 1 for c in native)
    datasets = {plan_datasets(config, cells)[c].name for c in native}
    seed = config["dataset_seed"]
    assert datasets == {f"native-{folder_content(folder)}-rgb-0x0-n3-s{seed}"}


@pytest.mark.parametrize(
    ("exp", "message"),
    [
        ({"tasks": ["save_png"]}, "sizes[0]: task 'save_png' encodes arrays of one size"),
        ({"strategies": ["serial", "vectorized"], "tasks": ["grayscale"]},
         "strategies: vectorized stacks images of one shape"),
        ({"dataset": None, "content": "photo"}, "sizes[0]: native means a folder's images "
         "as found; it needs dataset.path"),
    ],
)  # fmt: skip
def test_what_native_sizes_cannot_do_is_refused_naming_it(folder, tmp_path, exp, message):
    config = _native(folder, tmp_path, **exp)
    if config["experiments"]["own"]["dataset"] is None:
        del config["experiments"]["own"]["dataset"]
    with pytest.raises(ConfigError) as err:
        resolve_config(config)
    assert f"config key experiments.own.{message}" in str(err.value)


def test_native_sizes_with_another_library_are_refused(folder, tmp_path):
    pytest.importorskip("cv2")
    config = _native(folder, tmp_path, libraries=["opencv"])
    with pytest.raises(ConfigError, match=r"task 'decode_opencv' uses opencv, which reads some"):
        resolve_config(config)


def test_a_native_plan_is_estimated_from_the_folders_median_image(folder, tmp_path):
    from imgbench.plan.footprint import native_stand_in

    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(folder / "big.png")
    Image.fromarray(np.zeros((200, 100, 3), np.uint8)).save(folder / "mid.png")
    # By pixels: three 30x20 JPEGs, then 100x200 and 400x300 PNGs: the median is a JPEG.
    assert native_stand_in(folder) == ("jpeg", 30, 20)
    assert native_stand_in(tmp_path / "nothing here") == ("jpeg", 640, 480)
