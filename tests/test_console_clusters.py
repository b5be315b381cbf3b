"""Clusters view against a real registry and the loopback Kubernetes API: drill, sweep, drift, an
unreachable cluster shown as such while the reachable one is browsed."""

from __future__ import annotations

import pytest

from tests.support.cluster_world import build_world
from tests.support.console import confirm, press, running, screen_text
from tests.support.kube_api import KubeApiServer, closed_port_url


@pytest.fixture
def world(signet_home, registry):
    with KubeApiServer() as kube:
        yield build_world(signet_home, registry.url, kube, extra_contexts={"dead": closed_port_url()})


async def test_browse_sweep_and_drift(world):
    ctx = world.context()
    async with running(ctx, "clusters", size=(170, 45), notifications=True) as (app, pilot):
        view = app.view
        assert view.inventories["prod-eu"].reachable and not view.inventories["dead"].reachable
        text = screen_text(app)
        assert "unreachable" in text and "reachable" in text
        # the dead cluster cannot be opened, and says why
        view.table.move_cursor(row=[t.context for t in view.shown_targets].index("dead"))
        await press(app, pilot, "enter")
        assert view.level == 0
        view.table.move_cursor(row=[t.context for t in view.shown_targets].index("prod-eu"))
        await press(app, pilot, "enter")
        assert view.level == 1 and "prod" in view.shown_namespaces and "staging" in view.shown_namespaces
        view.table.move_cursor(row=view.shown_namespaces.index("prod"))
        await press(app, pilot, "enter")
        assert view.level == 2
        workloads = {(r.workload, r.container): r for r in view.shown_containers}
        web = workloads[("web", "app")]
        assert web.pods == 3 and web.running_digest == world.digests["signed"]
        # sweep the cluster being looked at, from the last container: the cursor stays on it
        last = view.shown_containers[-1]
        view.table.move_cursor(row=len(view.shown_containers) - 1)
        await pilot.pause()
        await press(app, pilot, "s")
        assert view.table.cursor_row == len(view.shown_containers) - 1
        assert f"{last.workload_kind}/{last.workload}" in view.query_one("#detail").text
        results = {(f.workload, f.container): f.result for f in view.findings.values() if f.namespace == "prod"}
        assert results[("web", "app")] == "verified" and results[("batch-tool", "tool")] == "unsigned"
        assert results[("db", "db")] == "invalid"
        text = screen_text(app)
        assert "verified" in text and "unsigned" in text and "invalid" in text
        # drift check: the running digests are what the tags point at
        await press(app, pilot, "d")
        assert view.drift and {d.status for d in view.drift.values()} <= {"current", "drift", "unknown"}
        assert any("drift:" in str(n.message) for n in app._notifications)
        # back up to the clusters; the policy drift panel reports (no admission policy installed)
        await press(app, pilot, "escape", "escape")
        assert view.level == 0
        view.table.move_cursor(row=[t.context for t in view.shown_targets].index("prod-eu"))
        await pilot.pause()
        detail = view.query_one("#detail").text
        assert "admission policies" in detail and "policy drift" in detail
    ctx.close()


async def test_apply_policy_needs_the_custodian_role_and_a_typed_confirmation(world):
    from core.keys.custody import generate_key

    ctx = world.context()
    generate_key(ctx, name="release", passphrase=b"long enough passphrase")
    async with running(ctx, "clusters", size=(170, 45), notifications=True) as (app, pilot):
        view = app.view
        view.table.move_cursor(row=[t.context for t in view.shown_targets].index("prod-eu"))
        await press(app, pilot, "p")
        modal = app.screen
        assert modal.query_one("#submit").disabled
        await confirm(app, pilot, "prod-eu")
        (policy,) = world.kube.list("kyverno.io", "clusterpolicies")
        assert policy["metadata"]["name"] == ctx.config.policy.verify_images_policy
        assert any("applied ClusterPolicy" in str(n.message) for n in app._notifications)
    ctx.close()
    bob = world.context("bob")  # an approver, not a custodian
    async with running(bob, "clusters", size=(170, 45)) as (app, pilot):
        assert app.view.check_action("apply_policy", ()) is None
        assert "custodian role" in screen_text(app)
        await press(app, pilot, "p")
        assert app.screen is app.view


async def test_the_demo_shows_a_reachable_cluster_with_its_workloads(tmp_path):
    from tests.support.console import demo_context

    ctx = demo_context(tmp_path / "demo")
    async with running(ctx, "clusters", size=(170, 45)) as (app, pilot):
        view = app.view
        assert view.inventories["demo-prod"].reachable, view.inventories["demo-prod"].error
        await press(app, pilot, "enter")
        assert view.level == 1 and {"payments", "storefront"} <= set(view.shown_namespaces)
        view.table.move_cursor(row=view.shown_namespaces.index("payments"))
        await press(app, pilot, "enter")
        assert view.level == 2 and {r.workload for r in view.shown_containers} == {"payments-api", "ledger"}
    ctx.close()
