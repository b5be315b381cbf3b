"""Admission-policy drift and policy generate/apply, against the loopback Kubernetes API."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from core.clock import FixedClock
from core.clusters.inventory import ClusterTarget
from core.clusters.policies import image_validating_policy, kyverno_rules, read_policies, sigstore_policy
from core.context import open_context
from core.crypto.public_keys import load_public_key
from core.keys.inventory import insert_key, list_keys
from tests.support.cluster_world import START
from tests.support.kube_api import KubeApiServer, pod, write_kubeconfig
from tests.support.oci import new_key, public_pem
from tests.support.store import chain_status
from tui.cli.main import cli

D = "sha256:" + "d" * 64


@pytest.fixture
def setup(signet_home):
    (signet_home / "config.toml").write_text(
        'identity = "carol"\n\n[roles]\ncustodian = ["carol"]\noperator = ["olga"]\n')
    ctx = open_context(clock=FixedClock(START))
    keys = {}
    with ctx.store.write() as db:
        for name, state in (("active-2026", "active"), ("retiring-2025", "retiring"), ("retired-2024", "retired"),
                            ("revoked-2023", "revoked")):
            trusted = load_public_key(public_pem(new_key()), name=name)
            keys[name] = insert_key(ctx, db, key_id=f"key_{name}", name=name, trusted=trusted, location="public",
                                    location_ref=None, state=state)
    with KubeApiServer() as kube:
        kube.add(pod("web-1", "prod", [("app", "registry.example/team/web:1", f"registry.example/team/web@{D}")]))
        kube.add(pod("tool", "tools", [("t", "ghcr.io/other/tool:2", f"ghcr.io/other/tool@{D}")]))
        kubeconfig = write_kubeconfig(signet_home / "kubeconfig", {"prod-eu": kube.url})
        yield ctx, kube, kubeconfig, keys
    ctx.close()


def _kyverno(name: str, pems: list[bytes], *, count: int | None = 1, action: str = "Enforce",
             globs=("registry.example/*",), namespaces=None) -> dict:
    attestor: dict = {"entries": [{"keys": {"publicKeys": p.decode()}} for p in pems]}
    if count is not None:
        attestor["count"] = count
    rule = {"name": "verify", "match": {"any": [{"resources": {"kinds": ["Pod"],
                                                               **({"namespaces": namespaces} if namespaces else {})}}]},
            "verifyImages": [{"imageReferences": list(globs), "attestors": [attestor]}]}
    return {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": name},
            "spec": {"validationFailureAction": action, "rules": [rule]}}


def _issues(report) -> set[tuple[str, str]]:
    return {(i.kind, i.policy) for i in report.issues}


def test_no_policy_at_all_is_drift(setup):
    ctx, kube, kubeconfig, keys = setup
    (report,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    assert report.reachable and report.drifted and ("no-policy", "") in _issues(report)


def test_kyverno_policy_trusting_a_retired_key_and_missing_the_active_one(setup):
    ctx, kube, kubeconfig, keys = setup
    kube.add(_kyverno("old-keys", [keys["retired-2024"].public_pem.encode(),
                                   keys["retiring-2025"].public_pem.encode()], count=None, action="Audit"))
    (report,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    (policy,) = report.policies
    assert policy.mode == "audit" and policy.required is None and policy.image_globs == ("registry.example/*",)
    assert policy.fingerprints == {keys["retired-2024"].fingerprint, keys["retiring-2025"].fingerprint}
    label = "ClusterPolicy/old-keys#verify"
    assert {("retired-key", label), ("missing-active-key", label), ("all-keys-required", label),
            ("not-enforced", label)} <= _issues(report)
    # ghcr.io/other/tool in namespace tools matches no glob: both the namespace and the registry are uncovered.
    details = {i.kind: i.detail for i in report.issues if i.kind.startswith("uncovered")}
    assert "namespace tools" in details["uncovered-namespace"] and "ghcr.io" in details["uncovered-registry"]
    assert "prod" not in details["uncovered-namespace"]
    assert report.drifted


def test_sigstore_policy_keys_by_reference_and_namespace_opt_in(setup):
    ctx, kube, kubeconfig, keys = setup
    kube.add({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
              "metadata": {"name": "all"},
              "spec": {"images": [{"glob": "**"}], "mode": "warn", "authorities": [
                  {"name": "a", "key": {"data": keys["active-2026"].public_pem}},
                  {"name": "b", "key": {"secretRef": {"name": "cosign-pub"}}},
                  {"name": "c", "keyless": {"url": "https://fulcio.sigstore.dev"}}]}})
    (report,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    (policy,) = report.policies
    assert policy.engine == "sigstore" and policy.mode == "warn" and policy.keyless == 1
    assert [k.reference for k in policy.keys] == ["inline", "secret:cosign-pub"]
    kinds = {i.kind for i in report.issues}
    assert {"key-by-reference", "not-enforced", "uncovered-namespace"} <= kinds
    assert "missing-active-key" not in kinds and "uncovered-registry" not in kinds
    # policy-controller acts only in namespaces that opt in: label both and nothing is uncovered.
    for ns in ("prod", "tools"):
        kube.add({"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": ns, "labels": {"policy.sigstore.dev/include": "true"}}})
    (labelled,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    assert not {i.kind for i in labelled.issues} & {"uncovered-namespace", "uncovered-registry"}


def _ivp(name: str, attestors: list, *, actions=("Deny",), globs=("registry.example/*",), namespace="") -> dict:
    doc = {"apiVersion": "policies.kyverno.io/v1",
           "kind": "NamespacedImageValidatingPolicy" if namespace else "ImageValidatingPolicy",
           "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
           "spec": {"validationActions": list(actions), "matchImageReferences": [{"glob": g} for g in globs],
                    "attestors": attestors, "validationConfigurations": {"required": True},
                    "validations": [{"expression": "images.containers.map(image, verifyImageSignatures("
                                                   "image, [attestors.release])).all(e, e > 0)"}]}}
    return doc


def test_kyverno_image_validating_policies_are_read_and_checked_for_drift(setup):
    """Kyverno 1.14+ CEL policies: without reading them a cluster enforcing with them looked unprotected."""
    ctx, kube, kubeconfig, keys = setup
    kube.add(_ivp("release", [{"name": "release", "cosign": {"key": {"data": keys["active-2026"].public_pem}}},
                              {"name": "old", "cosign": {"key": {"data": keys["revoked-2023"].public_pem}}},
                              {"name": "ci",
                               "cosign": {"keyless": {"identities": [{"subject": "x", "issuer": "y"}]}}}]))
    kube.add(_ivp("tools-audit", [{"name": "kms", "cosign": {"key": {"kms": "awskms:///alias/tools"}}}],
                  actions=("Audit",), globs=("ghcr.io/other/*",), namespace="tools"))
    (report,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    by_kind = {p.kind: p for p in report.policies}
    cluster_wide, namespaced = by_kind["ImageValidatingPolicy"], by_kind["NamespacedImageValidatingPolicy"]
    assert cluster_wide.engine == "kyverno" and cluster_wide.mode == "enforce" and cluster_wide.required == 1
    assert cluster_wide.fingerprints == {keys["active-2026"].fingerprint, keys["revoked-2023"].fingerprint}
    assert cluster_wide.keyless == 1 and cluster_wide.image_globs == ("registry.example/*",)
    assert namespaced.namespace == "tools" and namespaced.namespaces == ("tools",) and namespaced.mode == "audit"
    assert [k.reference for k in namespaced.keys] == ["awskms:///alias/tools"]
    issues = _issues(report)
    assert ("no-policy", "") not in issues
    assert ("revoked-key", "ImageValidatingPolicy/release") in issues
    assert ("missing-active-key", "ImageValidatingPolicy/release") not in issues
    assert {("key-by-reference", "NamespacedImageValidatingPolicy/tools/tools-audit"),
            ("not-enforced", "NamespacedImageValidatingPolicy/tools/tools-audit")} <= issues
    # both running images are now matched by a glob in their namespace: nothing uncovered
    assert not {k for k, _ in issues} & {"uncovered-namespace", "uncovered-registry"}


def test_image_validating_policy_matched_only_by_cel_is_not_assumed_to_cover():
    policy = image_validating_policy({"kind": "ImageValidatingPolicy", "metadata": {"name": "cel"},
                                      "spec": {"validationActions": ["Deny"],
                                               "matchImageReferences": [{"expression": "image.registry == 'x'"}],
                                               "attestors": [{"name": "a", "notary": {"certs": {"value": "..."}}}]}})
    assert policy.image_globs == () and not policy.covers_image("registry.example/team/web:1")
    assert policy.keys == () and policy.keyless == 1 and policy.mode == "enforce"


def test_policy_parsers_follow_each_engine_globs_and_namespaces():
    pem = public_pem(new_key())
    (rule,) = kyverno_rules(_kyverno("p", [pem], globs=("registry.example/*",), namespaces=["prod-*"]))
    assert rule.covers_image("registry.example/team/web:1")  # Kyverno's * crosses '/'
    assert rule.acts_in("prod-eu", {}) and not rule.acts_in("dev", {})
    cip = sigstore_policy({"kind": "ClusterImagePolicy", "metadata": {"name": "c"}, "spec": {
        "images": [{"glob": "registry.example/*"}, {"glob": "index.docker.io/library/**"}],
        "authorities": [{"key": {"data": pem.decode()}}]}})
    assert not cip.covers_image("registry.example/team/web:1")  # policy-controller's * stays in one segment
    assert cip.covers_image("registry.example/web:1") and cip.covers_image("nginx:1.25")
    broken = kyverno_rules(_kyverno("p", [b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]))
    assert broken[0].keys[0].error


def test_generate_writes_trusted_keys_and_apply_is_audited_for_custodians(setup, monkeypatch, tmp_path):
    ctx, kube, kubeconfig, keys = setup
    out = tmp_path / "policy.yaml"
    runner = CliRunner()
    args = ["cluster", "policy", "generate", "--out", str(out), "--image-glob", "*", "--apply",
            "--context", "prod-eu", "--kubeconfig", str(kubeconfig), "--json"]
    monkeypatch.setenv("SIGNET_IDENTITY", "olga")  # an operator, not a custodian
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 2 and "custodian" in refused.stderr
    assert kube.get("kyverno.io", "v1", "clusterpolicies", "", "signet-verify-images") is None
    monkeypatch.setenv("SIGNET_IDENTITY", "carol")
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    applied = json.loads(result.stdout)["applied"]
    expected = {keys[n].fingerprint for n in ("active-2026", "retiring-2025")}
    assert set(applied["fingerprints"]) == expected  # retired and revoked keys are left out
    doc = yaml.safe_load(out.read_text())
    assert doc["kind"] == "ClusterPolicy" and doc["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["count"] == 1
    stored = kube.get("kyverno.io", "v1", "clusterpolicies", "", "signet-verify-images")
    assert [f["manager"] for f in stored["metadata"]["managedFields"]] == ["signet"]
    fresh = open_context()
    audit = fresh.store.query("SELECT action, subject, details FROM audit WHERE action = 'cluster.policy.apply'")
    assert [(a["subject"], json.loads(a["details"])["outcome"]) for a in audit] == [
        ("prod-eu:ClusterPolicy/signet-verify-images", "applied")]
    assert chain_status(fresh.store).intact
    trusted_by = {k.name: k.trusted_by for k in list_keys(fresh)}
    assert trusted_by["active-2026"] == ("prod-eu:ClusterPolicy/signet-verify-images",)
    assert trusted_by["retired-2024"] == ()
    # With the generated policy in place the key drift is gone.
    (report,) = read_policies(fresh.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(fresh))
    assert not {i.kind for i in report.issues} & {"missing-active-key", "retired-key", "no-policy",
                                                   "uncovered-namespace"}
    shown = runner.invoke(cli, ["cluster", "policy", "show", "--kubeconfig", str(kubeconfig), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)[0]["policies"][0]["mode"] == "enforce"
    fresh.close()
