"""Open the core context from the global flags, once per command."""

from __future__ import annotations

import click

from core.context import SignetContext, open_context
from tui.cli.output import diagnostic


def signet_context(ctx: click.Context, *, interface: str = "cli") -> SignetContext:
    root = ctx.find_root().obj or {}
    existing = root.get("_context")
    if existing is not None:
        return existing
    context = open_context(db=root.get("db"), config=root.get("config"), read_only=root.get("read_only", False),
                           interface=interface)
    root["_context"] = context
    for note in context.principal.notes:
        diagnostic(f"note: {note}")
    ctx.call_on_close(context.close)
    return context
