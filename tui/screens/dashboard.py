"""Dashboard: the last 24 hours at a glance and everything that needs someone's attention."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from core.clock import parse_iso
from core.console.dashboard import (DashboardSummary, KeyDue, dashboard_summary, format_time_left, keys_due,
                                    store_label)
from core.results import RESULTS
from tui.screens.base import ViewScreen
from tui.widgets.cells import RESULT_STYLES, badge, cell, short_digest, short_reference

if TYPE_CHECKING:
    from core.config.model import RegistryConfig
    from core.console.registries import RegistryProbe

COUNTDOWN_TICK_S = 1.0
PROBE_DELAY_S = 0.3

LIVE_RELOAD = "live"  # the summary job's token when a team-store change started it


class DashboardView(ViewScreen):
    VIEW_NAME = "dashboard"
    BINDINGS = [Binding("enter", "drill", "Open", id="drill")]
    LIVE_TABLES = frozenset({"bypasses", "bypass_approvals"})

    def __init__(self, context, *, initial_filter: str = "") -> None:
        super().__init__(context, initial_filter=initial_filter)
        self.summary: DashboardSummary | None = None
        self.keys_due: list[KeyDue] | None = None
        self.probes: dict[str, RegistryProbe | None] = {}  # None while a probe runs

    def compose_body(self) -> ComposeResult:
        with Container(id="dashboard"):
            yield Static(Text("loading…"), id="counts", classes="panel")
            yield DataTable(id="attention", classes="panel", cursor_type="row")
            yield DataTable(id="active-bypasses", classes="panel", cursor_type="row")
            yield DataTable(id="keys-due", classes="panel", cursor_type="row")
            yield DataTable(id="unreachable", classes="panel", cursor_type="row")

    def prepare(self) -> None:
        titles = {"counts": "Verifications, last 24 h", "attention": "Failing images (newest result)",
                  "active-bypasses": "Active bypasses", "keys-due": "Keys: drills and rotations due",
                  "unreachable": "Unreachable registries and clusters"}
        for widget_id, title in titles.items():
            self.query_one(f"#{widget_id}").border_title = title
        columns = {"attention": (("result", 9), ("reference", 30), ("digest", 19), ("reason", 40)),
                   "active-bypasses": (("time left", 9), ("id", 18), ("scope", 28), ("digest", 19)),
                   "keys-due": (("key", 16), ("what", 34), ("due", 10)),
                   "unreachable": (("kind", 9), ("name", 20), ("error", 50))}
        for widget_id, specs in columns.items():
            table = self.query_one(f"#{widget_id}", DataTable)
            for label, width in specs:
                table.add_column(label, width=width)
        self.query_one("#attention", DataTable).focus()
        self.set_interval(COUNTDOWN_TICK_S, self._tick)

    @property
    def ready(self) -> bool:
        return (self.summary is not None and self.keys_due is not None
                and all(p is not None for p in self.probes.values()))

    def focus_main(self) -> None:
        self.query_one("#attention", DataTable).focus()

    def refresh_view(self) -> None:
        context = self.context
        self.run_job("dashboard", lambda: dashboard_summary(context))
        self.run_job("dashboard-keys", lambda: keys_due(context))
        # Probed once the first figures are painted (see job_done); None: not answered yet.
        self.probes = {registry.name: None for registry in context.config.registries}

    def store_changed(self, tables: frozenset[str]) -> None:
        """Another Signet changed a bypass: the counts and bypass panels only, not the probes."""
        if tables & self.LIVE_TABLES:
            context = self.context
            self.run_job("dashboard", lambda: dashboard_summary(context), token=LIVE_RELOAD)

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        if kind == "dashboard":
            self.summary = value
            self._show(value)
            if self.probes and token != LIVE_RELOAD:
                # After the first figures are painted: importing the registry client stack in a thread
                # would otherwise hold the GIL during that frame.
                self.set_timer(PROBE_DELAY_S, self._probe_registries)
        elif kind.startswith("probe:"):
            self.probes[token] = value
            self._show_unreachable()
        elif kind == "dashboard-keys":
            self.keys_due = value
            self._fill("keys-due", [(cell(k.name), cell(k.what), cell(k.due_at[:10])) for k in value],
                       "nothing due")

    def _probe_registries(self) -> None:
        """Live registry probes, one worker each: a dead registry only delays its own row."""
        context = self.context

        def probe(registry: RegistryConfig) -> RegistryProbe:
            from core.console.registries import probe_registry

            return probe_registry(context, registry)

        for registry in context.config.registries:
            self.run_job(f"probe:{registry.name}", partial(probe, registry), token=registry.name)

    def _show_unreachable(self) -> None:
        assert self.summary is not None
        rows = [(cell("registry"), cell(p.name), cell(p.detail, max_len=80))
                for p in self.probes.values() if p is not None and not p.reachable]
        rows += [(cell(u.kind), cell(u.name), cell(u.error, max_len=80)) for u in self.summary.unreachable]
        self._fill("unreachable", rows, "all reachable")
        self.query_one("#unreachable").set_class(bool(rows), "alert")

    def _show(self, s: DashboardSummary) -> None:
        counts = Text()
        for result in RESULTS:
            counts.append(f" {result} ", style=RESULT_STYLES[result])
            counts.append(f"{s.counts.get(result, 0)}   ", style="bold")
        counts.append(f"\n pending bypass requests: {s.pending_bypasses}   store: {store_label(self.context.store)}",
                      style="dim")
        self.query_one("#counts", Static).update(counts)
        self._fill("attention", [(badge(a.result), cell(short_reference(a.reference), max_len=60),
                                  short_digest(a.digest), cell(a.reason, max_len=80)) for a in s.attention],
                   "no failures in 24 h")
        self._fill("active-bypasses", [(cell(format_time_left(b.seconds_left)), cell(b.id), cell(b.scope),
                                        short_digest(b.digest)) for b in s.bypasses], "none active")
        self._show_unreachable()
        self.query_one("#attention").set_class(bool(s.attention), "alert")

    def _fill(self, widget_id: str, rows: list[tuple], empty: str) -> None:
        table = self.query_one(f"#{widget_id}", DataTable)
        table.clear()
        if rows:
            table.add_rows(rows)
        else:
            # The message goes in the second (wide) column so it is not cut short.
            table.add_row("", Text(empty, style="dim"), *[""] * (len(table.columns) - 2))

    def _tick(self) -> None:
        """Live countdown: recompute time left from the context clock; no database access."""
        if not self.summary or not self.summary.bypasses:
            return
        now = self.context.clock()
        table = self.query_one("#active-bypasses", DataTable)
        for row, bypass in enumerate(self.summary.bypasses):
            table.update_cell_at(Coordinate(row, 0),
                                 cell(format_time_left((parse_iso(bypass.ends_at) - now).total_seconds())))

    def action_drill(self) -> None:
        """Open the view behind the focused panel, scoped to the selected row."""
        focused = self.focused
        if not isinstance(focused, DataTable) or self.summary is None:
            return
        row, s = focused.cursor_row, self.summary
        if focused.id == "attention" and row < len(s.attention):
            self.app.show_view("history", s.attention[row].reference)  # type: ignore[attr-defined]
        elif focused.id == "active-bypasses":
            self.app.show_view("bypasses")  # type: ignore[attr-defined]
        elif focused.id == "keys-due":
            self.app.show_view("keys")  # type: ignore[attr-defined]
        elif focused.id == "unreachable" and row < len(s.unreachable):
            kind = s.unreachable[row].kind
            self.app.show_view("registries" if kind == "registry" else "clusters")  # type: ignore[attr-defined]

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_drill()
