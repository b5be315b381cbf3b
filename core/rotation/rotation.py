"""Key rotation as a resumable state machine (table `rotations`).

Steps, in order (keys-bypass-anchors.md §1.3):
  stage    new key generated (state staged), backed up, the backup test-restored, a sign/verify smoke test
  publish  verifier policy files list old and new keys (Kyverno count: 1, one CIP authority per key)
  switch   new key active (signs from now on), old key retiring (may no longer sign)
  resign   the in-use images (core/keys/in_use.py) that verify now under the old key, and only those, signed
           with the new key after their plan was confirmed (core/rotation/resign.py); the rest are "not carried over"
  soak     coverage = of the in-use images that verify under the old key (or cannot be checked), those that verify
           with the new key alone; below the configured minimum (default 100%) the rotation is blocked unless
           forced with a recorded reason
  retire   old key retired and removed from the policy files
  revoke   old key revoked and its private material destroyed
then the rotation is `done`.

Each step is: mark "running" (committed) -> idempotent work -> mark done and move to the next step
(committed with its audit entry). A crash or Ctrl-C leaves the step "running"; running it again redoes
only what is missing (a key already generated is reused, images already verifying with the new key are
not signed again, DB state changes are no-ops when already applied). A step that stops on an error
(a wrong passphrase, a refused input) is recorded "failed" with the reason, and is run again the same
way once the cause is fixed. No step is ever skipped.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from core.clock import iso
from core.config_edit.edit import ConfigEdit
from core.context import SignetContext
from core.crypto.public_keys import verify_signature
from core.errors import InputError, InvalidState, SignetError
from core.identity import Role
from core.keys.backup import (
    CreatedBackup,
    PassphraseScheme,
    ShareScheme,
    create_backup,
    drill_backup,
    validate_scheme,
)
from core.keys.custody import (
    KeyPlacement,
    PassphraseProvider,
    check_new_passphrase,
    destroy_private_key,
    discard_unrecorded_key,
    generate_key,
)
from core.keys.in_use import in_use_images
from core.keys.inventory import KeyRecord, find_key, get_key, new_key_id, set_key_state, validate_name
from core.rotation.key_policy import fresh_key_verifier
from core.rotation.publish import DEFAULT_IMAGE_GLOBS, PublishHook, default_policy_dir, publish_policies
from core.rotation.resign import (
    MAX_LISTED,
    Progress,
    ResignPlan,
    carry_over,
    old_key_verdicts,
    old_signatures,
    plan_resign,
)
from core.keys.rotation_records import OPEN_STATUSES_SQL, STEPS, RotationStatus, rotation_status
from core.sign.signers import signer_for_record
from core.rotation.trust_config import CONFIG_LABEL, apply_rotation_config_edit, trust_listings
from core.sign.service import Signer
from core.verify.service import verify_images

MAX_REASON_LEN = 500


@dataclass(frozen=True)
class StageInputs:
    """What the stage step needs; given at start and again if the stage step must be resumed."""

    new_name: str
    backup: ShareScheme | PassphraseScheme
    new_passphrase: bytes | None = field(default=None, repr=False)  # not needed for KMS
    placement: KeyPlacement = KeyPlacement()
    backup_out: Path | None = None
    custodians: tuple[str, ...] = ()


@dataclass(frozen=True)
class RotationStarted:
    status: RotationStatus
    backup: CreatedBackup | None  # its shares must be handed to custodians now: they are not kept


@dataclass(frozen=True)
class AdvanceOptions:
    """Inputs of the steps after stage. `signer` replaces the new key's signer (tests, KMS callers)."""

    passphrase_provider: PassphraseProvider | None = None
    signer: Signer | None = None
    progress: Progress | None = None
    publish_hook: PublishHook | None = None
    force: bool = False
    reason: str = ""
    allow_http: bool = False
    stage: StageInputs | None = None
    # Resuming the stage step makes a fresh backup: its shares reach custodians only through this.
    on_backup: Callable[[CreatedBackup], None] | None = None
    # The `[trust] keys` change shown to the user for this step (trust_config.rotation_config_edit): written
    # before the step runs, refused if the file changed since. None: the configuration is left alone.
    config_edit: ConfigEdit | None = None
    # The re-sign step signs only what this confirmed plan (`resign_plan()`, shown to a person) carries over.
    resign_plan: ResignPlan | None = None


