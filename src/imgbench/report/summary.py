"""The verdict of a run in a few lines per experiment, for a terminal: what the workflow
prints when it ends and what ``imgbench summary RESULTS_DIR...`` prints at any time.

For one experiment's results directory (its tables and ``metadata.json``, as
``imgbench aggregate`` wrote them), ``experiment_summary`` gives:

- a heading: the experiment, its cells, hosts and when it finished;
- the recommendations' sentences (``recommendations.csv``), as the analysis wrote them,
  every group's while there are at most ``MAX_SENTENCES``, else each task's largest number
  of images (the deck's conclusions), at most ``MAX_SENTENCES``, and how many more there are;
- the warnings that matter: every threat to validity whose check found something (status
  WARN of ``imgbench.analysis.threats``), in the deck's order and the deck's words, cut to
  the sentence's main clause (``brief``); the run's own warnings as written; at most
  ``MAX_WARNINGS``, and how many more;
- where the deck, the Markdown report and the bundle are, or that they are not written.

``summaries`` does the same for several experiments, one after the other; an experiment
whose tables cannot be read gets one line saying why instead of stopping the others.
Nothing here decides anything: the verdicts are the analysis's, the wording the deck's.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from imgbench import words
from imgbench.analysis import tables as result_tables
from imgbench.analysis import threats as facts
from imgbench.analysis.threats import Fact
from imgbench.errors import ImgbenchError
from imgbench.report.deck.model import group_order, several_hosts
from imgbench.report.deck.threats import word
from imgbench.vocabulary import GROUP

#: The tables a summary (and the Markdown report) reads, with the columns it needs.
REQUIRED = {
    "summary": [*GROUP, "strategy", "workers", "median_s"],
    "speedup": [*GROUP, "strategy", "workers", "baseline", "speedup"],
    "efficiency": [*GROUP, "strategy", "workers", "baseline", "efficiency"],
    "comparisons": [*GROUP, "strategy", "workers", "significantly_slower"],
    "recommendations": [*GROUP, "best_strategy", "best_workers", "speedup", "sentence"],
}
#: The experiment's outputs a summary points at, relative to its results directory.
DECK, REPORT = "slides.html", "report.md"
#: The bundle of every experiment, relative to the results directories' parent.
BUNDLE = "bundle.zip"
#: At most this many recommendation sentences per experiment, and warnings.
MAX_SENTENCES = 8
MAX_WARNINGS = 6
#: A clause shorter than this many words ("files, system") is joined with the next one.
MIN_CLAUSE_WORDS = 4
#: Terminal lines are wrapped to this width.
WIDTH = 100
#: Warnings whose topic is this are the run's own (a cell's Python warning), shown as written.
RUN_WARNING = "Run warning"


# ----- reading an experiment ------------------------------------------------------------------


def read_experiment(results_dir: Path) -> tuple[dict[str, pd.DataFrame], dict]:
    """The tables of ``REQUIRED``, typed, and ``metadata.json``; an ``ImgbenchError``
    naming what is missing."""
    results_dir = Path(results_dir)
    tables = result_tables.read_tables(results_dir, REQUIRED, REQUIRED, coerce=True)
    path = results_dir / "metadata.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise ImgbenchError(f"{path}: missing metadata (run `imgbench aggregate` first)") from None
    except json.JSONDecodeError as exc:
        raise ImgbenchError(f"{path}: not valid JSON ({exc})") from None
    return tables, meta


def experiment_name(results_dir: Path, meta: dict) -> str:
    """The experiment's name as metadata.json gives it, else its directory's."""
    return words.joined(meta.get("experiments") or [Path(results_dir).name])


# ----- the verdicts -------------------------------------------------------------------------


def sentences(recommendations: pd.DataFrame, limit: int | None = MAX_SENTENCES) -> list[str]:
    """The recommendations' sentences in the deck's group order (task, largest number of
    images first); beyond ``limit`` (None: no limit), only each task's largest number of
    images, and at most ``limit`` of those."""
    ordered = group_order(recommendations)
    if limit is not None and len(ordered) > limit:
        largest = ordered.groupby("task")["n_images"].transform("max")
        ordered = ordered[ordered["n_images"] == largest]
    texts = [str(s) for s in ordered.get("sentence", []) if isinstance(s, str) and s.strip()]
    return texts if limit is None else texts[:limit]


# ----- the warnings -------------------------------------------------------------------------


def _clauses(text: str) -> list[tuple[str, str]]:
    """The text cut at each colon or full stop followed by a space (or ending it) outside
    brackets and quotes: (clause, the mark that ended it)."""
    pieces, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "(“[":
            depth += 1
        elif char in ")”]":
            depth = max(0, depth - 1)
        elif char in ":." and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            pieces.append((text[start:i].strip(), char))
            start = i + 1
    if text[start:].strip():
        pieces.append((text[start:].strip(), "."))
    return pieces


def brief(text: str) -> str:
    """A deck sentence cut to its main clause (what was found, not the cells it names or
    why it matters), a clause of fewer than ``MIN_CLAUSE_WORDS`` words joined with the
    next: "23 of 42 cells vary by more than 10% (coefficient of variation) between
    repetitions."."""
    pieces = _clauses(text)
    if not pieces:
        return text
    (out, mark), rest = pieces[0], pieces[1:]
    for clause, next_mark in rest:
        if len(out.split()) >= MIN_CLAUSE_WORDS:
            break
        out, mark = f"{out}{mark} {clause}", next_mark
    return out + "."


