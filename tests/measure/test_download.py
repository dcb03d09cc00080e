import asyncio
import hashlib
import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from imgbench.errors import TaskError, VerificationError
from imgbench.measure.datasets import make_dataset
from imgbench.measure.runner import RunOptions, run_cell
from imgbench.measure.tasks import TASKS, VerifyContext
from imgbench.measure.tasks import download as dl
from imgbench.vocabulary import CellSpec
from tests.helpers import imported_modules

FAST = {"latency_ms": 0.0, "bandwidth_mb_s": 0.0}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("dl") / "ds", "jpeg", 32, 32, 4, seed=1)


@pytest.fixture(scope="module")
def server(dataset):
    with dl.serve(dataset.paths(4), FAST) as running:
        yield running


def _get_raw(port: int, path: str) -> int:
    """The status for a request path sent as is (httpx would normalise ``..`` away)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _non_loopback_ipv4() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return None


def _context(dataset, out_dir: Path) -> VerifyContext:
    return VerifyContext(
        4,
        32,
        32,
        input_paths=dataset.paths(4),
        input_sha256=[f.sha256 for f in dataset.files[:4]],
        output_paths=[out_dir / f"img_{i:06d}.img" for i in range(4)],
        output_dir=out_dir,
    )


def _items(dataset, server, out_dir: Path) -> list:
    out_dir.mkdir(exist_ok=True)
    return [
        dl.download_item(str(p), str(out_dir / f"img_{i:06d}.img"), FAST, server)
        for i, p in enumerate(dataset.paths(4))
    ]


def test_the_task_is_registered_and_the_module_imports_on_its_own():
    assert TASKS["download"] is dl.DOWNLOAD
    assert dl.DOWNLOAD.options == {"latency_ms": 50.0, "bandwidth_mb_s": 0.0}
    assert dl.DOWNLOAD.bound == "wait"  # it waits for the server: bounded by workers only
    # The registry is assembled from the task modules, none of which imports it back: the
    # module imported first, alone, is the very one the registry holds.
    code = (
        "import imgbench.measure.tasks.download as d; from imgbench.measure.tasks import TASKS; "
        "assert TASKS['download'] is d.DOWNLOAD"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_the_server_child_runs_on_the_standard_library_alone(dataset):
    # The real child command, with import timing on: every module it imports is listed.
    command = dl.server_command(dataset.directory, 0.0, 0.0)
    command = [command[0], "-X", "importtime", *command[1:]]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dl._child_env(),
    )
    try:
        port = int(proc.stdout.readline())
        # Serving a file imports nothing more.
        assert _get_raw(port, f"/{dataset.paths(1)[0].name}") == 200
    finally:
        _, stderr = proc.communicate(b"", timeout=30)  # end of stdin: the server stops
    assert proc.returncode == 0, stderr.decode()
    modules = imported_modules(stderr.decode())
    assert "http.server" in modules  # the listing is real: the server's own import is in it
    heavy = {m for m in modules if m.split(".")[0] in ("numpy", "PIL", "httpx", "aiofiles")}
    assert not heavy, sorted(heavy)
    ours = {m for m in modules if m.split(".")[0] == "imgbench"}
    # The packages above the server's module (run as __main__, so not listed), nothing more.
    assert ours <= {"imgbench", "imgbench.measure"}, sorted(ours)


def test_the_server_listens_on_loopback_only(server):
    listening = [
        c
        for c in psutil.Process(server.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert [(c.laddr.ip, c.laddr.port) for c in listening] == [("127.0.0.1", server.port)]
    assert server.url == f"http://127.0.0.1:{server.port}/"
    address = _non_loopback_ipv4()
    if address is None:
        return  # no other interface to reach it through
    with pytest.raises(OSError), socket.create_connection((address, server.port), timeout=2):
        pass


def test_the_server_refuses_traversal_and_missing_files(server, dataset):
    name = dataset.paths(1)[0].name
    assert _get_raw(server.port, f"/{name}") == 200
    for path in (
        f"/../{dataset.directory.name}/{name}",
        "/../../../etc/passwd",
        f"/%2e%2e/{dataset.directory.name}/{name}",
        f"/sub/..%2F{name}",
        "/",
        "/no_such_file.jpg",
    ):
        assert _get_raw(server.port, path) == 404, path


def test_the_server_sends_content_length(server, dataset):
    path = dataset.paths(1)[0]
    response = httpx.get(server.url + path.name, trust_env=False)
    assert response.headers["content-length"] == str(path.stat().st_size)
    assert response.content == path.read_bytes()


def test_latency_is_honoured(dataset):
    with dl.serve(dataset.paths(1), {"latency_ms": 100.0, "bandwidth_mb_s": 0.0}) as running:
        url = running.url + dataset.paths(1)[0].name
        httpx.get(url, trust_env=False)  # first-call costs out of the way
        started = time.perf_counter()
        httpx.get(url, trust_env=False)
        assert time.perf_counter() - started >= 0.1


def test_bandwidth_is_honoured(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 800)  # 204,800 bytes: 0.2 s at 1 MB/s
    with dl.serve([big], {"latency_ms": 0.0, "bandwidth_mb_s": 1.0}) as running:
        started = time.perf_counter()
        response = httpx.get(running.url + "big.bin", trust_env=False)
        elapsed = time.perf_counter() - started
    assert response.content == big.read_bytes()
    assert 0.2 <= elapsed < 2


def test_a_kept_alive_connection_is_not_slowed_by_delayed_acks(server, dataset):
    # With Nagle's algorithm on, each response's body waited ~40 ms for the headers' ACK.
    url = server.url + dataset.paths(1)[0].name
    with httpx.Client(trust_env=False) as client:
        client.get(url)
        started = time.perf_counter()
        for _ in range(5):
            assert client.get(url).status_code == 200
        assert time.perf_counter() - started < 0.1


def test_download_and_download_async_write_the_bytes_and_verify(server, dataset, tmp_path):
    for name, fetch in (
        ("sync", dl.download),
        ("async", lambda item: asyncio.run(dl.download_async(item))),
    ):
        out = tmp_path / name
        items = _items(dataset, server, out)
        results = [fetch(item) for item in items]
        assert results == [item[1] for item in items]
        ctx = _context(dataset, out)
        dl.verify_download(ctx, results)
        for source, output in zip(dataset.paths(4), ctx.output_paths, strict=True):
            assert output.read_bytes() == source.read_bytes()


def test_a_corrupt_or_missing_output_fails_verification(server, dataset, tmp_path):
    out = tmp_path / "out"
    results = [dl.download(item) for item in _items(dataset, server, out)]
    ctx = _context(dataset, out)
    victim = ctx.output_paths[2]
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    with pytest.raises(VerificationError, match="img_000002.img: bytes differ"):
        dl.verify_download(ctx, results)
    victim.unlink()
    with pytest.raises(VerificationError, match="1 expected files missing"):
        dl.verify_download(ctx, results)
    with pytest.raises(VerificationError, match="expected 4 results, got 3"):
        dl.verify_download(ctx, results[:3])


def test_an_unreachable_server_or_a_bad_status_names_the_url(server, tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/x.jpg"
    out = str(tmp_path / "x.img")
    with pytest.raises(TaskError, match=f"cannot download {url}: ConnectError"):
        dl.download((url, out))
    with pytest.raises(TaskError, match=f"cannot download {url}: ConnectError"):
        asyncio.run(dl.download_async((url, out)))
    missing = server.url + "missing.jpg"
    with pytest.raises(TaskError, match=f"cannot download {missing}: HTTP 404"):
        dl.download((missing, out))
    with pytest.raises(TaskError, match=f"cannot download {missing}: HTTP 404"):
        asyncio.run(dl.download_async((missing, out)))
    assert not Path(out).exists()


def test_the_server_is_gone_after_the_context(dataset):
    with dl.serve(dataset.paths(2), FAST) as running:
        assert psutil.Process(running.pid).is_running()
    # Reaped, not a zombie: the pid no longer names any process.
    with pytest.raises(psutil.NoSuchProcess):
        psutil.Process(running.pid).status()
    with pytest.raises(httpx.ConnectError):
        httpx.get(running.url, trust_env=False)


def test_a_server_that_fails_to_start_is_reported_with_its_stderr(monkeypatch, dataset):
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('no port for you'); sys.exit(3)"]
    monkeypatch.setattr(dl, "server_command", lambda *args: failing)
    with (
        pytest.raises(TaskError, match="(?s)exited with status 3.*stderr:\nno port for you"),
        dl.serve(dataset.paths(1), FAST),
    ):
        pass


def test_a_server_that_never_reports_a_port_is_killed(monkeypatch, dataset):
    # The stand-in writes its pid to stderr, which the error quotes, then hangs.
    hangs = "import os, sys, time; print(os.getpid(), file=sys.stderr, flush=True); time.sleep(60)"
    monkeypatch.setattr(dl, "server_command", lambda *args: [sys.executable, "-c", hangs])
    monkeypatch.setattr(dl, "STARTUP_TIMEOUT_S", 0.5)
    started = time.perf_counter()
    with (
        pytest.raises(TaskError, match=r"did not report its port within 0.5 s") as info,
        dl.serve(dataset.paths(1), FAST),
    ):
        pass
    assert time.perf_counter() - started < 10
    pid = int(str(info.value).rsplit("stderr:", 1)[1])
    with pytest.raises(psutil.NoSuchProcess):
        psutil.Process(pid).status()


def test_inputs_in_two_directories_are_refused(tmp_path, dataset):
    other = tmp_path / "other.jpg"
    other.write_bytes(b"x")
    with (
        pytest.raises(TaskError, match="2 directories"),
        dl.serve([*dataset.paths(1), other], FAST),
    ):
        pass


@pytest.mark.parametrize("strategy", ["serial", "threads", "processes", "asyncio"])
def test_the_task_runs_verified_under_the_runner(dataset, tmp_path, strategy):
    workers = 1 if strategy == "serial" else 4
    spec = CellSpec("t", "download", "disk", "warm", 32, 32, 4, strategy, workers)
    options = RunOptions(
        1, 0, dataset.directory, tmp_path / "scratch", task_options={"latency_ms": 20.0}
    )
    result = run_cell(spec, options)
    (rep,) = result["repetitions"]
    assert rep["verified"] is True
    assert result["run"]["task_options"] == {"latency_ms": 20.0, "bandwidth_mb_s": 0.0}
    assert result["warnings"] == []
    assert list((tmp_path / "scratch").iterdir()) == []
    # Primed: httpx's transport stack is loaded before any worker forks.
    assert rep["worker_imported_modules"] == []
    assert rep["helper_cpu_s"] >= 0  # the server's CPU is the cell's own
    if strategy == "serial":
        assert rep["wall_s"] >= 4 * 0.02


def test_threads_beat_the_loop_when_latency_bound(dataset, tmp_path):
    walls = {}
    for strategy, workers in (("serial", 1), ("threads", 4)):
        # shm storage: the inputs are staged copies, served from the cell's scratch area.
        spec = CellSpec("t", "download", "shm", "warm", 32, 32, 4, strategy, workers)
        shm = tmp_path / strategy
        shm.mkdir()
        options = RunOptions(1, 0, dataset.directory, shm, task_options={"latency_ms": 20.0})
        walls[strategy] = run_cell(spec, options)["repetitions"][0]["wall_s"]
    assert walls["serial"] >= 4 * 0.02
    assert walls["threads"] < 0.6 * walls["serial"], walls


def test_an_input_hash_is_what_the_output_must_match(dataset):
    # The manifest's checksums are of the very bytes the server sends.
    for entry, path in zip(dataset.files[:4], dataset.paths(4), strict=True):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
