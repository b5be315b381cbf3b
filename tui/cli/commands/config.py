"""`signet config show`: the effective configuration, secrets masked.

Always JSON: the fields of core/config/model.py `Config` (`identity`, `read_only`, `roles`, `source`,
and the sections `registries`, `clusters`, `aws`, `trust`, `policy`, `limits`, `environment` (name, tier), `store` (url)
with their field names),
registry usernames masked, plus `effective_identity` (str), `effective_roles` (list of role names),
`identity_source` ("config" or "database") and `paths` {db, config, key_store}.

On a team store (--db / SIGNET_DB / [store] url naming PostgreSQL) the identity is the login the server
authenticated (`session_user`) and the roles its signet_* memberships, exactly as `signet store status`
and every command see them, so this connects; `policy` is then the stricter of the file and the store's
policy row, as Signet applies it. A configured identity that disagrees is the same error (exit 2).
"""

from __future__ import annotations

import click

from core.config import load_config, masked_config
from core.context import store_location
from core.identity import principal_for
from core.paths import resolve_paths
from core.store.target import is_team_store
from tui.cli.context import signet_context
from tui.cli.output import emit_json


@click.group("config")
def command() -> None:
    """Inspect the configuration."""


@command.command("show")
@click.pass_context
def show(ctx: click.Context) -> None:
    """Print the effective configuration (defaults < file < environment < flags) as JSON."""
    root = ctx.find_root().obj or {}
    paths = resolve_paths(db=root.get("db"), config=root.get("config"))
    config = load_config(paths.config, read_only_flag=root.get("read_only", False),
                         required=root.get("config") is not None)
    if is_team_store(store_location(paths, config)):
        team = signet_context(ctx)  # the database says who you are (a local file is not opened, nor created)
        config, principal, source = team.config, team.principal, "database"
    else:
        principal, source = principal_for(config), "config"
    data = masked_config(config)
    data["effective_identity"] = principal.identity
    data["effective_roles"] = sorted(r.value for r in principal.roles)
    data["identity_source"] = source
    data["paths"] = {"db": str(paths.db), "config": str(paths.config), "key_store": str(paths.key_store)}
    emit_json(data)
