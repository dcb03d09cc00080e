"""The image libraries a cell can decode and encode with, and the codecs each really runs.

``LIBRARIES`` is the registry: Pillow (imgbench's own tasks use it) and the optional ones of
the ``codecs`` extra (``pip install 'imgbench[codecs]'``): OpenCV, simplejpeg, imagecodecs
and pyvips. Each entry says what it decodes and encodes, how it is loaded and held to a
given number of internal threads (one by default, so that a speedup is the strategy's, not
the library's), and how it reports its version and its codec libraries. Adding a library
is one entry in ``LIBRARIES``.

Every library writes with the settings Pillow uses by default, so that each does the same
work: JPEG quality 90 with 4:2:0 chroma subsampling, PNG at zlib level 6 with no filter
search beyond the library's own. Decoders return what Pillow returns: RGB (h, w, 3), or
(h, w) for greyscale files, ``uint8``.

The libraries themselves are imported on first use (``load``), never by importing this
module: every cell job imports the task registry, and OpenCV alone costs about 0.1 s to
import. A cell's untimed priming run loads its library before any pool starts.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from imgbench.measure.datasets import JPEG_QUALITY

#: zlib level every PNG encoder is given: Pillow's default (OpenCV's own default is 1).
PNG_LEVEL = 6
#: The optional extra that installs every library but Pillow.
EXTRA = "codecs"
#: Shared objects of codec libraries, matched in a process's memory map (``mapped_codecs``).
_CODEC_FILES = re.compile(
    r"lib(jpeg|turbojpeg|png16|png|spng|z|z-ng|deflate|webp|sharpyuv|tiff|vips)[-.\w]*\.so[.\d]*$"
)


@dataclass(frozen=True)
class Library:
    name: str
    #: The module it is imported as, and the distribution that installs it.
    module: str
    package: str
    #: Dataset formats (``imgbench.measure.datasets.FORMATS``) it decodes and encodes.
    decodes: tuple[str, ...]
    encodes: tuple[str, ...]
    #: How it is held to ``threads`` internal threads (for the deck).
    threads_note: str
    #: (threads) -> the imported module, its internal threads set.
    load: Callable[[int], Any]
    #: (module, encoded bytes) -> pixels.
    decode_bytes: Callable[[Any, bytes], np.ndarray]
    #: (module, pixels, format) -> encoded bytes.
    encode: Callable[[Any, np.ndarray, str], bytes]
    #: (module) -> {"version": ..., "codecs": {codec library: version or None}}.
    versions: Callable[[Any], dict[str, Any]]
    #: (module, path) -> pixels; None: the file's bytes are read and decoded.
    decode_path: Callable[[Any, str], np.ndarray] | None = None
    #: Whether a process forked after the library has worked works too. libvips starts a
    #: thread pool on its first operation, and a child forked after it hangs on its locks.
    fork_safe: bool = True

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


def _native(array: np.ndarray) -> np.ndarray:
    """A decoder's output as Pillow's: one-channel images as (h, w), contiguous uint8."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return np.ascontiguousarray(array, dtype=np.uint8)


def _format_of(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:2] == b"BM":
        return "bmp"
    return "unknown"


# -- Pillow ---------------------------------------------------------------------------------


def _pillow_load(threads: int) -> Any:
    import PIL.Image

    return PIL.Image


def _pillow_decode(image: Any, data: bytes) -> np.ndarray:
    import io

    from imgbench.measure.datasets import native_array

    with image.open(io.BytesIO(data)) as im:
        return native_array(im)


def _pillow_encode(image: Any, array: np.ndarray, fmt: str) -> bytes:
    import io

    buf = io.BytesIO()
    options = {"quality": JPEG_QUALITY} if fmt == "jpeg" else {"compress_level": PNG_LEVEL}
    image.fromarray(array).save(buf, format=fmt.upper(), **options)
    return buf.getvalue()


def _pillow_versions(image: Any) -> dict[str, Any]:
    from PIL import features

    return {
        "version": image.__version__,
        "codecs": {
            "libjpeg-turbo": features.version_feature("libjpeg_turbo"),
            "libjpeg": features.version("jpg"),
            "zlib-ng": features.version_feature("zlib_ng"),
            "zlib": features.version("zlib"),
            "libwebp": features.version("webp"),
        },
    }


# -- OpenCV ---------------------------------------------------------------------------------


def _cv2_load(threads: int) -> Any:
    import cv2

    cv2.setNumThreads(threads)
    return cv2


def _cv2_pixels(cv2: Any, array: np.ndarray | None) -> np.ndarray:
    if array is None:
        raise ValueError("OpenCV could not decode it")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    return _native(array)


