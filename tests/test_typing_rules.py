"""Typing rules mypy cannot state: core/ never types a context, session or source as Any.

Modules mypy does not check yet (pyproject's `ignore_errors` override) are the only exceptions, read from
pyproject.toml so the two lists cannot drift apart.
"""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TYPED_NAMES = ("ctx", "context", "ctx_or_config", "session", "source", "sources")


def unchecked_modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    return [m for o in config.get("overrides", []) if o.get("ignore_errors") for m in o["module"]]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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
    unchecked = unchecked_modules()
    offenders = [hit for path in sorted((ROOT / "core").rglob("*.py"))
                 if not any(fnmatch.fnmatch(module_name(path), pattern) for pattern in unchecked)
                 for hit in any_typed_parameters(path.read_text(), str(path.relative_to(ROOT)))]
    assert offenders == []


def test_the_check_sees_any_typed_contexts_and_sessions():
    probe = "from typing import Any\ndef f(ctx: Any, *, session: Any, n: Any) -> None: ...\n"
    assert any_typed_parameters(probe, "probe.py") == ["probe.py:2 f(ctx: Any)", "probe.py:2 f(session: Any)"]
    assert "core.verify.*" in unchecked_modules()  # the exception list is read from pyproject.toml
