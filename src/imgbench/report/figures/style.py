"""How every figure looks and is saved: one colour per strategy in every figure
(``STRATEGY_COLORS``, colour-blind safe), shades and short names, the matplotlib settings
(``RC_PARAMS``: nothing smaller than 9 pt, text as text in SVGs; ``SLIDE_RC``: the larger
type of the figures made for a slide), and ``save_figure``, which writes a figure as PNG and
SVG, the PNG within a size budget and both byte-stable.

Every PNG records the size of its smallest text in pixels of the PNG (``MIN_FONT_KEY``, a
PNG text chunk): the deck reads it to check and keep every figure's text legible at the
size a slide shows it (``imgbench.report.deck.figures``).
"""

from __future__ import annotations

import io
import math
import re
import zlib
from pathlib import Path

import matplotlib
from PIL import Image  # noqa: E402
from PIL.PngImagePlugin import PngInfo  # noqa: E402

from imgbench.files import write_atomic  # noqa: E402
from imgbench.measure.strategies import STRATEGIES  # noqa: E402
from imgbench.report.figures import MIN_FONT_KEY  # noqa: E402

# Figures are drawn in batch jobs without a display; this must precede importing pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    NullLocator,
)

#: The per-batch strategies' colours (colour-blind safe).
_BASE_COLORS: dict[str, str] = {
    "serial": "#7f7f7f",
    "threads": "#0072b2",
    "processes": "#d55e00",
    "processes_shm": "#882255",
    "processes_chunked": "#e69f00",
    "threads_chunked": "#56b4e9",
    "vectorized": "#cc79a7",
    "asyncio": "#009e73",
    "joblib": "#332288",
}


def _darker(color: str, by: float = 0.4) -> str:
    r, g, b = (round(255 * c * (1 - by)) for c in to_rgb(color))
    return f"#{r:02x}{g:02x}{b:02x}"


def _shade(color: str, by: float) -> str:
    """``color`` moved towards white by ``by`` (> 0) or towards black by ``-by`` (< 0)."""
    if by < 0:
        return _darker(color, -by)
    r, g, b = (round(255 * (c + (1 - c) * by)) for c in to_rgb(color))
    return f"#{r:02x}{g:02x}{b:02x}"


#: How a start-method variant's colour moves from its family's: towards white (> 0) or black
#: (< 0) by this much. The three stay apart from one another, from the family's own colour
#: and from its persistent shade, which is then applied on top.
_METHOD_SHADES = {"fork": 0.3, "forkserver": 0.55, "spawn": -0.2}


def _variant_color(s) -> str:
    color = _BASE_COLORS[s.plain]
    if s.start_method in _METHOD_SHADES and s.name != s.plain:
        color = _shade(color, _METHOD_SHADES[s.start_method])
    return _darker(color) if s.persistent else color


#: One colour per strategy in every figure where hue is the strategy, in the registry's order:
#: a persistent strategy is a darker shade of its per-batch one, so the pair reads as one; a
#: start-method variant a lighter (fork, forkserver) or darker (spawn) shade of its family's.
STRATEGY_COLORS: dict[str, str] = {
    name: _variant_color(s) for name, s in STRATEGIES.items() if s.plain in _BASE_COLORS
}

_SPARE_COLORS = ("#8c564b", "#f0e442", "#000000", "#9467bd", "#17becf", "#bcbd22")

_BASE_SHORT_NAMES: dict[str, str] = {
    "serial": "loop",
    "threads": "thr",
    "processes": "proc",
    "processes_shm": "shm",
    "processes_chunked": "chunk",
    "threads_chunked": "tchunk",
    "vectorized": "vec",
    "asyncio": "async",
    "joblib": "jobl",
}
#: A start-method variant's letter in its short name.
_METHOD_LETTERS = {"fork": "F", "forkserver": "X", "spawn": "S"}


def _short_name(s) -> str:
    short = _BASE_SHORT_NAMES[s.plain]
    if s.start_method in _METHOD_LETTERS and s.name != s.plain:
        short = short[:3] + _METHOD_LETTERS[s.start_method]
    return short[:4] + "+" if s.persistent else short


