"""Faults a run must survive, made for real: hung tasks, killed workers, damaged datasets,
full storage, interrupted workflows. Each failing cell must end promptly with one line that
names it and the cause, leave no result, no scratch files and no processes behind, and let
the rest of the run go on."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import yaml
from PIL import Image

from imgbench.errors import DatasetError, ImgbenchError, TaskError, VerificationError
from imgbench.measure.datasets import make_dataset
from imgbench.measure.guard import TIMEOUT_STATUS
from imgbench.measure.runner import RunOptions, run_cell
from imgbench.measure.shared_memory import NAME_PREFIX, segment_names
from imgbench.vocabulary import CellSpec
from tests.helpers import ROOT, job_stats, snakemake

SRC = ROOT / "src"
#: Generous: the machine may be busy; a hang without the guard would take an hour.
PROMPT_S = 30

# A test-only task, registered by importing this module in the run-cell process, so that a
# real process runs into a real hang. Each worker notes its pid, to check it was killed.
HANG_MODULE = textwrap.dedent(
    """
    import asyncio
    import os
    import time
    from pathlib import Path

    from imgbench.measure.tasks import TASKS, Task
    from imgbench.measure.tasks.images import decode_image, verify_arrays

    def _note():
        (Path(os.environ["IMGBENCH_TEST_PIDS"]) / str(os.getpid())).touch()

    # The cell's own process primes the task once before any repetition (untimed): let that
    # call through, so that the hang happens where it is meant to, in the timed work.
    PARENT = os.getpid()
    primed = False

    def hang(path):
        global primed
        if os.getpid() == PARENT and not primed:
            primed = True
            return decode_image(path)
        _note()
        time.sleep(3600)

    async def ahang(path):
        return await asyncio.to_thread(hang, path)

    async def adecode(path):
        return decode_image(path)

    def hang_in_verify(ctx, results):
        time.sleep(3600)

    TASKS["hang"] = Task("hang", "sleeps for an hour", "files", hang, ahang, verify_arrays)
    TASKS["hang_verify"] = Task(
        "hang_verify", "decodes; verifying sleeps", "files", decode_image, adecode, hang_in_verify
    )
    """
)
DRIVER = "import sys, hangtask; from imgbench.cli import main; raise SystemExit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault-data")
    return {"small": make_dataset(root / "small", "jpeg", 48, 32, 6, seed=7)}


def _cell_args(task, strategy, workers, dataset, out, scratch, n=4, size="48x32", repeats=2):
    return [
        "run-cell",
        *("--experiment", "e", "--task", task, "--storage", "disk", "--cache", "warm"),
        *("--size", size, "--n-images", str(n), "--strategy", strategy),
        *("--workers", str(workers), "--repeats", str(repeats), "--warmup", "1"),
        *("--dataset", str(dataset), "--scratch", str(scratch), "--output", str(out)),
    ]


def _start(tmp_path, args, driver=False):
    """Start ``imgbench`` (with the hanging tasks registered when ``driver``)."""
    modules = tmp_path / "modules"
    modules.mkdir(exist_ok=True)
    (modules / "hangtask.py").write_text(HANG_MODULE)
    pids = tmp_path / "pids"
    pids.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(modules)]),
        "IMGBENCH_TEST_PIDS": str(pids),
    }
    command = [sys.executable, "-c", DRIVER] if driver else [sys.executable, "-m", "imgbench"]
    return subprocess.Popen(
        [*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _assert_clean(out, scratch, pids=()):
    """No result (nor a temporary one), no scratch area, none of the processes alive."""
    assert not out.exists()
    if out.parent.exists():
        assert not list(out.parent.glob(f".{out.name}*"))
    if scratch.exists():
        assert list(scratch.iterdir()) == []
    deadline = time.monotonic() + 10
    while [p for p in pids if _alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "worker processes left running"


# -- a cell past its time limit -----------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "strategy", "workers"),
    [
        ("hang", "threads", 2),
        ("hang", "processes", 2),
        ("hang", "asyncio", 2),
        ("hang_verify", "serial", 1),
    ],
)
def test_a_hung_cell_is_stopped_at_its_time_limit(tmp_path, jpegs, task, strategy, workers):
    out, scratch = tmp_path / "out" / "cell.json", tmp_path / "scratch"
    args = _cell_args(task, strategy, workers, jpegs["small"].directory, out, scratch)
    started = time.monotonic()
    proc = _start(tmp_path, [*args, "--timeout", "2"], driver=True)
    _, stderr = proc.communicate(timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == TIMEOUT_STATUS, stderr
    assert elapsed < 2 + PROMPT_S
    last = stderr.strip().splitlines()[-1]
    assert last == (
        f"imgbench: error: {out}: exceeded its time limit of 2 s (timeout_s); "
        "stopped, its worker processes killed, no result written"
    )
    # Where it hung is shown, for the log (a worker process's stack is its own).
    assert "where each thread was at the time limit" in stderr
    if strategy != "processes":
        assert ("in hang_in_verify" if task == "hang_verify" else "in hang") in stderr
    pids = [int(p.name) for p in (tmp_path / "pids").iterdir()]
    assert pids or task == "hang_verify"
    _assert_clean(out, scratch, pids)


def test_a_cell_within_its_limit_records_it_and_the_config_hash(tmp_path, jpegs):
    out, scratch = tmp_path / "out" / "cell.json", tmp_path / "scratch"
    args = _cell_args("decode", "processes", 2, jpegs["small"].directory, out, scratch)
    proc = _start(tmp_path, [*args, "--timeout", "600", "--config-hash", "0123abcd"])
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    run = json.loads(out.read_text())["run"]
    assert run["config_hash"] == "0123abcd" and run["timeout_s"] == 600
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_time_limit_is_refused(tmp_path, jpegs, value):
    out = tmp_path / "cell.json"
    args = _cell_args("decode", "serial", 1, jpegs["small"].directory, out, tmp_path / "s")
    proc = _start(tmp_path, [*args, f"--timeout={value}"])
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"--timeout: {value!r}: expected a number of seconds > 0" in stderr


# -- a worker process killed, the cell signalled ----------------------------------------------


def _is_helper(process) -> bool:
    # The memory sampler of the warm-ups (measure/usage.py, run as a script) is a child for
    # a moment before it detaches, and on Python 3.11 and 3.12 processes_shm's segments are
    # registered with multiprocessing's resource tracker, a child too: neither is a worker.
    try:
        return any(
            arg.endswith("usage.py") or "resource_tracker" in arg for arg in process.cmdline()
        )
    except psutil.Error:
        return True


def _non_helpers(proc) -> list:
    children = psutil.Process(proc.pid).children()
    return [w for w in children if _alive(w.pid) and not _is_helper(w)]


def _workers_of(proc):
    """The pool workers of a running cell, once a repetition has been under way a moment."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        workers = psutil.Process(proc.pid).children()
        if workers:
            time.sleep(0.2)  # into the repetition's work, not its pool start-up
            workers = _non_helpers(proc)
            # A helper caught between its fork and its exec still shows the cell's command
            # line: only a list that holds still for a moment is the pool's.
            time.sleep(0.1)
            if workers and workers == _non_helpers(proc):
                return workers
        time.sleep(0.02)
    raise AssertionError("the cell started no worker processes")


