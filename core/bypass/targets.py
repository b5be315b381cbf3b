"""Which cluster a bypass names: a kube context from the config file or the clusters table."""

from __future__ import annotations

from core.config.model import ClusterConfig
from core.context import SignetContext
from core.errors import InputError


def find_cluster(ctx: SignetContext, cluster: str) -> ClusterConfig | None:
    """The configured cluster whose context or display name is `cluster`, else one registered in the store."""
    if not cluster:
        return None
    for configured in ctx.config.clusters:
        if cluster in (configured.context, configured.name):
            return configured
    rows = ctx.store.query("SELECT context, kubeconfig FROM clusters WHERE context = ?", (cluster,))
    if rows:
        return ClusterConfig(context=rows[0]["context"], kubeconfig=rows[0]["kubeconfig"] or "")
    return None


def cluster_key(ctx: SignetContext, cluster: str) -> str:
    """The kube context `cluster` refers to (unknown names stay as given, and so match nothing)."""
    found = find_cluster(ctx, cluster)
    return found.context if found else cluster


def require_cluster(ctx: SignetContext, cluster: str) -> ClusterConfig:
    """A cluster bypass needs a cluster Signet can reach to place its PolicyException."""
    found = find_cluster(ctx, cluster)
    if found is None:
        raise InputError(f"cluster '{cluster}' is not configured (add its context to [[clusters]] in the config, "
                         "or sweep it once with `signet cluster sweep --context`)")
    return found
