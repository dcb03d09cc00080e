"""The image tasks: reading, decoding, greyscale, saving and blur + thumbnail, each with
its verifier.

Saving tasks (and ``blur_thumbnail``, which writes) take the option ``durability``: ``"none"``
(the default, as the studies did: the files reach the page cache, and the kernel writes them
out later, outside the timer) or ``"fsync"`` (an ``os.fsync`` of each file inside the timed
work: what "written to disk" means).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from imgbench.errors import TaskError, VerificationError
from imgbench.measure.datasets import JPEG_QUALITY, native_array, pixel_sha256
from imgbench.measure.tasks.task import (
    Task,
    VerifyContext,
    check_count,
    check_output_files,
    on_every_core,
)
from imgbench.vocabulary import parse_size

# asyncio and aiofiles are imported where they are used: every cell job imports this module
# (the task registry), only asyncio cells need them, and they cost about 30 ms of start-up
# per job. The untimed priming run of an asyncio cell imports them before the timer.

#: Mean absolute pixel error above which a lossy save is taken as corrupt, not as codec loss.
LOSSY_TOLERANCE = 12.0
#: Values of the ``durability`` option of tasks that write files.
DURABILITY = ("none", "fsync")


# -- per-image work ---------------------------------------------------------------------------


def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise TaskError(f"{path}: cannot read ({exc})") from exc


async def read_bytes_async(path: str) -> bytes:
    import aiofiles

    try:
        async with aiofiles.open(path, "rb") as f:
            return await f.read()
    except OSError as exc:
        raise TaskError(f"{path}: cannot read ({exc})") from exc


def _decode(data: bytes, label: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return native_array(im)
    except Exception as exc:  # Pillow raises many types for bad data; all mean the same here
        raise TaskError(f"{label}: cannot decode ({type(exc).__name__}: {exc})") from exc


def decode_image(path: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return native_array(im)
    except Exception as exc:  # Pillow raises many types for bad data; all mean the same here
        raise TaskError(f"{path}: cannot decode ({type(exc).__name__}: {exc})") from exc


async def decode_image_async(path: str) -> np.ndarray:
    import asyncio

    data = await read_bytes_async(path)
    return await asyncio.to_thread(_decode, data, path)


def _encode(array: np.ndarray, fmt: str, label: str) -> bytes:
    try:
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, format=fmt, **_save_options(fmt))
        return buf.getvalue()
    except Exception as exc:
        raise TaskError(f"{label}: cannot encode as {fmt} ({exc})") from exc


def _save_options(fmt: str) -> dict[str, Any]:
    return {"quality": JPEG_QUALITY} if fmt == "JPEG" else {}


def _fsync_wanted(item: tuple) -> bool:
    # Items of two fields (arrays and paths made by hand) keep the default, "none".
    return len(item) > 2 and item[2] == "fsync"


def _save(item: tuple, fmt: str) -> str:
    array, path = item[:2]
    try:
        if _fsync_wanted(item):
            with open(path, "wb") as f:
                Image.fromarray(array).save(f, format=fmt, **_save_options(fmt))
                f.flush()
                os.fsync(f.fileno())
        else:
            Image.fromarray(array).save(path, format=fmt, **_save_options(fmt))
    except OSError as exc:
        raise TaskError(f"{path}: cannot save as {fmt} ({exc})") from exc
    return path


async def _save_async(item: tuple, fmt: str) -> str:
    import asyncio

    import aiofiles

    array, path = item[:2]
    data = await asyncio.to_thread(_encode, array, fmt, path)
    try:
        async with aiofiles.open(path, "wb") as f:
            await f.write(data)
            if _fsync_wanted(item):
                await f.flush()
                await asyncio.to_thread(os.fsync, f.fileno())
    except OSError as exc:
        raise TaskError(f"{path}: cannot write ({exc})") from exc
    return path


def save_item(source: Any, output: str | None, options: dict, service: Any) -> tuple:
    return (source, output, options.get("durability", "none"))


def save_png(item: tuple) -> str:
    return _save(item, "PNG")


async def save_png_async(item: tuple) -> str:
    return await _save_async(item, "PNG")


def save_jpeg(item: tuple) -> str:
    return _save(item, "JPEG")


async def save_jpeg_async(item: tuple) -> str:
    return await _save_async(item, "JPEG")


# -- verification -----------------------------------------------------------------------------


def verify_bytes(ctx: VerifyContext, results: Sequence[Any]) -> None:
    check_count(ctx, results)
    digests = on_every_core(
        lambda data: hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else None,
        results,
    )
    for path, expected, digest in zip(ctx.input_paths, ctx.input_sha256, digests, strict=True):
        if digest != expected:
            raise VerificationError(f"{path}: bytes returned differ from the manifest's checksum")


def check_arrays(ctx: VerifyContext, results: Sequence[Any]) -> None:
    """Every result is a ``uint8`` array of its input's shape."""
    for i, (path, array) in enumerate(zip(ctx.input_paths, results, strict=True)):
        shape = ctx.shape_of(i)
        if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != np.uint8:
            got = getattr(array, "shape", type(array).__name__)
            raise VerificationError(f"{path}: decoded to {got}, expected uint8 {shape}")


