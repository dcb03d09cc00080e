"""``processes_shm`` and its mechanism (``imgbench.measure.shared_memory``): arrays cross in
shared memory both ways, results are those of ``processes``, and no segment outlives its
batch, whether it succeeded, failed, lost a worker or was stopped by the cell's guard."""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from imgbench.errors import TaskError
from imgbench.measure import shared_memory, start_methods, strategies
from imgbench.measure.pools import WorkerDiedError
from imgbench.measure.shared_memory import ArrayHandle, Batch, segment_names
from imgbench.measure.strategies import STRATEGIES
from imgbench.measure.tasks import TASKS, Task
from imgbench.measure.tasks.task import VerifyContext
from tests.helpers import ROOT

pytestmark = pytest.mark.skipif(
    not Path(shared_memory.SHM_DIR).is_dir(), reason="segments are listed in /dev/shm (Linux)"
)
START_METHODS = [
    m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()
]
SHM = STRATEGIES["processes_shm"]


def _mine() -> list[str]:
    """This process's segments still in /dev/shm."""
    return segment_names(f"{shared_memory.NAME_PREFIX}{os.getpid()}-")


@pytest.fixture(autouse=True)
def _nothing_left_before_or_after():
    assert _mine() == []
    yield
    left = _mine()
    for name in left:  # so that one failure does not fail every later test
        os.unlink(Path(shared_memory.SHM_DIR) / name)
    assert left == []


ARRAYS = {
    "rgb": np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8),
    "grey": np.random.default_rng(2).integers(0, 256, (32, 48), dtype=np.uint8),
    "uint16": np.random.default_rng(3).integers(0, 65536, (5, 7, 4), dtype=np.uint16),
    "float32": np.random.default_rng(4).random((9, 3), dtype=np.float32),
    "not contiguous": np.random.default_rng(5).integers(0, 256, (8, 6, 3), np.uint8)[::2, ::-1],
    "empty": np.zeros((0, 48, 3), np.uint8),
}


# -- the mechanism, in this process -------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ARRAYS))
def test_an_array_makes_the_round_trip_in_both_directions(kind):
    array = ARRAYS[kind]
    with Batch(1) as batch:
        item = batch.send(0, (array, "out.png", "none"))
        handle = item[0]
        assert isinstance(handle, ArrayHandle) and item[1:] == ("out.png", "none")
        assert handle.name == batch.input_name(0, 0, 0) and handle.name in _mine()

        def work(local):
            view = local[0]
            # Mapped, not copied: the view's memory is the segment's, not the array's.
            assert not view.flags.owndata and not np.shares_memory(view, array)
            assert view.dtype == array.dtype
            np.testing.assert_array_equal(view, array)
            return view * 1  # a new array, as decode's would be

        result = shared_memory.call_with_arrays(work, item)
        shared = shared_memory.share_result(result, batch.result_slot(0))
        assert shared == ArrayHandle(batch.result_name(0, 0), array.shape, array.dtype.str)
        back = batch.receive(0, shared)
        assert back.flags.owndata and back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)
    # Left: the slot's segments are unlinked with the batch.
    assert _mine() == []


def test_a_slot_is_reused_by_later_items_and_grows_when_an_array_does_not_fit():
    small, large = ARRAYS["grey"], ARRAYS["rgb"]  # 1536 and 4608 bytes
    with Batch(3, slots=1) as batch:
        names = []
        for index, array in enumerate((small, small[::-1].copy(), large)):
            item = batch.send(index, array)
            result = shared_memory.call_with_arrays(lambda view: view + 1, item)
            handle = shared_memory.share_result(result, batch.result_slot(index))
            names.append((item.name, handle.name))
            np.testing.assert_array_equal(batch.receive(index, handle), array + 1)
            # One slot: one input and one result segment at a time, the older generation gone.
            assert sorted(_mine()) == sorted(names[-1])
        # The second item reused both segments; the larger third one needed new ones.
        assert names[0] == names[1] != names[2]
        assert names[2] == (batch.input_name(0, 0, 1), batch.result_name(0, 1))


def test_a_batch_gives_every_item_in_flight_its_own_slot():
    with Batch(4, slots=2) as batch:
        handles = [batch.send(i, ARRAYS["rgb"] + i) for i in range(3)]  # one more than slots
        assert len({h.name for h in handles}) == 3
        batch.receive(1, None)
        # The slot item 1 gave back is the next one taken.
        assert batch.send(3, ARRAYS["rgb"]).name == handles[1].name


def test_a_result_that_is_a_view_of_its_input_is_shared_before_the_input_closes():
    array = ARRAYS["rgb"]
    with Batch(1) as batch:
        item = batch.send(0, array)
        handle = shared_memory.call_with_arrays(
            lambda view: shared_memory.share_result(view[1:], batch.result_slot(0)), item
        )
        np.testing.assert_array_equal(batch.receive(0, handle), array[1:])


