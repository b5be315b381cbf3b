"""The Signet console (Textual)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

from core.context import SignetContext


class SignetApp(App):
    TITLE = "Signet"

    def __init__(self, context: SignetContext) -> None:
        super().__init__()
        self.context = context

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Signet — {self.context.principal.identity}", id="welcome", markup=False)
        yield Footer()
