"""Bypass workflow in core: who may do what, when it counts, and that every step is audited."""

from __future__ import annotations

import threading

import pytest

from core.bypass.coverage import Standing, active_bypass_for, standing_at
from core.bypass.model import BypassState
from core.bypass.service import (approve_bypass, deny_bypass, get_bypass, list_bypasses, request_bypass,
                                 revoke_bypass, settle_due)
from core.errors import InputError, InvalidState, PermissionDenied, ReadOnlyMode
from tests.support.bypass_world import DIGEST, JUSTIFICATION, NEIGHBOUR, BypassWorld
from tests.support.store import audit_entries, chain_status


@pytest.fixture
def new_world(tmp_path, store_target, request):
    """BypassWorld(**options) on the test's backend; on the team store each person logs in as their
    own database role."""
    server = request.getfixturevalue("postgres_server") if isinstance(store_target, str) else None
    return lambda **options: BypassWorld(tmp_path, target=store_target, server=server, **options)


@pytest.fixture
def world(new_world):
    w = new_world()
    yield w
    w.close()


def _request(ctx, **overrides):
    args = dict(digest=DIGEST, justification=JUSTIFICATION, ticket="INC-1234", duration="2h",
                function="checkout", region="eu-west-1")
    args.update(overrides)
    return request_bypass(ctx, **args)


def _actions(world, bypass_id):
    entries = audit_entries(world.store, limit=1000)
    return [e.action for e in reversed(entries) if e.subject == f"bypass:{bypass_id}"]


def test_request_records_requester_and_grants_nothing(world):
    bypass = _request(world.as_("dev"))
    assert bypass.state is BypassState.REQUESTED and bypass.requester == "dev"
    assert bypass.id.startswith("bp-")
    assert active_bypass_for(world.as_("dev"), digest=DIGEST, function="checkout", region="eu-west-1") is None
    assert _actions(world, bypass.id) == ["bypass.request"]


def test_request_refused_in_read_only_mode(world):
    with pytest.raises(ReadOnlyMode):
        _request(world.as_("dev", read_only=True))


def test_request_refuses_tag_wildcard_and_long_duration(world):
    dev = world.as_("dev")
    with pytest.raises(InputError, match="tag"):
        _request(dev, digest="registry.example/app:v1")
    with pytest.raises(InputError, match="wildcard"):
        _request(dev, digest="*")
    with pytest.raises(InputError, match="wildcards"):
        _request(dev, function="*")
    with pytest.raises(InputError, match="maximum"):
        _request(dev, duration="24h1m")
    with pytest.raises(InputError, match="not configured"):
        _request(dev, function=None, region=None, cluster="unknown", namespace="payments")
    assert world.store.query("SELECT count(*) AS n FROM bypasses")[0]["n"] == 0


def test_self_approval_refused_even_for_an_approver(world):
    bypass = _request(world.as_("alice"))
    with pytest.raises(PermissionDenied, match="cannot approve"):
        approve_bypass(world.as_("alice"), bypass.id)
    assert get_bypass(world.as_("alice"), bypass.id).state is BypassState.REQUESTED


def test_approval_without_the_role_refused(world):
    bypass = _request(world.as_("dev"))
    with pytest.raises(PermissionDenied, match="approver role"):
        approve_bypass(world.as_("mallory"), bypass.id)
    assert get_bypass(world.as_("dev"), bypass.id).decisions == ()


def test_approval_activates_lambda_bypass_for_its_window(world):
    bypass = _request(world.as_("dev"))
    world.clock.advance(minutes=10)
    outcome = approve_bypass(world.as_("alice"), bypass.id)
    assert outcome.warning == ""
    granted = outcome.bypass
    assert granted.state is BypassState.ACTIVE and granted.approvers == ("alice",)
    assert granted.starts_at == world.clock.now and (granted.ends_at - granted.starts_at).total_seconds() == 7200
    reader = world.as_("someone")
    found = active_bypass_for(reader, digest=DIGEST, function="checkout", region="eu-west-1")
    assert found is not None and found.id == bypass.id
    assert _actions(world, bypass.id) == ["bypass.request", "bypass.approve", "bypass.activate"]


def test_bypass_matches_its_digest_and_not_the_neighbour(world):
    bypass = _request(world.as_("dev"))
    approve_bypass(world.as_("alice"), bypass.id)
    ctx = world.as_("gate")
    assert active_bypass_for(ctx, digest=DIGEST, function="checkout", region="eu-west-1").id == bypass.id
    assert active_bypass_for(ctx, digest=NEIGHBOUR, function="checkout", region="eu-west-1") is None
    assert active_bypass_for(ctx, digest=DIGEST, function="checkout", region="eu-west-2") is None
    assert active_bypass_for(ctx, digest=DIGEST, function="checkout2", region="eu-west-1") is None
    assert active_bypass_for(ctx, digest=DIGEST, function="checkout", region=None) is None
    assert active_bypass_for(ctx, digest=DIGEST.upper(), function="checkout", region="eu-west-1") is None


