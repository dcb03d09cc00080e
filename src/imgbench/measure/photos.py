"""Real photographs as dataset content: the registry of photographs and how an image is cut
from them.

Codecs do a different amount of work on photographs (detail, sensor noise, chroma) than on
smooth synthetic images, so the default content of a dataset is photographs. They come from
a dependency's wheel, scikit-image's data module, so that no download ever happens and a
dataset is the same on every machine with the same scikit-image: the files are read with
Pillow from the installed package's directory, never through ``skimage.data`` (whose
fetchers may reach for the network through pooch).

Only photographs that scikit-image's documentation (the docstrings of
``skimage/data/_fetchers.py``) says are in the public domain or CC0 are kept, and only those
it ships without having resampled them. Left out, and why:

- coins, immunohistochemistry: "no known copyright restrictions" is a rights statement, not
  a public-domain dedication or a CC0 licence;
- moon, page: no licence stated;
- motorcycle_left/right (Middlebury 2014): no public-domain or CC0 statement, and
  downsampled 4x by scikit-image;
- brick, gravel: CC0, but rescaled by scikit-image (brick also perspective-transformed);
- microaneurysms: CC0, but one colour channel of a 102x102 detail;
- cell: a phase image computed from a hologram, not a photograph;
- text, horse, logo, color, phantom, chessboard: drawings and test patterns.

An image is cut at native scale, never resampled (resampling smooths a photograph, which
makes it cheaper to encode than the photograph was): one crop of one photograph when at
least ``MIN_SOURCES`` photographs contain the size, so that a dataset's images come from
several photographs and not all from the one large enough; otherwise a mosaic of the fewest
equal tiles (to a pixel) that as many photographs contain, each tile a native-scale crop.
Which photograph and offset each crop or tile takes is drawn from the seed and the image's
index, so image ``i`` of a seed is the same whatever the dataset's size.

Greyscale images are the photographs converted with Pillow's "L" mode (ITU-R 601-2 luma:
L = R * 299/1000 + G * 587/1000 + B * 114/1000), and the greyscale photographs as they are;
RGB images use only the colour photographs (a grey photograph in RGB would be three equal
channels, which codecs compress unlike colour). Pixels are taken as stored: embedded ICC
profiles are not applied.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from imgbench.errors import DatasetError

#: The distribution whose wheel ships the photographs, and its package's data directory.
DISTRIBUTION = "scikit-image"
PACKAGE = "skimage"
DATA_DIR = "data"
#: A crop or tile size is used only where at least this many photographs contain it.
MIN_SOURCES = 3


@dataclass(frozen=True)
class Photo:
    """One photograph: its file in the data directory, its size and mode as shipped, and
    who made it under which licence (as scikit-image's documentation states)."""

    name: str
    file: str
    width: int
    height: int
    mode: str
    title: str
    author: str
    licence: str
    source: str

    def credit(self) -> dict:
        """What a manifest and a deck say about the photograph."""
        return {k: v for k, v in asdict(self).items() if k not in ("width", "height", "mode")}


#: Every photograph a dataset may use, in a fixed order (the draw indexes into it).
PHOTOS: tuple[Photo, ...] = (
    Photo(
        "astronaut",
        "astronaut.png",
        512,
        512,
        "RGB",
        "Astronaut Eileen Collins",
        "NASA",
        "public domain",
        "https://flic.kr/p/r9qvLn",
    ),
    Photo(
        "chelsea",
        "chelsea.png",
        451,
        300,
        "RGB",
        "Chelsea the cat",
        "Stefan van der Walt",
        "CC0",
        "scikit-image (skimage.data.chelsea)",
    ),
    Photo(
        "coffee",
        "coffee.png",
        600,
        400,
        "RGB",
        "Coffee cup (courtesy of Pikolo Espresso Bar)",
        "Rachel Michetti",
        "CC0",
        "scikit-image (skimage.data.coffee)",
    ),
    Photo(
        "hubble_deep_field",
        "hubble_deep_field.jpg",
        1000,
        872,
        "RGB",
        "Hubble eXtreme Deep Field",
        "NASA",
        "public domain",
        "http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/",
    ),
    Photo(
        "retina",
        "retina.jpg",
        1411,
        1411,
        "RGB",
        "Fundus photograph of a normal left eye",
        "Mikael Häggström",
        "CC0 1.0",
        "https://commons.wikimedia.org/wiki/File:Fundus_photograph_of_normal_left_eye.jpg",
    ),
    Photo(
        "rocket",
        "rocket.jpg",
        640,
        427,
        "RGB",
        "Launch of DSCOVR on Falcon 9",
        "SpaceX",
        "public domain",
        "https://www.flickr.com/photos/spacexphotos/16511594820/",
    ),
    Photo(
        "camera",
        "camera.png",
        512,
        512,
        "L",
        "Camera man",
        "Lav Varshney",
        "CC0",
        "scikit-image (skimage.data.camera)",
    ),
    Photo(
        "clock",
        "clock_motion.png",
        400,
        300,
        "L",
        "Motion-blurred wall clock",
        "Stefan van der Walt",
        "public domain",
        "scikit-image (skimage.data.clock)",
    ),
    Photo(
        "grass",
        "grass.png",
        512,
        512,
        "L",
        "Grass (a crop, converted to greyscale by scikit-image)",
        "linolafett (DeviantArt)",
        "CC0",
        "https://www.deviantart.com/linolafett/art/Grass-01-434853879",
    ),
)
BY_NAME = {p.name: p for p in PHOTOS}
#: The licences a photograph may have to be in the registry (tests check every entry).
LICENCES = ("public domain", "CC0", "CC0 1.0")


def candidates(color: str) -> tuple[Photo, ...]:
    """The photographs an image of ``color`` may come from (see the module docstring)."""
    return PHOTOS if color == "grey" else tuple(p for p in PHOTOS if p.mode == "RGB")


@dataclass(frozen=True)
class Tile:
    """A ``width`` x ``height`` region of the photograph ``photo`` at (``x``, ``y``), placed
    in the image at (``left``, ``top``)."""

    photo: str
    x: int
    y: int
    width: int
    height: int
    left: int
    top: int


def _splits(total: int, parts: int) -> list[tuple[int, int]]:
    """``total`` pixels in ``parts`` runs that differ by at most one: (start, length)."""
    base, extra = divmod(total, parts)
    out, start = [], 0
    for k in range(parts):
        length = base + (1 if k < extra else 0)
        out.append((start, length))
        start += length
    return out


def _containing(photos: tuple[Photo, ...], width: int, height: int) -> tuple[Photo, ...]:
    return tuple(p for p in photos if p.width >= width and p.height >= height)


@functools.lru_cache(maxsize=256)
def grid(width: int, height: int, color: str) -> tuple[int, int]:
    """Columns and rows of the mosaic for a size: (1, 1) is one crop.

    The fewest tiles whose largest (``ceil(width / cols)`` x ``ceil(height / rows)``) at
    least ``MIN_SOURCES`` photographs contain; among as few, the tile size more photographs
    contain, then the squarer tile. For each column count the fewest rows follow from the
    photographs wide enough, so the search is one pass over column counts, ending where
    every photograph is wide enough (more columns cannot need fewer rows).
    """
    photos = candidates(color)
    if len(photos) < MIN_SOURCES:
        raise DatasetError(f"fewer than {MIN_SOURCES} photographs for {color} images")
    narrowest = min(p.width for p in photos)
    best: tuple | None = None
    cols = 0
    while True:
        cols += 1
        tile_w = math.ceil(width / cols)
        wide = sorted((p.height for p in photos if p.width >= tile_w), reverse=True)
        if len(wide) >= MIN_SOURCES:
            rows = math.ceil(height / wide[MIN_SOURCES - 1])
            tile_h = math.ceil(height / rows)
            sources = len(_containing(photos, tile_w, tile_h))
            key = (cols * rows, -sources, abs(math.log(tile_w / tile_h)), cols)
            if best is None or key < best[0]:
                best = (key, cols, rows)
        if tile_w <= narrowest:
            break
    assert best is not None  # the last pass has every photograph wide enough
    return best[1], best[2]


def layout(width: int, height: int, color: str, seed: int, index: int) -> tuple[Tile, ...]:
    """Where each region of image ``index`` of ``seed`` comes from, row by row.

    Each tile draws its photograph (among those that contain it) and then its offset
    (uniform over every position where it fits), in that order, from one generator of
    (seed, index)."""
    cols, rows = grid(width, height, color)
    photos = candidates(color)
    rng = np.random.default_rng([seed, index])
    tiles = []
    for top, tile_h in _splits(height, rows):
        for left, tile_w in _splits(width, cols):
            fits = _containing(photos, tile_w, tile_h)
            photo = fits[int(rng.integers(len(fits)))]
            x = int(rng.integers(0, photo.width - tile_w + 1))
            y = int(rng.integers(0, photo.height - tile_h + 1))
            tiles.append(Tile(photo.name, x, y, tile_w, tile_h, left, top))
    return tuple(tiles)


def data_dir() -> Path:
    """The installed scikit-image's data directory, found without importing scikit-image."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            f"content photo needs {DISTRIBUTION} (pip install {DISTRIBUTION}), whose wheel "
            "ships the photographs"
        )
    return Path(next(iter(spec.submodule_search_locations))) / DATA_DIR


def version() -> str | None:
    """The installed scikit-image's version, which fixes the photographs' files."""
    # Imported here: a cell job, which imports this module with its dataset's, must not pay
    # for importlib.metadata (tests/measure/test_runner.py).
    import importlib.metadata

    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def photo_path(photo: Photo) -> Path:
    path = data_dir() / photo.file
    if not path.is_file():
        raise DatasetError(
            f"{path}: photograph {photo.name!r} is missing from the installed {DISTRIBUTION} "
            f"({version() or 'unknown version'}); reinstall it, or choose content synthetic"
        )
    return path


@functools.cache
def pixels(name: str, color: str) -> np.ndarray:
    """The photograph's pixels as an image of ``color`` needs them (read-only, cached per
    process): RGB (h, w, 3) as stored, or greyscale (h, w) converted with Pillow's "L"."""
    photo = BY_NAME[name]
    path = photo_path(photo)
    with Image.open(path) as im:
        if (im.width, im.height, im.mode) != (photo.width, photo.height, photo.mode):
            raise DatasetError(
                f"{path}: {im.width}x{im.height} {im.mode}, the registry says "
                f"{photo.width}x{photo.height} {photo.mode}; {DISTRIBUTION} "
                f"{version()} ships a different photograph (imgbench.measure.photos.PHOTOS)"
            )
        array = np.asarray(im.convert("L") if color == "grey" else im)
    array.flags.writeable = False
    return array