@pytest.mark.parametrize("strategy", ["processes", "processes_chunked", "processes_shm"])
def test_a_killed_worker_fails_the_cell_promptly(tmp_path, jpegs, strategy):
    out, scratch = tmp_path / "out" / "cell.json", tmp_path / "scratch"
    # Each repetition lasts 1.5 s whatever the machine's speed (3 sleeps of 0.5 s per
    # worker), so the kill lands inside one: a task timed by its work (grayscale_loop took
    # 0.2 s per repetition on a quiet machine) let the cell end before the kill.
    args = _cell_args("sleep", strategy, 2, jpegs["small"].directory, out, scratch, 6, "48x32", 3)
    proc = _start(tmp_path, [*args, "--option", "sleep_ms=500"])
    workers = _workers_of(proc)
    victim = workers[0]
    victim.kill()
    killed = time.monotonic()
    _, stderr = proc.communicate(timeout=120)
    assert time.monotonic() - killed < PROMPT_S
    assert proc.returncode == 1, stderr
    assert (
        f"imgbench: error: {out}: a worker process (pid {victim.pid}) died (signal SIGKILL) "
        "during repetition " in stderr
    )
    _assert_clean(out, scratch, [w.pid for w in workers])
    # processes_shm: the cell's segments (named after its pid) are gone, its workers' too,
    # and released by the cell itself, not by the resource tracker (which would warn).
    assert segment_names(f"{NAME_PREFIX}{proc.pid}-") == []
    assert "leaked" not in stderr


