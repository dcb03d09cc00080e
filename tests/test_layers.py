"""The package's architecture, checked: the layers contract and no import cycles.

The contract is in ``pyproject.toml`` (``[tool.importlinter]``) with no exceptions listed:
a module imports only from layers below its own. Lazy imports inside functions count too.
"""

import grimp
from importlinter.cli import lint_imports

from tests.helpers import ROOT


def test_nothing_imports_upward():
    # lint_imports prints the broken contract, with each offending import, on failure.
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every module that can reach itself, with one path that does."""
    found = []
    for start in sorted(graph.modules):
        if not start.startswith("imgbench"):
            continue
        stack, seen = [(start, [start])], set()
        while stack:
            module, path = stack.pop()
            for nxt in graph.find_modules_directly_imported_by(module):
                if nxt == start:
                    found.append([*path, start])
                    stack = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return found


def test_no_import_cycles():
    graph = grimp.build_graph("imgbench")
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
