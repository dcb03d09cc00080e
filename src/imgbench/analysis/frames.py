"""Result tables as the figures read them back: the keys with the host, booleans from CSV,
and the rows every figure starts from (the serial base case, the largest image size).

Tables read back from CSV carry text where a boolean was written ("True") and may lack a
column an older analysis did not write; these helpers answer the same either way. Nothing
here draws or words anything.
"""

from __future__ import annotations

import pandas as pd

from imgbench.measure.strategies import STRATEGIES
from imgbench.vocabulary import BASELINE, HOST_CELL, HOST_GROUP, format_size

#: The strategies in the order every table and figure lists them: the strategy registry's
#: (adding a strategy stays one entry there); an unknown one comes after them, alphabetically.
STRATEGY_ORDER = tuple(STRATEGIES)

#: A group is one workload on one host; a cell is a group run by one strategy with one
#: worker count. A table without a ``host`` column (one host) gets an empty one.
GROUP = HOST_GROUP
CELL = HOST_CELL

#: Where a group runs, whatever its size and number of images.
PLACE = GROUP[:5]


def strategy_order(names) -> list[str]:
    """Known strategies in ``STRATEGY_ORDER``, then unknown ones alphabetically."""
    names = set(names)
    known = [s for s in STRATEGY_ORDER if s in names]
    return known + sorted(names - set(known))


def flag(frame: pd.DataFrame, column: str) -> pd.Series:
    """A boolean column as read back from CSV (True, "True", 1); False where it is missing,
    empty or the frame lacks the column."""
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    values = frame[column]
    if values.dtype == bool:
        return values
    text = values.astype(str).str.strip().str.lower()
    return text.isin(("true", "1", "1.0", "yes"))


def has(frame: pd.DataFrame, columns) -> bool:
    return not frame.empty and all(c in frame.columns for c in columns)


def hosted(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``host`` column: an empty name where it has none (one host)."""
    return frame if "host" in frame.columns else frame.assign(host="")


def serial_base(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a long-format speedup or efficiency table whose base case is the loop."""
    if "baseline" not in frame.columns:
        return frame
    return frame[frame["baseline"] == BASELINE]


def largest_size(frame: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """The rows at the largest image size of each task, storage and cache; and whether any
    smaller size was left out."""
    frame = hosted(frame)
    pixels = frame["width"] * frame["height"]
    largest = pixels.groupby([frame[c] for c in PLACE]).transform("max")
    kept = frame[pixels == largest]
    return kept, len(kept) < len(frame)


def size_label(frame: pd.DataFrame) -> pd.Series:
    """Each row's image size as written for people, "1280x960" ("native": as found)."""
    pairs = zip(frame["width"], frame["height"], strict=True)
    return pd.Series([format_size(w, h) for w, h in pairs], index=frame.index, dtype=object)
