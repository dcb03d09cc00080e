import asyncio
import hashlib

import numpy as np
import pytest
from PIL import Image

from imgbench.errors import TaskError, VerificationError
from imgbench.measure.tasks import TASKS, VerifyContext


def _files_context(ds, n):
    return VerifyContext(
        n,
        ds.width,
        ds.height,
        input_paths=ds.paths(n),
        input_sha256=[f.sha256 for f in ds.files[:n]],
        input_pixel_sha256=[f.pixel_sha256 for f in ds.files[:n]],
    )


def _save_context(datasets, tmp_path, suffix, n=4):
    arrays = datasets["raw"].load_arrays(n)
    out = tmp_path / "out"
    out.mkdir()
    paths = [out / f"img_{i:06d}{suffix}" for i in range(n)]
    ctx = VerifyContext(n, 48, 32, source_arrays=arrays, output_paths=paths, output_dir=out)
    return ctx, [(a, str(p)) for a, p in zip(arrays, paths, strict=True)]


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_read_returns_the_files_bytes(datasets, fmt):
    ds = datasets[fmt]
    task = TASKS["read"]
    results = [task.work(str(p)) for p in ds.paths(5)]
    assert [hashlib.sha256(r).hexdigest() for r in results] == [f.sha256 for f in ds.files[:5]]
    task.verify(_files_context(ds, 5), results)
    async_results = [asyncio.run(task.awork(str(p))) for p in ds.paths(5)]
    assert async_results == results


def test_decode_returns_rgb_arrays_that_verify(datasets):
    ds = datasets["jpeg"]
    task = TASKS["decode"]
    results = [task.work(str(p)) for p in ds.paths(4)]
    assert all(r.shape == (32, 48, 3) and r.dtype == np.uint8 for r in results)
    task.verify(_files_context(ds, 4), results)
    task.verify(_files_context(ds, 4), [asyncio.run(task.awork(str(p))) for p in ds.paths(4)])


@pytest.mark.parametrize(("name", "suffix"), [("save_png", ".png"), ("save_jpeg", ".jpg")])
@pytest.mark.parametrize("use_async", [False, True])
def test_save_tasks_write_files_that_verify(datasets, tmp_path, name, suffix, use_async):
    task = TASKS[name]
    ctx, items = _save_context(datasets, tmp_path, suffix)
    if use_async:
        results = [asyncio.run(task.awork(item)) for item in items]
    else:
        results = [task.work(item) for item in items]
    task.verify(ctx, results)


def test_verification_catches_a_lost_result(datasets):
    ds = datasets["jpeg"]
    results = [TASKS["read"].work(str(p)) for p in ds.paths(4)]
    with pytest.raises(VerificationError, match="expected 4 results, got 3"):
        TASKS["read"].verify(_files_context(ds, 4), results[:3])
    results[2] = None
    with pytest.raises(VerificationError, match="no result"):
        TASKS["read"].verify(_files_context(ds, 4), results)


def test_verification_catches_corrupt_bytes_and_pixels(datasets):
    ds = datasets["jpeg"]
    data = [TASKS["read"].work(str(p)) for p in ds.paths(3)]
    data[1] = data[1][:-1] + bytes([data[1][-1] ^ 1])
    with pytest.raises(VerificationError, match=ds.files[1].name):
        TASKS["read"].verify(_files_context(ds, 3), data)
    arrays = [TASKS["decode"].work(str(p)) for p in ds.paths(3)]
    arrays[2] = arrays[2].copy()
    arrays[2][0, 0, 0] ^= 1
    with pytest.raises(VerificationError, match="decoded pixels differ"):
        TASKS["decode"].verify(_files_context(ds, 3), arrays)
    arrays[2] = arrays[2][:, :10]
    with pytest.raises(VerificationError, match="expected uint8"):
        TASKS["decode"].verify(_files_context(ds, 3), arrays)


def test_verification_catches_a_missing_or_damaged_saved_file(datasets, tmp_path):
    task = TASKS["save_png"]
    ctx, items = _save_context(datasets, tmp_path, ".png")
    results = [task.work(item) for item in items]
    ctx.output_paths[1].unlink()
    with pytest.raises(VerificationError, match="missing"):
        task.verify(ctx, results)
    task.work(items[1])
    changed = items[1][0].copy()
    changed[5, 5] = 255 - changed[5, 5]
    task.work((changed, items[1][1]))
    with pytest.raises(VerificationError, match="lossless save changed the pixels"):
        task.verify(ctx, results)


def test_wrong_size_saved_file_is_caught(datasets, tmp_path):
    task = TASKS["save_jpeg"]
    ctx, items = _save_context(datasets, tmp_path, ".jpg")
    results = [task.work(item) for item in items]
    task.work((items[0][0][:16], items[0][1]))
    with pytest.raises(VerificationError, match="saved as 48x16"):
        task.verify(ctx, results)


def test_corrupt_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(TaskError, match="broken.jpg: cannot decode"):
        TASKS["decode"].work(str(bad))
    with pytest.raises(TaskError, match="broken.jpg: cannot decode"):
        asyncio.run(TASKS["decode"].awork(str(bad)))
    with pytest.raises(TaskError, match="missing.jpg: cannot read"):
        TASKS["read"].work(str(tmp_path / "missing.jpg"))


