"""`@`: the command-line equivalents of what this console session did (tui/cli_log.py)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.cli_log import CliEntry


class CliLogModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,at", "close", "Close")]

    def __init__(self, entries: list[CliEntry]) -> None:
        super().__init__(classes="form-modal")
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(id="form", classes="wide"):
            title = "Command-line equivalents of this session's actions (newest last; esc closes)"
            yield Static(Text(title, style="bold"), id="form-title")
            if not self.entries:
                yield Static(Text("Nothing yet: verify, sweep, approve… and the signet command appears here."))
            yield DataTable(id="cli-log-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("time", "view", "command")
        for entry in self.entries:  # outside text (tags, justifications): Text, never markup
            table.add_row(Text(entry.at.strftime("%H:%M:%S")), Text(entry.view), Text(entry.command))
        if self.entries:
            table.move_cursor(row=len(self.entries) - 1)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
