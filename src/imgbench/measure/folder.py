"""A folder of the user's own images as the source of a dataset (``dataset: {path: DIR}``).

imgbench never writes into that folder. It reads it recursively (JPEG, PNG, WebP, TIFF, BMP,
GIF, by suffix, any case), checks every image (``inspect``), picks the images a dataset needs
in an order fixed by the seed (``pick``), and makes each one the dataset's size
(``fitted_array``) as a copy under ``results/datasets/``; the dataset's manifest records which
file every image came from, with its size, mode, format and checksum, and every file that
could not be used, with the reason.

- **Bad files** (not an image, truncated or corrupt, a decompression bomb that Pillow
  refuses: more than twice ``Image.MAX_IMAGE_PIXELS``, pixels that are not 8-bit) are named;
  ``on_bad_image: fail`` (the default) stops with the list, ``skip`` leaves them out and
  records them.
- **Symlinks** are not followed out of the folder: a link whose target lies outside is
  named as skipped; directories are never followed through links.
- **Orientation**: the EXIF orientation is applied (``ImageOps.exif_transpose``) before
  fitting, so an image is the way up a photo viewer shows it. imgbench's decode task then
  decodes the copy, which has no orientation tag: what is timed is the decode of upright
  pixels, whatever the camera wrote.
- **Size**: the image is scaled to cover the size and centre-cropped (``ImageOps.fit``,
  Lanczos), keeping its aspect; a smaller image is scaled up (said in the manifest).
- **Native** (``sizes: [native]``): the picked files are copied byte for byte instead, each
  in its own size, format and mode, and timed as found; orientation is left as stored, as
  every library's plain decode leaves it. The manifest records each file's decoded shape and
  the distribution of sizes, formats and modes (``native_summary``), which the deck shows.
"""

from __future__ import annotations

import hashlib
import os
import random
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imgbench.errors import DatasetError

#: Files read as images, by suffix (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif")
#: What ``on_bad_image`` may say.
ON_BAD_IMAGE = ("fail", "skip")
#: Modes whose pixels are not 8 bits per channel: converting them to RGB would clip or
#: rescale, so the decode timed would not be the user's.
UNSUPPORTED_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N")


@dataclass(frozen=True)
class SourceImage:
    """One usable image of the folder: its path relative to the folder, and what it is."""

    name: str
    bytes: int
    sha256: str
    width: int
    height: int
    mode: str
    format: str
    #: The EXIF orientation tag (1: upright, or no tag).
    orientation: int


@dataclass(frozen=True)
class FolderScan:
    folder: Path
    usable: tuple[SourceImage, ...]
    #: (relative path, reason) of every image file that cannot be used.
    bad: tuple[tuple[str, str], ...]
    #: Files left alone because their suffix is not an image's.
    ignored: int


def folder_id(folder: Path) -> str:
    """A short name for a folder, from its resolved path (part of its datasets' names)."""
    return hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:8]


def folder_state(folder: Path) -> str:
    """A digest of what the folder holds: every file's relative path, size and modification
    time (cheap: no file is read); it changes when a file is changed, added or removed."""
    listing = hashlib.sha256()
    for directory, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(directory) / name
            try:
                stat = path.lstat()
            except OSError:
                continue
            entry = f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
            listing.update(entry.encode())
    return listing.hexdigest()[:16]


def _candidates(folder: Path) -> tuple[list[tuple[str, str | None]], int]:
    """(relative path, None or why it is skipped) of each image file, sorted; and how many
    other files there were."""
    root = folder.resolve()
    found: list[tuple[str, str | None]] = []
    ignored = 0
    for directory, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(directory) / name
            relative = str(path.relative_to(folder))
            if not name.lower().endswith(IMAGE_SUFFIXES):
                ignored += 1
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    found.append(
                        (relative, f"a symlink to {target}, outside the folder: not followed")
                    )
                    continue
            found.append((relative, None))
    return found, ignored


