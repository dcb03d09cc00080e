import sys

import pytest

from imgbench import cache

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
