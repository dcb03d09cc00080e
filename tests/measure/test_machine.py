"""What a cell records about its machine."""

from PIL import features

import imgbench
from imgbench.measure import machine


def test_the_codec_libraries_are_recorded_besides_their_api_levels(tmp_path):
    info = machine.collect_machine_info(tmp_path)
    # The API level libjpeg-turbo presents is not its version (6.2 against 3.x here).
    assert info["libjpeg_version"] == features.version("jpg")
    turbo = features.check_feature("libjpeg_turbo")
    assert info["libjpeg_turbo_version"] == (features.version("libjpeg_turbo") if turbo else None)
    if turbo:
        assert info["libjpeg_turbo_version"] != info["libjpeg_version"]
    assert info["zlib_ng_version"] == machine.pillow_feature("zlib_ng")
    assert info["imgbench_version"] == imgbench.__version__


def test_the_driving_snakemakes_version_is_taken_from_the_workflow(tmp_path, monkeypatch):
    monkeypatch.setenv(machine.SNAKEMAKE_VERSION_ENV, "9.99.0")
    assert machine.collect_machine_info(tmp_path)["snakemake_version"] == "9.99.0"
    monkeypatch.delenv(machine.SNAKEMAKE_VERSION_ENV)
    import importlib.metadata

    assert machine.snakemake_version() == importlib.metadata.version("snakemake")
