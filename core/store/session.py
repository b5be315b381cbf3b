"""What services talk to: a store (transactions) and the session a transaction yields.

Both backends (the local SQLite file, a team PostgreSQL database) implement these, so a service is
written once:

    with ctx.store.write() as db:          # one transaction; joins an enclosing one on this thread
        row = db.execute("SELECT state FROM keys WHERE id = ?", (key_id,)).fetchone()
        db.insert("key_events", {...})
        ctx.audit(...)
    rows = ctx.store.query("SELECT ... WHERE x = ?", (x,))   # list of dicts, its own snapshot

One paramstyle everywhere: `?` placeholders (the PostgreSQL session translates them). SQL is the
common subset of both dialects; where they differ (JSON access, planner hints) a service asks
`db.dialect` or uses a helper here.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Iterable, Iterator, Protocol, Sequence

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class Cursor(Protocol):
    """What both drivers' cursors offer (read-only attributes: sqlite3 and psycopg set them)."""

    @property
    def description(self) -> Any: ...

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...


class StoreSession(Protocol):
    """One open transaction (or snapshot) on one connection."""

    @property
    def dialect(self) -> str: ...

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]: ...

    def insert(self, table: str, row: dict[str, Any]) -> None: ...

    def bulk_insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Many rows at once (PostgreSQL: COPY); table and columns are ours."""
        ...

    def upsert(self, table: str, row: dict[str, Any], *, key: str) -> None:
        """Insert, or update the row whose `key` column matches."""
        ...

    def table_names(self) -> list[str]: ...


class Store(Protocol):
    # Read-only here (properties), so each backend may narrow them (a local file's login is always None).
    @property
    def backend(self) -> str: ...          # SQLITE | POSTGRESQL

    @property
    def location(self) -> str: ...         # a path, or the URL without any password: safe to show

    @property
    def read_only(self) -> bool: ...

    @property
    def login(self) -> str | None: ...     # who the database authenticated (team store); None for a file

    @property
    def held_roles(self) -> frozenset[str]: ...  # the signet_* group roles `login` is a member of

    @property
    def team_policy(self) -> tuple[int, int] | None: ...  # a team store's bypass policy (approvals, longest s)

    def write(self) -> AbstractContextManager[StoreSession]: ...

    def read(self) -> AbstractContextManager[StoreSession]: ...

    def append(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert `rows` as one atomic statement of its own, not serialized with other writers: only
        for a table no read-then-write check, guard or chain depends on (verification history). In a
        transaction open on this thread, part of that transaction."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def current(self) -> StoreSession:
        """The write transaction open on this thread (ctx.audit appends into it)."""
        ...

    def close(self) -> None: ...


def insert_sql(table: str, columns: Iterable[str]) -> str:
    """INSERT for a row dict; table and column names are ours (code), never input."""
    names = list(columns)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


def upsert_sql(table: str, columns: Iterable[str], key: str) -> str:
    names = list(columns)
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != key)
    return f"{insert_sql(table, names)} ON CONFLICT ({key}) DO UPDATE SET {updates}"


def json_text(dialect: str, column: str, key: str) -> str:
    """SQL for top-level `key` of the JSON text `column` (`key` is ours, never input). `dialect` is
    a session's `dialect` or a store's `backend`."""
    if dialect == POSTGRESQL:
        return f"(({column})::jsonb ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def like(db: StoreSession) -> str:
    """The case-insensitive LIKE of the dialect (SQLite's LIKE already ignores ASCII case)."""
    return "ILIKE" if db.dialect == POSTGRESQL else "LIKE"


def rows_as_dicts(cursor: Cursor) -> Iterator[dict[str, Any]]:
    names = [c[0] for c in cursor.description]
    while batch := cursor.fetchmany(500):
        for raw in batch:
            yield dict(zip(names, raw, strict=True))
