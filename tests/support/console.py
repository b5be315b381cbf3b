"""Helpers for driving the console headlessly: a context on a temp home, waiting without sleeping."""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator

from core.clock import FixedClock
from core.context import SignetContext, open_context

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)


def write_config(home: Path, identity: str, *, roles: dict[str, list[str]] | None = None, extra: str = "") -> Path:
    roles = roles or {"operator": ["alice", "bob"], "custodian": ["alice"], "approver": ["bob"]}
    lines = [f'identity = "{identity}"', "", "[roles]"]
    lines += [f"{role} = {json.dumps(members)}" for role, members in roles.items()]
    path = home / f"config-{identity}.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def console_context(home: Path, identity: str = "alice", *, read_only: bool = False, extra: str = "",
                    roles: dict[str, list[str]] | None = None, clock: FixedClock | None = None) -> SignetContext:
    config = write_config(home, identity, roles=roles, extra=extra)
    ctx = open_context(db=str(home / "signet.db"), config=str(config), read_only=read_only, interface="tui",
                       clock=clock or FixedClock(NOW))
    return ctx


def screen_text(app) -> str:
    """What the terminal shows right now, as plain text lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def settle(app, pilot, *, timeout: float = 30.0) -> None:
    """Let messages flow and every worker finish, and the view report itself ready (it may start a
    second stage on a timer): polls with a deadline, no fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        for _ in range(3):
            await pilot.pause()
            # the team store's watch runs as long as the console: not a job to wait for
            jobs = [w for w in app.workers if w.group != "store-watch"]
            if jobs:  # (an empty list would mean every worker to Textual)
                await app.workers.wait_for_complete(jobs)
        await pilot.pause()
        view = app.view
        if view is None or view.ready or time.monotonic() > deadline:
            return
        await pilot.pause(0.05)


def demo_context(root: Path, identity: str = "alice", *, clock: FixedClock | None = None) -> SignetContext:
    """Build the demo in `root` at the fixed test time and open it as `identity`."""
    from core.demo.builder import build_demo, open_demo_context

    clock = clock or FixedClock(NOW)
    if not (root / "config.toml").exists():
        build_demo(root, clock=clock)
    return open_demo_context(root, identity=identity, clock=clock)


@asynccontextmanager
async def running(ctx: SignetContext, start_view: str = "dashboard", *, size: tuple[int, int] = (160, 45),
                  notifications: bool = False, settled: bool = True, **app_options: Any) -> AsyncIterator[Any]:
    """Run the console headlessly on `ctx` and yield `(app, pilot)`, settled first unless told not to."""
    from tui.app import SignetApp

    app = SignetApp(ctx, start_view=start_view, **app_options)
    async with app.run_test(size=size, notifications=notifications) as pilot:
        if settled:
            await settle(app, pilot)
        yield app, pilot


async def press(app, pilot, *keys: str) -> None:
    """Press `keys`, then settle."""
    await pilot.press(*keys)
    await settle(app, pilot)


def fill(app, **values: str) -> None:
    """Set the fields of the form on screen (`#field-<name>`)."""
    for name, value in values.items():
        app.screen.query_one(f"#field-{name}").value = value


async def submit(app, pilot) -> None:
    """Click the form's submit button once the fields have been taken in, then settle. Toasts are
    dismissed first: one lying over the button would take the click (as it would a person's)."""
    await pilot.pause()
    app.clear_notifications()
    await pilot.pause()
    await pilot.click("#submit")
    await settle(app, pilot)


async def confirm(app, pilot, word: str) -> None:
    """Type the confirmation word into the form on screen and submit it."""
    app.screen.query_one("#confirm-word").value = word
    await submit(app, pilot)


def selected_key(app) -> str | None:
    """The row key under the cursor of the view's main table (read from the table itself)."""
    table = app.view.table
    if not 0 <= table.cursor_row < table.row_count:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
