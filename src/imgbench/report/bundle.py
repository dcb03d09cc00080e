"""The shareable bundle: one zip of a run's experiments' tables, figures and decks, with the config.

A run is one results directory (the config's ``results_dir``): its bundle holds that run's
experiments and reference deck alone, and its README names the run, so that bundles of
different presets' runs, unpacked side by side, say which is which.

The zip is reproducible: entries are sorted and carry a fixed timestamp and mode, so the
same inputs give the same bytes. It is written to a temporary sibling and renamed, so a
reader sees the old bundle or the whole new one.
"""

from __future__ import annotations

import importlib.metadata
import io
import zipfile
from pathlib import Path

from imgbench.errors import ImgbenchError
from imgbench.files import write_atomic
from imgbench.report.figures import ALWAYS_WRITTEN, FIGURES, FORMATS, PER_WORKLOAD, WORKLOAD_DIR

#: Files every experiment must provide, relative to its results directory, and what they are.
EXPERIMENT_FILES = {
    "timings.csv": "one row per timed repetition (warm-ups excluded)",
    "summary.csv": "one row per cell: median with its confidence interval, spread, throughput",
    "speedup.csv": "speedup of each cell over the serial loop of the same group",
    "efficiency.csv": "parallel efficiency: speedup / workers",
    "metadata.json": "hosts, software versions, method and cache state of the run",
    "slides.html": "the self-contained slide deck (open in a browser; prints one slide a page)",
    "report.md": "the Markdown report: verdicts, headline tables, machine, figure links",
    **{
        f"figures/{stem}.{fmt}": f"figure: {stem.replace('_', ' ')} ({fmt.upper()})"
        for stem in ALWAYS_WRITTEN
        for fmt in FORMATS
    },
}
#: The figures drawn once per task and image size: every file of ``figures/tasks/`` is
#: bundled, and the README names them by pattern.
WORKLOAD_FILES = {
    f"figures/{FIGURES[stem].workload_file('<task>', '<WxH>')}.{fmt}": (
        f"figure: {FIGURES[stem].title[:1].lower()}{FIGURES[stem].title[1:]}, one per task "
        f"and image size ({fmt.upper()})"
    )
    for stem in PER_WORKLOAD
    for fmt in FORMATS
}
#: Files an experiment may have: bundled when present (the verdict tables, and the
#: known-answer calibration of the calibrate preset).
OPTIONAL_FILES = {
    "amdahl.csv": "Amdahl fits per strategy (only with three worker counts within the cores)",
    "comparisons.csv": "each cell against its group's fastest: Holm-corrected, equivalence",
    "recommendations.csv": "per group: the fastest cell, its verdicts and a sentence",
    "calibration.csv": "known-answer cells: expected speedup beside the measured one",
    "calibration.json": "the known-answer summary: cores this machine delivers",
}
#: The published-vs-measured comparison of a study preset (``reference`` in the config).
REFERENCE_FILES = {
    "reference/comparison.csv": "each published finding beside our measurement, with a verdict",
    "reference/slides.html": "the published-vs-measured deck",
}
#: The DOS epoch: the earliest time a zip entry can carry, fixed for reproducible bytes.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


def _readme(
    run: str, experiments: list[str], extra_figures: dict[str, list[str]], reference: bool = False
) -> str:
    lines = [
        f"imgbench results bundle of the run in {run}",
        "",
        "config.yaml  the resolved configuration the workflow ran with",
        "software.txt the Python packages (name==version) of the environment that wrote it",
        "README.txt   this file",
        "",
        "For each experiment E (" + ", ".join(experiments) + "):",
    ]
    lines += [f"E/{name:<32} {what}" for name, what in EXPERIMENT_FILES.items()]
    lines += [f"E/{name:<32} {what}" for name, what in WORKLOAD_FILES.items()]
    lines += [f"E/{name:<32} {what} (when present)" for name, what in OPTIONAL_FILES.items()]
    for experiment, names in extra_figures.items():
        lines += [f"{experiment}/{name:<32} further figure" for name in names]
    if reference:
        lines += ["", *(f"{name:<34} {what}" for name, what in REFERENCE_FILES.items())]
    lines += [
        "",
        "Speedup's base case is the serial loop of the same task, size, storage, cache and",
        "number of images; it is a ratio of medians.",
    ]
    return "\n".join(lines) + "\n"


def _entries(
    results_root: Path, experiments: list[str], config: Path, reference: bool = False
) -> dict[str, Path]:
    """Archive name -> source file, every one checked to exist."""
    entries: dict[str, Path] = {"config.yaml": config}
    if reference:
        entries.update({name: results_root / name for name in REFERENCE_FILES})
    for experiment in experiments:
        base = results_root / experiment
        for name in EXPERIMENT_FILES:
            entries[f"{experiment}/{name}"] = base / name
        for name in OPTIONAL_FILES:
            if (base / name).is_file():
                entries[f"{experiment}/{name}"] = base / name
        figures = base / "figures"
        for fmt in FORMATS:
            for path in sorted(figures.glob(f"*.{fmt}")):
                entries.setdefault(f"{experiment}/figures/{path.name}", path)
            # The per-workload figures: the whole folder the figures job wrote.
            for path in sorted((figures / WORKLOAD_DIR).glob(f"*.{fmt}")):
                entries.setdefault(f"{experiment}/figures/{WORKLOAD_DIR}/{path.name}", path)
    missing = [str(path) for path in entries.values() if not path.is_file()]
    if missing:
        raise ImgbenchError("bundle: missing file(s): " + ", ".join(missing))
    return entries


def software_lock() -> str:
    """Every installed distribution as ``name==version``, sorted: the environment that
    wrote the tables (each cell's own library versions are in metadata.json's hosts)."""
    found = {
        (dist.metadata["Name"] or "").lower(): dist.version
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    return "".join(f"{name}=={version}\n" for name, version in sorted(found.items()))


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def make_bundle(
    output: Path,
    results_root: Path,
    experiments: list[str],
    config: Path,
    reference: bool = False,
) -> None:
    """Zip each experiment's tables, figures and deck with ``config.yaml`` and a README.

    Entries are ``E/<file>`` for every experiment ``E`` under ``results_root`` (the run's
    results directory, named in the README as given), plus
    ``config.yaml`` (a copy of ``config``) and ``README.txt`` at the top, and with
    ``reference`` the published-vs-measured comparison under ``reference/``. Raises
    ``ImgbenchError`` naming every missing input before anything is written.
    """
    output, results_root, config = Path(output), Path(results_root), Path(config)
    entries = _entries(results_root, list(experiments), config, reference)
    extra_figures = {
        experiment: [
            name.removeprefix(f"{experiment}/")
            for name in entries
            if name.startswith(f"{experiment}/figures/")
            and not name.startswith(f"{experiment}/figures/{WORKLOAD_DIR}/")
            and name.removeprefix(f"{experiment}/") not in EXPERIMENT_FILES
        ]
        for experiment in experiments
    }
    readme = _readme(
        results_root.as_posix(),
        list(experiments),
        {e: n for e, n in extra_figures.items() if n},
        reference,
    )

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _add(archive, "README.txt", readme.encode())
        _add(archive, "software.txt", software_lock().encode())
        for name in sorted(entries):
            _add(archive, name, entries[name].read_bytes())
    write_atomic(output, buffer.getvalue())
