"""`signet key ...`: key custody — generate, import, export, list, back up, restore, rotate.

KEY is a key id, name or fingerprint prefix. A key's passphrase comes from `--passphrase-file`, else
`$SIGNET_PASSWORD`, else a hidden prompt (with confirmation when it protects a new key). A backup's
passphrase comes from `--backup-passphrase-file` or a prompt; shares from `--share-file` (one share
per line) or hidden prompts. Secrets are never printed, except the shares of a new backup, printed
once to stdout by `key backup` / `key rotate start`: hand each to its custodian.

JSON (`--json`):
  key list        [{id, name, fingerprint, algorithm, location, location_ref, state, created_at,
                    activated_at, retired_at, revoked_at, custodians, trusted_by, backup_status,
                    drill_overdue, backups: [{id, key_id, scheme, threshold, share_count, location,
                    custodians: [{index, name}], created_at, last_tested_at, last_test_result,
                    drill_due_at, drill_overdue}]}]
  generate/import one key object (fields of `key list` without the backup fields)
  backup          {backup: <backup object>, path, shares: [{index, custodian, mnemonic}]}
  backup test     {backup_id, fingerprint, ok, reason, tested_at}
  backup list     [<backup object>] (the `backups` entries of `key list`)
  rotate ...      RotationStatus.as_dict(): {id, old_key, new_key, step, status, started_at, updated_at,
                    coverage, next_action, details}; `rotate start` and `rotate resume` add `shares`
                    (the new key's backup shares; empty for a passphrase backup or a KMS key)
Exit codes: 0 done, 1 rotation blocked at the soak step (coverage below the minimum), 2 usage/input/
state errors, 3 an outside system (registry, AWS, cluster, disk) failed.
  rotate revoke --emergency   EmergencyRevocation.as_dict()
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from core.clusters.policy_apply import ENGINES
from core.context import SignetContext
from core.crypto.public_keys import MAX_PEM_BYTES
from core.errors import CheckFailed, InputError
from core.identity import Role
from core.keys.backup import (
    CreatedBackup,
    PassphraseScheme,
    ShareScheme,
    create_backup,
    drill_backup,
    list_backups,
    read_backup_file,
    restore_backup,
)
from core.keys.custody import KeyPlacement, export_key, generate_key, import_key, import_kms_key
from core.keys.emergency import emergency_revoke
from core.keys.inventory import find_key, list_keys
from core.keys.local_store import read_limited_file, write_secret_file
from core.keys.overview import key_overview
from core.keys.publish import PublishHook, cluster_apply_hook
from core.keys.rotation import (
    AdvanceOptions,
    RotationStatus,
    StageInputs,
    advance_rotation,
    list_rotations,
    retire_rotation,
    rotation_status,
    start_rotation,
)
from tui.cli.context import signet_context
from tui.cli.output import diagnostic, emit_json, emit_line, emit_table
from tui.cli.passphrases import passphrase_provider
from tui.cli.trust_options import allow_http_option, stacked

MAX_SHARE_FILE = 64 * 1024
STORE_CHOICE = click.Choice(["local", "secretsmanager", "kms"])


class _DefaultCommandGroup(click.Group):
    """`key backup KEY ...` creates a backup; `key backup test FILE` runs a drill."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group("key")
def command() -> None:
    """Key custody: cosign-compatible keys, backups with custodian shares, rotation."""


# --- secrets from files, environment or prompts -----------------------------------------------------


def _new_passphrase(passphrase_file: str | None, what: str) -> bytes:
    import os

    if passphrase_file or "SIGNET_PASSWORD" in os.environ:
        return passphrase_provider(passphrase_file)(what)
    return click.prompt(f"New passphrase for {what}", hide_input=True, confirmation_prompt=True, err=True).encode()