def test_anything_but_an_array_travels_as_it_is():
    objects = np.array([{"a": 1}, None], dtype=object)  # pointers: pickled, never shared
    with Batch(3) as batch:
        for value in ("a/path.jpg", b"bytes", 42, ("p", 1.0), objects):
            assert batch.send(0, value) is value
            assert shared_memory.share_result(value, batch.result_slot(0)) is value
            assert batch.receive(0, value) is value
        assert _mine() == []


def test_leaving_a_batch_unlinks_what_nobody_received():
    with pytest.raises(RuntimeError, match="a failed batch"), Batch(4) as batch:
        batch.send(0, (ARRAYS["rgb"], "a"))
        batch.send(1, (ARRAYS["grey"], "b"))
        # What a worker leaves when it dies after sharing its result, and an unused slot.
        shared_memory.share_result(ARRAYS["rgb"], batch.result_slot(2))
        assert len(_mine()) == 3
        raise RuntimeError("a failed batch")
    assert _mine() == []


def test_a_failing_tasks_frames_let_go_of_its_input_views():
    # Its mapping is closed when the call ends: a view kept by the traceback would point at
    # unmapped memory.
    def fails(local):
        view = local[0]  # noqa: F841 (a local of the failed frame)
        raise TaskError("cannot save")

    with Batch(1) as batch:
        item = batch.send(0, (ARRAYS["rgb"], "out.png"))
        with pytest.raises(TaskError) as failure:
            shared_memory.call_with_arrays(fails, item)
        frames = []
        tb = failure.value.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        assert frames[-1].f_code is fails.__code__  # still reported, line and all
        assert "view" not in frames[-1].f_locals


def test_a_full_tmpfs_is_refused_by_name_not_met_with_sigbus(monkeypatch):
    class Full:
        f_bavail, f_frsize = 1, 4096  # 4 KB free, less than the array

    monkeypatch.setattr(shared_memory.os, "statvfs", lambda path: Full())
    with Batch(1) as batch, pytest.raises(OSError, match=f"{batch.input_name(0, 0, 0)} needs"):
        batch.send(0, (ARRAYS["rgb"], "a"))
    assert _mine() == []


def test_a_stopped_cell_releases_its_batch_before_it_exits(tmp_path):
    # The guard ends the process with os._exit: no `finally` runs, the hook must.
    script = textwrap.dedent(
        """
        import time
        import numpy as np
        from imgbench.measure.guard import CellGuard
        from imgbench.measure.shared_memory import Batch, share_result

        with CellGuard("the cell", 1.0):
            with Batch(2) as batch:
                batch.send(0, (np.ones((4, 4, 3), np.uint8), "out.png"))
                share_result(np.ones(3), batch.result_slot(1))
                print(batch.prefix, flush=True)
                time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 124, done.stderr
    prefix = done.stdout.strip()
    assert prefix.startswith(shared_memory.NAME_PREFIX)
    assert segment_names(prefix) == []


# -- the strategy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "color"), [("decode", "rgb"), ("grayscale", "rgb"), ("decode", "grey")]
)
def test_results_are_those_of_processes(tmp_path, datasets, task, color):
    if color == "grey":
        from imgbench.measure.datasets import make_dataset

        paths = make_dataset(tmp_path / "g", "png", 48, 32, 5, seed=3, color="grey").paths(5)
    else:
        paths = datasets["jpeg"].paths(7)
    items = [str(p) for p in paths]
    shared = SHM.run(TASKS[task], items, 2).results
    pickled = STRATEGIES["processes"].run(TASKS[task], items, 2).results
    assert len(shared) == len(pickled) == len(items)
    for got, want in zip(shared, pickled, strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert (shared[0].ndim, color) in ((3, "rgb"), (2, "rgb"), (2, "grey"))


def test_saved_files_are_those_of_processes(tmp_path, datasets):
    arrays = datasets["raw"].load_arrays(6)
    files = {}
    for name in ("processes_shm", "processes"):
        (tmp_path / name).mkdir()
        items = [(a, str(tmp_path / name / f"{i}.png"), "none") for i, a in enumerate(arrays)]
        outcome = STRATEGIES[name].run(TASKS["save_png"], items, 2)
        assert outcome.results == [item[1] for item in items]
        files[name] = [Path(p).read_bytes() for p in outcome.results]
    assert files["processes_shm"] == files["processes"]


def test_a_failed_image_fails_the_batch_and_leaves_no_segment(tmp_path, datasets):
    arrays = datasets["raw"].load_arrays(6)
    items = [(a, str(tmp_path / f"{i}.png"), "none") for i, a in enumerate(arrays)]
    items[3] = (arrays[3], str(tmp_path / "no such directory" / "3.png"), "none")
    with pytest.raises(TaskError, match="no such directory"):
        SHM.run(TASKS["save_png"], items, 2)


def _killed_on_the_fourth(item):
    array, path = item
    if path.endswith("3"):
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)  # the others are still in flight when it dies
    return array[::-1].copy()


KILLER = Task("killer", "kills its worker on the fourth item", "arrays", _killed_on_the_fourth,
              None, None)  # fmt: skip


@pytest.mark.parametrize("method", START_METHODS)
def test_a_worker_killed_mid_batch_is_named_and_leaves_no_segment(method):
    items = [(ARRAYS["rgb"] + i, str(i)) for i in range(10)]
    died = r"a worker process \(pid \d+\) died \(signal SIGKILL\)"
    with start_methods.pinned_start_method(method), pytest.raises(WorkerDiedError, match=died):
        SHM.run(KILLER, items, 2)


@pytest.mark.parametrize("method", START_METHODS)
def test_every_start_method_moves_arrays_both_ways(tmp_path, datasets, method):
    arrays = datasets["raw"].load_arrays(3)
    saves = [(a, str(tmp_path / f"{i}.png"), "none") for i, a in enumerate(arrays)]
    reads = [str(p) for p in datasets["png"].paths(3)]
    with start_methods.pinned_start_method(method):
        saved = SHM.run(TASKS["save_png"], saves, 2)
        decoded = SHM.run(TASKS["decode"], reads, 2)
    ctx = VerifyContext(3, 48, 32, output_paths=[Path(s[1]) for s in saves])
    ctx.output_dir, ctx.source_arrays = tmp_path, arrays
    TASKS["save_png"].verify(ctx, saved.results)
    for got, want in zip(decoded.results, arrays, strict=True):
        np.testing.assert_array_equal(got, want)


TRACKED_RUN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from imgbench.measure import start_methods, strategies
    from imgbench.measure.datasets import load_manifest
    from imgbench.measure.tasks import TASKS

    if __name__ == "__main__":
        raw, png, out = (Path(a) for a in sys.argv[2:5])
        arrays = load_manifest(raw).load_arrays(4)
        saves = [(a, str(out / f"{i}.png"), "none") for i, a in enumerate(arrays)]
        with start_methods.pinned_start_method(sys.argv[1]):
            # Decode first: its parent makes no segment before the workers start.
            for _ in range(2):
                strategies.run_processes_shm(TASKS["decode"], load_manifest(png).paths(4), 2)
                strategies.run_processes_shm(TASKS["save_png"], saves, 2)
        print("done")
    """
)


