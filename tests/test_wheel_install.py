"""An installed wheel works without the checkout: it finds its schema, builds the demo and verifies.

Offline on purpose: the wheel is built without build isolation, installed with --no-index --no-deps into a
fresh venv, and that venv sees the test environment's dependencies through a .pth line (never its
`core`/`tui`/`data`, which the venv's own site-packages shadow and the test asserts come from the wheel).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from core.store.migrations import POSTGRESQL_SCHEMA, load_migrations

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
SHIPPED = ("pyproject.toml", "README.md", "core", "tui", "data")  # what a source checkout builds from


def run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv outside the checkout with the freshly built wheel installed; returns the venv."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SHIPPED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    built = run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                 "-w", str(root / "dist"), str(source)], cwd=root)
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("signet-*.whl")
    venv = root / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    assert made.returncode == 0, made.stderr
    site = Path(run([str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=root).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "test-dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(deps)))
    done = run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q", "--no-index",
                "--no-deps", "--ignore-installed", str(wheel)], cwd=root)
    assert done.returncode == 0, done.stderr
    return venv


def test_installed_wheel_builds_the_demo_and_verifies_from_another_directory(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(SIGNET_DB=str(tmp_path / "home/signet.db"), SIGNET_CONFIG=str(tmp_path / "home/config.toml"),
               SIGNET_KEY_STORE=str(tmp_path / "home/keys"))

    where = run([str(installed / "bin/python"), "-c", "import core, data, tui; print(core.__file__, data.__file__, "
                 "tui.__file__)"], cwd=elsewhere, env=env)
    assert where.returncode == 0, where.stderr
    assert all(Path(path).is_relative_to(installed) for path in where.stdout.split()), where.stdout
    dialects = run([str(installed / "bin/python"), "-c", "from core.store.migrations import POSTGRESQL_SCHEMA, "
                    "load_migrations; print(len(load_migrations(POSTGRESQL_SCHEMA)))"], cwd=elsewhere, env=env)
    assert dialects.stdout.strip() == str(len(load_migrations(POSTGRESQL_SCHEMA))), dialects.stderr  # subfolders too

    signet = str(installed / "bin/signet")
    demo = tmp_path / "demo"
    built = run([signet, "demo", "--no-open", "--dir", str(demo)], cwd=elsewhere, env=env)
    assert built.returncode == 0, built.stderr
    with sqlite3.connect(demo / "signet.db") as conn:  # every shipped migration was found and applied
        assert conn.execute("PRAGMA user_version").fetchone()[0] == load_migrations()[-1].version

    def verify(image: str) -> tuple[int, dict[str, object]]:
        done = run([signet, "--db", str(demo / "signet.db"), "--config", str(demo / "config.toml"), "verify",
                    "--json", f"oci:{demo}/registry/{image}"], cwd=elsewhere, env=env)
        assert done.stdout, done.stderr
        (result,) = json.loads(done.stdout)
        return done.returncode, result

    code, signed = verify("payments-api:v1.4.2")
    assert (code, signed["result"]) == (0, "verified") and len(signed["matched_keys"]) == 2
    code, tampered = verify("web-frontend:v3.1.0")
    assert (code, tampered["result"]) == (1, "invalid")