def start_rotation(ctx: SignetContext, old_key_ref: str, stage: StageInputs, *,
                   image_globs: Sequence[str] = DEFAULT_IMAGE_GLOBS, policy_dir: Path | None = None) -> RotationStarted:
    """Open a rotation away from `old_key_ref` (an active key) and run its stage step."""
    ctx.require_write(Role.CUSTODIAN, action="key rotation")
    old = find_key(ctx, old_key_ref)
    if old.state != "active":
        raise InvalidState(f"key {old.name} is {old.state}; only an active key can be rotated")
    # Check every input before the rotation exists, so a typo does not leave a half-open rotation.
    validate_name(stage.new_name)
    if ctx.store.query("SELECT 1 FROM keys WHERE name = ?", (stage.new_name,)):
        raise InvalidState(f"a key named '{stage.new_name}' already exists; choose another name")
    if stage.placement.store != "kms":
        check_new_passphrase(stage.new_passphrase or b"")
        validate_scheme(stage.backup)
    rotation_id = "rot_" + secrets.token_hex(6)
    now = iso(ctx.clock())
    details = {"image_globs": list(image_globs),
               "policy_dir": str(Path(policy_dir) if policy_dir else default_policy_dir(ctx)),
               "new_name": stage.new_name, "store": stage.placement.store}
    with ctx.store.write() as db:
        busy = db.execute(f"SELECT id FROM rotations WHERE old_key_id = ? AND status IN {OPEN_STATUSES_SQL}",
                          (old.id,)).fetchone()
        if busy:
            raise InvalidState(f"key {old.name} is already being rotated by {busy[0]}; resume that rotation")
        db.insert("rotations", {"id": rotation_id, "old_key_id": old.id, "new_key_id": None, "step": "stage",
                                "status": "pending", "started_at": now, "updated_at": now,
                                "details": json.dumps(details)})
        ctx.audit("key.rotation.start", rotation_id, {"old_key": old.id, "old_fingerprint": old.fingerprint,
                                                      "new_name": stage.new_name, "store": stage.placement.store})
    try:
        backup = _stage(ctx, rotation_status(ctx, rotation_id), stage)
    except SignetError as exc:
        _record_failure(ctx, rotation_id, "stage", exc)
        raise
    return RotationStarted(status=rotation_status(ctx, rotation_id), backup=backup)


def advance_rotation(ctx: SignetContext, rotation_id: str,
                     options: AdvanceOptions = AdvanceOptions()) -> RotationStatus:
    """Run the current step once (resuming it if it was interrupted) and return the new status."""
    ctx.require_write(Role.CUSTODIAN, action="key rotation")
    status = rotation_status(ctx, rotation_id)
    if status.finished:
        raise InvalidState(f"rotation {rotation_id} is {status.status}; {status.next_action}")
    step = status.step
    if options.config_edit is not None:
        apply_rotation_config_edit(ctx, status, options.config_edit, step=step)
    try:
        _run_step(ctx, status, options)
    except SignetError as exc:  # a crash (not a SignetError) leaves the step running, to be resumed
        _record_failure(ctx, rotation_id, step, exc)
        raise
    return rotation_status(ctx, rotation_id)


def _run_step(ctx: SignetContext, status: RotationStatus, options: AdvanceOptions) -> None:
    step = status.step
    if step == "stage":
        if options.stage is None:
            raise InputError("the stage step needs the new key's passphrase and backup scheme again")
        if isinstance(options.stage.backup, ShareScheme) and options.on_backup is None:
            raise InputError("resuming the stage step makes a new share backup; give on_backup to hand out its shares")
        backup = _stage(ctx, status, options.stage)
        if backup is not None and options.on_backup is not None:
            options.on_backup(backup)
    elif step == "publish":
        _publish(ctx, status, options, step="publish")
    elif step == "switch":
        _switch(ctx, status)
    elif step == "resign":
        _resign(ctx, status, options)
    elif step == "soak":
        _soak(ctx, status, options)
    elif step == "retire":
        _publish(ctx, status, options, step="retire")
    elif step == "revoke":
        _revoke(ctx, status)