def test_standing_is_bypassed_only_where_the_bypass_covers_a_digest_that_is_not_verified(world):
    """The rule the sweep, the Lambda listing and the release gate apply (core/bypass/coverage.py)."""
    bypass = _request(world.as_("dev"))
    approve_bypass(world.as_("alice"), bypass.id)
    ctx = world.as_("gate")
    here = {"function": "checkout", "region": "eu-west-1"}
    assert standing_at(ctx, "unsigned", "no signatures found", DIGEST, **here) == Standing(
        "bypassed", f"not verified (unsigned: no signatures found); covered by bypass {bypass.id}", bypass.id)
    assert standing_at(ctx, "verified", "signed", DIGEST, **here) == Standing("verified", "signed")  # never downgraded
    assert standing_at(ctx, "invalid", "bad", NEIGHBOUR, **here) == Standing("invalid", "bad")
    assert standing_at(ctx, "error", "no digest", None, **here) == Standing("error", "no digest")
    assert standing_at(ctx, "invalid", "bad", DIGEST, function="checkout", region="eu-west-2").result == "invalid"
    world.clock.advance(hours=2)  # the bypass's end: nothing is covered any more
    assert standing_at(ctx, "unsigned", "none", DIGEST, **here) == Standing("unsigned", "none")


def test_one_second_past_the_end_is_not_honoured_even_before_the_reaper(world):
    bypass = _request(world.as_("dev"), duration="1h")
    approve_bypass(world.as_("alice"), bypass.id)
    ctx = world.as_("gate")
    world.clock.advance(seconds=3599)
    assert active_bypass_for(ctx, digest=DIGEST, function="checkout", region="eu-west-1") is not None
    world.clock.advance(seconds=1)  # exactly the end: outside [starts_at, ends_at)
    assert active_bypass_for(ctx, digest=DIGEST, function="checkout", region="eu-west-1") is None
    world.clock.advance(seconds=1)
    assert active_bypass_for(ctx, digest=DIGEST, function="checkout", region="eu-west-1") is None
    stored = get_bypass(ctx, bypass.id)
    assert stored.state is BypassState.ACTIVE  # not reaped yet, and still not honoured
    assert stored.effective_state(world.clock.now) is BypassState.EXPIRED
    closed = settle_due(world.as_("reaper"))
    assert [(b.id, b.state) for b in closed] == [(bypass.id, BypassState.EXPIRED)]
    assert _actions(world, bypass.id)[-1] == "bypass.expire"


def test_request_lapses_after_ttl(world):
    bypass = _request(world.as_("dev"))
    world.clock.advance(hours=2)
    with pytest.raises(InvalidState, match="lapsed"):
        approve_bypass(world.as_("alice"), bypass.id)
    stored = get_bypass(world.as_("dev"), bypass.id)
    assert stored.state is BypassState.LAPSED and stored.decisions == ()
    assert _actions(world, bypass.id) == ["bypass.request", "bypass.lapse"]


def test_request_just_before_ttl_can_be_approved(world):
    bypass = _request(world.as_("dev"))
    world.clock.advance(hours=2, seconds=-1)
    assert approve_bypass(world.as_("alice"), bypass.id).bypass.state is BypassState.ACTIVE


def test_two_distinct_approvers_needed_when_configured(new_world):
    world = new_world(approvals=2)
    try:
        bypass = _request(world.as_("dev"))
        first = approve_bypass(world.as_("alice"), bypass.id).bypass
        assert first.state is BypassState.REQUESTED and first.approvers == ("alice",)
        assert active_bypass_for(world.as_("gate"), digest=DIGEST, function="checkout", region="eu-west-1") is None
        with pytest.raises(InvalidState, match="already decided"):
            approve_bypass(world.as_("alice"), bypass.id)
        world.clock.advance(minutes=5)
        second = approve_bypass(world.as_("bob"), bypass.id).bypass
        assert second.state is BypassState.ACTIVE and set(second.approvers) == {"alice", "bob"}
        assert second.starts_at == world.clock.now  # the window starts when the threshold is reached
        with pytest.raises(InvalidState):
            approve_bypass(world.as_("carol"), bypass.id)
    finally:
        world.close()


