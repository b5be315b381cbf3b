"""Cluster scope: the PolicyException Signet places, removes and reaps, over the real kubernetes client
against the loopback API server."""

from __future__ import annotations

import pytest

from core.bypass.kyverno_exception import exception_name, policy_exception, ttl_label_value
from core.bypass.model import BypassState
from core.bypass.reaper import reap
from core.bypass.coverage import active_bypass_for
from core.bypass.service import approve_bypass, get_bypass, request_bypass, revoke_bypass
from core.config.model import ClusterConfig
from tests.support.bypass_world import DIGEST, JUSTIFICATION, NEIGHBOUR, BypassWorld
from tests.support.kube_api import KubeApiServer, closed_port_url, pod, write_kubeconfig

KYVERNO = ("kyverno.io", "policyexceptions")


@pytest.fixture
def server():
    with KubeApiServer() as srv:
        srv.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kyverno"}})
        yield srv


@pytest.fixture
def world(tmp_path, server):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"prod": server.url})
    w = BypassWorld(tmp_path, clusters=(ClusterConfig(context="prod", kubeconfig=str(kubeconfig), name="Prod"),))
    w.kubeconfig = kubeconfig
    yield w
    w.close()


def _granted(world, **overrides):
    args = dict(digest=DIGEST, justification=JUSTIFICATION, ticket="INC-77", duration="2h", cluster="Prod",
                namespace="payments", workload="web")
    args.update(overrides)
    bypass = request_bypass(world.as_("dev"), **args)
    return approve_bypass(world.as_("alice"), bypass.id)


def _exceptions(server):
    return server.list(*KYVERNO)


def test_document_shape(world):
    bypass = _granted(world).bypass
    doc = policy_exception(bypass, world.config.policy)
    assert doc["apiVersion"] == "kyverno.io/v2" and doc["kind"] == "PolicyException"
    meta = doc["metadata"]
    assert meta["name"] == exception_name(bypass.id) == f"signet-{bypass.id}"
    assert meta["namespace"] == "kyverno"
    assert meta["labels"]["cleanup.kyverno.io/ttl"] == "2026-11-22T140000Z"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "signet"
    assert meta["labels"]["signet.dev/bypass-id"] == bypass.id
    notes = meta["annotations"]
    assert (notes["signet.dev/requested-by"], notes["signet.dev/approved-by"]) == ("dev", "alice")
    assert notes["signet.dev/reason"] == JUSTIFICATION and notes["signet.dev/ticket"] == "INC-77"
    assert notes["signet.dev/digest"] == DIGEST
    (exception,) = doc["spec"]["exceptions"]
    assert exception == {"policyName": "signet-verify-images", "ruleNames": [
        "verify-signature", "autogen-verify-signature", "autogen-cronjob-verify-signature"]}
    (match,) = doc["spec"]["match"]["any"]
    assert match["resources"]["namespaces"] == ["payments"]
    assert match["resources"]["names"] == ["web", "web-*"]
    assert "Pod" in match["resources"]["kinds"] and "CronJob" in match["resources"]["kinds"]


def test_ttl_label_floors_to_the_second():
    from datetime import datetime, timezone

    assert ttl_label_value(datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=timezone.utc)) == "2026-01-02T030405Z"


def test_namespace_wide_bypass_names_no_workload(world):
    bypass = _granted(world, workload=None).bypass
    (match,) = policy_exception(bypass, world.config.policy)["spec"]["match"]["any"]
    assert "names" not in match["resources"] and match["resources"]["namespaces"] == ["payments"]


def test_approval_creates_and_revoke_deletes_the_exception(world, server):
    outcome = _granted(world)
    bypass = outcome.bypass
    assert outcome.warning == "" and bypass.state is BypassState.ACTIVE
    assert bypass.exception_ref == f"prod/kyverno/signet-{bypass.id}"
    stored = server.get("kyverno.io", "v2", "policyexceptions", "kyverno", f"signet-{bypass.id}")
    assert stored is not None and stored["metadata"]["labels"]["signet.dev/bypass-id"] == bypass.id
    assert server.request_count("/apis/kyverno.io/v2/namespaces/kyverno/policyexceptions") >= 1

    revoked = revoke_bypass(world.as_("dev"), bypass.id, reason="signed image deployed")
    assert revoked.warning == "" and revoked.bypass.state is BypassState.REVOKED
    assert _exceptions(server) == []
    actions = [r["action"] for r in world.store.query(
        "SELECT action FROM audit WHERE subject = ? ORDER BY seq", (f"bypass:{bypass.id}",))]
    assert actions[-2:] == ["bypass.revoke", "bypass.exception_delete"]


