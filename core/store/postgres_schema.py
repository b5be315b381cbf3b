"""The team store's schema: group roles, versioned migrations, and the checks made on every open.

`signet_meta` holds ('application', 'signet') and ('schema_version', N), the PostgreSQL counterpart of
SQLite's `PRAGMA user_version`; a database without it but with tables belongs to something else and is
never touched. Migrations run one transaction each (DDL is transactional here) under an advisory lock,
so two `store migrate` runs cannot interleave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from core.errors import ConfigError, PermissionDenied, StoreError
from core.store.migrations import POSTGRESQL_SCHEMA, Migration, load_migrations, too_new

GROUP_ROLES = ("signet_reader", "signet_operator", "signet_custodian", "signet_approver")
MIGRATE_LOCK = 0x5349474E4554 + 1


@dataclass(frozen=True)
class SchemaState:
    version: int        # 0: nothing of Signet's yet
    foreign_tables: int  # tables in the schema when signet_meta is missing (another application's)


def postgres_migrations() -> list[Migration]:
    return load_migrations(POSTGRESQL_SCHEMA)


def one_row(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    """The row of a query that always answers one (an aggregate, a session fact, the policy row)."""
    found = conn.execute(query, params).fetchone()
    if found is None:
        raise StoreError(f"team store: no row for {query[:80]!r} (is this a Signet database?)")
    return found


def schema_state(conn: psycopg.Connection) -> SchemaState:
    has_meta = one_row(conn, "SELECT to_regclass('signet_meta') IS NOT NULL")[0]
    if not has_meta:
        tables = one_row(conn, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")[0]
        return SchemaState(0, int(tables))
    row = conn.execute("SELECT value FROM signet_meta WHERE key = 'schema_version'").fetchone()
    app = conn.execute("SELECT value FROM signet_meta WHERE key = 'application'").fetchone()
    if app is None or app[0] != "signet":
        return SchemaState(0, 1)
    return SchemaState(int(row[0]) if row else 0, 0)


def check_schema(conn: psycopg.Connection, where: str) -> int:
    """Refuse anything but a Signet database at exactly this code's schema version."""
    latest = postgres_migrations()[-1].version
    state = schema_state(conn)
    if state.foreign_tables:
        raise ConfigError(f"team store {where} holds another application's tables (no Signet schema); "
                          "point Signet at its own database")
    if state.version == 0:
        raise ConfigError(f"team store {where} is not initialised: an administrator runs `signet store init URL`")
    if state.version > latest:
        raise too_new(f"team store {where}", state.version, latest)
    if state.version < latest:
        raise ConfigError(f"team store {where} has schema version {state.version}, this Signet needs {latest}: "
                          "an administrator runs `signet store migrate`")
    return state.version


def login_and_roles(conn: psycopg.Connection) -> tuple[str, frozenset[str]]:
    """The login the server authenticated, and which signet_* group roles it is a member of."""
    login = one_row(conn, "SELECT session_user")[0]
    held = frozenset(r[0] for r in conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND pg_has_role(session_user, oid, 'MEMBER')",
        (list(GROUP_ROLES),)))
    return str(login), held


def store_policy(conn: psycopg.Connection) -> tuple[int, int]:
    """The team's bypass policy row: (approvals needed, longest bypass in seconds)."""
    approvals, max_seconds = one_row(conn, "SELECT bypass_approvals, max_bypass_seconds FROM signet_policy")
    return int(approvals), int(max_seconds)


def ensure_roles(conn: psycopg.Connection, where: str) -> list[str]:
    """Create the NOLOGIN group roles that are missing (idempotent); returns those created."""
    created = []
    try:
        for role in GROUP_ROLES:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                continue
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
            created.append(role)
        for role in GROUP_ROLES[1:]:  # every other group reads too
            if not one_row(conn, "SELECT pg_has_role(%s, 'signet_reader', 'MEMBER')", (role,))[0]:
                conn.execute(sql.SQL("GRANT signet_reader TO {}").format(sql.Identifier(role)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PermissionDenied(f"team store {where}: creating the signet_* roles needs CREATEROLE (run "
                               f"`store init` as an admin): {exc.diag.message_primary}") from None
    return created


def migrate_postgres(conn: psycopg.Connection, where: str, migrations: list[Migration] | None = None) -> int:
    """Apply pending migrations; the connection is autocommit and owns (or may create) the schema."""
    migrations = postgres_migrations() if migrations is None else migrations
    latest = migrations[-1].version
    state = schema_state(conn)
    if state.foreign_tables:
        raise ConfigError(f"team store {where} holds another application's tables; refusing to add Signet's")
    if state.version > latest:
        raise too_new(f"team store {where}", state.version, latest)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS signet_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("INSERT INTO signet_meta VALUES ('application', 'signet') ON CONFLICT DO NOTHING")
            conn.execute("INSERT INTO signet_meta VALUES ('schema_version', '0') ON CONFLICT DO NOTHING")
            conn.execute("GRANT SELECT ON signet_meta TO signet_reader")
        version = schema_state(conn).version
        for migration in migrations:
            if migration.version <= version:
                continue
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                # Re-read under the lock: another `store migrate` may have applied it meanwhile.
                if schema_state(conn).version >= migration.version:
                    continue
                if _has_statements(migration.sql):  # a comment-only file keeps the numbers in step
                    conn.execute(migration.sql.encode("utf-8"))  # a script: several statements, no parameters
                conn.execute("UPDATE signet_meta SET value = %s WHERE key = 'schema_version'",
                             (str(migration.version),))
            version = migration.version
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PermissionDenied(f"team store {where}: migrating needs the database owner or an admin: "
                               f"{exc.diag.message_primary}") from None
    except psycopg.Error as exc:
        raise StoreError(f"team store {where}: migration failed: {str(exc).strip().splitlines()[0]}") from None
    return version


def _has_statements(script: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in script.splitlines())
