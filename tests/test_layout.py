"""The layout: no import circles, and bench/'s sub-packages import only the floors below them.

Imports are read statically (``ast``), function-level imports included: a lazy import is still a
dependency. ``bench``'s floors, bottom to top: storage, tables, config, loop, instruments, then the
command line (``bench.cli``, ``bench.cliargs``); a package may import its own floor and those below.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "paper", "methods", "segmentation")
FLOORS = ["storage", "tables", "config", "loop", "instruments"]


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(packages=PACKAGES) -> dict[str, set[str]]:
    """``{module: modules of ``packages`` it imports}``, every import statement counted (also inside
    functions); an imported name that is a module counts as that module, else as its package."""
    files = {_module(f): f for pkg in packages for f in (REPO / pkg).rglob("*.py") if "__pycache__" not in f.parts}
    graph = {}
    for mod, path in files.items():
        base = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = base.split(".")[: len(base.split(".")) - node.level + 1]
                    source = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    source = node.module
                targets.add(source)
                targets.update(f"{source}.{a.name}" for a in node.names)
        resolved = set()
        for t in targets:
            while t and t not in files:
                t = t.rpartition(".")[0]
            if t and t != mod and not mod.startswith(t + "."):  # a package's own __init__ is not a cycle
                resolved.add(t)
        graph[mod] = resolved
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan's algorithm)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def _floor(mod: str) -> int | None:
    parts = mod.split(".")
    if parts[0] != "bench":
        return None
    if len(parts) > 1 and parts[1] in FLOORS:
        return FLOORS.index(parts[1])
    return len(FLOORS)  # bench itself, bench.cli, bench.cliargs: the top


@pytest.mark.parametrize("floor", FLOORS)
def test_a_bench_package_imports_only_its_floor_and_those_below(floor):
    graph = import_graph()
    here = FLOORS.index(floor)
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if _floor(m) == here and m.split(".")[1:2] == [floor]
                 for t in ts if _floor(t) is not None and _floor(t) > here
                 and not (m == "bench.instruments.crashserver" and t == "bench.cli"))  # it drives the CLI
    assert bad == []


def test_every_bench_package_says_what_it_owns_and_may_import():
    for floor in FLOORS:
        doc = ast.get_docstring(ast.parse((REPO / "bench" / floor / "__init__.py").read_text()))
        assert doc and "Owns" in doc and "May import" in doc, floor


def test_the_segmentation_task_and_the_tuners_never_import_each_other():
    graph = import_graph()
    for m, ts in graph.items():
        top = m.split(".")[0]
        if top in ("methods", "segmentation"):
            other = {"methods": "segmentation", "segmentation": "methods"}[top]
            assert not [t for t in ts if t.split(".")[0] in (other, "bench", "paper")], m
