"""The local SQLite file: WAL, busy timeout, foreign keys on.

Writes go through `SqliteStore.write()`, a `BEGIN IMMEDIATE` transaction: it takes the write lock up
front, so two processes never interleave a read-then-write (the audit chain relies on this), and a
busy database waits up to the busy timeout instead of failing at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from core.errors import StoreError
from core.store.migrations import migrate
from core.store.session import SQLITE, insert_sql, rows_as_dicts, upsert_sql

BUSY_TIMEOUT_S = 30.0


class SqliteSession:
    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        return rows_as_dicts(self.conn.execute(sql, tuple(params)))

    def insert(self, table: str, row: dict[str, Any]) -> None:
        self.conn.execute(insert_sql(table, row), tuple(row.values()))

    def bulk_insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(insert_sql(table, columns), rows)

    def upsert(self, table: str, row: dict[str, Any], *, key: str) -> None:
        self.execute(upsert_sql(table, row, key), tuple(row.values()))

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


class SqliteStore:
    backend = SQLITE
    login = None  # a local file authenticates nobody: identity comes from the configuration
    held_roles: frozenset[str] = frozenset()
    team_policy = None  # a local file's bypass policy is the configuration's

    def __init__(self, path: Path, conn: sqlite3.Connection, *, read_only: bool = False) -> None:
        self.path = path
        self.location = str(path)
        self.conn = conn
        self.session = SqliteSession(conn)
        self.read_only = read_only
        # One connection may be shared by console threads; sqlite3 objects are not re-entrant.
        self._lock = threading.RLock()
        self._depth = 0
        self._writing = False

    @contextmanager
    def write(self) -> Iterator[SqliteSession]:
        """A write transaction. Nested use joins the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.session
                finally:
                    self._depth -= 1
                return
            self._begin_immediate()
            self._depth, self._writing = 1, True
            try:
                yield self.session
            except BaseException:
                self._depth, self._writing = 0, False
                self.conn.execute("ROLLBACK")
                raise
            self._depth, self._writing = 0, False
            self._commit()

    @contextmanager
    def read(self) -> Iterator[SqliteSession]:
        """A consistent snapshot for several reads (WAL readers never block the writer)."""
        with self._lock:
            if self._depth:
                yield self.session
                return
            self.conn.execute("BEGIN")
            try:
                yield self.session
            finally:
                self.conn.execute("COMMIT")

    def append(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """One write transaction: a local file has one writer at a time anyway."""
        with self.write() as db:
            db.bulk_insert(table, columns, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.session.query(sql, params))

    def current(self) -> SqliteSession:
        if not self._writing:
            raise RuntimeError("no write transaction is open (use `with store.write()`)")
        return self.session

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def _begin_immediate(self) -> None:
        # sqlite's own busy handler does the waiting; this loop only covers the rare case where
        # the handler is bypassed (SQLITE_BUSY on lock upgrade in WAL), within the same deadline.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StoreError(f"database {self.path}: {exc}") from None
                if time.monotonic() > deadline:
                    raise StoreError(f"database {self.path} stayed locked for {BUSY_TIMEOUT_S:.0f}s; "
                                     "another Signet process is holding it") from None
                time.sleep(0.05)

    def _commit(self) -> None:
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self.conn.execute("ROLLBACK")
            raise StoreError(f"database {self.path}: commit failed: {exc}") from None


def open_sqlite_store(path: str | Path, *, read_only: bool = False, migrate_schema: bool = True) -> SqliteStore:
    """Open (creating if needed) and migrate the database file at `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"database {path}: could not switch to WAL mode (got {mode})")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        if migrate_schema:
            migrate(conn, path=str(path))
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"database {path} is not usable: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return SqliteStore(path, conn, read_only=read_only)
