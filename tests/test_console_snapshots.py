"""Layout snapshots (pytest-textual-snapshot) of the console on deterministic data.

Update after reviewing a layout change: .venv/bin/python -m pytest tests/test_console_snapshots.py --snapshot-update
"""

from __future__ import annotations

import pytest

from tests.support.console import console_context, settle
from tests.test_console_shell import seed_history
from tui.app import SignetApp

SIZE = (140, 40)


@pytest.fixture
def app(tmp_path):
    ctx = console_context(tmp_path)
    seed_history(ctx)
    yield lambda view="dashboard": SignetApp(ctx, start_view=view)
    ctx.close()


async def _settled(pilot) -> None:
    await settle(pilot.app, pilot)


def _pressing(*keys: str):
    """A `run_before` that settles, presses `keys` and settles again."""
    async def before(pilot) -> None:
        await _settled(pilot)
        await pilot.press(*keys)
        await _settled(pilot)

    return before


def test_dashboard_layout(app, snap_compare):
    assert snap_compare(app(), terminal_size=SIZE, run_before=_settled)


def test_history_layout_with_detail(app, snap_compare):
    assert snap_compare(app("history"), terminal_size=SIZE, run_before=_pressing("down", "down"))


def test_help_modal_layout(app, snap_compare):
    assert snap_compare(app("history"), terminal_size=SIZE, run_before=_pressing("question_mark"))


def test_view_switcher_layout(app, snap_compare):
    assert snap_compare(app("audit"), terminal_size=SIZE, run_before=_pressing("colon", "h"))
