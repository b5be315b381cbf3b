"""Generate the admission policy for the keys Signet trusts, and apply it to a cluster.

"Trusted" is the key inventory's definition (active, retiring and staged keys): during a rotation
the retiring key must stay in the policy until every running digest is re-signed, and a staged key
is published before it signs (keys-bypass-anchors.md §1.3 steps 3 and 7). Retired and revoked keys
are never included.

Applying changes what a cluster admits, which is a trust decision about keys, so it needs the
custodian role (the same people who rotate and retire keys). It uses server-side apply with field
manager `signet` and `force` (Signet owns the object it generated). The cluster call cannot share
the store's transaction: the outcome, success or failure, is audited right after it, and the
applied policies are recorded in each key's `trusted_by`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

from core.clusters.inventory import ClusterTarget
from core.kube.api import resource_path
from core.kube.connect import open_kube_api
from core.context import SignetContext
from core.errors import InputError, SignetError
from core.identity import Role
from core.keys.inventory import set_trusted_by, trusted_keys
from core.policy.generate import kyverno_cluster_policy, policy_key_fingerprints, sigstore_cluster_image_policy

ENGINES = ("kyverno", "sigstore")
FIELD_MANAGER = "signet"
_PATHS = {"ClusterPolicy": ("kyverno.io", "v1", "clusterpolicies"),
          "ClusterImagePolicy": ("policy.sigstore.dev", "v1beta1", "clusterimagepolicies")}


@dataclass(frozen=True)
class AppliedPolicy:
    context: str
    kind: str
    name: str
    resource_version: str
    generation: int
    fingerprints: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"context": self.context, "kind": self.kind, "name": self.name,
                "resource_version": self.resource_version, "generation": self.generation,
                "fingerprints": list(self.fingerprints)}


def generate_policy(ctx: SignetContext, *, engine: str, image_globs: Sequence[str], name: str = "",
                    mode: str = "Enforce") -> dict[str, Any]:
    keys = trusted_keys(ctx)
    if not keys:
        raise InputError("no active, retiring or staged keys in the key inventory: nothing to trust")
    name = name or ctx.config.policy.verify_images_policy
    if engine == "kyverno":
        return kyverno_cluster_policy(keys, name=name, image_globs=image_globs, mode=mode,
                                      rule_name=ctx.config.policy.verify_images_rule)
    if engine == "sigstore":
        return sigstore_cluster_image_policy(keys, name=name, image_globs=image_globs, mode=mode)
    raise InputError(f"engine must be one of {', '.join(ENGINES)}")


def apply_policy(ctx: SignetContext, target: ClusterTarget, doc: dict[str, Any]) -> AppliedPolicy:
    """Server-side apply `doc` to the cluster; audited whether it worked or not."""
    ctx.require_write(Role.CUSTODIAN, action="applying an admission policy to a cluster")
    kind, name = doc.get("kind", ""), (doc.get("metadata") or {}).get("name", "")
    if kind not in _PATHS or not name:
        raise InputError(f"cannot apply a {kind or 'document without kind'}: only generated ClusterPolicy and "
                         "ClusterImagePolicy documents")
    group, version, plural = _PATHS[kind]
    fingerprints = tuple(sorted(policy_key_fingerprints(doc)))
    subject = f"{target.context}:{kind}/{name}"
    details = {"fingerprints": list(fingerprints), "field_manager": FIELD_MANAGER,
               "document_sha256": hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()}
    timeout = (ctx.config.limits.connect_timeout, ctx.config.limits.read_timeout)
    try:
        with open_kube_api(target.context, target.kubeconfig, timeout=timeout) as api:
            stored = api.patch(resource_path(group, version, plural, name=name), doc, kind="apply",
                               field_manager=FIELD_MANAGER, force=True)
    except SignetError as exc:
        with ctx.store.write():
            ctx.audit("cluster.policy.apply", subject, {**details, "outcome": "failed", "error": str(exc)[:500]})
        raise
    meta = stored.get("metadata") or {}
    applied = AppliedPolicy(context=target.context, kind=kind, name=name,
                            resource_version=str(meta.get("resourceVersion", "")),
                            generation=int(meta.get("generation") or 0), fingerprints=fingerprints)
    with ctx.store.write() as db:
        for row in list(db.query("SELECT id, fingerprint, trusted_by FROM keys")):
            verifiers = set(json.loads(row["trusted_by"] or "[]"))
            updated = (verifiers | {subject}) if row["fingerprint"] in fingerprints else (verifiers - {subject})
            if updated != verifiers:
                set_trusted_by(db, row["id"], sorted(updated))
        ctx.audit("cluster.policy.apply", subject, {**details, "outcome": "applied",
                                                    "resource_version": applied.resource_version,
                                                    "generation": applied.generation})
    return applied
