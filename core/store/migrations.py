"""Ordered forward migrations, shipped as SQL files per dialect: data/schema/NNNN_name.sql (SQLite)
and data/schema/postgresql/NNNN_name.sql (the team store, applied by core/store/postgres_schema.py).

Both dialects carry the same migration numbers (a test checks), so "schema version N" means the same
tables everywhere. On SQLite `PRAGMA user_version` holds the number of the last applied migration.
Each migration runs in its own transaction together with the version bump, so a crash leaves either
the old or the new schema.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from itertools import pairwise

from core.errors import SchemaTooNew, StoreError
from core.data_files import shipped

SQLITE_SCHEMA = shipped("schema")
POSTGRESQL_SCHEMA = shipped("schema", "postgresql")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Traversable = SQLITE_SCHEMA) -> list[Migration]:
    found: list[Migration] = []
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        match = _NAME.match(entry.name)
        if not match or not entry.is_file():
            continue
        found.append(Migration(int(match.group(1)), entry.name.removesuffix(".sql"),
                               entry.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if not versions or versions[0] != 1 or any(b <= a for a, b in pairwise(versions)):
        raise StoreError(f"schema migrations in {directory} must start at 0001 and increase: {versions}")
    return found


def too_new(what: str, version: int, latest: int) -> SchemaTooNew:
    return SchemaTooNew(f"{what} has schema version {version}, newer than this Signet understands "
                        f"({latest}); upgrade Signet instead of opening it with an older one")


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: list[Migration] | None = None, *, path: str = "") -> int:
    """Bring the database to the newest schema. Refuses a database newer than this code."""
    migrations = load_migrations() if migrations is None else migrations
    latest = migrations[-1].version if migrations else 0
    version = current_version(conn)
    if version > latest:
        raise too_new(f"database {path}".strip(), version, latest)
    for migration in migrations:
        if migration.version <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # executescript would COMMIT on its own; run statements one by one inside our transaction.
            for statement in _split_sql(migration.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {migration.version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = migration.version
    return version


def _split_sql(script: str) -> list[str]:
    """Split a script into complete statements (triggers contain ';' inside BEGIN...END)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(line.strip().startswith("--") or not line.strip()
                                    for line in buffer.splitlines()):
        raise StoreError("incomplete SQL statement at the end of a migration")
    return statements
