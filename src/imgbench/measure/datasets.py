"""Deterministic synthetic photo-like datasets and their checksummed manifests.

Pure noise makes codecs behave unlike photographs (incompressible, no structure), so
images are smooth gradients and waves, overlapping shapes with soft edges, and moderate
sensor-like noise. Image ``i`` of a seed is the same whatever the dataset's size, so a
dataset of ``count`` images serves every cell that uses its first ``n`` images.

A dataset is a directory with ``manifest.json``, written last: a directory without it is
incomplete and is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from imgbench.errors import DatasetError

GENERATOR_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npy"
JPEG_QUALITY = 90
#: Encoded formats (files a task reads) and "raw" (in-memory arrays that save tasks encode).
FORMATS = {"png": ".png", "jpeg": ".jpg", "bmp": ".bmp"}
RAW = "raw"
#: Colour modes of a dataset: RGB arrays (h, w, 3), or greyscale arrays (h, w), Pillow's "L".
COLORS = ("rgb", "grey")


def channels(color: str) -> tuple[int, ...]:
    """The trailing shape of one pixel: (3,) for RGB, () for greyscale."""
    return (3,) if color == "rgb" else ()


def native_array(im: Image.Image) -> np.ndarray:
    """Pixels in the mode they were stored in: greyscale stays (h, w), anything else is RGB.

    Every decoder (tasks and manifest alike) goes through this, so that checksums agree.
    """
    return np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))


def synthesize_image(
    width: int, height: int, seed: int, index: int, color: str = "rgb"
) -> np.ndarray:
    """Image ``index`` of ``seed``: ``uint8`` of shape (height, width, 3), or (height, width)
    for greyscale (the RGB image converted with Pillow's luma weights)."""
    rng = np.random.default_rng([seed, index])
    # Smooth structure is computed on a coarse grid and upsampled: photos are mostly
    # low-frequency, and this keeps generation cheap for large images.
    cw, ch = max(2, width // 8), max(2, height // 8)
    y, x = np.mgrid[0:ch, 0:cw].astype(np.float32)
    coarse = np.empty((ch, cw, 3), np.float32)
    for c in range(3):
        gx, gy, phase = rng.uniform(-1.0, 1.0, 3)
        fx, fy = rng.uniform(0.5, 4.0, 2)
        coarse[..., c] = (
            128.0
            + 60.0 * (gx * x / cw + gy * y / ch)
            + 35.0 * np.sin((fx * x / cw + fy * y / ch) * np.pi * 2.0 + phase * 3.0)
        )
    base = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    draw = ImageDraw.Draw(base)
    short = min(width, height)
    for _ in range(int(rng.integers(6, 14))):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(max(1, short // 12), max(2, short // 3)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        box = [cx - r, cy - int(r * rng.uniform(0.5, 1.5)), cx + r, cy + r]
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(max(0.5, short / 400)))
    noise = rng.integers(-6, 7, size=(height, width, 3), dtype=np.int16)
    rgb = np.clip(np.asarray(base, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    if color == "grey":
        return np.asarray(Image.fromarray(rgb).convert("L"))
    return rgb


def pixel_sha256(array: np.ndarray) -> str:
    """Checksum of an array's pixels (C order), used to verify decoded and saved images.

    Hashed through the buffer itself, not a ``tobytes()`` copy; the same digest."""
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def file_name(index: int, fmt: str) -> str:
    return f"img_{index:06d}{FORMATS[fmt]}"


@dataclass(frozen=True)
class FileEntry:
    name: str
    bytes: int
    sha256: str
    pixel_sha256: str


@dataclass(frozen=True)
class Manifest:
    """What a dataset holds; ``files`` is empty for raw datasets (one arrays file)."""

    directory: Path
    format: str
    width: int
    height: int
    count: int
    seed: int
    files: tuple[FileEntry, ...]
    pixel_sha256: tuple[str, ...]
    color: str = "rgb"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one decoded image."""
        return (self.height, self.width, *channels(self.color))

    def paths(self, n: int) -> list[Path]:
        return [self.directory / f.name for f in self.files[:n]]

    def load_arrays(self, n: int) -> np.ndarray:
        """The first ``n`` raw images as one (n, *shape) array, fully in memory."""
        arrays = np.load(self.directory / ARRAYS, mmap_mode="r")
        if arrays.shape != (self.count, *self.shape):
            raise DatasetError(
                f"{self.directory / ARRAYS}: shape {arrays.shape} does not match the manifest "
                f"{(self.count, *self.shape)}"
            )
        return np.array(arrays[:n])


def dataset_name(fmt: str, width: int, height: int, count: int, seed: int, color: str) -> str:
    return f"{fmt}-{color}-{width}x{height}-n{count}-s{seed}"


def make_dataset(
    out_dir: Path,
    fmt: str,
    width: int,
    height: int,
    count: int,
    seed: int,
    source: Path | None = None,
    color: str = "rgb",
    workers: int = 1,
) -> Manifest:
    """Generate a dataset into ``out_dir`` atomically (a temporary sibling, then a rename).

    ``fmt`` is ``raw`` (the arrays themselves) or an encoded format; an encoded dataset is
    made from ``source``, a raw dataset of the same size, seed and at least ``count``
    images, when given, and synthesized otherwise. ``workers`` processes share the work;
    the result is the same whatever their number.
    """
    if fmt != RAW and fmt not in FORMATS:
        raise DatasetError(f"unknown dataset format {fmt!r}; allowed: raw, {', '.join(FORMATS)}")
    if color not in COLORS:
        raise DatasetError(f"unknown dataset colour {color!r}; allowed: {', '.join(COLORS)}")
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        src_dir = None
        if source is not None:
            src = load_manifest(source)
            want = (RAW, width, height, seed, color)
            if (src.format, src.width, src.height, src.seed, src.color) != want or (
                src.count < count
            ):
                raise DatasetError(
                    f"{source}: not a raw {color} dataset for {width}x{height} seed {seed}"
                )
            src_dir = src.directory
        jobs = [(tmp, fmt, width, height, seed, color, i, src_dir) for i in range(count)]
        arrays_out = None
        if fmt == RAW:
            # Written image by image: a large dataset never has to fit in memory.
            shape = (count, height, width, *channels(color))
            arrays_out = np.lib.format.open_memmap(tmp / ARRAYS, "w+", np.uint8, shape)
        pixel: list[str] = []
        files: list[FileEntry] = []
        with _pool(workers) as pool:
            for i, (digest, entry, array) in enumerate(pool(_make_image, jobs)):
                pixel.append(digest)
                if entry is not None:
                    files.append(entry)
                if arrays_out is not None:
                    arrays_out[i] = array
        if arrays_out is not None:
            arrays_out.flush()
            del arrays_out
        manifest = {
            "generator_version": GENERATOR_VERSION,
            "format": fmt,
            "width": width,
            "height": height,
            "count": count,
            "seed": seed,
            "color": color,
            "jpeg_quality": JPEG_QUALITY if fmt == "jpeg" else None,
            "pillow_version": Image.__version__,
            "pixel_sha256": list(pixel),
            "files": [f.__dict__ for f in files],
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_manifest(out_dir)


@contextlib.contextmanager
def _pool(workers: int):
    """A map function over ``workers`` processes, in order; the plain ``map`` for one."""
    if workers <= 1:
        yield map
        return
    with ProcessPoolExecutor(max_workers=workers) as executor:
        yield lambda fn, jobs: executor.map(fn, jobs, chunksize=1)


def _make_image(job: tuple) -> tuple[str, FileEntry | None, np.ndarray | None]:
    """One image: its pixel checksum, and its file (encoded formats) or its array (raw)."""
    tmp, fmt, width, height, seed, color, index, src_dir = job
    if src_dir is not None:
        array = np.array(np.load(Path(src_dir) / ARRAYS, mmap_mode="r")[index])
    else:
        array = synthesize_image(width, height, seed, index, color)
    digest = pixel_sha256(array)
    if fmt == RAW:
        return digest, None, array
    path = Path(tmp) / file_name(index, fmt)
    options = {"quality": JPEG_QUALITY} if fmt == "jpeg" else {}
    Image.fromarray(array).save(path, format=fmt.upper(), **options)
    with Image.open(path) as im:
        decoded = pixel_sha256(native_array(im))
    data = path.read_bytes()
    return digest, FileEntry(path.name, len(data), hashlib.sha256(data).hexdigest(), decoded), None


def load_manifest(directory: Path) -> Manifest:
    """Read a dataset's manifest; a missing or unreadable one names the dataset."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{directory}: no {MANIFEST}; the dataset is missing or incomplete")
    try:
        raw = json.loads(path.read_text())
        files = tuple(FileEntry(**f) for f in raw["files"])
        return Manifest(
            directory=directory,
            format=raw["format"],
            width=int(raw["width"]),
            height=int(raw["height"]),
            count=int(raw["count"]),
            seed=int(raw["seed"]),
            files=files,
            pixel_sha256=tuple(raw["pixel_sha256"]),
            color=raw.get("color", "rgb"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: unreadable manifest ({exc})") from exc


def check_files(manifest: Manifest, n: int) -> None:
    """Fail, naming the file, if one of the first ``n`` files is missing or its size changed.

    Cheap (a stat per file) so that it can run before every cell; content is checked by
    verification after each repetition.
    """
    for entry, path in zip(manifest.files[:n], manifest.paths(n), strict=True):
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise DatasetError(f"{path}: missing from the dataset") from None
        if size != entry.bytes:
            raise DatasetError(
                f"{path}: {size} bytes, manifest says {entry.bytes}; "
                "the file is corrupt or truncated"
            )
