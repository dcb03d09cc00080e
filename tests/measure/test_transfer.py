"""The bytes one image moves between processes, as a cell's result records them
(``transfer``): what the pipe carries pickled, and what travels by shared memory instead."""

import pickle

import numpy as np
import pytest
from PIL import Image

from imgbench.measure.result import Transfer
from imgbench.measure.runner import RunOptions, run_cell
from imgbench.vocabulary import CellSpec

# A handle (segment name, shape, dtype) and a path pickle to far less than this.
SMALL = 300


def _run(datasets, tmp_path, task, strategy, workers=2):
    dataset = datasets["raw" if task.startswith("save") else "jpeg"]
    cache = "warm"
    spec = CellSpec("t", task, "disk", cache, 48, 32, 4, strategy, workers)
    options = RunOptions(1, 0, dataset.directory, tmp_path / "scratch", tmp_path / "out.json")
    return run_cell(spec, options)


def _decoded(datasets) -> np.ndarray:
    path = datasets["jpeg"].paths(1)[0]
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_a_decoded_image_moves_its_pickled_array_through_a_process_pool(datasets, tmp_path):
    transfer = _run(datasets, tmp_path, "decode", "processes")["transfer"]
    assert set(transfer) == set(Transfer.__annotations__)
    array = _decoded(datasets)
    assert array.shape == (32, 48, 3)
    # The result is the decoded array: its pickle, within a few bytes (protocol framing).
    assert abs(transfer["result_pickled_bytes"] - len(pickle.dumps(array))) <= 16
    # The item is the image's path: small next to the pixels.
    assert 0 < transfer["item_pickled_bytes"] < SMALL
    assert transfer["bytes_pickled_per_image"] == (
        transfer["item_pickled_bytes"] + transfer["result_pickled_bytes"]
    )
    assert transfer["bytes_shared_per_image"] == 0


def test_chunked_pools_move_the_same_bytes_per_image(datasets, tmp_path):
    per_item = _run(datasets, tmp_path, "decode", "processes")["transfer"]
    chunked = _run(datasets, tmp_path, "decode", "processes_chunked")["transfer"]
    assert chunked == per_item


def test_shared_memory_moves_the_pixels_beside_the_pipe(datasets, tmp_path):
    transfer = _run(datasets, tmp_path, "decode", "processes_shm")["transfer"]
    assert transfer["bytes_shared_per_image"] == 32 * 48 * 3
    # The pipe carries the path out and the result's handle back.
    assert 0 < transfer["result_pickled_bytes"] < SMALL
    assert transfer["bytes_pickled_per_image"] < 2 * SMALL


def test_a_saving_task_shares_its_input_array_and_pickles_the_rest(datasets, tmp_path):
    pickled = _run(datasets, tmp_path, "save_png", "processes")["transfer"]
    shared = _run(datasets, tmp_path, "save_png", "processes_shm")["transfer"]
    nbytes = 32 * 48 * 3
    # Out: the array (and its output path); through shared memory, only its handle.
    assert pickled["item_pickled_bytes"] > nbytes
    assert pickled["bytes_shared_per_image"] == 0
    assert shared["bytes_shared_per_image"] == nbytes
    assert shared["item_pickled_bytes"] < SMALL
    assert shared["bytes_pickled_per_image"] < pickled["bytes_pickled_per_image"] - nbytes


@pytest.mark.parametrize("strategy", ["serial", "threads", "threads_chunked", "asyncio"])
def test_work_in_the_parent_s_process_moves_nothing(datasets, tmp_path, strategy):
    workers = 1 if strategy == "serial" else 2
    transfer = _run(datasets, tmp_path, "decode", strategy, workers)["transfer"]
    assert transfer == dict.fromkeys(Transfer.__annotations__, 0)
