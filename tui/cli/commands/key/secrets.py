"""Secrets for `signet key ...` from files, the environment or hidden prompts; the shares of a new backup
printed once. Nothing here writes a secret anywhere else."""

from __future__ import annotations

import os
from pathlib import Path

import click

from core.errors import InputError
from core.keys.backup import CreatedBackup, PassphraseScheme, ShareScheme, read_backup_file
from core.files import read_limited_file
from tui.cli.output import emit_line
from tui.cli.passphrases import ask_hidden, passphrase_provider

MAX_SHARE_FILE = 64 * 1024
STORE_CHOICE = click.Choice(["local", "secretsmanager", "kms"])


def new_passphrase(passphrase_file: str | None, what: str) -> bytes:
    if passphrase_file or "SIGNET_PASSWORD" in os.environ:
        return passphrase_provider(passphrase_file)(what)
    return ask_hidden(f"New passphrase for {what}", instead="--passphrase-file FILE (or SIGNET_PASSWORD)",
                      confirm=True).encode()


def backup_passphrase(path: str | None, *, confirm: bool) -> bytes:
    if path:
        return passphrase_provider(path)("backup")
    return ask_hidden("Backup passphrase", instead="--backup-passphrase-file FILE", confirm=confirm).encode()


def read_shares(files: tuple[str, ...], needed: int | None) -> list[str]:
    shares: list[str] = []
    for name in files:
        data = read_limited_file(name, MAX_SHARE_FILE, what="share file")
        shares += [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    if not files:
        for i in range(needed or 0):
            shares.append(ask_hidden(f"Share {i + 1} of {needed}", instead="--share-file FILE (one share per line)"))
    return shares


def unlock_backup(backup_path: str, share_files: tuple[str, ...], backup_passphrase_file: str | None) -> dict:
    backup = read_backup_file(Path(backup_path))
    if backup.scheme == "shares":
        return {"shares": read_shares(share_files, backup.threshold)}
    return {"passphrase": backup_passphrase(backup_passphrase_file, confirm=False)}


def backup_scheme(shares: str | None, use_passphrase: bool, custodians: tuple[str, ...],
            backup_passphrase_file: str | None) -> ShareScheme | PassphraseScheme:
    if bool(shares) == use_passphrase:
        raise InputError("choose exactly one of --shares M-of-N or --passphrase")
    if shares:
        return ShareScheme.parse(shares, custodians)
    return PassphraseScheme(backup_passphrase(backup_passphrase_file, confirm=True))


def print_shares(created: CreatedBackup, key_name: str) -> None:
    record = created.record
    emit_line(f"Backup {record.id} of key {key_name} written to {created.path}")
    if not created.shares:
        emit_line("Protected by the backup passphrase.")
        return
    emit_line(f"{record.threshold}-of-{record.share_count} SLIP-39 shares: any {record.threshold} restore the key. "
              "Give each share to its custodian now; Signet keeps no copy.")
    for share in created.shares:
        holder = f" (custodian: {share.custodian})" if share.custodian else ""
        emit_line("")
        emit_line(f"===== share {share.index} of {record.share_count}{holder} =====")
        emit_line(share.mnemonic)
        emit_line(f"===== end of share {share.index} =====")


def shares_json(created: CreatedBackup | None) -> list[dict]:
    if created is None:
        return []
    return [{"index": s.index, "custodian": s.custodian, "mnemonic": s.mnemonic} for s in created.shares]
