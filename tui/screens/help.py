"""`?`: every binding of the current view, runnable from the list (lazygit-style)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static


@dataclass(frozen=True)
class HelpEntry:
    key: str
    description: str
    action: str
    enabled: bool
    reason: str = ""


def help_entries(screen: Screen) -> list[HelpEntry]:
    """Generated from the bindings active on `screen` (its own, its widgets', the app's)."""
    entries: list[HelpEntry] = []
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or binding.action in seen:
            continue
        seen.add(binding.action)
        action = binding.action.split(".")[-1]
        reason = getattr(screen, "gate_reason", lambda a: "")(action) if not active.enabled else ""
        entries.append(HelpEntry(binding.key_display or _key_name(key), binding.description, binding.action,
                                 active.enabled, reason))
    return entries


def _key_name(key: str) -> str:
    return {"colon": ":", "slash": "/", "question_mark": "?", "escape": "esc", "at": "@", "left_square_bracket": "[",
            "right_square_bracket": "]"}.get(key, key)


class HelpModal(ModalScreen[str | None]):
    """Dismisses with the chosen action string, or None."""

    BINDINGS = [Binding("escape,question_mark", "close", "Close")]

    def __init__(self, view: str, entries: list[HelpEntry]) -> None:
        super().__init__(classes="form-modal")
        self.view = view
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Static(Text(f"Keys of {self.view} (enter runs one, esc closes)", style="bold"), id="form-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action", "state")
        for entry in self.entries:
            state = Text("ok") if entry.enabled else Text(f"disabled: {entry.reason}", style="dim")
            table.add_row(Text(entry.key, style="bold"), Text(entry.description), state)
        table.focus()

    @on(DataTable.RowSelected, "#help-table")
    def _run(self, event: DataTable.RowSelected) -> None:
        entry = self.entries[event.cursor_row]
        self.dismiss(entry.action if entry.enabled else None)

    def action_close(self) -> None:
        self.dismiss(None)
