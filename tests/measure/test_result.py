"""The result model's cell identity is the vocabulary's: one list of keys, one set of types."""

import dataclasses
import typing

from imgbench.measure.result import Cell
from imgbench.vocabulary import CELL, CellSpec


def test_the_result_cell_is_the_vocabularys_cell_key_for_key_and_type():
    spec_types = typing.get_type_hints(CellSpec)
    assert [f.name for f in dataclasses.fields(CellSpec)] == CELL
    assert list(typing.get_type_hints(Cell)) == CELL
    assert typing.get_type_hints(Cell) == {key: spec_types[key] for key in CELL}
