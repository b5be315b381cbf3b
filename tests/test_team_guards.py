"""The team store is the boundary: what alice (signet_operator only) cannot do, even with raw SQL
through psycopg and her own credentials, and what the server records about who acted.

bob and carol are approvers. Each refusal is checked on the database afterwards: nothing changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from core.bypass.service import approve_bypass, request_bypass
from core.clock import FixedClock
from core.config.model import Config
from core.context import SignetContext
from core.errors import PermissionDenied
from core.identity import Role, principal_for
from core.paths import SignetPaths
from tests.support.bypass_world import DIGEST, JUSTIFICATION, START
from tests.support.oci import new_key, push_signed_images, write_public_key
from tests.support.store import chain_status, fresh_team_database, login_url, open_target, raw_connection

ROOT = Path(__file__).resolve().parent.parent
REFUSED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.RaiseException)


@pytest.fixture
def team(postgres_server, tmp_path):
    url = fresh_team_database(postgres_server)
    postgres_server.create_login("alice", "signet_reader", "signet_operator")
    postgres_server.create_login("bob", "signet_reader", "signet_approver")
    postgres_server.create_login("carol", "signet_reader", "signet_approver")
    stores = {}

    def as_(who):
        if who not in stores:
            stores[who] = open_target(login_url(url, who))
        config = Config(identity=who)
        return SignetContext(config=config, store=stores[who], principal=principal_for(config, stores[who]),
                             paths=SignetPaths(db=tmp_path / "x.db", config=tmp_path / "c.toml",
                                               key_store=tmp_path / "keys"), clock=FixedClock(START))

    yield url, as_
    for store in stores.values():
        store.close()


def _raw(url, who):
    return psycopg.connect(login_url(url, who), autocommit=True)


def _request(ctx):
    return request_bypass(ctx, digest=DIGEST, justification=JUSTIFICATION, ticket="INC-1234", duration="2h",
                          function="checkout", region="eu-west-1")


def _insert_approval(conn, bypass_id, *, approver="bob", at="2026-11-22T12:00:00Z"):
    """An approval written with raw SQL, claiming `approver` (the server records its own login instead)."""
    conn.execute("INSERT INTO bypass_approvals (bypass_id, approver, decision, at) VALUES (%s, %s, 'approve', %s)",
                 (bypass_id, approver, at))


def _row(url, bypass_id):
    with raw_connection(url) as conn:
        return conn.execute("SELECT state, requester, digest, justification, starts_at, ends_at FROM bypasses "
                            "WHERE id = %s", (bypass_id,)).fetchone()


def test_alice_cannot_approve_her_own_request_or_any_without_the_approver_role(team):
    url, as_ = team
    bypass = _request(as_("alice"))
    with _raw(url, "alice") as alice:
        with pytest.raises(REFUSED, match="signet_approver"):
            _insert_approval(alice, bypass.id)
        with pytest.raises(REFUSED, match="0 of the 1 approvals"):
            alice.execute("UPDATE bypasses SET state = 'approved', approved_at = requested_at, "
                          "starts_at = requested_at, ends_at = request_expires_at WHERE id = %s", (bypass.id,))
        with pytest.raises(REFUSED, match="approver"):
            alice.execute("UPDATE bypasses SET state = 'denied', closed_at = requested_at WHERE id = %s",
                          (bypass.id,))
        with pytest.raises(REFUSED):
            alice.execute("DELETE FROM bypasses WHERE id = %s", (bypass.id,))
    assert _row(url, bypass.id)[0] == "requested"
    with raw_connection(url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM bypass_approvals").fetchone()[0] == 0


def test_an_approver_cannot_approve_their_own_request(team):
    url, as_ = team
    bypass = _request(as_("bob"))
    with _raw(url, "bob") as bob:
        with pytest.raises(REFUSED, match="cannot approve it"):
            _insert_approval(bob, bypass.id)
    with pytest.raises(PermissionDenied):  # Signet says so first, with its own message
        approve_bypass(as_("bob"), bypass.id)


def test_the_server_records_who_acted_not_the_client(team):
    url, as_ = team
    with _raw(url, "alice") as alice:
        alice.execute("INSERT INTO bypasses (id, state, requester, scope_kind, function_name, region, digest, "
                      "justification, ticket, duration_seconds, requested_at, request_expires_at) VALUES "
                      "('bp-forged', 'requested', 'bob', 'lambda', 'f', 'eu-west-1', %s, 'a good reason here', "
                      "'INC-1', 3600, '2026-11-22T12:00:00.000000Z', '2026-11-22T14:00:00.000000Z')", (DIGEST,))
    with _raw(url, "carol") as carol:
        _insert_approval(carol, "bp-forged", approver="dana", at="2026-11-22T12:05:00Z")
    with raw_connection(url) as conn:
        assert conn.execute("SELECT requester FROM bypasses WHERE id = 'bp-forged'").fetchone()[0] == "alice"
        assert conn.execute("SELECT approver FROM bypass_approvals").fetchone()[0] == "carol"


def test_history_rows_are_recorded_in_the_inserting_logins_name(team, postgres_server):
    """Every reader may insert history (a CI gate does); none may insert it in someone else's name."""
    url, _ = team
    postgres_server.create_login("ci_gate", "signet_reader")
    insert = ("INSERT INTO verifications (at, actor, source, reference, result) "
              "VALUES ('2026-11-22T12:00:00Z', %s, 'gate', 'r/app', 'verified')")
    with _raw(url, "ci_gate") as gate:
        with pytest.raises(REFUSED, match="acting login"):
            gate.execute(insert, ("bob",))
        gate.execute(insert, ("ci_gate",))
    with raw_connection(url) as conn:
        assert conn.execute("SELECT actor FROM verifications").fetchall() == [("ci_gate",)]


