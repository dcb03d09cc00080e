"""Config problems as people read them: one line per problem, naming the key, with the nearest
valid name where a typo is the likely cause ("did you mean 'workers'?").

``did_you_mean`` is ``difflib.get_close_matches`` (the standard library's answer, the same
similarity ratio Python's own "Did you mean" hints are close to). ``schema_problems`` lists
every JSON Schema error of a config at once (``iter_errors``, not the first one only) and
rewrites the two a typo causes: an unknown key becomes one line per key with its nearest
allowed name, and a value outside an ``enum`` gets its nearest allowed value.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

#: How alike a word and a suggestion must be (difflib's ratio): 'wokers' -> 'workers' is 0.92,
#: 'gpu' -> 'asyncio' far below it. difflib's own default.
CUTOFF = 0.6


def key_name(path: Iterable[Any]) -> str:
    """A config key as the messages write it: ``experiments.e.workers[0]``."""
    parts: list[str] = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else ("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def did_you_mean(word: Any, choices: Iterable[Any]) -> str:
    """``"did you mean 'x'?"`` for the choice nearest ``word``, or ``""`` when none is near."""
    if not isinstance(word, str):
        return ""
    match = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=CUTOFF)
    return f"did you mean {match[0]!r}?" if match else ""


def unknown(what: str, word: Any, choices: Iterable[Any]) -> str:
    """``unknown value 'thread'; did you mean 'threads'?``, or the allowed names when none is
    near (``unknown value 'gpu'; allowed: asyncio, processes, ...``)."""
    choices = sorted(str(c) for c in choices)
    return f"unknown {what} {word!r}; " + (
        did_you_mean(word, choices) or f"allowed: {', '.join(choices)}"
    )


def _path_order(error) -> list[tuple[bool, int, str]]:
    # A path mixes list indices and keys: order indices as numbers, never compare int to str.
    return [
        (isinstance(p, str), p if isinstance(p, int) else 0, str(p)) for p in error.absolute_path
    ]


def _lines(error) -> list[str]:
    key = f"config key {key_name(error.absolute_path)}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            return [f"{key}: {unknown('key', k, allowed)}" for k in extra]
    if error.validator == "enum":
        hint = did_you_mean(error.instance, error.validator_value)
        if hint:
            return [f"{key}: {error.message}; {hint}"]
    return [f"{key}: {error.message}"]


def schema_problems(validator, config: dict) -> list[str]:
    """Every schema error of ``config``, one line each, ordered by key."""
    errors = sorted(validator.iter_errors(config), key=_path_order)
    return [line for error in errors for line in _lines(error)]
