"""What runs, and what guards it: every running workload container of every configured cluster and every
Lambda function, with each cluster's admission policies and namespace labels.

Live (`read_world`): the ordinary cluster inventory, policy readers and Lambda listing. Offline
(`world_from_last_sweep`): the workloads the last sweep recorded and the Lambda functions last listed;
no cluster is asked, so the clusters' admission policies are unknown and each cluster workload is judged
by Signet's `[trust]`, as the sweep judged it (said in the report's notes).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

from core.aws.regions import aws_targets
from core.lambdas.inventory import list_image_functions
from core.clusters.admission import AdmissionPolicy
from core.clusters.inventory import MAX_CLUSTER_THREADS, ClusterInventory, ClusterTarget, read_cluster
from core.kube.connect import open_kube_api
from core.clusters.policies import list_policies, namespace_labels
from core.clusters.sweep import group_containers
from core.context import SignetContext
from core.errors import InputError, NotFound, SignetError
from core.registry.reference import parse_reference
from core.results import VERIFIED

MAX_WORKLOADS = 1_000_000


@dataclass(frozen=True)
class RunningWorkload:
    """One container of one workload (replicas folded), or one Lambda function."""

    place: str            # cluster | lambda
    cluster: str          # kube context; "" for Lambda
    namespace: str        # Lambda: the region
    kind: str             # Deployment, StatefulSet, ... or Function
    name: str
    container: str
    image: str
    reference: str | None  # repository@digest that runs; None when it cannot be told
    digest: str | None
    pods: int = 1

    @property
    def label(self) -> str:
        if self.place == "lambda":
            return f"lambda:{self.namespace}/{self.name}"
        return f"{self.cluster}/{self.namespace}/{self.kind}/{self.name}:{self.container}"

    def as_dict(self) -> dict[str, Any]:
        return {"place": self.place, "cluster": self.cluster, "namespace": self.namespace, "kind": self.kind,
                "name": self.name, "container": self.container, "image": self.image, "reference": self.reference,
                "digest": self.digest, "pods": self.pods}


@dataclass(frozen=True)
class World:
    workloads: tuple[RunningWorkload, ...]
    policies: dict[str, tuple[AdmissionPolicy, ...]]            # kube context -> policies
    labels: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # context -> ns -> labels
    problems: tuple[str, ...] = ()    # clusters or accounts that could not be read (never hidden)
    offline: bool = False
    recorded_signers: dict[str, frozenset[str]] = field(default_factory=dict)  # offline: digest -> keys
    recorded_verdicts: dict[str, tuple[str, str]] = field(default_factory=dict)  # offline: digest -> result, reason


def read_world(ctx: SignetContext, targets: Sequence[ClusterTarget], *, lambdas: bool = True) -> World:
    """Every cluster's inventory, every cluster's policies and namespace labels, and the Lambda listing,
    each on its own thread: the wall time is the slowest of them, not their sum. (The policies of a
    cluster whose inventory could not be read are dropped: the cluster is reported unreachable.)"""
    timeout = (ctx.config.limits.connect_timeout, ctx.config.limits.read_timeout)
    list_lambdas = lambdas and bool(ctx.config.aws.regions or ctx.config.aws.demo_lambda)
    workers = 2 * min(MAX_CLUSTER_THREADS, max(1, len(targets))) + 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="world") as pool:
        functions = pool.submit(list_image_functions, ctx.config, aws_targets(ctx.config)) if list_lambdas else None
        guards = [pool.submit(_read_guards, t, timeout) for t in targets]
        inventories = list(pool.map(lambda t: read_cluster(t, timeout=timeout, templates=False), targets))
        clusters = [_cluster_view(t, inv, g.result()) for t, inv, g in zip(targets, inventories, guards, strict=True)]
        lambda_inventories = functions.result() if functions is not None else []
    problems = [problem for view in clusters for problem in view.problems]
    workloads = [RunningWorkload("cluster", g["cluster"], g["namespace"], g["workload_kind"], g["workload"],
                                 g["container"], g["image"], g["reference"], g["digest"], g["pods"])
                 for _, g in sorted(group_containers([view.inventory for view in clusters]).items())]
    policies = {view.inventory.context: view.policies for view in clusters if view.policies is not None}
    labels = {view.inventory.context: view.labels for view in clusters if view.labels is not None}
    for inventory in lambda_inventories:
        if inventory.error:
            problems.append(inventory.error)
        workloads += [RunningWorkload("lambda", "", f.region, "Function", f.name, "", f.image_uri, f.reference,
                                      f.digest) for f in inventory.functions]
    if len(workloads) > MAX_WORKLOADS:
        raise InputError(f"more than {MAX_WORKLOADS} running workloads")
    return World(tuple(workloads), policies, labels, tuple(problems))


@dataclass(frozen=True)
class _ClusterView:
    inventory: ClusterInventory
    policies: tuple[AdmissionPolicy, ...] | None   # None: not read (cluster unreachable, policies unreadable)
    labels: dict[str, dict[str, str]] | None
    problems: tuple[str, ...]


@dataclass(frozen=True)
class _Guards:
    """A cluster's admission policies and namespace labels, or why they could not be read."""

    policies: tuple[AdmissionPolicy, ...] = ()
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    unreadable: tuple[str, ...] = ()   # policy kinds that could not be listed
    error: str = ""


