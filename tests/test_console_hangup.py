"""The console leaves when its terminal goes away, whatever runs above it (issue 18).

Each test runs the real `signet` console in a pseudo-terminal under a wrapper that survives the
hang-up (a shell with `trap '' HUP`, or make under it: the console inherits the ignored SIGHUP, so
only the end of its terminal input can tell it), closes the terminal, and checks that the process
is gone within 5 s, spent little CPU meanwhile, and left the database free and whole.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading

import pytest

from core.context import open_context
from tests.support.cluster_world import build_world
from tests.support.kube_api import KubeApiServer
from tests.support.oci import RewritingProxy
from tests.support.pty_console import CONSOLE, PtyConsole, cpu_seconds, wait_gone
from tests.support.store import chain_status

GONE_WITHIN_S = 5.0
MAX_CPU_AFTER_HANGUP_S = 1.0  # the shutdown itself; the old busy loop burnt a CPU second per second
MAX_IDLE_CPU_S = 0.25  # over a 1 s idle window
START_TIMEOUT_S = 60.0
DASHBOARD_COMPLETE = b"nothing due"  # the key panel, the dashboard's last stage


def sh_wrapper(tmp_path) -> str:
    return "trap '' HUP; {console}; echo console-left"


def make_wrapper(tmp_path) -> str:
    # make as in `make demo`; it inherits the ignored SIGHUP and passes it on to the console
    makefile = tmp_path / "console.mk"
    makefile.write_text(f"console:\n\t{CONSOLE}\n")
    return f"trap '' HUP; make -s -f {makefile} console"


@pytest.fixture
def config(signet_home):
    (signet_home / "config.toml").write_text('identity = "alice"\n\n[roles]\noperator = ["alice"]\n')
    return signet_home


def hang_up_and_wait(console: PtyConsole, pid: int) -> None:
    """Close the terminal; the console must be gone within 5 s without burning CPU meanwhile."""
    console.hang_up()
    took, cpu = wait_gone(pid, GONE_WITHIN_S)
    assert cpu < MAX_CPU_AFTER_HANGUP_S, f"{cpu:.2f}s of CPU in the {took:.2f}s after the hang-up"


def assert_database_free_and_whole(path) -> None:
    """Nobody holds the database: a write lock is granted at once, nothing is half-committed, and the
    audit chain still verifies."""
    conn = sqlite3.connect(str(path), timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    ctx = open_context()
    try:
        assert chain_status(ctx.store).intact
    finally:
        ctx.close()


@pytest.mark.parametrize("wrapper", [sh_wrapper, make_wrapper], ids=["sh-trap-hup", "make"])
def test_closing_the_terminal_ends_the_console(config, tmp_path, wrapper):
    console = PtyConsole(wrapper(tmp_path))
    try:
        console.read_until(DASHBOARD_COMPLETE, START_TIMEOUT_S)
        pid = console.console_pid()
        # idle, the console stays near 0% CPU
        before = cpu_seconds(pid)
        console.drain_for(1.0)
        assert cpu_seconds(pid) - before < MAX_IDLE_CPU_S
        hang_up_and_wait(console, pid)
    finally:
        console.close()
    assert_database_free_and_whole(config / "signet.db")


def test_sigterm_ends_the_console_and_resets_the_terminal(config, tmp_path):
    console = PtyConsole(sh_wrapper(tmp_path))
    try:
        console.read_until(DASHBOARD_COMPLETE, START_TIMEOUT_S)
        pid = console.console_pid()
        signal_sent_at = len(console.output)
        os.kill(pid, signal.SIGTERM)
        # the terminal is still there: the console gives it back (alternate screen left) and the
        # wrapper goes on with its next command
        console.read_until(b"console-left", GONE_WITHIN_S)
        assert b"\x1b[?1049l" in console.output[signal_sent_at:]
        wait_gone(pid, GONE_WITHIN_S)
    finally:
        console.close()
    assert_database_free_and_whole(config / "signet.db")


@pytest.fixture
def held_registry(registry):
    """A proxy in front of the real registry that, once `hold` is set, keeps manifest requests
    waiting (a registry that stopped answering): `arrived` is set when one is being held."""
    hold, arrived, release = threading.Event(), threading.Event(), threading.Event()

    def gate(method, path, headers):
        if hold.is_set() and "/manifests/" in path:
            arrived.set()
            release.wait(60)
            return 503, {}, b""
        return None

    with RewritingProxy(registry.url, gate=gate) as proxy:
        proxy.hold, proxy.arrived = hold, arrived
        try:
            yield proxy
        finally:
            release.set()


def test_closing_the_terminal_during_a_sweep(signet_home, held_registry, tmp_path):
    with KubeApiServer() as kube:
        build_world(signet_home, held_registry.url, kube)
        ctx = open_context()
        history_before = ctx.store.query("SELECT COUNT(*) AS n FROM verifications")[0]["n"]
        ctx.close()
        console = PtyConsole(make_wrapper(tmp_path))
        try:
            console.read_until(DASHBOARD_COMPLETE, START_TIMEOUT_S)
            pid = console.console_pid()
            console.type(":")
            console.read_until(b"iew name, e.g.", START_TIMEOUT_S)  # the switcher's input is up
            console.type("clusters\r")
            console.read_until(b"prod-eu", START_TIMEOUT_S)
            held_registry.hold.set()
            console.type("s")
            # the sweep read the cluster and is now verifying: its registry request is held
            assert held_registry.arrived.wait(START_TIMEOUT_S), "the sweep never reached the registry"
            hang_up_and_wait(console, pid)
        finally:
            console.close()
    assert_database_free_and_whole(signet_home / "signet.db")
    ctx = open_context()
    try:
        # the interrupted sweep recorded nothing, not part of its findings
        assert ctx.store.query("SELECT COUNT(*) AS n FROM verifications")[0]["n"] == history_before
        assert not ctx.store.query("SELECT 1 FROM verifications WHERE source = 'sweep'")
    finally:
        ctx.close()
