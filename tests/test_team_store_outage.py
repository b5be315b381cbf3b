"""The team store's server dies (SIGKILL) in the middle of an approval: the approval fails as a
server error (exit 3) with nothing of it stored, and once the server is back the same Signet (its
pool reconnects by itself) approves it."""

from __future__ import annotations

import pytest

import core.bypass.service as service
from core.bypass.model import BypassState
from core.errors import EXIT_EXTERNAL, StoreError
from tests.support.bypass_world import BypassWorld
from tests.support.store import fresh_team_database, raw_connection


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
