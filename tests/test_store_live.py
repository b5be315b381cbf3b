"""Live team state in core: the team store announces bypass changes on `signet_changes`, a listener
hears them, and a lost connection is a one-line StoreError the caller recovers from by reconnecting."""

from __future__ import annotations

import time

import psycopg
import pytest

from core.bypass.service import approve_bypass, request_bypass
from core.context import open_context
from core.errors import StoreError
from core.store.live import StoreChange, open_listener
from core.store.target import parse_team_target
from tests.support.store import login_url, raw_connection, requester_and_approver

DIGEST = "sha256:" + "ab" * 32
JUSTIFICATION = "Payment outage INC-77: ship the hotfix before the signing pipeline is back"


def heard(listener, wanted, deadline_s: float = 10.0) -> list[StoreChange]:
    """Collect changes until `wanted(changes)` holds or the deadline passes (polling, no sleeps)."""
    changes: list[StoreChange] = []
    deadline = time.monotonic() + deadline_s
    while not wanted(changes) and time.monotonic() < deadline:
        changes += listener.wait(0.2)
    return changes


@pytest.fixture
def team(postgres_server, tmp_path):
    return requester_and_approver(postgres_server, tmp_path)


def test_a_request_and_its_approval_are_announced_to_a_listener(team):
    url, config = team
    listener = open_listener(parse_team_target(login_url(url, "abe")))
    rita = open_context(db=login_url(url, "rita"), config=str(config))
    abe = open_context(db=login_url(url, "abe"), config=str(config))
    try:
        bypass = request_bypass(rita, digest=DIGEST, justification=JUSTIFICATION, ticket="INC-77", duration="1h",
                                function="checkout", region="us-east-1")
        got = heard(listener, lambda c: StoreChange("bypasses", bypass.id) in c)
        assert StoreChange("bypasses", bypass.id) in got
        approve_bypass(abe, bypass.id)
        got = heard(listener, lambda c: {StoreChange("bypass_approvals", bypass.id),
                                         StoreChange("bypasses", bypass.id)} <= set(c))
        assert {StoreChange("bypass_approvals", bypass.id), StoreChange("bypasses", bypass.id)} <= set(got)
    finally:
        listener.close()
        rita.store.close()
        abe.store.close()


def test_a_rolled_back_change_and_stray_payloads_announce_nothing(team):
    url, _ = team
    listener = open_listener(parse_team_target(url))
    try:
        with raw_connection(url) as conn:
            conn.execute("NOTIFY signet_changes, 'not json'")
            with pytest.raises(psycopg.errors.DivisionByZero), conn.transaction():
                conn.execute("NOTIFY signet_changes, '{\"table\": \"bypasses\", \"id\": \"rolled-back\"}'")
                conn.execute("SELECT 1/0")
            conn.execute("NOTIFY signet_changes, '{\"table\": \"bypasses\", \"id\": \"marker\"}'")
        got = heard(listener, lambda c: bool(c))
        assert got == [StoreChange("bypasses", "marker")]
    finally:
        listener.close()


def test_a_terminated_connection_is_a_store_error_and_a_new_listener_works(team, postgres_server):
    url, _ = team
    target = parse_team_target(login_url(url, "abe"))
    listener = open_listener(target)
    with postgres_server.admin() as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'abe'")
    deadline = time.monotonic() + 30
    with pytest.raises(StoreError, match="unreachable"):
        while time.monotonic() < deadline:
            listener.wait(0.2)
    listener.close()
    again = open_listener(target)
    try:
        assert again.wait(0.05) == []
    finally:
        again.close()
