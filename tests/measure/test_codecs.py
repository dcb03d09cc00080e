"""The image libraries (imgbench.measure.codecs) and their tasks
(imgbench.measure.tasks.libraries): what each decodes equals Pillow's, what each writes
decodes to its source, each is held to its threads, each says what it runs; and their cells
run verified under a loop, threads, a shared-memory process pool and asyncio."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgbench.errors import ImgbenchError, TaskError, VerificationError
from imgbench.measure import codecs
from imgbench.measure.datasets import make_dataset, pixel_sha256
from imgbench.measure.runner import run_cell
from imgbench.measure.tasks import TASKS
from imgbench.measure.tasks.libraries import DECODER_TOLERANCE, LIBRARY_TASKS, verify_decoded
from imgbench.measure.tasks.task import VerifyContext
from tests.helpers.cells import cell_options, small_cell

OTHERS = [name for name in codecs.LIBRARIES if name != codecs.DEFAULT_LIBRARY]


def _library(name: str) -> codecs.Library:
    library = codecs.LIBRARIES[name]
    if not library.installed():
        pytest.fail(f"{name} is not installed: make test installs imgbench[codecs]")
    return library


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    root = tmp_path_factory.mktemp("grey")
    raw = make_dataset(root / "raw", "raw", 40, 24, 3, seed=3, color="grey")
    return make_dataset(
        root / "jpeg", "jpeg", 40, 24, 3, seed=3, color="grey", source=raw.directory
    )


@pytest.fixture(scope="module")
def encoded(datasets, tmp_path_factory):
    """The session's JPEG and PNG datasets, and a BMP one of the same images."""
    raw = datasets["raw"]
    bmp = make_dataset(tmp_path_factory.mktemp("bmp") / "bmp", "bmp", 48, 32, 3, seed=7,
                       source=raw.directory)  # fmt: skip
    return {"jpeg": datasets["jpeg"], "png": datasets["png"], "bmp": bmp}


@pytest.mark.parametrize(
    ("name", "fmt"), [(n, f) for n in OTHERS for f in codecs.LIBRARIES[n].decodes]
)
def test_each_library_decodes_as_pillow_does(encoded, name, fmt):
    _library(name)
    for entry in encoded[fmt].files[:3]:
        path = encoded[fmt].directory / entry.name
        array = codecs.decode_file(name, 1, str(path))
        assert array.dtype == np.uint8 and array.shape == (32, 48, 3)
        with Image.open(path) as im:
            pillow = np.asarray(im.convert("RGB")).astype(np.int16)
        error = np.abs(array.astype(np.int16) - pillow).mean()
        assert error <= (DECODER_TOLERANCE if fmt == "jpeg" else 0), (name, entry.name, error)
        # From bytes (the asyncio path) as from the file.
        assert pixel_sha256(codecs.decode_bytes(name, 1, path.read_bytes())) == pixel_sha256(array)


@pytest.mark.parametrize("name", OTHERS)
def test_greyscale_jpegs_decode_to_one_channel(grey, name):
    _library(name)
    path = grey.directory / grey.files[0].name
    assert codecs.decode_file(name, 1, str(path)).shape == (24, 40)


@pytest.mark.parametrize(
    ("name", "fmt"), [(n, f) for n in OTHERS for f in codecs.LIBRARIES[n].encodes]
)
def test_each_library_encodes_what_pillow_decodes_back(datasets, name, fmt):
    _library(name)
    source = np.load(datasets["raw"].directory / "arrays.npy")[0]
    data = codecs.encode(name, 1, source, fmt)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == fmt.upper()
        back = np.asarray(im)
    error = np.abs(back.astype(np.int16) - source.astype(np.int16)).mean()
    assert error == 0 if fmt == "png" else error < 12, (name, fmt, error)


def test_opencv_is_held_to_its_threads():
    cv2 = codecs.load("opencv", 1)
    assert cv2.getNumThreads() == 1
    codecs.load("opencv", 3)
    assert cv2.getNumThreads() == 3
    codecs.load.cache_clear()
    codecs.load("opencv", 1)
    assert cv2.getNumThreads() == 1


def test_pyvips_keeps_no_operation_cache():
    pyvips = codecs.load("pyvips", 1)
    # A cached operation would make a second decode of a file cost nothing: no work timed.
    assert pyvips.cache_get_max() == 0


@pytest.mark.parametrize("name", [*OTHERS, codecs.DEFAULT_LIBRARY])
def test_each_library_says_what_it_runs(name):
    _library(name)
    described = codecs.describe(name)
    assert described["name"] == name and described["version"]
    assert described["codecs"] and described["threads"] == 1
    assert isinstance(described["mapped"], list)
    if name == "opencv":
        # Read from OpenCV's build information: the libjpeg-turbo and libpng it carries.
        assert "turbo" in described["codecs"]["libjpeg-turbo"].lower()


def test_a_bad_file_names_the_file_and_the_library(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not a jpeg")
    with pytest.raises(TaskError, match=r"broken\.jpg: opencv cannot decode"):
        TASKS["decode_opencv"].work(("opencv", 1, str(bad)))


def test_decoded_pixels_far_from_pillow_s_fail_verification(datasets):
    paths = [datasets["jpeg"].directory / e.name for e in datasets["jpeg"].files[:2]]
    arrays = [codecs.decode_file("opencv", 1, str(p)) for p in paths]
    ctx = VerifyContext(
        n_images=2,
        width=48,
        height=32,
        input_paths=paths,
        input_pixel_sha256=[e.pixel_sha256 for e in datasets["jpeg"].files[:2]],
    )
    verify_decoded(ctx, arrays)
    arrays[1] = (arrays[1] // 2).astype(np.uint8)
    with pytest.raises(VerificationError, match="differ from Pillow's"):
        verify_decoded(ctx, arrays)


def test_every_library_task_has_a_base_and_a_library():
    assert {t.name for t in LIBRARY_TASKS} >= {"decode_opencv", "save_png_pyvips"}
    for task in LIBRARY_TASKS:
        assert TASKS[task.name] is task
        assert task.base in ("decode", "save_png", "save_jpeg")
        assert task.library in OTHERS
        assert task.name == f"{task.base}_{task.library}"


@pytest.mark.parametrize("strategy", ["threads", "processes_shm", "asyncio"])
@pytest.mark.parametrize("task", sorted(t.name for t in LIBRARY_TASKS))
def test_library_cells_run_verified(datasets, tmp_path, task, strategy):
    library = _library(TASKS[task].library)
    # libvips hangs in a worker forked after it has worked: its pools start otherwise.
    method = None if library.fork_safe else "forkserver"
    options = cell_options(datasets, tmp_path, task, repeats=2, start_method=method)
    result = run_cell(small_cell(task, strategy), options)
    assert all(r["verified"] for r in result["repetitions"])
    described = result["machine"]["image_library"]
    assert described["name"] == TASKS[task].library and described["threads"] == 1


def test_a_library_that_is_not_fork_safe_is_never_forked(datasets, tmp_path):
    # Without the guard this cell hangs: the priming run starts libvips' thread pool here,
    # and a forked worker waits forever on its locks.
    options = cell_options(datasets, tmp_path, "decode_pyvips", start_method="fork")
    with pytest.raises(ImgbenchError, match="pyvips is not fork-safe.*forkserver or spawn"):
        run_cell(small_cell("decode_pyvips", "processes"), options)