def resign_plan(ctx: SignetContext, rotation_id: str, *, allow_http: bool = False,
                progress: Progress | None = None) -> ResignPlan:
    """What the rotation's re-sign step would carry over and what not (read-only), to show and confirm."""
    status = rotation_status(ctx, rotation_id)
    if status.step != "resign" or status.finished:
        raise InvalidState(f"rotation {rotation_id} is at '{status.step}' ({status.status}), not at the re-sign step")
    return plan_resign(ctx, status.id, status.old_key, _new_key(status), allow_http=allow_http, progress=progress)


def retire_rotation(ctx: SignetContext, rotation_id: str, options: AdvanceOptions = AdvanceOptions()) -> RotationStatus:
    """Run the soak check (if not passed yet) and the retire step; `force` + `reason` override coverage."""
    status = rotation_status(ctx, rotation_id)
    if status.step not in ("soak", "retire"):
        raise InvalidState(f"rotation {rotation_id} is at '{status.step}'; retiring comes after the soak step")
    if status.step == "soak":  # the configuration change belongs to the retire step, not to the soak check
        status = advance_rotation(ctx, rotation_id, replace(options, config_edit=None))
        if status.step == "soak":
            return status  # blocked
    return advance_rotation(ctx, rotation_id, options)


# --- steps ----------------------------------------------------------------------------------------


def _stage(ctx: SignetContext, status: RotationStatus, inputs: StageInputs) -> CreatedBackup | None:
    _begin(ctx, status, "stage")
    details = dict(status.details)
    new = status.new_key
    if new is None:
        existing = ctx.store.query("SELECT id FROM keys WHERE name = ?", (inputs.new_name,))
        if existing:
            raise InvalidState(f"a key named '{inputs.new_name}' already exists; choose another name")
        key_id = _staging_key_id(ctx, status, details, inputs)
        with ctx.store.write() as db:  # the key row and the rotation's pointer to it commit together
            new = generate_key(ctx, name=inputs.new_name, passphrase=inputs.new_passphrase,
                               placement=inputs.placement, custodians=inputs.custodians, state="staged",
                               audit_details={"rotation": status.id}, key_id=key_id)
            db.execute("UPDATE rotations SET new_key_id = ?, updated_at = ? WHERE id = ?",
                       (new.id, iso(ctx.clock()), status.id))

    def provider(_name: str) -> bytes:
        return inputs.new_passphrase or b""

    backup: CreatedBackup | None = None
    if new.location == "kms":
        details["backup"] = {"skipped": "KMS keys are not exportable; KMS deletion windows protect them"}
    else:
        # A backup from an interrupted stage never had its shares handed out: make a fresh one.
        backup = create_backup(ctx, new.id, inputs.backup, passphrase_provider=provider, out=inputs.backup_out)
        unlock = ({"shares": [s.mnemonic for s in backup.shares[: inputs.backup.threshold]]}
                  if isinstance(inputs.backup, ShareScheme) else {"passphrase": inputs.backup.passphrase})
        drill = drill_backup(ctx, backup.path, **unlock)
        details["backup"] = {"id": backup.record.id, "location": backup.record.location,
                             "scheme": backup.record.scheme, "tested_at": drill.tested_at}
    signer = signer_for_record(ctx, new, passphrase_provider=provider, allowed_states=("staged",))
    probe = f"signet rotation {status.id} smoke test".encode()
    if not verify_signature(get_key(ctx, new.id).trusted_key().key, signer.sign(probe), probe):
        raise InvalidState(f"new key {new.name} failed its sign/verify smoke test")
    details["smoke_test"] = "ok"
    _finish(ctx, status.id, "stage", details, {"new_key": new.id, "new_fingerprint": new.fingerprint,
                                               "backup": details["backup"]})
    return backup


