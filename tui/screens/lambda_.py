"""Lambda: image functions per profile/region with their running digest and status; verify; the
release gate (verify, then deploy the digest-pinned image) behind a typed confirmation.

The view opens on what was last recorded; `r` lists live from AWS (one worker per profile/region).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding

from core.aws.accounts import AwsTarget, aws_targets
from core.aws.lambda_inventory import LambdaFunction, LambdaInventory, list_image_functions, verify_functions
from core.aws.release_gate import GateDecision, deploy_function_image
from core.console.lambdas import stored_functions
from core.errors import SignetError
from core.identity import Role
from core.verify.policy import resolve_trust_policy
from tui.screens.base import TableView
from tui.screens.form import FormField, FormModal
from tui.widgets.cells import badge, cell, short_digest, short_reference
from tui.widgets.detail_pane import DetailPane


class LambdaView(TableView):
    VIEW_NAME = "lambda"
    BINDINGS = [
        Binding("enter", "drill", "Details", id="drill"),
        Binding("v", "verify", "Verify", id="verify"),
        Binding("g", "gate", "Release gate", id="gate"),
    ]
    GATED = {"gate": Role.OPERATOR}

    def __init__(self, context, *, initial_filter: str = "") -> None:
        super().__init__(context, initial_filter=initial_filter)
        self.functions: dict[tuple[str, str, str], LambdaFunction] = {}
        self.errors: dict[str, str] = {}
        self.live = False

    def filter_hint(self) -> str:
        return "filter by function name, region or image"

    def prepare(self) -> None:
        self.add_columns(("profile/region", 18), ("function", 20), ("status", 9), ("digest", 19),
                         ("image", 50))

    def initial_load(self) -> None:
        context = self.context
        self.run_job("lambda-stored", lambda: stored_functions(context))

    def refresh_view(self) -> None:
        """List live from AWS, one worker per profile/region."""
        try:
            targets = aws_targets(self.context.config)
        except SignetError as exc:  # a config problem: shown, the view stays usable
            self.notify(str(exc), title="lambda", severity="error", markup=False)
            return
        config = self.context.config
        self.live = True
        for target in targets:
            self.run_job(f"lambda:{target.label}", lambda t=target: list_image_functions(config, [t])[0],
                         token=target)

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        if kind == "lambda-stored":
            for f in value:
                self.functions.setdefault((f.profile, f.region, f.name), f)
        elif kind.startswith("lambda:"):
            inventory: LambdaInventory = value
            target: AwsTarget = token
            self.errors.pop(target.label, None)
            if inventory.error:
                self.errors[target.label] = inventory.error
            for f in inventory.functions:
                self.functions[(f.profile, f.region, f.name)] = f
        elif kind == "lambda-verify":
            for f in value:
                self.functions[(f.profile, f.region, f.name)] = f
            counts: dict[str, int] = {}
            for f in value:
                counts[f.result] = counts.get(f.result, 0) + 1
            self.notify("verified " + ", ".join(f"{n} {r}" for r, n in sorted(counts.items())), title="lambda",
                        markup=False)
        elif kind == "lambda-gate":
            self._gate_done(value)
        self._show_rows()

    def _gate_done(self, decision: GateDecision) -> None:
        severity = "information" if decision.deployed else "error"
        verb = "deployed" if decision.deployed else "NOT deployed"
        self.notify(f"{decision.function}: {verb} ({decision.result}) — {decision.reason}", title="release gate",
                    severity=severity, markup=False, timeout=15)

    @property
    def shown(self) -> list[LambdaFunction]:
        return [f for _, f in sorted(self.functions.items()) if self.matches_filter(f.name, f.region, f.image_uri)]

    def apply_filter(self, text: str) -> None:
        self._show_rows()

    def _show_rows(self) -> None:
        table = self.table
        table.clear()
        for f in self.shown:
            table.add_row(cell(f"{f.profile or 'default'}/{f.region}"), cell(f.name), badge(f.result or "unknown"),
                          short_digest(f.digest), cell(short_reference(f.image_uri)))
        info = Text(f"{len(self.functions)} functions ({'live' if self.live else 'as last recorded; r lists live'})")
        for label, error in self.errors.items():
            info.append(f"   {label}: ", style="bold red")
            info.append(error)
        self.set_info(info)
        if self.shown:
            self.show_detail(min(table.cursor_row, len(self.shown) - 1))

    def show_detail(self, index: int) -> None:
        shown = self.shown
        if 0 <= index < len(shown):
            f = shown[index]
            self.query_one(DetailPane).show(f"lambda {f.name}", [
                ("profile", f.profile or "default"), ("region", f.region), ("arn", f.arn), ("image uri", f.image_uri),
                ("resolved image uri", f.resolved_image_uri), ("digest", f.digest),
                ("digest from", f.digest_source), ("verify as", f.reference), ("problem", f.problem),
                ("result", f.result), ("reason", f.reason), ("bypass", f.bypass_id)])

    def _selected(self) -> LambdaFunction | None:
        shown, row = self.shown, self.table.cursor_row
        return shown[row] if 0 <= row < len(shown) else None

    def action_verify(self) -> None:
        functions, context = self.shown, self.context
        if not functions:
            self.notify("no functions to verify", severity="warning", markup=False)
            return
        self.run_job("lambda-verify", lambda: verify_functions(context, functions, resolve_trust_policy(context)))

    def action_gate(self) -> None:
        f = self._selected()
        if self.explain_disabled("gate") or f is None:
            return
        fields = (FormField("image", "Image to release (tag or digest)", value=f.image_uri.split("@", 1)[0]),)
        explanation = Text()
        explanation.append(f"{f.name} in {f.profile or 'default'}/{f.region}\n", style="bold")
        explanation.append("The image is verified first; only a verified (or bypassed) digest is deployed, "
                           "pinned by digest. Currently running: ")
        explanation.append(f.image_uri)
        target = AwsTarget(f.profile, f.region)
        context = self.context

        def submitted(values: dict[str, str] | None) -> None:
            if values:
                self.run_job("lambda-gate", lambda: deploy_function_image(
                    context, function=f.name, image=values["image"], policy=resolve_trust_policy(context),
                    target=target))

        self.app.push_screen(FormModal(f"Release gate: {f.name}", fields, explanation=explanation,
                                       confirm_word=f.name, submit_label="Verify and deploy", danger=True),
                             submitted)
