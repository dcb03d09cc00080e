import sys
from pathlib import Path

import pytest

from imgbench.measure.datasets import make_dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


@pytest.fixture(scope="session")
def datasets(tmp_path_factory):
    """A raw dataset and its JPEG and PNG encodings: 12 images of 48x32."""
    root = tmp_path_factory.mktemp("datasets")
    raw = make_dataset(root / "raw", "raw", 48, 32, 12, seed=7)
    return {
        "raw": raw,
        "jpeg": make_dataset(root / "jpeg", "jpeg", 48, 32, 12, seed=7, source=raw.directory),
        "png": make_dataset(root / "png", "png", 48, 32, 12, seed=7, source=raw.directory),
    }
