"""The deck's figures: each PNG embedded as a ``data:`` URI with its size and its smallest
text (both read from the PNG), under the title and caption the figure registry
(``imgbench.report.figures``) gives it, shown where its ``slide`` says; and the layout rule
that keeps a figure's text legible on a slide.

The rule: at the viewport the deck is made for (``VIEWPORT_PX``), a figure slide gives its
figure a box of ``FIGURE_BOX_PX`` (the stylesheet's ``.imgbox``, ``FIGURE_BOX_VH`` of the
viewport's height, the slide's width less its padding); the figure is scaled to fit it, so
its smallest text shows at ``min_font_px`` x that scale. Where that would be below
``MIN_FIGURE_TEXT_PX`` (a grid too large for a slide), the figure is shown at the scale
that keeps its text at that size, and its box scrolls (``display_size``). HTML text on a
slide is never below ``MIN_HTML_TEXT_PX`` at that viewport (the stylesheet's sizes; the
browser test checks both).
"""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

from imgbench.report.figures import FIGURES, MIN_FONT_KEY

#: The viewport the deck is made for and checked at, in CSS px.
VIEWPORT_PX = (1280, 720)
#: The height of a figure's box on its slide, in percent of the viewport's height (the
#: slide's heading and the caption share the rest).
FIGURE_BOX_VH = 68
#: The figure's box at ``VIEWPORT_PX``: the slide's width less its padding (5vw a side) by
#: ``FIGURE_BOX_VH`` of its height.
FIGURE_BOX_PX = (VIEWPORT_PX[0] * 0.90, VIEWPORT_PX[1] * FIGURE_BOX_VH / 100)
#: The smallest text of a figure as shown on a slide, in CSS px.
MIN_FIGURE_TEXT_PX = 10
#: The smallest HTML text on a slide at ``VIEWPORT_PX``, in CSS px.
MIN_HTML_TEXT_PX = 12

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header; None if it is not a PNG."""
    if len(data) < 24 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def png_text(data: bytes) -> dict[str, str]:
    """The PNG's text chunks (tEXt, and zTXt decompressed), keyword -> text."""
    out: dict[str, str] = {}
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"IDAT" or kind == b"IEND":
            break  # text that matters is written before the image data
        if kind in (b"tEXt", b"zTXt"):
            key, _, value = body.partition(b"\0")
            if kind == b"zTXt":
                value = zlib.decompress(value[1:])
            out[key.decode("latin-1")] = value.decode("latin-1")
        at += 12 + length
    return out


def display_size(width: int, height: int, min_font_px: float) -> tuple[float, float] | None:
    """The CSS size at which a figure must be shown so that its smallest text is at least
    ``MIN_FIGURE_TEXT_PX``, where fitting it to ``FIGURE_BOX_PX`` would show it smaller;
    None where the fitted figure is legible (the stylesheet fits it)."""
    fit = min(FIGURE_BOX_PX[0] / width, FIGURE_BOX_PX[1] / height)
    if not min_font_px or min_font_px * fit >= MIN_FIGURE_TEXT_PX:
        return None
    scale = MIN_FIGURE_TEXT_PX / min_font_px
    return round(width * scale, 1), round(height * scale, 1)


def shown_text_px(fig: dict) -> float:
    """The figure's smallest text as a slide shows it at ``VIEWPORT_PX``, in CSS px."""
    if fig.get("display"):
        return fig["min_font_px"] * fig["display"][0] / fig["width"]
    fit = min(FIGURE_BOX_PX[0] / fig["width"], FIGURE_BOX_PX[1] / fig["height"])
    return fig["min_font_px"] * fit


def figure(figures_dir: Path, stem: str, file_stem: str | None = None, title: str = "") -> dict:
    """A figure for the template: its data URI, size, smallest text and display size, or
    why it is missing. ``file_stem``: its file relative to ``figures_dir`` (default
    ``stem``: a per-workload figure names its workload's); ``title``: the slide's (default
    the registry's)."""
    spec = FIGURES[stem]
    file_stem = file_stem or stem
    out = {
        "id": "fig-" + file_stem.replace("/", "-"),
        "title": title or spec.title,
        "caption": spec.caption,
        "src": None,
    }
    path = figures_dir / f"{file_stem}.png"
    if not path.is_file():
        return {**out, "missing": f"{file_stem}.png was not found"}
    data = path.read_bytes()
    size = _png_size(data)
    if size is None:
        return {**out, "missing": f"{path.name} is not a PNG image"}
    try:
        min_font_px = float(png_text(data).get(MIN_FONT_KEY, "0"))
    except ValueError:
        min_font_px = 0.0
    encoded = base64.b64encode(data).decode("ascii")
    return {
        **out,
        "src": f"data:image/png;base64,{encoded}",
        "width": size[0],
        "height": size[1],
        # 0 where the PNG does not record it (drawn before it did): not checked.
        "min_font_px": min_font_px,
        "display": display_size(size[0], size[1], min_font_px),
        "missing": "",
    }
