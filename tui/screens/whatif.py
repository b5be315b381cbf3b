"""What-if: candidate trust changes (Enforce each policy not yet enforcing, drop each trusted key, require a
vulnerability scan clean up to HIGH, and policy files or notation trust policies added with `p`), toggled
with 1-9, judged against every running workload and Lambda function. Every running digest is verified once
when the view loads (`r` again); a toggle only re-judges from those cached facts, so the counts move at
once. `a` applies the ticked policy changes to the clusters (custodian, typed confirmation, audited by
core/clusters).
"""

from __future__ import annotations

from typing import Any, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from core.clusters.admission import AdmissionPolicy
from core.clusters.inventory import cluster_targets
from core.context import SignetContext
from core.identity import Role
from core.whatif.apply import applicable, apply_to_clusters
from core.whatif.change import Change, attestation_change, enforce_change, file_change, key_change
from core.whatif.facts import forget_facts
from core.whatif.service import WhatIf, WhatIfReport, prepare_what_if
from core.whatif.world import read_world
from tui.screens.base import TableView
from tui.screens.form import FormField, FormModal
from tui.widgets.cells import badge, cell
from tui.widgets.detail_pane import DetailPane

MAX_CANDIDATES = 9


def _candidates(ctx: SignetContext, prepared_policies: Mapping[str, tuple[AdmissionPolicy, ...]]) -> list[Change]:
    changes: list[Change] = []
    seen: set[str] = set()
    for policies in prepared_policies.values():
        for p in policies:
            name = f"{p.kind}/{p.name}"
            if p.mode != "enforce" and p.kind in ("ClusterPolicy", "ClusterImagePolicy") and name not in seen:
                seen.add(name)
                changes.append(enforce_change(name))
    changes += [key_change(ctx, "drop-key", ref) for ref in ctx.config.trust.keys]
    changes.append(attestation_change("vuln", max_severity="HIGH"))
    return changes[:MAX_CANDIDATES]


def load_what_if(ctx: SignetContext, extra: tuple[Change, ...] = ()) -> WhatIf:
    """The world, the candidate changes it suggests, and every fact they need (the slow part, done again
    on each load: images may have been re-signed since; toggles reuse what this found)."""
    forget_facts()
    targets = cluster_targets(ctx.config)
    world = read_world(ctx, targets)
    candidates = (_candidates(ctx, world.policies) + list(extra))[:MAX_CANDIDATES]
    return prepare_what_if(ctx, candidates, world=world)


def _toggle(n: int) -> Binding:
    """Key n toggles candidate change n (only the first is shown in the footer; `?` lists them all)."""
    return Binding(str(n), f"toggle_change({n - 1})", f"Toggle {n}", show=n == 1, id=f"toggle-{n}")


