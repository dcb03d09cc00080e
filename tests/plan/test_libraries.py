"""The library axis in a config (``libraries``, ``library_threads``: imgbench.plan.tasks):
tasks expanded to each library's form, impossible pairs and missing libraries refused by
name, and the threads given to every form."""

import pytest

from imgbench.errors import ConfigError
from imgbench.measure import codecs
from imgbench.plan.config import resolve_config
from imgbench.plan.grid import expand_cells


def _config(**experiment):
    base = {"tasks": ["read", "decode", "save_png"], "strategies": ["serial", "threads"]}
    base.update(experiment)
    return {"experiments": {"e": base}}


def test_each_task_runs_under_each_library_that_can_do_it():
    config = resolve_config(_config(libraries=["pillow", "opencv", "imagecodecs"]))
    tasks = config["experiments"]["e"]["tasks"]
    # read uses no library: once; decode and save_png under each library.
    assert tasks == [
        "read",
        "decode",
        "decode_opencv",
        "decode_imagecodecs",
        "save_png",
        "save_png_opencv",
        "save_png_imagecodecs",
    ]
    cells = expand_cells(config)
    assert {c.task for c in cells} == set(tasks)
    # Resolving the resolved config again changes nothing (cell jobs re-read it).
    assert resolve_config(config)["experiments"]["e"]["tasks"] == tasks


def test_without_pillow_the_pillow_forms_are_left_out():
    config = resolve_config(_config(tasks=["decode"], libraries=["opencv"]))
    assert config["experiments"]["e"]["tasks"] == ["decode_opencv"]


@pytest.mark.parametrize(
    ("experiment", "named"),
    [
        # simplejpeg does JPEG only: no PNG encoder, no PNG decoder.
        ({"libraries": ["simplejpeg"]}, "simplejpeg cannot do save_png"),
        (
            {"tasks": ["decode"], "format": "png", "libraries": ["simplejpeg"]},
            "simplejpeg cannot decode png files",
        ),
        ({"tasks": ["decode"], "format": "bmp", "libraries": ["pyvips"]}, "pyvips cannot decode"),
        ({"tasks": ["grayscale"], "libraries": ["opencv"]}, "grayscale is done with pillow only"),
        ({"libraries": ["opencvv"]}, "did you mean 'opencv'"),
        (
            {"libraries": ["opencv"], "pythons": ["python3.11"]},
            "not installed in the environments of other interpreters",
        ),
    ],
)
def test_impossible_pairs_are_refused_naming_them(experiment, named):
    with pytest.raises(ConfigError, match=named):
        resolve_config(_config(**experiment))


def test_a_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setattr(codecs.Library, "installed", lambda self: self.name == "pillow")
    with pytest.raises(
        ConfigError, match=r"opencv is not installed: pip install 'imgbench\[codecs\]'"
    ):
        resolve_config(_config(libraries=["pillow", "opencv"]))
    # A form named by itself needs its library too.
    with pytest.raises(ConfigError, match=r"tasks\[0\]: decode_pyvips needs pyvips"):
        resolve_config(_config(tasks=["decode_pyvips"]))


def test_library_threads_become_every_form_s_threads():
    config = resolve_config(
        _config(
            tasks=["decode"],
            libraries=["pillow", "opencv"],
            library_threads=4,
            task_options={"decode_opencv": {"threads": 2}},
        )
    )
    options = config["experiments"]["e"]["task_options"]
    # A task's own option wins; Pillow has no threads to set.
    assert options == {"decode_opencv": {"threads": 2}}
    config = resolve_config(_config(tasks=["decode"], libraries=["pyvips"], library_threads=4))
    assert config["experiments"]["e"]["task_options"] == {"decode_pyvips": {"threads": 4}}


def test_a_library_that_is_not_fork_safe_needs_another_start_method():
    grid = {"tasks": ["decode"], "strategies": ["serial", "processes", "threads"]}
    with pytest.raises(ConfigError, match="decode_pyvips cannot run under processes.*forkserver"):
        resolve_config(_config(**grid, libraries=["pillow", "pyvips"], start_method="fork"))
    # Named by itself, without libraries, too.
    with pytest.raises(ConfigError, match="not fork-safe"):
        resolve_config(_config(**{**grid, "tasks": ["decode_pyvips"]}, start_method="fork"))
    config = resolve_config(
        _config(**grid, libraries=["pillow", "pyvips"], start_method="forkserver")
    )
    assert "decode_pyvips" in config["experiments"]["e"]["tasks"]
