"""Deterministic datasets and their checksummed manifests.

A dataset's ``content`` says what its pixels are (``CONTENTS``):

- ``photo`` (the default): native-scale crops and mosaics of public-domain and CC0
  photographs that scikit-image ships in its wheel (``imgbench.measure.photos``), because
  codecs do a different amount of work on photographs than on anything generated;
- ``synthetic``: photo-like images made here: smooth gradients and waves, overlapping
  shapes with soft edges, and moderate sensor-like noise (``generators.synthesize_image``);
- ``noise``: uniform random pixels, the arrays study 002 saved (``generators.noise_image``).
- ``folder<id>``: a folder of the user's own images (``imgbench.measure.folder``), picked
  by the seed and fitted to the size; the folder is only ever read.

Image ``i`` of a (content, size, seed) is the same whatever the dataset's size, so a
dataset of ``count`` images serves every cell that uses its first ``n`` images; the content
is part of the dataset's name, so datasets of one size but different content never collide.

A dataset is a directory with ``manifest.json``, written last: a directory without it is
incomplete and is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from imgbench.errors import DatasetError
from imgbench.measure import photos
from imgbench.measure.generators import channels, noise_image, synthesize_image

# Encoded formats (files a task reads), raw (in-memory arrays that save tasks encode), native
# (a folder's files as found); colour modes: RGB arrays (h, w, 3) or greyscale (h, w).
from imgbench.vocabulary import COLORS, FORMATS, NATIVE_FORMAT, RAW

#: The image makers and the manifest's layout. 2: the content (photo, noise) was added;
#: synthetic pixels are those of version 1.
GENERATOR_VERSION = 2
MANIFEST = "manifest.json"
ARRAYS = "arrays.npy"
JPEG_QUALITY = 90
#: What a dataset's pixels are (see the module docstring); the config's default first.
CONTENTS = ("photo", "synthetic", "noise")
DEFAULT_CONTENT = CONTENTS[0]
#: A folder of the user's images (``imgbench.measure.folder``) is the content
#: ``folder<id>``: the id (of its path) in the name, so that two folders never share a dataset.
FOLDER_CONTENT = "folder"
#: A manifest without a content was made before there was a choice: by the synthesizer.
LEGACY_CONTENT = "synthetic"


def native_array(im: Image.Image) -> np.ndarray:
    """Pixels in the mode they were stored in: greyscale stays (h, w), anything else is RGB.

    Every decoder (tasks and manifest alike) goes through this, so that checksums agree.
    """
    return np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))


def make_image(
    content: str, width: int, height: int, seed: int, index: int, color: str = "rgb"
) -> tuple[np.ndarray, tuple[photos.Tile, ...]]:
    """Image ``index`` of a (content, size, seed, colour) and, for photographs, the tiles it
    was cut from (none for the other contents)."""
    if content == "photo":
        return photos.photo_image(width, height, seed, index, color)
    if content == "synthetic":
        return synthesize_image(width, height, seed, index, color), ()
    if content == "noise":
        return noise_image(width, height, seed, index, color), ()
    raise DatasetError(f"unknown dataset content {content!r}; allowed: {', '.join(CONTENTS)}")


def folder_content(folder: Path) -> str:
    """The content of a dataset made from ``folder`` (``FOLDER_CONTENT`` and its id)."""
    from imgbench.measure.folder import folder_id

    return f"{FOLDER_CONTENT}{folder_id(folder)}"


def is_folder_content(content: str) -> bool:
    return re.fullmatch(rf"{FOLDER_CONTENT}[0-9a-f]{{8}}", content) is not None


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
    #: The decoded shape, where the images differ (native): (height, width[, 3]).
    shape: tuple[int, ...] | None = None

    @property
    def pixels(self) -> int | None:
        return None if self.shape is None else int(self.shape[0]) * int(self.shape[1])


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
    content: str = LEGACY_CONTENT
    #: Per photograph the images were cut from: its title, author, licence, source, file.
    photos: dict = field(default_factory=dict, hash=False)
    #: A folder dataset's source: the folder, its images, its bad files (``folder``).
    source: dict = field(default_factory=dict, hash=False)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one decoded image."""
        return (self.height, self.width, *channels(self.color))

    def paths(self, n: int) -> list[Path]:
        return [self.directory / f.name for f in self.files[:n]]

    def pixels(self, n: int) -> int:
        """The pixels of the first ``n`` images together."""
        if self.format == NATIVE_FORMAT:
            return sum(f.pixels or 0 for f in self.files[:n])
        return n * self.width * self.height

    def load_arrays(self, n: int) -> np.ndarray:
        """The first ``n`` raw images as one (n, *shape) array, fully in memory."""
        arrays = np.load(self.directory / ARRAYS, mmap_mode="r")
        if arrays.shape != (self.count, *self.shape):
            raise DatasetError(
                f"{self.directory / ARRAYS}: shape {arrays.shape} does not match the manifest "
                f"{(self.count, *self.shape)}"
            )
        return np.array(arrays[:n])


