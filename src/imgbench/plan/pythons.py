"""Other Pythons as an axis: ``pythons: [python3.11, python3.13, /opt/python3.14t/bin/python3]``.

An experiment that lists ``pythons`` is expanded, when the config is resolved
(``expand_pythons``), into one experiment per interpreter, named after the experiment and the
interpreter's tag (``load-py311``, ``load-py313``, ``load-py314t``). Every one of them gets
the suffix, the first too: its cells run under an interpreter of their own, in an
environment of their own, with a config hash of their own, so none of them is the plain
experiment of a run without ``pythons``, and a plain name would say it is. Each expanded
experiment carries what it runs under in its key ``python`` (``Interpreter.as_config``):
the name given, the executable found, version, implementation, build and platform, probed
once, so that a resolved config is read again (by the analysis, on another machine) without
the interpreter being there.

An interpreter is named by a path (``/opt/python3.14t/bin/python3``) or by a command name
(``python3.13``), looked up on ``PATH`` and, where that finds nothing that runs (a pyenv
shim of a version that is not selected answers "command not found"), among pyenv's versions
(``$PYENV_ROOT/versions/*/bin``, by default ``~/.pyenv``). A missing interpreter is a config
error naming it; one below the package's ``requires-python`` is refused naming both.

Before any job runs, ``check_wheels`` asks the registry, without installing, whether every
package a cell job needs (``CELL_PACKAGES``, at the lock's pins) has a wheel for the
interpreter (``pip --python X install --dry-run --only-binary=:all:``); a package without
one fails the plan naming the package and the interpreter. Where the lock's pin has no wheel
for an interpreter, that is the failure (the lock is what makes interpreters comparable: a
different numpy would be a second variable). The answer is cached under the run's directory,
keyed by the interpreter and the lock, so that it is not asked again on every parse of the
Snakefile.

``build_environment`` (the ``python_env`` rule, ``workflow/rules/pythons.smk``) makes the
environment: a venv of that interpreter, the cell packages installed from the registry with
the lock as constraints, imgbench itself from the checkout without its dependencies (a
``.pth`` naming the checkout's ``src``: its code, as every other job runs it), and, last, a
marker JSON of what was installed, so that an interrupted build never counts as done.
"""

from __future__ import annotations

import argparse
import copy
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from imgbench.errors import ConfigError, ImgbenchError

#: The oldest Python the package supports (pyproject's ``requires-python``; a test keeps
#: them equal).
REQUIRES_PYTHON = (3, 11)
#: What a cell job (``imgbench run-cell``) imports beyond the standard library, as
#: distributions: numpy and Pillow for the work, psutil for the meters, aiofiles for the
#: asyncio strategy, httpx for the download task, joblib for its strategy. Snakemake,
#: pandas, scipy and the plotting stack belong to the stages that run in the workflow's own
#: environment. A test
#: (tests/plan/test_pythons.py) keeps this equal to what cell jobs import.
CELL_PACKAGES = ("numpy", "pillow", "psutil", "aiofiles", "httpx", "joblib")
#: The lock every environment is pinned to, relative to the checkout.
LOCK = "envs/requirements.lock"
#: Seconds to wait for an interpreter to say what it is.
PROBE_TIMEOUT_S = 30
#: Seconds to wait for the registry's answer about an interpreter's wheels.
CHECK_TIMEOUT_S = 300

# Python 2 must be able to run the probe, so that it is refused with its version rather than
# failing on a syntax error: no f-strings.
_PROBE = (
    "import json, platform, sys, sysconfig; print(json.dumps({"
    "'executable': sys.executable, 'version': platform.python_version(), "
    "'implementation': platform.python_implementation(), "
    "'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED')), "
    "'platform': sysconfig.get_platform()}))"
)
_TAG_PREFIX = {"CPython": "py", "PyPy": "pypy"}
#: Keys of an experiment that do not make it another grid: its interpreter, and what
#: ``imgbench.plan.config.UNHASHED_KEYS`` leaves out of its hash (its title; a test keeps
#: them in step; config imports this module, so it is not imported from there).
NOT_THE_GRID = ("python", "description")


