"""The same recorded cell results give the same tables, figures and decks.

A restructuring that changes behaviour shows here first: every table and metadata file
byte for byte, every figure pixel for pixel (SVG text byte for byte), every deck byte for
byte. An output meant to change is re-recorded (``python -m tests.helpers.golden record``) in the
commit that changes it, so the diff of ``expected.json`` shows which outputs moved.
"""

import json

from tests.helpers.golden import EXPECTED, copy_of, fingerprint


def test_recorded_results_give_the_recorded_outputs(golden_results, tmp_path):
    expected = json.loads(EXPECTED.read_text())
    # A copy: what other tests do to theirs cannot reach this one.
    actual = fingerprint(copy_of(golden_results, tmp_path))
    assert sorted(actual) == sorted(expected), "the set of outputs changed"
    changed = [name for name in expected if actual[name] != expected[name]]
    assert not changed, f"outputs changed: {changed}"
