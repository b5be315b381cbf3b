"""Bypass workflow: request, approve, deny, revoke, expire; and the one question others ask,
`active_bypass_for` (is this digest, here, covered right now?).

Every transition is computed against `ctx.clock()` and written together with its audit entry in one
`ctx.store.write()` transaction (BEGIN IMMEDIATE), so two approvers racing cannot both "reach the
threshold" on stale reads. Cluster calls (PolicyException create/delete) happen outside the
transaction; their outcome is recorded in a second one.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta

from core.bypass.model import GRANTED_STATES, Bypass, BypassState, ScopeKind
from core.bypass.records import select_bypasses
from core.bypass.targets import cluster_key, require_cluster
from core.bypass.validation import (validate_digest, validate_duration, validate_justification, validate_scope,
                                    validate_ticket)
from core.clock import iso
from core.context import SignetContext
from core.errors import InputError

AUDIT_PREFIX = "bypass."


def subject_of(bypass_id: str) -> str:
    return f"bypass:{bypass_id}"


def active_bypass_for(ctx: SignetContext, *, digest: str, cluster: str | None = None, namespace: str | None = None,
                      workload: str | None = None, function: str | None = None,
                      region: str | None = None) -> Bypass | None:
    """The granted bypass covering `digest` at this place right now, else None.

    Checked at use time against `ctx.clock()`: a bypass whose end has passed is never honoured,
    whether or not the reaper has marked it expired yet. Scope matches exactly: cluster (kube
    context or configured name) + namespace, and a bypass naming a workload covers only that
    workload (the top-level controller name: Deployment, StatefulSet, DaemonSet, Job, CronJob or a
    bare Pod); or Lambda function + region. A malformed digest or incomplete place matches nothing.
    When several bypasses match, the one ending last is returned.
    """
    if (cluster is None) == (function is None):
        raise InputError("active_bypass_for needs exactly one of cluster or function")
    now = ctx.clock()
    stamp = iso(now)
    states = tuple(s.value for s in GRANTED_STATES)
    with ctx.store.read() as db:
        candidates = select_bypasses(
            db.conn, "digest = ? AND state IN (?, ?) AND starts_at <= ? AND ends_at > ?",
            (digest, *states, stamp, stamp))
    matching = [b for b in candidates if b.honoured_at(now) and _covers(ctx, b, cluster=cluster, namespace=namespace,
                                                                       workload=workload, function=function,
                                                                       region=region)]
    if not matching:
        return None
    return max(matching, key=lambda b: (b.ends_at, b.id))


def _covers(ctx: SignetContext, bypass: Bypass, *, cluster: str | None, namespace: str | None, workload: str | None,
            function: str | None, region: str | None) -> bool:
    scope = bypass.scope
    if cluster is not None:
        return (scope.kind is ScopeKind.CLUSTER and scope.cluster == cluster_key(ctx, cluster)
                and namespace is not None and scope.namespace == namespace
                and (scope.workload is None or scope.workload == workload))
    return scope.kind is ScopeKind.LAMBDA and scope.function == function and region is not None \
        and scope.region == region


def request_bypass(ctx: SignetContext, *, digest: str, justification: str, ticket: str, duration: str | int,
                   cluster: str | None = None, namespace: str | None = None, workload: str | None = None,
                   function: str | None = None, region: str | None = None) -> Bypass:
    """Record a request by the current identity; it grants nothing until approved by someone else."""
    ctx.require_write(None, action="requesting a bypass")
    scope = validate_scope(cluster=cluster, namespace=namespace, workload=workload, function=function, region=region)
    if scope.kind is ScopeKind.CLUSTER:
        scope = replace(scope, cluster=require_cluster(ctx, scope.cluster or "").context)
    digest = validate_digest(digest)
    justification = validate_justification(justification)
    ticket = validate_ticket(ticket)
    seconds = validate_duration(duration, ctx.config.policy)
    now = ctx.clock()
    expires = now + timedelta(seconds=ctx.config.policy.bypass_request_ttl_seconds)
    bypass_id = "bp-" + secrets.token_hex(6)
    with ctx.store.write() as db:
        db.conn.execute(
            "INSERT INTO bypasses (id, state, requester, scope_kind, cluster, namespace, workload, function_name,"
            " region, digest, justification, ticket, duration_seconds, requested_at, request_expires_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (bypass_id, BypassState.REQUESTED.value, ctx.actor, scope.kind.value, scope.cluster, scope.namespace,
             scope.workload, scope.function, scope.region, digest, justification, ticket, seconds, iso(now),
             iso(expires)))
        ctx.audit(AUDIT_PREFIX + "request", subject_of(bypass_id),
                  {"to": BypassState.REQUESTED.value, "scope": scope.as_dict(), "digest": digest,
                   "justification": justification, "ticket": ticket, "duration_seconds": seconds,
                   "request_expires_at": iso(expires)})
        (created,) = select_bypasses(db.conn, "id = ?", (bypass_id,), limit=1)
    return created
