"""lambda view (being built)."""

from __future__ import annotations

from tui.screens.base import ViewScreen


class LambdaView(ViewScreen):
    VIEW_NAME = "lambda"
