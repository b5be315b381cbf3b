"""The what-if against a loopback Kubernetes API read by the real client and images in a real
docker-registry: a Kyverno ClusterPolicy file (Enforce, the trusted key) predicts exactly the digests that
are refused once it is really applied (server-side apply) and a sweep checks them with its key; dropping
the only trusted key denies everything it signed; the CLI's exit code is what CI keys on."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.clusters.inventory import ClusterTarget, cluster_targets
from core.clusters.policy_apply import apply_policy
from core.clusters.sweep import run_sweep
from core.crypto.public_keys import load_public_key
from core.policy.generate import kyverno_cluster_policy, sigstore_cluster_image_policy, to_yaml
from core.verify.policy import TrustArgs
from core.verify.verifier import Verifier
from core.whatif.change import key_change, policy_file_change
from core.whatif.service import what_if
from tests.support.cluster_world import build_world
from tests.support.kube_api import KubeApiServer, write_kubeconfig
from tui.cli.main import cli


@pytest.fixture
def world(signet_home, registry):
    with KubeApiServer() as kube:
        yield build_world(signet_home, registry.url, kube)


def _policy_file(world, tmp_path):
    key = load_public_key(world.key_path.read_bytes())
    doc = kyverno_cluster_policy([key], name="verify-prod", image_globs=[f"{world.host}/*"], mode="Enforce")
    path = tmp_path / "verify-prod.yaml"
    path.write_text(to_yaml([doc]))
    return path, doc


def test_a_policy_file_predicts_what_the_applied_policy_and_a_sweep_refuse(world, tmp_path):
    path, doc = _policy_file(world, tmp_path)
    ctx = world.context()
    targets = cluster_targets(ctx.config)
    report = what_if(ctx, [policy_file_change(str(path))], targets=targets)
    assert not report.problems
    predicted = {o.workload.digest for o in report.newly_denied}
    assert predicted == {world.digests["unsigned"], world.digests["forged"]}
    assert all(o.fixes and o.fixes[0].kind == "narrow-scope" for o in report.newly_denied)
    assert {o.workload.name for o in report.outcomes if o.status == "allowed"} >= {"web"}

    apply_policy(ctx, targets[0], doc)  # for real: the loopback API now holds the Enforce policy
    stored = world.kube.get("kyverno.io", "v1", "clusterpolicies", "", "verify-prod")
    assert stored["spec"]["rules"][0]["verifyImages"][0]["failureAction"] == "Enforce"
    sweep = run_sweep(ctx, Verifier.for_args(ctx, TrustArgs(keys=(str(world.key_path),))), targets)
    refused = {f.digest for f in sweep.findings if f.result not in ("verified", "bypassed")}
    assert refused == predicted
    # and judged again with the policy in the cluster, the same digests are denied already
    again = what_if(ctx, [key_change(ctx, "add-key", str(world.key_path))], targets=targets)
    assert {o.workload.digest for o in again.outcomes if not o.before.allowed} == predicted


def test_dropping_the_only_key_denies_every_signed_workload_and_the_cli_exits_1(world, tmp_path):
    path, doc = _policy_file(world, tmp_path)
    ctx = world.context()
    apply_policy(ctx, cluster_targets(ctx.config)[0], doc)
    result = CliRunner().invoke(cli, ["what-if", "--drop-key", str(world.key_path), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    newly = {w["digest"] for w in report["workloads"] if w["status"] == "newly-denied"}
    assert newly == {world.digests["signed"]}
    assert {w["status"] for w in report["workloads"] if w["digest"] != world.digests["signed"]} == {"denied"}
    assert report["clusters"][0]["cluster"] == "prod-eu"
    same = CliRunner().invoke(cli, ["what-if", "--add-key", str(world.key_path)])
    assert same.exit_code == 0, same.output


def test_image_validating_and_cluster_image_policy_files_follow_each_engines_scope(world, tmp_path):
    ctx = world.context()
    targets = cluster_targets(ctx.config)
    key = load_public_key(world.key_path.read_bytes())
    ivp = tmp_path / "ivp.yaml"
    ivp.write_text(to_yaml([{"apiVersion": "policies.kyverno.io/v1", "kind": "ImageValidatingPolicy",
                             "metadata": {"name": "release"},
                             "spec": {"validationActions": ["Deny"],
                                      "matchImageReferences": [{"glob": f"{world.host}/*"}],
                                      "attestors": [{"name": "release",
                                                     "cosign": {"key": {"data": key.pem().decode()}}}]}}]))
    denied = {o.workload.digest for o in what_if(ctx, [policy_file_change(str(ivp))], targets=targets).newly_denied}
    assert denied == {world.digests["unsigned"], world.digests["forged"]}

    cip = tmp_path / "cip.yaml"
    cip.write_text(to_yaml([sigstore_cluster_image_policy([key], name="release", image_globs=[f"{world.host}/**"])]))
    # policy-controller acts only in namespaces that opt in: none has, so nothing would be refused
    assert not what_if(ctx, [policy_file_change(str(cip))], targets=targets).newly_denied
    world.kube.add({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "prod", "labels": {"policy.sigstore.dev/include": "true"}}})
    opted_in = what_if(ctx, [policy_file_change(str(cip))], targets=targets)
    assert {o.workload.digest for o in opted_in.newly_denied} == denied


def test_an_unreachable_cluster_is_one_problem_and_the_reachable_one_is_still_judged(world, tmp_path):
    # Inventory and policies of each cluster are read concurrently: a cluster whose inventory cannot be
    # read is reported once, as unreachable (its policy read failing too adds nothing), never hidden.
    down = KubeApiServer().start()
    down.stop()
    kubeconfig = write_kubeconfig(tmp_path / "down.kubeconfig", {"down": down.url})
    ctx = world.context()
    targets = [*cluster_targets(ctx.config), ClusterTarget("down", str(kubeconfig))]
    report = what_if(ctx, [key_change(ctx, "drop-key", str(world.key_path))], targets=targets)
    assert len(report.problems) == 1 and report.problems[0].startswith("cluster down: ")
    assert "unreachable" in report.problems[0] and "policies not readable" not in report.problems[0]
    assert {o.workload.cluster for o in report.outcomes} == {targets[0].context}
    assert "web" in {o.workload.name for o in report.outcomes}
