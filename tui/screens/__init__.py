"""The console's views, by the name typed after `:`. Imported lazily so start-up loads one view."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.screens.base import ViewScreen

VIEWS: dict[str, tuple[str, str, str]] = {
    # name: (module, class, one-line description for the switcher and palette)
    "dashboard": ("tui.screens.dashboard", "DashboardView", "What needs attention now"),
    "registries": ("tui.screens.registries", "RegistriesView", "Registries, repositories, tags and their signatures"),
    "clusters": ("tui.screens.clusters", "ClustersView", "Running images per cluster, sweep, policy drift"),
    "lambda": ("tui.screens.lambda_", "LambdaView", "Lambda functions and the release gate"),
    "keys": ("tui.screens.keys", "KeysView", "Signing keys: rotation, backups, restore drills"),
    "bypasses": ("tui.screens.bypasses", "BypassesView", "Emergency bypasses: request, approve, revoke"),
    "whatif": ("tui.screens.whatif", "WhatIfView", "What a trust change would deny, before it is made"),
    "history": ("tui.screens.history", "HistoryView", "Every verification, newest first"),
    "audit": ("tui.screens.audit", "AuditView", "The hash-chained audit log"),
}
VIEW_NAMES = tuple(VIEWS)


def view_class(name: str) -> type["ViewScreen"]:
    module, cls, _ = VIEWS[name]
    return getattr(importlib.import_module(module), cls)


def match_view(text: str) -> str | None:
    """Exact name, else the only view starting with `text` (`:reg`, `:hist`)."""
    text = text.strip().lower()
    if text in VIEWS:
        return text
    found = [name for name in VIEWS if name.startswith(text)] if text else []
    return found[0] if len(found) == 1 else None
