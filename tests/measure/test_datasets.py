import io
import json

import numpy as np
import pytest
from PIL import Image

from imgbench.errors import DatasetError
from imgbench.measure.datasets import (
    check_files,
    load_manifest,
    make_dataset,
    pixel_sha256,
)
from imgbench.measure.generators import synthesize_image


def _png_size(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.tell()


def test_images_are_deterministic_and_independent_of_dataset_size():
    a = synthesize_image(64, 48, seed=3, index=5)
    assert a.shape == (48, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, synthesize_image(64, 48, seed=3, index=5))
    assert not np.array_equal(a, synthesize_image(64, 48, seed=3, index=6))
    assert not np.array_equal(a, synthesize_image(64, 48, seed=4, index=5))


def test_images_are_photo_like_not_noise():
    image = synthesize_image(256, 192, seed=1, index=0)
    # Structure compresses (PNG's filters exploit it); pure noise would not.
    noise = np.random.default_rng(0).integers(0, 256, image.shape, dtype=np.uint8)
    assert _png_size(image) < 0.75 * _png_size(noise)
    # Neighbouring pixels are strongly correlated, as in photographs.
    grey = image.mean(axis=2)
    corr = np.corrcoef(grey[:, :-1].ravel(), grey[:, 1:].ravel())[0, 1]
    assert corr > 0.8
    # ...but not flat: moderate noise and several colours.
    assert image.std() > 20


def test_encoded_dataset_manifest_matches_files(datasets):
    jpeg = datasets["jpeg"]
    assert jpeg.count == 12 and jpeg.format == "jpeg"
    assert len(jpeg.files) == 12
    raw_arrays = datasets["raw"].load_arrays(12)
    assert [pixel_sha256(a) for a in raw_arrays] == list(datasets["raw"].pixel_sha256)
    # PNG is lossless: decoded pixels are the raw arrays.
    png = datasets["png"]
    assert [f.pixel_sha256 for f in png.files] == list(datasets["raw"].pixel_sha256)
    check_files(jpeg, 12)


def test_same_seed_regenerates_identical_files(tmp_path, datasets):
    again = make_dataset(
        tmp_path / "jpeg", "jpeg", 48, 32, 12, seed=7, source=datasets["raw"].directory
    )
    assert [f.sha256 for f in again.files] == [f.sha256 for f in datasets["jpeg"].files]


def test_incomplete_dataset_is_refused(tmp_path):
    (tmp_path / "img_000000.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match="no manifest.json"):
        load_manifest(tmp_path)


def test_truncated_or_missing_file_is_named(tmp_path, datasets):
    ds = make_dataset(tmp_path / "d", "png", 16, 16, 3, seed=1)
    victim = ds.paths(3)[1]
    victim.write_bytes(victim.read_bytes()[:10])
    with pytest.raises(DatasetError, match=victim.name):
        check_files(ds, 3)
    victim.unlink()
    with pytest.raises(DatasetError, match=f"{victim.name}: missing"):
        check_files(ds, 3)


def test_unreadable_manifest_is_named(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "png"}))
    with pytest.raises(DatasetError, match="unreadable manifest"):
        load_manifest(tmp_path)


def test_failed_generation_leaves_nothing(tmp_path):
    with pytest.raises(DatasetError):
        make_dataset(tmp_path / "d", "gif", 8, 8, 2, seed=1)
    assert list(tmp_path.iterdir()) == []


def test_greyscale_datasets_hold_two_axis_images(tmp_path):
    synthetic = {"color": "grey", "content": "synthetic"}
    raw = make_dataset(tmp_path / "raw", "raw", 16, 8, 3, seed=5, **synthetic)
    assert raw.color == "grey" and raw.load_arrays(3).shape == (3, 8, 16)
    for fmt in ("png", "jpeg", "bmp"):
        ds = make_dataset(tmp_path / fmt, fmt, 16, 8, 3, seed=5, source=raw.directory, **synthetic)
        with Image.open(ds.paths(1)[0]) as im:
            assert im.mode == "L" and im.size == (16, 8)
    # Image i of a seed is the RGB image in greyscale, wherever it is made.
    rgb = synthesize_image(16, 8, 5, 1)
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(raw.load_arrays(3)[1], expected)
    with pytest.raises(DatasetError, match="not a raw synthetic rgb dataset"):
        make_dataset(
            tmp_path / "x", "png", 16, 8, 3, seed=5, source=raw.directory, content="synthetic"
        )


@pytest.mark.parametrize("fmt", ["raw", "jpeg"])
def test_parallel_generation_gives_the_same_dataset(tmp_path, fmt):
    one = make_dataset(tmp_path / "one", fmt, 24, 16, 5, seed=9)
    two = make_dataset(tmp_path / "two", fmt, 24, 16, 5, seed=9, workers=2)
    assert one.files == two.files and one.pixel_sha256 == two.pixel_sha256
    if fmt == "raw":
        np.testing.assert_array_equal(one.load_arrays(5), two.load_arrays(5))
