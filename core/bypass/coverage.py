"""The bypass rule, asked by every enforcement point (the cluster sweep, the Lambda listing, the
release gate, the reaper): does an active bypass cover digest D at place P, now?

Checked at use time against `ctx.clock()`: a bypass whose end has passed is never honoured, whether
or not the reaper has marked it expired yet. Scope matches exactly: cluster (kube context or
configured name) + namespace, and a bypass naming a workload covers only that workload (the
top-level controller name: Deployment, StatefulSet, DaemonSet, Job, CronJob or a bare Pod); or Lambda
function + region. A malformed digest or incomplete place matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.bypass.model import GRANTED_STATES, Bypass, ScopeKind
from core.bypass.records import select_bypasses
from core.bypass.targets import cluster_key
from core.clock import iso
from core.context import SignetContext
from core.errors import InputError
from core.results import BYPASSED, VERIFIED


@dataclass(frozen=True)
class Standing:
    """What is reported for an image at a place: its verification's result and reason, or `bypassed`
    (never `verified`) when an active bypass covers it there."""

    result: str
    reason: str
    bypass_id: str | None = None


def active_bypass_for(ctx: SignetContext, *, digest: str, cluster: str | None = None, namespace: str | None = None,
                      workload: str | None = None, function: str | None = None,
                      region: str | None = None) -> Bypass | None:
    """The granted bypass covering `digest` at this place right now, else None (the one ending last
    when several match). The place is a cluster + namespace (+ workload) or a function + region."""
    if (cluster is None) == (function is None):
        raise InputError("active_bypass_for needs exactly one of cluster or function")
    now = ctx.clock()
    stamp = iso(now)
    states = tuple(s.value for s in GRANTED_STATES)
    with ctx.store.read() as db:
        candidates = select_bypasses(
            db, "digest = ? AND state IN (?, ?) AND starts_at <= ? AND ends_at > ?",
            (digest, *states, stamp, stamp))
    matching = [b for b in candidates if b.honoured_at(now) and _covers(ctx, b, cluster=cluster, namespace=namespace,
                                                                       workload=workload, function=function,
                                                                       region=region)]
    if not matching:
        return None
    return max(matching, key=lambda b: (b.ends_at, b.id))


def standing_at(ctx: SignetContext, result: str, reason: str, digest: str | None, *, cluster: str | None = None,
                namespace: str | None = None, workload: str | None = None, function: str | None = None,
                region: str | None = None) -> Standing:
    """A verification's verdict as it stands at a place now: a digest that is not verified and is
    covered there by an active bypass is `bypassed`, its reason saying what it was and which bypass;
    anything else stands as it is."""
    if result == VERIFIED or not digest:
        return Standing(result, reason)
    bypass = active_bypass_for(ctx, digest=digest, cluster=cluster, namespace=namespace, workload=workload,
                               function=function, region=region)
    if bypass is None:
        return Standing(result, reason)
    return Standing(BYPASSED, f"not verified ({result}: {reason}); covered by bypass {bypass.id}", bypass.id)


def _covers(ctx: SignetContext, bypass: Bypass, *, cluster: str | None, namespace: str | None, workload: str | None,
            function: str | None, region: str | None) -> bool:
    scope = bypass.scope
    if cluster is not None:
        return (scope.kind is ScopeKind.CLUSTER and scope.cluster == cluster_key(ctx, cluster)
                and namespace is not None and scope.namespace == namespace
                and (scope.workload is None or scope.workload == workload))
    return scope.kind is ScopeKind.LAMBDA and scope.function == function and region is not None \
        and scope.region == region