def dataset_name(
    fmt: str, width: int, height: int, count: int, seed: int, color: str, content: str
) -> str:
    return f"{fmt}-{content}-{color}-{width}x{height}-n{count}-s{seed}"


_NAME = re.compile(
    r"^(?P<format>[a-z]+)-(?:(?P<content>[a-z][a-z0-9]*)-)?(?P<color>rgb|grey)-"
    r"(?P<width>\d+)x(?P<height>\d+)-n(?P<count>\d+)-s(?P<seed>\d+)$"
)


def parse_dataset_name(name: str) -> dict | None:
    """The fields of a name ``dataset_name`` wrote (a dataset directory's last part); None
    for any other name. A name without a content is from before there was a choice, when
    every dataset was synthesized (``LEGACY_CONTENT``)."""
    match = _NAME.match(name)
    if match is None:
        return None
    fields = match.groupdict()
    fields["content"] = fields["content"] or LEGACY_CONTENT
    for key in ("width", "height", "count", "seed"):
        fields[key] = int(fields[key])
    return fields


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
    content: str = DEFAULT_CONTENT,
    folder: Path | None = None,
    on_bad_image: str = "fail",
) -> Manifest:
    """Generate a dataset into ``out_dir`` atomically (a temporary sibling, then a rename).

    ``fmt`` is ``raw`` (the arrays themselves) or an encoded format; an encoded dataset is
    made from ``source``, a raw dataset of the same content, size, seed and at least
    ``count`` images, when given, and made afresh otherwise (identically). ``workers``
    processes share the work; the result is the same whatever their number. For
    photographs the manifest records each image's tiles (photograph, offset, size, place)
    and each photograph's credit, licence and file digest. From a user's ``folder``
    (``imgbench.measure.folder``; content ``folder_content(folder)``), the images are picked
    by ``seed``, fitted to the size, and the manifest records each one's source file and
    every file that could not be used (``on_bad_image`` says whether that fails).
    """
    _check_request(fmt, width, height, color, content, folder)
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        src_dir = None
        if source is not None:
            src_dir = _raw_source(Path(source), width, height, count, seed, color, content)
        picked: list = [None] * count
        scanned = None
        if folder is not None and src_dir is None:
            from imgbench.measure import folder as user_folder

            scanned = user_folder.scan(folder)
            picked = user_folder.pick(scanned, count, seed, on_bad_image)
        jobs = [
            (tmp, fmt, width, height, seed, color, content, i, src_dir, folder, picked[i])
            for i in range(count)
        ]
        arrays_shape = (count, height, width, *channels(color)) if fmt == RAW else None
        pixel, files, tiles = _make_images(jobs, workers, tmp / ARRAYS, arrays_shape)
        manifest = {
            "generator_version": GENERATOR_VERSION,
            "format": fmt,
            "width": width,
            "height": height,
            "count": count,
            "seed": seed,
            "color": color,
            "content": content,
            "jpeg_quality": JPEG_QUALITY if fmt == "jpeg" else None,
            "pillow_version": Image.__version__,
            "pixel_sha256": list(pixel),
            # A shape only where the images differ (native): other manifests stay as they were.
            "files": [{k: v for k, v in f.__dict__.items() if v is not None} for f in files],
        }
        if scanned is not None:
            from imgbench.measure import folder as user_folder

            manifest["source"] = user_folder.manifest_source(scanned, picked, width, height)
        elif src_dir is not None and folder is not None:
            manifest["source"] = json.loads((src_dir / MANIFEST).read_text()).get("source")
        if content == "photo":
            manifest |= _photo_fields(color, tiles)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_manifest(out_dir)


def _photo_fields(color: str, tiles: list[list[dict]]) -> dict:
    """What a photo dataset's manifest says of its photographs and of each image's tiles."""
    return {
        "photo_package": f"{photos.DISTRIBUTION} {photos.version()}",
        # Grey images from colour photographs: Pillow's "L" conversion, recorded as such.
        "grey_conversion": 'Pillow convert("L")' if color == "grey" else None,
        "photos": photos.provenance({t["photo"] for cut in tiles for t in cut}),
        # One list per image, row by row: {photo, x, y, width, height, left, top}.
        "tiles": tiles,
    }


def _make_images(
    jobs: list[tuple], workers: int, arrays: Path, arrays_shape: tuple[int, ...] | None
) -> tuple[list[str], list[FileEntry], list[list[dict]]]:
    """Every image of ``jobs`` (``_make_image``) on ``workers`` processes: their pixel
    checksums, files and tiles; for a raw dataset (``arrays_shape``) the arrays are written
    into ``arrays`` image by image, so that a large dataset never has to fit in memory."""
    arrays_out = None
    if arrays_shape is not None:
        arrays_out = np.lib.format.open_memmap(arrays, "w+", np.uint8, arrays_shape)
    pixel: list[str] = []
    files: list[FileEntry] = []
    tiles: list[list[dict]] = []
    with _pool(workers) as pool:
        for i, (digest, entry, array, cut) in enumerate(pool(_make_image, jobs)):
            pixel.append(digest)
            tiles.append([t.__dict__ for t in cut])
            if entry is not None:
                files.append(entry)
            if arrays_out is not None:
                arrays_out[i] = array
    if arrays_out is not None:
        arrays_out.flush()
        del arrays_out
    return pixel, files, tiles


