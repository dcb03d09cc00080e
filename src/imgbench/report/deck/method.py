"""The question and the two method slides: how each cell is measured, and how cells are
compared (in the words the tables can back: older tables get the older wording).
"""

from __future__ import annotations

import math

import pandas as pd

from imgbench import words
from imgbench.analysis.threats import (
    CI_LEVEL_WANTED,
    distinct,
    durability,
    eviction,
    memory,
    rounds,
    start_method,
)
from imgbench.analysis.thresholds import ALPHA, DEFAULT_EQUIVALENCE_MARGIN
from imgbench.report.deck.model import serial_first
from imgbench.report.deck.threats import word
from imgbench.vocabulary import BASELINE, format_size

QUESTION = (
    "Which way of parallelising this image work is fastest, at this size, with this many "
    "workers, on this machine, and why?"
)


#: What a dataset's content is, as the method slide says it (``imgbench.measure.datasets``).
CONTENT_WORDS = {
    "photo": "native-scale crops of real photographs (mosaics of such crops where a size is "
    "larger than the photographs), never resampled",
    "synthetic": "imgbench's synthetic photo-like images (gradients, soft shapes, mild noise), "
    "not photographs",
    "noise": "uniform random pixels (0 to 254 each, as study 002's arrays)",
    "unknown": "not recorded in the results",
    "folder": "your own images",
}
#: Bad files named on the slide; the rest are counted (the manifest lists them all).
BAD_FILES_SHOWN = 5


def image_content(meta: dict) -> str | None:
    """What the images were, and for photographs which ones under which licence; None for
    metadata from before the analysis recorded it."""
    contents = meta.get("dataset_contents")
    if not contents:
        return None
    experiments: dict[str, list[str]] = {}
    for experiment, found in contents.items():
        for content in found:
            experiments.setdefault(content, []).append(experiment)
    if len(experiments) == 1:
        (content,) = experiments
        said = CONTENT_WORDS.get(content, content)
    else:
        # Experiments of different contents: each content with the experiments that used it.
        said = "; ".join(
            f"{CONTENT_WORDS.get(c, c)} in {words.joined(sorted(e))}"
            for c, e in sorted(experiments.items())
        )
    text = f"Images: {said}."
    for folder in meta.get("folders") or []:
        text += " " + folder_words(folder)
    photos = meta.get("photos") or []
    if photos:
        credits = "; ".join(f"{p['title']} ({p['author']}, {p['licence']})" for p in photos)
        text += f" Drawn from the photographs scikit-image ships: {credits}."
        if "grey" in meta.get("photo_colors", []):
            text += (
                ' Greyscale images: the colour photographs converted with Pillow\'s "L" '
                "(ITU-R 601-2 luma), and the greyscale ones as they are."
            )
    return text


def folder_words(folder: dict) -> str:
    """A folder of the user's images: where, what was done to each, which files were left
    out and why."""
    native = folder.get("native")
    if native:
        text = (
            f"Your folder {folder.get('folder')}: {words.integer(folder.get('usable'))} usable "
            "images, picked by the dataset seed and timed as found (native sizes: each file "
            "copied byte for byte, orientation as stored): " + native_words(native)
        )
    else:
        text = (
            f"Your folder {folder.get('folder')}: {words.integer(folder.get('usable'))} usable "
            "images, picked by the dataset seed, made upright (EXIF orientation) and fitted to "
            "each size (scaled to cover, centre-cropped)"
        )
    if folder.get("upscaled"):
        text += f"; {words.integer(folder['upscaled'])} of them scaled up to fit"
    bad = folder.get("bad") or []
    if bad:
        named = "; ".join(f"{b['name']}: {b['reason']}" for b in bad[:BAD_FILES_SHOWN])
        more = len(bad) - BAD_FILES_SHOWN
        text += f". Left out ({words.integer(len(bad))}): {named}"
        text += (
            f"; and {words.integer(more)} more (the dataset's manifest lists them)"
            if more > 0
            else ""
        )
    return text + "."


