"""The deck's figures: each PNG embedded as a ``data:`` URI with its size (read from the PNG
header), under the title and caption the figure registry (``imgbench.report.figures``) gives
it, and where in the deck each is shown.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

from imgbench.report.figures import FIGURES

#: Shown in each task's section (the figure has a row of panels per task).
TASK_FIGURE = "speedup"
#: Shown once each, after the task sections.
OVERVIEW_FIGURES = ("efficiency", "faster_than_serial", "time_vs_n", "best_strategy", "repetitions")


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header; None if it is not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def figure(figures_dir: Path, stem: str) -> dict:
    """A figure for the template: its data URI and size, or why it is missing."""
    spec = FIGURES[stem]
    out = {"id": f"fig-{stem}", "title": spec.title, "caption": spec.caption, "src": None}
    path = figures_dir / f"{stem}.png"
    if not path.is_file():
        return {**out, "missing": f"{path.name} was not found"}
    data = path.read_bytes()
    size = _png_size(data)
    if size is None:
        return {**out, "missing": f"{path.name} is not a PNG image"}
    encoded = base64.b64encode(data).decode("ascii")
    return {
        **out,
        "src": f"data:image/png;base64,{encoded}",
        "width": size[0],
        "height": size[1],
        "missing": "",
    }
