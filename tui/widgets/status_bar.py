"""The top line of every view: which environment, where you are, who you are, what you may do.

The environment's tier colours the whole line (classes `tier-production` etc. in app.tcss), so a
production console never looks like a staging one (k9s's per-context skin)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.config.model import EnvironmentConfig
from core.identity import Principal


def status_text(view: str, principal: Principal, crumbs: str = "", environment: str = "") -> Text:
    text = Text()
    text.append(" signet ", style="bold reverse")
    if environment:
        text.append(" ")
        text.append(f" {environment.upper()} ", style="bold reverse")  # a config value: plain text
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
    """Environment, identity, roles, read-only badge and breadcrumbs."""

    def __init__(self, view: str, principal: Principal, environment: EnvironmentConfig) -> None:
        super().__init__(status_text(view, principal, environment=environment.name), id="status-bar",
                         classes=f"tier-{environment.resolved_tier}" if environment.name else "")
        self.view = view
        self.principal = principal
        self.environment = environment.name

    def set_crumbs(self, crumbs: str) -> None:
        self.update(status_text(self.view, self.principal, crumbs, self.environment))
