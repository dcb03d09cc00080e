"""The ``download`` task: fetch every image over HTTP from a local server, write it to storage.

This is the I/O-bound case, where waiting dominates and threads or asyncio should win: each
request costs the server's latency (``latency_ms``, slept before the response) and its
transfer at a per-connection bandwidth (``bandwidth_mb_s``, 0 for unlimited), then a write
of the bytes to the cell's storage. The client is a real HTTP library (httpx, sync and
async) talking to a real HTTP server over loopback TCP.

The server runs in a separate process, started once per cell outside the timer, so that
its request handling, sleeps and socket writes never compete with the strategy under test
for the client's GIL or its event loop: what is measured is the client's concurrency
against a server that answers as fast as its configured latency and bandwidth allow.

The server is ``imgbench.measure.file_server``, which runs with the standard library alone;
this module starts it (``serve``), stops it, and is the client side.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from imgbench.errors import TaskError, VerificationError
from imgbench.measure.tasks.task import Task, VerifyContext, check_count, check_output_files

#: Seconds the server may take to start and report its port (it imports the standard
#: library's HTTP server only: a few hundredths of a second on an idle machine).
STARTUP_TIMEOUT_S = 10.0
#: Seconds the server may take to exit once terminated, before it is killed.
STOP_TIMEOUT_S = 5.0
#: Seconds a request may take; a stuck server fails the cell instead of hanging it.
REQUEST_TIMEOUT_S = 30.0


# -- the server's lifetime, from the cell's side ---------------------------------------------


@dataclass(frozen=True)
class Server:
    """A running download server, as ``serve`` yields it.

    ``pid`` tells the runner that the server is one of the cell's helper processes: its CPU
    is the cell's own, not interference, and its memory is not the strategy's.
    """

    url: str
    port: int
    pid: int
    root: Path


#: The server's module, named rather than imported here: it loads ``http.server`` (16 ms), and
#: every cell job imports this module (the task registry), download cells or not.
SERVER_MODULE = "imgbench.measure.file_server"


def server_command(root: Path, latency_ms: float, bandwidth_mb_s: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        SERVER_MODULE,
        "serve",
        "--root",
        str(root),
        "--latency-ms",
        repr(float(latency_ms)),
        "--bandwidth-mb-s",
        repr(float(bandwidth_mb_s)),
    ]


def _root_of(paths: Sequence[Path]) -> Path:
    if not paths:
        raise TaskError("download: there are no input files to serve")
    parents = sorted({str(Path(p).absolute().parent) for p in paths})
    if len(parents) != 1:
        raise TaskError(
            f"download: the inputs lie in {len(parents)} directories ({', '.join(parents[:3])}); "
            "the server serves one directory"
        )
    return Path(parents[0])


def _option(options: dict[str, Any], name: str) -> float:
    value = options[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TaskError(f"download: option {name} must be a finite number, got {value!r}")
    if value < 0:
        raise TaskError(f"download: option {name} must be >= 0, got {value!r}")
    return float(value)


def _child_env() -> dict[str, str]:
    # The child must run this very code, also from a checkout that is not installed: the
    # directory that holds the imgbench package goes first on its path.
    src = str(Path(__file__).resolve().parents[3])  # src/imgbench/measure/tasks/download.py
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _read_port(proc: subprocess.Popen, command: list[str], stderr: IO[bytes]) -> int:
    assert proc.stdout is not None
    lines: list[bytes] = []
    # A thread, because a pipe's readline has no timeout and a stuck child must not hang us.
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(STARTUP_TIMEOUT_S)
    line = lines[0].strip() if lines else b""
    if line.isdigit() and 0 < int(line) < 65536:
        return int(line)
    if reader.is_alive():
        problem = f"it did not report its port within {STARTUP_TIMEOUT_S:g} s"
    elif not line:
        # End of output: the child is exiting, perhaps not yet reaped.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(1)
        status = proc.poll()
        problem = "it closed its output" if status is None else f"it exited with status {status}"
    else:
        problem = f"it reported {line[:80]!r} instead of a port"
    _stop(proc)
    reader.join()
    stderr.seek(0)
    output = stderr.read().decode(errors="replace").strip()
    raise TaskError(
        f"download: the HTTP server did not start: {problem}; command: {' '.join(command)}"
        + (f"; its stderr:\n{output[-2000:]}" if output else "; it wrote nothing to stderr")
    )


@contextlib.contextmanager
def serve(paths: Sequence[Path], options: dict[str, Any]) -> Iterator[Server]:
    """Start the server for the inputs' directory in a child process; stop it on exit."""
    from imgbench.measure.file_server import HOST

    root = _root_of(paths)
    command = server_command(
        root, _option(options, "latency_ms"), _option(options, "bandwidth_mb_s")
    )
    # stderr goes to a file, not a pipe nobody reads, so that a talkative child never blocks.
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=_child_env(),
        )
        try:
            port = _read_port(proc, command, stderr)
            yield Server(f"http://{HOST}:{port}/", port, proc.pid, root)
        finally:
            _stop(proc)


