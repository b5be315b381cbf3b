"""Live team state in the console (issue 15, item 5): two consoles on one team store, as two logins
over two connections. A request made in the requester's console appears in the approver's open
console, and the approval in the requester's, without pressing `r`; the server going away shows
"store unreachable" on every view, and the console recovers by itself when it is back."""

from __future__ import annotations

import time
from typing import Callable

import pytest
from psycopg_pool.base import AttemptWithBackoff

from core.bypass.service import get_bypass, list_bypasses, request_bypass
from core.context import open_context
from tests.support.console import confirm, fill, press, running, screen_text, submit
from tests.support.store import login_url, requester_and_approver

DIGEST = "sha256:" + "c0" * 32
JUSTIFICATION = "Payment outage INC-77: ship the hotfix before the signing pipeline is back"
# How long a change may take to show; the issue asks for 2 s, the bound is looser for a busy test machine.
SHOWN_WITHIN_S = 10.0
BANNER = "store unreachable"


async def until(pilot, condition: Callable[[], bool], timeout: float = SHOWN_WITHIN_S) -> bool:
    """Let the consoles run until `condition` holds (polling with a deadline, never pressing `r`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.05)
    return True


@pytest.fixture
def team(postgres_server, tmp_path):
    url, config = requester_and_approver(postgres_server, tmp_path)
    contexts = []

    def console_as(login: str):
        context = open_context(db=login_url(url, login), config=str(config), interface="tui")
        contexts.append(context)
        return context

    yield console_as
    for context in contexts:
        context.close()


async def test_a_request_and_its_approval_show_in_the_other_open_console(team):
    rita, abe = team("rita"), team("abe")
    async with running(abe, "bypasses") as (approver, approver_pilot), \
            running(rita, "bypasses") as (requester, requester_pilot):
        assert BANNER not in screen_text(approver)
        await press(requester, requester_pilot, "n")
        fill(requester, digest=DIGEST, function="checkout", region="us-east-1", justification=JUSTIFICATION,
             ticket="INC-77", duration="1h")
        await submit(requester, requester_pilot)
        (bypass,) = list_bypasses(rita)
        assert bypass.requester == "rita" and bypass.state.value == "requested"

        assert await until(approver_pilot, lambda: bypass.id in screen_text(approver)), screen_text(approver)
        assert "waiting for approval 1" in screen_text(approver)

        await press(approver, approver_pilot, "a")
        await confirm(approver, approver_pilot, bypass.id)
        assert get_bypass(abe, bypass.id).state.value == "active"  # in the database, as abe approved it

        def decision_shown() -> bool:
            return any(bypass.id in line and " active " in line for line in screen_text(requester).splitlines())

        assert await until(requester_pilot, decision_shown), screen_text(requester)


async def test_a_lost_server_shows_on_every_view_and_the_console_recovers(team, postgres_server, monkeypatch):
    # The pool's reconnect attempts back off as after a long outage (the delay doubles per failure):
    # the console must not wait that out once the server is back.
    monkeypatch.setattr(AttemptWithBackoff, "INITIAL_DELAY", 600.0)
    abe = team("abe")
    async with running(abe, "bypasses") as (app, pilot):
        assert BANNER not in screen_text(app)
        postgres_server.stop()
        try:
            assert await until(pilot, lambda: BANNER in screen_text(app)), screen_text(app)
            app.show_view("history")  # another view, opened while the store is away
            assert await until(pilot, lambda: app.view.VIEW_NAME == "history" and BANNER in screen_text(app))
            app.show_view("bypasses")
            assert await until(pilot, lambda: app.view.VIEW_NAME == "bypasses" and BANNER in screen_text(app))
        finally:
            postgres_server.start()
        assert await until(pilot, lambda: BANNER not in screen_text(app), timeout=30), screen_text(app)

        # Listening again: a request made elsewhere after the outage shows without `r`.
        rita = team("rita")
        bypass = request_bypass(rita, digest=DIGEST, justification=JUSTIFICATION, ticket="INC-78", duration="1h",
                                function="checkout", region="us-east-1")
        assert await until(pilot, lambda: bypass.id in screen_text(app)), screen_text(app)