def _cv2_decode_path(cv2: Any, path: str) -> np.ndarray:
    # IMREAD_UNCHANGED: a greyscale file stays one channel, as Pillow keeps it.
    return _cv2_pixels(cv2, cv2.imread(path, cv2.IMREAD_UNCHANGED))


def _cv2_decode(cv2: Any, data: bytes) -> np.ndarray:
    raw = np.frombuffer(data, dtype=np.uint8)
    return _cv2_pixels(cv2, cv2.imdecode(raw, cv2.IMREAD_UNCHANGED))


def _cv2_encode(cv2: Any, array: np.ndarray, fmt: str) -> bytes:
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    if fmt == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]
        ok, buf = cv2.imencode(".jpg", array, params)
    else:
        ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
    if not ok:
        raise ValueError(f"OpenCV could not encode it as {fmt}")
    return buf.tobytes()


def _cv2_versions(cv2: Any) -> dict[str, Any]:
    # getBuildInformation has lines such as "JPEG:  build-libjpeg-turbo (ver 3.0.3-70)".
    info = cv2.getBuildInformation()
    codecs = {}
    for label, name in (("JPEG", "libjpeg-turbo"), ("PNG", "libpng"), ("ZLIB", "zlib")):
        found = re.search(rf"^\s*{label}:\s*(.*)$", info, re.MULTILINE)
        codecs[name] = found.group(1).strip() if found else None
    return {"version": cv2.__version__, "codecs": codecs}


# -- simplejpeg -----------------------------------------------------------------------------


def _simplejpeg_load(threads: int) -> Any:
    import simplejpeg

    return simplejpeg


def _simplejpeg_decode(simplejpeg: Any, data: bytes) -> np.ndarray:
    colorspace = simplejpeg.decode_jpeg_header(data)[2]
    grey = colorspace.upper() in ("GRAY", "GREY")
    return _native(simplejpeg.decode_jpeg(data, colorspace="GRAY" if grey else "RGB"))


def _simplejpeg_encode(simplejpeg: Any, array: np.ndarray, fmt: str) -> bytes:
    grey = array.ndim == 2
    pixels = np.ascontiguousarray(array[:, :, None] if grey else array)
    return simplejpeg.encode_jpeg(
        pixels,
        quality=JPEG_QUALITY,
        colorspace="GRAY" if grey else "RGB",
        colorsubsampling="Gray" if grey else "420",
    )


def _simplejpeg_versions(simplejpeg: Any) -> dict[str, Any]:
    # It links libjpeg-turbo statically and reports no version of it: the map says nothing.
    return {"version": simplejpeg.__version__, "codecs": {"libjpeg-turbo": "bundled"}}


# -- imagecodecs ----------------------------------------------------------------------------


def _imagecodecs_load(threads: int) -> Any:
    import imagecodecs

    return imagecodecs


def _imagecodecs_decode(imagecodecs: Any, data: bytes) -> np.ndarray:
    fmt = _format_of(data)
    if fmt == "jpeg":
        return _native(imagecodecs.jpeg8_decode(data))
    if fmt == "png":
        return _native(imagecodecs.png_decode(data))
    raise ValueError(f"imagecodecs is not used here for {fmt} files")


def _imagecodecs_encode(imagecodecs: Any, array: np.ndarray, fmt: str) -> bytes:
    if fmt == "jpeg":
        subsampling = None if array.ndim == 2 else "420"
        return bytes(imagecodecs.jpeg8_encode(array, level=JPEG_QUALITY, subsampling=subsampling))
    return bytes(imagecodecs.png_encode(array, level=PNG_LEVEL))


def _imagecodecs_versions(imagecodecs: Any) -> dict[str, Any]:
    found = imagecodecs.version(dict)
    keys = ("libjpeg_turbo", "libpng", "zlib", "zlib_ng", "libdeflate")
    return {
        "version": imagecodecs.__version__,
        "codecs": {key.replace("_", "-"): found.get(key) for key in keys},
    }


# -- pyvips ---------------------------------------------------------------------------------


def _pyvips_load(threads: int) -> Any:
    # libvips reads its thread count once, when it starts.
    os.environ.setdefault("VIPS_CONCURRENCY", str(threads))
    import pyvips

    pyvips.concurrency_set(threads)
    # No operation cache: a second decode of a file would otherwise come from it, and time
    # no work.
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    pyvips.cache_set_max_files(0)
    return pyvips


def _pyvips_pixels(image: Any) -> np.ndarray:
    return _native(image.numpy())


def _pyvips_decode_path(pyvips: Any, path: str) -> np.ndarray:
    return _pyvips_pixels(pyvips.Image.new_from_file(path, access="sequential"))


