"""The loopback Kubernetes API answers the real `kubernetes` client the way a real API server does."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, config, watch

from tests.support.kube_api import KubeApiServer, pod, workload, write_kubeconfig

T = (2, 5)
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def kube(tmp_path):
    with KubeApiServer() as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"test": server.url})
        api = config.new_client_from_config(config_file=str(kubeconfig), context="test")
        yield server, api
        api.close()


def test_discovery_lists_workload_and_policy_groups(kube):
    server, api = kube
    groups = {g.name: [v.version for v in g.versions] for g in client.ApisApi(api).get_api_versions(
        _request_timeout=T).groups}
    assert groups["kyverno.io"][:2] == ["v1", "v2beta1"] and "v2" in groups["kyverno.io"]
    assert groups["policy.sigstore.dev"] == ["v1beta1", "v1alpha1"]
    assert client.VersionApi(api).get_code(_request_timeout=T).major == "1"
    res = client.CoreV1Api(api).get_api_resources(_request_timeout=T)
    assert {r.name for r in res.resources} == {"namespaces", "pods"}


def test_list_paginates_with_continue_and_a_stable_resource_version(kube):
    server, api = kube
    server.add_many([pod(f"p-{i:04d}", "ns-a" if i % 2 else "ns-b", [("c", "nginx:1", f"nginx@{DIGEST}")])
                     for i in range(1200)])
    core = client.CoreV1Api(api)
    first = core.list_pod_for_all_namespaces(limit=500, _request_timeout=T)
    assert len(first.items) == 500 and first.metadata.remaining_item_count == 700
    server.add(pod("late", "ns-a", [("c", "nginx:1", "")]))  # a write between pages
    second = core.list_pod_for_all_namespaces(limit=500, _continue=first.metadata._continue, _request_timeout=T)
    third = core.list_pod_for_all_namespaces(limit=500, _continue=second.metadata._continue, _request_timeout=T)
    assert second.metadata.resource_version == first.metadata.resource_version
    names = [p.metadata.name for p in first.items + second.items + third.items]
    # Continued pages show the list as of the first page: the late pod is not half-included.
    assert len(names) == len(set(names)) == 1200 and "late" not in names and third.metadata._continue is None
    only_a = core.list_namespaced_pod("ns-a", _request_timeout=T)
    assert len(only_a.items) == 601 and {p.metadata.namespace for p in only_a.items} == {"ns-a"}
    assert only_a.items[-1].status.container_statuses[0].image_id.endswith(DIGEST)


def test_forbidden_namespace_answers_a_forbidden_status(kube):
    server, api = kube
    server.add(pod("a", "open", [("c", "nginx:1", "")]))
    server.add(pod("b", "secret", [("c", "nginx:1", "")]))
    server.forbid_namespace("secret")
    core = client.CoreV1Api(api)
    with pytest.raises(client.ApiException) as denied:
        core.list_namespaced_pod("secret", _request_timeout=T)
    status = json.loads(denied.value.body)
    assert denied.value.status == 403 and status["reason"] == "Forbidden" and status["kind"] == "Status"
    with pytest.raises(client.ApiException) as cluster_wide:
        core.list_pod_for_all_namespaces(_request_timeout=T)
    assert cluster_wide.value.status == 403
    assert [p.metadata.name for p in core.list_namespaced_pod("open", _request_timeout=T).items] == ["a"]


def test_server_side_apply_creates_then_updates_and_records_the_manager(kube):
    server, api = kube
    objects = client.CustomObjectsApi(api)
    doc = {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "verify"},
           "spec": {"validationFailureAction": "Audit", "rules": []}}
    created = objects.patch_cluster_custom_object("kyverno.io", "v1", "clusterpolicies", "verify", doc,
                                                  field_manager="signet", _request_timeout=T,
                                                  _content_type="application/apply-patch+yaml",
                                                  _preload_content=False)
    assert created.status == 201
    doc["spec"]["validationFailureAction"] = "Enforce"
    updated = objects.patch_cluster_custom_object("kyverno.io", "v1", "clusterpolicies", "verify", doc,
                                                  field_manager="signet", _request_timeout=T,
                                                  _content_type="application/apply-patch+yaml")
    assert updated["spec"]["validationFailureAction"] == "Enforce"
    assert updated["metadata"]["generation"] == 2
    assert [f["manager"] for f in updated["metadata"]["managedFields"]] == ["signet"]
    # One object, served under every version of its group.
    assert server.get("kyverno.io", "v2beta1", "clusterpolicies", "", "verify")["apiVersion"] == "kyverno.io/v2beta1"
    with pytest.raises(client.ApiException) as no_manager:
        objects.patch_cluster_custom_object("kyverno.io", "v1", "clusterpolicies", "verify", doc,
                                            _request_timeout=T, _content_type="application/apply-patch+yaml")
    assert no_manager.value.status == 422


def test_create_get_delete_namespaced_custom_objects(kube):
    server, api = kube
    server.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kyverno"}})
    objects = client.CustomObjectsApi(api)
    polex = {"apiVersion": "kyverno.io/v2", "kind": "PolicyException",
             "metadata": {"name": "bypass-1", "namespace": "kyverno"}, "spec": {"exceptions": []}}
    objects.create_namespaced_custom_object("kyverno.io", "v2", "kyverno", "policyexceptions", polex,
                                            _request_timeout=T)
    with pytest.raises(client.ApiException) as again:
        objects.create_namespaced_custom_object("kyverno.io", "v2", "kyverno", "policyexceptions", polex,
                                                _request_timeout=T)
    assert again.value.status == 409
    got = objects.get_namespaced_custom_object("kyverno.io", "v2", "kyverno", "policyexceptions", "bypass-1",
                                               _request_timeout=T)
    assert got["metadata"]["uid"] and server.get("kyverno.io", "v2", "policyexceptions", "kyverno", "bypass-1")
    objects.delete_namespaced_custom_object("kyverno.io", "v2", "kyverno", "policyexceptions", "bypass-1",
                                            _request_timeout=T)
    assert server.get("kyverno.io", "v2", "policyexceptions", "kyverno", "bypass-1") is None
    with pytest.raises(client.ApiException) as missing_ns:
        objects.create_namespaced_custom_object("kyverno.io", "v2", "nowhere", "policyexceptions", polex,
                                                _request_timeout=T)
    assert missing_ns.value.status == 404


def test_workload_builders_are_read_back_by_typed_clients(kube):
    server, api = kube
    server.add(workload("CronJob", "report", "jobs", [("r", "busybox:1.36")]))
    server.add(workload("Deployment", "web", "jobs", [("w", "nginx:1")], init_images=[("i", "busybox:1")]))
    cron = client.BatchV1Api(api).list_namespaced_cron_job("jobs", _request_timeout=T).items[0]
    assert cron.spec.job_template.spec.template.spec.containers[0].image == "busybox:1.36"
    dep = client.AppsV1Api(api).read_namespaced_deployment("web", "jobs", _request_timeout=T)
    assert dep.spec.template.spec.init_containers[0].image == "busybox:1"


def test_wrong_token_is_unauthorized(tmp_path):
    with KubeApiServer() as server:
        kubeconfig = write_kubeconfig(tmp_path / "kc", {"test": server.url}, token="wrong")
        api = config.new_client_from_config(config_file=str(kubeconfig), context="test")
        with pytest.raises(client.ApiException) as denied:
            client.CoreV1Api(api).list_namespace(_request_timeout=T)
        assert denied.value.status == 401


def test_watch_streams_changes_after_a_resource_version_and_expires_old_ones(kube):
    server, api = kube
    server.add(pod("a", "ns", [("c", "nginx:1", "")]))
    core = client.CoreV1Api(api)
    since = core.list_namespaced_pod("ns", _request_timeout=T).metadata.resource_version
    server.add(pod("b", "ns", [("c", "nginx:1", "")]))
    server.add(pod("elsewhere", "other", [("c", "nginx:1", "")]))
    server.delete("", "pods", "ns", "a")
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_pod, "ns", resource_version=since, timeout_seconds=1, _request_timeout=T)]
    assert events == [("ADDED", "b"), ("DELETED", "a")]
    server.compact()
    with pytest.raises(client.ApiException) as expired:
        list(watch.Watch().stream(core.list_namespaced_pod, "ns", resource_version=since, timeout_seconds=1,
                                  _request_timeout=T))
    assert expired.value.status == 410