def test_deny_with_reason_closes_the_request(world):
    bypass = _request(world.as_("dev"))
    with pytest.raises(InputError):
        deny_bypass(world.as_("bob"), bypass.id, reason="  ")
    with pytest.raises(PermissionDenied):
        deny_bypass(world.as_("dev"), bypass.id, reason="not me")
    denied = deny_bypass(world.as_("bob"), bypass.id, reason="sign it with the backup key instead").bypass
    assert denied.state is BypassState.DENIED and denied.close_reason == "sign it with the backup key instead"
    assert [(d.approver, d.decision) for d in denied.decisions] == [("bob", "deny")]
    with pytest.raises(InvalidState):
        approve_bypass(world.as_("alice"), bypass.id)
    assert _actions(world, bypass.id) == ["bypass.request", "bypass.deny"]


def test_revoke_by_requester_or_approver_only(world):
    ctx = world.as_("dev")
    first = _request(ctx)
    second = _request(ctx)
    approve_bypass(world.as_("alice"), first.id)
    approve_bypass(world.as_("alice"), second.id)
    with pytest.raises(PermissionDenied):
        revoke_bypass(world.as_("mallory"), first.id)
    revoked = revoke_bypass(ctx, first.id, reason="patched image is signed now").bypass
    assert revoked.state is BypassState.REVOKED and revoked.closed_by == "dev"
    assert revoke_bypass(world.as_("bob"), second.id).bypass.state is BypassState.REVOKED
    assert active_bypass_for(ctx, digest=DIGEST, function="checkout", region="eu-west-1") is None
    with pytest.raises(InvalidState):
        revoke_bypass(ctx, first.id)
    assert _actions(world, first.id) == ["bypass.request", "bypass.approve", "bypass.activate", "bypass.revoke"]


def test_every_transition_audited_and_chain_intact(world):
    bypass = _request(world.as_("dev"))
    approve_bypass(world.as_("alice"), bypass.id)
    world.clock.advance(hours=3)
    settle_due(world.as_("reaper"))
    entries = [e for e in reversed(audit_entries(world.store, limit=100)) if e.subject == f"bypass:{bypass.id}"]
    assert [(e.actor, e.action) for e in entries] == [
        ("dev", "bypass.request"), ("alice", "bypass.approve"), ("alice", "bypass.activate"),
        ("reaper", "bypass.expire")]
    assert entries[1].details["to"] == "approved" and entries[3].details["from"] == "active"
    assert entries[0].details["justification"] == JUSTIFICATION and entries[0].details["ticket"] == "INC-1234"
    status = chain_status(world.store)
    assert status.intact and status.entries == 4


def test_list_open_and_all(world):
    ctx = world.as_("dev")
    open_one = _request(ctx)
    closed = _request(ctx)
    deny_bypass(world.as_("bob"), closed.id, reason="no")
    assert [b.id for b in list_bypasses(ctx)] == [open_one.id]
    assert {b.id for b in list_bypasses(ctx, include_closed=True)} == {open_one.id, closed.id}


def test_concurrent_approvers_reach_threshold_once(new_world):
    world = new_world(approvals=2)
    try:
        bypass = _request(world.as_("dev"))
        errors: list[Exception] = []
        barrier = threading.Barrier(3)

        contexts = {who: world.as_(who, own_connection=True) for who in ("alice", "bob", "carol")}

        def approve(who):
            barrier.wait(timeout=10)
            try:
                approve_bypass(contexts[who], bypass.id)
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=approve, args=(w,)) for w in ("alice", "bob", "carol")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        stored = get_bypass(world.as_("dev"), bypass.id)
        assert stored.state is BypassState.ACTIVE and len(stored.approvers) == 2
        assert len(errors) == 1 and isinstance(errors[0], InvalidState)
        assert _actions(world, bypass.id).count("bypass.activate") == 1
    finally:
        world.close()


def test_lambda_region_defaults_to_the_only_configured_region(new_world):
    from dataclasses import replace

    from core.config.model import AwsConfig

    world = new_world()
    try:
        world.config = replace(world.config, aws=AwsConfig(regions=("eu-west-1",)))
        assert _request(world.as_("dev"), region=None).scope.region == "eu-west-1"
        world.config = replace(world.config, aws=AwsConfig(regions=("eu-west-1", "us-east-1")))
        with pytest.raises(InputError, match="region"):
            _request(world.as_("dev"), region=None)
    finally:
        world.close()


def test_listing_groups_follow_the_clock(world):
    bypass = _request(world.as_("dev"))
    assert bypass.listing_group(world.clock.now) == "pending"
    granted = approve_bypass(world.as_("alice"), bypass.id).bypass
    assert granted.listing_group(world.clock.now) == "active"
    world.clock.advance(hours=1)
    assert granted.listing_group(world.clock.now) == "expiring_soon"
    assert granted.as_dict(world.clock.now)["remaining_seconds"] == 3600
    world.clock.advance(hours=1)
    assert granted.listing_group(world.clock.now) == "history"
    assert granted.as_dict(world.clock.now)["effective_state"] == "expired"
