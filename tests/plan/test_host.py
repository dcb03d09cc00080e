"""What `imgbench info` says about this machine: each cold-cache method and why it does or
does not work here, start methods, library versions."""

from __future__ import annotations

import os
import sys

import pytest

from imgbench.plan import host


def _methods() -> dict[str, host.CacheMethod]:
    return {m.name: m for m in host.cache_methods()}


def test_every_method_the_cache_module_may_use_is_judged():
    from imgbench.measure.cache import FILE_METHODS, METHODS

    assert set(_methods()) == {*METHODS, *FILE_METHODS, "mincore"}
    assert all(m.why for m in _methods().values())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drop_caches is Linux's")
@pytest.mark.parametrize(
    ("root", "why"),
    [
        (False, "needs root: /proc/sys/vm/drop_caches is not writable by this user"),
        (True, "/proc/sys/vm/drop_caches is read-only here (a container?)"),
    ],
)
def test_drop_caches_says_why_it_is_not_available(monkeypatch, root, why):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setattr(os, "geteuid", lambda: 0 if root else 1000)
    method = _methods()["drop_caches"]
    assert (method.available, method.why) == (False, why)
    assert "system: no" in host.cold_verdict(host.cache_methods())


def test_without_fadvise_or_purge_cold_cells_would_run_warm(monkeypatch):
    monkeypatch.delattr(os, "posix_fadvise", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    methods = _methods()
    assert methods["fadvise"].why == "no posix_fadvise on this platform"
    assert methods["purge"].why == "not macOS"
    assert "files: no (cold cells would run warm)" in host.cold_verdict(list(methods.values()))


def test_start_methods_name_the_default_first():
    import multiprocessing

    default, available = host.start_methods()
    assert default == available[0] and default in multiprocessing.get_all_start_methods()


def test_library_versions_name_pillows_codecs():
    from PIL import Image

    lines = host.library_versions()
    (pillow,) = [line for line in lines if line.startswith("Pillow ")]
    assert pillow.startswith(f"Pillow {Image.__version__} (")
    assert "jpeg" in pillow and "zlib" in pillow
    assert lines[0].startswith("Python ")


def test_software_lines_break_between_items_only():
    items = [f"lib{i} 1.{i}.0" for i in range(30)]
    lines = host._wrapped("software:", items, width=40)
    assert all(len(line) <= 40 for line in lines)
    joined = " ".join(line.strip() for line in lines)
    assert joined == "software: " + "; ".join(items)
