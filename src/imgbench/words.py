"""How numbers and cells are written for people, each rule once.

Every formatter takes a value as a table gives it back (a float, an int, a numeric string,
``None``, NaN or an empty string) and returns text; anything missing or not a number is
written ``"n/a"`` (``NA``). The deck, the figures, the recommendations' sentences and the
reference comparison take their wording from here, so that a number or a cell reads the
same wherever it appears.

Some things are written in more than one style today (a cell is "the serial loop" in the
deck and "the plain loop" in the recommendations' sentences; a speedup is "1.83×" in the
deck and "1.83x" in the CSV sentences). Each style is an explicit argument, so that the
outputs stay byte for byte what they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from imgbench.vocabulary import BASELINE, HOST, format_size, is_native

#: What every formatter writes for a missing value.
NA = "n/a"
#: The multiplication sign of a speedup in the deck and the figures; ``ASCII_TIMES`` in
#: the CSV sentences and labels that must stay plain ASCII.
TIMES, ASCII_TIMES = "×", "x"
#: Between the ends of an interval: an en dash in the deck, a hyphen in ASCII text.
DASH, ASCII_DASH = "–", "-"

#: How a cell's strategy and workers are named (see ``who``).
DECK, LABEL, PROSE = "deck", "label", "prose"


# ----- reading a table value: what counts as a number, as true, as missing ------------------


def number(value) -> float:
    """A table value as a float; NaN when empty, missing or not a number."""
    if value is None or isinstance(value, str) and not value.strip():
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def is_true(value) -> bool:
    """A boolean read back from CSV (True, "True", "1", "yes", 1); False when missing."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) if value is not None and value == value else False


