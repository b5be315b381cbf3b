"""`signet store init|migrate|status|copy` against a real PostgreSQL, and bad store input on the
command line: one line, exit 2 (configuration) or 3 (server), nothing written."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from core.audit.chain import append_entry
from core.history.records import record_verification
from core.store.database import open_store
from tests.support.store import chain_status, fresh_team_database, login_url, open_target, raw_connection
from tui.cli.main import cli


def _run(*args, env=None):
    result = CliRunner().invoke(cli, list(args), env=env)
    assert "Traceback" not in result.output, result.output
    return result


def _one_line_error(result, code):
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("signet: error:"), result.stderr
    return lines[0]


def _local_file(path, n=5):
    store = open_store(path)
    with store.write() as db:
        for i in range(n):
            record_verification(db, at=f"2026-11-22T12:00:{i:02d}.000000Z", actor="dev", source="cli",
                                reference=f"r/app:{i}", digest=f"sha256:{i:064x}", result="verified")
            append_entry(db, actor="dev", action="test.entry", subject=str(i), details={"i": i})
        db.execute("INSERT INTO bypasses (id, state, requester, scope_kind, function_name, region, digest, "
                   "justification, ticket, duration_seconds, requested_at, request_expires_at) VALUES "
                   "('bp-1', 'requested', 'dev', 'lambda', 'f', 'eu-west-1', 'sha256:ab', 'why', 'INC-1', 3600, "
                   "'2026-11-22T12:00:00.000000Z', '2026-11-22T14:00:00.000000Z')")
    store.close()


def test_init_is_idempotent_and_prints_the_grants(postgres_server):
    url = postgres_server.create_database("signet_cli_init")
    first = _run("store", "init", url, "--approver", "bob", "--operator", "alice", "--approvals", "2",
                 "--max-bypass-duration", "8h")
    assert first.exit_code == 0, first.output
    assert "schema version" in first.stdout and "2 approval(s), at most 28800s" in first.stdout
    assert "GRANT signet_approver TO bob;" in first.stdout and "GRANT signet_operator TO alice;" in first.stdout
    again = _run("store", "init", url)
    assert again.exit_code == 0 and "roles created: none" in again.stdout
    with raw_connection(url) as conn:
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'signet_%'")}
        assert roles == {"signet_reader", "signet_operator", "signet_custodian", "signet_approver"}
        assert conn.execute("SELECT pg_has_role('signet_approver', 'signet_reader', 'MEMBER')").fetchone()[0]
        assert conn.execute("SELECT bypass_approvals, max_bypass_seconds FROM signet_policy").fetchone() == (2, 28800)


def test_status_shows_who_the_database_says_you_are(postgres_server, signet_home):
    url = fresh_team_database(postgres_server)
    postgres_server.create_login("olga", "signet_reader", "signet_operator")
    result = _run("--db", login_url(url, "olga"), "store", "status", "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert (status["backend"], status["identity"], status["roles"]) == ("postgresql", "olga", ["operator"])
    assert status["rows"]["audit"] == 0 and status["schema_version"] >= 1


def test_status_of_a_local_file(signet_home):
    (signet_home / "config.toml").write_text('identity = "dana"\n[roles]\napprover = ["dana"]\n')
    result = _run("store", "status", "--json")
    status = json.loads(result.stdout)
    assert (status["backend"], status["identity"], status["roles"]) == ("sqlite", "dana", ["approver"])


def test_configured_identity_disagreeing_with_the_login_is_refused(postgres_server, signet_home):
    url = fresh_team_database(postgres_server)
    postgres_server.create_login("olga", "signet_reader")
    line = _one_line_error(_run("--db", login_url(url, "olga"), "store", "status",
                                env={"SIGNET_IDENTITY": "root-of-all"}), 2)
    assert "disagrees with the team store's login 'olga'" in line


def test_config_show_on_a_team_store_shows_the_login_and_roles_store_status_shows(postgres_server, signet_home):
    url = fresh_team_database(postgres_server)
    with raw_connection(url) as admin:
        admin.execute("UPDATE signet_policy SET bypass_approvals = 2")
    postgres_server.create_login("olga", "signet_reader", "signet_operator")
    (signet_home / "config.toml").write_text('[roles]\napprover = ["olga"]\n\n[policy]\nbypass_approvals = 1\n')
    local = _run("config", "show")  # the local file: the OS user and [roles], as configured
    assert json.loads(local.stdout)["identity_source"] == "config"
    shown = _run("--db", login_url(url, "olga"), "config", "show")
    assert shown.exit_code == 0, shown.output
    config = json.loads(shown.stdout)
    status = json.loads(_run("--db", login_url(url, "olga"), "store", "status", "--json").stdout)
    assert (config["effective_identity"], config["effective_roles"]) == (status["identity"], status["roles"])
    assert (config["effective_identity"], config["effective_roles"], config["identity_source"]) == (
        "olga", ["operator"], "database")  # not the approver [roles] claims
    assert config["policy"]["bypass_approvals"] == 2  # the store's row, as Signet applies it
    assert "[roles] in the config file is ignored" in shown.stderr
    line = _one_line_error(_run("--db", login_url(url, "olga"), "config", "show", env={"SIGNET_IDENTITY": "bob"}), 2)
    assert "disagrees with the team store's login 'olga'" in line


def test_copy_moves_a_local_file_into_an_empty_team_store_with_its_chain(postgres_server, tmp_path):
    source = tmp_path / "local.db"
    _local_file(source)
    url = fresh_team_database(postgres_server)
    result = _run("store", "copy", "--from", str(source), "--to", url, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"]["verifications"] == 5 and report["rows"]["bypasses"] == 1 and report["audit_entries"] == 5
    team = open_target(url)
    status = chain_status(team)
    assert status.intact and status.entries == 5 and status.head_hash == report["head_hash"]
    assert team.query("SELECT reference FROM verifications ORDER BY id DESC LIMIT 1") == [{"reference": "r/app:4"}]
    with team.write() as db:  # the identity sequence moved past the copied ids
        assert record_verification(db, at="2026-11-23T00:00:00Z", actor="x", source="cli", reference="n",
                                   digest=None, result="error") == 6
    team.close()

    refused = _run("store", "copy", "--from", str(source), "--to", url)
    assert "not empty" in _one_line_error(refused, 2)
    appended = _run("store", "copy", "--from", str(source), "--to", url, "--append")
    assert appended.exit_code == 0, appended.output
    team = open_target(url)
    status = chain_status(team)
    assert status.intact and status.entries == 11  # 5 + 5 re-linked + the store.copy entry
    assert team.query("SELECT COUNT(*) AS n FROM verifications") == [{"n": 11}]
    assert team.query("SELECT COUNT(*) AS n FROM bypasses") == [{"n": 1}]
    team.close()


def test_copy_refuses_a_source_with_a_broken_chain_and_writes_nothing(postgres_server, tmp_path):
    source = tmp_path / "local.db"
    _local_file(source)
    conn = sqlite3.connect(source, isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3")
    conn.close()
    url = fresh_team_database(postgres_server)
    result = _run("store", "copy", "--from", str(source), "--to", url)
    assert result.exit_code == 1 and "broken at entry 3" in result.stderr
    team = open_target(url)
    assert team.query("SELECT COUNT(*) AS n FROM verifications") == [{"n": 0}]
    team.close()


def test_migrate_refuses_an_uninitialised_database(postgres_server):
    url = postgres_server.create_database("signet_cli_uninit")
    assert "store init" in _one_line_error(_run("store", "migrate", url), 2)


@pytest.mark.parametrize("case, code, needle", [
    ("malformed", 2, "not a valid PostgreSQL URL"),
    ("password", 2, "contains a password"),
    ("unreachable", 3, "unreachable"),
    ("wrong_password", 2, 'password authentication failed for user "walt"'),
    ("missing_role", 2, 'password authentication failed for user "nobody_here"'),  # the server hides which
    ("foreign", 2, "another application"),
    ("newer", 2, "newer than this Signet"),
    ("uninitialised", 2, "not initialised"),
])
def test_bad_team_store_input_is_one_line_and_writes_nothing(postgres_server, signet_home, tmp_path, case, code,
                                                              needle):
    env = {}
    if case == "malformed":
        url = "postgresql://bob@db.example/signet?colour=blue"
    elif case == "password":
        url = "postgresql://bob:hunter2@db.example/signet"
    elif case == "unreachable":
        url = f"postgresql://bob@/signet?host={tmp_path}"
    elif case == "wrong_password":
        url = fresh_team_database(postgres_server)
        postgres_server.create_login("walt", "signet_reader")
        url, env = login_url(url, "walt"), {"PGPASSWORD": "not-the-password"}
    elif case == "missing_role":
        url = login_url(fresh_team_database(postgres_server), "nobody_here")
    elif case == "foreign":
        url = postgres_server.create_database(f"invoices_{code}_{len(needle)}")
        with raw_connection(url) as conn:
            conn.execute("CREATE TABLE invoices (id int)")
    elif case == "newer":
        url = fresh_team_database(postgres_server)
        with raw_connection(url) as conn:
            conn.execute("UPDATE signet_meta SET value = '9999' WHERE key = 'schema_version'")
    else:
        url = postgres_server.create_database("signet_cli_uninit_bad")
    line = _one_line_error(_run("--db", url, "history", env=env), code)
    assert needle in line
    assert "hunter2" not in line
    if case in ("foreign", "newer", "uninitialised"):  # nothing was created or changed in it
        with raw_connection(url) as conn:
            tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert "verifications" not in tables or case == "newer"


def test_copy_of_a_100k_row_history_keeps_every_row_and_the_chain(postgres_server, tmp_path):
    from core.history.records import record_verifications

    source = tmp_path / "big.db"
    store = open_store(source)
    with store.write() as db:
        record_verifications(db, [dict(at=f"2026-11-{1 + i % 28:02d}T00:00:00.{i:06d}Z", actor="dev", source="sweep",
                                       reference=f"r/app:{i}", digest=f"sha256:{i:064x}", result="verified")
                                  for i in range(100_000)])
        for i in range(50):
            append_entry(db, actor="dev", action="test.entry", subject=str(i))
    store.close()
    url = fresh_team_database(postgres_server)
    result = _run("store", "copy", "--from", str(source), "--to", url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"]["verifications"] == 100_000
    team = open_target(url)
    assert team.query("SELECT COUNT(*) AS n, MAX(id) AS top FROM verifications") == [{"n": 100_000, "top": 100_000}]
    status = chain_status(team)
    assert status.intact and status.entries == 50
    team.close()
