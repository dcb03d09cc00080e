"""The cell result: the one file a cell job writes, and the interface between measuring and
the analysis.

A cell result is a JSON object (schema ``SCHEMA_VERSION``): the cell, its run parameters,
the machine, start/end times, phase durations, the whole cell's peak memory and one record
per repetition (warm-ups flagged). Its types are ``TypedDict``s, so that the runner that
writes it, the analysis that reads it and the tests that build it all hold the same plain
dicts. The keys that a type marks required are what ``check_result`` demands of every
file: what the analysis reads without a default. The others were added during version 2 (a
reader takes them with ``.get``) or are written for people and not read back.

``build_result`` assembles one (in the field order every result file has), ``write_result``
writes it atomically (a temporary sibling, then a rename: a file exists complete or not at
all), and ``read_result`` reads and checks one.
"""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from the evaluated
# annotations (with postponed ones, Python 3.11 takes every key as required).
import json
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from imgbench.errors import ImgbenchError
from imgbench.files import write_atomic

#: The version of the schema below, written in every result as ``schema_version``.
#:
#: History (a reader refuses any version but this one):
#:
#: - 1: the first runner. A repetition had no breakdown of its wall time beyond
#:   ``first_result_s`` (``work_s`` and ``shutdown_s`` came late in version 1, so a file of
#:   version 1 may lack them), and ``machine.storage_path`` was the scratch area, not where
#:   the task reads its inputs.
#: - 2: the analysis reads the breakdown (``work_s``, ``shutdown_s``: first result, work,
#:   shutdown). Added since without a new version, each optional for a reader: the process
#:   start's precision, the whole cell's ``memory``, and in ``run`` the dataset's colour,
#:   the task options, the start method requested, the eviction, the task's bound, the
#:   round, the config hash and the time limit; in each repetition the pool's start-up,
#:   workers started, peak in flight, modules imported by workers, the helpers' CPU, input
#:   and extra read bytes, and the process tree's peak memory; the bytes one image moves
#:   between processes (``transfer``).
SCHEMA_VERSION = 2


class Cell(TypedDict):
    """The cell's identity (``imgbench.vocabulary.CELL``, in that order)."""

    experiment: str
    task: str
    storage: str
    cache: str
    width: int
    height: int
    n_images: int
    strategy: str
    workers: int


class RunParameters(TypedDict):
    """How the cell was run (``run``)."""

    repeats: int
    warmup: int
    dataset: NotRequired[str]
    dataset_format: str
    dataset_seed: NotRequired[int]
    dataset_color: NotRequired[str]
    #: What the dataset's pixels are (photo, synthetic, noise), and the photographs used.
    dataset_content: NotRequired[str]
    dataset_photos: NotRequired[dict[str, Any]]
    #: The pixels of the cell's images, all together (native images differ in size).
    input_pixels: NotRequired[int]
    #: A folder dataset's source, without its list of images (``imgbench.measure.folder``).
    dataset_folder: NotRequired[dict[str, Any] | None]
    #: A user's own task: the function it ran (None for imgbench's tasks).
    task_function: NotRequired[str | None]
    #: The task's options: its defaults, overridden by the config's.
    task_options: NotRequired[dict[str, Any]]
    scratch: NotRequired[str]
    task_summary: NotRequired[str]
    strategy_summary: NotRequired[str]
    #: The start method process pools used, and the one asked for ("default": the platform's).
    mp_start_method: str
    start_method_requested: NotRequired[str]
    eviction: NotRequired[str]
    #: "cpu" or "wait" (``Task.bound``).
    task_bound: NotRequired[str]
    round: NotRequired[int]
    rounds: NotRequired[int]
    config_hash: NotRequired[str | None]
    #: The cell's time limit in seconds (None: no limit).
    timeout_s: NotRequired[float | None]