def _staging_key_id(ctx: SignetContext, status: RotationStatus, details: dict[str, Any],
                    inputs: StageInputs) -> str:
    """The id the stage step will create its key under, committed before any key material is written.

    A kill between writing the key (local files, or a Secrets Manager secret) and committing its row
    leaves material that no row names. Its id was recorded here first, so the resumed step knows it
    as its own, never recorded, used or backed up, and removes it before creating the key again
    under that id (a leftover secret would otherwise block the retry: its name is taken).
    """
    key_id: str | None = details.get("staging_key_id")
    if key_id:  # no row can name it: the key's row and the rotation's pointer to it commit together
        if discard_unrecorded_key(ctx, key_id, name=inputs.new_name, placement=inputs.placement):
            with ctx.store.write():
                ctx.audit("key.rotation.stage.discarded", status.id,
                          {"key_id": key_id, "store": inputs.placement.store,
                           "why": "key material of an interrupted stage whose row never committed"})
        return key_id
    key_id = new_key_id()
    details["staging_key_id"] = key_id
    with ctx.store.write() as db:
        _update(db, ctx, status.id, expect_step="stage", step="stage", status="running", details=details)
    return key_id


def _publish(ctx: SignetContext, status: RotationStatus, options: AdvanceOptions, *, step: str) -> None:
    """publish (old + new trusted) and retire (old retired, so dropped) share this: regenerate files."""
    _begin(ctx, status, step)
    details = dict(status.details)
    with ctx.store.write() as db:
        if step == "retire":
            set_key_state(ctx, db, status.old_key.id, "retired", {"rotation": status.id})
        published = publish_policies(ctx, db, directory=Path(details["policy_dir"]),
                                     image_globs=details["image_globs"], source=status.id)
        ctx.audit(f"key.rotation.{step}.files", status.id, published.as_dict())
    if options.publish_hook is not None:
        options.publish_hook(published.documents)
    details[step] = {**published.as_dict(), "applied": options.publish_hook is not None}
    _finish(ctx, status.id, step, details, details[step])


def _switch(ctx: SignetContext, status: RotationStatus) -> None:
    new = _new_key(status)
    with ctx.store.write() as db:
        set_key_state(ctx, db, new.id, "active", {"rotation": status.id})
        set_key_state(ctx, db, status.old_key.id, "retiring", {"rotation": status.id})
        _finish(ctx, status.id, "switch", status.details, {"active": new.id, "retiring": status.old_key.id})


def _resign(ctx: SignetContext, status: RotationStatus, options: AdvanceOptions) -> None:
    plan = options.resign_plan
    if plan is None:
        raise InputError("the re-sign step signs only a confirmed plan: show resign_plan() and confirm it first")
    new = _new_key(status)
    if (plan.rotation_id, plan.old_key.fingerprint, plan.new_key.fingerprint) != (
            status.id, status.old_key.fingerprint, new.fingerprint):
        raise InvalidState(f"the re-sign plan given is not for rotation {status.id}")
    _begin(ctx, status, "resign")
    if plan.to_sign:
        # Checked here, not per image: a missing role must stop the step, not count as image failures.
        ctx.require_write(Role.OPERATOR, action="re-signing in-use images")

    def signer() -> Signer:
        if options.signer is not None:
            return options.signer
        if options.passphrase_provider is None and new.location != "kms":
            raise InputError(f"re-signing needs the passphrase of the new key {new.name}")
        return signer_for_record(ctx, new, passphrase_provider=options.passphrase_provider or (lambda _n: b""))

    outcome = carry_over(ctx, plan, signer, allow_http=options.allow_http, progress=options.progress)
    details = dict(status.details)
    details["resign"] = outcome.as_details()
    # The planned skips are the plan's (long, and shown before); what went other than confirmed is kept.
    audit = {k: v for k, v in details["resign"].items() if k != "not_carried"}
    _finish(ctx, status.id, "resign", details, audit)


