"""kill -9 at a chosen point: run a Python child that prints `holding` where it should die, SIGKILL it
there, then check what it left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Mapping

from core.context import SignetContext
from tests.support.store import chain_status

REPO = Path(__file__).resolve().parent.parent.parent


def kill_at_marker(code: str, *args: str, env: Mapping[str, str] | None = None, line_timeout: float) -> None:
    """Run `python -c code args...` in the repository, wait (at most `line_timeout` s) for its first
    stdout line, which must be `holding`, then SIGKILL it and check it died of the signal."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=dict(env or os.environ),
                            text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(line_timeout, proc.kill)  # a child that never reports cannot hang us
    watchdog.start()
    try:
        line = proc.stdout.readline().strip()
    finally:
        watchdog.cancel()
    assert line == "holding", proc.stderr.read()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        pipe.close()


def assert_store_intact(ctx: SignetContext) -> None:
    """After a crash: SQLite's integrity check is ok and the audit chain verifies."""
    assert ctx.store.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert chain_status(ctx.store).intact
