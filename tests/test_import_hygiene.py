"""The core and the command line never import Textual: checked in a fresh interpreter each time."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parent.parent
UI_MODULES = ("textual", "tui.app", "tui.screens")


def loaded_after(code: str) -> list[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ui_modules(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == u or m.startswith(u + ".") for u in UI_MODULES)]


def test_every_core_subpackage_imports_without_textual():
    names = ["core"] + [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
    assert len(names) > 50  # the walk found the subpackages and their modules
    modules = loaded_after("\n".join(f"import {name}" for name in names))
    assert "core.demo.builder" in modules and "core.console.dashboard" in modules
    assert ui_modules(modules) == []


def test_signet_verify_help_does_not_import_textual():
    modules = loaded_after("import sys\nfrom click.testing import CliRunner\nfrom tui.cli.main import cli\n"
                           "result = CliRunner().invoke(cli, ['verify', '--help'])\n"
                           "assert result.exit_code == 0, result.output")
    assert "tui.cli.main" in modules
    assert ui_modules(modules) == []


def test_opening_the_console_module_is_what_imports_textual():
    # the positive control: the check above would see Textual if it were imported
    assert "textual" in loaded_after("import tui.app")
