"""Make a what-if's policy changes real: server-side apply through core/clusters/policy_apply.py (custodian
role, audited there whether it worked or not). Only cluster-scoped ClusterPolicy / ClusterImagePolicy
documents can be applied (what `apply_policy` accepts); an `enforce` change reads the policy as the cluster
has it and applies it with every rule's failure action (or the CIP's mode) set to Enforce. Key,
`[trust]` and notation trust policy changes are not cluster objects: they are refused here (rotation and
`key rotate config` make them; a notation trust policy is `[trust] notation_config`).
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

from core.clusters.inventory import ClusterTarget
from core.kube.api import resource_path
from core.kube.connect import open_kube_api
from core.clusters.policy_apply import AppliedPolicy, apply_policy
from core.context import SignetContext
from core.errors import ClusterRefused, InputError
from core.identity import Role
from core.whatif.change import Change

_APPLIED_FIELDS = ("apiVersion", "kind", "metadata", "spec")
_PATHS = {"ClusterPolicy": ("kyverno.io", "v1", "clusterpolicies"),
          "ClusterImagePolicy": ("policy.sigstore.dev", "v1beta1", "clusterimagepolicies")}


def applicable(change: Change) -> str:
    """Why `change` cannot be applied from Signet ("" when it can)."""
    if change.kind == "policy":
        kinds = {d.get("kind") for d in change.documents}
        return "" if kinds <= set(_PATHS) else f"only {' and '.join(_PATHS)} documents can be applied"
    if change.kind == "enforce":
        return ""
    if change.kind == "notation":
        return "a notation trust policy is not a cluster object (set [trust] notation_config)"
    return f"a {change.kind} change is not a cluster object (make it with key rotation or `key rotate config`)"


def apply_to_clusters(ctx: SignetContext, changes: Sequence[Change], targets: Sequence[ClusterTarget]
                      ) -> list[AppliedPolicy]:
    ctx.require_write(Role.CUSTODIAN, action="applying an admission policy to a cluster")
    refused = [f"{c.label}: {applicable(c)}" for c in changes if applicable(c)]
    if refused:
        raise InputError("; ".join(refused))
    applied: list[AppliedPolicy] = []
    for target in targets:
        for change in changes:
            documents = change.documents if change.kind == "policy" else _enforced(ctx, target, change.policy_name)
            applied += [apply_policy(ctx, target, {k: doc[k] for k in _APPLIED_FIELDS if k in doc})
                        for doc in documents]
    return applied


def _enforced(ctx: SignetContext, target: ClusterTarget, name: str) -> list[dict[str, Any]]:
    """The named cluster-scoped policy as this cluster has it, in Enforce ([] when it has none by that name)."""
    kind, _, plain = name.rpartition("/")
    timeout = (ctx.config.limits.connect_timeout, ctx.config.limits.read_timeout)
    found = []
    with open_kube_api(target.context, target.kubeconfig, timeout=timeout) as api:
        for candidate, (group, version, plural) in _PATHS.items():
            if kind and kind != candidate:
                continue
            try:
                found.append(api.get(resource_path(group, version, plural, name=plain)))
            except ClusterRefused as exc:
                if exc.status != 404:  # not there is fine (this cluster has no such policy); refused is not
                    raise
    return [_set_enforce(copy.deepcopy(doc)) for doc in found]


def _set_enforce(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc.setdefault("spec", {})
    if doc.get("kind") == "ClusterImagePolicy":
        spec["mode"] = "enforce"
        return doc
    spec.pop("validationFailureAction", None)
    for rule in spec.get("rules") or []:
        for verify in rule.get("verifyImages") or []:
            verify["failureAction"] = "Enforce"
    return doc
