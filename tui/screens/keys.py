"""Keys: the inventory with states and fingerprints; backup wizard, restore drill, rotation wizard.

Passphrases and shares live only in the modal's fields and the worker call that uses them; shares
are shown once each, to be confirmed by their custodian, and then dropped (who received one is recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.text import Text
from textual.binding import Binding

from core.config_edit.edit import ConfigEdit
from core.context import SignetContext
from core.identity import Role
from core.keys.backup import (CreatedBackup, IssuedShare, ShareScheme, create_backup, drill_backup, parse_share,
                              validate_scheme)
from core.keys.custody import check_new_passphrase
from core.keys.overview import KeyOverview, key_overview
from core.keys.share_handout import ShareHandout, holder_name, record_share_handout
from core.rotation.resign import ResignPlan, resign_warnings
from core.rotation.rotation import (AdvanceOptions, RotationStarted, StageInputs, advance_rotation, resign_plan,
                                start_rotation)
from core.keys.rotation_records import STEPS, RotationStatus, list_rotations
from core.rotation.trust_config import rotation_config_edit
from tui.screens.base import TableView
from tui.screens.form import CoreCheck, FormField, FormModal
from tui.widgets.cells import cell
from tui.widgets.detail_pane import DetailPane

STATE_STYLES = {"active": "bold green", "staged": "bold cyan", "retiring": "bold yellow", "retired": "dim",
                "revoked": "bold red"}


@dataclass(frozen=True)
class KeysState:
    keys: list[KeyOverview]
    rotations: dict[str, RotationStatus]  # old key id -> its newest rotation


def _load_keys(context: SignetContext) -> KeysState:
    rotations = {r.old_key.id: r for r in list_rotations(context)}  # oldest first: the newest wins
    return KeysState(key_overview(context), rotations)


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list of custodian names."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _shares_field(custodians: tuple[str, ...], label: str = "Backup shares (M-of-N)") -> FormField:
    """M-of-N, checked in the form by the service's own rule against the custodians field; the
    default gives each of the key's custodians one share."""
    count = len(custodians)
    default = "2-of-3" if not count else "1-of-1" if count == 1 else f"2-of-{count}"
    return FormField("shares", label, value=default, validators=(CoreCheck(ShareScheme.parse),),
                     form_check=lambda v: validate_scheme(ShareScheme.parse(v["shares"], _names(v["custodians"]))))


