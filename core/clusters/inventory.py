"""What runs in each cluster: namespaces, workloads, and the digest each container really runs.

Clusters are read concurrently, each on its own thread with its own ApiClient. A cluster that
cannot be reached, or a namespace RBAC refuses, is recorded on that cluster's inventory and never
empties the others. Cluster-wide lists are tried first (one paginated call per kind); when RBAC
refuses them, each namespace is read on its own so the readable ones still count.

The running digest comes from `status.*ContainerStatuses[].imageID` (what the kubelet pulled), not
from the spec: a tag in the spec may point somewhere else by now.
"""

from __future__ import annotations

import functools
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from core.kube.api import KubeApi, list_contexts, resource_path
from core.kube.connect import open_kube_api
from core.config.model import Config
from core.errors import ClusterRefused, InputError, SignetError
from core.registry.reference import DIGEST_RE, parse_reference

# (group, version, plural, kind) of the workload kinds whose pod templates we read.
WORKLOAD_KINDS = (
    ("apps", "v1", "deployments", "Deployment"),
    ("apps", "v1", "statefulsets", "StatefulSet"),
    ("apps", "v1", "daemonsets", "DaemonSet"),
    ("batch", "v1", "jobs", "Job"),
    ("batch", "v1", "cronjobs", "CronJob"),
)
REPLICASETS = ("apps", "v1", "replicasets", "ReplicaSet")  # read only to map pods to their Deployment
PODS = ("", "v1", "pods", "Pod")
CONTAINER_FIELDS = (("containers", "containerStatuses"), ("initContainers", "initContainerStatuses"),
                    ("ephemeralContainers", "ephemeralContainerStatuses"))
MAX_CLUSTER_THREADS = 8
_IMAGE_ID_SCHEMES = re.compile(r"^[a-z-]+://")


@dataclass(frozen=True)
class ClusterTarget:
    """One kube context to read. `name` labels it everywhere (config display name, else the context)."""

    context: str
    kubeconfig: str | None = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.context


@dataclass(frozen=True)
class ContainerImage:
    """One container (regular, init or ephemeral) of a pod or of a workload's pod template."""

    container: str
    container_type: str        # containers | initContainers | ephemeralContainers
    image: str                 # as written in the spec
    image_id: str = ""         # kubelet's status imageID (pods only)
    running_digest: str | None = None

    @property
    def spec_digest(self) -> str | None:
        _, _, digest = self.image.partition("@")
        return digest if DIGEST_RE.match(digest) else None


@dataclass(frozen=True)
class Workload:
    """A top-level controller (or a bare Pod) with the images of its pod template."""

    namespace: str
    kind: str
    name: str
    images: tuple[ContainerImage, ...]


@dataclass(frozen=True)
class RunningPod:
    namespace: str
    name: str
    workload_kind: str         # the top-level controller: Deployment, StatefulSet, ... or Pod
    workload: str
    phase: str
    containers: tuple[ContainerImage, ...]


@dataclass(frozen=True)
class ClusterInventory:
    """One cluster as read. `cluster` is its kube context: the one name history, metrics, sweeps and
    bypasses use (a configured display name stays on ClusterTarget); `context` holds the same value."""

    cluster: str
    context: str
    reachable: bool
    error: str = ""                       # why the cluster could not be read at all
    server_version: str = ""
    namespaces: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()       # namespaces RBAC refused (their workloads are unknown)
    warnings: tuple[str, ...] = ()        # partial failures (a kind not served, namespaces unlistable)
    workloads: tuple[Workload, ...] = ()
    pods: tuple[RunningPod, ...] = ()

    @property
    def complete(self) -> bool:
        return self.reachable and not self.forbidden and not self.warnings

    def as_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "context": self.context, "reachable": self.reachable,
                "error": self.error, "server_version": self.server_version, "namespaces": list(self.namespaces),
                "forbidden_namespaces": list(self.forbidden), "warnings": list(self.warnings),
                "workloads": [{"namespace": w.namespace, "kind": w.kind, "name": w.name,
                               "images": [_image_dict(i) for i in w.images]} for w in self.workloads],
                "pods": [{"namespace": p.namespace, "name": p.name, "workload_kind": p.workload_kind,
                          "workload": p.workload, "phase": p.phase,
                          "containers": [_image_dict(c) for c in p.containers]} for p in self.pods]}


def _image_dict(image: ContainerImage) -> dict[str, Any]:
    return {"container": image.container, "type": image.container_type, "image": image.image,
            "image_id": image.image_id, "running_digest": image.running_digest}


