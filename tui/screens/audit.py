"""Audit: the hash-chained log, newest first in keyset pages, with the chain checked in a worker."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.binding import Binding

from core.audit.chain import AuditEntry, ChainStatus, list_entries, verify_chain
from tui.screens.base import TableView
from tui.widgets.cells import cell
from tui.widgets.detail_pane import DetailPane

PAGE_ROWS = 200
PREFETCH_MARGIN = 20


class AuditView(TableView):
    VIEW_NAME = "audit"
    BINDINGS = [
        Binding("enter", "drill", "Details", id="drill"),
        Binding("c", "check_chain", "Check chain", id="check_chain"),
    ]

    def __init__(self, context, *, initial_filter: str = "") -> None:
        super().__init__(context, initial_filter=initial_filter)
        self.entries: list[AuditEntry] = []
        self.shown: list[AuditEntry] = []
        self.has_more = False
        self.loading = False

    def filter_hint(self) -> str:
        return "filter the loaded entries: actor, action or subject text"

    def prepare(self) -> None:
        self.add_columns(("seq", 7), ("at", 19), ("actor", 14), ("action", 22), ("subject", 40))

    def refresh_view(self) -> None:
        self.entries = []
        self._load(None)
        self.action_check_chain()

    def _load(self, before: int | None) -> None:
        store = self.context.store
        self.loading = True

        def page() -> list[AuditEntry]:
            with store.read() as db:
                return list_entries(db, before_seq=before, limit=PAGE_ROWS + 1)

        self.run_job("audit-page", page, token=before)

    def action_check_chain(self) -> None:
        store = self.context.store

        def check() -> ChainStatus:
            with store.read() as db:
                return verify_chain(db)

        self.set_info("chain: checking…")
        self.run_job("audit-chain", check)

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        if kind == "audit-page":
            self.loading = False
            self.has_more = len(value) > PAGE_ROWS
            self.entries.extend(value[:PAGE_ROWS])
            self._render_rows(reset=token is None)
        elif kind == "audit-chain":
            self._show_chain(value)

    def job_failed(self, kind: str, error: BaseException | None) -> None:
        self.loading = False

    def _show_chain(self, status: ChainStatus) -> None:
        text = Text("chain: ")
        if status.intact:
            text.append(f"intact ({status.entries} entries, head {status.head_hash[:16]})", style="bold green")
        else:
            text.append(f"BROKEN at sequence {status.first_bad_seq}: ", style="bold red")
            text.append(status.reason)
        self.set_info(text)

    def apply_filter(self, text: str) -> None:
        self._render_rows(reset=True)

    def _matches(self, entry: AuditEntry) -> bool:
        return self.matches_filter(entry.actor, entry.action, entry.subject)

    def _render_rows(self, *, reset: bool) -> None:
        table = self.table
        if reset:
            table.clear()
            self.shown = []
        new = [e for e in self.entries[len(self.shown):] if self._matches(e)] if not reset else \
            [e for e in self.entries if self._matches(e)]
        table.add_rows([cell(e.seq), cell(e.at[:19]), cell(e.actor), cell(e.action), cell(e.subject)] for e in new)
        self.shown.extend(new)
        if reset and self.shown:
            self.show_detail(0)

    def row_reached(self, index: int) -> None:
        if index >= len(self.shown) - PREFETCH_MARGIN and self.has_more and not self.loading:
            self._load(self.entries[-1].seq)

    def show_detail(self, index: int) -> None:
        if 0 <= index < len(self.shown):
            e = self.shown[index]
            self.query_one(DetailPane).show(f"#{e.seq} {e.action}", [
                ("at", e.at), ("actor", e.actor), ("subject", e.subject),
                ("details", json.dumps(e.details, indent=2, sort_keys=True)), ("hash", e.hash),
                ("previous", e.prev_hash)])
