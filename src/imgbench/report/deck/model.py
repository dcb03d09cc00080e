"""A table as the deck's templates show it, and the orderings and group columns every
table of the deck shares.

A ``Table`` holds strings only (every number is already written by ``imgbench.words``):
optional header groups, columns and rows of cells, each cell with whether it is a number
(right-aligned) and how many rows it spans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from imgbench import words
from imgbench.vocabulary import BASELINE, HOST


@dataclass
class Cell:
    text: str
    num: bool = False
    rowspan: int = 1


@dataclass
class Row:
    cells: list[Cell]
    css: str = ""


@dataclass
class Table:
    """A table for the template: optional header groups ``(label, colspan)``, columns
    ``(name, is_number)`` and rows; ``css`` is its class (chooses the font size)."""

    columns: list[tuple[str, bool]]
    rows: list[Row] = field(default_factory=list)
    groups: list[tuple[str, int]] = field(default_factory=list)
    css: str = "cells"


def text_cells(values: Iterable[tuple[str, bool]]) -> list[Cell]:
    return [Cell(text, num) for text, num in values]


def several_places(frame: pd.DataFrame) -> bool:
    return frame[["storage", "cache"]].drop_duplicates().shape[0] > 1


def several_hosts(frame: pd.DataFrame) -> bool:
    return HOST in frame.columns and frame[HOST].nunique() > 1


def group_columns(places: bool, hosts: bool = False) -> list[tuple[str, bool]]:
    return [
        *([("host", False)] if hosts else []),
        ("task", False),
        ("size", False),
        *([("storage", False), ("cache", False)] if places else []),
        ("n", True),
    ]


def group_values(row, places: bool, hosts: bool = False) -> list[tuple[str, bool]]:
    return [
        *([(str(row[HOST]), False)] if hosts else []),
        (str(row["task"]), False),
        (words.size(row), False),
        *([(str(row["storage"]), False), (str(row["cache"]), False)] if places else []),
        (words.integer(row["n_images"]), True),
    ]


def serial_first(strategy: str) -> tuple[bool, str]:
    return (strategy != BASELINE, strategy)


def group_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by task, then largest number of images first, then size, storage and cache, then
    host (the same group on several hosts side by side)."""
    if frame.empty:
        return frame
    keys = ["task", "n_images", "width", "height", "storage", "cache"]
    keys += [HOST] if HOST in frame.columns else []
    return frame.sort_values(keys, ascending=[k != "n_images" for k in keys], kind="stable")


def strategy_rows(cells: pd.DataFrame) -> pd.DataFrame:
    order = sorted(cells["strategy"].unique(), key=serial_first)
    rank = {s: i for i, s in enumerate(order)}
    return cells.assign(_rank=cells["strategy"].map(rank)).sort_values(
        ["_rank", "workers"], kind="stable"
    )


def cell_order(frame: pd.DataFrame, extra: list[str] | None = None) -> pd.DataFrame:
    """Rows by group (task, size, storage, cache, n), then the serial loop first, then the
    other strategies and worker counts (those of the columns that the frame has)."""
    if frame.empty:
        return frame
    keys = [HOST, "task", "width", "height", "storage", "cache", "n_images", "_parallel"]
    keys.append("strategy")
    keys = [k for k in [*keys, "workers", *(extra or [])] if k in frame.columns or k == "_parallel"]
    ordered = frame.assign(_parallel=frame["strategy"] != BASELINE)
    return ordered.sort_values(keys, kind="stable").drop(columns="_parallel")


def select_rows(frame: pd.DataFrame, key: dict) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, value in key.items():
        mask &= frame[column] == value
    return frame[mask]


def label_text(value) -> str:
    return value if isinstance(value, str) and value.strip() else "—"
