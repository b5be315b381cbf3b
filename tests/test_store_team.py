"""The team store (PostgreSQL) as a backend: what it refuses to open, how its transactions behave,
and its one paramstyle. Runs against the session's throwaway server (tests/support/postgres.py)."""

from __future__ import annotations

import threading

import psycopg
import pytest

from core.errors import ConfigError, SchemaTooNew, StoreError
from core.history.records import append_verifications
from core.store.database import open_store
from core.store.migrations import POSTGRESQL_SCHEMA, Migration, load_migrations
from core.store.postgres_schema import migrate_postgres
from core.store.postgres_store import WRITE_LOCK, to_pyformat
from core.store.target import is_team_store, parse_team_target
from tests.support.store import assert_write_waits_for_the_lock, fresh_team_database, login_url, raw_connection


@pytest.fixture
def team_url(postgres_server):
    return fresh_team_database(postgres_server)


def test_question_marks_become_placeholders_outside_quotes_only():
    assert to_pyformat("SELECT a FROM t WHERE b = ? AND c LIKE '%?%' -- why? 100%\nAND d = ?") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '%%?%%' -- why? 100%%\nAND d = %s")


def test_literal_percent_and_question_mark_reach_the_server_unchanged(team_url):
    store = open_store(team_url)
    with store.write() as db:
        db.execute("INSERT INTO registries (name, url, created_at) VALUES (?, '100%?', ?)", ("r", "t"))
    assert store.query("SELECT url FROM registries WHERE name = ? AND url LIKE '100%'", ("r",)) == [{"url": "100%?"}]
    store.close()


def test_targets_are_recognised_and_passwords_refused():
    assert is_team_store("postgresql://bob@db.example/signet")
    assert is_team_store("service=team")
    assert not is_team_store("/var/lib/signet/signet.db")
    assert parse_team_target("postgresql://bob@db.example:5432/signet").shown == "db.example/signet as bob"
    with pytest.raises(ConfigError, match="contains a password"):
        parse_team_target("postgresql://bob:hunter2@db.example/signet")
    with pytest.raises(ConfigError, match="not a valid PostgreSQL URL"):
        parse_team_target("postgresql://bob@db.example/signet?colour=blue")


def test_an_uninitialised_database_is_refused(postgres_server):
    url = postgres_server.create_database("signet_empty")
    with pytest.raises(ConfigError, match="not initialised.*store init"):
        open_store(url)


def test_another_applications_database_is_refused_and_left_alone(postgres_server):
    url = postgres_server.create_database("someone_elses")
    with raw_connection(url) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
    with pytest.raises(ConfigError, match="another application"):
        open_store(url)
    with raw_connection(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert tables == ["invoices"]


def test_a_newer_schema_is_refused(team_url):
    latest = load_migrations(POSTGRESQL_SCHEMA)[-1].version
    with raw_connection(team_url) as conn:
        conn.execute("UPDATE signet_meta SET value = %s WHERE key = 'schema_version'", (str(latest + 5),))
    with pytest.raises(SchemaTooNew, match="newer than this Signet understands"):
        open_store(team_url)


def test_a_failing_migration_leaves_the_old_schema(team_url):
    migrations = load_migrations(POSTGRESQL_SCHEMA)
    broken = Migration(migrations[-1].version + 1, "broken", "CREATE TABLE half_done (x int);\nTHIS IS NOT SQL;")
    with raw_connection(team_url) as conn:
        with pytest.raises(StoreError, match="migration failed"):
            migrate_postgres(conn, "test", migrations + [broken])
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
        version = conn.execute("SELECT value FROM signet_meta WHERE key = 'schema_version'").fetchone()[0]
    assert int(version) == migrations[-1].version


def test_unreachable_server_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="unreachable"):
        open_store(f"postgresql://nobody@/signet?host={tmp_path}")


def test_writers_queue_on_the_write_lock_instead_of_interleaving(team_url):
    """A write waits while another Signet (here a raw session holding the same lock) is writing."""
    store = open_store(team_url)
    other = psycopg.connect(team_url, autocommit=True)
    other.execute("BEGIN")
    other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
    watcher = psycopg.connect(team_url, autocommit=True)

    def waiting() -> bool:  # the server shows the writer's session waiting for the advisory lock
        return watcher.execute("SELECT COUNT(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                               "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
                               ).fetchone()[0] == 1

    assert_write_waits_for_the_lock(store, waiting=waiting, release=lambda: other.execute("COMMIT"))
    watcher.close()
    other.close()
    store.close()


def test_a_history_append_does_not_queue_on_the_write_lock(team_url, postgres_server):
    """History rows are checked against nothing and chained to nothing: an append commits on its own
    while another Signet holds the write lock (and the audit chain, which does take it, waits). A
    gate's login (signet_reader: history insert only) may append."""
    postgres_server.create_login("gatekeeper", "signet_reader")
    store = open_store(login_url(team_url, "gatekeeper"))
    other = psycopg.connect(team_url, autocommit=True)
    other.execute("BEGIN")
    other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
    done = threading.Event()

    def appender():
        append_verifications(store, [dict(at="2026-11-22T12:00:00Z", actor=store.login, source="gate",
                                          reference="r/x:1", digest=None, result="error")] * 2)
        done.set()

    thread = threading.Thread(target=appender)
    thread.start()
    assert done.wait(10)
    seen = psycopg.connect(team_url, autocommit=True)
    assert seen.execute("SELECT COUNT(*) FROM verifications").fetchone() == (2,)  # committed, lock still held
    other.execute("COMMIT")
    thread.join(10)
    for conn in (seen, other):
        conn.close()
    store.close()


def test_nested_writes_join_and_an_error_rolls_everything_back(team_url):
    store = open_store(team_url)
    with pytest.raises(RuntimeError):
        with store.write() as outer:
            outer.execute("INSERT INTO registries (name, url, created_at) VALUES ('a', 'u', 't')")
            with store.write() as inner:
                assert inner is outer
                inner.execute("INSERT INTO registries (name, url, created_at) VALUES ('b', 'u', 't')")
            raise RuntimeError("boom")
    assert store.query("SELECT COUNT(*) AS n FROM registries") == [{"n": 0}]
    store.close()
