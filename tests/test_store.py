"""The store: WAL, busy timeout, foreign keys, versioned migrations; the generic behaviour on both
backends (`store_target`), the SQLite file's own pragmas and locking on SQLite."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from core.errors import SchemaTooNew, StoreError
from core.store.database import SCHEMA_VERSION, open_store
from core.store.migrations import (POSTGRESQL_SCHEMA, Migration, current_version, load_migrations, migrate)
from tests.support.store import assert_write_waits_for_the_lock, open_target, raw_connection

EXPECTED_TABLES = {"registries", "clusters", "lambda_functions", "images", "image_tags", "keys", "key_events",
                   "backups", "rotations", "bypasses", "bypass_approvals", "verifications", "audit"}


def test_new_database_is_migrated_to_latest_with_all_tables(store_target):
    store = open_target(store_target)
    with store.read() as db:
        assert EXPECTED_TABLES <= set(db.table_names())
    store.close()
    if isinstance(store_target, Path):
        conn = sqlite3.connect(store_target)
        assert current_version(conn) == SCHEMA_VERSION
        conn.close()
    else:
        with raw_connection(store_target) as conn:
            version = conn.execute("SELECT value FROM signet_meta WHERE key = 'schema_version'").fetchone()[0]
        assert int(version) == load_migrations(POSTGRESQL_SCHEMA)[-1].version


def test_both_dialects_carry_the_same_migration_numbers():
    """"Schema version N" means the same tables on a file and on a team store."""
    assert [m.version for m in load_migrations()] == [m.version for m in load_migrations(POSTGRESQL_SCHEMA)]


# What each migration was when it landed (sha256 of its text). A landed migration never changes: a
# database migrated by it keeps what it ran, so an edit would make two stores at one version differ. A
# new migration adds its line here. (PostgreSQL 0001's comment points at "migration 0015" for the
# bypass guards; they landed as 0003. The comment stays as it landed.)
LANDED_MIGRATIONS = {
    "0001_initial": "f0d784a855ed085a1f4be911d730424f29ff30debb6558fc26be020c347e7ed9",
    "0002_policy_files": "bf05af7cae2d5f57e77d399d63c07e41d5d91e4a5cb33b79ac711e62fc97fb28",
    "0003_team_guards": "60d46d7d911312e7f91049cfd61ea9dcb633ab375393ea1082eae39cf0b83938",
    "0004_live_changes": "2ed6a25074ed9cf67343386a286ae63102e2a54b926414f4df9dccc398b08f52",
    "0005_reader_gates": "325c820e51b9046995f7d6686cbf59a110a427b175cff34e971d7d0744977624",
    "postgresql/0001_initial": "9fe966567e1dd61a19b8164741bfdf10152ce46f3086f4413a173145ee408f53",
    "postgresql/0002_policy_files": "2e4126c859801df76f2a58b21b7dfd9456eda1fb8b2a0760d086403d3d54f15c",
    "postgresql/0003_team_guards": "a948bd7a7325d7996c5a596c1277d881ef8ce16534e770e4c06dbfe3690a598d",
    "postgresql/0004_live_changes": "0713fecb94377473aae2592783294be8d4deaad797ada95aa34976dbd5bfc80d",
    "postgresql/0005_reader_gates": "359ea0e3811be2d86c10e5f3dcc6515d7dc8772ba0554a20a13c0ec993f7f6c5",
}


def test_landed_migrations_are_never_edited():
    shipped = {**{m.name: m for m in load_migrations()},
               **{f"postgresql/{m.name}": m for m in load_migrations(POSTGRESQL_SCHEMA)}}
    hashes = {name: hashlib.sha256(m.sql.encode()).hexdigest() for name, m in shipped.items()}
    assert {name: hashes.get(name) for name in LANDED_MIGRATIONS} == LANDED_MIGRATIONS, "a landed migration changed"
    assert set(hashes) == set(LANDED_MIGRATIONS), "a new migration: add its sha256 to LANDED_MIGRATIONS"


def test_pragmas_wal_busy_timeout_foreign_keys(tmp_path):
    store = open_store(tmp_path / "s.db")
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    store.close()


def test_foreign_keys_are_enforced(store_target):
    store = open_target(store_target)
    with pytest.raises(Exception, match="(?i)foreign key"):
        with store.write() as db:
            db.execute("INSERT INTO key_events (key_id, at, actor, event) VALUES ('nope', 'x', 'a', 'e')")
    assert store.query("SELECT COUNT(*) AS n FROM key_events") == [{"n": 0}]
    store.close()


def test_migrating_from_an_older_schema_keeps_data(tmp_path):
    """A v1 database with rows is carried forward by a newer migration without losing them."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrations = load_migrations()
    migrate(conn, migrations[:1])
    conn.execute("INSERT INTO registries (name, url, created_at) VALUES ('r', 'https://r.example', 't')")
    extra = Migration(migrations[-1].version + 1, "test_extra",
                      "ALTER TABLE registries ADD COLUMN note TEXT;\nUPDATE registries SET note = 'kept';")
    version = migrate(conn, migrations + [extra])
    assert version == extra.version
    assert conn.execute("SELECT name, note FROM registries").fetchall() == [("r", "kept")]
    conn.close()


def test_a_failing_migration_leaves_the_old_schema(tmp_path):
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrations = load_migrations()
    migrate(conn, migrations)
    broken = Migration(migrations[-1].version + 1, "broken",
                       "CREATE TABLE half_done (x);\nTHIS IS NOT SQL;")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, migrations + [broken])
    assert current_version(conn) == migrations[-1].version
    assert "half_done" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()


def test_newer_database_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer than this Signet understands"):
        open_store(path)


def test_not_a_database_is_a_store_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not usable"):
        open_store(path)


def test_write_rolls_back_on_error(store_target):
    store = open_target(store_target)
    with pytest.raises(RuntimeError):
        with store.write() as db:
            db.execute("INSERT INTO registries (name, url, created_at) VALUES ('a', 'u', 't')")
            raise RuntimeError("boom")
    assert store.query("SELECT COUNT(*) AS n FROM registries")[0]["n"] == 0
    store.close()


def test_locked_database_waits_for_the_writer_instead_of_failing(tmp_path):
    """A second connection holding the write lock briefly does not make our write fail."""
    import threading

    path = tmp_path / "s.db"
    store = open_store(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    began = threading.Event()  # the writer's BEGIN IMMEDIATE has started: it is at the lock
    store.conn.set_trace_callback(lambda sql: sql == "BEGIN IMMEDIATE" and began.set())
    assert_write_waits_for_the_lock(store, waiting=began.is_set, release=lambda: other.execute("COMMIT"))
    other.close()
    store.close()


def test_migration_files_are_numbered_in_order():
    versions = [m.version for m in load_migrations()]
    assert versions[0] == 1 and versions == sorted(set(versions))


def test_database_directory_is_private(tmp_path):
    target = tmp_path / "deep" / "dir" / "s.db"
    open_store(target).close()
    assert (target.parent.stat().st_mode & 0o077) == 0