def _soak(ctx: SignetContext, status: RotationStatus, options: AdvanceOptions) -> None:
    _begin(ctx, status, "soak")
    new = _new_key(status)
    refs = [image.reference for image in in_use_images(ctx)]
    # Coverage is over what the old key vouched for: what verifies under it now, and (failing closed)
    # what could not be checked. Unsigned, tampered or foreign-signed images are no part of it.
    verdicts = old_key_verdicts(ctx, status.old_key, refs, allow_http=options.allow_http)
    vouched = [ref for ref, result in zip(refs, verdicts, strict=True)
               if old_signatures(result, status.old_key) or result.result == "error"]
    results = verify_images(ctx, vouched, fresh_key_verifier(ctx, [new], vouched), source="rotation",
                            allow_http=options.allow_http, progress=options.progress) if vouched else []
    uncovered = sorted(r.reference for r in results if r.result != "verified")
    coverage = (len(vouched) - len(uncovered)) / len(vouched) if vouched else 1.0
    minimum = ctx.config.policy.rotation_soak_min_coverage
    details = dict(status.details)
    details["soak"] = {"coverage": coverage, "in_use": len(refs), "vouched_by_old": len(vouched),
                       "uncovered": len(uncovered), "uncovered_images": uncovered[:MAX_LISTED], "minimum": minimum,
                       "measured_at": iso(ctx.clock())}
    if coverage < minimum:
        if not options.force:
            with ctx.store.write() as db:
                _update(db, ctx, status.id, expect_step="soak", step="soak", status="blocked", details=details)
                ctx.audit("key.rotation.soak.blocked", status.id,
                          {"coverage": coverage, "minimum": minimum, "uncovered": len(uncovered)})
            return
        reason = options.reason.strip()
        if not reason:
            raise InputError("forcing retirement below full coverage needs --reason")
        details["soak"]["forced"] = {"by": ctx.actor, "reason": reason[:MAX_REASON_LEN], "at": iso(ctx.clock())}
    _finish(ctx, status.id, "soak", details, {k: v for k, v in details["soak"].items() if k != "uncovered_images"})


def _revoke(ctx: SignetContext, status: RotationStatus) -> None:
    if status.status not in ("running", "failed"):  # a resumed revoke already revoked the key: finish it
        listings = trust_listings(ctx, status.old_key, status.new_key)
        if listings:
            hint = (f"\n`signet key rotate config {status.id} --apply` makes the {CONFIG_LABEL} change"
                    if any(listing.field == CONFIG_LABEL for listing in listings) else "")
            raise InvalidState(f"not revoking {status.old_key.name}: still trusted in {len(listings)} place(s); "
                               "change them first:\n" + "\n".join(
                                   "  " + listing.describe(status.old_key, status.new_key) for listing in listings)
                               + hint)
    _begin(ctx, status, "revoke")
    details = dict(status.details)
    with ctx.store.write() as db:
        old = set_key_state(ctx, db, status.old_key.id, "revoked", {"rotation": status.id})
        ctx.audit("key.revoke", old.id, {"fingerprint": old.fingerprint, "rotation": status.id})
    revoke = dict(details.get("revoke") or {})
    if "destroyed" not in revoke:  # AWS deletions are not repeatable; do them once
        revoke["destroyed"] = destroy_private_key(ctx, old)
        details["revoke"] = revoke
        with ctx.store.write() as db:
            _update(db, ctx, status.id, expect_step="revoke", step="revoke", status="running", details=details)
    backups = ctx.store.query("SELECT id, location, custodians FROM backups WHERE key_id = ?", (old.id,))
    revoke["destroy_by_hand"] = [{"backup_id": b["id"], "location": b["location"],
                                  "share_holders": json.loads(b["custodians"])} for b in backups]
    details["revoke"] = revoke
    _finish(ctx, status.id, "revoke", details, {"destroyed": revoke["destroyed"],
                                                "backups_to_destroy": [b["id"] for b in backups]})


# --- bookkeeping ----------------------------------------------------------------------------------