@dataclass(frozen=True)
class Interpreter:
    """An interpreter as probed: what an expanded experiment's ``python`` key holds."""

    #: As the config names it (``python3.13``, a path).
    name: str
    #: The interpreter that ran the probe (``sys.executable``; a pyenv shim's real one).
    executable: str
    version: str
    implementation: str
    #: ``free-threaded`` (built with ``Py_GIL_DISABLED``) or ``default``.
    build: str
    platform: str

    @property
    def minor(self) -> tuple[int, int]:
        major, minor = self.version.split(".")[:2]
        return int(major), int(re.match(r"\d+", minor).group())

    @property
    def tag(self) -> str:
        """Path-safe, from the version and build: ``py313``, ``py314t``, ``pypy310``."""
        prefix = _TAG_PREFIX.get(self.implementation, self.implementation.lower())
        major, minor = self.minor
        return f"{prefix}{major}{minor}{'t' if self.build == 'free-threaded' else ''}"

    @property
    def label(self) -> str:
        """For people: ``CPython 3.13.0``, ``CPython 3.14.0 free-threaded``."""
        build = " free-threaded" if self.build == "free-threaded" else ""
        return f"{self.implementation} {self.version}{build}"

    def as_config(self) -> dict:
        return {**asdict(self), "tag": self.tag}

    @classmethod
    def from_config(cls, section: dict) -> Interpreter:
        return cls(**{k: section[k] for k in cls.__dataclass_fields__})


def pyenv_candidates(name: str, root: str | None = None) -> list[str]:
    """``name`` in each pyenv version's ``bin``, newest version first (``python3`` is then
    the newest 3.x there is)."""
    root = root or os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = glob.glob(os.path.join(root, "versions", "*", "bin", name))
    return sorted(found, key=lambda p: _version_key(Path(p).parents[1].name), reverse=True)


def _version_key(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else -1 for p in re.split(r"[.\-]", text))


def candidates(name: str) -> list[str]:
    """Where ``name`` may be: itself when it is a path, else on PATH, then in pyenv."""
    if os.sep in name:
        return [name]
    on_path = shutil.which(name)
    return [*([on_path] if on_path else []), *pyenv_candidates(name)]


