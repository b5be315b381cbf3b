"""The :whatif view on the demo: toggling a change moves the counts (judged again from cached facts, no
second verification), the detail pane names the fix, and applying Enforce really changes the cluster
(custodian only; audited), after which the baseline itself denies what the what-if predicted."""

from __future__ import annotations

import json

from core.demo.workloads import AUDIT_POLICY
from core.keys.inventory import find_key
from core.sign.signers import signer_for_record
from core.sign.service import sign_image
from tests.support.console import confirm, demo_context, fill, press, running, screen_text, submit
from tests.support.notation import make_signer, statement, write_notation_config


def _index(view, label_start: str) -> int:
    return next(i for i, c in enumerate(view.prepared.candidates) if c.label.startswith(label_start))


async def test_toggle_changes_and_watch_the_counts_move(tmp_path):
    ctx = demo_context(tmp_path / "demo")
    async with running(ctx, "whatif") as (app, pilot):
        view = app.view
        assert view.report.counts()["newly-denied"] == 0 and not any(view.active)
        drop = _index(view, "drop key release-a")
        facts = view.prepared.signatures
        await press(app, pilot, str(drop + 1))
        assert view.report.counts()["newly-denied"] == 2
        assert {o.workload.name for o in view.report.newly_denied} == {"settlement-report", "report-fn"}
        assert view.prepared.signatures is facts  # recounted from the cached facts
        assert "[x]" in screen_text(app) and "newly denied 2" in screen_text(app)
        detail = {o.workload.name: o for o in view.report.newly_denied}["report-fn"]
        assert detail.fixes[0].command.endswith("--key release-b")
        enforce = _index(view, f"enforce ClusterPolicy/{AUDIT_POLICY}")
        await press(app, pilot, str(enforce + 1))
        assert view.report.counts()["newly-denied"] == 4
        await press(app, pilot, str(drop + 1))
        assert {o.workload.name for o in view.report.newly_denied} == {"ledger", "web-frontend"}
        # follow the fix for real (re-sign with release-b), refresh: dropping release-a now denies nothing new
        await press(app, pilot, str(enforce + 1), str(drop + 1))
        passphrase = (tmp_path / "demo" / "demo-passphrase").read_bytes().strip()
        signer = signer_for_record(ctx, find_key(ctx, "release-b"), passphrase_provider=lambda _name: passphrase)
        sign_image(ctx, detail.workload.reference, signer)
        await press(app, pilot, "r")
        assert view.active[drop] and not view.report.newly_denied
    ctx.close()


async def test_apply_enforce_from_the_console_changes_the_cluster(tmp_path):
    root = tmp_path / "demo"
    bob = demo_context(root, identity="bob")  # approver, not custodian: apply is refused
    async with running(bob, "whatif") as (app, pilot):
        await press(app, pilot, str(_index(app.view, "enforce") + 1), "a")
        assert app.view.gate_reason("apply") and "custodian" in screen_text(app)
    bob.close()
    ctx = demo_context(root)
    async with running(ctx, "whatif") as (app, pilot):
        view = app.view
        await press(app, pilot, str(_index(view, f"enforce ClusterPolicy/{AUDIT_POLICY}") + 1), "a")
        await confirm(app, pilot, "apply")
        cluster = json.loads((root / "cluster.json").read_text())
        (policy,) = cluster["objects"]["kyverno.io/clusterpolicies"]
        assert policy["spec"]["rules"][0]["verifyImages"][0]["failureAction"] == "Enforce"
        # reloaded: the cluster now enforces, so what was newly denied is denied already
        assert {o.workload.name for o in view.report.outcomes if o.status == "denied"} >= {"ledger", "web-frontend"}
    audited = ctx.store.query("SELECT subject, details FROM audit WHERE action = 'cluster.policy.apply'")
    assert any(AUDIT_POLICY in r["subject"] and '"applied"' in r["details"] for r in audited)
    ctx.close()


async def test_a_notation_trust_policy_added_with_p_is_a_candidate_that_cannot_be_applied(tmp_path):
    """`p` takes a notation config directory as well as a policy file: it becomes a toggle like the others
    (no demo image is signed with notation, so trusting none of them denies nothing new) that `a` refuses to
    apply (not a cluster object); one notation would reject is refused with its reason, the view kept."""
    signer = make_signer("console-notation")
    good = write_notation_config(tmp_path / "notation", {"ca:corp": [signer.root]}, [statement()])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "trustpolicy.json").write_text('{"version": "1.0", "trustPolicies": []}')
    ctx = demo_context(tmp_path / "demo")
    async with running(ctx, "whatif", notifications=True) as (app, pilot):
        view = app.view
        before = len(view.prepared.candidates)
        await press(app, pilot, "p")
        fill(app, path=str(bad))
        await submit(app, pilot)
        assert len(view.prepared.candidates) == before
        assert any("trustPolicies" in str(n.message) for n in app._notifications)
        await press(app, pilot, "p")
        fill(app, path=str(good))
        await submit(app, pilot)
        notation = _index(view, "notation trust policy")
        assert view.prepared.candidates[notation].kind == "notation" and notation == before
        await press(app, pilot, str(notation + 1))
        assert view.active[notation] and view.report.counts()["newly-denied"] == 0
        await press(app, pilot, "a")
        assert any("not a cluster object" in str(n.message) for n in app._notifications)
    ctx.close()
