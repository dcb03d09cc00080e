"""Every figure on every slide is legible at 1280x720, by the deck's layout rule
(``imgbench.report.deck.figures``), without a browser: a figure's smallest text (recorded in
its PNG) times the scale at which its box shows it is at least 10 CSS px, and the
stylesheet's smallest HTML text is at least 12 px. ``test_deck_browser.py`` measures the
same in Chromium where it is installed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from imgbench.report.deck.figures import (
    FIGURE_BOX_PX,
    FIGURE_BOX_VH,
    MIN_FIGURE_TEXT_PX,
    MIN_HTML_TEXT_PX,
    VIEWPORT_PX,
    display_size,
    shown_text_px,
)
from imgbench.report.deck.render import deck_context, render_deck
from imgbench.report.figures.plot import plot_all
from tests.helpers import ROOT

STYLESHEET = ROOT / "src/imgbench/report/templates/deck.css.j2"


def default_sized_results(model, crafted, directory: Path) -> Path:
    """The default config's grid through the real analysis: 2 tasks, 2 sizes, 2 values of
    n, 4 parallel strategies and the loop, 3 worker counts; its tables and figures, with
    the crafted metadata (the model's results lack what the analysis's needs)."""
    cells = model.cells(tasks=("read", "decode"), sizes=((64, 48), (256, 192)), n_values=(16, 64))
    model.write_tables(directory, cells)
    (directory / "metadata.json").write_text(json.dumps(crafted.metadata()))
    plot_all(directory, directory / "figures")
    return directory


def slide_figures(context: dict) -> list[dict]:
    """Every figure the deck's context puts on a slide."""
    shown = [
        item["figure"] for task in context["tasks"] for item in task["slides"] if item["figure"]
    ]
    return shown + context["overview_figures"] + context["overhead_figures"]


def test_every_figure_of_a_default_sized_deck_is_legible_on_its_slide(model, crafted, tmp_path):
    context = deck_context(default_sized_results(model, crafted, tmp_path / "e"))
    figures = slide_figures(context)
    assert len(figures) == 4 + 5  # one per task and size, then the overview and overhead
    for fig in figures:
        assert fig["src"] and fig["min_font_px"] > 0, fig["id"]
        assert shown_text_px(fig) >= MIN_FIGURE_TEXT_PX, (fig["id"], shown_text_px(fig))
        # and it fits its box: nothing to scroll on a grid of the default's size
        assert fig["display"] is None, fig["id"]
    workload = [f for f in figures if f["id"].startswith("fig-tasks-")]
    assert min(shown_text_px(f) for f in workload) >= 11


def test_a_figure_too_large_for_its_box_is_shown_at_a_legible_size_and_scrolls():
    assert (VIEWPORT_PX[0] * 0.9, VIEWPORT_PX[1] * FIGURE_BOX_VH / 100) == FIGURE_BOX_PX
    assert display_size(1200, 480, 15.0) is None  # fitted: 15 px x 0.96, legible
    width, height = display_size(4000, 2000, 15.0)
    assert (width, height) == (2666.7, 1333.3)
    fig = {"width": 4000, "height": 2000, "min_font_px": 15.0, "display": (width, height)}
    assert shown_text_px(fig) == pytest.approx(MIN_FIGURE_TEXT_PX, abs=0.01)
    assert display_size(1200, 480, 0.0) is None  # not recorded: not checked


def test_the_deck_shows_each_figure_with_its_rule(model, crafted, tmp_path):
    results = default_sized_results(model, crafted, tmp_path / "e")
    render_deck(results, tmp_path / "slides.html")
    html = (tmp_path / "slides.html").read_text(encoding="utf-8")
    assert f".imgbox {{ flex: 0 0 {FIGURE_BOX_VH}vh; }}" in html
    sizes = re.findall(r'data-min-font-px="([0-9.]+)"', html)
    assert len(sizes) == 9 and all(float(s) >= 15 for s in sizes)  # 9 pt at 120 dpi


def test_the_stylesheet_s_smallest_text_is_12_px_at_1280x720():
    css = STYLESHEET.read_text()
    screen = css.split("@media print")[0]
    low, vw, vh, high = re.search(
        r"\.slide \{[^}]*font-size: clamp\((\d+)px, calc\(([\d.]+)vw \+ ([\d.]+)vh\), (\d+)px\)",
        screen,
    ).groups()
    base = min(float(high), max(float(low), float(vw) * 12.8 + float(vh) * 7.2))
    assert base > 24  # 1280x720
    # every size relative to the slide's (nested ones are measured by the browser test)
    factors = [float(f) for f in re.findall(r"font-size: ([\d.]+)em", screen)]
    assert min(factors) * base >= MIN_HTML_TEXT_PX, min(factors) * base
    counter = re.search(r"#counter \{[^}]*font-size: clamp\((\d+)px", screen).group(1)
    assert float(counter) >= MIN_HTML_TEXT_PX
