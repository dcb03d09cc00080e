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

Run by hand: ``python -m imgbench.measure.download serve --root DIR --latency-ms 50
--bandwidth-mb-s 0`` prints the port it listens on (127.0.0.1 only) and serves the files
under DIR until stdin closes or it is terminated.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.server
import math
import os
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote, urlsplit

import aiofiles

from imgbench.errors import TaskError, VerificationError

# tasks.py imports this module at its end; TASKS, Task and the helpers are defined by then,
# whichever of the two modules is imported first.
from imgbench.measure.tasks import TASKS, Task, VerifyContext, _check_count, _check_output_files

HOST = "127.0.0.1"
#: Seconds the server may take to start and report its port (it imports numpy and Pillow
#: through imgbench.measure.tasks, which takes a few tenths of a second on an idle machine).
STARTUP_TIMEOUT_S = 10.0
#: Seconds the server may take to exit once terminated, before it is killed.
STOP_TIMEOUT_S = 5.0
#: Seconds a request may take; a stuck server fails the cell instead of hanging it.
REQUEST_TIMEOUT_S = 30.0
#: Bytes written between bandwidth checks: small enough that pacing is smooth at 1 MB/s.
PACE_CHUNK_BYTES = 16 * 1024


# -- the server (runs in its own process) ------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 so that a client could keep its connection alive, as real servers allow.
    protocol_version = "HTTP/1.1"
    # The headers and the body leave in separate writes; with Nagle's algorithm, on a reused
    # connection the body would wait for the client's delayed ACK of the headers (~40 ms).
    disable_nagle_algorithm = True
    server: _FileServer

    def do_GET(self) -> None:
        if self.server.latency_s > 0:
            time.sleep(self.server.latency_s)
        path = self._resolve()
        try:
            data = path.read_bytes() if path is not None else None
        except OSError:
            data = None
        if data is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._send_body(data)

    def _resolve(self) -> Path | None:
        """The file a request names, or None for anything outside the root.

        The check is on the decoded segments, not on a resolved path, so that a dataset whose
        files are symbolic links is still served, while no ``..`` can climb out of the root.
        """
        raw = urlsplit(self.path).path
        if not raw.startswith("/"):
            return None
        parts = unquote(raw).split("/")[1:]
        if any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
            return None
        target = self.server.root.joinpath(*parts)
        return target if target.is_file() else None

    def _send_body(self, data: bytes) -> None:
        rate = self.server.bytes_per_s
        if rate <= 0:
            self.wfile.write(data)
            return
        # Pace against the start time, not chunk by chunk, so that sleep overshoot does not
        # accumulate: the transfer takes len(data) / rate, as configured.
        start = time.perf_counter()
        view = memoryview(data)
        for offset in range(0, len(data), PACE_CHUNK_BYTES):
            chunk = view[offset : offset + PACE_CHUNK_BYTES]
            self.wfile.write(chunk)
            delay = start + (offset + len(chunk)) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request on stderr would cost the server time and flood the cell's log.
        pass


class _FileServer(http.server.ThreadingHTTPServer):
    # The default backlog of 5 would drop connections under a pool of many workers, and a
    # dropped SYN costs a second's retransmission: timing the kernel, not the strategy.
    request_queue_size = 1024
    daemon_threads = True

    def __init__(self, root: Path, latency_s: float, bytes_per_s: float) -> None:
        self.root = root
        self.latency_s = latency_s
        self.bytes_per_s = bytes_per_s
        super().__init__((HOST, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up with getfqdn, which can wait seconds for a
        # DNS timeout on a machine without a network; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response (a failed cell, a timeout) is not a server fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def run_server(root: Path, latency_ms: float, bandwidth_mb_s: float) -> None:
    """Serve ``root`` on 127.0.0.1, print the port, return once stdin reaches end of file."""
    server = _FileServer(root, latency_ms / 1000, bandwidth_mb_s * 1e6)
    print(server.server_address[1], flush=True)

    def stop_at_eof() -> None:
        # The parent holds our stdin open: its end closing, also when the parent dies without
        # terminating us, means nobody needs the server any more.
        sys.stdin.buffer.read()
        server.shutdown()

    threading.Thread(target=stop_at_eof, daemon=True).start()
    with server:
        server.serve_forever()


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


def server_command(root: Path, latency_ms: float, bandwidth_mb_s: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "imgbench.measure.download",
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
    # The child must run this very code, also from a checkout that is not installed.
    src = str(Path(__file__).resolve().parents[2])
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
# bare context, made at import, is shared. trust_env=False, because a proxy in the
# environment would otherwise carry loopback requests elsewhere.
_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@functools.cache
def _httpx() -> tuple[Any, dict[str, Any]]:
    """httpx and the clients' options, imported on first use: every cell job imports this
    module (the task registry), and only download cells need httpx (50 ms to import). A
    download cell's untimed priming run imports it before any pool forks."""
    import httpx

    return httpx, {
        "verify": _TLS,
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
    _check_count(ctx, results)
    _check_output_files(ctx)
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

# Registered here rather than in tasks.py, so that importing this module first also works:
# tasks.py's own import of it then finds a module that has not defined DOWNLOAD yet.
TASKS[DOWNLOAD.name] = DOWNLOAD


# -- command line (the server's child process) -----------------------------------------------


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number >= 0")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imgbench.measure.download",
        description="The download task's HTTP server.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser(
        "serve",
        help="serve the files under a directory on 127.0.0.1; print the port; stop at EOF",
    )
    serve_cmd.add_argument("--root", type=Path, required=True, help="the directory served")
    serve_cmd.add_argument(
        "--latency-ms", type=_non_negative, default=50.0, help="delay before each response"
    )
    serve_cmd.add_argument(
        "--bandwidth-mb-s",
        type=_non_negative,
        default=0.0,
        help="per-connection throughput limit in MB/s (0: unlimited)",
    )
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"--root: {args.root} is not a directory")
    with contextlib.suppress(KeyboardInterrupt):
        run_server(args.root, args.latency_ms, args.bandwidth_mb_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
