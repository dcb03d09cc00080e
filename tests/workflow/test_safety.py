"""Safety: config values never run as shell code, a run writes only where it is told to,
flushing caches never waits for a password, and datasets are reproducible to the byte."""

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import yaml

from imgbench.measure import cache
from imgbench.measure.datasets import make_dataset
from tests.helpers import ROOT, snakemake

SHM = Path("/dev/shm")

# Every way a shell could be tricked into running something, in one value.
EVIL = 'it\'s "quoted" $(touch PWNED) `touch PWNED` ; touch PWNED & $HOME \\ end'
#: Caches that tools we call keep in HOME (fonts, Snakemake's source cache): not ours.
TOOL_CACHES = (".cache/matplotlib", ".config/matplotlib", ".cache/snakemake", ".cache/fontconfig")
#: What a run may leave in its working directory (besides the config and scratch roots).
WORKDIR_ENTRIES = {"results", ".snakemake"}


def _scratch_areas(root: Path) -> set[str]:
    return {p.name for p in root.glob("imgbench-*")} if root.is_dir() else set()


def _leftovers(before: set[str], root: Path) -> list[str]:
    """New scratch areas in ``root`` whose process is gone (a live one belongs to a cell
    running right now, e.g. another benchmark on this machine)."""
    left = []
    for name in sorted(_scratch_areas(root) - before):
        match = re.match(r"imgbench-(\d+)-", name)
        if match and not psutil.pid_exists(int(match.group(1))):
            left.append(name)
    return left


@pytest.fixture(scope="module")
def evil_run(tmp_path_factory):
    """The real workflow on a tiny grid whose description and scratch path are shell code."""
    if not (SHM.is_dir() and os.access(SHM, os.W_OK)):
        pytest.skip("no writable /dev/shm")
    workdir = tmp_path_factory.mktemp("evil")
    home, tmp = workdir / "home", workdir / "tmp"
    home.mkdir()
    tmp.mkdir()
    scratch = workdir / f"scratch {EVIL}"
    config = {
        "experiments": {
            "tiny": {
                "tasks": ["save_png", "decode"],
                "strategies": ["serial", "threads"],
                "workers": [2],
                "n_images": [4],
                "sizes": ["32x24"],
                "storage": ["disk", "shm"],
                "cache": ["warm"],
                "repeats": 1,
                "rounds": 1,
                "warmup": 0,
                "description": EVIL,
            }
        },
        "scratch": {"disk": str(scratch), "shm": str(SHM)},
    }
    (workdir / "c.yaml").write_text(yaml.safe_dump(config))
    before = {root: _scratch_areas(root) for root in (SHM, Path(tempfile.gettempdir()))}
    started = time.time()
    # A private HOME and TMPDIR, to see what lands there.
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp)}
    env.pop("XDG_CACHE_HOME", None)
    env.pop("MPLCONFIGDIR", None)
    snakemake(workdir, "--cores", "2", config="c.yaml", env=env)
    return {
        "workdir": workdir,
        "scratch": scratch,
        "home": home,
        "tmp": tmp,
        "before": before,
        "started": started,
    }


@pytest.mark.e2e
def test_no_config_value_reaches_a_shell_unquoted(evil_run):
    workdir = evil_run["workdir"]
    assert not [p for p in workdir.rglob("*") if p.name == "PWNED"]
    assert not (ROOT / "PWNED").exists()
    # The values reached the program intact: quoted, not interpreted.
    meta = json.loads((workdir / "results/tiny/metadata.json").read_text())
    assert meta["description"] == EVIL
    cells = sorted((workdir / "results/tiny/cells").rglob("*.json"))
    assert len(cells) == 2 * 2 * 2  # 2 tasks x (disk, shm) x (serial, threads x2)
    for path in cells:
        run = json.loads(path.read_text())["run"]
        storage = json.loads(path.read_text())["cell"]["storage"]
        assert run["scratch"] == (str(evil_run["scratch"]) if storage == "disk" else str(SHM))
        assert re.fullmatch(r"[0-9a-f]{16}", run["config_hash"])


@pytest.mark.e2e
def test_nothing_is_written_outside_results_and_scratch(evil_run):
    workdir = evil_run["workdir"]
    entries = {p.name for p in workdir.iterdir()}
    expected = WORKDIR_ENTRIES | {"c.yaml", evil_run["scratch"].name, "home", "tmp"}
    assert entries == expected
    # Scratch areas are removed; results hold no half-written (temporary) files, only
    # Snakemake's marker in each directory output.
    assert list(evil_run["scratch"].iterdir()) == []
    hidden = [p for p in (workdir / "results").rglob(".*") if p.name != ".snakemake_timestamp"]
    assert hidden == []
    assert list(evil_run["tmp"].iterdir()) == []
    home = evil_run["home"]
    ours = [
        p.relative_to(home)
        for p in home.rglob("*")
        if p.is_file() and not str(p.relative_to(home)).startswith(TOOL_CACHES)
    ]
    assert ours == []
    for root, before in evil_run["before"].items():
        assert _leftovers(before, root) == [], root


def test_cache_flushing_never_asks_for_a_password(tmp_path, monkeypatch):
    # Nothing calls sudo; the one external command (macOS purge) gets no terminal input.
    for path in [*(ROOT / "src/imgbench").rglob("*.py"), *(ROOT / "workflow").rglob("*.smk")]:
        assert not re.search(r"\bsudo\b", path.read_text()), path
    # A purge that would prompt for a password (it reads its input) fails at once instead.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    purge = bin_dir / "purge"
    purge.write_text("#!/bin/sh\nread -r password || exit 1\nexit 0\n")
    purge.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(cache.sys, "platform", "darwin")
    started = time.monotonic()
    assert cache._purge() is False
    assert time.monotonic() - started < 10


def test_without_drop_caches_eviction_degrades_with_a_warning(tmp_path, monkeypatch):
    files = []
    for i in range(2):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(bytes(4096) * 16)
        files.append(path)
    # As for a user who may not write /proc/sys/vm/drop_caches.
    monkeypatch.setattr(cache, "DROP_CACHES", tmp_path / "no-such-dir" / "drop_caches")
    assert cache.drop_all_caches() is False
    expected = "fadvise" if hasattr(os, "posix_fadvise") else "none"
    if expected == "fadvise":
        assert cache.evict_from_page_cache(files) == "fadvise"
    with pytest.warns(cache.CacheWarning, match="cold repetitions may be warm"):
        assert cache.evict_from_page_cache(files, methods=("drop_caches",)) == "none"


def _digests(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


@pytest.mark.parametrize("fmt", ["raw", "png", "jpeg"])
def test_datasets_are_byte_identical_however_they_are_made(tmp_path, fmt):
    made = []
    for run, workers in enumerate((1, 2, 1)):
        made.append(make_dataset(tmp_path / f"{run}", fmt, 40, 24, 5, seed=11, workers=workers))
    if fmt != "raw":  # also encoded from a raw dataset, as the workflow does when it has one
        raw = make_dataset(tmp_path / "raw", "raw", 40, 24, 5, seed=11)
        for workers in (1, 2):
            made.append(
                make_dataset(
                    tmp_path / f"src{workers}",
                    fmt,
                    40,
                    24,
                    5,
                    seed=11,
                    source=raw.directory,
                    workers=workers,
                )
            )
    first = _digests(made[0].directory)
    assert "manifest.json" in first and len(first) == (2 if fmt == "raw" else 6)
    for dataset in made[1:]:
        assert _digests(dataset.directory) == first, dataset.directory
