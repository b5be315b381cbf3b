"""Opening the store a `--db` / `$SIGNET_DB` / `[store] url` value names: a SQLite file or a team
PostgreSQL database (core/store/target.py tells them apart). Services see only the `Store` interface
of core/store/session.py."""

from __future__ import annotations

from pathlib import Path

from core.store.migrations import load_migrations
from core.store.session import Store
from core.store.sqlite_store import open_sqlite_store
from core.store.target import is_team_store, parse_team_target

SCHEMA_VERSION = load_migrations()[-1].version


def open_store(location: str | Path, *, read_only: bool = False, migrate_schema: bool = True) -> Store:
    """Open the store at `location`. A SQLite file is created and migrated as needed; a team
    database must already be initialised at this schema version (`signet store init` / `migrate`)."""
    if isinstance(location, str) and is_team_store(location):
        return open_team_store(location, read_only=read_only)
    return open_sqlite_store(location, read_only=read_only, migrate_schema=migrate_schema)


def open_team_store(url: str, *, read_only: bool = False) -> Store:
    # psycopg is imported only for team stores: a local-file Signet never pays for it.
    from core.store.postgres_schema import check_schema, login_and_roles, store_policy
    from core.store.postgres_store import PostgresStore, connect, open_pool

    target = parse_team_target(url)
    with connect(target) as conn:
        check_schema(conn, target.shown)
        login, held = login_and_roles(conn)
        policy = store_policy(conn)
    return PostgresStore(target, open_pool(target), login=login, held_roles=held, team_policy=policy,
                         read_only=read_only)