def photo_image(
    width: int, height: int, seed: int, index: int, color: str = "rgb"
) -> tuple[np.ndarray, tuple[Tile, ...]]:
    """Image ``index`` of ``seed`` (``uint8``, (height, width, 3) or (height, width) for
    greyscale) and the tiles it was cut from."""
    tiles = layout(width, height, color, seed, index)
    shape = (height, width, 3) if color == "rgb" else (height, width)
    out = np.empty(shape, np.uint8)
    for t in tiles:
        source = pixels(t.photo, color)
        out[t.top : t.top + t.height, t.left : t.left + t.width] = source[
            t.y : t.y + t.height, t.x : t.x + t.width
        ]
    return out, tiles


def provenance(names: set[str]) -> dict[str, dict]:
    """Per photograph used, its credit and its file's and pixels' SHA-256: a change of
    scikit-image's files (or of the JPEG decoder's output) shows in the manifest."""
    out = {}
    for name in sorted(names):
        photo = BY_NAME[name]
        path = photo_path(photo)
        out[name] = {
            **photo.credit(),
            "width": photo.width,
            "height": photo.height,
            "mode": photo.mode,
            "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "pixel_sha256": hashlib.sha256(
                np.ascontiguousarray(pixels(name, "rgb" if photo.mode == "RGB" else "grey")).data
            ).hexdigest(),
        }
    return out
