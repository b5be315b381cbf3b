"""Cluster inventory through the real kubernetes client: contexts, RBAC, unreachable clusters, scale."""

from __future__ import annotations

import json
import os
import time

import pytest
from click.testing import CliRunner

from core.clusters.drift import find_drift
from core.clusters.inventory import (ClusterTarget, cluster_targets, read_inventories, running_digest,
                                     running_reference, ContainerImage)
from core.kube.connect import open_kube_api
from core.config.model import Config, LimitsConfig
from core.errors import ClusterError, InputError
from tests.support.cluster_world import build_world, push_signed
from tests.support.kube_api import KubeApiServer, SilentEndpoint, closed_port_url, pod, write_kubeconfig
from tests.support.oci import new_key, push_image
from tui.cli.main import cli

D = "sha256:" + "c" * 64
FAST = Config(limits=LimitsConfig(connect_timeout=1.0, read_timeout=1.5))


@pytest.fixture
def kube():
    with KubeApiServer() as server:
        yield server


@pytest.mark.parametrize("image_id, expected", [
    (f"docker-pullable://nginx@{D}", D),
    (f"docker.io/library/nginx@{D}", D),
    (f"quay.io/org/app@{D}", D),
    (f"docker://{D}", None),          # a local image ID (config digest), not what signatures name
    (D, None),
    ("", None),
    ("docker-pullable://nginx@sha256:short", None),
])
def test_running_digest_parses_kubelet_image_ids(image_id, expected):
    assert running_digest(image_id) == expected


def test_running_reference_uses_the_spec_repository_at_the_running_digest():
    image = ContainerImage("c", "containers", "registry.example/team/app:v2", f"mirror.example/app@{D}", D)
    assert running_reference(image) == f"registry.example/team/app@{D}"
    assert running_reference(ContainerImage("c", "containers", "nginx", "", None)) is None


def test_every_context_of_a_kubeconfig_list_is_read(tmp_path, kube, monkeypatch):
    kube.add(pod("a", "default", [("c", "nginx:1", f"nginx@{D}")]))
    first = write_kubeconfig(tmp_path / "one", {"east": kube.url})
    second = write_kubeconfig(tmp_path / "two", {"west": kube.url})
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(second)]))
    targets = cluster_targets(Config())
    assert [t.context for t in targets] == ["east", "west"]
    inventories = read_inventories(FAST, targets)
    assert [(i.context, len(i.pods)) for i in inventories] == [("east", 1), ("west", 1)]
    assert cluster_targets(Config(), context="west") == [ClusterTarget("west", None)]
    with pytest.raises(InputError):
        cluster_targets(Config(), context="nowhere")


def test_default_kubeconfig_path_is_used_without_kubeconfig_variable(kube, isolated_home):
    write_kubeconfig(isolated_home / ".kube" / "config", {"home-ctx": kube.url})
    assert [t.context for t in cluster_targets(Config())] == ["home-ctx"]


def test_unreachable_and_silent_clusters_are_reported_without_hiding_the_healthy_one(tmp_path, kube):
    kube.add(pod("a", "default", [("c", "nginx:1", f"nginx@{D}")]))
    with SilentEndpoint() as silent:
        kubeconfig = write_kubeconfig(tmp_path / "kc", {"ok": kube.url, "refused": closed_port_url(),
                                                        "silent": silent.url})
        started = time.monotonic()
        inventories = read_inventories(FAST, cluster_targets(Config(), kubeconfig=str(kubeconfig)))
        elapsed = time.monotonic() - started
    by_name = {i.context: i for i in inventories}
    assert by_name["ok"].reachable and len(by_name["ok"].pods) == 1
    assert not by_name["refused"].reachable and "refused" in by_name["refused"].error.lower()
    assert not by_name["silent"].reachable and "timed out" in by_name["silent"].error.lower()
    # Clusters are read concurrently and the silent one is cut by the read timeout, not waited on forever.
    assert elapsed < 6


def test_overall_deadline_cuts_a_call_shorter_than_its_read_timeout(tmp_path):
    with SilentEndpoint() as silent:
        kubeconfig = write_kubeconfig(tmp_path / "kc", {"slow": silent.url})
        with open_kube_api("slow", str(kubeconfig), timeout=(5, 30), deadline_s=0.5) as api:
            started = time.monotonic()
            with pytest.raises(ClusterError, match="timed out"):
                api.get("/version")
            assert time.monotonic() - started < 3
            with pytest.raises(ClusterError, match="gave up after"):
                api.get("/version")


def test_forbidden_namespace_is_reported_and_others_are_still_read(tmp_path, kube):
    kube.add(pod("a", "open", [("c", "nginx:1", f"nginx@{D}")]))
    kube.add(pod("b", "locked", [("c", "nginx:1", f"nginx@{D}")]))
    kube.forbid_namespace("locked")
    kubeconfig = write_kubeconfig(tmp_path / "kc", {"c": kube.url})
    (inventory,) = read_inventories(FAST, cluster_targets(Config(), kubeconfig=str(kubeconfig)))
    assert inventory.reachable and inventory.forbidden == ("locked",) and not inventory.complete
    assert [p.name for p in inventory.pods] == ["a"]
    # Asking for the locked namespace alone reports it too, with nothing read.
    (only,) = read_inventories(FAST, cluster_targets(Config(), kubeconfig=str(kubeconfig)), namespaces=["locked"])
    assert only.forbidden == ("locked",) and only.pods == ()


