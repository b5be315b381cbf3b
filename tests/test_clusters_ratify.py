"""OPA Gatekeeper + Ratify in policy drift, against the loopback Kubernetes API with the real client.

Resource shapes follow Ratify's library template (library/default/template.yaml) and config samples
(config/samples: Verifier cosign/notation, inline KeyManagementProvider, v1beta1 CertificateStore)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from core.clusters.inventory import ClusterTarget
from core.clusters.policies import read_policies
from core.keys.inventory import list_keys
from tests.test_clusters_policies import _issues, setup  # noqa: F401  (the shared cluster fixture)

FIXTURES = Path(__file__).parent / "fixtures" / "notation"
RATIFY_REGO = """package ratifyverification
remote_data := response {
  images := [img | img = input.review.object.spec.containers[_].image]
  response := external_data({"provider": "ratify-provider", "keys": images})
}
violation[{"msg": msg}] { general_violation[{"result": msg}] }
"""


def template(kind: str = "RatifyVerification", rego: str = RATIFY_REGO) -> dict:
    return {"apiVersion": "templates.gatekeeper.sh/v1beta1", "kind": "ConstraintTemplate",
            "metadata": {"name": kind.lower()},
            "spec": {"crd": {"spec": {"names": {"kind": kind}}},
                     "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}]}}


def constraint(name: str, action: str = "deny", namespaces=None, excluded=None) -> dict:
    match: dict = {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}
    if namespaces:
        match["namespaces"] = namespaces
    if excluded:
        match["excludedNamespaces"] = excluded
    return {"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "RatifyVerification",
            "metadata": {"name": name}, "spec": {"enforcementAction": action, "match": match}}


def inline_kmp(name: str, content_type: str, value: str) -> dict:
    return {"apiVersion": "config.ratify.deislabs.io/v1beta1", "kind": "KeyManagementProvider",
            "metadata": {"name": name}, "spec": {"type": "inline",
                                                  "parameters": {"contentType": content_type, "value": value}}}


def cosign_verifier(provider: str, scopes=("registry.example/*",)) -> dict:
    return {"apiVersion": "config.ratify.deislabs.io/v1beta1", "kind": "Verifier", "metadata": {"name": "cosign"},
            "spec": {"name": "cosign", "artifactTypes": "application/vnd.dev.cosign.artifact.sig.v1+json",
                     "parameters": {"trustPolicies": [{"name": "default", "scopes": list(scopes),
                                                       "keys": [{"provider": provider}], "tLogVerify": False}]}}}


def notation_verifier(stores: dict, scopes=("*",)) -> dict:
    return {"apiVersion": "config.ratify.deislabs.io/v1beta1", "kind": "Verifier", "metadata": {"name": "notation"},
            "spec": {"name": "notation", "artifactTypes": "application/vnd.cncf.notary.signature",
                     "parameters": {"verificationCertStores": stores, "trustPolicyDoc": {
                         "version": "1.0", "trustPolicies": [{
                             "name": "default", "registryScopes": list(scopes),
                             "signatureVerification": {"level": "strict"},
                             "trustStores": ["ca:certs"], "trustedIdentities": ["*"]}]}}}}


E2E_PEM = (FIXTURES / "trust" / "localkeys" / "e2e.crt").read_text()
E2E_SHA = hashlib.sha256(x509.load_pem_x509_certificate(E2E_PEM.encode()).public_bytes(Encoding.DER)).hexdigest()


def test_ratify_constraint_with_cosign_and_notation_verifiers_is_read(setup):  # noqa: F811
    ctx, kube, kubeconfig, keys = setup
    kube.add(template())
    kube.add(constraint("ratify-constraint", namespaces=["prod", "tools"], excluded=["kube-*"]))
    kube.add(inline_kmp("cosign-key", "key", keys["active-2026"].public_pem))
    kube.add(inline_kmp("notation-ca", "certificate", E2E_PEM))
    kube.add(cosign_verifier("cosign-key", scopes=("registry.example/*", "ghcr.io/other/*")))
    kube.add(notation_verifier({"ca": {"certs": ["notation-ca"]}}))
    (report,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    (policy,) = [p for p in report.policies if p.engine == "ratify"]
    assert policy.kind == "RatifyVerification" and policy.name == "ratify-constraint" and policy.mode == "enforce"
    assert policy.namespaces == ("prod", "tools") and policy.excluded == ("kube-*",)
    assert policy.fingerprints == {keys["active-2026"].fingerprint}
    assert policy.certificates == (E2E_SHA,)
    assert policy.acts_in("prod", {}) and not policy.acts_in("kube-system", {})
    issues = _issues(report)
    assert ("no-policy", "") not in issues
    assert ("missing-active-key", "RatifyVerification/ratify-constraint") not in issues
    assert not {k for k, _ in issues} & {"uncovered-namespace", "uncovered-registry"}


def test_dryrun_constraint_is_not_enforced_and_a_retired_key_is_drift(setup):  # noqa: F811
    ctx, kube, kubeconfig, keys = setup
    kube.add(template())
    kube.add(constraint("audit-only", action="dryrun"))
    kube.add(inline_kmp("old-key", "key", keys["retired-2024"].public_pem))
    kube.add(cosign_verifier("old-key", scopes=("*",)))
    (report,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    issues = _issues(report)
    label = "RatifyVerification/audit-only"
    assert {("not-enforced", label), ("retired-key", label), ("missing-active-key", label)} <= issues
    assert report.drifted


def test_key_vault_provider_is_a_key_by_reference_and_legacy_certificate_store_is_read(setup):  # noqa: F811
    ctx, kube, kubeconfig, keys = setup
    kube.add(template())
    kube.add(constraint("ratify"))
    kube.add({"apiVersion": "config.ratify.deislabs.io/v1beta1", "kind": "KeyManagementProvider",
              "metadata": {"name": "akv"}, "spec": {"type": "azurekeyvault", "parameters": {"vaultURI": "x"}}})
    kube.add({"apiVersion": "config.ratify.deislabs.io/v1beta1", "kind": "CertificateStore",
              "metadata": {"name": "certstore-inline"},
              "spec": {"provider": "inline", "parameters": {"value": E2E_PEM}}})
    kube.add(cosign_verifier("akv", scopes=("*",)))
    kube.add(notation_verifier({"certs": ["certstore-inline"]}))
    (report,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    (policy,) = [p for p in report.policies if p.engine == "ratify"]
    assert [k.reference for k in policy.keys] == ["azurekeyvault:akv"] and policy.certificates == (E2E_SHA,)
    assert ("key-by-reference", "RatifyVerification/ratify") in _issues(report)


def test_other_gatekeeper_templates_are_not_ratify_and_constraints_without_verifiers_are_drift(setup):  # noqa: F811
    ctx, kube, kubeconfig, keys = setup
    kube.add(template(kind="K8sRequiredLabels", rego="package k8srequiredlabels\nviolation[{\"msg\": \"x\"}] { true }"))
    (report,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    assert not [p for p in report.policies if p.engine == "ratify"] and ("no-policy", "") in _issues(report)
    kube.add(template())
    kube.add(constraint("ratify"))
    (report,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    assert ("ratify-no-verifier", "") in _issues(report)


@pytest.mark.parametrize("action,mode", [("deny", "enforce"), ("warn", "warn"), ("dryrun", "audit")])
def test_enforcement_actions_map_to_modes(setup, action, mode):  # noqa: F811
    ctx, kube, kubeconfig, keys = setup
    kube.add(template())
    kube.add(constraint("c", action=action))
    kube.add(inline_kmp("k", "key", keys["active-2026"].public_pem))
    kube.add(cosign_verifier("k", scopes=("*",)))
    (report,) = read_policies(ctx.config, [ClusterTarget("prod-eu", str(kubeconfig))], list_keys(ctx))
    (policy,) = [p for p in report.policies if p.engine == "ratify"]
    assert policy.mode == mode
