"""registries view (being built)."""

from __future__ import annotations

from tui.screens.base import ViewScreen


class RegistriesView(ViewScreen):
    VIEW_NAME = "registries"
