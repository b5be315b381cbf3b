"""`signet key rotate ...`: rotate a key step by step (stage, publish, re-sign, soak, retire, revoke).

`--update-config` (next, resume, retire, revoke) prints and writes the `[trust] keys` change of
config.toml that goes with the step: the new key added next to the old one from publish on, the old
key removed from retire on (core/rotation/trust_config.py). Without it the change still needed is printed
with the command that applies it: `rotate config ROTATION_ID --apply`. Revoking refuses while
`[trust] keys` or a policy file Signet generated still trusts the old key, naming each file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from core.clusters.policy_apply import ENGINES
from core.context import SignetContext
from core.errors import CheckFailed, InputError, SignetError
from core.identity import Role
from core.keys.backup import CreatedBackup
from core.keys.custody import KeyPlacement
from core.rotation.emergency import emergency_revoke
from core.config_edit.edit import ConfigEdit
from core.rotation.publish import PublishHook, cluster_apply_hook
from core.rotation.resign import ResignPlan, resign_warnings
from core.rotation.rotation import (
    AdvanceOptions,
    StageInputs,
    advance_rotation,
    resign_plan,
    retire_rotation,
    start_rotation,
)
from core.keys.rotation_records import RotationStatus, list_rotations, rotation_status
from core.rotation.trust_config import apply_rotation_config_edit, rotation_config_edit
from core.text import safe_text
from tui.cli.commands.key.secrets import STORE_CHOICE, backup_scheme, new_passphrase, print_shares, shares_json
from tui.cli.context import signet_context
from tui.cli.output import diagnostic, emit_json, emit_line, emit_table
from tui.cli.passphrases import passphrase_provider
from tui.cli.trust_options import allow_http_option, stacked


@click.group("rotate")
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
    scheme = backup_scheme(shares, use_passphrase, custodians, backup_passphrase_file)
    passphrase = None if store == "kms" else new_passphrase(passphrase_file, new_name)
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
def rotate_start(ctx: click.Context, /, old_key: str, policy_dir: str | None, images: tuple[str, ...], as_json: bool,
                 **stage: object) -> None:
    """Stage a new key for OLD_KEY: generate, back up, test-restore, smoke-test."""
    sc = signet_context(ctx)
    sc.require_write(Role.CUSTODIAN, action="key rotation")
    started = start_rotation(sc, old_key, _stage_inputs(**stage),  # type: ignore[arg-type]
                             image_globs=images or ("**",), policy_dir=Path(policy_dir) if policy_dir else None)
    _emit_step_result(sc, started.status, None, as_json, started.backup, shares=True)


@rotate.command("status")
@click.argument("rotation_id", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rotate_status(ctx: click.Context, rotation_id: str | None, as_json: bool) -> None:
    """One rotation in detail, or every rotation."""
    sc = signet_context(ctx)
    if rotation_id:  # with the [trust] keys change it still needs, if any
        _emit_step_result(sc, rotation_status(sc, rotation_id), None, as_json)
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
                     hook: PublishHook | None = None, config_edit: ConfigEdit | None = None,
                     plan: ResignPlan | None = None) -> AdvanceOptions:
    return AdvanceOptions(passphrase_provider=passphrase_provider(passphrase_file), allow_http=allow_http,
                          progress=lambda done, total: diagnostic(f"{done}/{total} images"), force=force,
                          reason=reason, stage=stage, on_backup=on_backup, publish_hook=hook,
                          config_edit=config_edit, resign_plan=plan)


yes_option = click.option("--yes", is_flag=True,
                          help="Re-sign step: sign the printed plan without asking (needed when no one can answer).")


def _confirmed_plan(sc: SignetContext, status: RotationStatus, allow_http: bool, yes: bool,
                    as_json: bool) -> ResignPlan | None:
    """At the re-sign step: print what will be carried over and what not, and ask before signing."""
    if status.step != "resign":
        return None
    plan = resign_plan(sc, status.id, allow_http=allow_http,
                       progress=lambda done, total: diagnostic(f"checked {done}/{total} images under the old key"))
    for line in plan.lines():
        (diagnostic if as_json else emit_line)(line)  # --json keeps stdout for the status document
    if plan.to_sign == 0 or yes:
        return plan
    try:
        agreed = click.confirm(f"Sign these {plan.to_sign} image(s) with {plan.new_key.name}?", err=True)
    except click.exceptions.Abort:  # no terminal / end of input: nobody can answer
        raise InputError("the re-sign plan needs a confirmation no one can give here: read it, then pass --yes") \
            from None
    if not agreed:
        raise InputError("re-sign plan not confirmed: nothing was signed")
    return plan


_update_config_option = click.option(
    "--update-config", is_flag=True,
    help="Also write the step's [trust] keys change to the configuration file (the diff is printed).")


def _step_config_edit(sc: SignetContext, rotation_id: str, update_config: bool, as_json: bool,
                      step: str | None = None) -> ConfigEdit | None:
    """With --update-config: the change that goes with the step about to run, printed before it is written."""
    if not update_config:
        return None
    current = rotation_status(sc, rotation_id)
    edit = rotation_config_edit(sc, current, step=step or current.step)
    if edit is not None and not as_json:
        emit_line(f"updating {edit.label} in {safe_text(edit.path)}:")
        _emit_diff(edit)
    return edit


def _emit_diff(edit: ConfigEdit) -> None:
    for line in edit.diff.splitlines():
        emit_line(safe_text(line))


def _emit_step_result(sc: SignetContext, status: RotationStatus, applied: ConfigEdit | None, as_json: bool,
                      backup: CreatedBackup | None = None, *, shares: bool = False,
                      plan: ResignPlan | None = None) -> None:
    """The status, the shares of a backup the step made (shown once: hand them out now), the
    configuration change written, and one still needed. After a re-sign (`plan`: the one confirmed),
    a warning line on stderr per image of the plan that was not signed (as the audit entry records)."""
    if plan is not None:
        for line in resign_warnings(status.details.get("resign") or {}, status.old_key.name):
            diagnostic(f"warning: {line}")
    try:
        pending = rotation_config_edit(sc, status)
    except SignetError as exc:  # the step ran; a configuration file that cannot be read now is only reported
        diagnostic(f"cannot tell whether {sc.paths.config} needs a [trust] keys change: {exc}")
        pending = None
    if as_json:
        emit_json({**status.as_dict(), **({"shares": shares_json(backup)} if shares else {}),
                   "config_change": {**applied.as_dict(), "applied": True} if applied else
                   {**pending.as_dict(), "applied": False} if pending else None})
        return
    if backup is not None:
        print_shares(backup, status.new_key.name if status.new_key else "")
    _emit_status(status, as_json=False)
    if applied is not None:
        emit_line(f"{applied.label} updated in {safe_text(applied.path)}")
    if pending is not None:
        emit_line(f"{pending.label} in {safe_text(pending.path)} still needs this change:")
        _emit_diff(pending)
        emit_line(f"apply it with: signet key rotate config {status.id} --apply")


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
@yes_option
@_apply_options
@_update_config_option
@click.pass_context
def rotate_next(ctx: click.Context, rotation_id: str, passphrase_file: str | None, allow_http_registry: bool,
                as_json: bool, yes: bool, apply_to: tuple[str, ...], kubeconfig: str | None,
                engines: tuple[str, ...], update_config: bool) -> None:
    """Run the rotation's next step (the re-sign step shows its plan and asks first)."""
    sc = signet_context(ctx)
    sc.require_write(Role.CUSTODIAN, action="key rotation")
    hook = _hook(sc, apply_to, kubeconfig, engines)
    plan = _confirmed_plan(sc, rotation_status(sc, rotation_id), allow_http_registry, yes, as_json)
    edit = _step_config_edit(sc, rotation_id, update_config, as_json)
    status = advance_rotation(sc, rotation_id, _advance_options(passphrase_file, allow_http_registry, hook=hook,
                                                                config_edit=edit, plan=plan))
    _emit_step_result(sc, status, edit, as_json, plan=plan)
    _fail_if_blocked(status)