#: Short names for heatmap cells; "+" marks a persistent pool, a capital letter a start
#: method (F fork, X forkserver, S spawn: "proS+" is processes_persistent_spawn).
SHORT_NAMES: dict[str, str] = {
    name: _short_name(s) for name, s in STRATEGIES.items() if s.plain in _BASE_SHORT_NAMES
}

#: Hatching of a speedup above its physical bound (never drawn as a plain finding).
ABOVE_BOUND_HATCH = "////"

ABOVE_BOUND_NOTE = "hatched / hollow: speedup above its physical bound, not a finding"

# About 120 dpi keeps a PNG legible on a projector; large grids get fewer dots per inch
# (down to 72) and PNGs are saved with a 256-colour palette (fewer colours when that is
# not enough), so each stays under 400 KB and a bundle stays small.
_DPI = 120

_MIN_DPI = 72

_MAX_PNG_PIXELS = 4_000_000

_PNG_BUDGET = 380_000

# Nothing smaller than 9 pt: figures are shown on slides.
RC_PARAMS = {
    "svg.hashsalt": "imgbench",
    # Text as text, not glyph outlines: smaller SVGs, drawn several times faster.
    "svg.fonttype": "none",
    "figure.facecolor": "white",
    # A fixed title height: the automatic one measures every axis above each title, which
    # is a large part of the layout time of a large grid and is only needed for top ticks.
    "axes.titley": 1.0,
    "axes.titlepad": 5.0,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9.5,
    "legend.title_fontsize": 10,
}


#: The figures made for a slide (one workload each): larger type, since they are shown
#: whole on a 1280x720 screen, never zoomed.
SLIDE_RC = {
    **RC_PARAMS,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "legend.title_fontsize": 11,
}

#: The largest figure, in inches, whose 9 pt text stays at 10 CSS px or more on a slide of
#: the deck at 1280x720 (its figure box, ``imgbench.report.deck.figures.FIGURE_BOX_PX``, is
#: about 1150 x 490 px: 9 pt of a 13.6 in wide figure are then 10.6 px). Figures meant for
#: a slide stay within it; the deck test checks that they do.
SLIDE_FIGURE_IN = (13.6, 5.8)


def smallest_text_pt(fig: plt.Figure) -> float:
    """The size, in points, of the smallest text drawn in ``fig`` (tick labels, legends,
    titles, notes; hidden axes and empty strings left out); NaN without text."""
    sizes = [
        float(text.get_fontsize())
        for text in fig.findobj(Text)
        if text.get_visible()
        and text.get_text().strip()
        and (text.axes is None or text.axes.get_visible())
        and _shown_tick_label(text)
    ]
    return min(sizes, default=math.nan)


def _shown_tick_label(text: Text) -> bool:
    """False for the label of a tick outside its axis' view (matplotlib keeps its Text)."""
    axes = text.axes
    if axes is None:
        return True
    for axis in (axes.xaxis, axes.yaxis):
        ticks = axis.get_major_ticks() + axis.get_minor_ticks()
        for tick in ticks:
            if text is tick.label1 or text is tick.label2:
                low, high = sorted(axis.get_view_interval())
                return bool(low <= tick.get_loc() <= high) and tick.get_visible()
    return True


def strategy_color(name: str) -> str:
    """The strategy's fixed colour; an unknown name gets a stable colour from a spare set."""
    if name in STRATEGY_COLORS:
        return STRATEGY_COLORS[name]
    return _SPARE_COLORS[zlib.crc32(name.encode()) % len(_SPARE_COLORS)]


def short_name(strategy: str) -> str:
    """A strategy's name in at most five characters, for heatmap cells."""
    return SHORT_NAMES.get(strategy, strategy[:5])


def color_shades(color: str, count: int) -> list[tuple[float, float, float]]:
    """``count`` shades of one colour from light to dark (the colour itself in the middle)."""
    base = np.array(to_rgb(color))
    if count == 1:
        return [tuple(base)]
    shades = []
    for t in np.linspace(-0.5, 0.45, count):
        mixed = base + (1 - base) * -t if t < 0 else base * (1 - t)
        shades.append(tuple(float(v) for v in mixed))
    return shades


