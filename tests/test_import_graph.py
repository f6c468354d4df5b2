"""The package's architecture, checked on the source: no runtime import cycle, imports
run one way between the core's subpackages, built-in plugins use only the public API,
and the subpackages' ``__init__`` files import nothing (so importing one module never
loads the others, nor torch)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import import_graph  # noqa: E402

SUBPACKAGES = ("commands", "engine", "imaging", "models", "packs", "tiling", "webui")
#: subpackage -> subpackages it must never import (at run time).
FORBIDDEN = {
    "engine": {"commands", "webui"},
    "models": {"commands", "engine", "packs", "webui"},
    "packs": {"commands", "engine", "webui"},
    "tiling": {"commands", "engine", "models", "packs", "imaging", "webui"},
    "imaging": {"commands", "engine", "models", "packs", "tiling", "webui"},
}
PLUGINS = ("stylepipe_basic", "stylepipe_style", "stylepipe_sr", "stylepipe_local", "stylepipe_ray")


@pytest.fixture(scope="module")
def graphs() -> tuple[import_graph.Graph, import_graph.Graph]:
    return import_graph.build_graphs()


def subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "stylepipe" and len(parts) > 2 else None


def test_no_runtime_import_cycle(graphs) -> None:
    runtime, _ = graphs
    assert import_graph.cycles(runtime) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_graph.cycles(graph) == [["a", "b", "c"]]


def test_imports_run_one_way_between_subpackages(graphs) -> None:
    runtime, _ = graphs
    wrong = [
        f"{module} -> {target}"
        for module, targets in runtime.items()
        for target in targets
        if subpackage(target) in FORBIDDEN.get(subpackage(module) or "", set())
    ]
    assert wrong == []


def test_builtin_plugins_import_only_the_public_api(graphs) -> None:
    _, static = graphs
    private = [
        f"{module} -> {target}"
        for module, targets in static.items()
        if module.split(".")[0] in PLUGINS
        for target in targets
        if target.startswith("stylepipe.")
    ]
    assert private == []


def test_subpackage_init_files_import_nothing() -> None:
    root = import_graph.PACKAGES["stylepipe"]
    for name in SUBPACKAGES:
        tree = ast.parse((root / name / "__init__.py").read_text(encoding="utf-8"))
        modules = {
            alias.name if isinstance(node, ast.Import) else node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        allowed = {"__future__"}
        if name == "commands":  # the hook that adds the built-in commands
            allowed |= {"argparse", "importlib", "stylepipe.hookspecs"}
        assert modules <= allowed, name


def test_public_api_names_resolve_and_are_documented() -> None:
    import stylepipe

    docs = (import_graph.REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    missing = [name for name in stylepipe.__all__ if f"`{name}`" not in docs]
    assert missing == []
    for name in stylepipe.__all__:
        assert getattr(stylepipe, name) is not None
