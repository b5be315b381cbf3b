"""`signet metrics`: the Prometheus text exposition computed from the store (the same families a
sweep's `--prometheus-textfile` writes; see core/metrics.py for each one)."""

from __future__ import annotations

import click

from core.metrics import exposition, write_textfile
from tui.cli.context import signet_context
from tui.cli.output import emit_line


@click.command("metrics")
@click.option("--textfile", default=None, metavar="PATH", help="Write to this file (atomically) instead of stdout.")
@click.pass_context
def command(ctx: click.Context, textfile: str | None) -> None:
    """Print verification metrics in the Prometheus text format."""
    sc = signet_context(ctx)
    if textfile:
        write_textfile(sc, textfile)
        return
    emit_line(exposition(sc).decode().rstrip("\n"))