def _read_guards(target: ClusterTarget, timeout: tuple[float, float]) -> _Guards:
    try:
        with open_kube_api(target.context, target.kubeconfig, timeout=timeout) as api:
            found, unreadable = list_policies(api)
            labels = namespace_labels(api)
    except SignetError as exc:
        return _Guards(error=str(exc))
    return _Guards(tuple(found), labels, tuple(issue.detail for issue in unreadable))


def _cluster_view(target: ClusterTarget, inv: ClusterInventory, guards: _Guards) -> _ClusterView:
    if not inv.reachable:
        return _ClusterView(inv, None, None, (f"cluster {target.context}: {inv.error}",))
    problems = [f"cluster {target.context}: namespaces not readable: {', '.join(inv.forbidden)}"] \
        if inv.forbidden else []
    if guards.error:
        problems.append(f"cluster {target.context}: policies not readable: {guards.error}")
        return _ClusterView(inv, None, None, tuple(problems))
    problems.extend(f"cluster {target.context}: {detail}" for detail in guards.unreadable)
    return _ClusterView(inv, guards.policies, guards.labels, tuple(problems))


def world_from_last_sweep(ctx: SignetContext) -> World:
    """The last sweep's workloads and the last listed Lambda functions, with the keys that signed each
    digest as recorded then (a verified image records the signers that met the threshold, so this can
    be fewer than all its signers)."""
    last = ctx.store.query("SELECT details FROM verifications WHERE source = 'sweep' ORDER BY at DESC, id DESC LIMIT 1")
    if not last:
        raise NotFound("no sweep recorded yet: run `signet cluster sweep` first, or leave out --from-last-sweep")
    sweep_id = json.loads(last[0]["details"] or "{}").get("sweep")
    rows = [r for r in ctx.store.query(
        "SELECT reference, digest, matched_keys, result, reason, cluster, namespace, details FROM verifications "
        "WHERE source = 'sweep' AND details LIKE ? ORDER BY id", (f'%"{sweep_id}"%',))
        if json.loads(r["details"] or "{}").get("sweep") == sweep_id]
    workloads: list[RunningWorkload] = []
    signers: dict[str, frozenset[str]] = {}
    verdicts: dict[str, tuple[str, str]] = {}
    for r in rows:
        if r["digest"]:
            signers[r["digest"]] = signers.get(r["digest"], frozenset()) | frozenset(json.loads(r["matched_keys"]))
            if verdicts.get(r["digest"], ("",))[0] != VERIFIED:  # rows differ only by bypasses: verified wins
                verdicts[r["digest"]] = (r["result"], r["reason"] or "")
        for entry in json.loads(r["details"] or "{}").get("workloads", []):
            kind_name, _, container = str(entry).rpartition(":")
            kind, _, name = kind_name.partition("/")
            workloads.append(RunningWorkload("cluster", r["cluster"] or "", r["namespace"] or "", kind, name,
                                             container, r["reference"], r["reference"] if r["digest"] else None,
                                             r["digest"]))
    for f in ctx.store.query("SELECT region, name, image_uri, resolved_digest FROM lambda_functions ORDER BY name"):
        reference = _pinned(f["image_uri"], f["resolved_digest"])
        workloads.append(RunningWorkload("lambda", "", f["region"], "Function", f["name"], "", f["image_uri"],
                                         reference, f["resolved_digest"] if reference else None))
        if f["resolved_digest"] and f["resolved_digest"] not in signers:
            recorded = ctx.store.query("SELECT matched_keys, result, reason FROM verifications WHERE digest = ? "
                                       "ORDER BY at DESC, id DESC LIMIT 1", (f["resolved_digest"],))
            signers[f["resolved_digest"]] = frozenset(json.loads(recorded[0]["matched_keys"])) if recorded \
                else frozenset()
            if recorded:
                verdicts[f["resolved_digest"]] = (recorded[0]["result"], recorded[0]["reason"] or "")
    return World(tuple(workloads), {}, {}, (), offline=True, recorded_signers=signers, recorded_verdicts=verdicts)


def _pinned(image_uri: str, digest: str | None) -> str | None:
    if not digest:
        return None
    try:
        return str(parse_reference(image_uri, default_tag=None).with_tag(None).with_digest(digest))
    except SignetError:
        return None
