import sys

import pytest

from imgbench.measure import cache

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore/fadvise: Linux")


@pytest.fixture
def files(tmp_path):
    paths = []
    for i in range(4):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(bytes(range(256)) * 4096)  # 1 MiB each
        paths.append(path)
    return paths


@linux
def test_warm_files_are_resident(files):
    cache.warm_page_cache(files)
    assert cache.resident_fraction(files) > 0.95


@linux
@pytest.mark.parametrize("methods", [cache.METHODS, ("fadvise",)])
def test_cold_flush_leaves_under_5_percent_resident(files, methods):
    cache.warm_page_cache(files)
    method = cache.evict_from_page_cache(files, methods=methods)
    assert method in methods
    fraction = cache.resident_fraction(files)
    assert fraction is not None and fraction < 0.05, (method, fraction)


def test_no_method_warns_and_says_none(files):
    with pytest.warns(cache.CacheWarning, match="cold repetitions may be warm"):
        assert cache.evict_from_page_cache(files, methods=()) == "none"


@linux
def test_measuring_does_not_warm(files):
    cache.evict_from_page_cache(files, methods=("fadvise",))
    for _ in range(3):
        assert cache.resident_fraction(files) < 0.05


def test_nothing_to_measure_is_none(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert cache.resident_fraction([]) is None
    assert cache.resident_fraction([empty]) is None


@linux
def test_evicting_files_leaves_other_files_cached(files, tmp_path):
    other = tmp_path / "interpreter.bin"
    other.write_bytes(bytes(range(256)) * 4096)
    cache.warm_page_cache([*files, other])
    assert cache.evict_files(files) == "fadvise"
    assert cache.resident_fraction(files) < 0.05
    assert cache.resident_fraction([other]) > 0.95


def test_system_eviction_that_is_not_allowed_warns_and_says_none(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "DROP_CACHES", tmp_path / "no-such-dir" / "drop_caches")
    with pytest.warns(cache.CacheWarning, match="eviction 'system' needs"):
        assert cache.evict_system() == "none"


def test_per_file_eviction_without_any_method_warns(files, monkeypatch):
    monkeypatch.delattr(cache.os, "posix_fadvise", raising=False)
    monkeypatch.setattr(cache, "_purge", lambda: False)
    with pytest.warns(cache.CacheWarning, match="cold repetitions may be warm"):
        assert cache.evict_files(files) == "none"