def fact_text(fact: Fact, hosted: bool = False) -> str:
    """The deck's sentence for a fact; a warning of the analysis or the run (a fact with a
    ``text``) is its own text, whatever its topic."""
    if "text" in fact.details:
        return str(fact.details["text"])
    return word(fact, hosted)


def warning_facts(tables: dict[str, pd.DataFrame], meta: dict) -> list[Fact]:
    """The threats whose check found something (WARN), in the deck's order."""
    found = facts.threats(
        tables["summary"], meta, tables.get("speedup"), tables.get("recommendations")
    )
    return [fact for fact in found if fact.found]


def warning_lines(tables: dict[str, pd.DataFrame], meta: dict, full: bool = False) -> list[str]:
    """Each warning as "Topic: what was found.", the deck's sentence cut by ``brief``
    (``full``: whole); a warning of the analysis or the run is its own text, whole."""
    hosted = several_hosts(tables["summary"])
    lines = []
    for fact in warning_facts(tables, meta):
        text = fact_text(fact, hosted)
        if "text" not in fact.details and not full:
            text = brief(text)
        lines.append(text if fact.topic == RUN_WARNING else f"{fact.topic}: {text}")
    return lines


# ----- the summary --------------------------------------------------------------------------


def heading(results_dir: Path, tables: dict[str, pd.DataFrame], meta: dict) -> str:
    """ "golden: 42 cells (2 rounds each) on vm, finished 2026-11-30 10:19 UTC"."""
    hosts = [str(h.get("host") or h.get("hostname")) for h in meta.get("hosts") or []]
    cells = meta.get("distinct_cells")
    cells = len(tables["summary"]) if cells is None else int(cells)
    rounds = [int(r) for r in meta.get("rounds") or []]
    each = f" ({words.joined(rounds)} rounds each)" if rounds and max(rounds) > 1 else ""
    on = f" on {words.joined(hosts)}" if hosts else ""
    finished = meta.get("finished_unix")
    when = f", finished {words.utc(finished)}" if finished is not None else ""
    return f"{experiment_name(results_dir, meta)}: {words.count(cells, 'cell')}{each}{on}{when}"


def bundle_path(results_dir: Path, bundle: Path | None = None) -> Path:
    """The bundle: ``bundle`` when given, else ``BUNDLE`` beside the results directory."""
    return Path(bundle) if bundle is not None else Path(results_dir).parent / BUNDLE


def output_paths(
    results_dir: Path, bundle: Path | None = None, with_bundle: bool = True
) -> list[tuple[str, Path]]:
    """Where the experiment's deck and report are, and (``with_bundle``) the bundle."""
    results_dir = Path(results_dir)
    paths = [("Deck", results_dir / DECK), ("Report", results_dir / REPORT)]
    return paths + ([("Bundle", bundle_path(results_dir, bundle))] if with_bundle else [])


def _where(label: str, path: Path) -> str:
    missing = "" if path.is_file() else " (not written)"
    return f"  {label + ':':<8}{path}{missing}"


def _items(title: str, texts: list[str], more: int, more_where: str) -> list[str]:
    lines = [f"  {title}:"]
    for text in texts:
        lines.append(
            textwrap.fill(text, WIDTH, initial_indent="    - ", subsequent_indent="      ")
        )
    if more > 0:
        lines.append(f"    ... and {more} more in {more_where}")
    return lines


def experiment_summary(
    results_dir: Path,
    bundle: Path | None = None,
    with_bundle: bool = True,
    max_sentences: int = MAX_SENTENCES,
    max_warnings: int = MAX_WARNINGS,
) -> str:
    """One experiment's verdict in a few lines (see the module docstring), ending in a
    newline; ``with_bundle=False`` leaves out the bundle's line. An ``ImgbenchError`` when
    its tables or metadata cannot be read."""
    results_dir = Path(results_dir)
    tables, meta = read_experiment(results_dir)
    recommendations = tables["recommendations"]
    shown = sentences(recommendations, max_sentences)
    every = len(sentences(recommendations, limit=None))
    warnings = warning_lines(tables, meta)
    lines = [heading(results_dir, tables, meta)]
    if shown:
        lines += _items("Recommendations", shown, every - len(shown), REPORT)
    else:
        lines.append("  Recommendations: none (no group has results)")
    if warnings:
        more = len(warnings) - max_warnings
        lines += _items("Warnings", warnings[:max_warnings], more, DECK)
    else:
        lines.append("  Warnings: none found")
    lines += [_where(label, path) for label, path in output_paths(results_dir, bundle, with_bundle)]
    return "\n".join(lines) + "\n"


def summaries(
    results_dirs: Iterable[Path], bundle: Path | None = None, strict: bool = False
) -> str:
    """Each experiment's summary, a blank line between them, then where the bundle (of all
    of them) is. An experiment whose results cannot be read is one line saying why, or,
    with ``strict``, the ``ImgbenchError`` (after the workflow a missing experiment must not
    hide the others; on the command line it is a mistyped directory)."""
    results_dirs = [Path(d) for d in results_dirs]
    parts = []
    for results_dir in results_dirs:
        try:
            parts.append(experiment_summary(results_dir, bundle, with_bundle=False))
        except ImgbenchError as exc:
            if strict:
                raise
            parts.append(f"{results_dir.name}: no summary: {exc}\n")
    bundles = dict.fromkeys(bundle_path(d, bundle) for d in results_dirs)
    parts.append("".join(_where("Bundle", path).lstrip() + "\n" for path in bundles))
    return "\n".join(parts)
