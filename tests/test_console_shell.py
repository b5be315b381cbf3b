"""The console shell, History, Audit and Dashboard, driven headlessly through the real app."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import timedelta

import pytest
from textual.color import Color
from textual.errors import NoWidget

from core.clock import iso
from core.history.records import record_verifications
from tests.support.console import NOW, console_context, press, running, screen_text, settle
from tui.app import SignetApp
from tui.screens import VIEW_NAMES
from tui.screens.cli_log import CliLogModal
from tui.screens.form import FormField, FormModal, fit_body
from tui.screens.history import PAGE_ROWS

MARKUP_TAG = "[bold red]x[/]"
MARKUP_REASON = "see [link=https://evil.example]here[/link]"


def seed_history(ctx, rows: int = 450) -> None:
    with ctx.store.write() as db:
        record_verifications(db, [dict(
            at=NOW - timedelta(minutes=i), actor="alice", source="demo" if i % 2 else "cli",
            reference=f"registry.example/app{i % 5}:{MARKUP_TAG if i == 0 else 'v1'}",
            digest="sha256:" + f"{i:064x}", result=("verified", "invalid", "unsigned")[i % 3],
            reason=MARKUP_REASON if i == 0 else "", matched_keys=["ab" * 32] if i % 3 == 0 else [])
            for i in range(rows)])
        ctx.audit("test.seed", "history", {"rows": rows})


@pytest.fixture
def ctx(tmp_path):
    context = console_context(tmp_path)
    seed_history(context)
    yield context
    context.close()


async def test_every_view_opens_through_the_switcher(ctx):
    app = SignetApp(ctx)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(app, pilot)
        assert app.view.VIEW_NAME == "dashboard"
        for name in VIEW_NAMES:
            await pilot.press("colon", *name[:4], "enter")
            await settle(app, pilot)
            assert app.view.VIEW_NAME == name
            assert "alice" in screen_text(app).splitlines()[0]
        # esc walks back through the views visited
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.view.VIEW_NAME == VIEW_NAMES[-2]


async def test_status_bar_shows_roles_and_read_only(tmp_path):
    context = console_context(tmp_path, "bob", read_only=True)
    app = SignetApp(context)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(app, pilot)
        first = screen_text(app).splitlines()[0]
        assert "bob" in first and "approver, operator" in first and "READ-ONLY" in first
    context.close()


@pytest.mark.parametrize("environment, tier", [('name = "prod-payments"', "production"),
                                               ('name = "eu-stage"', "staging"),
                                               ('name = "prod-mirror"\ntier = "staging"', "staging")])
async def test_every_view_carries_the_environment_banner_in_its_tier_colour(tmp_path, environment, tier):
    context = console_context(tmp_path, extra=f"\n[environment]\n{environment}\n")
    name = context.config.environment.name
    app = SignetApp(context)
    async with app.run_test(size=(140, 40)) as pilot:
        for view in ("dashboard", "history", "keys"):
            app.show_view(view)
            await settle(app, pilot)
            bar = app.view.query_one("#status-bar")
            assert name.upper() in screen_text(app).splitlines()[0]
            assert bar.has_class(f"tier-{tier}") and not any(
                bar.has_class(f"tier-{other}") for other in ("production", "staging", "development") if other != tier)
        # the tier's colour replaces the plain status bar's
        assert bar.styles.background != Color.parse(app.get_css_variables()["panel"])
    context.close()


async def test_without_an_environment_there_is_no_banner(ctx):
    app = SignetApp(ctx)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(app, pilot)
        bar = app.view.query_one("#status-bar")
        assert not [c for c in bar.classes if c.startswith("tier-")]


async def test_help_lists_the_views_bindings_and_runs_one(ctx):
    async with running(ctx, "history", size=(140, 40)) as (app, pilot):
        await press(app, pilot, "question_mark")
        text = screen_text(app)
        for description in ("Next page", "Previous page", "Export", "Filter", "Refresh", "Back"):
            assert description in text
        # choose "Filter" from the list: the filter bar opens
        table = app.screen.query_one("#help-table")
        row = next(i for i, entry in enumerate(app.screen.entries) if entry.description == "Filter")
        table.move_cursor(row=row)
        await press(app, pilot, "enter")
        assert app.view.query_one("#filter-bar").has_focus


async def test_command_palette_offers_views_and_view_actions(ctx):
    from textual.command import CommandPalette

    async with running(ctx, "history", size=(140, 40)) as (app, pilot):
        await press(app, pilot, "ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await press(app, pilot, *"go to audit")
        await press(app, pilot, "enter")
        assert app.view.VIEW_NAME == "audit"
        await pilot.press("ctrl+p")
        await pilot.press(*"check chain")
        await settle(app, pilot)
        assert "audit: Check chain" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"cli log")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, CliLogModal)


async def test_history_pages_filters_and_shows_markup_literally(ctx):
    app = SignetApp(ctx, start_view="history")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        view = app.view
        assert len(view.rows) == PAGE_ROWS and view.has_more
        text = screen_text(app)
        assert MARKUP_TAG in text  # the tag is shown as typed, not styled away
        assert "[link=https://evil.example]" in text  # detail pane of the first row
        # scrolling near the end fetches the next keyset page
        view.table.move_cursor(row=PAGE_ROWS - 10)
        await settle(app, pilot)
        assert len(view.rows) == 2 * PAGE_ROWS
        # ] moves the window; [ comes back
        await pilot.press("right_square_bracket")
        await settle(app, pilot)
        assert view.rows[0].at == iso(NOW - timedelta(minutes=2 * PAGE_ROWS)) and len(view.rows) == PAGE_ROWS
        await pilot.press("left_square_bracket")
        await settle(app, pilot)
        assert view.rows[0].at == iso(NOW)
        # / filter runs in SQL
        await pilot.press("slash", *"result:invalid source:demo", "enter")
        await settle(app, pilot)
        assert view.rows and {r.result for r in view.rows} == {"invalid"} and {r.source for r in view.rows} == {"demo"}
        assert "result:invalid source:demo" in screen_text(app)
        # a bad filter is an error notification, the view keeps its rows
        await pilot.press("slash", "ctrl+u", *"result:nonsense", "enter")
        await settle(app, pilot)
        assert {r.result for r in view.rows} == {"invalid"}


async def test_history_drill_in_and_back(ctx):
    app = SignetApp(ctx, start_view="history")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        view = app.view
        await pilot.press("down", "enter")
        assert view.query_one("#detail").has_focus_within
        assert view.rows[1].reference in view.query_one("#detail").text
        await pilot.press("escape")
        assert view.table.has_focus and app.view is view  # esc left the detail, not the view


async def test_history_export_csv_and_json(ctx, tmp_path):
    app = SignetApp(ctx, start_view="history", start_filter="result:verified")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        for fmt in ("csv", "json"):
            target = tmp_path / f"out.{fmt}"
            await pilot.press("e")
            await settle(app, pilot)
            app.screen.query_one("#field-path").value = str(target)
            app.screen.query_one("#field-format").value = fmt
            await pilot.press("enter")
            await settle(app, pilot)
            assert target.exists()
        rows = list(csv.DictReader((tmp_path / "out.csv").open()))
        assert len(rows) == 150 and {r["result"] for r in rows} == {"verified"}
        data = json.loads((tmp_path / "out.json").read_text())
        assert len(data) == 150 and data[0]["reference"].endswith(MARKUP_TAG)


async def test_export_form_refuses_a_bad_format(ctx, tmp_path):
    app = SignetApp(ctx, start_view="history")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        app.screen.query_one("#field-path").value = str(tmp_path / "x")
        app.screen.query_one("#field-format").value = "xml"
        await pilot.pause()
        assert app.screen.query_one("#submit").disabled
        await pilot.press("enter")
        await pilot.press("escape")
        await settle(app, pilot)
        assert not (tmp_path / "x").exists() and app.view.VIEW_NAME == "history"


async def test_audit_shows_entries_and_a_broken_chain(ctx):
    app = SignetApp(ctx, start_view="audit")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert "chain: intact (1 entries" in screen_text(app)
        assert "test.seed" in screen_text(app)
    # tamper with the stored entry behind the triggers' back
    raw = sqlite3.connect(str(ctx.store.path))
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("UPDATE audit SET subject = 'edited' WHERE seq = 1")
    raw.commit()
    raw.close()
    app = SignetApp(ctx, start_view="audit")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert "BROKEN at sequence 1" in screen_text(app)


async def test_dashboard_counts_and_attention(ctx):
    app = SignetApp(ctx)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(app, pilot)
        summary = app.view.summary
        # 450 rows one minute apart: all inside 24 h
        assert summary.counts["verified"] == 150 and summary.counts["invalid"] == 150
        assert {a.result for a in summary.attention} <= {"invalid", "unsigned"} and summary.attention
        text = screen_text(app)
        assert "verified 150" in text and "invalid 150" in text
        # enter on a failing image opens History filtered to it
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.view.VIEW_NAME == "history"
        assert app.view.rows and {r.reference for r in app.view.rows} == {summary.attention[0].reference}


async def test_error_text_with_markup_is_shown_literally(ctx):
    app = SignetApp(ctx, start_view="history")
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        app.view.query_one("#filter-bar").value = "result:[red]bad[/red] [link=https://x]y"
        await pilot.press("enter")
        await settle(app, pilot)
        (note,) = [n for n in app._notifications if n.severity == "error"]
        assert "[red]bad[/red]" in note.message and not note.markup
        # a filter word that looks like markup is searched for as typed
        await pilot.press("slash", "ctrl+u")
        app.view.query_one("#filter-bar").value = MARKUP_TAG
        await pilot.press("enter")
        await settle(app, pilot)
        assert [r.reference for r in app.view.rows] == [f"registry.example/app0:{MARKUP_TAG}"]
        assert f"filter: image:{MARKUP_TAG}" in screen_text(app)


async def test_history_columns_filter_label_and_empty_results(ctx):
    app = SignetApp(ctx, start_view="history")
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await settle(app, pilot)
        view = app.view
        table = view.table
        # the reason column takes the width the others leave, and every column is in view
        widths = sum(c.get_render_width(table) for c in table.columns.values())
        reason = next(c for c in table.columns.values() if c.key.value == "reason")
        assert reason.width >= 16 and widths <= table.scrollable_content_region.width
        # a filter matching nothing: no rows, and no stale row in the detail pane
        assert view.rows[0].reference in view.query_one("#detail").text
        await pilot.press("slash")
        view.query_one("#filter-bar").value = "result:invalid " + "no-such-image-" * 12
        await pilot.press("enter")
        await settle(app, pilot)
        assert view.rows == [] and view.table.row_count == 0
        assert "registry.example" not in view.query_one("#detail").text
        # a long filter stays on the info line, its label first, cut with an ellipsis
        info = next(line for line in screen_text(app).splitlines() if "rows shown" in line)
        assert "filter: image:no-such-image-no-such" in info and "…" in info
        # an unknown key is said to be unknown, not searched for as an image
        await pilot.press("slash", "ctrl+u", *"foo:bar", "enter")
        await settle(app, pilot)
        assert any("unknown filter key 'foo'" in str(n.message) and n.severity == "error"
                   for n in app._notifications)
        assert view.filt.image.startswith("no-such-image")  # the filter shown before is kept


def _on_screen(app, widget) -> bool:
    """The widget is drawn where it sits: the compositor finds it at its region's corners."""
    region = widget.region
    try:
        return bool(region.area) and all(app.screen.get_widget_at(x, y)[0] is widget for x, y in
                                         ((region.x, region.y), (region.right - 1, region.bottom - 1)))
    except NoWidget:  # off the terminal
        return False