class KeysView(TableView):
    VIEW_NAME = "keys"
    BINDINGS = [
        Binding("enter", "drill", "Details", id="drill"),
        Binding("b", "backup", "Backup", id="backup"),
        Binding("t", "drill_backup", "Restore drill", id="drill_backup"),
        Binding("o", "rotate", "Rotate", id="rotate"),
        Binding("n", "rotation_step", "Rotation step", id="rotation_step"),
    ]
    GATED = {"backup": Role.CUSTODIAN, "drill_backup": Role.CUSTODIAN, "rotate": Role.CUSTODIAN,
             "rotation_step": Role.CUSTODIAN}

    def __init__(self, context, *, initial_filter: str = "") -> None:
        super().__init__(context, initial_filter=initial_filter)
        self.rows: list[KeyOverview] = []
        self.rotations: dict[str, RotationStatus] = {}

    def filter_hint(self) -> str:
        return "filter: key name, state, fingerprint prefix or location"

    def prepare(self) -> None:
        self.add_columns(("name", 16), ("state", 8), ("fingerprint", 16), ("location", 10), ("backup", 14),
                         ("next drill", 10), ("rotation", 16))

    def refresh_view(self) -> None:
        context = self.context
        self.run_job("keys-list", lambda: _load_keys(context))

    def apply_filter(self, text: str) -> None:
        self._show_rows()

    @property
    def shown(self) -> list[KeyOverview]:
        return [r for r in self.rows if self.matches_filter(r.key.name, r.key.state, r.key.fingerprint, r.key.location)]

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        if kind == "keys-list":
            self.rows, self.rotations = value.keys, value.rotations
            self._show_rows()
        elif kind == "key-backup":
            self._issue_shares(value)
            self.refresh_view()
        elif kind == "rotation-start":
            started: RotationStarted = value
            self.notify(f"rotation {started.status.id}: stage done, next {started.status.next_action}",
                        title="rotation", markup=False)
            if started.backup is not None:
                self._issue_shares(started.backup, drilled=True)
            self.refresh_view()
        elif kind == "rotation-step":
            status: RotationStatus = value
            self.notify(f"rotation {status.id}: {status.status}; next: {status.next_action}", title="rotation",
                        markup=False)
            warnings = resign_warnings(status.details.get("resign") or {}, status.old_key.name) if token else []
            if warnings:  # images of the confirmed plan that were not signed
                self.notify("\n".join(warnings), title="re-sign", severity="warning", markup=False, timeout=30)
            self.refresh_view()
        elif kind == "rotation-config":
            self._rotation_step_form(token, *value)
        elif kind == "share-handout":
            self._handout_recorded(value, *token)
        elif kind == "key-drill":
            self.notify(f"restore drill passed for backup {value.backup_id}: {value.reason}", title="drill",
                        markup=False)
            self.refresh_view()

    def job_failed(self, kind: str, error: BaseException | None) -> None:
        if kind in ("key-drill", "rotation-start", "rotation-step", "rotation-config"):
            self.refresh_view()  # a failed drill or step is recorded too

    def _show_rows(self) -> None:
        rows = []
        for row in self.shown:
            key = row.key
            due = min((b.drill_due_at or "" for b in row.backups), default="") if row.needs_drills else ""
            rotation = self.rotations.get(key.id)
            rows.append((key.id, (cell(key.name), Text(key.state, style=STATE_STYLES.get(key.state, "")),
                                  cell(key.short, style="dim"), cell(key.location),
                                  cell(row.backup_status, style="bold red" if row.needs_attention else ""),
                                  cell(due[:10]), cell(_rotation_cell(rotation) if rotation else ""))))
        states: dict[str, int] = {}
        for row in self.rows:
            states[row.key.state] = states.get(row.key.state, 0) + 1
        self.set_info(f"{len(self.rows)} keys  " + "  ".join(f"{state}: {n}" for state, n in sorted(states.items())))
        self.replace_rows(rows)

    def show_detail(self, index: int) -> None:
        shown = self.shown
        if not 0 <= index < len(shown):
            return
        key, backups = shown[index].key, shown[index].backups
        now = self.context.clock()
        backup_lines = "".join(
            f"\n  {b.id} {b.scheme}" + (f" {b.threshold}-of-{b.share_count}" if b.threshold else "")
            + f", last drill {b.last_tested_at or 'never'} ({b.last_test_result or 'untested'})"
            + (", DRILL DUE" if shown[index].needs_drills and b.drill_overdue(now) else "") for b in backups)
        rotation = self.rotations.get(key.id)
        self.query_one(DetailPane).show(f"key {key.name}", [
            ("id", key.id), ("state", key.state), ("fingerprint", key.fingerprint), ("algorithm", key.algorithm),
            ("location", key.location), ("location ref", key.location_ref), ("created", key.created_at),
            ("activated", key.activated_at), ("retired", key.retired_at), ("revoked", key.revoked_at),
            ("custodians", ", ".join(key.custodians)), ("trusted by", ", ".join(key.trusted_by)),
            ("backups", backup_lines), ("rotation", rotation_steps(rotation) if rotation else ""),
            ("public key", "\n" + key.public_pem)])

    def _selected(self) -> KeyOverview | None:
        shown = self.shown
        row = self.table.cursor_row
        return shown[row] if 0 <= row < len(shown) else None

    # --- backup wizard --------------------------------------------------------------------------
    def action_backup(self) -> None:
        row = self._selected()
        if self.explain_disabled("backup") or row is None:
            return
        key = row.key
        fields = (
            _shares_field(key.custodians, "Shares (M-of-N)"),
            FormField("custodians", "Custodians, one per share, comma separated",
                      value=", ".join(key.custodians)),
            FormField("passphrase", f"Passphrase of key {key.name}", password=True),
        )
        explanation = ("The key is sealed with a random data key, which is split into SLIP-39 shares. Each "
                       "share is shown once, for its custodian; Signet keeps none of them.")

        def submitted(values: dict[str, str] | None) -> None:
            if not values:
                return
            custodians = _names(values["custodians"])
            scheme = ShareScheme.parse(values["shares"], custodians)
            passphrase = values["passphrase"].encode()
            context = self.context
            self.run_job("key-backup", lambda: create_backup(context, key.id, scheme,
                                                             passphrase_provider=lambda _name: passphrase),
                         cli=[("key", "backup", "create", key.name, "--shares", values["shares"],
                               *[a for c in custodians for a in ("--custodian", c)],
                               "--passphrase-file", "KEY_PASSPHRASE_FILE")])

        self.app.push_screen(FormModal(f"Back up key {key.name}", fields, explanation=explanation,
                                       submit_label="Create backup"), submitted)

    def _issue_shares(self, created: CreatedBackup, *, drilled: bool = False) -> None:
        """Show share after share, each confirmed by typing its custodian's name (or its number).

        Signet keeps no share, so esc or Cancel on a share does not end the hand-out by itself: it asks,
        naming the custodians still without a share, and esc there shows the same share again. Only a
        typed "stop" drops the shares not yet confirmed. Either way the outcome (who received a share,
        who did not) is recorded. `drilled`: the backup was already restore-tested (a rotation's stage
        does it), so no drill is asked for."""
        pending = list(created.shares)
        total = len(pending)
        confirmed: list[IssuedShare] = []

        def show_next() -> None:
            if not pending:
                self._record_handout(created, confirmed, drilled)
                return
            share: IssuedShare = pending[0]
            holder = holder_name(share)
            body = Text()
            body.append(f"Share {share.index} of {total}", style="bold")
            body.append(f" for {holder}. Write it down now; it will not be shown again.\n\n")
            body.append(share.mnemonic, style="bold")

            def answered(values: dict[str, str] | None) -> None:
                if values is None:  # esc or cancel: this share was not confirmed
                    self._ask_stop_handout(created, confirmed, pending, resume=show_next, drilled=drilled)
                    return
                confirmed.append(pending.pop(0))
                show_next()

            self.app.push_screen(FormModal(f"Share {share.index}/{total} — {holder}", (), explanation=body,
                                           confirm_word=holder, submit_label="Recorded"), answered)

        show_next()

    def _ask_stop_handout(self, created: CreatedBackup, confirmed: list[IssuedShare], pending: list[IssuedShare],
                          *, resume: Callable[[], None], drilled: bool) -> None:
        """Esc on a share: say what stopping loses; esc here goes back to that share."""
        needed = created.record.threshold or 1
        body = Text()
        body.append(f"Not handed out yet: {', '.join(holder_name(s) for s in pending)}.\n", style="bold")
        body.append("Signet keeps no share: if you stop, these shares are gone for good. ")
        body.append(f"The {len(confirmed)} confirmed share(s) can still restore the backup (it needs {needed})."
                    if len(confirmed) >= needed else
                    f"With {len(confirmed)} confirmed share(s) the backup cannot be restored (it needs {needed}).")
        body.append(f"\n\nEsc goes back to {holder_name(pending[0])}'s share.")

        def decided(values: dict[str, str] | None) -> None:
            if values is None:
                resume()
            else:
                self._record_handout(created, confirmed, drilled)

        self.app.push_screen(FormModal("Stop the share hand-out?", (), explanation=body, confirm_word="stop",
                                       submit_label=f"Drop {len(pending)} share(s)", danger=True), decided)

    def _record_handout(self, created: CreatedBackup, confirmed: list[IssuedShare], drilled: bool) -> None:
        context, handed = self.context, [s.index for s in confirmed]
        self.run_job("share-handout", lambda: record_share_handout(context, created, handed),
                     token=(created, drilled))

    def _handout_recorded(self, outcome: ShareHandout, created: CreatedBackup, drilled: bool) -> None:
        """The closing notice: who holds a share, who does not, and what to do about it."""
        if not outcome.not_handed_out:
            after = ("The rotation's restore test already proved it." if drilled
                     else "Run a restore drill (t) to prove it.")
            self.notify(f"backup {created.record.id} written to {created.path}; all {len(created.shares)} shares "
                        f"handed out. {after}", title="backup", markup=False, timeout=15)
            return
        received = ", ".join(f"{holder_name(s)} (share {s.index})" for s in outcome.handed_out) or "nobody"
        missing = ", ".join(holder_name(s) for s in outcome.not_handed_out)
        restorable = (f"the {len(outcome.handed_out)} handed-out shares can still restore it (needs {outcome.needed});"
                      f" to give {missing} a share, make a new backup (b)" if outcome.restorable else
                      f"it needs {outcome.needed} shares to restore, so it cannot be restored: make a new backup (b)")
        self.notify(f"backup {created.record.id}: share hand-out stopped; received: {received}; no share for "
                    f"{missing} (their shares are gone: Signet keeps none); {restorable}.", title="backup",
                    severity="warning" if outcome.restorable else "error", markup=False, timeout=30)

    # --- restore drill -------------------------------------------------------------------------
    def action_drill_backup(self) -> None:
        row = self._selected()
        if self.explain_disabled("drill_backup") or row is None:
            return
        if not row.backups:
            self.notify(f"key {row.key.name} has no backup to drill", severity="warning", markup=False)
            return
        backup = row.backups[-1]
        fields: list[FormField] = [FormField("path", "Backup file", value=backup.location)]
        if backup.scheme == "shares":
            fields += [FormField(f"share_{i}", f"Share {i} of the {backup.threshold} needed", password=True,
                                 validators=(CoreCheck(parse_share),))
                       for i in range(1, (backup.threshold or 1) + 1)]
        else:
            fields.append(FormField("passphrase", "Backup passphrase", password=True))
        explanation = ("Decrypts the backup in memory and checks it yields the recorded key; nothing is "
                       "written but the drill's result.")

        def submitted(values: dict[str, str] | None) -> None:
            if not values:
                return
            shares = [v for k, v in sorted(values.items()) if k.startswith("share_")]
            passphrase = values["passphrase"].encode() if "passphrase" in values else None
            context, path = self.context, Path(values["path"])
            self.run_job("key-drill", lambda: drill_backup(context, path, shares=shares, passphrase=passphrase),
                         cli=[("key", "backup", "test", str(path),
                              *(("--share-file", "SHARES_FILE") if shares else
                                ("--backup-passphrase-file", "BACKUP_PASSPHRASE_FILE")))])

        self.app.push_screen(FormModal(f"Restore drill: {row.key.name} ({backup.id})", tuple(fields),
                                       explanation=explanation, submit_label="Run drill"), submitted)

    # --- rotation wizard -----------------------------------------------------------------------
    def action_rotate(self) -> None:
        row = self._selected()
        if self.explain_disabled("rotate") or row is None:
            return
        key = row.key
        fields = (
            FormField("new_name", "Name of the new key", value=f"{key.name}-next"),
            FormField("passphrase", "Passphrase for the new key", password=True,
                      validators=(CoreCheck(lambda v: check_new_passphrase(v.encode())),)),
            _shares_field(key.custodians, "Backup shares of the new key (M-of-N)"),
            FormField("custodians", "Custodians, one per share, comma separated", value=", ".join(key.custodians)),
        )
        explanation = Text("Steps: " + " → ".join(STEPS) + ". This runs the stage step now (new key, its backup "
                           "and a restore test, a sign/verify smoke test); each later step runs with n, and an "
                           "interrupted step resumes where it stopped.")

        def submitted(values: dict[str, str] | None) -> None:
            if not values:
                return
            custodians = _names(values["custodians"])
            stage = StageInputs(new_name=values["new_name"], backup=ShareScheme.parse(values["shares"], custodians),
                                new_passphrase=values["passphrase"].encode(), custodians=custodians)
            context = self.context
            self.run_job("rotation-start", lambda: start_rotation(context, key.id, stage),
                         cli=[("key", "rotate", "start", key.name, "--new-name", values["new_name"],
                               "--shares", values["shares"], *[a for c in custodians for a in ("--custodian", c)],
                               "--passphrase-file", "NEW_KEY_PASSPHRASE_FILE")])

        self.app.push_screen(FormModal(f"Rotate key {key.name}", fields, explanation=explanation,
                                       confirm_word=key.name, submit_label="Start rotation", danger=True), submitted)

    def action_rotation_step(self) -> None:
        row = self._selected()
        if self.explain_disabled("rotation_step") or row is None:
            return
        rotation = self.rotations.get(row.key.id)
        if rotation is None or rotation.finished:
            self.notify(f"key {row.key.name} has no open rotation (o starts one)", severity="warning", markup=False)
            return
        # Read first: the [trust] keys change that goes with the step, and at the re-sign step its plan
        # (what verifies under the old key, so is carried over, and what is not).
        context = self.context
        if rotation.step == "resign":
            self.notify("checking which in-use images verify under the old key...", title="rotation", markup=False)
        self.run_job("rotation-config", lambda: (
            rotation_config_edit(context, rotation, step=rotation.step),
            resign_plan(context, rotation.id) if rotation.step == "resign" else None), token=rotation)

    def _rotation_step_form(self, rotation: RotationStatus, config_edit: ConfigEdit | None,
                            plan: ResignPlan | None) -> None:
        fields: list[FormField] = []
        if rotation.step == "stage" or (plan is not None and plan.to_sign):
            fields.append(FormField("passphrase", "Passphrase of the new key", password=True))
        if rotation.step == "stage":  # resuming an interrupted stage makes a fresh backup
            custodians = rotation.old_key.custodians
            fields += [_shares_field(custodians),
                       FormField("custodians", "Custodians, comma separated", value=", ".join(custodians))]
        if rotation.status == "blocked":
            fields.append(FormField("reason", "Reason to retire despite low coverage (recorded; empty: re-check)",
                                    required=False))
        explanation = rotation_steps(rotation)
        if plan is not None:  # first, so it is what the form shows; plain text: references are outside text
            explanation = Text("\n".join(plan.lines(rows=3)) + "\n\n").append_text(explanation)
        if config_edit is not None:
            explanation.append(f"\nThis step changes {config_edit.label} in {config_edit.path}:\n", style="bold")
            explanation.append_text(diff_text(config_edit.diff))
            fields.append(FormField("update_config", f"Apply this change to {Path(config_edit.path).name}",
                                    value="yes", checkbox=True))

        def submitted(values: dict[str, str] | None) -> None:
            if values is None:
                return
            passphrase = values.get("passphrase", "").encode()
            reason = values.get("reason", "")
            stage = None
            if rotation.step == "stage":
                custodians = _names(values["custodians"])
                stage = StageInputs(new_name=rotation.details.get("new_name", ""),
                                    backup=ShareScheme.parse(values["shares"], custodians),
                                    new_passphrase=passphrase, custodians=custodians)
            options = AdvanceOptions(passphrase_provider=lambda _name: passphrase,
                                     progress=self.progress_reporter("rotation-step"), force=bool(reason),
                                     reason=reason, stage=stage, resign_plan=plan,
                                     config_edit=config_edit if values.get("update_config") else None)
            context = self.context
            self.run_job("rotation-step", lambda: advance_rotation(context, rotation.id, options),
                         token=plan, cli=[_rotation_step_command(rotation, values)])

        label = f"Sign {plan.to_sign} image(s)" if plan is not None and plan.to_sign else f"Run {rotation.step}"
        self.app.push_screen(FormModal(f"Rotation {rotation.id}: {rotation.next_action}", tuple(fields),
                                       explanation=explanation, confirm_word=rotation.step, submit_label=label),
                             submitted)