@pytest.mark.parametrize("method", START_METHODS)
def test_the_resource_tracker_reports_nothing_leaked(tmp_path, datasets, method):
    # On 3.11 and 3.12 every segment a process creates or attaches is registered with the
    # resource tracker, which warns about (and unlinks) what is still registered when it
    # ends: after the whole process tree has, so its stderr is read to the end here.
    script = tmp_path / "run.py"
    script.write_text(TRACKED_RUN)
    out = tmp_path / "out"
    out.mkdir()
    args = [datasets["raw"].directory, datasets["png"].directory, out]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(script), method, *map(str, args)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout == "done\n", done.stderr
    assert "resource_tracker" not in done.stderr and "leaked" not in done.stderr, done.stderr


def _mapped_from(item):
    """Which file the worker's input array is mapped from, and how many segments of the
    parent's exist while the worker holds it."""
    array, prefix = item
    address = array.__array_interface__["data"][0]
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        low, high = (int(x, 16) for x in fields[0].split("-"))
        if low <= address < high:
            source = fields[5] if len(fields) > 5 else "(anonymous)"
            return source, len(segment_names(prefix))
    return "(not mapped)", len(segment_names(prefix))


WHERE = Task("where", "where the input lies", "arrays", _mapped_from, None, None)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="Linux /proc")
def test_workers_map_their_inputs_from_segments_made_only_as_needed():
    prefix = f"{shared_memory.NAME_PREFIX}{os.getpid()}-"
    items = [(ARRAYS["rgb"] + i, prefix) for i in range(12)]
    results = SHM.run(WHERE, items, 2).results
    assert all(source.startswith(f"/dev/shm/{prefix}") for source, _ in results), results
    # Made as submitted, unlinked as their results come back: at most the items submitted
    # ahead exist at once, not the whole batch.
    assert max(alive for _, alive in results) <= strategies.SHM_AHEAD_PER_WORKER * 2


def test_the_pipe_carries_handles_not_pixels(monkeypatch, datasets):
    import pickle

    received = []
    receive = Batch.receive

    def spy(self, index, value):
        received.append(value)
        return receive(self, index, value)

    monkeypatch.setattr(Batch, "receive", spy)
    items = [str(p) for p in datasets["jpeg"].paths(4)]
    outcome = SHM.run(TASKS["decode"], items, 2)
    assert [type(v) for v in received] == [ArrayHandle] * 4
    assert max(len(pickle.dumps(v, protocol=5)) for v in received) < 200
    assert outcome.results[0].nbytes == 48 * 32 * 3
