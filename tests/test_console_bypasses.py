"""Bypass flow in the console: request (alice) -> approve (bob, another identity) -> revoke; gating."""

from __future__ import annotations

import time

from core.bypass.service import get_bypass, list_bypasses
from tests.support.console import (confirm, console_context, fill, press, running, screen_text, selected_key,
                                   submit)

DIGEST = "sha256:" + "c0" * 32
JUSTIFICATION = "hotfix for outage, see [link=https://evil.example]runbook[/link] [bold]now[/]"


async def test_request_approve_revoke_across_identities(tmp_path):
    alice = console_context(tmp_path, "alice")
    async with running(alice, "bypasses") as (app, pilot):
        await press(app, pilot, "n")
        fill(app, digest=DIGEST, function="payments-api", region="eu-west-1", justification=JUSTIFICATION,
             ticket="INC-42", duration="2h")
        await submit(app, pilot)
        (bypass,) = list_bypasses(alice)
        assert bypass.state.value == "requested" and bypass.requester == "alice"
        text = screen_text(app)
        assert "pending" in text and bypass.id in text
        # literal, not markup (the pane wraps long lines, so compare without line breaks)
        shown = app.view.query_one("#detail").text.replace("\n", " ")
        assert "[link=https://evil.example]runbook[/link] [bold]now[/]" in shown
        # alice cannot approve: the key is disabled and the reason is visible
        assert "approve" in text and "does not hold the approver role" in text
        await press(app, pilot, "a")
        assert app.screen is app.view  # no modal opened
        assert get_bypass(alice, bypass.id).state.value == "requested"
    alice.close()

    bob = console_context(tmp_path, "bob")
    async with running(bob, "bypasses", notifications=True) as (app, pilot):
        assert "waiting for approval 1" in screen_text(app) and "expiring_soon" not in screen_text(app)
        await press(app, pilot, "a")
        # typed confirmation: the submit stays disabled until the id is typed
        assert app.screen.query_one("#submit").disabled
        app.screen.query_one("#confirm-word").value = bypass.id[:-1]
        await pilot.pause()
        assert app.screen.query_one("#submit").disabled
        await confirm(app, pilot, bypass.id)
        approved = get_bypass(bob, bypass.id)
        assert approved.state.value == "active" and approved.approvers == ("bob",)
        assert app.cli_log.entries()[-1].command.endswith(f" bypass approve {bypass.id}")  # the `@` log
        assert f"bypass {bypass.id} approved (it is active)" in [str(n.message) for n in app._notifications]
        text = screen_text(app)
        assert "active" in text and "2h00m" in text  # live countdown from the injected clock
        # the countdown follows the clock
        bob.clock.advance(minutes=30)
        # the 1 s countdown interval redraws it: poll with a deadline rather than sleeping a fixed time
        deadline = time.monotonic() + 10
        while "1h30m" not in screen_text(app) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert "1h30m" in screen_text(app)
        # revoke with typed confirmation
        await press(app, pilot, "x")
        fill(app, reason="fixed properly")
        await confirm(app, pilot, bypass.id)
        revoked = get_bypass(bob, bypass.id)
        assert revoked.state.value == "revoked" and revoked.close_reason == "fixed properly"
        assert app.cli_log.entries()[-1].command.endswith(f" bypass revoke {bypass.id} --reason 'fixed properly'")
        assert "history" in screen_text(app)
    bob.close()


async def test_service_refusal_is_a_notification_not_a_crash(tmp_path):
    alice = console_context(tmp_path, "alice")
    async with running(alice, "bypasses", notifications=True) as (app, pilot):
        await press(app, pilot, "n")
        # a cluster that is not configured: the service refuses with its reason
        fill(app, digest=DIGEST, cluster="nowhere", namespace="prod", justification=JUSTIFICATION,
             ticket="INC-1", duration="2h")
        await submit(app, pilot)
        assert app.view.VIEW_NAME == "bypasses"
        assert list_bypasses(alice) == []
        assert any("not configured" in str(n.message) and n.severity == "error" for n in app._notifications)
    alice.close()


async def test_read_only_disables_every_bypass_action(tmp_path):
    bob = console_context(tmp_path, "bob", read_only=True)
    async with running(bob, "bypasses") as (app, pilot):
        text = screen_text(app)
        assert "read-only mode is on" in text
        for action in ("request", "approve", "deny", "revoke"):
            assert app.view.check_action(action, ()) is None
        await press(app, pilot, "n")
        assert app.view is app.screen  # no form opened
    bob.close()


async def test_request_form_checks_fields_with_the_services_rules(tmp_path):
    alice = console_context(tmp_path, "alice")
    async with running(alice, "bypasses") as (app, pilot):
        await press(app, pilot, "n")
        fill(app, digest="latest", function="f", region="eu-west-1", justification="because", ticket="x",
             duration="999d")
        await pilot.pause()
        modal = app.screen
        assert modal.query_one("#submit").disabled
        problems = modal.query_one("#form-error").content.plain
        assert "digest" in problems  # the first problems are listed with the core's own messages
        fill(app, digest=DIGEST, justification="a justification long enough to explain", ticket="INC-7",
             duration="2h")
        await pilot.pause()
        assert not modal.query_one("#submit").disabled
    alice.close()


