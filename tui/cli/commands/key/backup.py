"""`signet key backup|restore`: encrypted backups with custodian shares, restore drills, restores."""

from __future__ import annotations

from pathlib import Path

import click

from core.identity import Role
from core.keys.backup import create_backup, drill_backup, restore_backup
from core.keys.backup_records import list_backups
from core.keys.inventory import find_key, list_keys
from tui.cli.commands.key.inventory import emit_key
from tui.cli.commands.key.secrets import backup_scheme, new_passphrase, print_shares, shares_json, unlock_backup
from tui.cli.context import signet_context
from tui.cli.output import diagnostic, emit_json, emit_line, emit_table
from tui.cli.passphrases import passphrase_provider


class _DefaultCommandGroup(click.Group):
    """`key backup KEY ...` creates a backup; `key backup test FILE` runs a drill."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group("backup", cls=_DefaultCommandGroup)
def backup() -> None:
    """`key backup KEY (--shares M-of-N | --passphrase)`; `key backup test FILE` for a restore drill."""


@backup.command("create")
@click.argument("key")
@click.option("--shares", default=None, metavar="M-of-N", help="Split the backup key into N SLIP-39 shares, M needed.")
@click.option("--passphrase", "use_passphrase", is_flag=True, help="Protect the backup with a passphrase instead.")
@click.option("--custodian", "custodians", multiple=True, help="Holder of share i, in order (repeat N times).")
@click.option("--out", default=None, metavar="FILE", help="Backup file (default: the backups directory).")
@click.option("--passphrase-file", default=None, metavar="FILE", help="The key's passphrase.")
@click.option("--backup-passphrase-file", default=None, metavar="FILE", help="The backup passphrase (--passphrase).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def backup_create(ctx: click.Context, key: str, shares: str | None, use_passphrase: bool, custodians: tuple[str, ...],
                  out: str | None, passphrase_file: str | None, backup_passphrase_file: str | None,
                  as_json: bool) -> None:
    """Write an encrypted backup of KEY; prints each share once."""
    sc = signet_context(ctx)
    sc.require_write(Role.CUSTODIAN, action="key backup")
    scheme = backup_scheme(shares, use_passphrase, custodians, backup_passphrase_file)
    created = create_backup(sc, key, scheme, passphrase_provider=passphrase_provider(passphrase_file),
                            out=Path(out) if out else None)
    if as_json:
        emit_json({"backup": created.record.as_dict(sc.clock()), "path": str(created.path),
                   "shares": shares_json(created)})
        return
    print_shares(created, key)
    diagnostic(f"run `signet key backup test {created.path}` with the shares to prove the backup restores")


@backup.command("test")
@click.argument("file")
@click.option("--share-file", "share_files", multiple=True, metavar="FILE", help="File with share(s), one per line.")
@click.option("--backup-passphrase-file", default=None, metavar="FILE", help="The backup passphrase.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def backup_test(ctx: click.Context, file: str, share_files: tuple[str, ...], backup_passphrase_file: str | None,
                as_json: bool) -> None:
    """Restore drill: prove FILE decrypts to the recorded key, writing no key anywhere."""
    sc = signet_context(ctx)
    sc.require_write(Role.CUSTODIAN, action="backup restore drill")
    result = drill_backup(sc, Path(file), **unlock_backup(file, share_files, backup_passphrase_file))
    if as_json:
        emit_json(result.as_dict())
        return
    emit_line(f"backup {result.backup_id} restores key {result.fingerprint} (drill recorded at {result.tested_at})")


@backup.command("list")
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def backup_list(ctx: click.Context, key: str | None, as_json: bool) -> None:
    """Backups (of KEY, or all): where each lives, who holds which share, drill results and due dates."""
    sc = signet_context(ctx)
    now = sc.clock()
    names = {k.id: k.name for k in list_keys(sc)}
    rows = list_backups(sc, find_key(sc, key).id if key else None)
    if as_json:
        emit_json([b.as_dict(now) for b in rows])
        return
    emit_table(["BACKUP", "KEY", "SCHEME", "LOCATION", "SHARE HOLDERS", "LAST TESTED", "RESULT", "DRILL DUE"],
               [[b.id, names.get(b.key_id, b.key_id),
                 f"{b.threshold}-of-{b.share_count}" if b.scheme == "shares" else "passphrase", b.location,
                 ", ".join(f"{c.get('index')}:{c.get('name') or '?'}" for c in b.custodians),
                 (b.last_tested_at or "never")[:19], b.last_test_result or "",
                 ("OVERDUE " if b.drill_overdue(now) else "") + (b.drill_due_at or "")[:10]] for b in rows])


@click.command("restore")
@click.argument("file")
@click.option("--share-file", "share_files", multiple=True, metavar="FILE", help="File with share(s), one per line.")
@click.option("--backup-passphrase-file", default=None, metavar="FILE", help="The backup passphrase.")
@click.option("--name", default=None, help="Name if the key is new to this inventory (default: the backup's).")
@click.option("--passphrase-file", default=None, metavar="FILE", help="Passphrase to protect the restored key.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def restore(ctx: click.Context, file: str, share_files: tuple[str, ...], backup_passphrase_file: str | None,
            name: str | None, passphrase_file: str | None, as_json: bool) -> None:
    """Put a key back into the local store from a backup and M shares (or its passphrase)."""
    sc = signet_context(ctx)
    sc.require_write(Role.CUSTODIAN, action="key restore")
    unlock = unlock_backup(file, share_files, backup_passphrase_file)
    record = restore_backup(sc, Path(file), new_passphrase=new_passphrase(passphrase_file, "the restored key"),
                            name=name, **unlock)
    emit_key(record, as_json)


COMMANDS = (backup, restore)