def native_words(native: dict) -> str:
    """The size distribution of images timed as found: "50 images of 640x480 to 4000x3000
    (0.307 MP to 12 MP, median 2.1 MP; 121 MP in all); formats JPEG 40, PNG 10; modes RGB
    48, L 2"."""

    def counts(by: dict) -> str:
        return ", ".join(f"{name} {words.integer(n)}" for name, n in by.items())

    return (
        f"{words.integer(native.get('count'))} images of {native.get('smallest')} to "
        f"{native.get('largest')} ({words.megapixels(native.get('megapixels_min'))} to "
        f"{words.megapixels(native.get('megapixels_max'))}, median "
        f"{words.megapixels(native.get('megapixels_median'))}; "
        f"{words.megapixels(native.get('megapixels_total'))} in all); formats "
        f"{counts(native.get('formats') or {})}; modes {counts(native.get('modes') or {})}"
    )


BASE_CASES = (
    "Speedup has two base cases, both in the same task, size, storage, cache and number of "
    "images: the serial loop (does parallelism pay at all?) and the same strategy with 1 "
    "worker (how does the strategy scale?)."
)


def method_measurement(summary: pd.DataFrame, meta: dict) -> list[str]:
    """How each cell was measured: grid, repetitions, timed region, cache, verification."""
    parallel = summary[summary["strategy"] != BASELINE]
    pairs = zip(summary["width"], summary["height"], strict=True)
    sizes = [format_size(w, h) for w, h in sorted(set(pairs))]
    workers = sorted({int(w) for w in parallel["workers"]})

    def values(column: str) -> str:
        return words.joined(distinct(summary, column))

    strategies = words.joined(sorted(distinct(summary, "strategy"), key=serial_first))
    images = words.joined(int(n) for n in distinct(summary, "n_images"))
    items = [
        f"Grid: tasks {values('task')}; strategies {strategies}; workers "
        f"{words.joined(workers)} (the serial loop runs once, with 1); images per cell "
        f"{images}; sizes {words.joined(sizes)}; storage {values('storage')}; cache "
        f"{values('cache')}; input format {values('format')}.",
        *filter(None, [image_content(meta)]),
        f"{words.joined(meta.get('repeats', []))} timed repetitions per cell after "
        f"{words.joined(meta.get('warmup', []))} untimed warm-up; "
        f"{words.text(meta.get('cells'))} cells, {words.text(meta.get('timed_repetitions'))} "
        "timed repetitions in all; each cell ran alone.",
        "Rounds: " + word(rounds(meta, summary)),
        "The timed region is the whole batch, pool start-up and shutdown included, split "
        "into pool start-up (until every worker started), until the first result, work and "
        "shutdown. Multiprocessing start method: " + word(start_method(meta, summary)),
    ]
    cold_max = meta.get("cold_resident_fraction_max")
    methods = words.joined(meta.get("cache_methods", []))
    items.append(provenance(meta))
    if cold_max is None:
        items.append(f"Cache control: {methods}; no cold-cache repetition read inputs.")
    else:
        items.append(
            f"Cache control: {methods}. Measured share of the inputs still in the page cache "
            f"before a cold repetition (mincore): max {words.percent(cold_max)}, median "
            f"{words.percent(meta.get('cold_resident_fraction_median'))}."
        )
    found = eviction(meta, summary)
    if found is not None:
        items.append("Eviction: " + word(found))
    found = durability(meta, summary)
    if found is not None:
        items.append("Save durability: " + word(found))
    items.append(word(memory(summary)))
    items.append(
        "Every repetition is verified (checksums of written files, decoded pixels of reads): "
        "a repetition that lost or corrupted work fails its cell and is never reported."
    )
    return items


def _commits(meta: dict) -> list[str]:
    """The workflow commits the cells ran from (older metadata: those of its hosts)."""
    if "workflow_commits" in meta:
        return [str(c) for c in meta["workflow_commits"]]
    return sorted({str(c) for h in meta.get("hosts", []) if (c := h.get("workflow_commit"))})


def provenance(meta: dict) -> str:
    """Which config and which code the cells ran with: the config hash and the commits."""
    value = meta.get("config_hash")
    by_experiment = {k: v for k, v in (meta.get("config_hashes") or {}).items() if v}
    if value:
        config = f"config hash {value} (every cell that records one ran with this config)"
    elif by_experiment:
        config = "config hashes " + "; ".join(f"{k}: {v}" for k, v in by_experiment.items())
    else:
        config = "no config hash recorded"
    commits = _commits(meta)
    if not commits:
        code = "workflow commit not recorded"
    elif len(commits) == 1:
        code = f"workflow commit {commits[0]}"
    else:
        code = f"workflow commits {words.joined(commits)}: the cells ran from different code"
    return f"Provenance: {config}; {code}."


