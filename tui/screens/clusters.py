"""Clusters: context -> namespace -> workload containers with running digest, result, drift, bypass.

Each cluster is read in its own worker (kube calls carry timeouts), so an unreachable cluster shows
as such while the others load. `s` sweeps (verifies what runs) with progress; `d` checks image
drift and admission-policy drift against the key inventory.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.validation import Function

from core.clusters.drift import ImageDrift, find_drift
from core.clusters.inventory import ClusterInventory, ClusterTarget, cluster_targets, read_cluster
from core.clusters.policies import ClusterPolicies, read_policies
from core.clusters.policy_apply import ENGINES, AppliedPolicy, apply_policy, generate_policy
from core.clusters.sweep import SweepFinding, SweepReport, run_sweep
from core.console.clusters import ContainerRow, container_rows
from core.errors import SignetError
from core.identity import Role
from core.keys.inventory import list_keys
from core.verify.verifier import Verifier
from tui.screens.base import TableView
from tui.screens.form import FormField, FormModal
from tui.widgets.cells import badge, cell, short_digest
from tui.widgets.detail_pane import DetailPane


class ClustersView(TableView):
    VIEW_NAME = "clusters"
    HAS_PROGRESS = True
    PROGRESS_KIND = "sweep"
    BINDINGS = [
        Binding("enter", "drill", "Open", id="drill"),
        Binding("s", "sweep", "Sweep", id="sweep"),
        Binding("d", "drift", "Drift check", id="drift"),
        Binding("p", "apply_policy", "Apply policy", id="apply_policy"),
    ]
    GATED = {"apply_policy": Role.CUSTODIAN}

    def __init__(self, context, *, initial_filter: str = "") -> None:
        super().__init__(context, initial_filter=initial_filter)
        self.level = 0
        self.targets: list[ClusterTarget] = []
        self.inventories: dict[str, ClusterInventory] = {}
        self.cluster: str | None = None
        self.namespace: str | None = None
        self.findings: dict[tuple, SweepFinding] = {}
        self.drift: dict[tuple, ImageDrift] = {}
        self.policies: dict[str, ClusterPolicies] = {}

    def filter_hint(self) -> str:
        return "filter rows by cluster, namespace, workload or image text"

    # --- loading ------------------------------------------------------------------------------
    def refresh_view(self) -> None:
        try:
            self.targets = cluster_targets(self.context.config)
        except SignetError as exc:  # no kubeconfig at all: say so, keep the view usable
            self.targets = []
            self.notify(str(exc), title="clusters", severity="warning", markup=False)
        limits = self.context.config.limits
        timeout = (limits.connect_timeout, limits.read_timeout)
        for target in self.targets:
            self.run_job(f"cluster:{target.context}", partial(read_cluster, target, timeout=timeout),
                         token=target.context)
        self.show_level()

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        if kind.startswith("cluster:"):
            self.inventories[token] = value
        elif kind == "sweep":
            self._sweep_done(value)
        elif kind == "apply-policy":
            self.notify(f"applied {value.kind}/{value.name} to {value.context} (resourceVersion "
                        f"{value.resource_version})", title="policy", markup=False)
            self.policies.pop(value.context, None)  # stale until the next drift check
        elif kind == "drift":
            drift, policies = value
            self.drift = {(d.cluster, d.namespace, d.workload, d.container): d for d in drift}
            self.policies = {p.context: p for p in policies}
            issues = sum(len(p.issues) for p in policies)
            self.notify(f"drift: {sum(d.status == 'drift' for d in drift)} image(s) drifted, {issues} policy "
                        "issue(s)", title="drift", markup=False)
        self.show_level()

    def _sweep_done(self, report: SweepReport) -> None:
        self.stop_progress()
        self.findings = {(f.cluster, f.namespace, f.workload, f.container): f for f in report.findings}
        counts = ", ".join(f"{n} {r}" for r, n in report.counts().items() if n)
        self.notify(f"sweep {report.sweep_id}: {report.unique_images} image(s); {counts or 'nothing running'}",
                    title="sweep", markup=False)

    # --- rendering ----------------------------------------------------------------------------
    def apply_filter(self, text: str) -> None:
        self.show_level()

    @property
    def shown_targets(self) -> list[ClusterTarget]:
        return [t for t in self.targets if self.matches_filter(t.label, t.context)]

    @property
    def shown_namespaces(self) -> list[str]:
        inventory = self.inventories.get(self.cluster or "")
        return [n for n in (inventory.namespaces if inventory else ()) if self.matches_filter(n)]

    @property
    def shown_containers(self) -> list[ContainerRow]:
        inventory = self.inventories.get(self.cluster or "")
        rows = container_rows(inventory) if inventory and inventory.reachable else []
        return [r for r in rows if r.namespace == self.namespace and
                self.matches_filter(r.workload, r.container, r.image)]

    def show_level(self) -> None:
        rows: list[tuple[str, tuple]] = []
        if self.level == 0:
            columns: tuple[tuple[str, int], ...]
            columns = (("cluster", 16), ("context", 16), ("status", 12), ("namespaces", 10), ("pods", 6),
                       ("detail", 50))
            for t in self.shown_targets:
                inv = self.inventories.get(t.context)
                if inv is None:
                    status, detail = Text("reading…", style="dim"), ""
                elif inv.reachable:
                    status = Text("reachable" if inv.complete else "partial", style="bold green" if inv.complete
                                  else "bold yellow")
                    detail = f"Kubernetes {inv.server_version}" + (
                        f"; forbidden: {', '.join(inv.forbidden)}" if inv.forbidden else "")
                else:
                    status, detail = Text("unreachable", style="bold red"), inv.error
                rows.append((t.context, (cell(t.label), cell(t.context), status,
                                         cell(len(inv.namespaces) if inv else ""), cell(len(inv.pods) if inv else ""),
                                         cell(detail))))
            info = f"{len(self.targets)} clusters" if self.targets else "no clusters configured ([[clusters]])"
        elif self.level == 1:
            columns = (("namespace", 24), ("containers", 10), ("verified", 9), ("not verified", 12))
            inventory = self.inventories.get(self.cluster or "")
            containers = container_rows(inventory) if inventory else []
            for namespace in self.shown_namespaces:
                mine = [r for r in containers if r.namespace == namespace]
                results = [self.findings[r.key].result for r in mine if r.key in self.findings]
                rows.append((namespace, (cell(namespace), cell(len(mine)), cell(results.count("verified")),
                                         cell(len(results) - results.count("verified") if results else ""))))
            info = f"cluster {self.cluster}: {len(self.shown_namespaces)} namespaces (s sweeps, d checks drift)"
        else:
            columns = (("workload", 22), ("container", 12), ("running digest", 19), ("result", 9), ("drift", 8),
                       ("bypass", 16), ("image", 40))
            for r in self.shown_containers:
                finding, drift = self.findings.get(r.key), self.drift.get(r.key)
                rows.append((f"{r.namespace}/{r.workload_kind}/{r.workload}/{r.container}", (
                    cell(f"{r.workload_kind}/{r.workload}"), cell(r.container), short_digest(r.running_digest),
                    badge(finding.result) if finding else cell("-"),
                    cell(drift.status if drift else "-", style="bold red" if drift and drift.status == "drift" else ""),
                    cell(finding.bypass_id if finding and finding.bypass_id else ""), cell(r.image))))
            info = f"{self.cluster} › {self.namespace}"
        self.set_info(info)
        crumbs = " › ".join(x for x in ((self.cluster or "") if self.level else "",
                                         (self.namespace or "") if self.level == 2 else "") if x)
        self.query_one("#status-bar").set_crumbs(crumbs)  # type: ignore[attr-defined]
        self.replace_rows(rows, columns=columns)  # after s, d or a reload the cursor stays on its row

    def show_detail(self, index: int) -> None:
        pane = self.query_one(DetailPane)
        if self.level == 0 and index < len(self.shown_targets):
            target = self.shown_targets[index]
            inv = self.inventories.get(target.context)
            policies = self.policies.get(target.context)
            issues = "".join(f"\n  [{i.severity}] {i.kind} {i.policy}: {i.detail}" for i in policies.issues) \
                if policies else ""
            pane.show(f"cluster {target.label}", [
                ("context", target.context), ("kubeconfig", target.kubeconfig or "default"),
                ("error", inv.error if inv else ""), ("warnings", "; ".join(inv.warnings) if inv else ""),
                ("admission policies", (f"{len(policies.policies)} found" + (" — DRIFTED" if policies.drifted
                                        else "")) if policies else "not checked (press d)"),
                ("policy drift", issues)])
        elif self.level == 1 and index < len(self.shown_namespaces):
            pane.show(f"namespace {self.shown_namespaces[index]}", [("cluster", self.cluster)])
        elif self.level == 2 and index < len(self.shown_containers):
            r = self.shown_containers[index]
            finding, drift = self.findings.get(r.key), self.drift.get(r.key)
            pane.show(f"{r.workload_kind}/{r.workload} {r.container}", [
                ("image", r.image), ("running digest", r.running_digest), ("pods", r.pods),
                ("result", finding.result if finding else "not swept (press s)"),
                ("reason", finding.reason if finding else ""),
                ("matched keys", ", ".join(finding.matched_keys) if finding else ""),
                ("bypass", finding.bypass_id if finding else ""),
                ("drift", f"{drift.status}: {drift.reason}" if drift else ""),
                ("registry digest", drift.registry_digest if drift else "")])

    # --- navigation ---------------------------------------------------------------------------
    def action_drill(self) -> None:
        row = self.table.cursor_row
        if self.level == 0 and row < len(self.shown_targets):
            target = self.shown_targets[row]
            inv = self.inventories.get(target.context)
            if inv is None or not inv.reachable:
                self.notify(f"{target.label} is {'still being read' if inv is None else 'unreachable'}",
                            severity="warning", markup=False)
                return
            self.cluster, self.level = target.context, 1
        elif self.level == 1 and row < len(self.shown_namespaces):
            self.namespace, self.level = self.shown_namespaces[row], 2
        else:
            super().action_drill()
            return
        self.show_level()

    # --- sweep and drift ----------------------------------------------------------------------
    def _chosen_targets(self) -> list[ClusterTarget]:
        if self.level and self.cluster:
            return [t for t in self.targets if t.context == self.cluster]
        return [t for t in self.targets if (inv := self.inventories.get(t.context)) is None or inv.reachable]

    def action_sweep(self) -> None:
        targets, context = self._chosen_targets(), self.context
        if not targets:
            self.notify("no reachable cluster to sweep", severity="warning", markup=False)
            return
        self.run_with_progress(None, lambda report: run_sweep(context, Verifier.for_args(context), targets,
                                                              progress=report),
                               cli=[("cluster", "sweep", *_only(targets, self.targets))])

    def action_drift(self) -> None:
        targets, context = self._chosen_targets(), self.context
        inventories = [self.inventories[t.context] for t in targets if t.context in self.inventories]

        def check() -> tuple[list[ImageDrift], list[ClusterPolicies]]:
            return find_drift(context, inventories), read_policies(context.config, targets, list_keys(context))

        only = _only(targets, self.targets)
        self.run_job("drift", check,
                     cli=[("cluster", "inventory", "--drift", *only), ("cluster", "policy", "show", *only)])

    def action_apply_policy(self) -> None:
        if self.explain_disabled("apply_policy"):
            return
        row = self.table.cursor_row
        target: ClusterTarget | None
        if self.level == 0 and 0 <= row < len(self.shown_targets):
            target = self.shown_targets[row]
        else:
            target = next((t for t in self.targets if t.context == self.cluster), None)
        if target is None:
            return
        fields = (
            FormField("engine", "Engine (kyverno or sigstore)", value="kyverno",
                      validators=(Function(lambda v: v in ENGINES, "engine must be kyverno or sigstore"),)),
            FormField("image_globs", "Image globs, comma separated", value="*"),
        )
        explanation = Text(f"Generates the verify-images policy for every trusted key (active, retiring, staged) "
                           f"and applies it to {target.label} ({target.context}) with server-side apply. This "
                           "changes what the cluster admits.")
        context = self.context

        def submitted(values: dict[str, str] | None) -> None:
            if not values:
                return
            globs = [g.strip() for g in values["image_globs"].split(",") if g.strip()]

            def apply() -> AppliedPolicy:
                doc = generate_policy(context, engine=values["engine"], image_globs=globs)
                return apply_policy(context, target, doc)

            self.run_job("apply-policy", apply, cli=[(
                "cluster", "policy", "generate", "--engine", values["engine"],
                *[a for g in globs for a in ("--image-glob", g)], "--apply", "--context", target.context,
                "--out", f"{target.context}-{values['engine']}.yaml")])

        self.app.push_screen(FormModal(f"Apply admission policy to {target.label}", fields, explanation=explanation,
                                       confirm_word=target.context, submit_label="Apply", danger=True), submitted)


def _only(chosen: list[ClusterTarget], every: list[ClusterTarget]) -> tuple[str, ...]:
    """`--context C` when one cluster was chosen out of several (the CLI's default is all of them)."""
    return ("--context", chosen[0].context) if len(chosen) == 1 and len(every) > 1 else ()
