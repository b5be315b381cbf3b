"""Stores for tests on either backend, and one-snapshot read helpers that work on both.

`store_target` (conftest) is parametrized over "sqlite" and "postgresql": a test that takes it (or
`store_backend`) runs once per backend. On PostgreSQL each test gets a fresh, initialised database on
the session's throwaway server (tests/support/postgres.py), reached as the superuser.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.audit.chain import AuditEntry, ChainStatus, list_entries, verify_chain
from core.history.records import HistoryFilter, HistoryRow, list_history
from core.store.database import open_store
from core.store.session import Store

_counter = itertools.count(1)


def fresh_team_database(server: Any) -> str:
    """A new database on the test server with Signet's schema and group roles; returns its URL."""
    from core.store.admin import initialise_team_store

    name = f"signet_t{os.getpid()}_{next(_counter)}"
    url = server.create_database(name)
    initialise_team_store(url)
    return url


def requester_and_approver(server: Any, home: Path) -> tuple[str, Path]:
    """A fresh team database with logins rita (operator) and abe (approver), and a config file with
    no identity and no [roles] (the database says who is who); returns (admin URL, config path)."""
    url = fresh_team_database(server)
    server.create_login("rita", "signet_reader", "signet_operator")
    server.create_login("abe", "signet_reader", "signet_approver")
    config = home / "config.toml"
    config.write_text("")
    return url, config


def login_url(url: str, user: str) -> str:
    """The same team database, logged in as `user` (its password comes from the test PGPASSFILE)."""
    head, rest = url.split("@", 1)  # the test server's URLs: postgresql://USER@/DB?host=SOCKET_DIR
    return f"{head.rsplit('/', 1)[0]}/{user}@{rest}"


def raw_connection(target: str | Path) -> Any:
    """A plain driver connection (autocommit) going around Signet, as an attacker or admin with
    direct access would: sqlite3 on the file, psycopg as the test server's superuser."""
    if isinstance(target, str):
        import psycopg

        return psycopg.connect(target, autocommit=True)
    import sqlite3

    return sqlite3.connect(target, isolation_level=None)


def disable_audit_triggers(conn: Any) -> None:
    """What someone owning the file or the table can do: switch the append-only guard off."""
    if type(conn).__module__.startswith("sqlite3"):
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("DROP TRIGGER audit_no_delete")
    else:
        conn.execute("ALTER TABLE audit DISABLE TRIGGER USER")


def assert_write_waits_for_the_lock(store: Store, *, waiting: Callable[[], bool],
                                    release: Callable[[], None]) -> None:
    """While someone else holds the write lock, a write on `store` waits for it instead of failing:
    `waiting` must come true (polled with a deadline) with the write neither done nor failed; after
    `release` gives the lock up, the write lands."""
    outcome: list[object] = []

    def writer() -> None:
        try:
            with store.write() as db:
                db.execute("INSERT INTO registries (name, url, created_at) VALUES ('w', 'u', 't')")
            outcome.append("written")
        except Exception as exc:  # noqa: BLE001 - the test reports it below
            outcome.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not waiting():
        assert thread.is_alive() and time.monotonic() < deadline, f"the writer never waited for the lock: {outcome}"
        time.sleep(0.01)  # polling the lock table (or the trace event), not waiting a guessed time
    assert outcome == []  # blocked on the lock: neither written nor failed
    release()
    thread.join(10)
    assert outcome == ["written"]
    assert store.query("SELECT name FROM registries") == [{"name": "w"}]


def open_target(target: str | Path) -> Store:
    return open_store(target if isinstance(target, str) else Path(target))


def chain_status(store: Store) -> ChainStatus:
    with store.read() as db:
        return verify_chain(db)


def audit_entries(store: Store, limit: int = 1000) -> list[AuditEntry]:
    with store.read() as db:
        return list_entries(db, limit=limit)


def history(store: Store, filt: HistoryFilter | None = None, *, limit: int = 200) -> list[HistoryRow]:
    with store.read() as db:
        return list_history(db, filt or HistoryFilter(), limit=limit)
