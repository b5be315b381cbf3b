"""Bypasses: active ones with a live countdown, pending requests, history; request/approve/deny/revoke.

Every change goes through a modal and then a core.bypass service in a worker; the service re-checks
roles, self-approval and state, so the console cannot do more than the command line.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Sequence

from rich.text import Text
from textual.binding import Binding

from core.bypass.model import LISTING_GROUPS, Bypass, BypassOutcome
from core.bypass.running import RunningDigests, running_digests
from core.bypass.service import (approve_bypass, decision_refusal, deny_bypass, list_bypasses, request_bypass,
                                 revoke_bypass)
from core.bypass.validation import (validate_digest, validate_duration, validate_justification, validate_reason,
                                    validate_scope, validate_ticket)
from core.console.dashboard import format_seconds, format_time_left
from core.errors import SignetError
from core.identity import Role
from core.text import safe_text
from tui.screens.base import TableView
from tui.screens.form import CoreCheck, FormField, FormModal
from tui.widgets.cells import cell, short_digest
from tui.widgets.detail_pane import DetailPane

COUNTDOWN_TICK_S = 1.0
_PLACE = ("cluster", "namespace", "workload", "function", "region")  # the request form's target fields
GROUP_ORDER = {group: i for i, (group, _) in enumerate(LISTING_GROUPS)}
GROUP_STYLES = {"expiring_soon": "bold yellow", "active": "bold green", "pending": "bold cyan", "history": "dim"}


class BypassesView(TableView):
    VIEW_NAME = "bypasses"
    BINDINGS = [
        Binding("enter", "drill", "Details", id="drill"),
        Binding("n", "request", "Request", id="request"),
        Binding("a", "approve", "Approve", id="approve"),
        Binding("d", "deny", "Deny", id="deny"),
        Binding("x", "revoke", "Revoke", id="revoke"),
    ]
    GATED = {"request": None, "approve": Role.APPROVER, "deny": Role.APPROVER, "revoke": None}
    LIVE_TABLES = frozenset({"bypasses", "bypass_approvals"})
    ROW_GATES = True  # approving one's own request (or a closed one) is disabled with the reason

    def __init__(self, context, *, initial_filter: str = "") -> None:
        super().__init__(context, initial_filter=initial_filter)
        self.bypasses: list[Bypass] = []
        self.running = RunningDigests()  # what each target runs, as last recorded: for the digest warnings

    def filter_hint(self) -> str:
        return "filter: id, requester, digest, scope or ticket text"

    def prepare(self) -> None:
        self.add_columns(("group", 13), ("time left", 9), ("id", 16), ("state", 9), ("requester", 10),
                         ("scope", 28), ("digest", 19), ("ticket", 12))
        self.set_interval(COUNTDOWN_TICK_S, self._tick)

    def gate_reason(self, action: str) -> str:
        reason = super().gate_reason(action)
        if reason or action not in ("approve", "deny"):
            return reason
        bypass = self._selected()
        refusal = decision_refusal(self.context, bypass, action) if bypass is not None else None
        return str(refusal) if refusal is not None else ""

    def refresh_view(self) -> None:
        context = self.context
        self.run_job("bypass-list", lambda: (list_bypasses(context, include_closed=True), running_digests(context)))

    def apply_filter(self, text: str) -> None:
        self._show_rows()

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        if kind == "bypass-list":
            now = self.context.clock()
            value, self.running = value
            self.bypasses = sorted(value, key=lambda b: (GROUP_ORDER[b.listing_group(now)],
                                                         -(b.requested_at.timestamp())))
            self._show_rows()
        elif kind == "bypass-action":
            verb, outcome = value
            state = outcome.bypass.state.value
            # "approved" twice says nothing; a first approval of two leaves it "requested", which is news
            self.notify(f"bypass {outcome.bypass.id} {verb}" + ("" if state == verb else f" (it is {state})"),
                        title="bypass", markup=False)
            if outcome.warning:
                self.notify(outcome.warning, title="bypass", severity="warning", markup=False, timeout=15)
            self.refresh_view()

    @property
    def shown(self) -> list[Bypass]:
        return [b for b in self.bypasses
                if self.matches_filter(b.id, b.requester, b.digest, b.scope.describe(), b.ticket)]

    def _show_rows(self) -> None:
        now = self.context.clock()
        counts: dict[str, int] = {}
        for b in self.bypasses:
            group = b.listing_group(now)
            counts[group] = counts.get(group, 0) + 1
        self.set_info("  ".join(f"{title} {counts.get(group, 0)}" for group, title in LISTING_GROUPS))
        self.replace_rows((b.id, (Text(b.listing_group(now), style=GROUP_STYLES[b.listing_group(now)]),
                                  cell(self._left(b)), cell(b.id), cell(b.effective_state(now).value),
                                  cell(b.requester), cell(b.scope.describe()), short_digest(b.digest),
                                  cell(b.ticket))) for b in self.shown)

    def _left(self, b: Bypass) -> str:
        remaining = b.remaining(self.context.clock())
        return format_time_left(remaining.total_seconds() if remaining is not None else None)

    def _tick(self) -> None:
        """Live countdown from the context clock, in the table and the detail pane; no database access."""
        table = self.table
        for b in self.shown:
            if b.ends_at is not None and b.id in table.rows:
                table.update_cell(b.id, "time left", cell(self._left(b)))
        selected = self._selected()
        if selected is not None and selected.ends_at is not None:
            self.show_detail(table.cursor_row)

    def show_detail(self, index: int) -> None:
        shown = self.shown
        if not 0 <= index < len(shown):
            return
        b = shown[index]
        now = self.context.clock()
        decisions = "\n  ".join(f"{d.decision} by {d.approver}" + (f": {d.reason}" if d.reason else "")
                                for d in b.decisions)
        self.query_one(DetailPane).show(f"bypass {b.id}", [
            ("state", b.effective_state(now).value), ("time left", self._left(b)), ("requester", b.requester),
            ("scope", b.scope.describe()), ("digest", b.digest), ("ticket", b.ticket),
            ("justification", b.justification), ("duration", format_seconds(b.duration_seconds)),
            ("requested", b.requested_at.isoformat()), ("request expires", b.request_expires_at.isoformat()),
            ("starts", b.starts_at.isoformat() if b.starts_at else ""),
            ("ends", b.ends_at.isoformat() if b.ends_at else ""),
            ("decisions", "\n  " + decisions if decisions else ""), ("closed by", b.closed_by),
            ("close reason", b.close_reason), ("policy exception", b.exception_ref)])

    # --- actions ------------------------------------------------------------------------------
    def _selected(self) -> Bypass | None:
        shown = self.shown
        if not shown:  # also before the first load, when the gates are first drawn
            return None
        row = self.table.cursor_row
        return shown[row] if 0 <= row < len(shown) else None

    def _act(self, verb: str, call: Callable[[], BypassOutcome], cli: Sequence[str]) -> None:
        self.run_job("bypass-action", lambda: (verb, call()), cli=[("bypass", *cli)])

    def action_request(self) -> None:
        if self.explain_disabled("request"):
            return
        selected = self._selected()
        policy = self.context.config.policy
        # The selected bypass's digest comes with its target (never alone): a digest belongs to one target.
        scope = selected.scope if selected else None
        fields = (
            FormField("digest", "Image digest (sha256:…)", value=selected.digest if selected else "",
                      validators=(CoreCheck(validate_digest),)),
            FormField("cluster", "Cluster (kube context) — or leave empty for a Lambda function", required=False,
                      value=scope and scope.cluster or ""),
            FormField("namespace", "Namespace", required=False, value=scope and scope.namespace or ""),
            FormField("workload", "Workload (optional)", required=False, value=scope and scope.workload or ""),
            FormField("function", "Lambda function", required=False, value=scope and scope.function or ""),
            FormField("region", "Lambda region", required=False, value=scope and scope.region or ""),
            FormField("justification", "Justification (why this cannot wait for a signature)",
                      validators=(CoreCheck(validate_justification),)),
            FormField("ticket", "Ticket", validators=(CoreCheck(validate_ticket),)),
            FormField("duration", "Duration (e.g. 2h)", value="2h",
                      validators=(CoreCheck(lambda v: validate_duration(v, policy)),)),
        )
        explanation = (f"Nothing is granted until an approver other than you approves "
                       f"({policy.bypass_approvals} approval(s) needed). Maximum duration "
                       f"{format_seconds(policy.max_bypass_seconds)}.")

        def submitted(values: dict[str, str] | None) -> None:
            if values:
                context = self.context
                place = {k: values[k] or None for k in _PLACE}
                self._act("requested", lambda: BypassOutcome(request_bypass(
                    context, digest=values["digest"], justification=values["justification"],
                    ticket=values["ticket"], duration=values["duration"], **place)),
                    ["request", *[a for k, v in place.items() if v for a in (f"--{k}", v)],
                     "--digest", values["digest"], "--justification", values["justification"],
                     "--ticket", values["ticket"], "--duration", values["duration"]])

        if selected:
            explanation += f" Digest and target are filled in from bypass {selected.id}."
        self.app.push_screen(FormModal("Request a bypass", fields, explanation=explanation,
                                       submit_label="Request", warn=self._digest_warning), submitted)

    def _digest_warning(self, values: dict[str, str]) -> str:
        """A warning when the digest is not what the target ran when last recorded (from memory)."""
        try:
            digest = validate_digest(values["digest"])
            scope = validate_scope(**{k: values[k] or None for k in _PLACE})
        except SignetError:
            return ""  # the fields' own checks say what is wrong
        return self.running.warning(scope, digest)

    def action_approve(self) -> None:
        bypass = self._selected()
        if self.explain_disabled("approve") or bypass is None:
            return
        context = self.context
        ends = (context.clock() + timedelta(seconds=bypass.duration_seconds)).strftime("%Y-%m-%d %H:%M:%S UTC")
        window = Text()
        window.append("duration: ", style="bold")
        window.append(f"{format_seconds(bypass.duration_seconds)}, ending {ends} if this approval grants it now\n")
        self._confirm(bypass, "Approve bypass", "Approve", (),
                      lambda values: self._act("approved", lambda: approve_bypass(context, bypass.id),
                                               ["approve", bypass.id]), window=window)

    def action_deny(self) -> None:
        bypass = self._selected()
        if self.explain_disabled("deny") or bypass is None:
            return
        context = self.context
        self._confirm(bypass, "Deny bypass", "Deny",
                      (FormField("reason", "Reason",
                                 validators=(CoreCheck(lambda v: validate_reason(v, required=True)),)),),
                      lambda values: self._act("denied", lambda: deny_bypass(context, bypass.id,
                                                                           reason=values["reason"]),
                                               ["deny", bypass.id, "--reason", values["reason"]]))

    def action_revoke(self) -> None:
        bypass = self._selected()
        if self.explain_disabled("revoke") or bypass is None:
            return
        context = self.context
        self._confirm(bypass, "Revoke bypass", "Revoke", (FormField("reason", "Reason", required=False),),
                      lambda values: self._act("revoked", lambda: revoke_bypass(context, bypass.id,
                                                                              reason=values["reason"]),
                                               ["revoke", bypass.id, *(("--reason", values["reason"])
                                                                       if values["reason"] else ())]),
                      danger=True)

    def _confirm(self, bypass: Bypass, title: str, label: str, fields: tuple[FormField, ...],
                 then: Callable[[dict[str, str]], None], *, danger: bool = False, window: Text | None = None) -> None:
        """`window`: the lines saying how long the bypass would be in force (approve)."""
        explanation = Text()
        for name, value in (("requester", bypass.requester), ("scope", bypass.scope.describe()),
                            ("digest", bypass.digest), ("ticket", bypass.ticket),
                            ("justification", bypass.justification)):
            explanation.append(f"{name}: ", style="bold")
            explanation.append(safe_text(value, max_len=2000) + "\n")
        if window is not None:
            explanation.append_text(window)
        warning = self.running.warning(bypass.scope, bypass.digest)
        if warning:
            explanation.append(f"warning: {warning}\n", style="bold yellow")

        def submitted(values: dict[str, str] | None) -> None:
            if values is not None:
                then(values)

        self.app.push_screen(FormModal(f"{title} {bypass.id}", fields, explanation=explanation,
                                       confirm_word=bypass.id, submit_label=label, danger=danger), submitted)