def running_digest(image_id: str) -> str | None:
    """The registry digest in a kubelet imageID, or None.

    Forms seen: `docker-pullable://repo@sha256:...` (dockershim), `repo@sha256:...` (containerd,
    CRI-O), `docker://sha256:...` / bare `sha256:...` (a local image ID: the config digest, which is
    not what signatures name, so it is not a running digest), "" while the image is being pulled.
    """
    text = _IMAGE_ID_SCHEMES.sub("", image_id or "", count=1)
    if "@" not in text:
        return None
    digest = text.rsplit("@", 1)[1]
    return digest if DIGEST_RE.match(digest) else None


def running_reference(image: ContainerImage) -> str | None:
    """`repository@digest` to verify: the spec's repository (where its signatures live) at the running digest."""
    if not image.running_digest:
        return None
    return _pinned_reference(image.image, image.running_digest)


@functools.lru_cache(maxsize=65536)  # thousands of pods run the same few images: normalise each pair once
def _pinned_reference(image: str, digest: str) -> str | None:
    try:
        return str(parse_reference(image, default_tag=None).with_tag(None).with_digest(digest))
    except InputError:
        return None


def cluster_targets(config: Config, *, context: str | None = None,
                    kubeconfig: str | None = None) -> list[ClusterTarget]:
    """The configured [[clusters]] (unless a kubeconfig is named), else every context of the
    kubeconfig(s); `context` narrows to one, by context or display name."""
    if config.clusters and not kubeconfig:
        targets = [ClusterTarget(c.context, c.kubeconfig or None, c.name) for c in config.clusters]
        where = "the configured [[clusters]]"
    else:
        names, _ = list_contexts(kubeconfig)
        targets = [ClusterTarget(name, kubeconfig) for name in names]
        where = "the kubeconfig"
    if context:
        targets = [t for t in targets if context in (t.context, t.name)]
        if not targets:
            raise InputError(f"cluster '{context}' is not in {where}")
    return targets


