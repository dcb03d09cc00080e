"""What a plan puts on disk: each dataset's bytes, and the scratch space its largest cell needs.

Compressed sizes are measured, not assumed: JPEG and PNG sizes depend on content and size
(the smooth synthetic images are far from noise), so one image of the datasets' own
generator (``imgbench.measure.generators.synthesize_image``) is encoded as the dataset rule
encodes it (JPEG quality ``JPEG_QUALITY``, PNG with Pillow's defaults), on a centre region
of at most ``SAMPLE_PIXELS`` for large sizes, and scaled by pixels. BMP and raw sizes are
exact from their layouts. The same sample times one image's generation (synthesis, encoding,
the decode that checksums it), from which a dataset's generation time is estimated.

Everything here is an estimate for planning, to a few per cent for BMP and raw and to
roughly 20% for JPEG and PNG.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from imgbench.measure.datasets import JPEG_QUALITY, RAW
from imgbench.measure.generators import channels, synthesize_image
from imgbench.measure.tasks import TASKS
from imgbench.plan.grid import DatasetSpec
from imgbench.vocabulary import CellSpec, parse_size

#: The largest region encoded to measure a size's bytes per pixel: larger images are
#: measured on this many pixels (a 1024x1024 region) and scaled, to keep planning quick.
SAMPLE_PIXELS = 1 << 20
#: The .npy header of a raw dataset's one arrays file, and a manifest's size per file
#: (its JSON entry: name, size, two SHA-256 digests).
NPY_HEADER = 128
MANIFEST_PER_FILE = 220


@dataclass(frozen=True)
class ImageSample:
    """One image of a (format, colour, size): its bytes on disk and its generation time."""

    bytes: float
    generate_s: float


_SAMPLES: dict[tuple[str, str, int, int], ImageSample] = {}


def _bmp_bytes(width: int, height: int, color: str) -> int:
    """BMP as Pillow writes it: 54-byte header, a 256-entry palette for greyscale, rows
    padded to 4 bytes."""
    depth = 3 if channels(color) else 1
    row = (width * depth + 3) // 4 * 4
    return 54 + (1024 if depth == 1 else 0) + row * height


def _sample_size(width: int, height: int) -> tuple[int, int]:
    if width * height <= SAMPLE_PIXELS:
        return width, height
    scale = (SAMPLE_PIXELS / (width * height)) ** 0.5
    return max(8, int(width * scale)), max(8, int(height * scale))


def image_sample(fmt: str, color: str, width: int, height: int, seed: int = 0) -> ImageSample:
    """Bytes and generation seconds of one image (memoised: a plan asks many times)."""
    key = (fmt, color, width, height)
    if key in _SAMPLES:
        return _SAMPLES[key]
    w, h = _sample_size(width, height)
    scale = (width * height) / (w * h)
    t0 = time.perf_counter()
    array = synthesize_image(w, h, seed, 0, color)
    if fmt == RAW:
        size = float(width * height * (3 if channels(color) else 1))
    elif fmt == "bmp":
        size = float(_bmp_bytes(width, height, color))
    else:
        buffer = io.BytesIO()
        options = {"quality": JPEG_QUALITY} if fmt == "jpeg" else {}
        Image.fromarray(array).save(buffer, format=fmt.upper(), **options)
        # The dataset rule decodes every file it wrote, to checksum its pixels.
        buffer.seek(0)
        with Image.open(buffer) as im:
            im.load()
        size = len(buffer.getvalue()) * scale
    sample = ImageSample(size, (time.perf_counter() - t0) * scale)
    _SAMPLES[key] = sample
    return sample


def native_stand_in(folder: Path, limit: int = 200) -> tuple[str, int, int]:
    """What a native dataset (a folder's images as found) is planned as: the format and size
    of its median image by pixels, read from at most ``limit`` files' headers (nothing is
    decoded). Its files differ, so the estimate is that of a typical one; an unreadable
    folder plans as JPEG at 640x480 (making its dataset will name what is wrong)."""
    from imgbench.measure.folder import IMAGE_SUFFIXES

    found = []
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    for path in paths[:limit]:
        try:
            with Image.open(path) as im:
                fmt = {"JPEG": "jpeg", "PNG": "png", "BMP": "bmp"}.get(im.format or "", "jpeg")
                found.append((im.width * im.height, fmt, im.width, im.height))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            continue
    if not found:
        return "jpeg", 640, 480
    _, fmt, width, height = sorted(found)[len(found) // 2]
    return fmt, width, height


def dataset_bytes(dataset: DatasetSpec) -> int:
    """A dataset's estimated size on disk: its files (or arrays file) and manifest."""
    one = image_sample(dataset.format, dataset.color, dataset.width, dataset.height).bytes
    if dataset.format == RAW:
        return int(NPY_HEADER + one * dataset.count + 4096)
    return int((one + MANIFEST_PER_FILE) * dataset.count + 4096)


def _output_bytes(cell: CellSpec, dataset: DatasetSpec, options: dict) -> float:
    """Bytes a cell's task writes per image (0: it writes nothing)."""
    task = TASKS[cell.task]
    if task.output_suffix is None:
        return 0.0
    if cell.task == "blur_thumbnail":
        # A thumbnail fits inside the box, keeping the aspect ratio; saved as JPEG.
        box_w, box_h = parse_size(options.get("thumbnail", "1200x1200"))
        ratio = min(1.0, box_w / cell.width, box_h / cell.height)
        w, h = max(1, int(cell.width * ratio)), max(1, int(cell.height * ratio))
        return image_sample("jpeg", dataset.color, w, h).bytes
    if task.function is not None:
        # A user's task writes what it wants: taken as one image of the input's size.
        return image_sample(dataset.format, dataset.color, cell.width, cell.height).bytes
    if cell.task == "download":
        # A download writes the file it fetched.
        return image_sample(dataset.format, dataset.color, cell.width, cell.height).bytes
    fmt = "png" if task.output_suffix == ".png" else "jpeg"
    return image_sample(fmt, dataset.color, cell.width, cell.height).bytes


def cell_scratch(cell: CellSpec, dataset: DatasetSpec, options: dict) -> int:
    """Scratch bytes of one cell: its outputs, and its inputs when staged onto a tmpfs."""
    per_image = _output_bytes(cell, dataset, options)
    if cell.storage == "shm" and TASKS[cell.task].input_kind == "files":
        per_image += image_sample(dataset.format, dataset.color, cell.width, cell.height).bytes
    return int(per_image * cell.n_images)