class MachineInfo(TypedDict):
    """The host, as ``imgbench.measure.machine.collect_machine_info`` records it."""

    hostname: str
    os: NotRequired[str]
    os_release: NotRequired[str]
    os_version: NotRequired[str]
    platform: NotRequired[str]
    architecture: NotRequired[str]
    cpu_model: str
    physical_cores: NotRequired[int | None]
    logical_cores: NotRequired[int | None]
    usable_cores: int
    cpu_freq_mhz: NotRequired[float | None]
    cpu_freq_max_mhz: NotRequired[float | None]
    load_average_1m: NotRequired[float | None]
    load_average_5m: NotRequired[float | None]
    ram_bytes: NotRequired[int]
    storage_path: NotRequired[str]
    storage_filesystem: NotRequired[str]
    python_version: NotRequired[str]
    python_implementation: NotRequired[str]
    #: "free-threaded" (built without the GIL) or "default".
    python_build: NotRequired[str]
    #: Whether the GIL was enabled once the cell's libraries were imported (True before 3.13).
    gil_enabled: NotRequired[bool]
    pillow_version: NotRequired[str]
    pillow_libjpeg_turbo: NotRequired[bool]
    #: The JPEG and zlib API levels Pillow reports ("6.2" and "1.2.13" with libjpeg-turbo and
    #: zlib-ng, which emulate them) ...
    libjpeg_version: NotRequired[str | None]
    zlib_version: NotRequired[str | None]
    #: ... and the libraries behind them, None where Pillow uses plain libjpeg or zlib.
    libjpeg_turbo_version: NotRequired[str | None]
    zlib_ng_version: NotRequired[str | None]
    #: The image library the cell's task used (``imgbench.measure.codecs.describe``): name,
    #: package, version, the codec libraries it reports and those mapped into the process,
    #: and its internal threads.
    image_library: NotRequired[dict[str, Any]]
    numpy_version: NotRequired[str]
    snakemake_version: NotRequired[str | None]
    imgbench_version: NotRequired[str | None]
    #: The checkout's git commit (``-dirty`` with changes), or "unknown" (e.g. installed).
    workflow_commit: NotRequired[str]
    collected_at_utc: NotRequired[str]


class Repetition(TypedDict):
    """One repetition (``repetitions[i]``): seconds, bytes, and how its state was set."""

    index: int
    warmup: bool
    #: The timed region: the strategy, its pool's start-up and shutdown included.
    wall_s: float
    first_result_s: NotRequired[float]
    work_s: NotRequired[float]
    shutdown_s: NotRequired[float]
    pool_ready_s: NotRequired[float | None]
    workers_started: NotRequired[int | None]
    #: Of the workers that did the repetition's work, those that existed before it began
    #: (a reused pool); None where the strategy does not say (only joblib's do).
    workers_reused: NotRequired[int | None]
    peak_in_flight: NotRequired[int | None]
    worker_imported_modules: NotRequired[list[str]]
    cpu_user_s: NotRequired[float]
    cpu_sys_s: NotRequired[float]
    cpu_s: NotRequired[float]
    #: This process's own CPU (without workers): a pool's submitting, pickling, collecting.
    parent_cpu_s: NotRequired[float]
    helper_cpu_s: NotRequired[float]
    other_cpu_s: NotRequired[float]
    steal_s: NotRequired[float]
    io_read_chars: NotRequired[int | None]
    io_write_chars: NotRequired[int | None]
    io_read_bytes: NotRequired[int | None]
    io_write_bytes: NotRequired[int | None]
    #: Page faults in the timed region: this process, its reaped children, a kept pool's
    #: workers. Minor ones (fresh memory, zeroed) cost about 2-20 us each on a VM.
    minor_faults: NotRequired[int]
    major_faults: NotRequired[int]
    input_bytes: NotRequired[int]
    extra_read_bytes: NotRequired[int | None]
    #: Free heap memory was returned to the system before the repetition (``heap.trim``).
    heap_trimmed: NotRequired[bool]
    peak_rss_bytes: NotRequired[int]
    peak_rss_reset: NotRequired[bool]
    peak_rss_children_bytes: NotRequired[int]
    tree_peak_pss_bytes: NotRequired[int | None]
    tree_peak_uss_bytes: NotRequired[int | None]
    payload_bytes: NotRequired[int]
    images_per_s: NotRequired[float]
    mb_per_s: NotRequired[float]
    cache_method: NotRequired[str]
    resident_fraction: NotRequired[float | None]
    #: Always true in a written file: a repetition that fails verification fails the cell.
    verified: NotRequired[bool]


class Phases(TypedDict):
    """Where the cell job's time went, in seconds."""

    setup_s: float
    #: Making and warming a persistent strategy's pool, before the first repetition (0 for
    #: every other strategy, whose pool is made inside each repetition's timer).
    pool_start_s: NotRequired[float]
    prepare_s: float
    timed_s: float
    verify_s: float
    teardown_s: float


class Memory(TypedDict):
    """The whole process tree's peak memory over the cell, and where it was sampled."""

    tree_peak_pss_bytes: int | None
    tree_peak_uss_bytes: int | None
    sampled_in: str


class Transfer(TypedDict):
    """What one image moves between the parent and a worker process, in bytes: one item and
    its result, pickled as the pool pickles them, once, untimed, after the repetitions. 0
    for strategies that run the work in the parent's process (nothing crosses); the whole
    record is None for a pool that moves them its own way (joblib)."""

    #: The item sent to a worker and the result sent back, pickled.
    item_pickled_bytes: int
    result_pickled_bytes: int
    #: Their sum: what the pipe carries per image.
    bytes_pickled_per_image: int
    #: The arrays' bytes that travel through shared memory instead (``processes_shm``; the
    #: pipe then carries their handles, counted above).
    bytes_shared_per_image: int


