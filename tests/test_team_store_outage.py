"""The team store's server dies (SIGKILL) in the middle of an approval: the approval fails as a
server error (exit 3) with nothing of it stored, and once the server is back the same Signet (its
pool reconnects by itself) approves it. A long outage must not leave the Signet waiting out its
connection pool's backoff after the server is back."""

from __future__ import annotations

import time

import pytest
from psycopg_pool.base import AttemptWithBackoff

import core.bypass.service as service
from core.bypass.model import BypassState
from core.errors import EXIT_EXTERNAL, StoreError
from tests.support.bypass_world import BypassWorld
from tests.support.store import fresh_team_database, open_target, raw_connection


def test_server_killed_mid_approval_leaves_nothing_and_the_retry_succeeds(postgres_server, tmp_path, monkeypatch):
    url = fresh_team_database(postgres_server)
    world = BypassWorld(tmp_path, target=url, server=postgres_server)
    try:
        dev, alice = world.as_("dev"), world.as_("alice")
        bypass = service.request_bypass(dev, digest="sha256:" + "ab" * 32, ticket="INC-1234", duration="2h",
                                        justification="Hotfix for CVE-2026-1234 must ship before the pipeline "
                                                      "is repaired", function="checkout", region="eu-west-1")
        real_set_state = service.set_state

        def killed_midway(*args, **kwargs):  # inside approve's transaction, after the decision row went in
            postgres_server.kill()
            return real_set_state(*args, **kwargs)

        monkeypatch.setattr(service, "set_state", killed_midway)
        with pytest.raises(StoreError) as failed:
            service.approve_bypass(alice, bypass.id)
        assert failed.value.exit_code == EXIT_EXTERNAL and "unreachable" in str(failed.value)
        monkeypatch.setattr(service, "set_state", real_set_state)

        postgres_server.restart_after_kill()
        with raw_connection(url) as conn:
            assert conn.execute("SELECT COUNT(*) FROM bypass_approvals").fetchone()[0] == 0
            assert conn.execute("SELECT state FROM bypasses").fetchone()[0] == "requested"
        outcome = service.approve_bypass(alice, bypass.id)  # same store object: the pool reconnected
        assert outcome.bypass.state is BypassState.ACTIVE and outcome.bypass.approvers == ("alice",)
    finally:
        world.close()


def test_after_a_long_outage_the_next_transaction_does_not_wait_out_the_pool_backoff(postgres_server, monkeypatch):
    # The pool's next reconnect attempt is 10 minutes away, as after an outage of that length (its delay
    # doubles with each failure); a transaction's wait for a pooled connection gives up long before.
    monkeypatch.setattr(AttemptWithBackoff, "INITIAL_DELAY", 600.0)
    store = open_target(fresh_team_database(postgres_server))
    try:
        store.query("SELECT 1")
        postgres_server.stop()
        try:
            with pytest.raises(StoreError, match="unreachable"):
                store.query("SELECT 1")  # on the pooled connection the stop broke
            deadline = time.monotonic() + 30
            while store._pool.get_stats().get("connections_errors", 0) == 0:  # the pool tried, failed, backs off
                assert time.monotonic() < deadline, "the pool never tried to reconnect"
                time.sleep(0.05)
        finally:
            postgres_server.start()
        assert store.query("SELECT 1 AS one") == [{"one": 1}]
    finally:
        store.close()