def text_color_on(color) -> str:
    r, g, b = to_rgb(color)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


def lighten(color: str, amount: float) -> tuple[float, float, float]:
    base = np.array(to_rgb(color))
    return tuple(float(v) for v in base + (1 - base) * amount)


def save_figure(fig: plt.Figure, output_dir: Path, stem: str) -> list[Path]:
    """Write ``fig`` as ``output_dir/stem.png`` and ``.svg`` (``stem`` may name a subfolder,
    created), the PNG with its smallest text's size (``MIN_FONT_KEY``); closes ``fig``."""
    width_in, height_in = fig.get_size_inches()
    dpi = max(_MIN_DPI, min(_DPI, int(math.sqrt(_MAX_PNG_PIXELS / (width_in * height_in)))))
    # Minor ticks carry no labels here but cost a text layout each on every draw.
    for ax in fig.axes:
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_locator(NullLocator())
    # Lay out once, then freeze: each savefig would otherwise run the layout again, which
    # costs about as much as drawing on a large grid. The constrained layout keeps titles,
    # legends and notes inside the figure, so no tight bounding box is needed.
    fig.draw_without_rendering()
    _legends_beside_the_panels(fig)
    fig.set_layout_engine(None)  # no engine at all: savefig then draws only once
    min_font_px = smallest_text_pt(fig) * dpi / 72
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi)
    # Dropping the date keeps reruns on the same data byte-equal; Pillow writes no date.
    svg = io.BytesIO()
    fig.savefig(svg, format="svg", metadata={"Date": None})
    plt.close(fig)
    with Image.open(png) as image:
        rgb = image.convert("RGB")
    # The fast octree quantizer is several times quicker than median cut on large figures,
    # and its palette compresses as well.
    info = PngInfo()
    if math.isfinite(min_font_px):
        info.add_text(MIN_FONT_KEY, f"{min_font_px:.2f}")
    for colors in (256, 96, 48):
        png = io.BytesIO()
        palette = rgb.quantize(
            colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        palette.save(png, format="PNG", compress_level=9, pnginfo=info)
        if png.tell() <= _PNG_BUDGET:
            break
    written = []
    for fmt, data in (("png", png), ("svg", stable_svg_ids(svg.getvalue()))):
        path = output_dir / f"{stem}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data if isinstance(data, bytes) else data.getvalue())
        written.append(path)
    return written


def _legends_beside_the_panels(fig: plt.Figure) -> None:
    """Centre each legend that the layout keeps beside the panels on the layout's rect, the
    panels' height: the constrained layout centres it on the whole figure, so that a tall
    legend beside a short grid reached down into the strip under the rect, over the note
    and the footer (``layout.footer``). Call after the layout, which then keeps its place."""
    engine = fig.get_layout_engine()
    rect = engine.get().get("rect") if engine is not None else None
    if rect is None:
        return
    for legend in fig.legends:
        # Anchored to the figure: placed by the layout (one given its own anchor is not).
        if legend.get_bbox_to_anchor() is fig.bbox:
            legend.set_bbox_to_anchor(rect)  # in fractions of the figure, as the rect


#: An id matplotlib writes into an SVG: a letter and 10 hex digits of a hash.
_SVG_ID = re.compile(rb'(?<=id=")([a-zA-Z])([0-9a-f]{10})(?=")')


def stable_svg_ids(svg: bytes) -> bytes:
    """``svg`` with each matplotlib id renamed by its order of first appearance.

    matplotlib hashes a clip path's id from ``id()`` of the path object, a memory address:
    the same figure drawn after other imports or figures got other ids. Renumbered, the SVG
    is the same byte for byte wherever and in whatever process it is drawn.
    """
    names: dict[bytes, bytes] = {}
    for match in _SVG_ID.finditer(svg):
        old = match.group(0)
        names.setdefault(old, match.group(1) + b"%d" % len(names))
    if not names:
        return svg
    pattern = re.compile(b"|".join(re.escape(old) for old in names))
    return pattern.sub(lambda m: names[m.group(0)], svg)
