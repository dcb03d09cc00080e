"""The golden results tree: recorded cell results, and every output derived from them.

``tests/data/golden/recorded/`` holds the cell results of one run of
``tests/configs/golden.yaml`` (no datasets: nothing here runs a cell). ``derive`` runs the
stages after the cells exactly as the rules call them (the CLI, in a fresh interpreter), and
``fingerprint`` reduces what they wrote to what must not change: table and metadata bytes,
SVG text, each PNG's size and recorded text (not its pixels: see ``fingerprint``), deck HTML
with its embedded PNGs reduced to their sizes. ``tests/data/golden/expected.json`` is that
fingerprint as recorded; re-record it, when an output is meant to change, with

    python -m tests.helpers.golden record
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests/data/golden"
RECORDED = GOLDEN / "recorded"
EXPECTED = GOLDEN / "expected.json"
EXPERIMENTS = ("golden", "tiny_images")
#: The study reference the recorded run was compared with, as it was when recorded: the
#: preset's own (config/references/tiny_images.yaml) moves on with the preset.
REFERENCE = GOLDEN / "reference.yaml"


def _imgbench(workdir: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "imgbench", *args]
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")


def derive(workdir: Path) -> Path:
    """Copy the recorded tree into ``workdir`` and run aggregate .. bundle on it."""
    results = workdir / "results"
    shutil.copytree(RECORDED, results)
    config = "results/config.resolved.yaml"
    for name in EXPERIMENTS:
        out = f"results/{name}"
        description = "golden run"
        _imgbench(
            workdir, "aggregate", "--results-dir", out, "--config", config,
            f"--experiment={name}", "--output-dir", out, f"--description={description}",
        )  # fmt: skip
        if name == "golden":
            _imgbench(workdir, "calibration", "--results-dir", out)
        _imgbench(workdir, "plot", "--results-dir", out, "--output-dir", f"{out}/figures")
        _imgbench(workdir, "slides", "--results-dir", out, "--output", f"{out}/slides.html")
        _imgbench(workdir, "markdown", "--results-dir", out, "--output", f"{out}/report.md")
    _imgbench(
        workdir, "reference", "--reference", str(REFERENCE), "--results-root", "results",
        "--output-html", "results/reference/slides.html",
        "--output-csv", "results/reference/comparison.csv",
    )  # fmt: skip
    return results


def copy_of(results: Path, workdir: Path) -> Path:
    """A copy of a derived results tree (the session's ``golden_results``) in ``workdir``."""
    return Path(shutil.copytree(results, workdir / "results"))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(results: Path) -> dict[str, str]:
    """Path (relative to ``results``) -> what must stay equal, for every derived output."""
    prints = {}
    for path in sorted(results.rglob("*")):
        rel = path.relative_to(results).as_posix()
        if not path.is_file() or "/cells/" in f"/{rel}" or rel.startswith("config."):
            continue
        if path.suffix == ".png":
            # A PNG's size and recorded smallest text, not its pixels: matplotlib's Agg
            # rasterizes the same drawing with a few anti-aliased pixels different from one
            # run to the next (the speedup sheet: 1-40 pixels of 1.7 million, in about one run
            # in three), while the figure's SVG twin, the same drawing as vectors, stays the
            # same byte for byte and is pinned below.
            with Image.open(path) as image:
                prints[rel] = f"png {image.size} {image.mode} {sorted(image.text.items())}"
        elif path.suffix == ".html":
            # The decks embed the PNGs: pinned with each figure's data replaced by its size.
            prints[rel] = _digest(_PNG_DATA.sub(_png_size, path.read_text()).encode())
        else:
            prints[rel] = _digest(path.read_bytes())
    return prints


_PNG_DATA = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def _png_size(match: re.Match) -> str:
    with Image.open(io.BytesIO(base64.b64decode(match.group(1)))) as image:
        return f"data:image/png;{image.size[0]}x{image.size[1]}"


def record(workdir: Path) -> None:
    prints = fingerprint(derive(workdir))
    EXPECTED.write_text(json.dumps(prints, indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXPECTED} ({len(prints)} outputs)")


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:] != ["record"]:
        sys.exit("usage: python -m tests.helpers.golden record")
    with tempfile.TemporaryDirectory() as tmp:
        record(Path(tmp))