def inspect(path: Path) -> SourceImage | str:
    """What an image file is, or why it cannot be used (every pixel is decoded: a truncated
    file shows only then)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    try:
        # Pillow warns between its limit and twice it and refuses beyond: the refusal is
        # what is reported, the warning would only be noise in the dataset's log.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                width, height, mode, fmt = im.width, im.height, im.mode, im.format or "?"
                orientation = int(im.getexif().get(0x0112, 1) or 1)
    except Image.DecompressionBombError as exc:
        return f"a decompression bomb: {exc}"
    except UnidentifiedImageError:
        return "not an image Pillow can read"
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's ways of saying "corrupt"
        return f"truncated or corrupt ({type(exc).__name__}: {exc})"
    if mode in UNSUPPORTED_MODES:
        return f"mode {mode} (16-bit or float pixels): imgbench's tasks work on 8-bit images"
    digest = hashlib.sha256(data).hexdigest()
    return SourceImage(str(path), len(data), digest, width, height, mode, fmt, orientation)


def scan(folder: Path) -> FolderScan:
    """Every image of ``folder``, checked; a folder that does not exist or holds no image
    file is a ``DatasetError`` naming it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"dataset folder {folder}: no such directory")
    candidates, ignored = _candidates(folder)
    usable, bad = [], []
    for relative, skipped in candidates:
        if skipped is not None:
            bad.append((relative, skipped))
            continue
        found = inspect(folder / relative)
        if isinstance(found, str):
            bad.append((relative, found))
        else:
            usable.append(SourceImage(**{**asdict(found), "name": relative}))
    if not candidates:
        raise DatasetError(
            f"dataset folder {folder}: no image files ({', '.join(IMAGE_SUFFIXES)}); "
            f"{ignored} other files"
        )
    return FolderScan(folder, tuple(usable), tuple(bad), ignored)


def bad_report(found: FolderScan) -> str:
    return "; ".join(f"{found.folder / name}: {reason}" for name, reason in found.bad)


def pick(found: FolderScan, count: int, seed: int, on_bad_image: str = "fail") -> list[SourceImage]:
    """``count`` usable images in the seed's order (the same seed, the same images and
    order); bad files fail the pick with ``on_bad_image: fail``."""
    if on_bad_image not in ON_BAD_IMAGE:
        raise DatasetError(f"on_bad_image {on_bad_image!r}: allowed {', '.join(ON_BAD_IMAGE)}")
    if found.bad and on_bad_image == "fail":
        raise DatasetError(
            f"dataset folder {found.folder}: {len(found.bad)} file(s) cannot be used "
            f"(on_bad_image: skip leaves them out): {bad_report(found)}"
        )
    if len(found.usable) < count:
        raise DatasetError(
            f"dataset folder {found.folder}: {len(found.usable)} usable images "
            f"({len(found.bad)} bad), the experiment needs {count}"
        )
    order = list(found.usable)
    random.Random(f"imgbench-folder-{seed}").shuffle(order)
    return order[:count]


def fitted_array(
    folder: Path, source: SourceImage, width: int, height: int, color: str
) -> np.ndarray:
    """The image, upright, converted (``color``: rgb or grey) and fitted to width x height."""
    with Image.open(Path(folder) / source.name) as im:
        upright = ImageOps.exif_transpose(im)
        converted = upright.convert("L" if color == "grey" else "RGB")
    fitted = ImageOps.fit(converted, (width, height), method=Image.Resampling.LANCZOS)
    return np.asarray(fitted)


def manifest_source(found: FolderScan, picked: list[SourceImage], width: int, height: int) -> dict:
    """What a dataset's manifest records of its folder; for native images (width and
    height 0), what they are: their sizes, formats and modes."""
    source = {
        "folder": str(Path(found.folder).resolve()),
        "images": [asdict(s) for s in picked],
        "bad": [{"name": name, "reason": reason} for name, reason in found.bad],
        "ignored_files": found.ignored,
        "usable": len(found.usable),
    }
    if (width, height) == (0, 0):
        return {
            **source,
            "native": native_summary(picked),
            "upscaled": 0,
            "orientation": "as stored: no EXIF orientation applied (each library's plain decode)",
            "fit": "none: each file copied byte for byte, timed at its own size and format",
        }
    return {
        **source,
        "upscaled": sum(s.width < width or s.height < height for s in picked),
        "orientation": "EXIF orientation applied (ImageOps.exif_transpose) before fitting",
        "fit": "scaled to cover the size and centre-cropped (ImageOps.fit, Lanczos)",
    }


def native_summary(images: list[SourceImage]) -> dict:
    """The distribution of a native dataset's images: megapixels (smallest, median,
    largest, total), the largest size, and how many of each format and mode."""
    megapixels = sorted(s.width * s.height / 1e6 for s in images)
    by_area = sorted(images, key=lambda s: s.width * s.height)
    return {
        "count": len(images),
        "megapixels_min": megapixels[0],
        "megapixels_median": float(np.median(megapixels)),
        "megapixels_max": megapixels[-1],
        "megapixels_total": sum(megapixels),
        "smallest": f"{by_area[0].width}x{by_area[0].height}",
        "largest": f"{by_area[-1].width}x{by_area[-1].height}",
        "formats": dict(sorted(Counter(s.format for s in images).items())),
        "modes": dict(sorted(Counter(s.mode for s in images).items())),
    }
