"""bypasses view (being built)."""

from __future__ import annotations

from tui.screens.base import ViewScreen


class BypassesView(ViewScreen):
    VIEW_NAME = "bypasses"
