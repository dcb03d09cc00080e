"""The deck in a real browser: headless Chromium shows every slide, moves with the keyboard,
prints one slide per page, no request leaves the page, and at 1280x720 every figure's text
shows at 10 CSS px or more and every HTML text at 12 px or more.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages ending in NUL on file descriptors 3 and 4), so no client library is needed. The
deck is served from a local HTTP server that records every request it receives. Where no
``chromium`` is installed the test is skipped; ``.ci/run`` installs it, so CI always runs it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import http.server
import io
import json
import math
import os
import re
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from imgbench.report.deck.render import render_deck

CHROMIUM = shutil.which("chromium")
WIDTH, HEIGHT = 1280, 720
TIMEOUT_S = 30

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no `chromium` on PATH: install Debian's chromium package (.ci/run does)",
)


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, chromium: str, profile: Path):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:  # runs in the child: the pipe ends become fds 3 and 4
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        args = [
            chromium,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--mute-audio",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes,
            pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe (exit {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = True, **params) -> dict:
        """Send a command (to the page's session unless ``session`` is false) and wait for
        its result; events that arrive meanwhile are kept in ``events``."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def open_page(self) -> None:
        target = self.call("Target.createTarget", session=False, url="about:blank")
        attached = self.call(
            "Target.attachToTarget", session=False, targetId=target["targetId"], flatten=True
        )
        self.session = attached["sessionId"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def press(self, key: str, code: str, key_code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=code,
                windowsVirtualKeyCode=key_code,
            )

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", session=False)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


class RecordingServer(http.server.ThreadingHTTPServer):
    """Serves one directory on 127.0.0.1 and records the path of every request."""

    def __init__(self, directory: Path):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(directory), **kwargs)

            def do_GET(self):  # noqa: N802 (the name http.server calls)
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


ACTIVE_SLIDE = """(() => {
  const slides = [...document.querySelectorAll("section.slide")];
  const shown = slides.filter(s => getComputedStyle(s).display !== "none");
  const slide = shown[0], box = slide.getBoundingClientRect();
  const heading = slide.querySelector("h1, h2").getBoundingClientRect();
  const figures = [...slide.querySelectorAll(".imgbox svg")].map(
    f => f.getBoundingClientRect().height);
  return {
    shown: shown.length, index: slides.indexOf(slide), width: box.width, height: box.height,
    heading: slide.querySelector("h1, h2").textContent,
    headingInView: heading.top >= 0 && heading.bottom <= innerHeight && heading.height > 0,
    figures: figures, counter: document.getElementById("counter").textContent,
    hash: location.hash,
  };
})()"""

#: The heading of the shown slide when its body needs scrolling, else null.
OVERFLOW = """(() => {
  const slide = [...document.querySelectorAll("section.slide")].find(
    s => getComputedStyle(s).display !== "none");
  const body = slide.querySelector(".body");
  return body && body.scrollHeight > body.clientHeight + 2
    ? slide.querySelector("h1, h2").textContent : null;
})()"""

#: The smallest text, in CSS px, of the shown slide's figures (their recorded smallest text
#: times the scale at which the browser draws them) and of its HTML text (figures left
#: out), and the heading and the text where the latter is.
LEGIBILITY = """(() => {
  const slide = [...document.querySelectorAll("section.slide")].find(
    s => getComputedStyle(s).display !== "none");
  const figures = [...slide.querySelectorAll(".imgbox svg")].map(svg => {
    const box = svg.getBoundingClientRect(), natural = svg.viewBox.baseVal;
    const scale = Math.min(box.width / natural.width, box.height / natural.height);
    const recorded = parseFloat(svg.dataset.minFontPx);
    return {id: svg.querySelector("use").getAttribute("href"), recorded, px: recorded * scale};
  });
  let text = Infinity, where = "";
  const walker = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, element = node.parentElement;
    if (!node.textContent.trim() || element.closest("svg")) continue;
    const size = parseFloat(getComputedStyle(element).fontSize);
    if (size < text) { text = size; where = node.textContent.trim().slice(0, 40); }
  }
  return {heading: slide.querySelector("h1, h2").textContent, figures, text, where,
          counter: parseFloat(getComputedStyle(document.getElementById("counter")).fontSize)};
})()"""
#: The slide of crafted.EXPECTED_HEADINGS that shows an overview figure.
FIGURE_SLIDE = 11

RIGHT = ("ArrowRight", "ArrowRight", 39)
LEFT = ("ArrowLeft", "ArrowLeft", 37)
HOME = ("Home", "Home", 36)
END = ("End", "End", 35)


def _not_blank(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    assert len(image.getcolors(maxcolors=1 << 20) or [None, None]) > 1, "a blank screenshot"
    return image


def test_deck_in_headless_chromium(crafted, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    render_deck(crafted.write_results(tmp_path / "tiny"), site / "slides.html")
    n = len(crafted.EXPECTED_HEADINGS)

    browser = DevTools(CHROMIUM, tmp_path / "profile")
    server = RecordingServer(site)  # after Chromium: no thread runs while it is forked
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    deck_url = f"http://127.0.0.1:{server.server_address[1]}/slides.html"
    try:
        browser.open_page()
        browser.call("Page.enable")
        browser.call("Network.enable")
        browser.call("Runtime.enable")
        browser.call(
            "Page.addScriptToEvaluateOnNewDocument",
            source="window.__blocked = []; document.addEventListener("
            "'securitypolicyviolation', e => window.__blocked.push(e.blockedURI));",
        )
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        # Opening the deck at #3 shows the third slide.
        browser.call("Page.navigate", url=f"{deck_url}#3")
        browser.wait_for("Page.loadEventFired")
        state = browser.evaluate(ACTIVE_SLIDE)
        assert (state["index"], state["counter"]) == (2, f"3 / {n}")
        assert browser.evaluate('document.querySelectorAll("section.slide").length') == n

        # Home, then the right arrow through every slide: each shows alone, whole, counted.
        browser.press(*HOME)
        screenshots = {}
        for i in range(n):
            if i:
                browser.press(*RIGHT)
            state = browser.evaluate(ACTIVE_SLIDE)
            assert state["shown"] == 1 and state["index"] == i, state
            assert (state["width"], state["height"]) == (WIDTH, HEIGHT), state
            assert state["heading"] == crafted.EXPECTED_HEADINGS[i]
            assert state["headingInView"], state
            assert state["counter"] == f"{i + 1} / {n}" and state["hash"] == f"#{i + 1}"
            assert all(h > HEIGHT / 3 for h in state["figures"]), state
            if i in (0, 7, FIGURE_SLIDE):  # title, a task's table, a figure
                shot = browser.call("Page.captureScreenshot", format="png")["data"]
                screenshots[i] = _not_blank(base64.b64decode(shot))
        browser.press(*RIGHT)  # past the end: stays on the last slide
        assert browser.evaluate(ACTIVE_SLIDE)["index"] == n - 1
        browser.press(*HOME)
        assert browser.evaluate(ACTIVE_SLIDE)["index"] == 0
        browser.press(*LEFT)
        assert browser.evaluate(ACTIVE_SLIDE)["index"] == 0
        browser.press(*END)
        assert browser.evaluate(ACTIVE_SLIDE)["index"] == n - 1

        # The figure slide shows the figure's pixels (write_results fills it with a colour).
        fill = crafted.FIGURE_COLOURS["faster_than_serial"]
        fill = tuple(int(fill[i : i + 2], 16) for i in (1, 3, 5))
        figure_pixels = sum(
            c for c, rgb in screenshots[FIGURE_SLIDE].getcolors(1 << 20) if rgb == fill
        )
        assert figure_pixels > WIDTH * HEIGHT / 10

        # Printing: one landscape page per slide.
        pdf = base64.b64decode(browser.call("Page.printToPDF", preferCSSPageSize=True)["data"])
        assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == n
        assert re.search(rb"/MediaBox\s*\[\s*0 0 960 540\s*\]", pdf)

        blocked = browser.evaluate("window.__blocked")
        fetched = [
            e["params"]["request"]["url"]
            for e in browser.events
            if e.get("method") == "Network.requestWillBeSent"
        ]
    finally:
        browser.close()
        server.shutdown()
        server.server_close()
    assert blocked == [], f"the page tried to load {blocked}"
    assert [u for u in fetched if not u.startswith(("data:", deck_url))] == []
    assert server.requests == ["/slides.html"]


def test_flagged_deck_with_known_answers_prints_one_page_per_slide(crafted, tmp_path):
    """Every new flag raised and a known-answers slide: the longer threat and method slides
    still fit, so that printing gives one page per slide and the content stays on screen."""
    site = tmp_path / "site"
    site.mkdir()
    meta = crafted.metadata(
        start_methods={
            "fork": {"results": 16, "median_pool_ready_s": 0.004},
            "spawn": {"results": 8, "median_pool_ready_s": 0.21},
        },
        eviction_methods=["system"],
        durability={"save_png": "fsync"},
        warnings=["a run warning"],
    )
    tables = {name: frame.assign(cache="cold") for name, frame in crafted.flagged_tables().items()}
    results = crafted.write_results(tmp_path / "tiny", meta=meta, tables=tables)
    crafted.write_calibration(results)
    render_deck(results, site / "slides.html")

    browser = DevTools(CHROMIUM, tmp_path / "profile")
    try:
        browser.open_page()
        browser.call("Page.enable")
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        browser.call("Page.navigate", url=(site / "slides.html").as_uri())
        browser.wait_for("Page.loadEventFired")
        n = browser.evaluate('document.querySelectorAll("section.slide").length')
        headings = browser.evaluate(
            '[...document.querySelectorAll("section.slide h2")].map(h => h.textContent)'
        )
        assert "Known answers: expected vs measured" in headings
        # The slides whose text grew: nothing is cut off at the bottom of the screen.
        overflowing = []
        browser.press(*HOME)
        for i in range(n):
            if i:
                browser.press(*RIGHT)
            cut = browser.evaluate(OVERFLOW)
            if cut and not cut.startswith("Appendix"):
                overflowing.append(cut)
        assert overflowing == []
        pdf = base64.b64decode(browser.call("Page.printToPDF", preferCSSPageSize=True)["data"])
        assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == n
    finally:
        browser.close()


def _slide_kind(index: int, state: dict) -> str:
    """What a slide shows, for the report of the smallest text per kind of slide."""
    heading = state["heading"]
    if index == 0:
        return "title"
    if any(f["id"].startswith("#fig-tasks-") for f in state["figures"]):
        return "task figure"
    if state["figures"]:
        return "overview figure"
    if heading.startswith("Threats"):
        return "threats"
    if heading.startswith("Appendix"):
        return "appendix table"
    if " · " in heading or heading.startswith(("Recommendations", "Overhead")):
        return "table"
    return "text"


def test_every_figure_and_text_is_legible_at_1280x720(crafted, model, tmp_path):
    """A deck of real figures, of a grid the size of the default config's (2 tasks, 2
    sizes, 2 values of n, 5 strategies, 3 worker counts), in Chromium at 1280x720: on every
    slide each figure's smallest text shows at 10 CSS px or more (its recorded size times
    the scale it is drawn at) and no HTML text is below 12 px."""
    from imgbench.report.deck.figures import MIN_FIGURE_TEXT_PX, MIN_HTML_TEXT_PX
    from imgbench.report.figures.plot import plot_all

    results = tmp_path / "e"
    cells = model.cells(tasks=("read", "decode"), sizes=((64, 48), (256, 192)), n_values=(16, 64))
    model.write_tables(results, cells)
    (results / "metadata.json").write_text(json.dumps(crafted.metadata()))
    plot_all(results, results / "figures")
    render_deck(results, tmp_path / "slides.html")

    browser = DevTools(CHROMIUM, tmp_path / "profile")
    smallest: dict[str, dict[str, float]] = {}
    try:
        browser.open_page()
        browser.call("Page.enable")
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        browser.call("Page.navigate", url=(tmp_path / "slides.html").as_uri())
        browser.wait_for("Page.loadEventFired")
        n = browser.evaluate('document.querySelectorAll("section.slide").length')
        browser.press(*HOME)
        figures_seen = 0
        for i in range(n):
            if i:
                browser.press(*RIGHT)
            state = browser.evaluate(LEGIBILITY)
            kind = smallest.setdefault(_slide_kind(i, state), {"html": math.inf})
            kind["html"] = min(kind["html"], state["text"])
            assert state["text"] >= MIN_HTML_TEXT_PX, (state["heading"], state["where"])
            assert state["counter"] >= MIN_HTML_TEXT_PX
            for figure in state["figures"]:
                figures_seen += 1
                assert figure["recorded"] > 0, figure
                assert figure["px"] >= MIN_FIGURE_TEXT_PX, (state["heading"], figure)
                kind["figure"] = min(kind.get("figure", math.inf), figure["px"])
    finally:
        browser.close()
    assert figures_seen == 4 + 5  # a figure per task and size, the overview and overhead
    print(
        "smallest text at 1280x720, CSS px: "
        + "; ".join(
            f"{kind}: " + ", ".join(f"{what} {px:.1f}" for what, px in sorted(sizes.items()))
            for kind, sizes in sorted(smallest.items())
        )
    )
