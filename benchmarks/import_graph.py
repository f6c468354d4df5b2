"""The import graph of stylepipe's own packages: modules per folder and import cycles.

Reads the source with :mod:`ast` (nothing is imported). Two graphs are built:

* ``runtime``: every import that runs, at module level or inside a function (a deferred
  import still ties two modules together when it runs); imports under
  ``if TYPE_CHECKING:`` are left out;
* ``static``: the same plus the ``TYPE_CHECKING`` imports (what a reader has to hold in
  mind to understand a module).

A cycle is a strongly connected component of more than one module. Prints a summary;
``--json`` writes it for scripts. Also used by ``tests/test_import_graph.py``.

    .venv/bin/python benchmarks/import_graph.py [--json PATH]
"""

from __future__ import annotations

import argparse
import ast
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: Import package -> its folder in the repository.
PACKAGES: dict[str, Path] = {
    "stylepipe": REPO / "stylepipe",
    "stylepipe_basic": REPO / "plugins" / "stylepipe_basic",
    "stylepipe_style": REPO / "plugins" / "stylepipe_style",
    "stylepipe_sr": REPO / "plugins" / "stylepipe_sr",
    "stylepipe_local": REPO / "plugins" / "stylepipe_local",
    "stylepipe_ray": REPO / "plugins" / "stylepipe_ray",
    "stylepipe_training": REPO / "training" / "stylepipe_training",
}
Graph = dict[str, set[str]]


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of :data:`PACKAGES`."""
    found: dict[str, Path] = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, typing_only: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every import node with whether it sits under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, typing_only
        elif isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), typing_only)
        else:
            yield from _imports(node, typing_only)


def _targets(module: str, is_package: bool, node: ast.AST) -> list[str]:
    """Dotted names an import node refers to (modules, or module.attribute)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def build_graphs(files: Mapping[str, Path] | None = None) -> tuple[Graph, Graph]:
    """(runtime, static) graphs over our own modules."""
    files = module_files() if files is None else files
    runtime: Graph = {m: set() for m in files}
    static: Graph = {m: set() for m in files}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        for node, typing_only in _imports(tree):
            for target in _targets(module, is_package, node):
                if target in files and target != module:
                    static[module].add(target)
                    if not typing_only:
                        runtime[module].add(target)
    return runtime, static


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def folder_counts(files: Mapping[str, Path]) -> dict[str, int]:
    """Modules per folder, relative to the repository root."""
    counts = Counter(str(path.parent.relative_to(REPO)) for path in files.values())
    return dict(sorted(counts.items()))


def summary() -> dict[str, object]:
    files = module_files()
    runtime, static = build_graphs(files)
    return {
        "modules": len(files),
        "folders": folder_counts(files),
        "runtime_cycles": cycles(runtime),
        "static_cycles": cycles(static),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the summary as JSON")
    args = parser.parse_args()
    result = summary()
    print(f"{result['modules']} modules")
    for folder, count in result["folders"].items():  # type: ignore[attr-defined]
        print(f"  {count:3d}  {folder}/")
    for kind in ("runtime", "static"):
        found = result[f"{kind}_cycles"]
        assert isinstance(found, list)
        print(f"{kind} cycles: {len(found)}")
        for component in found:
            print(f"  {len(component)} modules: {', '.join(component)}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
