"""The audit log: append-only triggers, hash chain, tamper detection, concurrent appenders.

Every test runs on both store backends (`store_target`: a SQLite file, a team PostgreSQL database)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from core.audit.chain import GENESIS_HASH, append_entry, export_entries
from tests.support.store import chain_status, disable_audit_triggers, open_target, raw_connection
from tui.cli.main import cli


def _fill(path, n=5):
    store = open_target(path)
    for i in range(n):
        with store.write() as db:
            append_entry(db, actor="alice", action="test.action", subject=f"thing-{i}", details={"i": i})
    store.close()


def _tamper(path, *statements):
    """Go around the triggers the way an attacker with file (or table-owner) access would."""
    conn = raw_connection(path)
    disable_audit_triggers(conn)
    for sql in statements:
        conn.execute(sql)
    conn.close()


def _verify(path):
    store = open_target(path)
    try:
        return chain_status(store)
    finally:
        store.close()


def test_chain_links_and_hashes(store_target):
    _fill(store_target, 3)
    store = open_target(store_target)
    with store.read() as db:
        entries = list(export_entries(db))
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].hash and entries[2].prev_hash == entries[1].hash
    assert chain_status(store).intact
    store.close()


@pytest.mark.parametrize("statement", ["UPDATE audit SET actor = 'mallory' WHERE seq = 1",
                                       "DELETE FROM audit WHERE seq = 2"])
def test_triggers_refuse_update_and_delete(store_target, statement):
    _fill(store_target, 2)
    conn = raw_connection(store_target)  # even the table's owner / the file's owner
    with pytest.raises(Exception, match="append-only"):
        conn.execute(statement)
    conn.close()
    assert _verify(store_target).intact


@pytest.mark.parametrize("statements, bad_seq", [
    (["UPDATE audit SET actor = 'mallory' WHERE seq = 3"], 3),
    (["UPDATE audit SET details = '{\"i\":99}' WHERE seq = 2"], 2),
    (["DELETE FROM audit WHERE seq = 2"], 3),
    (["DELETE FROM audit WHERE seq = 1"], 2),
    # an entry inserted in the middle, with a self-consistent hash of its own
    (["UPDATE audit SET seq = seq + 100 WHERE seq >= 3",
      "INSERT INTO audit VALUES (3, '2026-01-01T00:00:00.000000Z', 'mallory', 'x', 'y', '{}', 'f00', 'abc')",
      ], 3),
    # two entries swapped (content reordered, sequence numbers kept)
    (["UPDATE audit SET seq = -2 WHERE seq = 2", "UPDATE audit SET seq = 2 WHERE seq = 3",
      "UPDATE audit SET seq = 3 WHERE seq = -2"], 2),
])
def test_tampering_around_the_triggers_is_detected(store_target, statements, bad_seq):
    path = store_target
    _fill(path, 5)
    _tamper(path, *statements)
    status = _verify(path)
    assert not status.intact
    assert status.first_bad_seq == bad_seq


def test_recomputed_hash_does_not_hide_an_edit(store_target):
    """Editing an entry and fixing its own hash still breaks the link to the next entry."""
    from core.audit.chain import entry_hash

    path = store_target
    _fill(path, 4)
    conn = raw_connection(path)
    row = conn.execute("SELECT seq, at, actor, action, subject, details, prev_hash FROM audit WHERE seq=2").fetchone()
    new_hash = entry_hash(row[0], row[1], "mallory", row[3], row[4], row[5], row[6])
    conn.close()
    _tamper(path, f"UPDATE audit SET actor='mallory', hash='{new_hash}' WHERE seq=2")
    status = _verify(path)
    assert not status.intact and status.first_bad_seq == 3


def test_cli_audit_verify_exit_codes(store_target, signet_home, monkeypatch):
    path = store_target
    monkeypatch.setenv("SIGNET_DB", str(path))
    _fill(path, 3)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact: 3 entries" in ok.output
    _tamper(path, "UPDATE audit SET subject='other' WHERE seq=2")
    bad = runner.invoke(cli, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "sequence 2" in bad.stderr


def test_cli_audit_export_writes_json_lines(store_target, signet_home, monkeypatch):
    monkeypatch.setenv("SIGNET_DB", str(store_target))
    _fill(store_target, 3)
    result = CliRunner().invoke(cli, ["audit", "export"])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3]
    assert lines[2]["details"] == {"i": 2} and lines[2]["prev_hash"] == lines[1]["hash"]


APPENDER = r"""
import sys
from pathlib import Path
from core.store.database import open_store
from core.audit.chain import append_entry
store = open_store(sys.argv[1] if "://" in sys.argv[1] else Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    with store.write() as db:
        append_entry(db, actor=sys.argv[2], action="concurrent", subject=str(i))
store.close()
"""


def test_two_processes_appending_concurrently_keep_one_chain(store_target):
    path = store_target
    open_target(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(path), who, "150"])
             for who in ("proc-a", "proc-b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = open_target(path)
    status = chain_status(store)
    assert status.intact, status.reason
    assert status.entries == 300
    counts = {r["actor"]: r["n"] for r in store.query("SELECT actor, COUNT(*) AS n FROM audit GROUP BY actor")}
    assert counts == {"proc-a": 150, "proc-b": 150}
    store.close()


def test_append_outside_a_transaction_is_refused(store_target):
    """ctx.audit appends into the write transaction open on this thread; there must be one."""
    store = open_target(store_target)
    with pytest.raises(RuntimeError, match="no write transaction"):
        store.current()
    with store.read():
        with pytest.raises(RuntimeError, match="no write transaction"):
            store.current()
    store.close()