def _new_key(status: RotationStatus) -> KeyRecord:
    if status.new_key is None:
        raise InvalidState(f"rotation {status.id} has no new key yet")
    return status.new_key


def _begin(ctx: SignetContext, status: RotationStatus, step: str) -> None:
    """Mark the step running (committed) before any work, so an interruption is visible and resumable."""
    if status.status == "running":
        return
    with ctx.store.write() as db:
        _update(db, ctx, status.id, expect_step=step, expect_status=status.status, step=step, status="running",
                details=status.details)
        ctx.audit(f"key.rotation.{step}.begin", status.id, {})


def _record_failure(ctx: SignetContext, rotation_id: str, step: str, exc: SignetError) -> None:
    """A step that began and stopped on an error is "failed" with the reason (not "interrupted"), so
    the user is told what to fix; one that never began, or was moved on meanwhile, is left as it is."""
    reason = str(exc)[:MAX_REASON_LEN]
    with ctx.store.write() as db:
        row = db.execute("SELECT details FROM rotations WHERE id = ? AND step = ? AND status = 'running'",
                         (rotation_id, step)).fetchone()
        if row is None:
            return
        details = {**json.loads(row[0] or "{}"),
                   "failure": {"step": step, "reason": reason, "at": iso(ctx.clock()), "by": ctx.actor}}
        _update(db, ctx, rotation_id, expect_step=step, expect_status="running", step=step, status="failed",
                details=details)
        ctx.audit(f"key.rotation.{step}.failed", rotation_id, {"reason": reason})


def _finish(ctx: SignetContext, rotation_id: str, step: str, details: dict[str, Any],
            audit_details: dict[str, Any]) -> None:
    index = STEPS.index(step)
    last = index == len(STEPS) - 1
    details = {k: v for k, v in details.items() if k != "failure"}  # the step succeeded after all
    with ctx.store.write() as db:
        _update(db, ctx, rotation_id, expect_step=step, step="done" if last else STEPS[index + 1],
                status="done" if last else "pending", details={**details, "completed": [
                    *details.get("completed", []), {"step": step, "at": iso(ctx.clock()), "by": ctx.actor}]})
        ctx.audit(f"key.rotation.{step}.done", rotation_id, audit_details)


def _update(db: Any, ctx: SignetContext, rotation_id: str, *, expect_step: str, step: str, status: str,
            details: dict[str, Any], expect_status: str | None = None) -> None:
    """Compare-and-set: the row must still be at `expect_step` (and `expect_status`), not finished.
    Another process that moved the rotation on, or an emergency abort, makes this step's bookkeeping fail
    loudly instead of overwriting theirs."""
    sql = ("UPDATE rotations SET step = ?, status = ?, updated_at = ?, details = ? WHERE id = ? AND step = ? "
           "AND status NOT IN ('done', 'aborted')")
    params: list[Any] = [step, status, iso(ctx.clock()), json.dumps(details, sort_keys=True), rotation_id, expect_step]
    if expect_status is not None:
        sql += " AND status = ?"
        params.append(expect_status)
    if db.execute(sql, params).rowcount != 1:
        raise InvalidState(f"rotation {rotation_id} changed while its '{expect_step}' step ran (another process, "
                           "or an emergency revocation); see `signet key rotate status`")


def abort_rotations_of(ctx: SignetContext, db: Any, key_id: str, reason: str) -> list[str]:
    """Mark open rotations involving `key_id` aborted (emergency revocation); returns their ids."""
    rows = list(db.query("SELECT id, details FROM rotations WHERE (old_key_id = ? OR new_key_id = ?) AND "
                         f"status IN {OPEN_STATUSES_SQL}", (key_id, key_id)))
    for row in rows:
        details = {**json.loads(row["details"] or "{}"), "aborted": reason[:MAX_REASON_LEN]}
        db.execute("UPDATE rotations SET status = 'aborted', updated_at = ?, details = ? WHERE id = ?",
                   (iso(ctx.clock()), json.dumps(details, sort_keys=True), row["id"]))
    return [row["id"] for row in rows]