@rotate.command("resume")
@click.argument("rotation_id")
@_stage_options
@allow_http_option
@click.option("--json", "as_json", is_flag=True)
@yes_option
@_apply_options
@_update_config_option
@click.pass_context
def rotate_resume(ctx: click.Context, /, rotation_id: str, allow_http_registry: bool, as_json: bool, yes: bool,
                  apply_to: tuple[str, ...], kubeconfig: str | None, engines: tuple[str, ...],
                  update_config: bool, **stage: object) -> None:
    """Re-run an interrupted step (the stage step needs the same options as `start`)."""
    sc = signet_context(ctx)
    sc.require_write(Role.CUSTODIAN, action="key rotation")
    current = rotation_status(sc, rotation_id)
    passphrase_file = str(stage["passphrase_file"]) if stage["passphrase_file"] else None
    inputs = _stage_inputs(**stage) if current.step == "stage" else None  # type: ignore[arg-type]
    made: list[CreatedBackup] = []
    edit = _step_config_edit(sc, rotation_id, update_config, as_json)
    plan = _confirmed_plan(sc, current, allow_http_registry, yes, as_json)
    options = _advance_options(passphrase_file, allow_http_registry, stage=inputs, on_backup=made.append,
                               hook=_hook(sc, apply_to, kubeconfig, engines), config_edit=edit, plan=plan)
    status = advance_rotation(sc, rotation_id, options)
    _emit_step_result(sc, status, edit, as_json, made[0] if made else None, shares=True, plan=plan)
    _fail_if_blocked(status)