def _hold_the_call_queue_lock() -> int:
    """In a pool's worker: take its call queue's read lock and keep it, as a worker killed
    while reading the queue keeps it (then the worker's own next read waits for it too)."""
    import gc
    import multiprocessing.queues

    (queue,) = [o for o in gc.get_objects() if isinstance(o, multiprocessing.queues.Queue)]
    queue._rlock.acquire()
    return os.getpid()


def test_a_worker_killed_during_the_shutdown_fails_it_instead_of_hanging_it():
    # CPython's shutdown joins the workers with no deadline: a worker killed while it holds
    # the call queue's lock leaves the others blocked on that lock, and the shutdown with
    # them. One worker takes the lock and keeps it; once the shutdown waits for the workers
    # (neither can read its stop sentinel), that worker is killed.
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor, wait

    from imgbench.measure.pools import WorkerDiedError, shut_down

    executor = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
    holder = executor.submit(_hold_the_call_queue_lock)
    # An idle worker holds the lock while it waits for a call: calls for it to take, until
    # it lets the lock go to the holder.
    others = []
    while not holder.done():
        others.append(executor.submit(abs, -1))
        time.sleep(0.02)
    wait(others, timeout=PROMPT_S)
    victim = executor._processes[holder.result()]
    raised = []

    def shut():
        try:
            shut_down(executor)
        except WorkerDiedError as exc:
            raised.append(str(exc))

    thread = threading.Thread(target=shut, daemon=True)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()  # neither worker can read its stop sentinel
    victim.kill()
    thread.join(PROMPT_S)
    assert not thread.is_alive(), "the shutdown hung on a dead worker's lock"
    assert raised == [f"a worker process (pid {victim.pid}) died (signal SIGKILL)"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signalled_cell_stops_cleanly(tmp_path, jpegs, signum):
    out, scratch = tmp_path / "out" / "cell.json", tmp_path / "scratch"
    dataset = jpegs["small"].directory
    args = _cell_args("sleep", "processes", 2, dataset, out, scratch, 6, "48x32", 3)
    proc = _start(tmp_path, [*args, "--option", "sleep_ms=500"])
    workers = _workers_of(proc)
    proc.send_signal(signum)  # the cell's process only: its workers are its to stop
    _, stderr = proc.communicate(timeout=PROMPT_S)
    assert proc.returncode == 128 + signum, stderr
    name = signal.Signals(signum).name
    assert f"imgbench: error: {out}: stopped by {name}; no result written" in stderr
    _assert_clean(out, scratch, [w.pid for w in workers])


@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, True)],
    ids=["SIGTERM", "SIGTERM-to-all", "ctrl-c"],
)
def test_an_interrupted_dataset_leaves_nothing_behind(tmp_path, signum, whole_group):
    out = tmp_path / "ds"
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgbench", "make-dataset", "--format", "jpeg"]
        + ["--size", "1920x1080", "--count", "400", "--seed", "1", "--workers", "2"]
        + ["--output", str(out)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob(".ds.tmp-*/*.jpg"))) < 2:  # under way
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    workers = psutil.Process(proc.pid).children()
    if whole_group:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=PROMPT_S)
    assert proc.returncode == 128 + signum, stderr
    assert f"{out}: stopped by {signal.Signals(signum).name}; nothing written" in stderr
    assert list(tmp_path.iterdir()) == []  # no half-made dataset, no temporary directory
    _assert_clean(out, tmp_path, [w.pid for w in workers])


# -- damaged datasets ------------------------------------------------------------------------


