"""The decode and save tasks under another image library: ``decode_opencv``,
``save_png_imagecodecs``, ``save_jpeg_simplejpeg``, ... (config ``libraries``).

Each is the Pillow task of its base name (``decode``, ``save_png``, ``save_jpeg``) done by
the library of ``imgbench.measure.codecs``, with the same inputs, the same output settings
and the same checks: a decoded array must equal the manifest's pixels (Pillow's decode),
except that another JPEG decoder may round its inverse DCT and chroma upsampling otherwise,
within ``DECODER_TOLERANCE``; a saved file is decoded (with Pillow) and compared with its
source, exactly for PNG, within the lossy tolerance for JPEG.

Every item carries its library and its internal thread count (option ``threads``, default
1; config ``library_threads``), so one pair of module-level functions serves every library,
in a loop, a thread or a worker process alike.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from imgbench.errors import TaskError, VerificationError
from imgbench.measure import codecs
from imgbench.measure.datasets import pixel_sha256
from imgbench.measure.tasks.images import (
    DURABILITY,
    check_arrays,
    decode_image,
    read_bytes_async,
    verify_saved_lossless,
    verify_saved_lossy,
)
from imgbench.measure.tasks.task import Task, VerifyContext, check_count, on_every_core

#: Mean absolute difference from Pillow's decode of the same JPEG above which another
#: decoder's pixels are wrong, not rounded otherwise (libjpeg-turbo's decoders differ by
#: at most one or two levels on a few pixels).
DECODER_TOLERANCE = 1.0
#: The Pillow tasks that have a form under another library, and the format each writes.
BASES = {"decode": None, "save_png": "png", "save_jpeg": "jpeg"}


def variant_name(base: str, library: str) -> str:
    """The task ``base`` under ``library`` (Pillow's is ``base`` itself)."""
    return base if library == codecs.DEFAULT_LIBRARY else f"{base}_{library}"


# -- per-image work ---------------------------------------------------------------------------


def decode(item: tuple) -> np.ndarray:
    library, threads, path = item
    try:
        return codecs.decode_file(library, threads, path)
    except Exception as exc:  # each library raises its own types for bad data
        raise TaskError(f"{path}: {library} cannot decode ({type(exc).__name__}: {exc})") from exc


async def decode_async(item: tuple) -> np.ndarray:
    import asyncio

    library, threads, path = item
    data = await read_bytes_async(path)
    try:
        return await asyncio.to_thread(codecs.decode_bytes, library, threads, data)
    except Exception as exc:
        raise TaskError(f"{path}: {library} cannot decode ({type(exc).__name__}: {exc})") from exc


def _encoded(item: tuple) -> bytes:
    array, path, _, library, threads, fmt = item
    try:
        return codecs.encode(library, threads, array, fmt)
    except Exception as exc:
        raise TaskError(f"{path}: {library} cannot encode as {fmt} ({exc})") from exc


def save(item: tuple) -> str:
    path, durability = item[1], item[2]
    data = _encoded(item)
    try:
        with open(path, "wb") as f:
            f.write(data)
            if durability == "fsync":
                f.flush()
                os.fsync(f.fileno())
    except OSError as exc:
        raise TaskError(f"{path}: cannot write ({exc})") from exc
    return path


async def save_async(item: tuple) -> str:
    import asyncio

    import aiofiles

    path, durability = item[1], item[2]
    data = await asyncio.to_thread(_encoded, item)
    try:
        async with aiofiles.open(path, "wb") as f:
            await f.write(data)
            if durability == "fsync":
                await f.flush()
                await asyncio.to_thread(os.fsync, f.fileno())
    except OSError as exc:
        raise TaskError(f"{path}: cannot write ({exc})") from exc
    return path


def _decode_item(library: str, source: Any, output: Any, options: dict, service: Any) -> tuple:
    return (library, int(options["threads"]), source)


def _save_item(
    library: str, fmt: str, source: Any, output: Any, options: dict, service: Any
) -> tuple:
    return (source, output, options["durability"], library, int(options["threads"]), fmt)


# -- verification -----------------------------------------------------------------------------


def verify_decoded(ctx: VerifyContext, results: Sequence[Any]) -> None:
    """The manifest's pixels; for a JPEG, or within ``DECODER_TOLERANCE`` of Pillow's decode
    of the file (decoded again, untimed, once per file and cell)."""
    check_count(ctx, results)
    check_arrays(ctx, results)
    close: dict[str, str] = ctx.memo.setdefault("close", {})
    digests = on_every_core(pixel_sha256, results)
    for path, want, digest, array in zip(
        ctx.input_paths, ctx.input_pixel_sha256, digests, results, strict=True
    ):
        if digest == want or close.get(path.name) == digest:
            continue
        if path.suffix.lower() not in (".jpg", ".jpeg"):
            raise VerificationError(f"{path}: decoded pixels differ from the manifest's checksum")
        reference = decode_image(str(path)).astype(np.int16)
        error = float(np.abs(array.astype(np.int16) - reference).mean())
        if error > DECODER_TOLERANCE:
            raise VerificationError(
                f"{path}: decoded pixels differ from Pillow's by {error:.2f} levels on average "
                f"(more than {DECODER_TOLERANCE}: not rounding)"
            )
        close[path.name] = digest


def _variants(library: codecs.Library) -> list[Task]:
    name = library.name
    options = {"threads": 1}
    save_options = {"durability": "none", **options}
    tasks = []
    if library.decodes:
        tasks.append(
            Task(
                variant_name("decode", name),
                f"open and decode to a numpy array with {name} ({', '.join(library.decodes)})",
                "files",
                decode,
                decode_async,
                verify_decoded,
                options=options,
                make_item=partial(_decode_item, name),
                library=name,
                base="decode",
            )
        )
    for base, fmt in BASES.items():
        if fmt is None or fmt not in library.encodes:
            continue
        tasks.append(
            Task(
                variant_name(base, name),
                f"encode in-memory arrays as {fmt.upper()} files with {name}",
                "arrays",
                save,
                save_async,
                verify_saved_lossless if fmt == "png" else verify_saved_lossy,
                ".png" if fmt == "png" else ".jpg",
                options=save_options,
                make_item=partial(_save_item, name, fmt),
                choices={"durability": DURABILITY},
                library=name,
                base=base,
            )
        )
    return tasks


LIBRARY_TASKS = tuple(
    task
    for library in codecs.LIBRARIES.values()
    if library.name != codecs.DEFAULT_LIBRARY
    for task in _variants(library)
)