def _check_request(
    fmt: str, width: int, height: int, color: str, content: str, folder: Path | None
) -> None:
    """A ``DatasetError`` naming what ``make_dataset`` cannot make."""
    if fmt not in (RAW, NATIVE_FORMAT) and fmt not in FORMATS:
        raise DatasetError(
            f"unknown dataset format {fmt!r}; allowed: raw, {NATIVE_FORMAT}, {', '.join(FORMATS)}"
        )
    if fmt == NATIVE_FORMAT and (folder is None or (width, height) != (0, 0)):
        raise DatasetError(
            "a native dataset is a folder's images as found: it needs the folder, and size 0x0"
        )
    if color not in COLORS:
        raise DatasetError(f"unknown dataset colour {color!r}; allowed: {', '.join(COLORS)}")
    if folder is not None and content != folder_content(folder):
        raise DatasetError(f"dataset folder {folder}: its content is {folder_content(folder)}")
    if folder is None and content not in CONTENTS:
        raise DatasetError(f"unknown dataset content {content!r}; allowed: {', '.join(CONTENTS)}")


def _raw_source(
    source: Path, width: int, height: int, count: int, seed: int, color: str, content: str
) -> Path:
    """The directory of ``source``, a raw dataset an encoded one is made from, if it is one
    of the same content, size, seed and colour with at least ``count`` images."""
    src = load_manifest(source)
    want = (RAW, width, height, seed, color, content)
    if (src.format, src.width, src.height, src.seed, src.color, src.content) != want or (
        src.count < count
    ):
        raise DatasetError(
            f"{source}: not a raw {content} {color} dataset for {width}x{height} "
            f"seed {seed} of at least {count} images"
        )
    return src.directory


@contextlib.contextmanager
def _pool(workers: int):
    """A map function over ``workers`` processes, in order; the plain ``map`` for one."""
    if workers <= 1:
        yield map
        return
    with ProcessPoolExecutor(max_workers=workers) as executor:
        yield lambda fn, jobs: executor.map(fn, jobs, chunksize=1)


def _make_image(
    job: tuple,
) -> tuple[str, FileEntry | None, np.ndarray | None, tuple[photos.Tile, ...]]:
    """One image: its pixel checksum, its file (encoded formats) or its array (raw), and
    the tiles it was cut from (photographs)."""
    tmp, fmt, width, height, seed, color, content, index, src_dir, folder, picked = job
    if fmt == NATIVE_FORMAT:
        return _copy_as_found(Path(tmp), index, Path(folder), picked)
    if picked is not None:
        from imgbench.measure.folder import fitted_array

        array, cut = fitted_array(folder, picked, width, height, color), ()
    elif src_dir is not None:
        array = np.array(np.load(Path(src_dir) / ARRAYS, mmap_mode="r")[index])
        # The source was made by the same maker (its manifest was checked): the same tiles.
        cut = photos.layout(width, height, color, seed, index) if content == "photo" else ()
    else:
        array, cut = make_image(content, width, height, seed, index, color)
    digest = pixel_sha256(array)
    if fmt == RAW:
        return digest, None, array, cut
    path = Path(tmp) / file_name(index, fmt)
    options = {"quality": JPEG_QUALITY} if fmt == "jpeg" else {}
    Image.fromarray(array).save(path, format=fmt.upper(), **options)
    with Image.open(path) as im:
        decoded = pixel_sha256(native_array(im))
    data = path.read_bytes()
    entry = FileEntry(path.name, len(data), hashlib.sha256(data).hexdigest(), decoded)
    return digest, entry, None, cut


def _copy_as_found(
    tmp: Path, index: int, folder: Path, picked
) -> tuple[str, FileEntry, None, tuple[photos.Tile, ...]]:
    """A folder's image byte for byte, keeping its suffix; its pixels' checksum and shape
    are what Pillow decodes, as stored (no EXIF orientation applied: the decode timed is
    the file's, as every library's plain decode gives it)."""
    source = folder / picked.name
    path = tmp / f"img_{index:06d}{source.suffix.lower()}"
    shutil.copyfile(source, path)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != picked.sha256:
        raise DatasetError(f"{source}: changed while the dataset was made; make it again")
    with Image.open(path) as im:
        array = native_array(im)
    digest = pixel_sha256(array)
    entry = FileEntry(path.name, len(data), picked.sha256, digest, tuple(array.shape))
    return digest, entry, None, ()


def load_manifest(directory: Path) -> Manifest:
    """Read a dataset's manifest; a missing or unreadable one names the dataset."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{directory}: no {MANIFEST}; the dataset is missing or incomplete")
    try:
        raw = json.loads(path.read_text())
        files = tuple(
            FileEntry(**{**f, "shape": tuple(f["shape"]) if f.get("shape") else None})
            for f in raw["files"]
        )
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
            content=raw.get("content", LEGACY_CONTENT),
            source=raw.get("source") or {},
            photos=raw.get("photos", {}),
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