def _bmp_of(width, height):
    """A BMP file's bytes: 54 header bytes, rows padded to 4 bytes."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buf, format="BMP")
    return buf.getvalue()


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """Fresh datasets per damage: a BMP (fixed size per dimension) and a JPEG dataset."""
    root = tmp_path_factory.mktemp("damaged")
    made = {}

    def make(name, fmt):
        raw = made.setdefault("raw", make_dataset(root / "raw", "raw", 48, 32, 4, seed=3))
        return make_dataset(root / name, fmt, 48, 32, 4, seed=3, source=raw.directory)

    return make


@pytest.mark.parametrize(
    ("damage", "fmt", "task", "error", "message"),
    [
        ("truncated", "jpeg", "decode", DatasetError, "corrupt or truncated"),
        ("garbage of the same length", "jpeg", "decode", TaskError, "cannot decode"),
        ("other dimensions", "jpeg", "decode", DatasetError, "corrupt or truncated"),
        # 32x48 and 48x32 RGB BMPs have the same length: only verification can tell.
        ("other dimensions, same length", "bmp", "decode", VerificationError, "decoded to"),
        ("other dimensions, same length", "bmp", "read", VerificationError, "bytes returned"),
        ("missing", "jpeg", "decode", DatasetError, "missing from the dataset"),
    ],
)
def test_a_damaged_dataset_file_fails_the_cell_naming_it(
    tmp_path, damaged, damage, fmt, task, error, message
):
    dataset = damaged(f"{damage}-{fmt}-{task}".replace(" ", "_").replace(",", ""), fmt)
    victim = dataset.paths(4)[2]
    data = victim.read_bytes()
    if damage == "truncated":
        victim.write_bytes(data[: len(data) // 2])
    elif damage == "garbage of the same length":
        victim.write_bytes(bytes(range(256)) * (len(data) // 256) + b"x" * (len(data) % 256))
    elif damage == "other dimensions":
        Image.new("RGB", (96, 64), (1, 2, 3)).save(victim, format="JPEG")
    elif damage == "other dimensions, same length":
        replacement = _bmp_of(32, 48)
        assert len(replacement) == len(data)
        victim.write_bytes(replacement)
    else:
        victim.unlink()
    out, scratch = tmp_path / "cell.json", tmp_path / "scratch"
    spec = CellSpec("e", task, "disk", "warm", 48, 32, 4, "threads", 2)
    with pytest.raises(error) as err:
        run_cell(spec, RunOptions(1, 0, dataset.directory, scratch, out))
    assert str(victim) in str(err.value) and message in str(err.value)
    _assert_clean(out, scratch)


# -- storage full ---------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path):
    path = tmp_path / "tmpfs"
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs here ({done.stderr.decode().strip()})")
    yield path
    subprocess.run(["umount", str(path)], check=True)


@pytest.fixture(scope="module")
def big_images(tmp_path_factory):
    """Each set is larger than 1 MiB: 16 PNGs of 256x256, or 8 BMPs of 256x256."""
    root = tmp_path_factory.mktemp("big")
    raw = make_dataset(root / "raw", "raw", 256, 256, 16, seed=5)
    return {"raw": raw, "bmp": make_dataset(root / "bmp", "bmp", 256, 256, 8, seed=5)}


@pytest.mark.parametrize("strategy", ["serial", "threads", "processes", "processes_shm", "asyncio"])
def test_a_full_tmpfs_fails_a_save_naming_the_file(tmp_path, small_tmpfs, big_images, strategy):
    workers = 1 if strategy == "serial" else 2
    spec = CellSpec("e", "save_png", "shm", "warm", 256, 256, 16, strategy, workers)
    out = tmp_path / "cell.json"
    with pytest.raises(ImgbenchError) as err:
        run_cell(spec, RunOptions(1, 0, big_images["raw"].directory, small_tmpfs, out))
    text = str(err.value)
    assert "No space left on device" in text
    assert f"{small_tmpfs}/imgbench-" in text and "/out/img_0000" in text and ".png" in text
    # Nothing half-written is left, let alone counted: no result, an empty tmpfs.
    _assert_clean(out, small_tmpfs)


def test_a_full_tmpfs_fails_staging_naming_the_file(tmp_path, small_tmpfs, big_images):
    spec = CellSpec("e", "read", "shm", "warm", 256, 256, 8, "serial", 1)
    out = tmp_path / "cell.json"
    with pytest.raises(ImgbenchError, match=r"/inputs/img_0000\d\d\.bmp: cannot stage input"):
        run_cell(spec, RunOptions(1, 0, big_images["bmp"].directory, small_tmpfs, out))
    _assert_clean(out, small_tmpfs)


# -- the workflow: one failing cell, an interrupted run ----------------------------------------


def _snakemake(workdir, *args, check=True, **popen):
    return snakemake(workdir, *args, config="c.yaml", check=check, timeout=600, **popen)


def _experiment(**changes):
    experiment = {
        "tasks": ["decode"],
        "strategies": ["serial"],
        "workers": [1],
        "n_images": [4],
        "sizes": ["32x24"],
        "storage": ["disk"],
        "cache": ["warm"],
        "repeats": 1,
        "rounds": 1,
        "warmup": 0,
    }
    return {**experiment, **changes}


@pytest.mark.e2e
def test_keep_going_finishes_the_other_cells_when_one_fails(tmp_path):
    config = {
        "experiments": {
            "ok": _experiment(format="png"),
            "bad": _experiment(n_images=[2, 4]),
        },
        "scratch": {"disk": str(tmp_path / "scratch")},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    seed = 20261122
    dataset = tmp_path / f"results/datasets/jpeg-photo-rgb-32x24-n4-s{seed}"
    _snakemake(tmp_path, "--cores", "2", str(dataset.relative_to(tmp_path)))
    victim = dataset / "img_000003.jpg"
    victim.write_bytes(victim.read_bytes()[:50])

    done = _snakemake(tmp_path, "--cores", "2", "--keep-going", check=False)
    assert done.returncode != 0
    cells = tmp_path / "results/{}/cells/decode/disk-warm/32x24/{}/serial-w1-r1.json"
    assert Path(str(cells).format("ok", "n4")).is_file()
    assert Path(str(cells).format("bad", "n2")).is_file()  # its images are intact
    assert not Path(str(cells).format("bad", "n4")).exists()
    assert (tmp_path / "results/ok/slides.html").is_file()  # the healthy experiment is done
    log = tmp_path / "results/logs/bad/cells/decode/disk-warm/32x24/n4/serial-w1-r1.log"
    assert f"{victim.relative_to(tmp_path)}: 50 bytes" in log.read_text()
    assert "Error in rule cell" in done.stdout + done.stderr
    assert list((tmp_path / "scratch").iterdir()) == []


# Cells of a few seconds (on an idle machine), so that a signal reaches one mid-work.
SLOW = {
    "experiments": {
        "slow": _experiment(
            tasks=["grayscale_loop"],
            strategies=["serial", "processes"],
            workers=[2],
            # About 4 s a cell: long enough that the signal lands well inside one.
            n_images=[24],
            sizes=["300x300"],
            repeats=3,
            warmup=1,
        )
    }
}
SLOW_CELLS = [
    f"results/slow/cells/grayscale_loop/disk-warm/300x300/n24/{name}-r1.json"
    for name in ("processes-w2", "serial-w1")
]


def _default_sigint() -> None:
    # A command started in the background by a non-interactive shell (`cmd &`, as some CI
    # runners start the tests) ignores SIGINT, and its children inherit that: Snakemake
    # would never see the Ctrl-C this test sends. The test is about Snakemake's answer.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(workdir, signum, whole_group):
    """Run the slow workflow; signal it during its first cell; return that cell's path."""
    scratch = workdir / "scratch"
    (workdir / "c.yaml").write_text(yaml.safe_dump({**SLOW, "scratch": {"disk": str(scratch)}}))
    proc = _snakemake(
        workdir,
        "--cores",
        "2",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 300
    while not (scratch.is_dir() and list(scratch.iterdir())):  # a cell is under way
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no cell started"
        time.sleep(0.02)
    # The cell's process; its pool workers (forked) have its command line too.
    running = [
        command
        for p in psutil.Process(proc.pid).children(recursive=True)
        if "run-cell" in (command := _cmdline(p)) and "run-cell" not in _cmdline(p.parent())
    ]
    assert len(running) == 1
    cell = running[0][running[0].index("--output") + 1]
    # A second into the cell: Snakemake is then waiting on the job, not logging its start
    # (its log handler swallows a KeyboardInterrupt raised while it writes).
    time.sleep(1.0)
    if whole_group:
        os.killpg(proc.pid, signum)  # what Ctrl-C in a terminal (or a batch system) does
    else:
        proc.send_signal(signum)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0, output
    # Whatever happened, nothing is left running and no scratch is left behind (the cell
    # may still be finishing its clean-up when Snakemake is gone: give it a moment).
    deadline = time.monotonic() + PROMPT_S
    while time.monotonic() < deadline and (_ours(workdir) or list(scratch.iterdir())):
        time.sleep(0.1)
    assert _ours(workdir) == []
    assert list(scratch.iterdir()) == []
    return cell, output


def _cmdline(process):
    try:
        return process.cmdline()
    except psutil.Error:  # gone, or a zombie
        return []


def _ours(workdir):
    """Live processes started for this working directory (it is in their command line)."""
    ours = []
    for pid in psutil.pids():
        try:
            if _alive(pid) and str(workdir) in " ".join(_cmdline(psutil.Process(pid))):
                ours.append(pid)
        except psutil.Error:
            continue
    return ours


@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, True)],
    ids=["ctrl-c", "sigterm-to-all"],
)
@pytest.mark.e2e
def test_an_interrupted_cell_leaves_no_result_and_a_rerun_does_only_what_is_missing(
    tmp_path, signum, whole_group
):
    cell, output = _interrupt(tmp_path, signum, whole_group)
    assert not (tmp_path / cell).exists()
    log = (tmp_path / cell.replace("results/", "results/logs/")).with_suffix(".log")
    assert f"stopped by {signal.Signals(signum).name}; no result written" in log.read_text()
    finished = [c for c in SLOW_CELLS if (tmp_path / c).exists()]
    for path in finished:  # a cell that finished before the signal is whole
        assert json.loads((tmp_path / path).read_text())["repetitions"]
    done = _snakemake(tmp_path, "--cores", "2", "-n")
    assert job_stats(done.stdout)["cell"] == len(SLOW_CELLS) - len(finished)