class CellResult(TypedDict):
    """One round of one cell: the whole file."""

    schema_version: int
    cell: Cell
    #: ``CellSpec.relative_path``: the cell, all its rounds.
    cell_path: NotRequired[str]
    run: RunParameters
    machine: MachineInfo
    process_started_unix: NotRequired[float]
    #: Seconds the process start time is precise to (None: not known).
    process_started_precision_s: NotRequired[float | None]
    started_unix: float
    finished_unix: float
    phases: NotRequired[Phases]
    #: Every distinct warning raised while the cell ran, sorted.
    warnings: NotRequired[list[str]]
    memory: NotRequired[Memory]
    transfer: NotRequired[Transfer | None]
    repetitions: list[Repetition]


def _required(kind: type) -> list[str]:
    """A TypedDict's required keys, in the order it declares them."""
    return [key for key in kind.__annotations__ if key in kind.__required_keys__]


#: What every result must hold, section by section: a file without one of these is refused.
REQUIRED_FIELDS = {
    "cell": _required(Cell),
    "run": _required(RunParameters),
    "machine": _required(MachineInfo),
}
#: Required keys of the result itself, besides its version, the sections and ``repetitions``.
REQUIRED_TOP_LEVEL = [
    k for k in _required(CellResult) if k not in ("schema_version", "repetitions", *REQUIRED_FIELDS)
]
REQUIRED_REPETITION = _required(Repetition)
#: What a damaged or incomplete result's message advises.
ADVICE = "delete it (or move it away) and run the cell again"


def build_result(
    cell: Cell,
    run: RunParameters,
    machine: MachineInfo,
    repetitions: list[Repetition],
    *,
    started_unix: float,
    finished_unix: float,
    **optional: Any,
) -> CellResult:
    """A result of this schema version, its fields in the order of ``CellResult``.

    ``optional`` holds the result's optional fields (``cell_path``, ``phases``...); the
    result is checked as a reader would check it, so nothing is built that would be refused.
    """
    fields: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "cell": cell,
        "run": run,
        "machine": machine,
        "started_unix": started_unix,
        "finished_unix": finished_unix,
        "repetitions": repetitions,
    }
    unknown = sorted(optional.keys() - CellResult.__optional_keys__)
    if unknown:
        raise TypeError(f"build_result: not an optional field of a cell result: {unknown}")
    fields |= optional
    result: CellResult = {k: fields[k] for k in CellResult.__annotations__ if k in fields}
    check_result(result, "build_result")
    return result


def check_result(obj: Any, path: Path | str) -> CellResult:
    """``obj`` if it is a complete cell result of this version, else an ImgbenchError that
    names ``path`` and what is wrong."""
    if not isinstance(obj, dict):
        raise ImgbenchError(f"{path}: not a cell result (a JSON object); {ADVICE}")
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ImgbenchError(
            f"{path}: result schema {version}, this imgbench reads {SCHEMA_VERSION}; {ADVICE}"
        )
    missing = [
        f"{section}.{key}"
        for section, keys in REQUIRED_FIELDS.items()
        for key in keys
        if not isinstance(obj.get(section), dict) or key not in obj[section]
    ]
    missing += [key for key in REQUIRED_TOP_LEVEL if key not in obj]
    reps = obj.get("repetitions")
    if not isinstance(reps, list) or not all(
        isinstance(r, dict) and set(REQUIRED_REPETITION) <= r.keys() for r in reps
    ):
        missing.append(f"repetitions (each with {', '.join(REQUIRED_REPETITION)})")
    if missing:
        raise ImgbenchError(
            f"{path}: not a complete cell result (missing {', '.join(missing)}); {ADVICE}"
        )
    return obj


def result_from_json(text: str, path: Path | str) -> CellResult:
    """A result from its JSON text (``path`` names it in errors)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        # Results are written atomically, so a damaged one was changed after the run.
        raise ImgbenchError(f"{path}: not a valid JSON cell result ({exc}); {ADVICE}") from None
    return check_result(obj, path)


def result_to_json(result: CellResult) -> str:
    """The JSON text of a result file (one-space indents, fields in their order)."""
    return json.dumps(result, indent=1, sort_keys=False) + "\n"


def read_result(path: Path) -> CellResult:
    """One cell result, or an ImgbenchError naming the file and what is wrong with it."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise ImgbenchError(f"{path}: cell result not found") from None
    except OSError as exc:
        raise ImgbenchError(f"{path}: cannot read cell result ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ImgbenchError(f"{path}: not a valid JSON cell result ({exc}); {ADVICE}") from None
    return result_from_json(text, path)


def write_result(path: Path, result: CellResult) -> None:
    """Write a result file atomically: readers see no file, or the whole of it."""
    write_atomic(path, result_to_json(result).encode())
