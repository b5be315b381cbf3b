"""`signet locate`: where the database, configuration and key store are.

`--json` prints {db, config, key_store} (paths as strings; db is the team store URL when one is named).
"""

from __future__ import annotations

import click

from core.paths import resolve_paths
from tui.cli.output import emit_json, emit_line


@click.command("locate")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """Print the database, config and key-store paths."""
    root = ctx.find_root().obj or {}
    paths = resolve_paths(db=root.get("db"), config=root.get("config"))
    db = paths.store_url or str(paths.db)
    if as_json:
        emit_json({"db": db, "config": str(paths.config), "key_store": str(paths.key_store)})
        return
    emit_line(f"db        {db}")
    emit_line(f"config    {paths.config}")
    emit_line(f"key_store {paths.key_store}")