def verify_arrays(ctx: VerifyContext, results: Sequence[Any]) -> None:
    check_count(ctx, results)
    check_arrays(ctx, results)
    digests = on_every_core(pixel_sha256, results)
    expected = ctx.input_pixel_sha256
    for path, want, digest in zip(ctx.input_paths, expected, digests, strict=True):
        if digest != want:
            raise VerificationError(f"{path}: decoded pixels differ from the manifest's checksum")


def _verify_saved(ctx: VerifyContext, results: Sequence[Any], lossless: bool) -> None:
    """Each saved file decodes to its source (pixel-exact, or within the lossy tolerance).

    A file byte for byte identical to one that already passed that check in an earlier
    repetition of the cell passes without being decoded again (a digest, untimed, kept in
    the memo): Pillow's encoders are deterministic, and decoding every output of every
    repetition was a tenth of a default run. Any other file is decoded and checked. The
    files are checked on every core (``on_every_core``): hashing and decoding release the GIL.
    """
    check_count(ctx, results)
    assert ctx.source_arrays is not None
    check_output_files(ctx)
    verified: dict[str, str] = ctx.memo.setdefault("saved", {})

    def check(pair: tuple[Path, np.ndarray]) -> str:
        path, source = pair
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if verified.get(path.name) != digest:
            _check_saved_file(ctx, path, source, lossless)
        return digest

    pairs = list(zip(ctx.output_paths, ctx.source_arrays, strict=True))
    for (path, _), digest in zip(pairs, on_every_core(check, pairs), strict=True):
        verified[path.name] = digest


def _check_saved_file(ctx: VerifyContext, path: Path, source: np.ndarray, lossless: bool) -> None:
    try:
        with Image.open(path) as im:
            size = im.size
            decoded = native_array(im)
    except Exception as exc:
        raise VerificationError(f"{path}: saved file does not decode ({exc})") from exc
    if size != (ctx.width, ctx.height):
        raise VerificationError(
            f"{path}: saved as {size[0]}x{size[1]}, expected {ctx.width}x{ctx.height}"
        )
    if lossless:
        if pixel_sha256(decoded) != pixel_sha256(source):
            raise VerificationError(f"{path}: lossless save changed the pixels")
    else:
        error = float(np.abs(decoded.astype(np.int16) - source.astype(np.int16)).mean())
        if error > LOSSY_TOLERANCE:
            raise VerificationError(
                f"{path}: mean pixel error {error:.1f} exceeds {LOSSY_TOLERANCE}; corrupt save"
            )