def _pyvips_decode(pyvips: Any, data: bytes) -> np.ndarray:
    return _pyvips_pixels(pyvips.Image.new_from_buffer(data, "", access="sequential"))


def _pyvips_encode(pyvips: Any, array: np.ndarray, fmt: str) -> bytes:
    image = pyvips.Image.new_from_array(array)
    interpretation = "b-w" if array.ndim == 2 else "srgb"
    image = image.copy(interpretation=interpretation)
    if fmt == "jpeg":
        subsample = "auto" if array.ndim == 2 else "on"
        return image.jpegsave_buffer(Q=JPEG_QUALITY, subsample_mode=subsample)
    # Every filter tried per row, as libpng does by default for the other libraries (libvips'
    # own default, no filter, is about 4 times faster and writes files about a third larger).
    return image.pngsave_buffer(compression=PNG_LEVEL, filter="all")


def _pyvips_versions(pyvips: Any) -> dict[str, Any]:
    libvips = ".".join(str(pyvips.version(i)) for i in range(3))
    return {"version": pyvips.__version__, "codecs": {"libvips": libvips}}


LIBRARIES: dict[str, Library] = {
    lib.name: lib
    for lib in (
        Library(
            "pillow",
            "PIL",
            "pillow",
            ("jpeg", "png", "bmp"),
            ("jpeg", "png"),
            "single-threaded codecs",
            _pillow_load,
            _pillow_decode,
            _pillow_encode,
            _pillow_versions,
        ),
        Library(
            "opencv",
            "cv2",
            "opencv-python-headless",
            ("jpeg", "png", "bmp"),
            ("jpeg", "png"),
            "cv2.setNumThreads(threads) in every process",
            _cv2_load,
            _cv2_decode,
            _cv2_encode,
            _cv2_versions,
            _cv2_decode_path,
        ),
        Library(
            "simplejpeg",
            "simplejpeg",
            "simplejpeg",
            ("jpeg",),
            ("jpeg",),
            "single-threaded (libjpeg-turbo's TurboJPEG API)",
            _simplejpeg_load,
            _simplejpeg_decode,
            _simplejpeg_encode,
            _simplejpeg_versions,
        ),
        Library(
            "imagecodecs",
            "imagecodecs",
            "imagecodecs",
            ("jpeg", "png"),
            ("jpeg", "png"),
            "single-threaded codecs (jpeg8, png)",
            _imagecodecs_load,
            _imagecodecs_decode,
            _imagecodecs_encode,
            _imagecodecs_versions,
        ),
        Library(
            "pyvips",
            "pyvips",
            "pyvips[binary]",
            ("jpeg", "png"),
            ("jpeg", "png"),
            "VIPS_CONCURRENCY and pyvips.concurrency_set(threads); no operation cache",
            _pyvips_load,
            _pyvips_decode,
            _pyvips_encode,
            _pyvips_versions,
            _pyvips_decode_path,
            fork_safe=False,
        ),
    )
}
#: The library imgbench's own tasks use.
DEFAULT_LIBRARY = "pillow"


@cache
def load(name: str, threads: int = 1) -> Any:
    """The library's module, imported and held to ``threads`` internal threads (once per
    process and thread count)."""
    return LIBRARIES[name].load(threads)


def decode_file(name: str, threads: int, path: str) -> np.ndarray:
    library = LIBRARIES[name]
    module = load(name, threads)
    if library.decode_path is not None:
        return library.decode_path(module, path)
    with open(path, "rb") as f:
        return library.decode_bytes(module, f.read())


def decode_bytes(name: str, threads: int, data: bytes) -> np.ndarray:
    return LIBRARIES[name].decode_bytes(load(name, threads), data)


def encode(name: str, threads: int, array: np.ndarray, fmt: str) -> bytes:
    return LIBRARIES[name].encode(load(name, threads), array, fmt)


def mapped_codecs() -> list[str]:
    """The codec libraries' shared objects this process has mapped (their file names carry
    their versions, e.g. libpng16-2a3b.so.16.43.0): what a library really runs where it does
    not say itself."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return []
    return sorted({os.path.basename(p) for p in paths if _CODEC_FILES.search(os.path.basename(p))})


def describe(name: str, threads: int = 1) -> dict[str, Any]:
    """What a result records of the library a cell ran: its version, the codecs it reports,
    the codec libraries mapped into the process, and its internal threads."""
    library = LIBRARIES[name]
    found = library.versions(load(name, threads))
    return {
        "name": name,
        "package": library.package,
        "version": found["version"],
        "codecs": found["codecs"],
        "mapped": mapped_codecs(),
        "threads": threads,
    }
