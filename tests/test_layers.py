"""The import graph of the project's packages has no cycle and no upward edge.

Every ``import``/``from ... import`` counts, also those inside functions or under ``TYPE_CHECKING``: a cycle
hidden in a function body is still a cycle a reader has to untangle. Run ``python -m tests.test_layers`` to
print the graph's cycles (or "no cycles").
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "batcher", "proposer", "devnet")
LAYER = {"common": 0, "batcher": 1, "proposer": 1, "devnet": 2}
"""A package may import only from packages of a lower layer or its own (the devnet drives the services)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (a ``from pkg import mod`` names the submodule)."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = project_modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def package_cycle_free(edges: dict[str, set[str]]) -> list[list[str]]:
    """Cycles, ignoring edges into a package's own ``__init__`` (re-exports are not dependencies)."""
    trimmed = {v: {w for w in ws if not v.startswith(w + ".")} for v, ws in edges.items()}
    return cycles(trimmed)


def test_no_import_cycle():
    assert package_cycle_free(graph()) == []


def test_no_import_reaches_up_a_layer():
    upward = [
        (v, w)
        for v, ws in graph().items()
        for w in ws
        if LAYER[w.split(".")[0]] > LAYER[v.split(".")[0]]
        or (LAYER[w.split(".")[0]] == LAYER[v.split(".")[0]] and w.split(".")[0] != v.split(".")[0])
    ]
    assert upward == []


STAGE_IMPORTS = {
    "channels": {"common", "batcher.metrics"},
    "throttling": {"common", "batcher.metrics"},
    "decode": {"common"},
    "publishing": {"common", "batcher.metrics", "batcher.channels"},
    "loading": {
        "common",
        "batcher.metrics",
        "batcher.clients",
        "batcher.driver_config",
        "batcher.channels",
        "batcher.throttling",
    },
}
"""What each stage package of batcher/ may import (its docstring says the same); shadow and bench, the
subcommands on top, may import any stage."""


def _stage_of(module: str) -> str:
    """``batcher.channels.manager`` -> ``batcher.channels``; shell modules stay themselves; others: top."""
    parts = module.split(".")
    if parts[0] != "batcher":
        return parts[0]
    return ".".join(parts[:2]) if len(parts) > 1 else "batcher"


def test_batcher_stages_import_only_what_their_docstring_allows():
    bad = []
    for v, ws in graph().items():
        stage = _stage_of(v)
        allowed = STAGE_IMPORTS.get(stage.removeprefix("batcher."))
        if not stage.startswith("batcher.") or allowed is None:
            continue
        bad += [(v, w) for w in ws if _stage_of(w) != stage and _stage_of(w) not in allowed]
    assert bad == []


def test_the_checker_sees_a_cycle():
    """The checker itself: a two-module loop, a loop through a function-level import."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


if __name__ == "__main__":
    found = package_cycle_free(graph())
    for component in found:
        print(" <-> ".join(component))
    print(f"{len(found)} cycles" if found else "no cycles")
