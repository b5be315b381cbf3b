"""The demo cluster file answers like an API server where Signet depends on it: 404 for a kind not served
or a missing namespace, 409 on a second create, 404 deleting what is gone; writes persist in the file."""

from __future__ import annotations

import json

import pytest

from core.kube.api import resource_path
from core.kube.connect import open_kube_api
from core.kube.file_api import FileKubeApi, file_url, store_key, write_cluster_file
from core.errors import ClusterError, ClusterRefused

EXCEPTIONS = ("kyverno.io", "v2", "policyexceptions")


@pytest.fixture
def api(tmp_path):
    path = tmp_path / "cluster.json"
    write_cluster_file(path, {store_key("", "namespaces"): [{"metadata": {"name": "kyverno"}}]}, version="v1.31.0")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "demo",
        "clusters": [{"name": "demo", "cluster": {"server": file_url(path)}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": "u"}}]}))
    with open_kube_api("demo", str(kubeconfig), timeout=(1.0, 1.0)) as opened:
        yield opened, path


def _status(call) -> int:
    with pytest.raises(ClusterRefused) as refused:
        call()
    return refused.value.status


def test_a_file_server_in_the_kubeconfig_opens_the_file(api):
    opened, _ = api
    assert isinstance(opened, FileKubeApi) and opened.get("/version")["gitVersion"] == "v1.31.0"
    assert [n["metadata"]["name"] for n in opened.list(resource_path("", "v1", "namespaces"))] == ["kyverno"]


def test_refusals_have_the_api_servers_status_codes(api):
    opened, path = api
    doc = {"metadata": {"name": "x"}, "spec": {"exceptions": []}}
    not_served = resource_path("policies.kyverno.io", "v1", "imagevalidatingpolicies")
    assert _status(lambda: list(opened.list(not_served))) == 404
    assert _status(lambda: opened.create(resource_path(*EXCEPTIONS, namespace="missing"), doc)) == 404
    created = opened.create(resource_path(*EXCEPTIONS, namespace="kyverno"), doc)
    assert created["kind"] == "PolicyException" and created["metadata"]["namespace"] == "kyverno"
    assert _status(lambda: opened.create(resource_path(*EXCEPTIONS, namespace="kyverno"), doc)) == 409
    stored = json.loads(path.read_text())["objects"][store_key("kyverno.io", "policyexceptions")]
    assert [o["metadata"]["name"] for o in stored] == ["x"]
    opened.delete(resource_path(*EXCEPTIONS, namespace="kyverno", name="x"))
    assert _status(lambda: opened.delete(resource_path(*EXCEPTIONS, namespace="kyverno", name="x"))) == 404
    assert _status(lambda: opened.get(resource_path(*EXCEPTIONS, namespace="kyverno", name="x"))) == 404


def test_a_missing_or_broken_file_is_an_unreachable_cluster(api):
    opened, path = api
    path.write_text("[not an object]")
    with pytest.raises(ClusterError, match="unreachable"):
        opened.get("/version")
    path.unlink()
    with pytest.raises(ClusterError, match="unreachable"):
        list(opened.list(resource_path("", "v1", "pods")))
