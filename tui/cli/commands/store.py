"""`signet store init|migrate|status|copy`: the local SQLite file or a team PostgreSQL store.

A team store URL is `postgresql://LOGIN@HOST/DB` or `service=NAME` (never with a password in it:
libpq reads PGPASSWORD, ~/.pgpass, a service file or a client certificate).

JSON:
- `store status --json`: {backend ("sqlite"|"postgresql"), location, schema_version, identity, roles
  (list), rows ({table: count})}.
- `store copy --json`: {rows ({table: count}), audit_entries, head_hash}.
"""

from __future__ import annotations

import click

from core.config.loader import load_config, parse_duration
from core.context import store_location
from core.paths import resolve_paths
from core.errors import InputError
from core.store.admin import (copy_store, grant_lines, initialise_team_store, migrate_team_store, open_location,
                              schema_version, store_status)
from core.store.target import is_team_store
from tui.cli.context import signet_context
from tui.cli.output import emit_json, emit_line, emit_table


@click.group("store")
def command() -> None:
    """Where Signet keeps its state: a local file, or a team PostgreSQL database."""


def _team_url(url: str) -> str:
    if not is_team_store(url):
        raise InputError(f"'{url[:80]}' is not a team store URL (postgresql://LOGIN@HOST/DB or service=NAME)")
    return url


@command.command("init")
@click.argument("url")
@click.option("--operator", "operators", multiple=True, metavar="LOGIN", help="Print the GRANT for this login.")
@click.option("--custodian", "custodians", multiple=True, metavar="LOGIN")
@click.option("--approver", "approvers", multiple=True, metavar="LOGIN")
@click.option("--reader", "readers", multiple=True, metavar="LOGIN", help="E.g. the CI gate's login.")
@click.option("--approvals", type=int, help="Approvals a bypass needs (the store's policy; default 1).")
@click.option("--max-bypass-duration", "max_duration", metavar="DURATION",
              help="Longest bypass, e.g. 24h (the store's policy; default 24h).")
def init(url: str, operators: tuple[str, ...], custodians: tuple[str, ...], approvers: tuple[str, ...],
         readers: tuple[str, ...], approvals: int | None, max_duration: str | None) -> None:
    """Create the signet_* group roles, the schema and its grants (as a database admin; idempotent),
    set the bypass policy the database enforces, then print the GRANT lines that give people roles
    (the output is valid SQL: pipe it into psql)."""
    seconds = parse_duration(max_duration, field="--max-bypass-duration") if max_duration else None
    report = initialise_team_store(_team_url(url), approvals=approvals, max_bypass_seconds=seconds)
    created = ", ".join(report.roles_created) or "none (all existed)"
    # Every line but the GRANTs is an SQL comment, so the output can be piped into psql as it is.
    emit_line(f"-- team store {report.location}: schema version {report.schema_version}; roles created: {created}")
    emit_line(f"-- bypass policy (enforced by the database): {report.bypass_approvals} approval(s), "
              f"at most {report.max_bypass_seconds}s")
    emit_line("-- run as an admin, one line per person (each logs in as themselves):")
    for line in grant_lines({"reader": readers, "operator": operators, "custodian": custodians,
                             "approver": approvers}):
        emit_line(line)


@command.command("migrate")
@click.argument("url", required=False)
@click.pass_context
def migrate(ctx: click.Context, url: str | None) -> None:
    """Bring the store (URL, else the configured one) to this Signet's schema."""
    if url is None:
        root = ctx.find_root().obj or {}
        paths = resolve_paths(db=root.get("db"), config=root.get("config"))
        url = store_location(paths, load_config(paths.config, required=root.get("config") is not None))
    if is_team_store(url):
        version = migrate_team_store(url)
    else:
        store = open_location(url)  # a SQLite file migrates when opened
        with store.read() as db:
            version = schema_version(db)
        store.close()
    emit_line(f"schema version {version}")


@command.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Backend, schema version, who the store says you are, your roles, row counts."""
    sc = signet_context(ctx)
    result = store_status(sc.store, sc.principal.identity, (r.value for r in sc.principal.roles))
    if as_json:
        emit_json({"backend": result.backend, "location": result.location, "schema_version": result.schema_version,
                   "identity": result.identity, "roles": list(result.roles), "rows": result.rows})
        return
    kind = "team store" if result.backend == "postgresql" else "local file"
    emit_line(f"{kind}  {result.location}  ({result.backend}, schema version {result.schema_version})")
    source = "as the database authenticated it" if sc.store.login else "as configured"
    emit_line(f"identity  {result.identity} ({source}); roles: {', '.join(result.roles) or 'none'}")
    emit_table(["table", "rows"], sorted(result.rows.items()))


@command.command("copy")
@click.option("--from", "source", required=True, metavar="PATH|URL", help="The store to copy from.")
@click.option("--to", "target", required=True, metavar="URL", help="The team store to copy into.")
@click.option("--append", is_flag=True, help="Add to a target that already has rows.")
@click.option("--json", "as_json", is_flag=True)
def copy(source: str, target: str, append: bool, as_json: bool) -> None:
    """Copy history, bypasses, keys and the audit chain into a team store (one transaction; the
    audit chain is verified before and after)."""
    src = open_location(source)
    try:
        dst = open_location(_team_url(target))
        try:
            report = copy_store(src, dst, copier=dst.login or "signet", append=append)
        finally:
            dst.close()
    finally:
        src.close()
    if as_json:
        emit_json({"rows": report.rows, "audit_entries": report.audit_entries, "head_hash": report.head_hash})
        return
    emit_line(f"copied {sum(report.rows.values())} rows; audit chain of {report.audit_entries} entries verified "
              f"before and after (source head {report.head_hash[:16]})")
