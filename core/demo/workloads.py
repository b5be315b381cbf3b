"""What runs in the demo: workloads in the demo cluster and Lambda functions, each running one demo image.

Add a row to WORKLOADS or FUNCTIONS to show more; the builder turns them into the objects the demo's
cluster file serves (namespaces, Deployments with their ReplicaSets and pods, the kubelet's imageID
naming the digest that runs) and the functions the demo's Lambda file answers with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from core.config.model import PolicyConfig
from core.crypto.public_keys import TrustedKey
from core.kube.file_api import store_key
from core.policy.generate import kyverno_cluster_policy
from core.registry.reference import parse_reference

KYVERNO_NAMESPACE = PolicyConfig().exception_namespace  # where approved bypasses put their PolicyExceptions
LAMBDA_REGION = "eu-west-1"
LAMBDA_ACCOUNT = "000000000000"


@dataclass(frozen=True)
class DemoWorkload:
    namespace: str
    name: str        # a Deployment
    image: str       # "repository:tag" of a demo image
    replicas: int = 1


@dataclass(frozen=True)
class DemoFunction:
    name: str
    image: str       # "repository:tag" of a demo image


WORKLOADS = (
    DemoWorkload("payments", "payments-api", "payments-api:v1.4.2", replicas=2),
    DemoWorkload("payments", "ledger", "ledger:v0.9.0"),  # unsigned: the pending bypass asks for it
    DemoWorkload("storefront", "checkout", "checkout:v2.0.0", replicas=2),
    DemoWorkload("storefront", "web-frontend", "web-frontend:v3.1.0"),  # tampered
    DemoWorkload("reporting", "settlement-report", "payments-api:v1.4.1"),
)

FUNCTIONS = (
    DemoFunction("payments-fn", "payments-api:v1.4.2"),
    DemoFunction("hotfix-worker", "hotfix-worker:v0.1.0-hotfix"),  # unsigned, under the active bypass
    DemoFunction("ledger-batch", "ledger:v0.9.0"),                  # unsigned, no bypass
    DemoFunction("report-fn", "payments-api:v1.4.1"),  # signed by release-a only; its vuln scan has a CRITICAL
)

# Admission policies in the demo cluster (what `signet what-if` changes): the cluster-wide rule is still in
# Audit (so --enforce shows what it would refuse); the reporting namespace already enforces (so dropping a
# key or requiring a clean vulnerability scan shows what it would refuse there). The cluster-wide one is
# generated and applied by the builder through `cluster policy generate --apply`'s services (so each key's
# `trusted_by` names it, as after a real apply); the namespaced one, a kind Signet does not apply, is
# in the cluster file from the start, as if someone had applied it with kubectl.
AUDIT_POLICY = "signet-verify-images"
ENFORCED_POLICY = "reporting-verify-images"
ENFORCED_NAMESPACE = "reporting"


def pinned(reference: str, digest: str) -> str:
    """`reference`'s repository at `digest` (what a kubelet's imageID or Lambda's ResolvedImageUri names)."""
    return str(parse_reference(reference, default_tag=None).with_tag(None).with_digest(digest))


def cluster_objects(references: dict[str, str], digests: dict[str, str], keys: Sequence[TrustedKey] = (),
                    image_glob: str = "*") -> dict[str, list[dict[str, Any]]]:
    """The demo cluster's objects, keyed as the cluster file stores them (with `keys`, the namespaced admission
    policy; the builder applies the cluster-wide one, AUDIT_POLICY, through the policy services)."""
    objects: dict[str, list[dict[str, Any]]] = {store_key("", "namespaces"): [], store_key("", "pods"): [],
                                                store_key("apps", "deployments"): [],
                                                store_key("apps", "replicasets"): []}
    if keys:
        enforced = kyverno_cluster_policy(keys, name=ENFORCED_POLICY, image_globs=[image_glob], mode="Enforce")
        enforced["kind"] = "Policy"
        enforced["metadata"]["namespace"] = ENFORCED_NAMESPACE
        objects[store_key("kyverno.io", "policies")] = [enforced]
    for namespace in sorted({w.namespace for w in WORKLOADS} | {KYVERNO_NAMESPACE}):
        labels = {"kubernetes.io/metadata.name": namespace}
        objects[store_key("", "namespaces")].append({"metadata": {"name": namespace, "labels": labels}})
    for i, w in enumerate(WORKLOADS):
        image = references[w.image]
        labels = {"app": w.name}
        template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": w.name, "image": image}]}}
        replicaset = f"{w.name}-{7000 + i:x}"
        objects[store_key("apps", "deployments")].append({
            "metadata": {"name": w.name, "namespace": w.namespace, "labels": labels},
            "spec": {"replicas": w.replicas, "selector": {"matchLabels": labels}, "template": template},
            "status": {"replicas": w.replicas, "readyReplicas": w.replicas}})
        objects[store_key("apps", "replicasets")].append({
            "metadata": {"name": replicaset, "namespace": w.namespace, "labels": labels,
                         "ownerReferences": [_owner("apps/v1", "Deployment", w.name)]},
            "spec": {"replicas": w.replicas, "selector": {"matchLabels": labels}, "template": template}})
        for replica in range(w.replicas):
            objects[store_key("", "pods")].append({
                "metadata": {"name": f"{replicaset}-{replica}", "namespace": w.namespace, "labels": labels,
                             "ownerReferences": [_owner("apps/v1", "ReplicaSet", replicaset)]},
                "spec": template["spec"],
                "status": {"phase": "Running", "containerStatuses": [{
                    "name": w.name, "image": image, "imageID": pinned(image, digests[w.image]), "ready": True}]}})
    return objects


def lambda_functions(references: dict[str, str], digests: dict[str, str]) -> list[dict[str, Any]]:
    """The demo's Lambda functions as its functions file stores them (deployed by tag, resolved to a digest)."""
    return [{"FunctionName": f.name, "Region": LAMBDA_REGION, "PackageType": "Image",
             "FunctionArn": f"arn:aws:lambda:{LAMBDA_REGION}:{LAMBDA_ACCOUNT}:function:{f.name}",
             "ImageUri": references[f.image], "ResolvedImageUri": pinned(references[f.image], digests[f.image]),
             "RevisionId": f"demo-{i}"} for i, f in enumerate(FUNCTIONS)]


def _owner(api_version: str, kind: str, name: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "controller": True}
