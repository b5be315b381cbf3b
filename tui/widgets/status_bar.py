"""The top line of every view: where you are, who you are, what you may do."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.identity import Principal


def status_text(view: str, principal: Principal, crumbs: str = "") -> Text:
    text = Text()
    text.append(" signet ", style="bold reverse")
    text.append(f" {view}", style="bold")
    if crumbs:
        text.append(" › ")
        text.append(crumbs)  # outside names: appended as plain text, never markup
    text.append("   ")
    text.append(principal.identity, style="bold")
    roles = ", ".join(sorted(r.value for r in principal.roles)) or "no roles"
    text.append(f" ({roles})", style="dim")
    if principal.read_only:
        text.append("  ")
        text.append(" READ-ONLY ", style="bold reverse")
    return text


class StatusBar(Static):
    """Identity, roles, read-only badge and breadcrumbs."""

    def __init__(self, view: str, principal: Principal) -> None:
        super().__init__(status_text(view, principal), id="status-bar")
        self.view = view
        self.principal = principal

    def set_crumbs(self, crumbs: str) -> None:
        self.update(status_text(self.view, self.principal, crumbs))