def test_unreachable_cluster_leaves_bypass_approved_and_pending(world, server, tmp_path):
    write_kubeconfig(world.kubeconfig, {"prod": closed_port_url()})
    outcome = _granted(world)
    assert outcome.bypass.state is BypassState.APPROVED and outcome.bypass.exception_ref is None
    assert "not created" in outcome.warning
    # Signet honours it for its window; only the cluster side lags.
    assert active_bypass_for(world.as_("gate"), digest=DIGEST, cluster="prod", namespace="payments",
                             workload="web").id == outcome.bypass.id
    write_kubeconfig(world.kubeconfig, {"prod": server.url})
    report = reap(world.as_("alice"))
    assert report.activated == [outcome.bypass.id] and report.errors == []
    assert get_bypass(world.as_("dev"), outcome.bypass.id).state is BypassState.ACTIVE
    assert len(_exceptions(server)) == 1


def test_cluster_scope_matching_is_exact(world):
    bypass = _granted(world).bypass
    ctx = world.as_("gate")
    assert active_bypass_for(ctx, digest=DIGEST, cluster="prod", namespace="payments", workload="web").id == bypass.id
    assert active_bypass_for(ctx, digest=DIGEST, cluster="Prod", namespace="payments", workload="web").id == bypass.id
    assert active_bypass_for(ctx, digest=NEIGHBOUR, cluster="prod", namespace="payments", workload="web") is None
    assert active_bypass_for(ctx, digest=DIGEST, cluster="prod", namespace="payments", workload="api") is None
    assert active_bypass_for(ctx, digest=DIGEST, cluster="prod", namespace="payments") is None
    assert active_bypass_for(ctx, digest=DIGEST, cluster="prod", namespace="billing", workload="web") is None
    assert active_bypass_for(ctx, digest=DIGEST, cluster="staging", namespace="payments", workload="web") is None


def test_reaper_expires_deletes_stale_and_reports_foreign(world, server):
    bypass = _granted(world, duration="1h").bypass
    server.add({"apiVersion": "kyverno.io/v2", "kind": "PolicyException",
                "metadata": {"name": "hand-made", "namespace": "kyverno"},
                "spec": {"exceptions": [{"policyName": "x", "ruleNames": ["*"]}], "match": {"any": []}}})
    server.add({"apiVersion": "kyverno.io/v2", "kind": "PolicyException",
                "metadata": {"name": "signet-bp-000000000000", "namespace": "team-a",
                             "labels": {"app.kubernetes.io/managed-by": "signet",
                                        "signet.dev/bypass-id": "bp-000000000000",
                                        "cleanup.kyverno.io/ttl": "2026-11-22T130000Z"}},
                "spec": {"exceptions": [], "match": {"any": []}}})
    world.clock.advance(hours=1, seconds=1)
    report = reap(world.as_("alice"))
    assert [(b.id, b.state) for b in report.closed] == [(bypass.id, BypassState.EXPIRED)]
    assert report.deleted == [f"prod/kyverno/signet-{bypass.id}"]
    foreign = {(f.namespace, f.name): f.reason for f in report.foreign}
    assert set(foreign) == {("kyverno", "hand-made"), ("team-a", "signet-bp-000000000000")}
    assert "not created by Signet" in foreign[("kyverno", "hand-made")]
    assert "no cleanup.kyverno.io/ttl" in foreign[("kyverno", "hand-made")]
    assert "no bypass this Signet knows" in foreign[("team-a", "signet-bp-000000000000")]
    assert {o["metadata"]["name"] for o in _exceptions(server)} == {"hand-made", "signet-bp-000000000000"}


def test_reaper_deletes_exception_that_outlived_a_closed_bypass(world, server):
    """An exception left behind (delete failed at revoke time) is removed on the next reap."""
    bypass = _granted(world).bypass
    write_kubeconfig(world.kubeconfig, {"prod": closed_port_url()})
    revoked = revoke_bypass(world.as_("dev"), bypass.id)
    assert "not deleted yet" in revoked.warning and len(_exceptions(server)) == 1
    write_kubeconfig(world.kubeconfig, {"prod": server.url})
    report = reap(world.as_("dev"))
    assert report.deleted == [f"prod/kyverno/signet-{bypass.id}"] and _exceptions(server) == []