def _run_probe(executable: str) -> dict | str:
    """The probe's answer, or why there is none."""
    try:
        done = subprocess.run(
            [executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return lines[0] if lines else f"exit status {done.returncode}"
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"unexpected answer {done.stdout.strip()[:200]!r}"


def probe(name: str) -> Interpreter:
    """The interpreter ``name``, probed; ``ConfigError`` naming it when none runs."""
    tried = []
    for executable in candidates(name):
        answer = _run_probe(executable)
        if isinstance(answer, dict):
            build = "free-threaded" if answer["free_threaded"] else "default"
            return Interpreter(
                name,
                answer["executable"] or executable,
                answer["version"],
                answer["implementation"],
                build,
                answer["platform"],
            )
        tried.append(f"{executable}: {answer}")
    where = "; ".join(tried) if tried else "not on PATH, nor among pyenv's versions"
    raise ConfigError(f"interpreter {name!r} cannot be run ({where})")


def _probe_problem(key: str, name: str) -> tuple[Interpreter | None, str | None]:
    try:
        interpreter = probe(name)
    except ConfigError as exc:
        return None, f"config key {key}: {exc}"
    if interpreter.minor < REQUIRES_PYTHON:
        needed = ".".join(map(str, REQUIRES_PYTHON))
        return None, (
            f"config key {key}: {name!r} is {interpreter.label} ({interpreter.executable}); "
            f"imgbench requires Python >= {needed}"
        )
    return interpreter, None


def expand_pythons(config: dict, probe_one=None) -> tuple[dict, list[str]]:
    """``config`` with every experiment that lists ``pythons`` replaced by one experiment per
    interpreter (``<name>-<tag>``, each with its ``python``), and every problem found.

    An experiment without ``pythons`` is left as it is: it runs under the interpreter that
    runs the workflow, as before. ``probe_one`` (name -> Interpreter or problem) is for tests.
    """
    probe_one = probe_one or _probe_problem
    experiments = config.get("experiments")
    if not isinstance(experiments, dict):
        return config, []
    problems: list[str] = []
    expanded: dict = {}
    for name, exp in experiments.items():
        if not isinstance(exp, dict) or "pythons" not in exp:
            expanded[name] = exp
            continue
        if "python" in exp:
            problems.append(
                f"config key experiments.{name}: give pythons (a list to expand) or python "
                "(set by that expansion), not both"
            )
            continue
        seen: dict[str, str] = {}
        base = {k: v for k, v in exp.items() if k != "pythons"}
        for i, wanted in enumerate(exp["pythons"]):
            key = f"experiments.{name}.pythons[{i}]"
            interpreter, problem = probe_one(key, wanted)
            if problem:
                problems.append(problem)
                continue
            new = f"{name}-{interpreter.tag}"
            if interpreter.tag in seen:
                problems.append(
                    f"config key {key}: {wanted!r} is {interpreter.label}, as "
                    f"{seen[interpreter.tag]!r} is: list each version and build once"
                )
                continue
            seen[interpreter.tag] = wanted
            if new in experiments:
                problems.append(
                    f"config key {key}: the experiment it makes, {new!r}, is already an "
                    "experiment of the config; rename one"
                )
                continue
            description = base.get("description") or ""
            expanded[new] = {
                **copy.deepcopy(base),
                "description": f"{description} ({interpreter.label})".strip(),
                "python": interpreter.as_config(),
            }
    return {**config, "experiments": expanded}, problems + _one_per_tag(expanded)


def _one_per_tag(experiments: dict) -> list[str]:
    """An environment is per tag (``results_dir/environments/py313``): two interpreters of
    one tag, in different experiments, would share one."""
    first: dict[str, tuple[str, Interpreter]] = {}
    problems = []
    for name, exp in experiments.items():
        interpreter = experiment_python(exp) if isinstance(exp, dict) else None
        if interpreter is None:
            continue
        seen = first.setdefault(interpreter.tag, (name, interpreter))
        if seen[1].executable != interpreter.executable:
            problems.append(
                f"config key experiments.{name}.python: {interpreter.executable} and "
                f"{seen[1].executable} (experiment {seen[0]}) are both {interpreter.tag}; "
                "name one interpreter per version and build"
            )
    return problems


def experiment_python(exp: dict) -> Interpreter | None:
    """The interpreter an (expanded) experiment runs under; None: the workflow's own."""
    section = exp.get("python")
    return Interpreter.from_config(section) if isinstance(section, dict) else None


def interpreters(config: dict) -> dict[str, Interpreter]:
    """Each interpreter of a resolved config, by tag (the environment it gets)."""
    found = {}
    for exp in config["experiments"].values():
        interpreter = experiment_python(exp)
        if interpreter is not None:
            found.setdefault(interpreter.tag, interpreter)
    return found


def siblings(config: dict, experiment: str) -> list[str]:
    """The experiments that differ from ``experiment`` in their interpreter alone (itself
    included, sorted), or none when it runs under the workflow's."""

    def grid(exp: dict) -> dict:
        return {k: v for k, v in exp.items() if k not in NOT_THE_GRID}

    experiments = config["experiments"]
    if experiment_python(experiments[experiment]) is None:
        return []
    mine = grid(experiments[experiment])
    return sorted(
        name
        for name, exp in experiments.items()
        if experiment_python(exp) is not None and grid(exp) == mine
    )


# ----- wheels, before any job runs -----------------------------------------------------


def _lock_digest(lock: Path) -> str:
    return hashlib.sha256(Path(lock).read_bytes()).hexdigest()


def check_key(interpreter: Interpreter, lock: Path, packages=CELL_PACKAGES) -> str:
    """What the wheel check's answer depends on, as 16 hex digits."""
    text = json.dumps(
        {"python": interpreter.as_config(), "lock": _lock_digest(lock), "packages": packages},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pip(interpreter_executable: str, *args: str) -> list[str]:
    # pip runs under the target interpreter (--python), so it sees that interpreter's tags
    # exactly; the target needs no pip of its own.
    return [sys.executable, "-m", "pip", "--python", interpreter_executable, *args]


def _dry_run(interpreter: Interpreter, lock: Path, packages) -> subprocess.CompletedProcess:
    command = _pip(
        interpreter.executable,
        "install",
        "--dry-run",
        "--ignore-installed",
        "--only-binary=:all:",
        "--quiet",
        "--report",
        "-",
        "-c",
        str(lock),
        *packages,
    )
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ImgbenchError(
            f"cannot check the wheels for {interpreter.label} ({interpreter.executable}): "
            f"the registry gave no answer in {CHECK_TIMEOUT_S} s"
        ) from exc


_UNREACHABLE = re.compile(
    r"Network is unreachable|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|No route to host|Connection refused",
    re.IGNORECASE,
)
_MISSING = [
    re.compile(r"No matching distribution found for ([A-Za-z0-9_.\-]+)"),
    re.compile(r"Cannot install ([A-Za-z0-9_.\-]+) because"),
]


def _error_lines(stderr: str) -> str:
    return (
        " | ".join(line.strip() for line in stderr.splitlines() if line.startswith("ERROR:"))
        or (stderr.strip().splitlines() or ["no message"])[-1]
    )


def _missing(stderr: str) -> list[str]:
    return sorted({m.group(1) for pattern in _MISSING for m in pattern.finditer(stderr)})


def check_wheels(
    interpreter: Interpreter, lock: Path, cache_dir: Path | None = None, packages=CELL_PACKAGES
) -> dict:
    """The distributions a cell job would install under ``interpreter`` (name -> version),
    asked of the registry without installing; ``ImgbenchError`` naming each package that
    has no wheel for it (at the lock's pin), and the interpreter.

    A success is cached in ``cache_dir`` under ``check_key``; a failure is asked again next
    time (the registry may have been unreachable, or a wheel published since).
    """
    name = f"{interpreter.tag}-{check_key(interpreter, lock, packages)}.json"
    cache = Path(cache_dir, name) if cache_dir is not None else None
    if cache is not None and cache.is_file():
        try:
            return json.loads(cache.read_text())["install"]
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is asked again
    done = _dry_run(interpreter, lock, packages)
    if done.returncode != 0:
        raise _wheel_error(interpreter, lock, packages, done)
    report = json.loads(done.stdout)
    install = {i["metadata"]["name"]: i["metadata"]["version"] for i in report["install"]}
    if cache is not None:
        from imgbench.files import write_json_atomic

        write_json_atomic(cache, {"python": interpreter.as_config(), "install": install})
    return install


def _wheel_error(interpreter, lock, packages, done) -> ImgbenchError:
    who = f"{interpreter.label} ({interpreter.executable})"
    if "No module named pip" in done.stderr or "no such option: --python" in done.stderr:
        return ImgbenchError(
            f"cannot check the wheels for {who}: the workflow's Python ({sys.executable}) "
            "needs pip 22.3 or later (pip --python)"
        )
    if _UNREACHABLE.search(done.stderr):
        return ImgbenchError(
            f"cannot check the wheels for {who}: the registry cannot be reached "
            f"({_error_lines(done.stderr)})"
        )
    # Which of the cell's packages fail, each asked alone: pip's own message names the
    # package it gave up on, not always the one that has no wheel.
    failing = [p for p in packages if _dry_run(interpreter, lock, [p]).returncode != 0]
    named = failing or _missing(done.stderr) or ["(pip named none)"]
    return ImgbenchError(
        f"no wheel for {who} of {', '.join(named)} at the version {lock} pins: the cells of "
        f"{interpreter.tag} cannot run there (pip: {_error_lines(done.stderr)}). Leave "
        f"{interpreter.name} out of pythons, or pin a version that has one"
    )


# ----- the environment of an interpreter (the python_env rule) ---------------------------


def environment_python(venv: Path | str) -> str:
    """A venv's interpreter, by the path that makes it that venv's (never resolved)."""
    return os.path.join(str(venv), "bin", "python")


def build_environment(
    interpreter: str, lock: Path, venv: Path, marker: Path, src: Path, packages=None
) -> dict:
    """Make ``venv`` with ``interpreter``, install the cell packages (the lock as
    constraints, wheels only) and imgbench from a checkout's ``src`` (no dependencies), then write
    ``marker``: what was installed. The marker is written last and atomically."""
    from imgbench.files import write_json_atomic

    packages = list(packages or CELL_PACKAGES)
    if Path(venv).exists():
        shutil.rmtree(venv)  # a half-built one from an interrupted run
    # Without pip: pip runs from the workflow's environment (--python), so an interpreter
    # without ensurepip still gets an environment.
    _checked([interpreter, "-m", "venv", "--without-pip", str(venv)])
    python = environment_python(venv)
    _checked(_pip(python, "install", "--only-binary=:all:", "-c", str(lock), *packages))
    _install_checkout(python, Path(src))
    answer = _run_probe(python)
    if not isinstance(answer, dict):
        raise ImgbenchError(f"{python}: the new environment does not run ({answer})")
    listed = subprocess.run(
        _pip(python, "list", "--format=json"), capture_output=True, text=True, check=True
    )
    installed = {p["name"]: p["version"] for p in json.loads(listed.stdout)}
    record = {
        "interpreter": interpreter,
        "python": python,
        "version": answer["version"],
        "implementation": answer["implementation"],
        "build": "free-threaded" if answer["free_threaded"] else "default",
        "platform": answer["platform"],
        "lock_sha256": _lock_digest(lock),
        "packages": installed,
    }
    write_json_atomic(Path(marker), record)
    return record


def _install_checkout(python: str, src: Path) -> None:
    """imgbench from a checkout's ``src``, without its dependencies: a ``.pth`` file naming
    it, which is what an editable install amounts to, without the build (which writes
    ``src/imgbench.egg-info`` into the checkout: two environments built at once would race
    on it)."""
    src = src.resolve()
    if not (src / "imgbench" / "__init__.py").is_file():
        raise ImgbenchError(f"{src}: not an imgbench checkout's src (no imgbench in it)")
    done = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    site = Path(done.stdout.strip())
    site.mkdir(parents=True, exist_ok=True)
    (site / "imgbench-checkout.pth").write_text(f"{src}\n")
    print(f"+ {site / 'imgbench-checkout.pth'}: {src}", flush=True)


def _checked(command: list[str]) -> None:
    print("+ " + " ".join(command), flush=True)
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise ImgbenchError(f"{' '.join(command)} failed (exit status {done.returncode})")


def main(argv: list[str] | None = None) -> int:
    """``python -m imgbench.plan.pythons build ...``: the python_env rule's command."""
    parser = argparse.ArgumentParser(prog="python -m imgbench.plan.pythons")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="make the environment of one interpreter")
    build.add_argument("--interpreter", required=True, help="the interpreter's executable")
    build.add_argument("--lock", required=True, type=Path, help="the constraints file")
    build.add_argument("--venv", required=True, type=Path, help="the venv to make")
    build.add_argument("--marker", required=True, type=Path, help="written last: what it holds")
    build.add_argument("--src", required=True, type=Path, help="the checkout's src folder")
    args = parser.parse_args(argv)
    try:
        record = build_environment(args.interpreter, args.lock, args.venv, args.marker, args.src)
    except ImgbenchError as exc:
        print(f"imgbench: error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.marker}: {record['implementation']} {record['version']}, "
          f"{len(record['packages'])} packages")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