def verify_saved_lossless(ctx: VerifyContext, results: Sequence[Any]) -> None:
    _verify_saved(ctx, results, lossless=True)


def verify_saved_lossy(ctx: VerifyContext, results: Sequence[Any]) -> None:
    _verify_saved(ctx, results, lossless=False)


# -- greyscale ---------------------------------------------------------------------------------
# Both greyscale tasks compute the integer mean of the channels, (r + g + b) // 3, as the
# notebook study did, so that the loop, numpy and the whole-batch version must agree exactly.


def grey_of(array: np.ndarray) -> np.ndarray:
    """Greyscale of one RGB image or a batch of them (channels last) with numpy; a greyscale
    image (two axes) is copied."""
    if array.ndim == 2:
        return array.copy()
    total = array[..., 0].astype(np.uint16) + array[..., 1] + array[..., 2]
    return (total // 3).astype(np.uint8)


def grayscale(path: str) -> np.ndarray:
    return grey_of(decode_image(path))


async def grayscale_async(path: str) -> np.ndarray:
    import asyncio

    data = await read_bytes_async(path)
    return await asyncio.to_thread(lambda: grey_of(_decode(data, path)))


def grey_loop(array: np.ndarray) -> np.ndarray:
    """The same greyscale, one pixel at a time in pure Python: it holds the GIL throughout."""
    if array.ndim == 2:
        return array.copy()
    height, width = array.shape[:2]
    rows = array.tolist()
    out = [[0] * width for _ in range(height)]
    for i in range(height):
        row, out_row = rows[i], out[i]
        for j in range(width):
            r, g, b = row[j]
            out_row[j] = (r + g + b) // 3
    return np.array(out, dtype=np.uint8)


def grayscale_loop(path: str) -> np.ndarray:
    return grey_loop(decode_image(path))


async def grayscale_loop_async(path: str) -> np.ndarray:
    import asyncio

    data = await read_bytes_async(path)
    return await asyncio.to_thread(lambda: grey_loop(_decode(data, path)))


def grayscale_batch(paths: Sequence[str]) -> list[np.ndarray]:
    """Decode every image, then one numpy operation over the stacked batch."""
    decoded = [decode_image(p) for p in paths]
    if not decoded or decoded[0].ndim == 2:
        return [a.copy() for a in decoded]
    return list(grey_of(np.stack(decoded)))


def verify_grey(ctx: VerifyContext, results: Sequence[Any]) -> None:
    check_count(ctx, results)
    if "grey" not in ctx.memo:
        # The reference decodes the inputs again, untimed, once per cell.
        ctx.memo["grey"] = [pixel_sha256(grey_of(decode_image(str(p)))) for p in ctx.input_paths]
    for i, (path, expected, array) in enumerate(
        zip(ctx.input_paths, ctx.memo["grey"], results, strict=True)
    ):
        shape = ctx.shape_of(i)[:2]
        if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != np.uint8:
            got = getattr(array, "shape", type(array).__name__)
            raise VerificationError(f"{path}: greyscale result is {got}, expected uint8 {shape}")
        if pixel_sha256(array) != expected:
            raise VerificationError(f"{path}: greyscale pixels differ from the reference")


# -- blur + thumbnail ------------------------------------------------------------------------


def blur_thumbnail(item: tuple) -> str:
    """Open, Gaussian blur, shrink to fit the thumbnail box, save as JPEG (the tutorial study).

    The item is (source, output, radius, box width, box height[, durability]).
    """
    source, output, radius, box_w, box_h = item[:5]
    try:
        with Image.open(source) as im:
            blurred = im.filter(ImageFilter.GaussianBlur(radius))
    except Exception as exc:  # Pillow raises many types for bad data; all mean the same here
        raise TaskError(f"{source}: cannot decode ({type(exc).__name__}: {exc})") from exc
    blurred.thumbnail((box_w, box_h))
    try:
        if len(item) > 5 and item[5] == "fsync":
            with open(output, "wb") as f:
                blurred.save(f, format="JPEG", quality=JPEG_QUALITY)
                f.flush()
                os.fsync(f.fileno())
        else:
            blurred.save(output, format="JPEG", quality=JPEG_QUALITY)
    except OSError as exc:
        raise TaskError(f"{output}: cannot save as JPEG ({exc})") from exc
    return output


async def blur_thumbnail_async(item: tuple) -> str:
    import asyncio

    return await asyncio.to_thread(blur_thumbnail, item)


def blur_item(source: str, output: str | None, options: dict, service: Any) -> tuple:
    box_w, box_h = parse_size(options["thumbnail"])
    durability = options.get("durability", "none")
    return (source, output, float(options["radius"]), box_w, box_h, durability)


def verify_blur(ctx: VerifyContext, results: Sequence[Any]) -> None:
    """Every output is byte-identical to a reference run of the same work (untimed, once).

    Pillow's blur, resampling and JPEG encoder are deterministic, so any difference means a
    wrong, missing or corrupt output.
    """
    check_count(ctx, results)
    check_output_files(ctx)
    if "blur" not in ctx.memo:
        assert ctx.reference_dir is not None
        ctx.reference_dir.mkdir(parents=True, exist_ok=True)
        digests = []
        for item in ctx.items:
            reference = str(ctx.reference_dir / Path(item[1]).name)
            # The same work without the fsync: durability does not change the bytes.
            blur_thumbnail((item[0], reference, *item[2:5]))
            digests.append(hashlib.sha256(Path(reference).read_bytes()).hexdigest())
        ctx.memo["blur"] = digests
    for path, expected in zip(ctx.output_paths, ctx.memo["blur"], strict=True):
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise VerificationError(f"{path}: differs from the reference blur + thumbnail")


IMAGE_TASKS = (
    Task(
        "save_png",
        "encode in-memory RGB arrays as PNG files",
        "arrays",
        save_png,
        save_png_async,
        verify_saved_lossless,
        ".png",
        options={"durability": "none"},
        make_item=save_item,
        choices={"durability": DURABILITY},
        library="pillow",
        base="save_png",
    ),
    Task(
        "save_jpeg",
        f"encode in-memory RGB arrays as JPEG files (quality {JPEG_QUALITY})",
        "arrays",
        save_jpeg,
        save_jpeg_async,
        verify_saved_lossy,
        ".jpg",
        options={"durability": "none"},
        make_item=save_item,
        choices={"durability": DURABILITY},
        library="pillow",
        base="save_jpeg",
    ),
    Task(
        "read",
        "read each file's compressed bytes into memory, no decoding",
        "files",
        read_bytes,
        read_bytes_async,
        verify_bytes,
    ),
    Task(
        "decode",
        "open and decode to a numpy array (RGB or greyscale) returned to the caller",
        "files",
        decode_image,
        decode_image_async,
        verify_arrays,
        library="pillow",
        base="decode",
    ),
    Task(
        "grayscale",
        "decode, then greyscale with numpy ((r + g + b) // 3), returning the array",
        "files",
        grayscale,
        grayscale_async,
        verify_grey,
        batch=grayscale_batch,
        library="pillow",
    ),
    Task(
        "grayscale_loop",
        "decode, then greyscale with a pure-Python loop over every pixel (holds the GIL)",
        "files",
        grayscale_loop,
        grayscale_loop_async,
        verify_grey,
        library="pillow",
    ),
    Task(
        "blur_thumbnail",
        "open, Gaussian blur, thumbnail, save as JPEG",
        "files",
        blur_thumbnail,
        blur_thumbnail_async,
        verify_blur,
        output_suffix=".jpg",
        options={"radius": 15.0, "thumbnail": "1200x1200", "durability": "none"},
        make_item=blur_item,
        choices={"durability": DURABILITY},
        library="pillow",
    ),
)
