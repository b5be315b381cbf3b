"""A typing rule mypy cannot state: core/ never types a context, session or source as Any."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TYPED_NAMES = ("ctx", "context", "session", "source", "sources")


def any_typed_parameters(source: str, where: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if arg.arg in TYPED_NAMES and isinstance(arg.annotation, ast.Name) and arg.annotation.id == "Any":
                    found.append(f"{where}:{arg.lineno} {node.name}({arg.arg}: Any)")
    return found


def test_no_context_session_or_source_is_typed_any_in_core():
    paths = sorted((ROOT / "core").rglob("*.py"))
    assert len(paths) > 100
    offenders = [hit for path in paths for hit in any_typed_parameters(path.read_text(), str(path.relative_to(ROOT)))]
    assert offenders == []


def test_the_check_sees_any_typed_contexts_and_sessions():
    probe = "from typing import Any\ndef f(ctx: Any, *, session: Any, n: Any) -> None: ...\n"
    assert any_typed_parameters(probe, "probe.py") == ["probe.py:2 f(ctx: Any)", "probe.py:2 f(session: Any)"]
