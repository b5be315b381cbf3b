"""History: every verification newest first, a window of SQL keyset pages (never the whole table)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.binding import Binding
from textual.validation import Function
from textual.worker import get_current_worker

from core.console.export import EXPORT_FORMATS, export_history
from core.console.filters import describe_filter, parse_history_filter
from core.errors import InputError, SignetError
from core.history.records import HistoryFilter, HistoryRow, list_history
from core.registry.reference import parse_reference
from tui.screens.base import TableView
from tui.screens.form import FormField, FormModal
from tui.widgets.cells import badge, cell, short_digest, short_reference
from tui.widgets.detail_pane import DetailPane

if TYPE_CHECKING:
    from core.verify.result import VerificationResult

PAGE_ROWS = 100
WINDOW_ROWS = 2000  # rows kept in the table; past this `]` moves the window instead of growing it
PREFETCH_MARGIN = 20  # rows from the end at which the next page is fetched


class HistoryView(TableView):
    VIEW_NAME = "history"
    FLEX_COLUMN = "reason"
    BINDINGS = [
        Binding("enter", "drill", "Details", id="drill"),
        Binding("right_square_bracket", "next_page", "Next page", key_display="]", id="next_page"),
        Binding("left_square_bracket", "previous_page", "Previous page", key_display="[", id="previous_page"),
        Binding("e", "export", "Export", id="export"),
        Binding("v", "verify", "Verify again", id="verify"),
    ]

    def __init__(self, context, *, initial_filter: str = "") -> None:
        super().__init__(context, initial_filter=initial_filter)
        self.filt = HistoryFilter()
        self.rows: list[HistoryRow] = []
        self.window_starts: list[tuple[str, int] | None] = []  # cursor each earlier window began after
        self.window_start: tuple[str, int] | None = None
        self.has_more = False
        self.loading = False

    def filter_hint(self) -> str:
        return "filter: text  result:invalid  source:demo  key:ab12  since:24h  until:2026-11-01"

    def prepare(self) -> None:
        self.add_columns(("at", 19), ("result", 9), ("source", 6), ("reference", 24), ("digest", 14), ("keys", 10),
                         ("reason", 12))

    # --- loading ----------------------------------------------------------------------------
    def _load(self, after: tuple[str, int] | None, *, append: bool) -> None:
        filt, store = self.filt, self.context.store
        self.loading = True

        def page() -> list[HistoryRow]:
            with store.read() as db:
                return list_history(db, filt, limit=PAGE_ROWS + 1, after=after)

        self.run_job("history-page", page, token=(filt, after, append))

    def refresh_view(self) -> None:
        self.window_starts.clear()
        self.window_start = None
        self._load(None, append=False)

    def apply_filter(self, text: str) -> None:
        try:
            self.filt = parse_history_filter(text, now=self.context.clock())
        except InputError as exc:
            self.notify(str(exc), title="filter", severity="error", markup=False)
            return
        self.refresh_view()

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        if kind == "history-page":
            filt, after, append = token
            if filt != self.filt:
                return  # a page for a filter no longer shown
            self.loading = False
            self._show_page(value, after, append=append)
        elif kind == "history-verify":
            result = value
            self.notify(f"{short_reference(result.reference)}: {result.result} — {result.reason}", title="verify",
                        severity="information" if result.verified else "warning", markup=False)
            self.refresh_view()  # the new row is the newest
        elif kind == "history-export":
            self.notify(f"exported {value[0]} rows to {value[1]}", title="export", markup=False)

    def job_failed(self, kind: str, error: BaseException | None) -> None:
        self.loading = False

    def _show_page(self, rows: list[HistoryRow], after: tuple[str, int] | None, *, append: bool) -> None:
        table = self.table
        self.has_more = len(rows) > PAGE_ROWS
        rows = rows[:PAGE_ROWS]
        if not append:
            table.clear()
            self.rows = []
            self.window_start = after
        self.rows.extend(rows)
        table.add_rows(([cell(r.at[:19]), badge(r.result), cell(r.source),
                         cell(short_reference(r.reference), max_len=120),
                         short_digest(r.digest, 14), cell(",".join(k[:10] for k in r.matched_keys)), cell(r.reason)]
                        for r in rows))
        self._update_info()
        if not append:
            if rows:
                self.show_detail(0)
            else:
                self.clear_detail()  # no match: the pane must not keep the previous filter's row

    def _update_info(self) -> None:
        text = Text()
        text.append(f"{len(self.rows)} rows shown", style="bold")
        if self.window_starts:
            text.append(f" (window {len(self.window_starts) + 1})")
        text.append("  more below: ] or scroll" if self.has_more else "  end of history")
        described = describe_filter(self.filt)
        if described:
            text.append("   filter: ")
            text.append(described)
        self.set_info(text)

    # --- navigation ---------------------------------------------------------------------------
    def row_reached(self, index: int) -> None:
        near_end = index >= len(self.rows) - PREFETCH_MARGIN
        if near_end and self.has_more and not self.loading and len(self.rows) < WINDOW_ROWS:
            last = self.rows[-1]
            self._load((last.at, last.id), append=True)

    def show_detail(self, index: int) -> None:
        if not 0 <= index < len(self.rows):
            return
        r = self.rows[index]
        self.query_one(DetailPane).show(r.reference, [
            ("at", r.at), ("result", r.result), ("reason", r.reason), ("digest", r.digest), ("source", r.source),
            ("actor", r.actor), ("matched keys", "\n  " + "\n  ".join(r.matched_keys) if r.matched_keys else ""),
            ("duration", f"{r.duration_ms:.1f} ms"), ("bypass", r.bypass_id), ("cluster", r.cluster),
            ("namespace", r.namespace),
            ("details", json.dumps(r.details, indent=2, sort_keys=True) if r.details else ""), ("id", r.id)])

    def action_next_page(self) -> None:
        if not self.rows or not self.has_more or self.loading:
            return
        self.window_starts.append(self.window_start)
        last = self.rows[-1]
        self._load((last.at, last.id), append=False)

    def action_previous_page(self) -> None:
        if not self.window_starts or self.loading:
            return
        self._load(self.window_starts.pop(), append=False)

    # --- export -------------------------------------------------------------------------------
    def action_export(self) -> None:
        fields = (
            FormField("path", "File path", placeholder="/tmp/history.csv"),
            FormField("format", "Format (csv or json)", value="csv",
                      validators=(Function(lambda v: v in EXPORT_FORMATS, "format must be csv or json"),)),
        )
        described = describe_filter(self.filt) or "no filter"
        self.app.push_screen(FormModal("Export history", fields, explanation=f"Rows matching: {described}",
                                       submit_label="Export"), self._export)

    def _export(self, values: dict[str, str] | None) -> None:
        if not values:
            return
        filt, store = self.filt, self.context.store
        path, fmt = values["path"], values["format"]
        def export() -> tuple[int, str]:
            worker = get_current_worker()
            return export_history(store, filt, path, fmt, cancelled=lambda: worker.is_cancelled), path

        self.run_job("history-export", export)

    # --- verify again ---------------------------------------------------------------------------
    def action_verify(self) -> None:
        """Verify the selected row's image again, now, at the digest it had then."""
        row = self.table.cursor_row
        if not 0 <= row < len(self.rows):
            return
        chosen, context = self.rows[row], self.context
        try:
            ref = parse_reference(chosen.reference)
        except SignetError as exc:  # a row recorded from bad input: say so instead of a worker failure
            self.notify(str(exc), title="verify", severity="error", markup=False)
            return
        if chosen.digest:
            ref = ref.with_tag(None).with_digest(chosen.digest)

        def verify() -> VerificationResult:
            # Imported here: the verification stack would double the time it takes to open History.
            from core.verify.service import verify_images
            from core.verify.verifier import Verifier

            return verify_images(context, [ref], Verifier.for_args(context), source="tui")[0]

        self.run_job("history-verify", verify, cli=[("verify", str(ref))])
