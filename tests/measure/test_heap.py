"""Every repetition starts with the heap trimmed (``imgbench.measure.heap``), so each one
faults in the memory its results need instead of some getting it for free by luck."""

import sys

import numpy as np
import pytest

from imgbench.measure import heap
from imgbench.measure.datasets import make_dataset
from imgbench.measure.runner import RunOptions, run_cell
from imgbench.vocabulary import CellSpec

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or heap._malloc_trim() is None,
    reason="malloc_trim is glibc's",
)
PAGE = 4096


@glibc
def test_trim_exists_on_glibc():
    assert heap.trim() is True


@glibc
def test_every_repetition_faults_in_its_results(tmp_path):
    width, height, n = 640, 480, 8
    dataset = make_dataset(tmp_path / "d", "jpeg", width, height, n, seed=5)
    cell = CellSpec("t", "decode", "disk", "warm", width, height, n, "serial", 1)
    options = RunOptions(4, 1, dataset.directory, tmp_path / "scratch", tmp_path / "out.json")
    result = run_cell(cell, options)
    pages = n * width * height * 3 // PAGE
    reps = result["repetitions"]
    assert all(rep["heap_trimmed"] for rep in reps)
    # Each repetition holds all n decoded arrays at once: their pages are new every time.
    faults = [rep["minor_faults"] for rep in reps]
    assert min(faults) >= 0.9 * pages, faults
    assert max(faults) <= 1.5 * min(faults), faults


@glibc
def test_faults_count_the_work_not_the_snapshots():
    from imgbench.measure import usage

    heap.trim()  # else the array may land in memory the heap already holds
    before = usage.Snapshot.take()
    touched = np.ones(64 * PAGE * 16, np.uint8)  # 1024 fresh pages, written
    after = usage.Snapshot.take()
    counts = usage.resource_usage(before, after)
    # The kernel may map more than one page per fault (fault-around, huge pages): a quarter.
    assert counts["minor_faults"] >= 256 and counts["major_faults"] >= 0
    del touched
