"""Open the Kubernetes API of one kubeconfig context: the real client, or the demo's cluster when the
context's server is a `file:` URL (core/kube/file_api.py, answered from a file without a network)."""

from __future__ import annotations

from core.kube.api import CLUSTER_DEADLINE_S, KubeApi, api_client_for
from core.kube.file_api import FileKubeApi


def open_kube_api(context: str, kubeconfig: str | None, *, timeout: tuple[float, float],
                  deadline_s: float = CLUSTER_DEADLINE_S) -> KubeApi:
    client = api_client_for(context, kubeconfig)
    if str(client.configuration.host).startswith("file:"):  # the demo's cluster, served from a file
        client.close()
        return FileKubeApi.from_url(client.configuration.host, context)
    return KubeApi(client, context, timeout=timeout, deadline_s=deadline_s)