def test_request_content_is_frozen_and_a_grant_cannot_be_stretched(team):
    url, as_ = team
    bypass = _request(as_("alice"))
    approve_bypass(as_("bob"), bypass.id)
    before = _row(url, bypass.id)
    assert before[0] == "active"
    with _raw(url, "alice") as alice:
        for change in ("digest = 'sha256:" + "cd" * 32 + "'", "justification = 'something else entirely'",
                       "function_name = 'billing'", "duration_seconds = 86400"):
            with pytest.raises(REFUSED):
                alice.execute(f"UPDATE bypasses SET {change} WHERE id = %s", (bypass.id,))
        with pytest.raises(REFUSED, match="at most 86400 seconds"):
            alice.execute("UPDATE bypasses SET ends_at = '2026-11-30T12:00:00.000000Z' WHERE id = %s", (bypass.id,))
        with pytest.raises(REFUSED, match="cannot be moved"):
            alice.execute("UPDATE bypasses SET starts_at = '2026-11-22T13:00:00.000000Z', "
                          "ends_at = '2026-11-22T15:00:00.000000Z' WHERE id = %s", (bypass.id,))
    assert _row(url, bypass.id) == before


def test_a_request_longer_than_the_store_policy_cap_is_refused(team):
    url, as_ = team
    with raw_connection(url) as admin:
        admin.execute("UPDATE signet_policy SET max_bypass_seconds = 3600")
    with pytest.raises(PermissionDenied, match="at most 3600 seconds"):
        _request(as_("alice"))  # 2h asked; Signet's own config allows 24h, the store does not
    with raw_connection(url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM bypasses").fetchone()[0] == 0


def test_two_approvals_required_by_the_store_policy(team):
    url, as_ = team
    with raw_connection(url) as admin:
        admin.execute("UPDATE signet_policy SET bypass_approvals = 2")
    bypass = _request(as_("alice"))
    with pytest.raises(PermissionDenied, match="1 of the 2 approvals"):
        approve_bypass(as_("bob"), bypass.id)  # Signet's config says 1; the store says 2
    assert _row(url, bypass.id)[0] == "requested"
    with _raw(url, "alice") as alice:
        with pytest.raises(REFUSED):
            alice.execute("UPDATE signet_policy SET bypass_approvals = 1")


@pytest.mark.parametrize("statement", [
    "UPDATE audit SET actor = 'mallory' WHERE seq = 1",
    "DELETE FROM audit WHERE seq = 2",
    "TRUNCATE audit",
    "UPDATE audit SET seq = seq + 10",
    "ALTER TABLE audit DISABLE TRIGGER USER",
    "INSERT INTO audit VALUES (1, 'x', 'alice', 'a', 's', '{}', 'f00', 'feed')",          # out of order
    "INSERT INTO audit SELECT seq + 1, at, 'bob', action, subject, details, hash, 'x' || hash "
    "FROM audit ORDER BY seq DESC LIMIT 1",                                                # someone else's name
])
def test_alice_cannot_rewrite_the_audit_log(team, statement):
    url, as_ = team
    _request(as_("alice"))
    approve_bypass(as_("bob"), _request(as_("alice")).id)
    with raw_connection(url) as conn:
        before = conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    with _raw(url, "alice") as alice:
        with pytest.raises(REFUSED):
            alice.execute(statement)
    with raw_connection(url) as conn:
        assert conn.execute("SELECT * FROM audit ORDER BY seq").fetchall() == before


VERIFIER = r"""
import sys
from core.audit.chain import append_entry
from core.context import open_context
from core.verify.policy import TrustArgs
from core.verify.service import verify_images
from core.verify.verifier import Verifier
ctx = open_context(db=sys.argv[1])
verifier = Verifier.for_args(ctx, TrustArgs(keys=(sys.argv[2],)))
for i in range(int(sys.argv[4])):
    reference = f"{sys.argv[3]}:img-{i}"
    (result,) = verify_images(ctx, [reference], verifier)  # what `signet verify REF` runs, its history row too
    if result.result != "verified":
        sys.exit(f"{reference}: {result.result}: {result.reason}")
    with ctx.store.write() as db:  # and an audited change next to it, as the release gate writes one
        append_entry(db, actor=ctx.actor, action="verify", subject=reference)
ctx.close()
"""
IMAGES = 500


def test_concurrent_verifiers_from_different_roles_keep_every_row_and_one_linear_chain(team, postgres_server,
                                                                                       registry, tmp_path):
    """8 processes x 500 real verifications (each process verifies 500 distinct signed images from a
    cold cache, through the service `signet verify` uses) as an operator, an approver, a custodian and
    a reader-only gate: 4,000 history rows in each login's name and an audit chain that verifies."""
    url, _ = team
    postgres_server.create_login("cleo", "signet_reader", "signet_custodian")
    postgres_server.create_login("ci_gate", "signet_reader")
    key = new_key()
    key_path = write_public_key(tmp_path / "trusted.pub", key)
    push_signed_images(registry.url, "team/app", IMAGES, key)
    config = tmp_path / "config.toml"
    config.write_text("")
    env = {**os.environ, "SIGNET_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    env.pop("SIGNET_IDENTITY", None)
    logins = ["alice", "bob", "cleo", "ci_gate"] * 2
    procs = [subprocess.Popen([sys.executable, "-c", VERIFIER, login_url(url, who), str(key_path),
                               f"{registry.host}/team/app", str(IMAGES)], env=env, cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for who in logins]
    outcomes = [(p.wait(timeout=900), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in outcomes), outcomes
    store = open_target(url)
    rows = store.query("SELECT actor, result, source, COUNT(*) AS n FROM verifications GROUP BY actor, result, source")
    assert sorted((r["actor"], r["result"], r["source"], r["n"]) for r in rows) == [
        (who, "verified", "cli", 2 * IMAGES) for who in sorted(set(logins))]
    status = chain_status(store)
    assert status.intact and status.entries == 8 * IMAGES
    counts = {r["actor"]: r["n"] for r in store.query("SELECT actor, COUNT(*) AS n FROM audit GROUP BY actor")}
    assert counts == {who: 2 * IMAGES for who in logins}
    store.close()


def test_a_signet_that_skips_its_own_role_check_is_still_refused(team, postgres_server):
    url, as_ = team
    postgres_server.create_login("dave", "signet_reader", "signet_operator")
    bypass = _request(as_("dave"))
    alice = as_("alice")
    forced = replace(alice, principal=replace(alice.principal, roles=alice.principal.roles | {Role.APPROVER}))
    with pytest.raises(PermissionDenied, match="signet_approver"):
        approve_bypass(forced, bypass.id)  # a Signet that believes alice is an approver: the database says no
    assert _row(url, bypass.id)[0] == "requested"


def test_the_audit_guard_takes_the_same_lock_as_every_signet_write():
    from core.store.migrations import POSTGRESQL_SCHEMA, load_migrations
    from core.store.postgres_store import WRITE_LOCK

    guards = next(m for m in load_migrations(POSTGRESQL_SCHEMA) if m.name == "0003_team_guards")
    assert f"pg_advisory_xact_lock({WRITE_LOCK})" in guards.sql