async def test_80x24_forms_scroll_to_the_focused_field_and_keep_their_buttons(ctx):
    async with running(ctx, "bypasses", size=(80, 24)) as (app, pilot):
        await press(app, pilot, "n")
        form = app.screen
        for _ in range(8):  # tab down to the last field, Duration
            await press(app, pilot, "tab")
        assert form.focused is form.query_one("#field-duration")
        assert _on_screen(app, form.focused)
        assert _on_screen(app, form.query_one("#submit")) and _on_screen(app, form.query_one("#cancel"))
        await press(app, pilot, "shift+tab", "shift+tab", "shift+tab", "shift+tab", "shift+tab", "shift+tab",
                    "shift+tab", "shift+tab")
        assert form.focused is form.query_one("#field-digest") and _on_screen(app, form.focused)


async def test_80_columns_footer_shows_the_views_own_keys(ctx):
    async with running(ctx, "keys", size=(80, 24)) as (app, pilot):
        footer = screen_text(app).splitlines()[-1]
        assert "o Rotate" in footer and "n Rotation step" in footer and "b Backup" in footer


async def test_cli_log_uses_a_wide_terminal(ctx):
    async with running(ctx, "history", size=(200, 40)) as (app, pilot):
        await press(app, pilot, "at")
        assert isinstance(app.screen, CliLogModal)
        assert app.screen.query_one("#form").region.width >= 180


async def test_a_view_or_form_closed_before_its_deferred_layout_call_ignores_it(ctx):
    """Layout fitting runs after a refresh; a view left (or a form dismissed) in between has no widgets
    any more. Seen crashing the console when a view was left right after opening it."""
    async with running(ctx, "history") as (app, pilot):
        history = app.view
        app.show_view("bypasses")
        await settle(app, pilot)
        history.fit_flex_column()  # what its pending call_after_refresh does

        form = FormModal("Export", (FormField("path", "Path"),))
        app.push_screen(form)
        await settle(app, pilot)
        form.dismiss(None)
        await settle(app, pilot)
        fit_body(form)
        assert app.is_running and app.view.VIEW_NAME == "bypasses"
