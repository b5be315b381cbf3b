"""Layering of core/: no import cycle between its packages (core.verify, core.sigstore, ...; a
top-level module such as core.context counts as one). Static: every `import` in every file is read
with ast, including imports inside functions and under `if TYPE_CHECKING:` (an import moved into a
function to dodge a cycle is still a cycle).

No exception list: code goes in the layer it belongs to (workflows over several packages in a package
above them, e.g. core.rotation over keys, sign, verify and clusters) instead of importing upwards.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "core"


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "core" and len(parts) > 1 else None


def import_graph() -> dict[tuple[str, str], list[str]]:
    """(importer package, imported package) -> where ("file:line"), for every import in core/."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(CORE.rglob("*.py")):
        module = ".".join(path.relative_to(CORE.parent).with_suffix("").parts).removesuffix(".__init__")
        source = package_of(module)
        if source is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom):  # relative: resolve against this module's package
                base = module.split(".")[:len(module.split(".")) - node.level + (path.name == "__init__.py")]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                continue
            for target in {package_of(n) for n in names} - {None, source}:
                edges[(source, target)].append(f"{path.relative_to(CORE.parent)}:{node.lineno}")
    return edges


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected groups of more than one package (Tarjan)."""
    graph: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(edges):
        graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_core_packages() -> None:
    edges = import_graph()
    problems = []
    for group in cycles(set(edges)):
        inside = sorted((a, b) for a, b in edges if a in group and b in group)
        problems.append(" ; ".join(f"{a} -> {b} ({', '.join(edges[(a, b)][:3])})" for a, b in inside))
    assert not problems, "import cycle between core packages:\n" + "\n".join(problems)


def test_function_level_and_type_checking_imports_are_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanner itself: an import inside a function or under TYPE_CHECKING is an edge."""
    (tmp_path / "core" / "alpha").mkdir(parents=True)
    (tmp_path / "core" / "beta").mkdir()
    (tmp_path / "core" / "alpha" / "a.py").write_text("def late():\n    from core.beta.b import x\n")
    (tmp_path / "core" / "beta" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import core.alpha.a\n")
    monkeypatch.setattr(sys.modules[__name__], "CORE", tmp_path / "core")
    edges = import_graph()
    assert set(edges) == {("core.alpha", "core.beta"), ("core.beta", "core.alpha")}
    assert cycles(set(edges)) == [["core.alpha", "core.beta"]]