@pytest.mark.e2e
def test_sigterm_to_snakemake_finishes_the_running_cell_and_a_rerun_does_the_rest(tmp_path):
    # Snakemake takes SIGTERM as "finish the running jobs, start no more".
    cell, _ = _interrupt(tmp_path, signal.SIGTERM, whole_group=False)
    result = json.loads((tmp_path / cell).read_text())
    assert len(result["repetitions"]) == 4
    missing = [c for c in SLOW_CELLS if c != cell]
    assert not [c for c in missing if (tmp_path / c).exists()]
    before = (tmp_path / cell).stat().st_mtime_ns
    done = _snakemake(tmp_path, "--cores", "2", *SLOW_CELLS)
    assert job_stats(done.stdout + done.stderr)["cell"] == len(missing)
    assert (tmp_path / cell).stat().st_mtime_ns == before
    assert all((tmp_path / c).is_file() for c in SLOW_CELLS)
    # Nothing is redone when the next run is started by another name of the same Python.
    script = Path(sys.executable).with_name("snakemake")
    if script.is_file():
        command = [str(script), "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
        command += ["--configfile", str(tmp_path / "c.yaml"), "--cores", "2", "-n", *SLOW_CELLS]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert "Nothing to be done" in done.stdout + done.stderr, done.stdout


@pytest.mark.e2e
def test_sigint_to_snakemake_alone_lets_the_cell_finish_but_marks_it_incomplete(tmp_path):
    # Snakemake waits for the running job, then flags its output as incomplete: the file is
    # whole (written atomically), yet the next run asks for --rerun-incomplete and redoes it.
    cell, _ = _interrupt(tmp_path, signal.SIGINT, whole_group=False)
    assert len(json.loads((tmp_path / cell).read_text())["repetitions"]) == 4
    done = _snakemake(tmp_path, "--cores", "2", "-n", check=False)
    assert done.returncode != 0 and "--rerun-incomplete" in done.stdout + done.stderr
    done = _snakemake(tmp_path, "--cores", "2", "-n", "--rerun-incomplete")
    assert job_stats(done.stdout)["cell"] == len(SLOW_CELLS)