# -- per-image work --------------------------------------------------------------------------

# A new client per image, as the study's requests.get per image: every request opens its own
# TCP connection, so each strategy pays the same per-image cost. A client kept per thread or
# per event loop would reuse connections in the plain loop and asyncio (one long-lived
# client) but not in pools whose threads are created per repetition, so strategies would
# differ by connection reuse instead of concurrency; and clients left to the garbage
# collector when their threads end leak unclosed-socket warnings into the results.
#
# What must not be paid per image is httpx building and loading a CA bundle for every client
# (about 20 ms of CPU, most of it holding the GIL) for TLS that plain HTTP never uses: one
# bare context, made once with the client options, is shared. trust_env=False, because a
# proxy in the environment would otherwise carry loopback requests elsewhere.


@functools.cache
def _httpx() -> tuple[Any, dict[str, Any]]:
    """httpx and the clients' options, imported on first use: every cell job imports this
    module (the task registry), and only download cells need httpx (50 ms to import). A
    download cell's untimed priming run imports it before any pool forks. ssl too (10 ms)."""
    import ssl

    import httpx

    return httpx, {
        "verify": ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
        "trust_env": False,
        "timeout": httpx.Timeout(REQUEST_TIMEOUT_S),
    }


def download_item(source: str, output: str | None, options: dict, service: Server) -> tuple:
    assert output is not None
    return (service.url + quote(Path(source).name), output)


def _fail(url: str, exc: Exception) -> TaskError:
    return TaskError(f"cannot download {url}: {type(exc).__name__}: {exc}")


def _content(url: str, response: Any) -> bytes:
    if response.status_code != 200:
        raise TaskError(
            f"cannot download {url}: HTTP {response.status_code} {response.reason_phrase}"
        )
    return response.content


def download(item: tuple[str, str]) -> str:
    url, output = item
    httpx, options = _httpx()
    try:
        with httpx.Client(**options) as client:
            data = _content(url, client.get(url))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _fail(url, exc) from exc
    try:
        with open(output, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise TaskError(f"{output}: cannot write ({exc})") from exc
    return output


async def download_async(item: tuple[str, str]) -> str:
    import aiofiles

    url, output = item
    httpx, options = _httpx()
    try:
        async with httpx.AsyncClient(**options) as client:
            data = _content(url, await client.get(url))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _fail(url, exc) from exc
    try:
        async with aiofiles.open(output, "wb") as f:
            await f.write(data)
    except OSError as exc:
        raise TaskError(f"{output}: cannot write ({exc})") from exc
    return output


def verify_download(ctx: VerifyContext, results: Sequence[Any]) -> None:
    """Exactly the expected files, each byte-identical to its input (the manifest's sha256)."""
    check_count(ctx, results)
    check_output_files(ctx)
    for output, source, expected, result in zip(
        ctx.output_paths, ctx.input_paths, ctx.input_sha256, results, strict=True
    ):
        if result != str(output):
            raise VerificationError(f"{output}: the work returned {result!r} for this image")
        if hashlib.sha256(output.read_bytes()).hexdigest() != expected:
            raise VerificationError(
                f"{output}: bytes differ from the manifest's checksum of {Path(source).name}"
            )


DOWNLOAD = Task(
    "download",
    "fetch each image over HTTP from a local server (latency, bandwidth), write it to storage",
    "files",
    download,
    download_async,
    verify_download,
    output_suffix=".img",
    options={"latency_ms": 50.0, "bandwidth_mb_s": 0.0},
    make_item=download_item,
    service=serve,
    # It mostly waits for the server: up to `workers` times faster, whatever the cores.
    bound="wait",
)
