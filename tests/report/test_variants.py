"""How the start-method variants and joblib look: colours derived from their family's, all
distinct, short names that say the method; and the deck's words for each method's start cost."""

from __future__ import annotations

import pytest
from matplotlib.colors import to_rgb

from imgbench.analysis import threats
from imgbench.analysis.metadata import metadata
from imgbench.analysis.results import timings_frame
from imgbench.analysis.summary import summary_frame
from imgbench.measure.strategies import START_METHOD_VARIANTS, STRATEGIES
from imgbench.report.deck.threats import _start_method
from imgbench.report.figures.style import SHORT_NAMES, STRATEGY_COLORS, short_name
from tests.helpers import start_method_results


def _lightness(color: str) -> float:
    return sum(to_rgb(color)) / 3


def test_every_variant_has_its_own_colour_derived_from_its_familys():
    assert set(STRATEGY_COLORS) == set(STRATEGIES)
    assert len(set(STRATEGY_COLORS.values())) == len(STRATEGY_COLORS)
    for name, s in STRATEGIES.items():
        if s.start_method not in START_METHOD_VARIANTS or s.persistent:
            continue
        family = STRATEGY_COLORS[s.plain]
        # fork and forkserver lighter than the family, spawn darker, persistent darker still.
        if s.start_method == "spawn":
            assert _lightness(STRATEGY_COLORS[name]) < _lightness(family), name
        else:
            assert _lightness(STRATEGY_COLORS[name]) > _lightness(family), name
        kept = STRATEGY_COLORS[name.replace(s.plain, s.plain + "_persistent", 1)]
        assert _lightness(kept) < _lightness(STRATEGY_COLORS[name])


def test_short_names_say_the_method_and_fit_a_heatmap_cell():
    assert len(set(SHORT_NAMES.values())) == len(SHORT_NAMES) == len(STRATEGIES)
    assert short_name("processes_spawn") == "proS"
    assert short_name("processes_chunked_persistent_forkserver") == "chuX+"
    assert short_name("joblib_persistent") == "jobl+"
    assert all(len(v) <= 6 for v in SHORT_NAMES.values())


@pytest.fixture(scope="module")
def results():
    return start_method_results()


def test_the_deck_names_each_methods_costs(results):
    timings = timings_frame(results)
    meta = metadata(results, timings)
    text = _start_method(threats.start_method(meta, summary_frame(timings)), hosted=False)
    assert "fork (a process pool made per batch had every worker started after a median 5" in text
    assert "spawn (a process pool made per batch had every worker started after a median 150" in (
        text
    )
    assert "a kept one took 400 ms to make and warm" in text
    assert "loky (" in text and "900 ms" in text
    assert "inside the timer" in text  # the non-fork methods' warning stands
    # Without any cost recorded: every pool's start-up, as before.
    bare = threats.Fact(
        "Start method",
        threats.WARN,
        details={"methods": {"spawn": 0.21}, "others": ["spawn"], "costs": {}},
    )
    assert "every pool worker had started after a median 210 ms" in _start_method(bare, False)
