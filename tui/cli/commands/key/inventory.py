"""`signet key generate|import|export|list`: the key inventory."""

from __future__ import annotations

from pathlib import Path

import click

from core.crypto.public_keys import MAX_PEM_BYTES
from core.errors import InputError
from core.identity import Role
from core.keys.custody import KeyPlacement, export_key, generate_key, import_key, import_kms_key
from core.files import read_limited_file
from core.keys.local_store import write_secret_file
from core.keys.overview import key_overview
from tui.cli.commands.key.secrets import STORE_CHOICE, new_passphrase
from tui.cli.context import signet_context
from tui.cli.output import diagnostic, emit_json, emit_line, emit_table
from tui.cli.passphrases import passphrase_provider


@click.command("generate")
@click.option("--name", required=True, help="Name for the new key (letters, digits, . _ -).")
@click.option("--store", type=STORE_CHOICE, default="local", show_default=True, help="Where the private key lives.")
@click.option("--region", default=None, help="AWS region for secretsmanager/kms.")
@click.option("--custodian", "custodians", multiple=True, help="Custodian of this key (repeatable).")
@click.option("--passphrase-file", default=None, metavar="FILE", help="Read the new key's passphrase from FILE.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def generate(ctx: click.Context, name: str, store: str, region: str | None, custodians: tuple[str, ...],
             passphrase_file: str | None, as_json: bool) -> None:
    """Create an ECDSA P-256 key (cosign format; signing in KMS for --store kms)."""
    sc = signet_context(ctx)
    sc.require_write(Role.CUSTODIAN, action="key generation")  # before any prompt
    passphrase = None if store == "kms" else new_passphrase(passphrase_file, name)
    record = generate_key(sc, name=name, passphrase=passphrase, placement=KeyPlacement(store=store, region=region),
                          custodians=custodians)
    emit_key(record, as_json)


@click.command("import")
@click.argument("source", metavar="FILE|awskms:///ARN")
@click.option("--name", required=True, help="Name for the imported key.")
@click.option("--store", type=click.Choice(["local", "secretsmanager"]), default="local", show_default=True)
@click.option("--region", default=None, help="AWS region for secretsmanager.")
@click.option("--custodian", "custodians", multiple=True, help="Custodian of this key (repeatable).")
@click.option("--passphrase-file", default=None, metavar="FILE", help="Read the key file's passphrase from FILE.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def import_(ctx: click.Context, source: str, name: str, store: str, region: str | None, custodians: tuple[str, ...],
            passphrase_file: str | None, as_json: bool) -> None:
    """Import a cosign encrypted key file (either PEM label), or adopt a KMS key by ARN."""
    sc = signet_context(ctx)
    sc.require_write(Role.CUSTODIAN, action="key import")
    if source.startswith("awskms://") or source.startswith("arn:"):
        record = import_kms_key(sc, name=name, arn=source, custodians=custodians)
    else:
        pem = read_limited_file(source, MAX_PEM_BYTES, what="key file")
        record = import_key(sc, name=name, pem=pem, passphrase=passphrase_provider(passphrase_file)(source),
                            placement=KeyPlacement(store=store, region=region), custodians=custodians)
    emit_key(record, as_json)


@click.command("export")
@click.argument("key")
@click.option("--out", "out", required=True, metavar="FILE", help="File to write (refuses to overwrite).")
@click.option("--public", is_flag=True, help="Export the public key (cosign.pub) instead.")
@click.pass_context
def export(ctx: click.Context, key: str, out: str, public: bool) -> None:
    """Write the cosign-encrypted private key (mode 0600) or, with --public, the public key."""
    sc = signet_context(ctx)
    data = export_key(sc, key, public=public)
    if public:
        path = Path(out)
        if path.exists():
            raise InputError(f"{out} already exists; refusing to overwrite it")
        path.write_bytes(data)
    else:
        write_secret_file(Path(out), data)
    diagnostic(f"wrote {'public' if public else 'encrypted private'} key to {out}")


@click.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every key: fingerprint, where it lives, state, custodians, verifiers, backup drills."""
    sc = signet_context(ctx)
    rows = key_overview(sc)
    now = sc.clock()
    if as_json:
        emit_json([row.as_dict(now) for row in rows])
        return
    emit_table(["NAME", "ID", "FINGERPRINT", "ALGORITHM", "LOCATION", "STATE", "CREATED", "CUSTODIANS",
                "TRUSTED BY", "BACKUPS"],
               [[r.key.name, r.key.id, r.key.short, r.key.algorithm, r.key.location, r.key.state,
                 r.key.created_at[:10], ", ".join(r.key.custodians), ", ".join(r.key.trusted_by),
                 f"{len(r.backups)} ({r.backup_status})"] for r in rows])
    overdue = [r.key.name for r in rows if r.needs_attention]
    if overdue:
        diagnostic(f"backup attention needed (no backup or restore drill overdue): {', '.join(overdue)}")


def emit_key(record, as_json: bool) -> None:
    if as_json:
        emit_json(record.as_dict())
        return
    emit_line(f"{record.id}  {record.name}  {record.fingerprint}  {record.location}  {record.state}")


COMMANDS = (generate, import_, export, list_)
