"""The deck says what the images were: the content each experiment's datasets held (as the
results record it, or as the dataset's name says), and for photographs which ones under which
licence."""

from imgbench.analysis.metadata import _contents
from imgbench.measure.datasets import dataset_name
from imgbench.measure.photos import PHOTOS, candidates
from imgbench.report.deck.method import CONTENT_WORDS, image_content


def _result(experiment: str, dataset: str, color: str = "rgb", **run) -> dict:
    return {
        "cell": {"experiment": experiment},
        "run": {"dataset": f"results/datasets/{dataset}", "dataset_color": color, **run},
    }


def test_the_content_comes_from_the_record_or_the_datasets_name():
    results = [
        _result("a", dataset_name("jpeg", 64, 64, 16, 1, "rgb", "photo")),
        _result("b", dataset_name("raw", 50, 50, 100, 1, "grey", "noise"), "grey"),
        # Named before there was a choice: synthesized.
        _result("c", "jpeg-rgb-64x64-n16-s1"),
        # A name that says nothing (a user's folder): not recorded, never guessed.
        _result("d", "holiday-photos"),
        # The record, where there is one, wins over the name.
        _result("e", "holiday-photos", dataset_content="synthetic"),
    ]
    found = _contents(results)
    assert found["dataset_contents"] == {
        "a": ["photo"],
        "b": ["noise"],
        "c": ["synthetic"],
        "d": ["unknown"],
        "e": ["synthetic"],
    }
    # RGB photo datasets are cut from the colour photographs only, each credited.
    assert found["photos"] == [p.credit() for p in sorted(candidates("rgb"), key=lambda p: p.name)]
    assert found["photo_colors"] == ["rgb"]


def test_recorded_photographs_are_the_ones_named():
    credit = {"title": "T", "author": "A", "licence": "CC0", "source": "S", "file": "f.png"}
    name = dataset_name("png", 8, 8, 1, 1, "grey", "photo")
    found = _contents([_result("a", name, "grey", dataset_photos={"x": credit})])
    assert found["photos"] == [credit] and found["photo_colors"] == ["grey"]


def test_the_method_slide_names_the_photographs_and_their_licences():
    meta = _contents([_result("a", dataset_name("png", 8, 8, 1, 1, "grey", "photo"), "grey")])
    text = image_content(meta)
    assert text.startswith(f"Images: {CONTENT_WORDS['photo']}.")
    for photo in PHOTOS:
        assert f"{photo.title} ({photo.author}, {photo.licence})" in text
    assert 'Pillow\'s "L"' in text


def test_the_method_slide_names_each_content_with_its_experiments():
    meta = _contents(
        [
            _result("save", dataset_name("raw", 8, 8, 1, 1, "rgb", "synthetic")),
            _result("tiny", dataset_name("raw", 8, 8, 1, 1, "grey", "noise"), "grey"),
            _result("load", dataset_name("raw", 8, 8, 1, 1, "grey", "noise"), "grey"),
        ]
    )
    assert image_content(meta) == (
        f"Images: {CONTENT_WORDS['noise']} in load, tiny; {CONTENT_WORDS['synthetic']} in save."
    )
    # Metadata from before the analysis recorded contents: the slide says nothing of them.
    assert image_content({}) is None