def test_reaper_reports_live_exception_with_wrong_ttl_and_leaves_good_one(world, server):
    good = _granted(world).bypass
    report = reap(world.as_("dev"))
    assert report.clean and report.deleted == [] and len(_exceptions(server)) == 1
    obj = _exceptions(server)[0]
    obj["metadata"]["labels"].pop("cleanup.kyverno.io/ttl")
    server.add(obj)
    report = reap(world.as_("dev"))
    assert [f.name for f in report.foreign] == [f"signet-{good.id}"] and "TTL label" in report.foreign[0].reason


def test_post_expiry_check_reports_pods_still_running_the_digest(world, server):
    bypass = _granted(world, duration="1h").bypass
    server.add(pod("web-7d9f-x2k1", "payments", [("app", f"registry.example/app@{DIGEST}",
                                                   f"registry.example/app@{DIGEST}")]))
    server.add(pod("web-7d9f-zzzz", "payments", [("app", "registry.example/app:v2",
                                                   f"registry.example/app@{NEIGHBOUR}")]))
    server.add(pod("api-1111-aaaa", "payments", [("app", "registry.example/app:v1",
                                                   f"docker-pullable://registry.example/app@{DIGEST}")]))
    world.clock.advance(hours=2)
    report = reap(world.as_("dev"))
    assert [(w.bypass_id, w.place) for w in report.lingering] == [
        (bypass.id, "prod/payments/pod/web-7d9f-x2k1")]
    assert not report.clean


def test_post_expiry_check_for_lambda_uses_inventory(world):
    bypass = request_bypass(world.as_("dev"), digest=DIGEST, justification=JUSTIFICATION, ticket="INC-8",
                            duration="1h", function="checkout", region="eu-west-1")
    approve_bypass(world.as_("bob"), bypass.id)
    with world.store.write() as db:
        db.execute("INSERT INTO lambda_functions (region, name, resolved_digest) VALUES (?, ?, ?)",
                        ("eu-west-1", "checkout", DIGEST))
        db.execute("INSERT INTO lambda_functions (region, name, resolved_digest) VALUES (?, ?, ?)",
                        ("eu-west-1", "other", DIGEST))
    world.clock.advance(hours=1)
    report = reap(world.as_("dev"))
    assert [w.place for w in report.lingering] == ["lambda:eu-west-1/checkout"]


def test_racing_activation_adopts_and_keeps_the_exception(world, server):
    """Approval and a reap may both try to create the exception; the second adopts it, deletes nothing."""
    from dataclasses import replace

    from core.bypass.service import activate

    active = _granted(world).bypass
    seen_before = replace(active, state=BypassState.APPROVED, exception_ref=None)
    outcome = activate(world.as_("dev"), seen_before)
    assert outcome.warning == "" and outcome.bypass.state is BypassState.ACTIVE
    assert len(_exceptions(server)) == 1


def test_foreign_object_under_our_name_is_not_adopted(world, server):
    bypass = request_bypass(world.as_("dev"), digest=DIGEST, justification=JUSTIFICATION, ticket="INC-5",
                            duration="1h", cluster="prod", namespace="payments")
    server.add({"apiVersion": "kyverno.io/v2", "kind": "PolicyException",
                "metadata": {"name": f"signet-{bypass.id}", "namespace": "kyverno"},
                "spec": {"exceptions": [{"policyName": "*", "ruleNames": ["*"]}], "match": {"any": []}}})
    outcome = approve_bypass(world.as_("alice"), bypass.id)
    assert outcome.bypass.state is BypassState.APPROVED and "refusing to adopt" in outcome.warning


def test_reaper_reports_a_copy_of_a_live_exception_elsewhere(world, server):
    bypass = _granted(world).bypass
    copy = _exceptions(server)[0]
    copy["metadata"] = {"name": "sneaky", "namespace": "team-b", "labels": copy["metadata"]["labels"]}
    server.add(copy)
    report = reap(world.as_("dev"))
    assert [(f.namespace, f.name) for f in report.foreign] == [("team-b", "sneaky")]
    assert bypass.id in report.foreign[0].reason and report.deleted == []
