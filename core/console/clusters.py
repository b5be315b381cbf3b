"""The Clusters view's rows: one line per (namespace, workload, container) of a cluster inventory."""

from __future__ import annotations

from dataclasses import dataclass

from core.clusters.inventory import ClusterInventory


@dataclass(frozen=True)
class ContainerRow:
    cluster: str
    namespace: str
    workload_kind: str
    workload: str
    container: str
    image: str
    running_digest: str | None
    pods: int

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What sweep findings and drift entries are matched on."""
        return (self.cluster, self.namespace, self.workload, self.container)


def container_rows(inventory: ClusterInventory) -> list[ContainerRow]:
    """Running pods folded per workload container (replicas counted); workloads with no pod are
    listed from their template with no running digest."""
    rows: dict[tuple[str, str, str, str], ContainerRow] = {}
    for pod in inventory.pods:
        for c in pod.containers:
            key = (pod.namespace, pod.workload_kind, pod.workload, c.container)
            seen = rows.get(key)
            if seen is None:
                rows[key] = ContainerRow(inventory.cluster, pod.namespace, pod.workload_kind, pod.workload,
                                         c.container, c.image, c.running_digest, 1)
            else:
                rows[key] = ContainerRow(seen.cluster, seen.namespace, seen.workload_kind, seen.workload,
                                         seen.container, seen.image, seen.running_digest or c.running_digest,
                                         seen.pods + 1)
    for workload in inventory.workloads:
        for image in workload.images:
            key = (workload.namespace, workload.kind, workload.name, image.container)
            rows.setdefault(key, ContainerRow(inventory.cluster, workload.namespace, workload.kind, workload.name,
                                              image.container, image.image, None, 0))
    return [rows[k] for k in sorted(rows)]