def diff_text(diff: str) -> Text:
    """A unified diff, removed lines red and added lines green (plain text: the file's content is outside text)."""
    text = Text()
    for line in diff.splitlines():
        style = ("red" if line.startswith("-") and not line.startswith("---") else
                 "green" if line.startswith("+") and not line.startswith("+++") else "dim" if line.startswith("@@")
                 else "")
        text.append(line + "\n", style=style)
    return text


def _rotation_cell(rotation: RotationStatus) -> str:
    if rotation.finished:
        return rotation.status
    return f"{rotation.step} ({rotation.status})"


def rotation_steps(rotation: RotationStatus) -> Text:
    """Each step with its state, the soak coverage, and what to do next."""
    text = Text()
    current = STEPS.index(rotation.step) if rotation.step in STEPS else len(STEPS)
    for i, step in enumerate(STEPS):
        if rotation.status == "done" or i < current:
            text.append(f"  ✓ {step}\n", style="green")
        elif i == current:
            text.append(f"  ▶ {step} ({rotation.status})\n", style="bold")
        else:
            text.append(f"  · {step}\n", style="dim")
    if rotation.coverage is not None:
        text.append(f"  coverage with the new key alone: {rotation.coverage * 100:.1f}%\n")
    text.append(f"  next: {rotation.next_action}\n")
    return text


def _rotation_step_command(rotation: RotationStatus, values: dict[str, str]) -> tuple[str, ...]:
    """The `signet key rotate` line for the step the form runs (secrets only ever as file names)."""
    passphrase = ("--passphrase-file", "NEW_KEY_PASSPHRASE_FILE") if values.get("passphrase") else ()
    if rotation.step == "stage":  # an interrupted stage: resume with start's options
        custodians = [a for c in _names(values.get("custodians", "")) for a in ("--custodian", c)]
        return ("key", "rotate", "resume", rotation.id, "--new-name", rotation.details.get("new_name", ""),
                "--shares", values.get("shares", ""), *custodians, *passphrase)
    update = ("--update-config",) if values.get("update_config") else ()
    if rotation.status == "blocked" and values.get("reason"):
        return ("key", "rotate", "retire", rotation.id, "--force", "--reason", values["reason"], *passphrase, *update)
    confirmed = ("--yes",) if rotation.step == "resign" else ()  # the console showed the plan and was confirmed
    return ("key", "rotate", "resume" if rotation.status == "running" else "next", rotation.id, *passphrase, *update,
            *confirmed)
