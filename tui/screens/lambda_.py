"""Lambda: profile/region -> image functions with their running digest and status; verify; the
release gate (verify, then deploy the digest-pinned image) behind a typed confirmation.

The view opens on the profiles/regions (configured, or seen in what was last recorded); enter lists
one's functions, esc goes back. `r` lists live from AWS (one worker per profile/region); `v` verifies
every function in scope (all of them at the top, one profile/region's when drilled in).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from rich.text import Text
from textual.binding import Binding

from core.aws.regions import AwsTarget, aws_targets
from core.config.model import Config
from core.console.lambdas import stored_functions
from core.errors import SignetError
from core.lambdas.inventory import LambdaFunction, LambdaInventory, list_image_functions, verify_functions
from core.lambdas.release_gate import GateDecision, deploy_function_image
from core.verify.verifier import Verifier
from tui.screens.base import TableView, results_summary
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
    GATED = {"gate": None}  # any writable session (core/lambdas/release_gate.py)

    def __init__(self, context, *, initial_filter: str = "") -> None:
        super().__init__(context, initial_filter=initial_filter)
        self.functions: dict[tuple[str, str, str], LambdaFunction] = {}
        self.targets: dict[str, AwsTarget] = {}  # by label
        self.errors: dict[str, str] = {}
        self.live = False
        self.target: AwsTarget | None = None  # the profile/region drilled into (level 1)
        self.level = 0

    def filter_hint(self) -> str:
        return "filter by profile/region, function name or image"

    def initial_load(self) -> None:
        try:
            for target in aws_targets(self.context.config):
                self.targets[target.label] = target
        except SignetError as exc:  # a config problem: shown, the view stays usable
            self.notify(str(exc), title="lambda", severity="error", markup=False)
        context = self.context
        self.run_job("lambda-stored", lambda: stored_functions(context))
        self.show_level()

    def refresh_view(self) -> None:
        """List live from AWS, one worker per profile/region (only the drilled-in one at level 1)."""
        try:
            targets = [self.target] if self.target else aws_targets(self.context.config)
        except SignetError as exc:
            self.notify(str(exc), title="lambda", severity="error", markup=False)
            return
        config = self.context.config
        self.live = True
        for target in targets:
            self.targets[target.label] = target
            self.run_job(f"lambda:{target.label}", partial(_functions_in, config, target), token=target)

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        if kind == "lambda-stored":
            for f in value:
                self.functions.setdefault((f.profile, f.region, f.name), f)
                self.targets.setdefault(AwsTarget(f.profile, f.region).label, AwsTarget(f.profile, f.region))
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
            self.notify(results_summary(f.result for f in value), title="lambda", markup=False)
        elif kind == "lambda-gate":
            self._gate_done(value)
        self.show_level()

    def _gate_done(self, decision: GateDecision) -> None:
        severity: Literal["information", "error"] = "error" if decision.exit_code else "information"
        verb = "deployed" if decision.deployed else "NOT deployed"
        self.notify(f"{decision.function}: {verb} ({decision.result}) — {decision.reason}", title="release gate",
                    severity=severity, markup=False, timeout=15)
        if decision.store_error and decision.store_error != decision.reason:  # deployed (or decided) unrecorded
            self.notify(decision.store_error, title="release gate: NOT RECORDED", severity="error", markup=False,
                        timeout=30)

    @property
    def shown(self) -> list[LambdaFunction]:
        """The functions in scope: all, or the drilled-in profile/region's, that match the filter."""
        return [f for _, f in sorted(self.functions.items())
                if (self.target is None or (f.profile, f.region) == (self.target.profile, self.target.region))
                and self.matches_filter(f.name, f.region, f.image_uri, AwsTarget(f.profile, f.region).label)]

    @property
    def shown_targets(self) -> list[AwsTarget]:
        labels_with_matches = {AwsTarget(f.profile, f.region).label for f in self.shown}
        return [t for label, t in sorted(self.targets.items())
                if label in labels_with_matches or self.matches_filter(label)]

    def apply_filter(self, text: str) -> None:
        self.show_level()

    def show_level(self) -> None:
        rows: list[tuple[str, tuple]] = []
        if self.level == 0:
            self.target = None
            columns: tuple[tuple[str, int], ...]
            columns = (("profile/region", 24), ("functions", 9), ("verified", 9), ("not verified", 12),
                       ("unchecked", 9), ("listing", 40))
            for t in self.shown_targets:
                mine = [f for f in self.shown if (f.profile, f.region) == (t.profile, t.region)]
                results = [f.result for f in mine if f.result]
                error = self.errors.get(t.label)
                rows.append((t.label, (cell(t.label), cell(len(mine)), cell(results.count("verified")),
                                       cell(len(results) - results.count("verified")), cell(len(mine) - len(results)),
                                       cell(error, style="bold red") if error else
                                       cell("live" if self.live else "as recorded"))))
            info = Text(f"{len(self.targets)} profile/regions, {len(self.functions)} functions "
                        f"({'live' if self.live else 'as last recorded; r lists live'}); enter lists functions")
        else:
            columns = (("function", 24), ("status", 9), ("digest", 19), ("image", 60))
            rows = [(f.name, (cell(f.name), badge(f.result or "unknown"), short_digest(f.digest),
                              cell(short_reference(f.image_uri)))) for f in self.shown]
            label = self.target.label if self.target else ""
            info = Text(f"{label}: {len(self.shown)} functions (v verifies them, g is the release gate)")
            if label in self.errors:
                info.append("   listing failed: ", style="bold red")
                info.append(self.errors[label])
        self.set_info(info)
        self.query_one("#status-bar").set_crumbs(self.target.label if self.target else "")  # type: ignore[attr-defined]
        self.replace_rows(rows, columns=columns)  # after v or a reload the cursor stays on its row

    def show_detail(self, index: int) -> None:
        pane = self.query_one(DetailPane)
        if self.level == 0:
            targets = self.shown_targets
            if 0 <= index < len(targets):
                t = targets[index]
                pane.show(f"aws {t.label}", [("profile", t.profile or "default (credential chain)"),
                                            ("region", t.region), ("listing error", self.errors.get(t.label))])
            return
        shown = self.shown
        if 0 <= index < len(shown):
            f = shown[index]
            pane.show(f"lambda {f.name}", [
                ("profile", f.profile or "default"), ("region", f.region), ("arn", f.arn), ("image uri", f.image_uri),
                ("resolved image uri", f.resolved_image_uri), ("digest", f.digest),
                ("digest from", f.digest_source), ("verify as", f.reference), ("problem", f.problem),
                ("result", f.result), ("reason", f.reason), ("bypass", f.bypass_id)])

    def action_drill(self) -> None:
        targets, row = self.shown_targets, self.table.cursor_row
        if self.level == 0 and 0 <= row < len(targets):
            self.target, self.level = targets[row], 1
            self.show_level()
        else:
            super().action_drill()

    def _selected(self) -> LambdaFunction | None:
        shown, row = self.shown, self.table.cursor_row
        return shown[row] if self.level == 1 and 0 <= row < len(shown) else None

    def action_verify(self) -> None:
        functions, context = self.shown, self.context
        if not functions:
            self.notify("no functions to verify", severity="warning", markup=False)
            return
        self.run_job("lambda-verify", lambda: verify_functions(context, functions, Verifier.for_args(context)),
                     cli=[("lambda", "verify", f.name, *_aws_flags(f.profile, f.region)) for f in functions])

    def action_gate(self) -> None:
        f = self._selected()
        if self.explain_disabled("gate"):
            return
        if f is None:
            self.notify("choose a function first (enter lists a profile/region's functions)", title="release gate",
                        severity="warning", markup=False)
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
                    context, function=f.name, image=values["image"], verifier=Verifier.for_args(context),
                    target=target),
                             cli=[("lambda", "deploy", f.name, values["image"], *_aws_flags(f.profile, f.region))])

        self.app.push_screen(FormModal(f"Release gate: {f.name}", fields, explanation=explanation,
                                       confirm_word=f.name, submit_label="Verify and deploy", danger=True),
                             submitted)


def _functions_in(config: Config, target: AwsTarget) -> LambdaInventory:
    return list_image_functions(config, [target])[0]


def _aws_flags(profile: str, region: str) -> tuple[str, ...]:
    return (("--profile", profile) if profile else ()) + ("--region", region)
