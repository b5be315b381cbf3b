"""Publish the current trust set to verifiers as policy files (and, through a hook, to clusters).

The files are rewritten from the inventory each time (idempotent): every key in a trusted state
(staged, active, retiring) is in them, retired and revoked keys are not. Applying them to a cluster
is the job of a `PublishHook` (team CLUSTERS' `cluster policy apply`); a failing hook fails the step,
which can then be resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from core.clusters.inventory import cluster_targets
from core.clusters.policy_apply import apply_policy
from core.context import SignetContext
from core.errors import InputError, StoreError
from core.keys.inventory import TRUSTED_STATES, list_keys, set_trusted_by
from core.policy.files import write_policy_file
from core.policy.generate import kyverno_cluster_policy, sigstore_cluster_image_policy
from core.store.session import StoreSession

DEFAULT_IMAGE_GLOBS = ("**",)
KYVERNO_FILE = "kyverno-clusterpolicy.yaml"
SIGSTORE_FILE = "sigstore-clusterimagepolicy.yaml"

# Receives the generated policy documents after the files are written (e.g. to apply them).
PublishHook = Callable[[Sequence[dict[str, Any]]], None]


@dataclass(frozen=True)
class PublishedPolicies:
    directory: str
    files: tuple[str, ...]
    fingerprints: tuple[str, ...]
    verifiers: tuple[str, ...]
    documents: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"directory": self.directory, "files": list(self.files), "fingerprints": list(self.fingerprints),
                "verifiers": list(self.verifiers)}


def cluster_apply_hook(ctx: SignetContext, contexts: Sequence[str], *, kubeconfig: str | None = None,
                       kinds: Sequence[str] = ("ClusterPolicy", "ClusterImagePolicy")) -> PublishHook:
    """A hook that server-side applies the chosen policy kinds to each named cluster context, through
    team CLUSTERS' `apply_policy` (custodian role, audited per cluster, `trusted_by` updated)."""
    targets = [target for name in contexts for target in cluster_targets(ctx.config, context=name,
                                                                        kubeconfig=kubeconfig)]
    if not targets:
        raise InputError("name at least one cluster context to apply the policies to")

    def apply(docs: Sequence[dict[str, Any]]) -> None:
        for target in targets:
            for doc in docs:
                if doc.get("kind") in kinds:
                    apply_policy(ctx, target, doc)

    return apply


def file_verifiers(ctx: SignetContext) -> tuple[str, ...]:
    """How the policy files appear in a key's `trusted_by` (cluster copies are `<context>:` + this)."""
    name = ctx.config.policy.verify_images_policy
    return (f"ClusterPolicy/{name}", f"ClusterImagePolicy/{name}")


def default_policy_dir(ctx: SignetContext) -> Path:
    return ctx.paths.db.parent / "policies"


def policy_documents(ctx: SignetContext, image_globs: Sequence[str] = DEFAULT_IMAGE_GLOBS) -> list[dict[str, Any]]:
    keys = [record.trusted_key() for record in list_keys(ctx, states=TRUSTED_STATES)]
    if not keys:
        raise InputError("no key is in a trusted state; nothing to publish")
    name = ctx.config.policy.verify_images_policy
    return [kyverno_cluster_policy(keys, name=name, image_globs=image_globs,
                                   rule_name=ctx.config.policy.verify_images_rule),
            sigstore_cluster_image_policy(keys, name=name, image_globs=image_globs)]


def publish_policies(ctx: SignetContext, db: StoreSession, *, directory: Path, source: str,
                     image_globs: Sequence[str] = DEFAULT_IMAGE_GLOBS) -> PublishedPolicies:
    """Write both policy files for the current trust set (recorded as written by `source`) and update
    each key's `trusted_by`.

    Call inside the caller's `ctx.store.write()` so the inventory change commits with its audit entry;
    run any `PublishHook` on `.documents` after that transaction (it may be slow: a cluster call).
    """
    docs = policy_documents(ctx, image_globs)
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot write policy files in {directory}: {exc.strerror or exc}") from None
    paths = [write_policy_file(ctx, db, directory / filename, [doc], source=source)
             for filename, doc in ((KYVERNO_FILE, docs[0]), (SIGSTORE_FILE, docs[1]))]
    verifiers = file_verifiers(ctx)
    records = list_keys(ctx)
    for record in records:
        # Only the file entries are ours; entries for clusters (added when applied) stay until re-applied.
        current = set(record.trusted_by)
        updated = current | set(verifiers) if record.state in TRUSTED_STATES else current - set(verifiers)
        if updated != current:
            set_trusted_by(db, record.id, sorted(updated))
    return PublishedPolicies(directory=str(directory.resolve()), files=tuple(paths),
                             fingerprints=tuple(sorted(r.fingerprint for r in records if r.state in TRUSTED_STATES)),
                             verifiers=verifiers, documents=tuple(docs))
