"""The download task's HTTP server: the files of one directory on 127.0.0.1, answered after
a configured latency and at a configured per-connection bandwidth.

It runs in a child process of the cell (``imgbench.measure.tasks.download`` starts and stops
it), with the standard library alone: the child must start fast and load nothing that
the cell's own work uses (no numpy, no Pillow, no imgbench module but this one), so that it
costs the cell's machine as little as possible.

Run by hand: ``python -m imgbench.measure.file_server serve --root DIR --latency-ms 50
--bandwidth-mb-s 0`` prints the port it listens on (127.0.0.1 only) and serves the files
under DIR until stdin closes or it is terminated.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import math
import socketserver
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# Nothing from imgbench (nor numpy, nor Pillow) is imported here: see the docstring.

HOST = "127.0.0.1"
#: Bytes written between bandwidth checks: small enough that pacing is smooth at 1 MB/s.
PACE_CHUNK_BYTES = 16 * 1024


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


# -- command line (the child process) -----------------------------------------------


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
        prog="python -m imgbench.measure.file_server",
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
