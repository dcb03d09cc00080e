"""imgbench: honest benchmarks of parallel strategies for image work.

``__version__`` is the installed distribution's version (``importlib.metadata``), the one
``imgbench --version`` prints; a checkout used without installing it (``snakemake --sdm
conda`` puts ``src/`` on the path) reads it from its own ``pyproject.toml``.
"""

from __future__ import annotations


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imgbench")
    except PackageNotFoundError:
        pass
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


__version__ = _version()
