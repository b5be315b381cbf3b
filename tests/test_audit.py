"""The audit log: append-only triggers, hash chain, tamper detection, concurrent appenders."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner

from core.audit.chain import GENESIS_HASH, append_entry, export_entries, verify_chain
from core.store.database import open_store
from tui.cli.main import cli


def _fill(path, n=5):
    store = open_store(path)
    for i in range(n):
        with store.write() as db:
            append_entry(db, actor="alice", action="test.action", subject=f"thing-{i}", details={"i": i})
    store.close()


def _tamper(path, *statements):
    """Go around the triggers the way an attacker with file access would."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for sql in statements:
        conn.execute(sql)
    conn.close()


def _verify(path):
    store = open_store(path)
    try:
        return verify_chain(store.db)
    finally:
        store.close()


def test_chain_links_and_hashes(tmp_path):
    _fill(tmp_path / "a.db", 3)
    store = open_store(tmp_path / "a.db")
    entries = list(export_entries(store.db))
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].hash and entries[2].prev_hash == entries[1].hash
    assert verify_chain(store.db).intact
    store.close()


def test_triggers_refuse_update_and_delete(tmp_path):
    _fill(tmp_path / "a.db", 2)
    store = open_store(tmp_path / "a.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM audit WHERE seq = 2")
    assert verify_chain(store.db).intact
    store.close()


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
def test_tampering_around_the_triggers_is_detected(tmp_path, statements, bad_seq):
    path = tmp_path / "a.db"
    _fill(path, 5)
    _tamper(path, *statements)
    status = _verify(path)
    assert not status.intact
    assert status.first_bad_seq == bad_seq


def test_recomputed_hash_does_not_hide_an_edit(tmp_path):
    """Editing an entry and fixing its own hash still breaks the link to the next entry."""
    from core.audit.chain import entry_hash

    path = tmp_path / "a.db"
    _fill(path, 4)
    conn = sqlite3.connect(path)
    row = conn.execute("SELECT seq, at, actor, action, subject, details, prev_hash FROM audit WHERE seq=2").fetchone()
    new_hash = entry_hash(row[0], row[1], "mallory", row[3], row[4], row[5], row[6])
    conn.close()
    _tamper(path, f"UPDATE audit SET actor='mallory', hash='{new_hash}' WHERE seq=2")
    status = _verify(path)
    assert not status.intact and status.first_bad_seq == 3


def test_cli_audit_verify_exit_codes(tmp_path, signet_home):
    path = signet_home / "signet.db"
    _fill(path, 3)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact: 3 entries" in ok.output
    _tamper(path, "UPDATE audit SET subject='other' WHERE seq=2")
    bad = runner.invoke(cli, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "sequence 2" in bad.stderr


def test_cli_audit_export_writes_json_lines(tmp_path, signet_home):
    _fill(signet_home / "signet.db", 3)
    result = CliRunner().invoke(cli, ["audit", "export"])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3]
    assert lines[2]["details"] == {"i": 2} and lines[2]["prev_hash"] == lines[1]["hash"]


APPENDER = r"""
import sys
from core.store.database import open_store
from core.audit.chain import append_entry
store = open_store(sys.argv[1])
for i in range(int(sys.argv[3])):
    with store.write() as db:
        append_entry(db, actor=sys.argv[2], action="concurrent", subject=str(i))
store.close()
"""


def test_two_processes_appending_concurrently_keep_one_chain(tmp_path):
    path = tmp_path / "c.db"
    open_store(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(path), who, "150"])
             for who in ("proc-a", "proc-b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = open_store(path)
    status = verify_chain(store.db)
    assert status.intact, status.reason
    assert status.entries == 300
    counts = {r["actor"]: r["n"] for r in store.query("SELECT actor, COUNT(*) AS n FROM audit GROUP BY actor")}
    assert counts == {"proc-a": 150, "proc-b": 150}
    store.close()


def test_append_outside_a_transaction_is_refused(tmp_path):
    store = open_store(tmp_path / "a.db")
    with pytest.raises(RuntimeError, match="inside a write transaction"):
        append_entry(store.db, actor="a", action="b", subject="c")
    store.close()
