"""Dataset content: photographs (crops and mosaics at native scale), synthetic images and
noise, each deterministic, recorded in the manifest and part of the dataset's name."""

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from imgbench.cli import build_parser
from imgbench.cli.measure import DATASET_CONTENT
from imgbench.errors import DatasetError
from imgbench.measure import photos
from imgbench.measure.datasets import (
    CONTENTS,
    DEFAULT_CONTENT,
    LEGACY_CONTENT,
    dataset_name,
    load_manifest,
    make_dataset,
    make_image,
    parse_dataset_name,
    pixel_sha256,
)
from imgbench.measure.generators import noise_image, synthesize_image
from imgbench.plan.config import load_schema
from imgbench.plan.grid import DatasetSpec

SEED = 20261122


def _source(tile: photos.Tile, color: str) -> np.ndarray:
    """The tile's region of its photograph, read here independently of the cache."""
    photo = photos.BY_NAME[tile.photo]
    with Image.open(photos.data_dir() / photo.file) as im:
        array = np.asarray(im.convert("L") if color == "grey" else im)
    return array[tile.y : tile.y + tile.height, tile.x : tile.x + tile.width]


def _assert_cut_at_native_scale(image: np.ndarray, tiles, color: str) -> None:
    """Every pixel belongs to exactly one tile and equals its photograph's pixel there."""
    covered = np.zeros(image.shape[:2], np.int32)
    for t in tiles:
        region = image[t.top : t.top + t.height, t.left : t.left + t.width]
        np.testing.assert_array_equal(region, _source(t, color))
        covered[t.top : t.top + t.height, t.left : t.left + t.width] += 1
    assert (covered == 1).all()


# -- the registry -----------------------------------------------------------------------------


def test_every_photograph_is_public_domain_or_cc0_and_credited():
    assert len({p.name for p in photos.PHOTOS}) == len(photos.PHOTOS)
    for photo in photos.PHOTOS:
        assert photo.licence in photos.LICENCES, photo.name
        assert photo.author and photo.title and photo.source, photo.name
        credit = photo.credit()
        assert credit["licence"] == photo.licence and credit["file"] == photo.file


def test_registry_matches_the_installed_files():
    for photo in photos.PHOTOS:
        path = photos.photo_path(photo)
        with Image.open(path) as im:
            assert (im.width, im.height, im.mode) == (photo.width, photo.height, photo.mode)
        assert photos.pixels(photo.name, "grey").shape == (photo.height, photo.width)
    assert photos.version() is not None


def test_rgb_images_use_only_colour_photographs():
    assert all(p.mode == "RGB" for p in photos.candidates("rgb"))
    assert set(photos.candidates("grey")) == set(photos.PHOTOS)
    assert len(photos.candidates("rgb")) >= photos.MIN_SOURCES


# -- photographs: crops and mosaics -----------------------------------------------------------


def test_small_sizes_are_one_crop_at_native_scale():
    for color, index in itertools.product(("rgb", "grey"), range(6)):
        image, tiles = make_image("photo", 64, 48, SEED, index, color)
        assert image.dtype == np.uint8
        assert image.shape == ((48, 64, 3) if color == "rgb" else (48, 64))
        assert len(tiles) == 1 and (tiles[0].left, tiles[0].top) == (0, 0)
        _assert_cut_at_native_scale(image, tiles, color)


def test_crops_come_from_several_photographs_and_offsets():
    drawn = [photos.layout(64, 48, "rgb", SEED, i)[0] for i in range(40)]
    assert len({t.photo for t in drawn}) >= photos.MIN_SOURCES
    assert len({(t.photo, t.x, t.y) for t in drawn}) == 40


@pytest.mark.parametrize(
    ("width", "height", "color"),
    [(640, 480, "rgb"), (1280, 960, "rgb"), (1280, 960, "grey"), (4000, 3000, "rgb")],
)
def test_sizes_beyond_the_photographs_are_mosaics_of_native_crops(width, height, color):
    image, tiles = make_image("photo", width, height, SEED, 2, color)
    assert image.shape[:2] == (height, width) and len(tiles) > 1
    _assert_cut_at_native_scale(image, tiles, color)
    # Every tile is one that at least MIN_SOURCES photographs contain.
    for t in tiles:
        fits = photos._containing(photos.candidates(color), t.width, t.height)
        assert len(fits) >= photos.MIN_SOURCES


