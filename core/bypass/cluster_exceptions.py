"""PolicyExceptions and pods in one cluster, through team CLUSTERS' bounded `KubeApi` (real kubernetes
client, timeouts on every call, capped pages and bodies; failures are ClusterError naming the context).
"""

from __future__ import annotations

from typing import Any

from core.bypass.kyverno_exception import GROUP, PLURAL, VERSION
from core.kube.api import KubeApi, resource_path
from core.kube.connect import open_kube_api
from core.config.model import ClusterConfig
from core.context import SignetContext
from core.errors import ClusterError, ClusterRefused

MAX_LISTED = 5000  # PolicyExceptions, or pods of one namespace, read in one call


def _open(ctx: SignetContext, cluster: ClusterConfig) -> KubeApi:
    limits = ctx.config.limits
    return open_kube_api(cluster.context, cluster.kubeconfig or None,
                        timeout=(limits.connect_timeout, limits.read_timeout))


def exception_ref(cluster: ClusterConfig, namespace: str, name: str) -> str:
    return f"{cluster.context}/{namespace}/{name}"


def split_ref(ref: str) -> tuple[str, str, str]:
    """(context, namespace, name); the context may itself contain '/' (EKS ARNs)."""
    context, namespace, name = ref.rsplit("/", 2)
    return context, namespace, name


def create_exception(ctx: SignetContext, cluster: ClusterConfig, doc: dict[str, Any]) -> dict[str, Any]:
    """Create the PolicyException; one left by an earlier attempt for the same bypass is accepted,
    anything else under that name is refused rather than adopted."""
    meta = doc["metadata"]
    with _open(ctx, cluster) as api:
        try:
            return api.create(resource_path(GROUP, VERSION, PLURAL, namespace=meta["namespace"]), doc)
        except ClusterRefused as exc:
            if exc.status != 409:
                raise
        existing = api.get(resource_path(GROUP, VERSION, PLURAL, namespace=meta["namespace"], name=meta["name"]))
    labels = (existing.get("metadata") or {}).get("labels") or {}
    if labels != meta["labels"] or existing.get("spec") != doc["spec"]:
        raise ClusterError(f"cluster {cluster.context}: PolicyException {meta['namespace']}/{meta['name']} "
                           "already exists with different content; refusing to adopt it")
    return existing


def delete_exception(ctx: SignetContext, cluster: ClusterConfig, namespace: str, name: str) -> bool:
    """Delete it; False when it was already gone (Kyverno's TTL cleanup may have been first)."""
    with _open(ctx, cluster) as api:
        try:
            api.delete(resource_path(GROUP, VERSION, PLURAL, namespace=namespace, name=name))
        except ClusterRefused as exc:
            if exc.status == 404:
                return False
            raise
    return True


def list_exceptions(ctx: SignetContext, cluster: ClusterConfig) -> list[dict[str, Any]]:
    """Every kyverno.io PolicyException in the cluster (all namespaces)."""
    with _open(ctx, cluster) as api:
        return list(api.list(resource_path(GROUP, VERSION, PLURAL), max_items=MAX_LISTED))


def pods_in_namespace(ctx: SignetContext, cluster: ClusterConfig, namespace: str) -> list[dict[str, Any]]:
    """Pods of one namespace as JSON (kubelet status included)."""
    with _open(ctx, cluster) as api:
        return list(api.list(resource_path("", "v1", "pods", namespace=namespace), max_items=MAX_LISTED))
