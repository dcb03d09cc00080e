import pytest

from imgbench.measure.datasets import make_dataset
from tests import helpers


def pytest_runtest_setup(item):
    # Before any fixture of the test is set up (module-scoped ones included): tell
    # helpers.snakemake whether the test may start the workflow.
    helpers.RUNNING_E2E = item.get_closest_marker("e2e") is not None


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


@pytest.fixture(scope="session")
def golden_results(tmp_path_factory):
    """The golden results tree with every output derived (``tests.helpers.golden.derive``),
    once per session: about 13 s each time. Tests copy it (``golden.copy_of``) before they
    write into it."""
    from tests.helpers.golden import derive

    return derive(tmp_path_factory.mktemp("golden"))