def test_mosaic_has_the_fewest_tiles_that_enough_photographs_contain():
    def enough(w: int, h: int, color: str) -> bool:
        return len(photos._containing(photos.candidates(color), w, h)) >= photos.MIN_SOURCES

    for (width, height), color in itertools.product(
        [(50, 50), (640, 480), (800, 800), (1280, 960), (4000, 3000)], ("rgb", "grey")
    ):
        cols, rows = photos.grid(width, height, color)
        assert enough(math.ceil(width / cols), math.ceil(height / rows), color)
        fewer = [
            (c, r)
            for c in range(1, cols * rows)
            for r in range(1, cols * rows // c + 1)
            if c * r < cols * rows
        ]
        assert not any(
            enough(math.ceil(width / c), math.ceil(height / r), color) for c, r in fewer
        ), (width, height, color)
    assert photos.grid(64, 48, "rgb") == (1, 1)


def test_photo_images_are_deterministic_per_seed_and_index():
    a, tiles = make_image("photo", 320, 200, 3, 5)
    b, again = make_image("photo", 320, 200, 3, 5)
    assert np.array_equal(a, b) and tiles == again
    assert not np.array_equal(a, make_image("photo", 320, 200, 3, 6)[0])
    assert not np.array_equal(a, make_image("photo", 320, 200, 4, 5)[0])


def test_grey_photo_images_are_pillow_L_of_the_colour_crop():
    for index in range(12):
        grey, tiles = make_image("photo", 40, 30, SEED, index, "grey")
        (tile,) = tiles
        photo = photos.BY_NAME[tile.photo]
        if photo.mode == "RGB":
            rgb = photos.pixels(photo.name, "rgb")
            crop = rgb[tile.y : tile.y + 30, tile.x : tile.x + 40]
            np.testing.assert_array_equal(grey, np.asarray(Image.fromarray(crop).convert("L")))


# -- noise and synthetic ----------------------------------------------------------------------


def test_noise_is_uniform_over_the_values_study_002_drew():
    image = noise_image(256, 256, SEED, 0)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    # np.random.randint(0, 255): every value from 0 to 254, never 255; mean 127.
    values = np.bincount(image.ravel(), minlength=256)
    assert (values[:255] > 0).all() and values[255] == 0
    assert abs(image.mean() - 127.0) < 1.0
    assert noise_image(50, 50, SEED, 0, "grey").shape == (50, 50)
    np.testing.assert_array_equal(image, noise_image(256, 256, SEED, 0))
    assert not np.array_equal(image, noise_image(256, 256, SEED, 1))


def test_synthetic_content_is_the_synthesizer():
    image, tiles = make_image("synthetic", 32, 24, 7, 1, "grey")
    np.testing.assert_array_equal(image, synthesize_image(32, 24, 7, 1, "grey"))
    assert tiles == ()


def test_unknown_content_is_refused_naming_the_allowed(tmp_path):
    with pytest.raises(DatasetError, match="allowed: photo, synthetic, noise"):
        make_image("pictures", 8, 8, 1, 0)
    with pytest.raises(DatasetError, match="allowed: photo, synthetic, noise"):
        make_dataset(tmp_path / "d", "png", 8, 8, 1, seed=1, content="pictures")
    assert not (tmp_path / "d").exists()


# -- datasets: manifest and name --------------------------------------------------------------


def test_photo_manifest_records_content_tiles_and_licences(tmp_path):
    ds = make_dataset(tmp_path / "p", "png", 700, 500, 3, seed=SEED)
    assert ds.content == DEFAULT_CONTENT == "photo"
    raw = json.loads((tmp_path / "p/manifest.json").read_text())
    assert raw["content"] == "photo" and raw["photo_package"].startswith("scikit-image ")
    assert len(raw["tiles"]) == 3
    used = set()
    for i, recorded in enumerate(raw["tiles"]):
        expected = [t.__dict__ for t in photos.layout(700, 500, "rgb", SEED, i)]
        assert recorded == expected
        used |= {t["photo"] for t in recorded}
    assert set(ds.photos) == used
    for name, credit in ds.photos.items():
        assert credit["licence"] in photos.LICENCES and credit["author"]
        assert len(credit["file_sha256"]) == 64 and len(credit["pixel_sha256"]) == 64
        assert credit == raw["photos"][name]
    # PNG is lossless: the files hold the cut images themselves.
    for entry, i in zip(ds.files, range(3), strict=True):
        assert entry.pixel_sha256 == pixel_sha256(make_image("photo", 700, 500, SEED, i)[0])


def test_image_i_does_not_depend_on_the_dataset_size(tmp_path):
    three = make_dataset(tmp_path / "three", "raw", 96, 64, 3, seed=2, color="grey")
    five = make_dataset(tmp_path / "five", "raw", 96, 64, 5, seed=2, color="grey", workers=2)
    assert three.pixel_sha256 == five.pixel_sha256[:3]


@pytest.mark.parametrize("content", CONTENTS)
def test_encoded_from_raw_equals_made_directly(tmp_path, content):
    raw = make_dataset(tmp_path / "raw", "raw", 48, 32, 4, seed=1, content=content)
    made = make_dataset(tmp_path / "a", "png", 48, 32, 4, seed=1, content=content)
    encoded = make_dataset(
        tmp_path / "b", "png", 48, 32, 4, seed=1, content=content, source=raw.directory
    )
    assert made.files == encoded.files and made.content == encoded.content == content
    assert json.loads((tmp_path / "a/manifest.json").read_text()).get("tiles") == json.loads(
        (tmp_path / "b/manifest.json").read_text()
    ).get("tiles")


def test_a_raw_source_of_another_content_is_refused(tmp_path):
    raw = make_dataset(tmp_path / "raw", "raw", 16, 8, 2, seed=5, content="noise")
    with pytest.raises(DatasetError, match="not a raw photo rgb dataset"):
        make_dataset(tmp_path / "x", "jpeg", 16, 8, 2, seed=5, source=raw.directory)


def test_contents_of_one_size_never_share_a_name():
    names = {dataset_name("jpeg", 64, 48, 16, SEED, "rgb", c) for c in CONTENTS}
    assert len(names) == len(CONTENTS)
    specs = {DatasetSpec("jpeg", 64, 48, 16, SEED, "rgb", c).name for c in CONTENTS}
    assert specs == names
    for content in CONTENTS:
        name = dataset_name("raw", 50, 50, 100, 7, "grey", content)
        assert parse_dataset_name(name) == {
            "format": "raw",
            "content": content,
            "color": "grey",
            "width": 50,
            "height": 50,
            "count": 100,
            "seed": 7,
        }
    # Named before there was a choice: synthesized.
    assert parse_dataset_name("jpeg-rgb-64x64-n16-s20261122")["content"] == LEGACY_CONTENT
    assert parse_dataset_name("my-photos") is None


def test_old_manifests_read_as_synthetic(tmp_path):
    ds = make_dataset(tmp_path / "d", "png", 8, 8, 1, seed=1, content="synthetic")
    path = tmp_path / "d/manifest.json"
    raw = json.loads(path.read_text())
    del raw["content"]
    path.write_text(json.dumps(raw))
    assert load_manifest(ds.directory).content == LEGACY_CONTENT == "synthetic"


# -- the photographs' files -------------------------------------------------------------------


def test_a_missing_photograph_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(photos, "data_dir", lambda: tmp_path)
    photos.pixels.cache_clear()
    try:
        with pytest.raises(DatasetError, match=r"astronaut\.png: photograph 'astronaut'"):
            photos.pixels("astronaut", "rgb")
        # A file of another size than the registry's is not silently cut.
        Image.new("RGB", (10, 10)).save(tmp_path / "astronaut.png")
        with pytest.raises(DatasetError, match="10x10 RGB, the registry says 512x512 RGB"):
            photos.pixels("astronaut", "rgb")
    finally:
        photos.pixels.cache_clear()


def test_without_scikit_image_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(photos.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match="pip install scikit-image"):
        photos.data_dir()


def test_photographs_are_read_without_scikit_image_or_a_download():
    """The files are read with Pillow: neither skimage (nor pooch, its fetcher) is imported."""
    code = (
        "import sys\n"
        "from imgbench.measure.datasets import make_image\n"
        "make_image('photo', 900, 700, 1, 0)\n"
        "make_image('photo', 900, 700, 1, 1, 'grey')\n"
        "assert not {'skimage', 'pooch'} & set(sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the command and the config agree ---------------------------------------------------------


def test_make_dataset_command_defaults_to_the_configs_content(tmp_path, capsys):
    experiment = load_schema()["$defs"]["experiment"]["properties"]
    assert experiment["content"]["default"] == DEFAULT_CONTENT == DATASET_CONTENT
    assert experiment["content"]["enum"] == list(CONTENTS)
    parser = build_parser()
    args = parser.parse_args(
        ["make-dataset", "--format", "png", "--size", "8x8", "--count", "1", "--output", "o"]
    )
    assert args.content == DEFAULT_CONTENT
    from imgbench.cli import main

    out = tmp_path / "noise"
    argv = ["make-dataset", "--format", "png", "--size", "8x6", "--count", "2"]
    assert main([*argv, "--content", "noise", "--output", str(out)]) == 0
    assert load_manifest(out).content == "noise"
    assert main([*argv, "--content", "pictures", "--output", str(tmp_path / "x")]) == 1
    assert "allowed: photo, synthetic, noise" in capsys.readouterr().err
