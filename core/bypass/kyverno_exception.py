"""The Kyverno PolicyException (kyverno.io/v2) that carries a cluster-scope bypass into the cluster.

Shape from keys-bypass-anchors.md §3.2 A. `kyverno.io/v2` has no expiry field, so the object is
labelled `cleanup.kyverno.io/ttl` with the absolute end time (Kyverno's cleanup controller deletes
it), and Signet also deletes it on revoke and expiry (reaper): expiry never rests on one mechanism.

Kyverno's match cannot name an image digest, so the exception covers the namespace (or the workload
and the objects it owns); Signet's own checks stay digest-exact (`active_bypass_for`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from core.bypass.model import Bypass, ScopeKind
from core.clock import iso
from core.config.model import PolicyConfig

GROUP = "kyverno.io"
VERSION = "v2"
PLURAL = "policyexceptions"
KIND = "PolicyException"

DOMAIN = "signet.dev"
TTL_LABEL = "cleanup.kyverno.io/ttl"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "signet"
BYPASS_ID_LABEL = f"{DOMAIN}/bypass-id"
MAX_ANNOTATION = 4000  # one justification must not approach the 256 KiB annotation budget

# Kinds whose admission carries the pod template, so the verify-images rule (and its autogen
# variants) fire on them.
MATCHED_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")


def exception_name(bypass_id: str) -> str:
    """Deterministic from the bypass id, so a retry finds the object it made."""
    return f"signet-{bypass_id}"


def ttl_label_value(ends_at: datetime) -> str:
    """Kyverno's absolute TTL layout 2006-01-02T150405Z; seconds are floored so cleanup is never late."""
    return ends_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")


def rule_names(rule: str) -> list[str]:
    """The rule and the names Kyverno's auto-generation gives it for controllers and CronJobs."""
    return [rule, f"autogen-{rule}", f"autogen-cronjob-{rule}"]


def policy_exception(bypass: Bypass, policy: PolicyConfig) -> dict[str, Any]:
    """The PolicyException document for a granted cluster-scope bypass."""
    scope = bypass.scope
    if scope.kind is not ScopeKind.CLUSTER or bypass.ends_at is None or not scope.namespace:
        raise ValueError("only a granted cluster-scope bypass has a PolicyException")
    resources: dict[str, Any] = {"kinds": list(MATCHED_KINDS), "namespaces": [scope.namespace]}
    if scope.workload:
        # The workload itself and what its controllers create (ReplicaSet web-7d9f, Pod web-7d9f-x2k1).
        resources["names"] = [scope.workload, f"{scope.workload}-*"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": exception_name(bypass.id),
            "namespace": policy.exception_namespace,
            "labels": {
                TTL_LABEL: ttl_label_value(bypass.ends_at),
                MANAGED_BY_LABEL: MANAGED_BY,
                BYPASS_ID_LABEL: bypass.id,
            },
            "annotations": {
                f"{DOMAIN}/bypass-id": bypass.id,
                f"{DOMAIN}/requested-by": bypass.requester,
                f"{DOMAIN}/approved-by": ",".join(bypass.approvers),
                f"{DOMAIN}/reason": bypass.justification[:MAX_ANNOTATION],
                f"{DOMAIN}/ticket": bypass.ticket,
                f"{DOMAIN}/digest": bypass.digest,
                f"{DOMAIN}/expires-at": iso(bypass.ends_at),
            },
        },
        "spec": {
            # PolicyReports then show "skip" while the bypass lasts and "fail" once it is gone.
            "background": True,
            "exceptions": [{"policyName": policy.verify_images_policy,
                            "ruleNames": rule_names(policy.verify_images_rule)}],
            "match": {"any": [{"resources": resources}]},
        },
    }
