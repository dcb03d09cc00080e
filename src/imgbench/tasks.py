"""What is done to every image: the task registry.

A task is a pair of per-image functions (plain and ``async``) plus how to verify a whole
repetition's results. The plain function runs in a loop, a thread or a worker process, so
it is a module-level function of one picklable item. Adding a task is one entry in
``TASKS``.

Items are prepared before the timer: a path (``str``) for tasks that read a dataset, an
``(array, output path)`` pair for tasks that save.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles
import numpy as np
from PIL import Image

from imgbench.datasets import JPEG_QUALITY, pixel_sha256
from imgbench.errors import TaskError, VerificationError

#: Mean absolute pixel error above which a lossy save is taken as corrupt, not as codec loss.
LOSSY_TOLERANCE = 12.0


@dataclass
class VerifyContext:
    """What a repetition was asked to do, for checking what it did."""

    n_images: int
    width: int
    height: int
    input_paths: list[Path] = field(default_factory=list)
    input_sha256: list[str] = field(default_factory=list)
    input_pixel_sha256: list[str] = field(default_factory=list)
    source_arrays: np.ndarray | None = None
    output_paths: list[Path] = field(default_factory=list)
    output_dir: Path | None = None


@dataclass(frozen=True)
class Task:
    name: str
    summary: str
    #: "files": reads the dataset's encoded files; "arrays": encodes in-memory arrays to files.
    input_kind: str
    work: Callable[[Any], Any]
    awork: Callable[[Any], Awaitable[Any]]
    verify: Callable[[VerifyContext, Sequence[Any]], None]
    #: Suffix of the files a saving task writes.
    output_suffix: str | None = None


# -- per-image work ---------------------------------------------------------------------------


def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise TaskError(f"{path}: cannot read ({exc})") from exc


async def read_bytes_async(path: str) -> bytes:
    try:
        async with aiofiles.open(path, "rb") as f:
            return await f.read()
    except OSError as exc:
        raise TaskError(f"{path}: cannot read ({exc})") from exc


def _decode(data: bytes, label: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as exc:  # Pillow raises many types for bad data; all mean the same here
        raise TaskError(f"{label}: cannot decode ({type(exc).__name__}: {exc})") from exc


def decode_rgb(path: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as exc:  # Pillow raises many types for bad data; all mean the same here
        raise TaskError(f"{path}: cannot decode ({type(exc).__name__}: {exc})") from exc


async def decode_rgb_async(path: str) -> np.ndarray:
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


def _save(item: tuple[np.ndarray, str], fmt: str) -> str:
    array, path = item
    try:
        Image.fromarray(array).save(path, format=fmt, **_save_options(fmt))
    except OSError as exc:
        raise TaskError(f"{path}: cannot save as {fmt} ({exc})") from exc
    return path


async def _save_async(item: tuple[np.ndarray, str], fmt: str) -> str:
    array, path = item
    data = await asyncio.to_thread(_encode, array, fmt, path)
    try:
        async with aiofiles.open(path, "wb") as f:
            await f.write(data)
    except OSError as exc:
        raise TaskError(f"{path}: cannot write ({exc})") from exc
    return path


def save_png(item: tuple[np.ndarray, str]) -> str:
    return _save(item, "PNG")


async def save_png_async(item: tuple[np.ndarray, str]) -> str:
    return await _save_async(item, "PNG")


def save_jpeg(item: tuple[np.ndarray, str]) -> str:
    return _save(item, "JPEG")


async def save_jpeg_async(item: tuple[np.ndarray, str]) -> str:
    return await _save_async(item, "JPEG")


# -- verification -----------------------------------------------------------------------------


def _check_count(ctx: VerifyContext, results: Sequence[Any]) -> None:
    if len(results) != ctx.n_images:
        raise VerificationError(f"expected {ctx.n_images} results, got {len(results)}")
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise VerificationError(
            f"{len(missing)} of {ctx.n_images} images have no result (first: #{missing[0]})"
        )


def verify_bytes(ctx: VerifyContext, results: Sequence[Any]) -> None:
    _check_count(ctx, results)
    for path, expected, data in zip(ctx.input_paths, ctx.input_sha256, results, strict=True):
        if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != expected:
            raise VerificationError(f"{path}: bytes returned differ from the manifest's checksum")


def verify_arrays(ctx: VerifyContext, results: Sequence[Any]) -> None:
    _check_count(ctx, results)
    shape = (ctx.height, ctx.width, 3)
    for path, expected, array in zip(ctx.input_paths, ctx.input_pixel_sha256, results, strict=True):
        if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != np.uint8:
            got = getattr(array, "shape", type(array).__name__)
            raise VerificationError(f"{path}: decoded to {got}, expected uint8 {shape}")
        if pixel_sha256(array) != expected:
            raise VerificationError(f"{path}: decoded pixels differ from the manifest's checksum")


def _verify_saved(ctx: VerifyContext, results: Sequence[Any], lossless: bool) -> None:
    _check_count(ctx, results)
    assert ctx.output_dir is not None and ctx.source_arrays is not None
    expected = {p.name for p in ctx.output_paths}
    present = set(os.listdir(ctx.output_dir))
    if present != expected:
        lost = sorted(expected - present)
        extra = sorted(present - expected)
        raise VerificationError(
            f"{ctx.output_dir}: {len(lost)} expected files missing {lost[:3]}, "
            f"{len(extra)} unexpected {extra[:3]}"
        )
    for path, source in zip(ctx.output_paths, ctx.source_arrays, strict=True):
        try:
            with Image.open(path) as im:
                size = im.size
                decoded = np.asarray(im.convert("RGB"))
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


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "save_png",
            "encode in-memory RGB arrays as PNG files",
            "arrays",
            save_png,
            save_png_async,
            verify_saved_lossless,
            ".png",
        ),
        Task(
            "save_jpeg",
            f"encode in-memory RGB arrays as JPEG files (quality {JPEG_QUALITY})",
            "arrays",
            save_jpeg,
            save_jpeg_async,
            verify_saved_lossy,
            ".jpg",
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
            "open, decode and convert to an RGB numpy array returned to the caller",
            "files",
            decode_rgb,
            decode_rgb_async,
            verify_arrays,
        ),
    )
}
