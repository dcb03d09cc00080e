"""A folder of the user's own images (``imgbench.measure.folder``): every bad file named with
its reason, symlinks out of the folder not followed, a deterministic pick, upright and fitted
copies, and the folder itself never written to."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgbench.errors import DatasetError
from imgbench.measure import folder as user_folder


def _image(path: Path, size, mode="RGB", fmt=None, **save):
    rng = np.random.default_rng(len(str(path)))
    shape = (size[1], size[0], 3) if mode != "L" else (size[1], size[0])
    im = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    if mode not in ("RGB", "L"):
        im = im.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format=fmt, **save)


@pytest.fixture
def photos(tmp_path):
    """Seven usable images of mixed formats, sizes and modes, and five bad files."""
    root = tmp_path / "photos"
    _image(root / "a.jpg", (64, 48))
    _image(root / "B.JPEG", (30, 40), "L")
    _image(root / "c.png", (50, 50), "RGBA")
    _image(root / "trip" / "d.webp", (80, 20))
    _image(root / "trip" / "e.gif", (33, 21), "P")
    _image(root / "trip" / "f.tiff", (40, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer turns it 90 degrees clockwise
    _image(root / "rotated.jpg", (40, 20), exif=exif.tobytes())
    good = (root / "a.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "notes.jpg").write_text("not an image at all")
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(root / "deep.png")
    outside = tmp_path / "elsewhere.jpg"
    _image(outside, (10, 10))
    (root / "link.jpg").symlink_to(outside)
    (root / "README.txt").write_text("ignored: not an image by name")
    return root


def _state(root: Path) -> dict:
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_every_bad_file_is_named_with_its_reason(photos):
    found = user_folder.scan(photos)
    assert sorted(s.name for s in found.usable) == sorted(
        ["a.jpg", "B.JPEG", "c.png", "rotated.jpg", "trip/d.webp", "trip/e.gif", "trip/f.tiff"]
    )
    reasons = dict(found.bad)
    assert set(reasons) == {"truncated.jpg", "notes.jpg", "deep.png", "link.jpg"}
    assert "truncated or corrupt" in reasons["truncated.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "mode I;16" in reasons["deep.png"]
    assert "outside the folder: not followed" in reasons["link.jpg"]
    assert found.ignored == 1
    formats = {s.name: (s.format, s.mode, s.width, s.height) for s in found.usable}
    assert formats["trip/e.gif"] == ("GIF", "P", 33, 21)
    assert formats["B.JPEG"] == ("JPEG", "L", 30, 40)


def test_a_bad_file_fails_the_pick_naming_it_unless_skipped(photos):
    found = user_folder.scan(photos)
    with pytest.raises(
        DatasetError, match=r"4 file\(s\) cannot be used .*truncated\.jpg: truncated"
    ):
        user_folder.pick(found, 3, seed=1)
    assert len(user_folder.pick(found, 3, seed=1, on_bad_image="skip")) == 3
    with pytest.raises(DatasetError, match=r"7 usable images \(4 bad\), the experiment needs 9"):
        user_folder.pick(found, 9, seed=1, on_bad_image="skip")


def test_the_pick_is_fixed_by_the_seed(photos):
    found = user_folder.scan(photos)
    first = [s.name for s in user_folder.pick(found, 5, 3, "skip")]
    assert first == [s.name for s in user_folder.pick(user_folder.scan(photos), 5, 3, "skip")]
    orders = {tuple(s.name for s in user_folder.pick(found, 5, seed, "skip")) for seed in range(6)}
    assert len(orders) > 1


def test_a_decompression_bomb_is_named(photos, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # a.jpg has 3072 pixels: > 2 x limit
    reasons = dict(user_folder.scan(photos).bad)
    assert "a decompression bomb" in reasons["a.jpg"]


def test_copies_are_upright_fitted_and_in_the_dataset_colour(photos):
    found = {s.name: s for s in user_folder.scan(photos).usable}
    rotated = found["rotated.jpg"]
    assert (rotated.width, rotated.height, rotated.orientation) == (40, 20, 6)
    # Upright it is 20 wide and 40 high: fitted to 20x40 it needs no crop.
    upright = user_folder.fitted_array(photos, rotated, 20, 40, "rgb")
    assert upright.shape == (40, 20, 3)
    with Image.open(photos / "rotated.jpg") as im:
        turned = np.asarray(im.convert("RGB").transpose(Image.Transpose.ROTATE_270))
    assert np.abs(upright.astype(int) - turned.astype(int)).mean() < 8  # resampled, not turned
    for source in found.values():
        assert user_folder.fitted_array(photos, source, 32, 24, "grey").shape == (24, 32)
        assert user_folder.fitted_array(photos, source, 32, 24, "rgb").shape == (24, 32, 3)


def test_the_folder_is_never_written_to(photos):
    before = _state(photos)
    found = user_folder.scan(photos)
    for source in user_folder.pick(found, 7, 1, "skip"):
        user_folder.fitted_array(photos, source, 16, 16, "rgb")
    user_folder.manifest_source(found, list(found.usable), 16, 16)
    assert _state(photos) == before
    assert not [p for p in photos.rglob("*") if p.name.startswith(".")]


def test_a_missing_or_empty_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r"dataset folder .*nowhere: no such directory"):
        user_folder.scan(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.txt").write_text("")
    with pytest.raises(DatasetError, match=r"no image files .* 1 other files"):
        user_folder.scan(tmp_path / "empty")


def test_the_manifest_records_where_every_image_came_from(photos):
    found = user_folder.scan(photos)
    picked = user_folder.pick(found, 4, 2, "skip")
    source = user_folder.manifest_source(found, picked, 64, 48)
    assert source["folder"] == str(photos.resolve())
    assert [i["name"] for i in source["images"]] == [s.name for s in picked]
    assert {b["name"] for b in source["bad"]} == {
        "truncated.jpg",
        "notes.jpg",
        "deep.png",
        "link.jpg",
    }
    assert source["upscaled"] == sum(s.width < 64 or s.height < 48 for s in picked)
    assert os.path.isabs(source["folder"])


# -- a dataset made from the folder ------------------------------------------------------------


def test_a_dataset_from_the_folder_is_an_ordinary_dataset(photos, tmp_path):
    from imgbench.measure.datasets import folder_content, load_manifest, make_dataset
    from imgbench.measure.runner import RunOptions, run_cell
    from imgbench.vocabulary import CellSpec

    before = _state(photos)
    content = folder_content(photos)
    made = make_dataset(
        tmp_path / "ds", "jpeg", 32, 24, 5, 3, content=content, folder=photos,
        on_bad_image="skip",
    )  # fmt: skip
    assert (made.count, made.width, made.height, made.content) == (5, 32, 24, content)
    assert [i["name"] for i in made.source["images"]] == [
        s.name for s in user_folder.pick(user_folder.scan(photos), 5, 3, "skip")
    ]
    # The same folder, seed and size: the same files, byte for byte.
    again = make_dataset(
        tmp_path / "ds2", "jpeg", 32, 24, 5, 3, content=content, folder=photos,
        on_bad_image="skip",
    )  # fmt: skip
    assert [f.sha256 for f in again.files] == [f.sha256 for f in made.files]
    # Raw arrays for the saving tasks, and an encoding made from them.
    raw = make_dataset(
        tmp_path / "raw", "raw", 32, 24, 5, 3, content=content, folder=photos,
        on_bad_image="skip",
    )  # fmt: skip
    png = make_dataset(
        tmp_path / "png", "png", 32, 24, 5, 3, source=raw.directory, content=content,
        folder=photos,
    )  # fmt: skip
    assert png.source["folder"] == str(photos.resolve())
    assert load_manifest(png.directory).pixel_sha256 == raw.pixel_sha256
    # A cell decodes and verifies it, and records where the images came from.
    cell = CellSpec("t", "decode", "disk", "warm", 32, 24, 5, "threads", 2)
    options = RunOptions(1, 0, made.directory, tmp_path / "scratch", tmp_path / "out.json")
    result = run_cell(cell, options)
    assert result["run"]["dataset_folder"]["folder"] == str(photos.resolve())
    assert len(result["run"]["dataset_folder"]["bad"]) == 4
    assert _state(photos) == before


def test_a_bad_file_stops_the_dataset_naming_it_and_leaves_nothing(photos, tmp_path):
    from imgbench.measure.datasets import folder_content, make_dataset

    with pytest.raises(DatasetError, match=r"notes\.jpg: not an image"):
        make_dataset(
            tmp_path / "ds", "jpeg", 32, 24, 3, 1, content=folder_content(photos), folder=photos
        )
    # Nothing half-made counts as a dataset: neither the directory nor its temporary.
    assert not (tmp_path / "ds").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds")]


# -- native sizes: the folder's files as found ------------------------------------------------


def test_native_images_are_the_folders_files_byte_for_byte(photos, tmp_path):
    from imgbench.measure.datasets import folder_content, load_manifest, make_dataset

    before = _state(photos)
    made = make_dataset(
        tmp_path / "ds", "native", 0, 0, 7, 3, content=folder_content(photos), folder=photos,
        on_bad_image="skip",
    )  # fmt: skip
    assert (made.format, made.width, made.height, made.count) == ("native", 0, 0, 7)
    picked = user_folder.pick(user_folder.scan(photos), 7, 3, "skip")
    for entry, source in zip(made.files, picked, strict=True):
        copy = made.directory / entry.name
        assert copy.read_bytes() == (photos / source.name).read_bytes()
        assert copy.suffix == Path(source.name).suffix.lower()
        # Each file's decoded shape, as stored: the sideways JPEG is not turned upright.
        channels = () if source.mode == "L" else (3,)
        assert entry.shape == (source.height, source.width, *channels)
    assert made.pixels(7) == sum(s.width * s.height for s in picked)
    native = made.source["native"]
    assert native["count"] == 7 and native["formats"]["JPEG"] == 3
    assert native["smallest"] == "33x21" and native["largest"] == "64x48"
    assert load_manifest(made.directory).files == made.files
    assert _state(photos) == before


def test_native_size_needs_a_folder(tmp_path):
    from imgbench.measure.datasets import make_dataset

    with pytest.raises(DatasetError, match="native dataset is a folder's images as found"):
        make_dataset(tmp_path / "ds", "native", 0, 0, 3, 1, content="photo")


@pytest.mark.parametrize(
    ("task", "strategy"),
    [("decode", "serial"), ("decode", "processes_shm"), ("grayscale", "threads"),
     ("read", "processes")],
)  # fmt: skip
def test_a_cell_times_native_images_of_every_size_and_verifies_them(
    photos, tmp_path, task, strategy
):
    from imgbench.measure.datasets import folder_content, make_dataset
    from imgbench.measure.runner import RunOptions, run_cell
    from imgbench.vocabulary import CellSpec

    made = make_dataset(
        tmp_path / "ds", "native", 0, 0, 7, 3, content=folder_content(photos), folder=photos,
        on_bad_image="skip",
    )  # fmt: skip
    workers = 1 if strategy == "serial" else 2
    cell = CellSpec("t", task, "disk", "warm", 0, 0, 7, strategy, workers)
    options = RunOptions(2, 0, made.directory, tmp_path / "scratch", tmp_path / "out.json")
    result = run_cell(cell, options)
    assert all(rep["verified"] for rep in result["repetitions"])
    assert result["run"]["input_pixels"] == made.pixels(7)
    assert result["run"]["dataset_folder"]["native"]["count"] == 7


def test_a_native_result_of_the_wrong_shape_fails_verification(photos, tmp_path):
    from imgbench.errors import VerificationError
    from imgbench.measure.datasets import folder_content, make_dataset
    from imgbench.measure.tasks.images import verify_arrays
    from imgbench.measure.tasks.task import VerifyContext

    made = make_dataset(
        tmp_path / "ds", "native", 0, 0, 2, 3, content=folder_content(photos), folder=photos,
        on_bad_image="skip",
    )  # fmt: skip
    ctx = VerifyContext(2, 0, 0, input_paths=made.paths(2))
    ctx.input_pixel_sha256 = [f.pixel_sha256 for f in made.files]
    ctx.input_shapes = [f.shape for f in made.files]
    wrong = [np.zeros(made.files[1].shape, np.uint8), np.zeros(made.files[0].shape, np.uint8)]
    if made.files[0].shape == made.files[1].shape:
        wrong[0] = np.zeros((1, 1, 3), np.uint8)
    with pytest.raises(VerificationError, match="decoded to"):
        verify_arrays(ctx, wrong)
