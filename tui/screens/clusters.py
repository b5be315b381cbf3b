"""clusters view (being built)."""

from __future__ import annotations

from tui.screens.base import ViewScreen


class ClustersView(ViewScreen):
    VIEW_NAME = "clusters"
