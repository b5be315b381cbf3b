"""Sweeps against a real registry and the loopback Kubernetes API: results, bypasses, history, metrics, CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from core.bypass.service import approve_bypass, request_bypass
from core.clusters.inventory import cluster_targets
from core.clusters.sweep import run_sweep
from core.history.records import HistoryFilter
from core.metrics import exposition
from core.verify.verifier import Verifier
from tests.support.cluster_world import build_world
from tests.support.kube_api import KubeApiServer, closed_port_url, pod
from tests.support.store import history
from tui.cli.main import cli


@pytest.fixture
def world(signet_home, registry):
    with KubeApiServer() as kube:
        kube.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kyverno"}})
        yield build_world(signet_home, registry.url, kube, extra_contexts={"dead": closed_port_url()})


def _samples(text: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_sweep_verifies_each_unique_image_once_and_reports_per_workload(world):
    ctx = world.context()
    report = run_sweep(ctx, Verifier.for_args(ctx), cluster_targets(ctx.config))
    results = {(f.workload, f.container): f.result for f in report.findings}
    assert results == {("web", "app"): "verified", ("web", "init"): "verified", ("batch-tool", "tool"): "unsigned",
                       ("db", "db"): "invalid", ("report", "r"): "verified"}
    assert report.unique_images == 3 and not report.ok
    web = next(f for f in report.findings if f.workload == "web" and f.container == "app")
    assert web.pods == 3 and web.workload_kind == "Deployment" and web.reference.endswith(world.digests["signed"])
    dead = next(c for c in report.clusters if c.context == "dead")
    assert not dead.reachable and "refused" in dead.error.lower()
    namespaces = {(n["cluster"], n["namespace"]): n for n in report.by_namespace()}
    assert namespaces[("prod-eu", "prod")]["unsigned"] == 1 and namespaces[("prod-eu", "staging")]["verified"] == 1
    rows = history(ctx.store, HistoryFilter(source="sweep"))
    assert {(r.namespace, r.result) for r in rows} == {("prod", "verified"), ("prod", "unsigned"),
                                                        ("prod", "invalid"), ("staging", "verified")}
    assert all(r.cluster == "prod-eu" and r.details["sweep"] == report.sweep_id for r in rows)
    verified_prod = next(r for r in rows if r.namespace == "prod" and r.result == "verified")
    assert sorted(verified_prod.details["workloads"]) == ["Deployment/web:app", "Deployment/web:init"]


def test_an_approved_bypass_covers_exactly_its_workload(world):
    ctx = world.context("alice")
    unsigned = world.digests["unsigned"]
    world.kube.add(pod("other-tool", "prod", [("tool", world.image("unsigned"), world.image_id("unsigned"))]))
    bypass = request_bypass(ctx, digest=unsigned, justification="Hotfix for INC-4242 while the signer is down, "
                            "approved by the on-call lead", ticket="INC-4242", duration="2h",
                            cluster="prod-eu", namespace="prod", workload="batch-tool")
    approve_bypass(world.context("bob"), bypass.id)
    report = run_sweep(ctx, Verifier.for_args(ctx), cluster_targets(ctx.config, context="prod-eu"))
    by_workload = {f.workload: f for f in report.findings}
    assert by_workload["batch-tool"].result == "bypassed" and by_workload["batch-tool"].bypass_id == bypass.id
    assert "unsigned" in by_workload["batch-tool"].reason
    assert by_workload["other-tool"].result == "unsigned" and by_workload["other-tool"].bypass_id is None
    assert by_workload["db"].result == "invalid"  # the bypass names another digest
    assert not report.ok  # bypassed is never verified
    rows = history(ctx.store, HistoryFilter(result="bypassed"))
    assert [(r.bypass_id, r.digest) for r in rows] == [(bypass.id, unsigned)]


def test_metrics_from_the_store_parse_back(world):
    ctx = world.context()
    run_sweep(ctx, Verifier.for_args(ctx), cluster_targets(ctx.config))
    samples = _samples(exposition(ctx).decode())
    prod = (("cluster", "prod-eu"), ("namespace", "prod"))
    assert samples[("signet_unsigned_images", prod)] == 1
    assert samples[("signet_verification_failures_total", prod)] == 2
    assert samples[("signet_image_verifications_total", tuple(sorted(prod + (("result", "verified"),))))] == 1
    assert samples[("signet_cluster_up", (("cluster", "dead"),))] == 0
    assert samples[("signet_cluster_up", (("cluster", "prod-eu"),))] == 1
    assert samples[("signet_last_sweep_timestamp_seconds", (("cluster", "prod-eu"),))] == world.clock().timestamp()
    # A second sweep counts again (counters grow) while gauges describe only the latest sweep.
    run_sweep(ctx, Verifier.for_args(ctx), cluster_targets(ctx.config))
    again = _samples(exposition(ctx).decode())
    assert again[("signet_verification_failures_total", prod)] == 4
    assert again[("signet_unsigned_images", prod)] == 1


def test_sweep_cli_json_exit_code_and_textfile_match_signet_metrics(world, tmp_path):
    textfile = tmp_path / "signet.prom"
    runner = CliRunner()
    result = runner.invoke(cli, ["cluster", "sweep", "--context", "prod-eu", "--namespace", "staging", "--json",
                                 "--prometheus-textfile", str(textfile)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["counts"]["verified"] == 1 and doc["namespaces"][0]["namespace"] == "staging"
    assert set(doc["findings"][0]) >= {"cluster", "namespace", "workload", "result", "reason", "bypass_id"}
    metrics = runner.invoke(cli, ["metrics"])
    assert metrics.exit_code == 0
    assert _samples(textfile.read_text()) == _samples(metrics.stdout)
    failing = runner.invoke(cli, ["cluster", "sweep", "--json"])
    assert failing.exit_code == 1 and json.loads(failing.stdout)["ok"] is False
    table = runner.invoke(cli, ["cluster", "sweep"])
    assert table.exit_code == 1 and "Pod/batch-tool" in table.stdout and "StatefulSet/db" in table.stdout
    assert "Deployment/web" not in table.stdout  # only what is not verified is listed
    assert "cluster dead: UNREACHABLE" in table.stderr and "NOT OK" in table.stderr


def test_sweep_cli_refuses_without_trusted_keys(world):
    (world.root / "config.toml").write_text('identity = "alice"\n')
    result = CliRunner().invoke(cli, ["cluster", "sweep", "--kubeconfig", str(world.kubeconfig)])
    assert result.exit_code == 2 and "no trusted keys" in result.stderr


def test_containers_without_a_usable_digest_are_errors_with_the_reason(world):
    world.kube.add(pod("pulling", "prod", [("c", world.image("signed"), "")], phase="Pending"))
    world.kube.add(pod("local", "prod", [("c", "my-local-build", f"docker://{world.digests['signed']}")]))
    world.kube.add(pod("odd", "prod", [("c", "UPPER/Case:1", f"docker-pullable://x@{world.digests['signed']}")]))
    ctx = world.context()
    report = run_sweep(ctx, Verifier.for_args(ctx), cluster_targets(ctx.config, context="prod-eu"),
                       namespaces=["prod"])
    by_workload = {f.workload: f for f in report.findings}
    assert by_workload["pulling"].result == "error" and "no registry digest" in by_workload["pulling"].reason
    assert by_workload["local"].result == "error" and by_workload["local"].digest is None
    assert by_workload["odd"].result == "error" and "not a valid image reference" in by_workload["odd"].reason
    assert not report.ok