def equivalence_margin(comparisons: pd.DataFrame | None, meta: dict) -> str:
    """The equivalence margin as a percentage ("5%"): comparisons.csv's, else metadata's,
    else the default."""
    values: list[float] = []
    if comparisons is not None and "equivalence_margin" in comparisons.columns:
        values = sorted(
            set(pd.to_numeric(comparisons["equivalence_margin"], errors="coerce").dropna())
        )
    if not values and words.number(meta.get("equivalence_margin")) == words.number(
        meta.get("equivalence_margin")
    ):
        values = [words.number(meta.get("equivalence_margin"))]
    if not values:
        return f"{DEFAULT_EQUIVALENCE_MARGIN:.0%}"
    return ", ".join(f"{v:.0%}" for v in values)


def method_analysis(
    summary: pd.DataFrame, comparisons: pd.DataFrame | None = None, meta: dict | None = None
) -> list[str]:
    """How cells are compared: statistic, both base cases, significance (Holm), equivalence
    (TOST), the physical bound, Karp-Flatt and Amdahl. Tables that predate a test get the
    older wording, never a claim they cannot back."""
    meta = meta or {}
    comparisons = comparisons if comparisons is not None else pd.DataFrame()
    levels = summary["ci_level"].dropna() if "ci_level" in summary.columns else pd.Series([])
    rounds = (
        pd.to_numeric(summary["rounds"], errors="coerce").max()
        if "rounds" in summary.columns
        else math.nan
    )
    statistic = "Statistic: the median wall time, with a distribution-free CI (order statistics)"
    if math.isfinite(rounds) and rounds > 1:
        statistic = (
            "Statistic: the median wall time over every repetition of every round; its CI "
            "and every speedup's are bootstrapped hierarchically (rounds, then repetitions "
            "within them)"
        )
    if levels.empty:
        statistic += "."
    elif levels.min() < CI_LEVEL_WANTED:
        statistic += (
            f"; with this few repetitions its level is only {words.percent(levels.min())} "
            "(the interval is [min, max])."
        )
    else:
        statistic += f" at {words.percent(levels.min())}."
    holm = "p_holm" in comparisons.columns
    items = [
        statistic,
        BASE_CASES + " Speedup is a ratio of medians with a 95% bootstrap CI.",
        "Efficiency = speedup over the serial loop / workers. Karp–Flatt e = (1/S − 1/p) / "
        "(1 − 1/p), from the speedup over 1 worker, only for p within the usable cores "
        "(beyond them missing cores would read as serial work): a serial fraction that grows "
        "with p means overhead, not just serial work.",
    ]
    if holm:
        items.append(
            f"“Significantly slower”: a cell against the fastest of its group, p < {ALPHA} "
            "after Holm's correction within the group. “Faster than the loop”: Holm-adjusted "
            "over all the group's cells, so that picking the best from the data is covered."
        )
    else:
        items.append(
            f"“Significantly slower”: two-sided Mann–Whitney U of a cell's repetitions against "
            f"the fastest cell of its group, p < {ALPHA}, uncorrected. A runner-up is named "
            "only when it is not."
        )
    if "equivalent" in comparisons.columns:
        items.append(
            "“Equivalent”: the 90% CI of the time ratio lies within "
            f"±{equivalence_margin(comparisons, meta)} (two one-sided tests). A cell that is "
            "neither significantly slower nor equivalent is one the repetitions cannot tell "
            "apart from the best, and the tables say how large a difference they could have "
            "missed."
        )
    else:
        items.append(
            "No equivalence test in these tables: “not significantly slower” does not mean "
            "equivalent."
        )
    items.append(
        "Physical bound: a speedup above min(workers, usable cores) for CPU work, or above "
        "the workers for waiting work, is flagged, never reported as a finding; the base "
        "case's CPU per image beside the cell's names the likely cause."
    )
    items.append(
        "Amdahl: least squares of T(p) = Ts + Tp / p per strategy, only with at least three "
        "worker counts within the usable cores (never on oversubscribed points); serial "
        "fraction = Ts / (Ts + Tp), ceiling = (Ts + Tp) / Ts."
    )
    return items
