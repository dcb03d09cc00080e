"""Module and function sizes of the package: the table the restructuring reports.

    python benchmarks/code_size.py [src/imgbench]

Prints each module's line count, then the longest functions (lines from ``def`` to the
last line of the body, decorators excluded).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def sizes(root: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    modules, functions = [], []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(root.parent).as_posix()
        modules.append((len(text.splitlines()), name))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((node.end_lineno - node.lineno + 1, f"{name}:{node.name}"))
    return sorted(modules, reverse=True), sorted(functions, reverse=True)


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "src/imgbench")
    modules, functions = sizes(root)
    print(f"{len(modules)} modules, {sum(n for n, _ in modules)} lines")
    print(
        f"over 500 lines: {sum(n > 500 for n, _ in modules)}; "
        f"functions over 80 lines: {sum(n > 80 for n, _ in functions)} of {len(functions)}"
    )
    print("\nlargest modules:")
    for n, name in modules[:12]:
        print(f"  {n:5d}  {name}")
    print("\nlongest functions:")
    for n, name in functions[:12]:
        print(f"  {n:5d}  {name}")


if __name__ == "__main__":
    main()
