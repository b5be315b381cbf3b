"""`signet bypass reap`: make the cluster agree with Signet's record, and say what still runs.

1. Record lapses and expiries that are due, and delete the expired bypasses' PolicyExceptions.
2. Retry PolicyExceptions left pending because a cluster was unreachable at approval.
3. In every known cluster, list PolicyExceptions: delete Signet's whose bypass is no longer
   honoured; report those Signet did not create (or does not know) and those without a TTL label.
4. Post-expiry check: workloads still running a digest whose bypass ended within LINGER_WINDOW
   (pods in the bypass's namespace; Lambda functions from the lambda_functions inventory). Ending
   an exception does not evict what it let in, so these need a signed image or a new request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from core.bypass.cluster_exceptions import exception_ref, list_exceptions, pods_in_namespace
from core.bypass.kyverno_exception import (BYPASS_ID_LABEL, MANAGED_BY, MANAGED_BY_LABEL, TTL_LABEL, exception_name,
                                          ttl_label_value)
from core.bypass.model import Bypass, BypassState, ScopeKind
from core.bypass.records import select_bypasses
from core.bypass.coverage import active_bypass_for
from core.bypass.service import activate, remove_exception, settle_due
from core.bypass.targets import find_cluster
from core.clock import iso
from core.config.model import ClusterConfig
from core.context import SignetContext
from core.errors import SignetError

LINGER_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class ForeignException:
    """A PolicyException Signet did not create, does not know, or that carries no TTL label."""

    cluster: str
    namespace: str
    name: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "namespace": self.namespace, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class LingeringWorkload:
    """Something still running a digest after the bypass that let it in ended."""

    bypass_id: str
    digest: str
    place: str  # "<context>/<namespace>/pod/<name>" or "lambda:<region>/<function>"
    ended_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"bypass_id": self.bypass_id, "digest": self.digest, "place": self.place, "ended_at": self.ended_at}


@dataclass
class ReapReport:
    closed: list[Bypass] = field(default_factory=list)
    activated: list[str] = field(default_factory=list)  # bypass ids whose pending exception now exists
    deleted: list[str] = field(default_factory=list)  # exception refs removed
    foreign: list[ForeignException] = field(default_factory=list)
    lingering: list[LingeringWorkload] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # clusters that could not be read or changed

    @property
    def clean(self) -> bool:
        return not (self.foreign or self.lingering or self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {"closed": [{"id": b.id, "state": b.state.value} for b in self.closed],
                "activated": self.activated, "deleted": self.deleted,
                "foreign": [f.as_dict() for f in self.foreign],
                "lingering": [w.as_dict() for w in self.lingering], "errors": self.errors}


def reap(ctx: SignetContext, *, check_workloads: bool = True) -> ReapReport:
    ctx.require_write(None, action="reaping bypasses")
    report = ReapReport()
    report.closed = settle_due(ctx)
    for bypass in report.closed:
        _remove(ctx, report, bypass, bypass.exception_ref)
    _retry_pending(ctx, report)
    for cluster in _known_clusters(ctx):
        _sweep_cluster(ctx, report, cluster)
    if check_workloads:
        _post_expiry_check(ctx, report)
    return report


def _remove(ctx: SignetContext, report: ReapReport, bypass: Bypass, ref: str | None) -> None:
    if not ref:
        return
    warning = remove_exception(ctx, bypass, ref)
    if warning:
        report.errors.append(warning)
    else:
        report.deleted.append(ref)


def _retry_pending(ctx: SignetContext, report: ReapReport) -> None:
    with ctx.store.read() as db:
        pending = select_bypasses(db, "state = ? AND scope_kind = ? AND exception_ref IS NULL",
                                  (BypassState.APPROVED.value, ScopeKind.CLUSTER.value))
    for bypass in pending:
        outcome = activate(ctx, bypass)
        if outcome.warning:
            report.errors.append(f"bypass {bypass.id}: {outcome.warning}")
        elif outcome.bypass.state is BypassState.ACTIVE:
            report.activated.append(bypass.id)


def _known_clusters(ctx: SignetContext) -> list[ClusterConfig]:
    names = [c.context for c in ctx.config.clusters]
    names += [r["context"] for r in ctx.store.query("SELECT context FROM clusters ORDER BY context")]
    names += [r["cluster"] for r in ctx.store.query(
        "SELECT DISTINCT cluster FROM bypasses WHERE scope_kind = 'cluster' ORDER BY cluster")]
    found: dict[str, ClusterConfig] = {}
    for name in names:
        cluster = find_cluster(ctx, name)
        if cluster is not None:
            found.setdefault(cluster.context, cluster)
    return list(found.values())


def _sweep_cluster(ctx: SignetContext, report: ReapReport, cluster: ClusterConfig) -> None:
    try:
        objects = list_exceptions(ctx, cluster)
    except SignetError as exc:
        report.errors.append(str(exc))
        return
    now = ctx.clock()
    for obj in objects:
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        labels = meta.get("labels") or {}
        ttl = labels.get(TTL_LABEL)
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
            report.foreign.append(ForeignException(cluster.context, namespace, name, "not created by Signet" + (
                "" if ttl else "; no cleanup.kyverno.io/ttl label, so it never expires")))
            continue
        bypass = _bypass_by_id(ctx, str(labels.get(BYPASS_ID_LABEL, "")))
        if bypass is None:
            report.foreign.append(ForeignException(cluster.context, namespace, name,
                                                   "labelled as Signet's but names no bypass this Signet knows"))
            continue
        if not bypass.honoured_at(now):
            _remove(ctx, report, bypass, exception_ref(cluster, namespace, name))
            continue
        assert bypass.ends_at is not None
        if (namespace, name) != (ctx.config.policy.exception_namespace, exception_name(bypass.id)):
            report.foreign.append(ForeignException(cluster.context, namespace, name,
                                                   f"carries bypass {bypass.id}'s labels but is not the object "
                                                   "Signet created for it"))
        elif ttl != ttl_label_value(bypass.ends_at):
            report.foreign.append(ForeignException(cluster.context, namespace, name,
                                                   f"TTL label {ttl!r} does not match bypass {bypass.id}'s end "
                                                   f"{ttl_label_value(bypass.ends_at)}"))


def _bypass_by_id(ctx: SignetContext, bypass_id: str) -> Bypass | None:
    if not bypass_id:
        return None
    with ctx.store.read() as db:
        found = select_bypasses(db, "id = ?", (bypass_id,), limit=1)
    return found[0] if found else None


def _post_expiry_check(ctx: SignetContext, report: ReapReport) -> None:
    since = iso(ctx.clock() - LINGER_WINDOW)
    with ctx.store.read() as db:
        ended = select_bypasses(db, "state IN (?, ?) AND closed_at >= ?",
                                (BypassState.EXPIRED.value, BypassState.REVOKED.value, since))
    pods: dict[tuple[str, str], list[dict[str, Any]] | None] = {}
    for bypass in ended:
        scope = bypass.scope
        ended_at = iso(bypass.closed_at) if bypass.closed_at else ""
        if scope.kind is ScopeKind.LAMBDA:
            if active_bypass_for(ctx, digest=bypass.digest, function=scope.function, region=scope.region):
                continue
            rows = ctx.store.query("SELECT region, name FROM lambda_functions WHERE name = ? AND region = ?"
                                   " AND resolved_digest = ?", (scope.function, scope.region, bypass.digest))
            report.lingering.extend(LingeringWorkload(bypass.id, bypass.digest, f"lambda:{r['region']}/{r['name']}",
                                                      ended_at) for r in rows)
            continue
        if active_bypass_for(ctx, digest=bypass.digest, cluster=scope.cluster, namespace=scope.namespace,
                             workload=scope.workload):
            continue
        key = (scope.cluster or "", scope.namespace or "")
        if key not in pods:
            pods[key] = _pods(ctx, report, *key)
        for pod in pods[key] or []:
            if _runs_digest(pod, bypass.digest) and _belongs_to(pod, scope.workload):
                name = (pod.get("metadata") or {}).get("name", "")
                report.lingering.append(LingeringWorkload(bypass.id, bypass.digest,
                                                          f"{key[0]}/{key[1]}/pod/{name}", ended_at))


def _pods(ctx: SignetContext, report: ReapReport, context: str, namespace: str) -> list[dict[str, Any]] | None:
    cluster = find_cluster(ctx, context)
    if cluster is None:
        report.errors.append(f"cluster {context} is no longer configured; cannot check what still runs there")
        return None
    try:
        return pods_in_namespace(ctx, cluster, namespace)
    except SignetError as exc:
        report.errors.append(str(exc))
        return None


def _runs_digest(pod: dict[str, Any], digest: str) -> bool:
    """The kubelet's imageID is what actually runs; the spec image counts when pinned by digest."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    images = [c.get("image", "") for key in ("containers", "initContainers", "ephemeralContainers")
              for c in spec.get(key) or []]
    images += [c.get("imageID", "") for key in ("containerStatuses", "initContainerStatuses",
                                                "ephemeralContainerStatuses") for c in status.get(key) or []]
    return any(str(image).endswith("@" + digest) for image in images)


def _belongs_to(pod: dict[str, Any], workload: str | None) -> bool:
    """Same naming rule as the PolicyException's match: the workload itself or names derived from it."""
    if workload is None:
        return True
    name = str((pod.get("metadata") or {}).get("name", ""))
    return name == workload or name.startswith(workload + "-")
