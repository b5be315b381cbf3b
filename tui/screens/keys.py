"""keys view (being built)."""

from __future__ import annotations

from tui.screens.base import ViewScreen


class KeysView(ViewScreen):
    VIEW_NAME = "keys"