def test_unlistable_namespaces_matter_only_when_cluster_wide_reads_are_refused(tmp_path, kube):
    kube.add(pod("a", "open", [("c", "nginx:1", f"nginx@{D}")]))
    kube.forbid_resource("namespaces")
    kubeconfig = write_kubeconfig(tmp_path / "kc", {"c": kube.url})
    targets = cluster_targets(Config(), kubeconfig=str(kubeconfig))
    (readable,) = read_inventories(FAST, targets)
    assert readable.complete and readable.namespaces == ("open",) and [p.name for p in readable.pods] == ["a"]
    kube.forbid_namespace("other")  # now cluster-wide lists are refused too: nothing can be enumerated
    (blind,) = read_inventories(FAST, targets)
    assert not blind.complete and blind.pods == () and "namespace list" in blind.warnings[0]


def test_five_thousand_pods_are_read_through_pagination(tmp_path, kube):
    kube.add_many([pod(f"p-{i}", f"ns-{i % 7}", [("c", f"app:{i % 50}", f"app@sha256:{i % 50:064x}")],
                       init_containers=[("i", "init:1", f"init@{D}")])
                   for i in range(5000)])
    kubeconfig = write_kubeconfig(tmp_path / "kc", {"big": kube.url})
    (inventory,) = read_inventories(Config(), cluster_targets(Config(), kubeconfig=str(kubeconfig)))
    assert len(inventory.pods) == 5000 and len({p.name for p in inventory.pods}) == 5000
    assert kube.request_count("/api/v1/pods?continue=") == 9  # 10 pages of 500
    digests = {c.running_digest for p in inventory.pods for c in p.containers}
    assert len(digests) == 51


def test_workload_templates_and_all_container_kinds_are_listed(tmp_path, registry):
    with KubeApiServer() as kube:
        world = build_world(tmp_path, registry.url, kube)
        kube.add(pod("debug", "prod", [("main", world.image("signed"), world.image_id("signed"))],
                     ephemeral=[("debugger", "busybox:1", f"busybox@{D}")]))
        (inventory,) = read_inventories(FAST, [ClusterTarget("prod-eu", str(world.kubeconfig))])
    kinds = {(w.kind, w.name) for w in inventory.workloads}
    assert {("Deployment", "web"), ("StatefulSet", "db"), ("CronJob", "report"), ("Job", "report-28812345")} <= kinds
    owners = {p.name: (p.workload_kind, p.workload) for p in inventory.pods}
    assert owners["web-7d9f-0"] == ("Deployment", "web")
    assert owners["report-28812345-x1"] == ("CronJob", "report")
    assert owners["batch-tool"] == ("Pod", "batch-tool")
    debug = next(p for p in inventory.pods if p.name == "debug")
    assert [(c.container_type, c.running_digest) for c in debug.containers] == [
        ("containers", world.digests["signed"]), ("ephemeralContainers", D)]
    web = next(p for p in inventory.pods if p.name == "web-7d9f-0")
    assert {c.container_type for c in web.containers} == {"containers", "initContainers"}


def test_drift_when_the_tag_moved_after_the_pod_started(tmp_path, registry, signet_home):
    with KubeApiServer() as kube:
        world = build_world(signet_home, registry.url, kube)
        ctx = world.context()
        before = read_inventories(ctx.config, [ClusterTarget("prod-eu", str(world.kubeconfig))])
        assert {d.status for d in find_drift(ctx, before)} == {"current"}
        moved = push_signed(registry.url, "signed", new_key())  # the tag v1 now names another image
        push_image(registry.url, "gone", "v1")
        kube.add(pod("orphan", "prod", [("c", f"{world.host}/missing:v9", f"{world.host}/missing@{D}")]))
        after = find_drift(ctx, read_inventories(ctx.config, [ClusterTarget("prod-eu", str(world.kubeconfig))]))
    web = [d for d in after if d.workload == "web"]
    assert web and all(d.status == "drift" and d.registry_digest == moved
                       and d.running_digest == world.digests["signed"] for d in web)
    orphan = next(d for d in after if d.pod == "orphan")
    assert orphan.status == "unknown" and "missing" in orphan.reason
    assert next(d for d in after if d.pod == "batch-tool").status == "current"


def test_inventory_cli_reports_forbidden_namespaces_and_drift(tmp_path, registry, signet_home):
    with KubeApiServer() as kube:
        world = build_world(signet_home, registry.url, kube)
        kube.add(pod("hidden", "secret", [("c", "nginx:1", f"nginx@{D}")]))
        kube.forbid_namespace("secret")
        push_signed(registry.url, "forged", new_key())  # the StatefulSet's tag moves
        runner = CliRunner()
        result = runner.invoke(cli, ["cluster", "inventory", "--drift", "--json"])
        table = runner.invoke(cli, ["cluster", "inventory", "--context", "prod-eu", "-n", "staging"])
        contexts = runner.invoke(cli, ["cluster", "contexts", "--json"])
    assert result.exit_code == 1, result.output  # a namespace could not be read
    doc = json.loads(result.stdout)
    (cluster,) = doc["clusters"]
    assert cluster["forbidden_namespaces"] == ["secret"] and cluster["reachable"]
    drifted = {d["pod"] for d in doc["drift"] if d["status"] == "drift"}
    assert drifted == {"db-0"} and world.digests["forged"] not in {d["registry_digest"] for d in doc["drift"]
                                                                    if d["pod"] == "db-0"}
    assert table.exit_code == 0 and "report-28812345-x1" in table.stdout and "web-7d9f-0" not in table.stdout
    assert json.loads(contexts.stdout) == [{"context": "prod-eu", "name": "prod-eu",
                                            "kubeconfig": str(world.kubeconfig)}]