async def test_selection_stays_on_the_bypass_acted_on(tmp_path):
    """After an action the list reloads and regroups; the cursor follows the bypass, not the row number."""
    from core.bypass.service import request_bypass

    alice = console_context(tmp_path, "alice")
    first = request_bypass(alice, digest=DIGEST, function="f1", region="eu-west-1", justification=JUSTIFICATION,
                           ticket="INC-1", duration="2h")
    alice.clock.advance(minutes=1)
    second = request_bypass(alice, digest=DIGEST, function="f2", region="eu-west-1", justification=JUSTIFICATION,
                            ticket="INC-2", duration="2h")
    alice.close()
    bob = console_context(tmp_path, "bob")
    async with running(bob, "bypasses") as (app, pilot):
        view = app.view
        assert selected_key(app) == second.id  # newest pending first
        await press(app, pilot, "d")
        fill(app, reason="not needed")
        await confirm(app, pilot, second.id)
        assert get_bypass(bob, second.id).state.value == "denied"
        # the denied request moved below the pending one: the cursor went with it
        assert view.table.get_row_index(second.id) == 1
        assert selected_key(app) == second.id
        assert f"bypass {second.id}" in view.query_one("#detail").text
        assert first.id not in view.query_one("#detail").text
    bob.close()


async def test_own_request_cannot_be_approved_and_the_key_says_why(tmp_path):
    from core.bypass.service import request_bypass

    roles = {"operator": ["alice", "bob"], "approver": ["alice", "bob"]}
    bob = console_context(tmp_path, "bob", roles=roles)
    theirs = request_bypass(bob, digest=DIGEST, function="f1", region="eu-west-1", justification=JUSTIFICATION,
                            ticket="INC-1", duration="2h")
    bob.close()
    alice = console_context(tmp_path, "alice", roles=roles)
    alice.clock.advance(minutes=1)
    mine = request_bypass(alice, digest=DIGEST, function="f2", region="eu-west-1", justification=JUSTIFICATION,
                          ticket="INC-2", duration="3h")
    async with running(alice, "bypasses", notifications=True) as (app, pilot):
        view = app.view
        assert selected_key(app) == mine.id
        assert view.check_action("approve", ()) is None  # dimmed, like a missing role
        assert view.check_action("deny", ()) is True  # withdrawing one's own request is allowed
        assert f"requested bypass {mine.id} and cannot approve it" in screen_text(app)
        await press(app, pilot, "a")
        assert app.screen is view  # no form to type a confirmation into
        # another approver's request: allowed, and the reason line goes away
        await press(app, pilot, "down")
        assert selected_key(app) == theirs.id
        assert view.check_action("approve", ()) is True
        assert "cannot approve" not in screen_text(app)
        await press(app, pilot, "a")
        explanation = app.screen.explanation.plain
        assert "duration: 2h00m, ending 2026-11-22 14:01:00 UTC" in explanation  # the clock is at 12:01
        await confirm(app, pilot, theirs.id)
        approved = get_bypass(alice, theirs.id)
        assert approved.state.value == "active" and approved.ends_at.isoformat().startswith("2026-11-22T14:01")
        # table and detail count down together, without a reload (one formatter, one 1 s timer)
        assert selected_key(app) == theirs.id
        alice.clock.advance(minutes=30)
        deadline = time.monotonic() + 10
        while "time left: 1h30m" not in view.query_one("#detail").text and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert "time left: 1h30m" in view.query_one("#detail").text
        assert view.table.get_cell(theirs.id, "time left").plain == "1h30m"
    alice.close()


async def test_request_form_takes_the_target_with_the_digest_and_warns_when_the_target_runs_another(tmp_path):
    from core.bypass.service import request_bypass

    running_digest = "sha256:" + "d2" * 32
    alice = console_context(tmp_path, "alice")
    with alice.store.write() as db:
        for name, digest in (("f1", DIGEST), ("payments-api", running_digest)):
            db.execute("INSERT INTO lambda_functions (profile, region, name, image_uri, resolved_digest) "
                            "VALUES ('', 'eu-west-1', ?, ?, ?)", (name, f"1.dkr.ecr/x/{name}:v1", digest))
    first = request_bypass(alice, digest=DIGEST, function="f1", region="eu-west-1", justification=JUSTIFICATION,
                           ticket="INC-1", duration="2h")
    async with running(alice, "bypasses") as (app, pilot):
        await press(app, pilot, "n")
        form = app.screen
        values = form.values()
        # the selected bypass's digest comes with its own target, not alone
        assert (values["digest"], values["function"], values["region"]) == (DIGEST, "f1", "eu-west-1")
        assert form.query_one("#form-warning").content.plain == ""  # f1 runs that digest
        fill(app, function="payments-api")
        await pilot.pause()
        warning = form.query_one("#form-warning").content.plain
        assert "is not what lambda:eu-west-1/payments-api runs" in warning and running_digest[:19] in warning
        fill(app, function="nowhere")
        await pilot.pause()
        assert "no record of what lambda:eu-west-1/nowhere runs" in form.query_one("#form-warning").content.plain
        fill(app, function="payments-api", justification="a justification long enough to explain", ticket="INC-9")
        await submit(app, pilot)  # a warning, not a refusal
        mismatched = next(b for b in list_bypasses(alice) if b.id != first.id)
        assert mismatched.scope.function == "payments-api" and mismatched.digest == DIGEST
    alice.close()
    # the approver sees the same warning in the approve dialog
    bob = console_context(tmp_path, "bob")
    async with running(bob, "bypasses") as (app, pilot):
        await press(app, pilot, *["down"] * app.view.table.get_row_index(mismatched.id))
        assert selected_key(app) == mismatched.id
        await press(app, pilot, "a")
        assert "warning: " + DIGEST[:19] + "… is not what lambda:eu-west-1/payments-api runs" in \
            app.screen.explanation.plain
    bob.close()