@pytest.mark.parametrize("name", ["grayscale", "grayscale_loop"])
def test_greyscale_tasks_verify_and_catch_a_wrong_image(datasets, name):
    ds = datasets["png"]
    task = TASKS[name]
    results = [task.work(str(p)) for p in ds.paths(3)]
    assert all(r.shape == (32, 48) and r.dtype == np.uint8 for r in results)
    task.verify(_files_context(ds, 3), results)
    task.verify(_files_context(ds, 3), [asyncio.run(task.awork(str(p))) for p in ds.paths(3)])
    with pytest.raises(VerificationError, match="img_000001"):
        task.verify(_files_context(ds, 3), [results[0], results[0], results[2]])
    with pytest.raises(VerificationError, match="expected uint8"):
        task.verify(_files_context(ds, 3), [r.astype(np.float32) for r in results])


def _blur_context(ds, tmp_path, n=3):
    out = tmp_path / "out"
    out.mkdir()
    paths = [out / f"img_{i:06d}.jpg" for i in range(n)]
    options = {"radius": 2.0, "thumbnail": "20x20"}
    task = TASKS["blur_thumbnail"]
    items = [
        task.build_item(str(s), str(p), options, None)
        for s, p in zip(ds.paths(n), paths, strict=True)
    ]
    ctx = _files_context(ds, n)
    ctx.output_paths, ctx.output_dir, ctx.items = paths, out, items
    ctx.reference_dir = tmp_path / "reference"
    return ctx, items


def test_blur_thumbnail_fits_the_box_and_verifies_against_a_reference(datasets, tmp_path):
    task = TASKS["blur_thumbnail"]
    ctx, items = _blur_context(datasets["jpeg"], tmp_path)
    results = [task.work(item) for item in items]
    with Image.open(results[0]) as im:
        assert im.size == (20, 13)  # 48x32 shrunk to fit 20x20, aspect ratio kept
    task.verify(ctx, results)
    # A different radius gives different bytes: the verifier compares with the real work.
    task.work((*items[1][:2], 5.0, *items[1][3:]))
    with pytest.raises(VerificationError, match="img_000001.jpg: differs from the reference"):
        task.verify(ctx, results)


def test_blur_thumbnail_names_a_corrupt_input(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(TaskError, match="bad.jpg: cannot decode"):
        TASKS["blur_thumbnail"].work((str(bad), str(tmp_path / "o.jpg"), 2.0, 10, 10))


@pytest.mark.parametrize(("name", "suffix"), [("save_png", ".png"), ("save_jpeg", ".jpg")])
@pytest.mark.parametrize("use_async", [False, True])
def test_durable_saves_fsync_each_file_and_still_verify(
    datasets, tmp_path, monkeypatch, name, suffix, use_async
):
    import os

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    task = TASKS[name]
    ctx, pairs = _save_context(datasets, tmp_path, suffix)
    items = [task.build_item(a, p, {"durability": "fsync"}, None) for a, p in pairs]
    assert all(item[2] == "fsync" for item in items)
    if use_async:
        results = [asyncio.run(task.awork(item)) for item in items]
    else:
        results = [task.work(item) for item in items]
    assert len(synced) == 4
    task.verify(ctx, results)


def test_the_default_durability_writes_without_fsync(datasets, tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(os, "fsync", lambda fd: pytest.fail("fsync with durability none"))
    task = TASKS["save_png"]
    ctx, pairs = _save_context(datasets, tmp_path, ".png")
    items = [task.build_item(a, p, dict(task.options), None) for a, p in pairs]
    task.verify(ctx, [task.work(item) for item in items])


def test_a_durable_blur_thumbnail_matches_its_reference(datasets, tmp_path):
    from imgbench.measure.tasks.images import blur_item

    ds = datasets["jpeg"]
    task = TASKS["blur_thumbnail"]
    out = tmp_path / "out"
    out.mkdir()
    paths = [out / f"img_{i:06d}.jpg" for i in range(3)]
    options = {"radius": 2.0, "thumbnail": "24x24", "durability": "fsync"}
    items = [
        blur_item(str(s), str(o), options, None) for s, o in zip(ds.paths(3), paths, strict=True)
    ]
    assert items[0][-1] == "fsync"
    ctx = VerifyContext(
        3,
        48,
        32,
        output_paths=paths,
        output_dir=out,
        items=items,
        reference_dir=tmp_path / "ref",
    )
    task.verify(ctx, [task.work(item) for item in items])


@pytest.mark.parametrize(("name", "suffix"), [("save_png", ".png"), ("save_jpeg", ".jpg")])
def test_a_later_repetition_is_checked_against_what_was_verified(datasets, tmp_path, name, suffix):
    task = TASKS[name]
    ctx, items = _save_context(datasets, tmp_path, suffix)
    results = [task.work(item) for item in items]
    task.verify(ctx, results)  # decoded and checked, then remembered by digest
    assert set(ctx.memo["saved"]) == {p.name for p in ctx.output_paths}
    results = [task.work(item) for item in items]
    task.verify(ctx, results)  # the same bytes: nothing to decode again
    # A file that differs from the verified one is decoded and checked again: here another
    # image's pixels under this image's name.
    task.work((items[0][0], items[1][1]))
    with pytest.raises(VerificationError, match=ctx.output_paths[1].name):
        task.verify(ctx, results)