def is_missing(value) -> bool:
    """Whether a table value is absent: None, NaN or an empty (blank) string."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


# ----- numbers ------------------------------------------------------------------------------


def seconds(value) -> str:
    """Seconds to three significant digits, keeping trailing zeros ("0.200", "12.0"), whole
    seconds from 100 up ("123"); no unit."""
    value = number(value)
    if not math.isfinite(value):
        return NA
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:#.3g}".rstrip(".")


def milliseconds(value) -> str:
    """Seconds written as milliseconds by the rule of ``seconds`` ("12.3"); "<0.01" below
    10 µs; no unit."""
    value = number(value) * 1e3
    if not math.isfinite(value):
        return NA
    return "<0.01" if abs(value) < 0.01 else seconds(value)


#: The units a time is written in, each with its factor from seconds.
TIME_UNITS = {"ms": 1e3, "s": 1.0}


def time_unit(values: Iterable) -> str:
    """The unit that a set of times (in seconds) read best in, one choice for all of them
    (an axis, a table column): "s" when any is a second or more, else "ms"."""
    finite = [abs(v) for v in map(number, values) if math.isfinite(v)]
    return "s" if finite and max(finite) >= 1 else "ms"


def in_unit(unit: str) -> Callable[[object], str]:
    """The formatter of times (in seconds) written in ``unit``: ``seconds`` for "s",
    ``milliseconds`` for "ms"."""
    return seconds if unit == "s" else milliseconds


def duration(value) -> str:
    """A time with its unit, three significant digits, trailing zeros dropped: "12.3 ms"
    below a second, "1.23 s" from one up (the sentences and the comparison's labels)."""
    value = number(value)
    if not math.isfinite(value):
        return NA
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"


def speedup(value, times: str = TIMES, compact: bool = False) -> str:
    """A ratio to two decimals and a times sign, "1.83×"; "∞" for an unbounded one (an
    Amdahl fit with no serial part). ``compact`` (figure labels): whole numbers from 10
    up ("12×"), so that a label stays short, and "n/a" for an unbounded one."""
    value = number(value)
    if value == math.inf and not compact:
        return "∞"
    if not math.isfinite(value):
        return NA
    if compact and value >= 9.995:
        return f"{value:.0f}{times}"
    return f"{value:.2f}{times}"


def decimal(value, digits: int = 2) -> str:
    """A plain number to ``digits`` decimals ("0.05", "1.70")."""
    value = number(value)
    return f"{value:.{digits}f}" if math.isfinite(value) else NA


def megapixels(value) -> str:
    """Megapixels with their unit, three significant digits: "12 MP", "1.23 MP", "0.0031 MP"
    (a folder's images as found span thumbnails to camera frames)."""
    value = number(value)
    return f"{value:.3g} MP" if math.isfinite(value) else NA


def integer(value) -> str:
    """A count or a worker number as a whole number ("4", from 4.0 too)."""
    value = number(value)
    return str(int(value)) if math.isfinite(value) else NA


def interval(low, high, fmt: Callable[[float], str] = seconds, dash: str = DASH) -> str:
    """An interval as "0.190–0.210", each end by ``fmt``; "n/a" when either end is missing."""
    low, high = number(low), number(high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return NA
    return f"{fmt(low)}{dash}{fmt(high)}"


def speedup_ci(value, low, high, times: str = TIMES, dash: str = DASH) -> str:
    """A ratio with its interval, "1.83× (1.65–2.01)"; the ratio alone when either end of
    the interval is missing. The ends have two decimals and no times sign."""
    around = interval(low, high, decimal, dash)
    return speedup(value, times) + ("" if around == NA else f" ({around})")


def percent(value, digits: int = 1) -> str:
    """A fraction as a percentage with ``digits`` decimals: 0.2 -> "20.0%"."""
    value = number(value)
    return f"{value:.{digits}%}" if math.isfinite(value) else NA


def rough_percent(value) -> str:
    """A fraction as a whole percentage from 9.5% up ("30%"), one significant digit below
    ("5%", "0.4%"): the sentences' margins and differences."""
    value = number(value)
    if not math.isfinite(value):
        return NA
    return f"{value * 100:.0f}%" if value >= 0.095 else f"{value * 100:.1g}%"


def p_value(value) -> str:
    """A p-value to two significant digits ("0.04"); "<0.001" below that."""
    value = number(value)
    if not math.isfinite(value):
        return NA
    return "<0.001" if value < 0.001 else f"{value:.2g}"


def mib(value) -> str:
    """Bytes in whole mebibytes, "286 MiB"."""
    value = number(value)
    return NA if not math.isfinite(value) else f"{value / 2**20:.0f} MiB"


def data_size(value) -> str:
    """Bytes in the largest binary unit that keeps them at 1 or more, by the rule of
    ``seconds`` (three significant digits, whole from 100 up): "180 B", "12.0 KiB",
    "3.52 MiB" (bytes moved per image)."""
    value = number(value)
    if not math.isfinite(value):
        return NA
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= factor:
            return f"{seconds(value / factor)} {unit}"
    return f"{value:.0f} B"


def gib(value) -> str:
    """Bytes in gibibytes to one decimal, "16.0 GiB"."""
    value = number(value)
    return NA if not math.isfinite(value) else f"{value / 2**30:.1f} GiB"


def utc(unix: float | None) -> str:
    """A Unix time as "2023-11-14 22:15 UTC"."""
    if unix is None:
        return NA
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


# ----- lists and counts ---------------------------------------------------------------------


def text(value) -> str:
    """Any value as text; "n/a" for None."""
    return NA if value is None else str(value)


def joined(values: Iterable) -> str:
    """Values separated by commas, "a, b"; "n/a" when there are none."""
    return ", ".join(str(v) for v in values) or NA


def count(n: int, noun: str) -> str:
    """ "1 cell", "3 cells": the noun in the plural but for one."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def have(n: int) -> str:
    """ "has" for one, "have" for several."""
    return "has" if n == 1 else "have"


# ----- cells --------------------------------------------------------------------------------


def who(strategy: str, workers, style: str = DECK, sep: str = " ") -> str:
    """A strategy and its workers in words, in one of three styles:

    - ``DECK`` (deck tables and threats, the reference comparison): "the serial loop",
      "threads ×2";
    - ``LABEL`` (figure labels): "serial loop", "threads ×2", ``sep`` before the "×";
    - ``PROSE`` (the recommendations' sentences): "the plain loop", "threads with 2 workers".
    """
    loop = strategy == BASELINE
    if style == PROSE:
        if loop:
            return "the plain loop"
        return f"{strategy} with {workers} worker{'s' if workers != 1 else ''}"
    if style == LABEL:
        return "serial loop" if loop else f"{strategy}{sep}×{int(workers)}"
    return "the serial loop" if loop else f"{strategy} ×{integer(workers)}"


def size(row) -> str:
    """A row's image size, "1280x960" (``width`` and ``height``); "native" as found."""
    return format_size(row["width"], row["height"])


def images_of(row) -> str:
    """A row's images, "16 images of 1280x960", or "16 images at native size" (as found)."""
    n = integer(row["n_images"])
    if is_native(row["width"], row["height"]):
        return f"{n} images at native size"
    return f"{n} images of {size(row)}"


def cell_name(row, with_host: bool = False) -> str:
    """A cell of a table row in the deck's words: "decode 1280x960 n=128 threads ×2",
    after "host: " with ``with_host``."""
    name = (
        f"{row['task']} {size(row)} n={integer(row['n_images'])} "
        f"{who(str(row['strategy']), row['workers'])}"
    )
    return f"{row[HOST]}: {name}" if with_host else name


def cell_key(row, with_storage: bool = False, times: str = ASCII_TIMES) -> str:
    """A cell as the comparison of two result sets labels it: "decode 1280x960 n128 threads
    x2"; its storage and cache after the task with ``with_storage``."""
    where = f" {row['storage']}-{row['cache']}" if with_storage else ""
    return (
        f"{row['task']}{where} {int(row['width'])}x{int(row['height'])} "
        f"n{int(row['n_images'])} {row['strategy']} {times}{int(row['workers'])}"
    )


def group_title(row, with_host: bool = False) -> str:
    """A group as a heading: "decode · 1280x960 · disk, warm cache · 64 images"."""
    title = (
        f"{row['task']} · {size(row)} · {row['storage']}, {row['cache']} cache · "
        f"{integer(row['n_images'])} images"
    )
    return f"{title} · on {row[HOST]}" if with_host else title