def read_inventories(config: Config, targets: Sequence[ClusterTarget], *, namespaces: Sequence[str] | None = None,
                     templates: bool = True) -> list[ClusterInventory]:
    """Every target, concurrently; results in the order of `targets`. `templates=False` skips the
    workloads' pod templates (a sweep needs only what runs: pods, and their owners' owners)."""
    timeout = (config.limits.connect_timeout, config.limits.read_timeout)
    if not targets:
        return []
    workers = max(1, min(MAX_CLUSTER_THREADS, len(targets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cluster") as pool:
        return list(pool.map(lambda t: read_cluster(t, namespaces=namespaces, timeout=timeout,
                                                    templates=templates), targets))


def read_cluster(target: ClusterTarget, *, namespaces: Sequence[str] | None = None,
                 timeout: tuple[float, float], templates: bool = True) -> ClusterInventory:
    """One cluster's inventory. Never raises for the cluster's own failures: they are recorded on it."""
    try:
        api = open_kube_api(target.context, target.kubeconfig, timeout=timeout)
    except SignetError as exc:
        return _unreachable(target, exc)
    with api:
        try:
            version = api.get("/version").get("gitVersion", "")
        except SignetError as exc:
            return _unreachable(target, exc)
        reader = _NamespacedReader(api, namespaces)
        try:
            reader.discover_namespaces()
            pods = reader.list_kind(PODS)
            replicasets = reader.list_kind(REPLICASETS)
            kinds = WORKLOAD_KINDS if templates else [k for k in WORKLOAD_KINDS if k[3] == "Job"]
            workloads = [(kind, obj) for group, ver, plural, kind in kinds
                         for obj in reader.list_kind((group, ver, plural, kind))]
        except SignetError as exc:  # the cluster went away, or a limit tripped, mid-read
            return _unreachable(target, exc, server_version=str(version))
    owners = _owner_index(replicasets, [o for k, o in workloads if k == "Job"])
    seen = {str((p.get("metadata") or {}).get("namespace", "")) for p in pods}
    return ClusterInventory(
        cluster=target.context, context=target.context, reachable=True, server_version=str(version),
        namespaces=tuple(sorted(reader.namespaces | seen)),
        forbidden=tuple(sorted(reader.forbidden)),
        warnings=tuple(reader.warnings),
        workloads=tuple(_workload(kind, obj) for kind, obj in workloads) if templates else (),
        pods=tuple(_pod(obj, owners) for obj in pods))


def _unreachable(target: ClusterTarget, exc: SignetError, *, server_version: str = "") -> ClusterInventory:
    return ClusterInventory(target.context, target.context, reachable=False, error=str(exc),
                            server_version=server_version)


class _NamespacedReader:
    """Lists kinds cluster-wide when allowed, else namespace by namespace, noting what RBAC refused."""

    def __init__(self, api: KubeApi, only: Sequence[str] | None) -> None:
        self.api = api
        self.only = tuple(only) if only else None
        self.namespaces: set[str] = set(self.only or ())
        self.forbidden: set[str] = set()
        self.warnings: list[str] = []
        self._cluster_wide_refused = False
        self._namespaces_refused = ""  # why namespaces could not be listed (matters only without cluster-wide reads)

    def discover_namespaces(self) -> None:
        if self.only is not None:
            return
        try:
            self.namespaces = {(n.get("metadata") or {}).get("name", "") for n in
                               self.api.list(resource_path("", "v1", "namespaces"))} - {""}
        except ClusterRefused as exc:
            if exc.status != 403:
                raise
            self._namespaces_refused = str(exc)

    def list_kind(self, kind: tuple[str, str, str, str]) -> list[dict[str, Any]]:
        group, version, plural, _ = kind
        if self.only is None and not self._cluster_wide_refused:
            try:
                return list(self.api.list(resource_path(group, version, plural)))
            except ClusterRefused as exc:
                if exc.status == 404:
                    self._not_served(kind)
                    return []
                if exc.status != 403:
                    raise
                self._cluster_wide_refused = True  # RBAC by namespace: read each one
                if self._namespaces_refused:
                    self.warnings.append("neither cluster-wide reads nor the namespace list are allowed, so "
                                         f"nothing could be read: {self._namespaces_refused}")
        if self._namespaces_refused and self.only is None:
            return []
        found: list[dict[str, Any]] = []
        for namespace in sorted(self.namespaces - self.forbidden):
            try:
                found.extend(self.api.list(resource_path(group, version, plural, namespace=namespace)))
            except ClusterRefused as exc:
                if exc.status == 403:
                    self.forbidden.add(namespace)
                elif exc.status == 404:  # a missing namespace lists empty; 404 means the kind is not served
                    self._not_served(kind)
                    return found
                else:
                    raise
        return found

    def _not_served(self, kind: tuple[str, str, str, str]) -> None:
        group, version, plural, _ = kind
        self.warnings.append(f"{plural}.{group or 'core'}/{version} is not served")


def _containers(spec: dict[str, Any], status: dict[str, Any] | None) -> tuple[ContainerImage, ...]:
    result = []
    for spec_field, status_field in CONTAINER_FIELDS:
        reported = {s.get("name"): s for s in (status or {}).get(status_field) or [] if isinstance(s, dict)}
        for c in spec.get(spec_field) or []:
            if not isinstance(c, dict):
                continue
            image_id = str((reported.get(c.get("name")) or {}).get("imageID") or "")
            result.append(ContainerImage(container=str(c.get("name", "")), container_type=spec_field,
                                         image=str(c.get("image", "")), image_id=image_id,
                                         running_digest=running_digest(image_id) if status is not None else None))
    return tuple(result)


def _template_spec(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    return ((spec.get("template") or {}).get("spec") or {})


def _workload(kind: str, obj: dict[str, Any]) -> Workload:
    meta = obj.get("metadata") or {}
    return Workload(namespace=str(meta.get("namespace", "")), kind=kind, name=str(meta.get("name", "")),
                    images=_containers(_template_spec(kind, obj), None))


def _controller(meta: dict[str, Any]) -> tuple[str, str] | None:
    for ref in meta.get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return str(ref.get("kind", "")), str(ref.get("name", ""))
    return None


def _owner_index(replicasets: Iterable[dict[str, Any]], jobs: Iterable[dict[str, Any]]
                 ) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(kind, namespace, name) of a ReplicaSet/Job → its own controller (Deployment/CronJob)."""
    index: dict[tuple[str, str, str], tuple[str, str]] = {}
    for kind, objs in (("ReplicaSet", replicasets), ("Job", jobs)):
        for obj in objs:
            meta = obj.get("metadata") or {}
            owner = _controller(meta)
            if owner:
                index[(kind, meta.get("namespace", ""), meta.get("name", ""))] = owner
    return index


def _pod(obj: dict[str, Any], owners: dict[tuple[str, str, str], tuple[str, str]]) -> RunningPod:
    meta = obj.get("metadata") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    kind, workload = _controller(meta) or ("Pod", name)
    if kind in ("ReplicaSet", "Job"):
        # Walk up one level: a Deployment's ReplicaSet, a CronJob's Job (bare ones stay themselves).
        kind, workload = owners.get((kind, namespace, workload), (kind, workload))
    return RunningPod(namespace=namespace, name=name, workload_kind=kind, workload=workload,
                      phase=str((obj.get("status") or {}).get("phase", "")),
                      containers=_containers(obj.get("spec") or {}, obj.get("status") or {}))