class WhatIfView(TableView):
    VIEW_NAME = "whatif"
    BINDINGS = [
        _toggle(1), _toggle(2), _toggle(3), _toggle(4), _toggle(5), _toggle(6), _toggle(7), _toggle(8), _toggle(9),
        Binding("enter", "drill", "Details", id="drill"),
        Binding("p", "add_policy", "Policy file", id="add_policy"),
        Binding("a", "apply", "Apply", id="apply"),
    ]
    GATED = {"apply": Role.CUSTODIAN}

    def __init__(self, context: SignetContext, *, initial_filter: str = "") -> None:
        super().__init__(context, initial_filter=initial_filter)
        self.prepared: WhatIf | None = None
        self.active: list[bool] = []
        self.report: WhatIfReport | None = None
        self.extra: tuple[Change, ...] = ()

    def compose_body(self) -> ComposeResult:
        yield Static("", id="whatif-changes")  # the candidate changes with their ticks, and the counts
        yield from super().compose_body()

    @property
    def ready(self) -> bool:
        return self.report is not None

    def filter_hint(self) -> str:
        return "filter by workload, namespace, status or reason"

    def prepare(self) -> None:
        self.add_columns(("status", 13), ("workload", 44), ("reason", 50), ("fix", 30))
        super().prepare()

    def refresh_view(self) -> None:
        self.set_info("reading clusters and Lambda functions, verifying every running digest…")
        context, extra = self.context, self.extra
        self.run_job("whatif-load", lambda: load_what_if(context, extra))

    @property
    def changes(self) -> list[Change]:
        return [c for c, on in zip(self.prepared.candidates, self.active, strict=True) if on] if self.prepared else []

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        if kind == "whatif-load":
            previous = {c.label for c in self.changes}
            self.prepared = value
            self.active = [c.label in previous for c in value.candidates]
            self.recount()
        elif kind == "whatif-count":
            if token == tuple(self.active):  # a later toggle's count supersedes this one
                self.report = value
                self.show_report()
        elif kind == "whatif-apply":
            names = ", ".join(f"{a.context}:{a.kind}/{a.name}" for a in value)
            self.notify(f"applied {names or 'nothing (no cluster has that policy)'}", title="what-if", markup=False)
            self.refresh_view()

    def recount(self) -> None:
        prepared, changes = self.prepared, self.changes
        if prepared is not None:
            self.run_job("whatif-count", lambda: prepared.evaluate(changes), token=tuple(self.active))

    def action_toggle_change(self, index: int) -> None:
        if self.prepared is None or index >= len(self.active):
            return
        self.active[index] = not self.active[index]
        self.recount()

    def show_report(self) -> None:
        report = self.report
        if report is None or self.prepared is None:
            return
        rows = []
        for o in sorted(report.outcomes, key=lambda o: (o.status != "newly-denied", o.status, o.workload.label)):
            if not self.matches_filter(o.status, o.workload.label, o.after.reason):
                continue
            fix = " and ".join(f.kind for f in o.fixes)
            rows.append((o.workload.label, [badge(o.status), cell(o.workload.label), cell(o.after.reason),
                                            cell(fix)]))
        self.replace_rows(rows)
        counts = report.counts()
        self.set_info(f"newly denied {counts['newly-denied']}  denied {counts['denied']}  allowed "
                      f"{counts['allowed']}  newly allowed {counts['newly-allowed']}")
        info = Text()
        for n, (change, on) in enumerate(zip(self.prepared.candidates, self.active, strict=True), start=1):
            info.append(f"[{'x' if on else ' '}] {n} ", style="bold" if on else "dim")
            info.append(change.label + "\n", style="" if on else "dim")
        for problem in report.problems[:3]:
            info.append(f"{problem}\n", style="yellow")
        self.query_one("#whatif-changes", Static).update(info)

    def apply_filter(self, text: str) -> None:
        self.show_report()

    def show_detail(self, index: int) -> None:
        if self.report is None:
            return
        key = self.selected_key
        outcome = next((o for o in self.report.outcomes if o.workload.label == key), None)
        detail = self.query_one_optional(DetailPane)
        if outcome is None or detail is None:
            return
        w = outcome.workload
        fields = [("status", outcome.status), ("reference", w.reference or ""), ("now", outcome.before.reason),
                  ("after", outcome.after.reason)]
        fields += [(f"fix ({f.kind})", f.command or f.text) for f in outcome.fixes]
        if outcome.bypass:
            fields.append(("bypass", outcome.bypass))
        detail.show(w.label, fields)

    def action_add_policy(self) -> None:
        def submitted(values: dict[str, str] | None) -> None:
            if values:
                try:
                    change = file_change(self.context, values["path"])
                except Exception as exc:  # bad input: say why, keep the view
                    self.notify(str(exc), title="what-if", severity="error", markup=False)
                    return
                self.extra = (*self.extra, change)
                self.refresh_view()

        self.app.push_screen(FormModal("What-if: a policy file to apply", (FormField(
            "path", "Policy file (YAML), or notation trust policy (config directory or .json)"),),
            submit_label="Add"), submitted)

    def action_apply(self) -> None:
        if self.explain_disabled("apply"):
            return
        changes = self.changes
        refused = [f"{c.label}: {applicable(c)}" for c in changes if applicable(c)]
        if not changes or refused:
            self.notify("; ".join(refused) or "tick a policy change first (1-9)", title="apply",
                        severity="warning", markup=False)
            return
        context = self.context
        explanation = Text("Server-side apply to every configured cluster: " + "; ".join(c.label for c in changes))
        if self.report is not None:
            explanation.append(f"\n{len(self.report.newly_denied)} running workload(s) would be newly denied.",
                               style="bold red" if self.report.newly_denied else "")

        def submitted(values: dict[str, str] | None) -> None:
            if values is not None:
                self.run_job("whatif-apply", lambda: apply_to_clusters(context, changes,
                                                                       cluster_targets(context.config)))

        self.app.push_screen(FormModal("Apply the policy change", (), explanation=explanation, confirm_word="apply",
                                       submit_label="Apply", danger=True), submitted)
