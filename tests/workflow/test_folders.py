"""End-to-end: an experiment on a folder of the user's own images, one of them bad: the run
skips it, names it on the deck, and writes nothing into the folder; the images fitted to a
size and as found (native)."""

import shutil

import pytest

from tests.helpers import CONFIGS, snakemake, write_image_folder

pytestmark = pytest.mark.e2e


def _state(root):
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_a_folder_of_mixed_images_with_a_bad_one(tmp_path):
    photos = write_image_folder(tmp_path / "photos")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    shutil.copy(CONFIGS / "folder.yaml", tmp_path / "folder.yaml")
    before = _state(photos)
    snakemake(tmp_path, "--cores", "2", "results/own/slides.html", config="folder.yaml")
    assert _state(photos) == before
    deck = (tmp_path / "results/own/slides.html").read_text()
    assert "Your folder" in deck and "broken.jpg" in deck
    assert "4 usable images" in deck
    # Timed as found too: the deck gives their sizes and formats.
    assert "timed as found" in deck and "30x30 to 64x48" in deck and "JPEG 2" in deck
    # Each format of the folder was primed before the timer (its decoder is loaded lazily).
    assert "sizes native, 32x24" in deck and "0 cells had workers that imported" in deck
    summary = (tmp_path / "results/own/summary.csv").read_text()
    assert ",0,0," in summary  # the native cells: width and height 0 (their paths say 0x0)