@rotate.command("retire")
@click.argument("rotation_id")
@click.option("--force", is_flag=True, help="Retire even below full re-signing coverage (needs --reason).")
@click.option("--reason", default="", help="Why retirement is forced; recorded in the audit log.")
@_with_advance_flags
@_apply_options
@_update_config_option
@click.pass_context
def rotate_retire(ctx: click.Context, rotation_id: str, force: bool, reason: str, passphrase_file: str | None,
                  allow_http_registry: bool, as_json: bool, apply_to: tuple[str, ...], kubeconfig: str | None,
                  engines: tuple[str, ...], update_config: bool) -> None:
    """Check soak coverage, then retire the old key (removed from the policy files)."""
    sc = signet_context(ctx)
    edit = _step_config_edit(sc, rotation_id, update_config, as_json, step="retire")
    options = _advance_options(passphrase_file, allow_http_registry, force=force, reason=reason,
                               hook=_hook(sc, apply_to, kubeconfig, engines), config_edit=edit)
    status = retire_rotation(sc, rotation_id, options)
    _emit_step_result(sc, status, edit if status.step != "soak" else None, as_json)
    _fail_if_blocked(status)


@rotate.command("revoke")
@click.argument("target", metavar="ROTATION_ID|KEY")
@click.option("--emergency", is_flag=True, help="TARGET is a compromised KEY: revoke now, skipping the soak.")
@click.option("--reason", default="", help="Why (required with --emergency).")
@click.option("--policy-dir", default=None, metavar="DIR")
@allow_http_option
@click.option("--json", "as_json", is_flag=True)
@_apply_options
@_update_config_option
@click.pass_context
def rotate_revoke(ctx: click.Context, target: str, emergency: bool, reason: str, policy_dir: str | None,
                  allow_http_registry: bool, as_json: bool, apply_to: tuple[str, ...], kubeconfig: str | None,
                  engines: tuple[str, ...], update_config: bool) -> None:
    """Revoke the old key of a retired rotation, or (--emergency) a compromised key at once.

    Refused while [trust] keys or a generated policy file still trusts the old key (--update-config
    changes [trust] keys first); --emergency revokes anyway and lists those files."""
    sc = signet_context(ctx)
    if not emergency:
        current = rotation_status(sc, target)
        if current.step != "revoke":
            raise InputError(f"rotation {target} is at '{current.step}'; revocation is the last step")
        edit = _step_config_edit(sc, target, update_config, as_json)
        status = advance_rotation(sc, target, AdvanceOptions(allow_http=allow_http_registry, config_edit=edit))
        _emit_step_result(sc, status, edit, as_json)
        return
    if update_config:
        raise InputError("--update-config belongs to a rotation's revoke step, not to --emergency")
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
    if report.still_trusted_in:
        emit_line(f"still trusting the revoked key in {len(report.still_trusted_in)} place(s); change them:")
        for listing in report.still_trusted_in:
            emit_line("  " + safe_text(listing.describe(report.key, None)))


@rotate.command("config")
@click.argument("rotation_id")
@click.option("--apply", "apply_", is_flag=True, help="Write the change (else only print it).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rotate_config(ctx: click.Context, rotation_id: str, apply_: bool, as_json: bool) -> None:
    """The [trust] keys change the rotation needs now (new key added from publish on, old key removed
    from retire on), as a diff of the configuration file; --apply writes it (custodian, audited)."""
    sc = signet_context(ctx)
    status = rotation_status(sc, rotation_id)
    edit = rotation_config_edit(sc, status)
    if edit is not None and apply_:
        apply_rotation_config_edit(sc, status, edit)
    if as_json:
        emit_json(None if edit is None else {**edit.as_dict(), "applied": apply_})
        return
    if edit is None:
        emit_line(f"{sc.paths.config}: nothing to change for rotation {status.id} at '{status.step}'")
        return
    emit_line(f"{'updated' if apply_ else 'change needed in'} {edit.label} of {safe_text(edit.path)}:")
    _emit_diff(edit)
    if not apply_:
        emit_line(f"apply it with: signet key rotate config {status.id} --apply")


def _emit_status(status: RotationStatus, as_json: bool) -> None:
    if as_json:
        emit_json(status.as_dict())
        return
    new = status.new_key
    emit_line(f"rotation {status.id}: {status.old_key.name} ({status.old_key.short}) -> "
              f"{new.name + ' (' + new.short + ')' if new else '(not generated yet)'}")
    emit_line(f"step: {status.step}   status: {status.status}"
              + ("" if status.coverage is None else f"   coverage: {status.coverage:.1%}"))
    resign = status.details.get("resign")
    if resign:
        emit_line(f"re-sign: {resign['carried_over']} of {resign['verified_under_old']} image(s) verifying under "
                  f"{status.old_key.name} carried over; {resign['not_carried_over']} not carried over; "
                  f"{resign['failed']} failed (details: --json)")
    emit_line(f"next: {status.next_action}")


def _fail_if_blocked(status: RotationStatus) -> None:
    if status.status == "blocked":
        raise CheckFailed(f"rotation {status.id} is blocked at the soak step: coverage {status.coverage:.1%}")