def _backup_passphrase(path: str | None, *, confirm: bool) -> bytes:
    if path:
        return passphrase_provider(path)("backup")
    return click.prompt("Backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True).encode()


def _read_shares(files: tuple[str, ...], needed: int | None) -> list[str]:
    shares: list[str] = []
    for name in files:
        data = read_limited_file(name, MAX_SHARE_FILE, what="share file")
        shares += [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    if not files:
        for i in range(needed or 0):
            shares.append(click.prompt(f"Share {i + 1} of {needed}", hide_input=True, err=True))
    return shares


def _unlock(backup_path: str, share_files: tuple[str, ...], backup_passphrase_file: str | None) -> dict:
    backup = read_backup_file(Path(backup_path))
    if backup.scheme == "shares":
        return {"shares": _read_shares(share_files, backup.threshold)}
    return {"passphrase": _backup_passphrase(backup_passphrase_file, confirm=False)}


def _scheme(shares: str | None, use_passphrase: bool, custodians: tuple[str, ...],
            backup_passphrase_file: str | None) -> ShareScheme | PassphraseScheme:
    if bool(shares) == use_passphrase:
        raise InputError("choose exactly one of --shares M-of-N or --passphrase")
    if shares:
        return ShareScheme.parse(shares, custodians)
    return PassphraseScheme(_backup_passphrase(backup_passphrase_file, confirm=True))


def _print_shares(created: CreatedBackup, key_name: str) -> None:
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


def _shares_json(created: CreatedBackup | None) -> list[dict]:
    if created is None:
        return []
    return [{"index": s.index, "custodian": s.custodian, "mnemonic": s.mnemonic} for s in created.shares]


# --- generate / import / export / list --------------------------------------------------------------


@command.command("generate")
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
    passphrase = None if store == "kms" else _new_passphrase(passphrase_file, name)
    record = generate_key(sc, name=name, passphrase=passphrase, placement=KeyPlacement(store=store, region=region),
                          custodians=custodians)
    _emit_key(record, as_json)


@command.command("import")
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
    _emit_key(record, as_json)


@command.command("export")
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


@command.command("list")
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


def _emit_key(record, as_json: bool) -> None:
    if as_json:
        emit_json(record.as_dict())
        return
    emit_line(f"{record.id}  {record.name}  {record.fingerprint}  {record.location}  {record.state}")


# --- backups ----------------------------------------------------------------------------------------


@command.group("backup", cls=_DefaultCommandGroup)
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
    scheme = _scheme(shares, use_passphrase, custodians, backup_passphrase_file)
    created = create_backup(sc, key, scheme, passphrase_provider=passphrase_provider(passphrase_file),
                            out=Path(out) if out else None)
    if as_json:
        emit_json({"backup": created.record.as_dict(sc.clock()), "path": str(created.path),
                   "shares": _shares_json(created)})
        return
    _print_shares(created, key)
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
    result = drill_backup(sc, Path(file), **_unlock(file, share_files, backup_passphrase_file))
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


@command.command("restore")
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
    unlock = _unlock(file, share_files, backup_passphrase_file)
    record = restore_backup(sc, Path(file), new_passphrase=_new_passphrase(passphrase_file, "the restored key"),
                            name=name, **unlock)
    _emit_key(record, as_json)


# --- rotation ---------------------------------------------------------------------------------------


@command.group("rotate")
def rotate() -> None:
    """Rotate a key step by step: start, next, status, retire, revoke, resume."""


_stage_options = stacked(
    click.option("--new-name", default=None, help="Name of the new key (required by start)."),
    click.option("--store", type=STORE_CHOICE, default="local", show_default=True),
    click.option("--region", default=None, help="AWS region for secretsmanager/kms."),
    click.option("--shares", default=None, metavar="M-of-N", help="Back up the new key with SLIP-39 shares."),
    click.option("--backup-passphrase", "use_passphrase", is_flag=True, help="Back up with a passphrase."),
    click.option("--backup-passphrase-file", default=None, metavar="FILE"),
    click.option("--custodian", "custodians", multiple=True, help="Holder of share i (repeat N times)."),
    click.option("--backup-out", default=None, metavar="FILE", help="Where to write the new key's backup."),
    click.option("--passphrase-file", default=None, metavar="FILE", help="Passphrase for the new key."),
)


def _stage_inputs(new_name: str | None, store: str, region: str | None, shares: str | None, use_passphrase: bool,
                  backup_passphrase_file: str | None, custodians: tuple[str, ...], backup_out: str | None,
                  passphrase_file: str | None) -> StageInputs:
    if not new_name:
        raise InputError("--new-name is required to stage the new key")
    scheme = _scheme(shares, use_passphrase, custodians, backup_passphrase_file)
    passphrase = None if store == "kms" else _new_passphrase(passphrase_file, new_name)
    return StageInputs(new_name=new_name, backup=scheme, new_passphrase=passphrase,
                       placement=KeyPlacement(store=store, region=region),
                       backup_out=Path(backup_out) if backup_out else None, custodians=custodians)


@rotate.command("start")
@click.argument("old_key")
@_stage_options
@click.option("--policy-dir", default=None, metavar="DIR", help="Where to write the verifier policy files.")
@click.option("--image", "images", multiple=True, metavar="GLOB", help="Images the policies cover (default **).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rotate_start(ctx: click.Context, old_key: str, policy_dir: str | None, images: tuple[str, ...], as_json: bool,
                 **stage: object) -> None:
    """Stage a new key for OLD_KEY: generate, back up, test-restore, smoke-test."""
    sc = signet_context(ctx)
    sc.require_write(Role.CUSTODIAN, action="key rotation")
    started = start_rotation(sc, old_key, _stage_inputs(**stage),  # type: ignore[arg-type]
                             image_globs=images or ("**",), policy_dir=Path(policy_dir) if policy_dir else None)
    _emit_status_and_shares(started.status, started.backup, as_json)


@rotate.command("status")
@click.argument("rotation_id", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rotate_status(ctx: click.Context, rotation_id: str | None, as_json: bool) -> None:
    """One rotation in detail, or every rotation."""
    sc = signet_context(ctx)
    if rotation_id:
        _emit_status(rotation_status(sc, rotation_id), as_json)
        return
    rows = list_rotations(sc)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    emit_table(["ID", "OLD KEY", "NEW KEY", "STEP", "STATUS", "COVERAGE", "UPDATED"],
               [[r.id, r.old_key.name, r.new_key.name if r.new_key else "", r.step, r.status,
                 "" if r.coverage is None else f"{r.coverage:.0%}", r.updated_at[:19]] for r in rows])


def _advance_options(passphrase_file: str | None, allow_http: bool, *, force: bool = False, reason: str = "",
                     stage: StageInputs | None = None, on_backup: Callable[[CreatedBackup], None] | None = None,
                     hook: PublishHook | None = None) -> AdvanceOptions:
    return AdvanceOptions(passphrase_provider=passphrase_provider(passphrase_file), allow_http=allow_http,
                          progress=lambda done, total: diagnostic(f"{done}/{total} images"), force=force,
                          reason=reason, stage=stage, on_backup=on_backup, publish_hook=hook)


_apply_options = stacked(
    click.option("--apply-to", "apply_to", multiple=True, metavar="CONTEXT",
                 help="Also apply the rewritten policies to this cluster context (repeatable)."),
    click.option("--kubeconfig", default=None, metavar="PATH", help="Kubeconfig for --apply-to."),
    click.option("--engine", "engines", multiple=True, type=click.Choice(["kyverno", "sigstore"]),
                 help="Which policy to apply (default both)."),
)


def _hook(sc: SignetContext, apply_to: tuple[str, ...], kubeconfig: str | None,
          engines: tuple[str, ...]) -> PublishHook | None:
    if not apply_to:
        return None
    kinds = [{"kyverno": "ClusterPolicy", "sigstore": "ClusterImagePolicy"}[e] for e in engines or ENGINES]
    return cluster_apply_hook(sc, apply_to, kubeconfig=kubeconfig, kinds=kinds)


_with_advance_flags = stacked(
    click.option("--passphrase-file", default=None, metavar="FILE", help="Passphrase of the new key (re-signing)."),
    allow_http_option,
    click.option("--json", "as_json", is_flag=True),
)


@rotate.command("next")
@click.argument("rotation_id")
@_with_advance_flags
@_apply_options
@click.pass_context
def rotate_next(ctx: click.Context, rotation_id: str, passphrase_file: str | None, allow_http_registry: bool,
                as_json: bool, apply_to: tuple[str, ...], kubeconfig: str | None, engines: tuple[str, ...]) -> None:
    """Run the rotation's next step."""
    sc = signet_context(ctx)
    hook = _hook(sc, apply_to, kubeconfig, engines)
    status = advance_rotation(sc, rotation_id, _advance_options(passphrase_file, allow_http_registry, hook=hook))
    _emit_status(status, as_json)
    _fail_if_blocked(status)


@rotate.command("resume")
@click.argument("rotation_id")
@_stage_options
@allow_http_option
@click.option("--json", "as_json", is_flag=True)
@_apply_options
@click.pass_context
def rotate_resume(ctx: click.Context, rotation_id: str, allow_http_registry: bool, as_json: bool,
                  apply_to: tuple[str, ...], kubeconfig: str | None, engines: tuple[str, ...],
                  **stage: object) -> None:
    """Re-run an interrupted step (the stage step needs the same options as `start`)."""
    sc = signet_context(ctx)
    sc.require_write(Role.CUSTODIAN, action="key rotation")
    current = rotation_status(sc, rotation_id)
    passphrase_file = str(stage["passphrase_file"]) if stage["passphrase_file"] else None
    inputs = _stage_inputs(**stage) if current.step == "stage" else None  # type: ignore[arg-type]
    made: list[CreatedBackup] = []
    options = _advance_options(passphrase_file, allow_http_registry, stage=inputs, on_backup=made.append,
                               hook=_hook(sc, apply_to, kubeconfig, engines))
    status = advance_rotation(sc, rotation_id, options)
    _emit_status_and_shares(status, made[0] if made else None, as_json)
    _fail_if_blocked(status)


@rotate.command("retire")
@click.argument("rotation_id")
@click.option("--force", is_flag=True, help="Retire even below full re-signing coverage (needs --reason).")
@click.option("--reason", default="", help="Why retirement is forced; recorded in the audit log.")
@_with_advance_flags
@_apply_options
@click.pass_context
def rotate_retire(ctx: click.Context, rotation_id: str, force: bool, reason: str, passphrase_file: str | None,
                  allow_http_registry: bool, as_json: bool, apply_to: tuple[str, ...], kubeconfig: str | None,
                  engines: tuple[str, ...]) -> None:
    """Check soak coverage, then retire the old key (removed from the policy files)."""
    sc = signet_context(ctx)
    options = _advance_options(passphrase_file, allow_http_registry, force=force, reason=reason,
                               hook=_hook(sc, apply_to, kubeconfig, engines))
    status = retire_rotation(sc, rotation_id, options)
    _emit_status(status, as_json)
    _fail_if_blocked(status)


@rotate.command("revoke")
@click.argument("target", metavar="ROTATION_ID|KEY")
@click.option("--emergency", is_flag=True, help="TARGET is a compromised KEY: revoke now, skipping the soak.")
@click.option("--reason", default="", help="Why (required with --emergency).")
@click.option("--policy-dir", default=None, metavar="DIR")
@allow_http_option
@click.option("--json", "as_json", is_flag=True)
@_apply_options
@click.pass_context
def rotate_revoke(ctx: click.Context, target: str, emergency: bool, reason: str, policy_dir: str | None,
                  allow_http_registry: bool, as_json: bool, apply_to: tuple[str, ...], kubeconfig: str | None,
                  engines: tuple[str, ...]) -> None:
    """Revoke the old key of a retired rotation, or (--emergency) a compromised key at once."""
    sc = signet_context(ctx)
    if not emergency:
        current = rotation_status(sc, target)
        if current.step != "revoke":
            raise InputError(f"rotation {target} is at '{current.step}'; revocation is the last step")
        _emit_status(advance_rotation(sc, target, AdvanceOptions(allow_http=allow_http_registry)), as_json)
        return
    report = emergency_revoke(sc, target, reason=reason, policy_dir=Path(policy_dir) if policy_dir else None,
                              allow_http=allow_http_registry, publish_hook=_hook(sc, apply_to, kubeconfig, engines))
    if as_json:
        emit_json(report.as_dict())
        return
    emit_line(f"revoked {report.key.name} ({report.key.fingerprint}); {report.destroyed}")
    for path in report.policy_files:
        emit_line(f"policy rewritten: {path}")
    emit_line(f"{len(report.signed_only_by_revoked)} of {report.in_use} in-use image(s) were signed only by this key:")
    for ref in report.signed_only_by_revoked:
        emit_line(f"  {ref}")
    if report.unverified:
        emit_line(f"{len(report.unverified)} in-use image(s) verify with no key at all:")
        for ref in report.unverified:
            emit_line(f"  {ref}")


def _emit_status_and_shares(status: RotationStatus, backup: CreatedBackup | None, as_json: bool) -> None:
    """A step that may have made the new key's backup: its shares are shown once, with the status."""
    if as_json:
        emit_json({**status.as_dict(), "shares": _shares_json(backup)})
        return
    if backup is not None:
        _print_shares(backup, status.new_key.name if status.new_key else "")
    _emit_status(status, as_json=False)


def _emit_status(status: RotationStatus, as_json: bool) -> None:
    if as_json:
        emit_json(status.as_dict())
        return
    new = status.new_key
    emit_line(f"rotation {status.id}: {status.old_key.name} ({status.old_key.short}) -> "
              f"{new.name + ' (' + new.short + ')' if new else '(not generated yet)'}")
    emit_line(f"step: {status.step}   status: {status.status}"
              + ("" if status.coverage is None else f"   coverage: {status.coverage:.1%}"))
    emit_line(f"next: {status.next_action}")


def _fail_if_blocked(status: RotationStatus) -> None:
    if status.status == "blocked":
        raise CheckFailed(f"rotation {status.id} is blocked at the soak step: coverage {status.coverage:.1%}")
