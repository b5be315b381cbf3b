"""`signet audit verify|export|list`: the tamper-evident audit log (a hash chain in the database).

JSON:
- `audit verify --json`: {intact, entries, first_bad_seq (null when intact), reason, head_hash};
  exit 0 when intact, 1 when broken.
- `audit export`: JSON lines, oldest first, one entry per line: {seq, at, actor, action, subject,
  details, prev_hash, hash}.
"""

from __future__ import annotations

import click

from core.audit.chain import export_entries, list_entries, verify_chain
from core.errors import AuditChainBroken
from tui.cli.context import signet_context
from tui.cli.output import emit_json, emit_json_lines, emit_line, emit_table


@click.group("audit")
def command() -> None:
    """The tamper-evident audit log."""


@command.command("verify")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def verify(ctx: click.Context, as_json: bool) -> None:
    """Walk the hash chain; exit 0 when intact, 1 naming the first bad sequence number."""
    sc = signet_context(ctx)
    with sc.store.read() as db:
        status = verify_chain(db)
    if as_json:
        emit_json({"intact": status.intact, "entries": status.entries, "first_bad_seq": status.first_bad_seq,
                   "reason": status.reason, "head_hash": status.head_hash})
    elif status.intact:
        emit_line(f"audit chain intact: {status.entries} entries, head {status.head_hash[:16]}")
    if not status.intact:
        raise AuditChainBroken(status.first_bad_seq or 0, status.reason)


@command.command("export")
@click.pass_context
def export(ctx: click.Context) -> None:
    """Write every entry as JSON lines, oldest first."""
    sc = signet_context(ctx)
    with sc.store.read() as db:  # one snapshot: the export is one consistent prefix of the chain
        emit_json_lines(e.as_dict() for e in export_entries(db))


@command.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def list_(ctx: click.Context, limit: int) -> None:
    """Newest entries first."""
    sc = signet_context(ctx)
    with sc.store.read() as db:
        entries = list_entries(db, limit=limit)
    emit_table(["seq", "at", "actor", "action", "subject"],
               [(e.seq, e.at, e.actor, e.action, e.subject) for e in entries])
