"""Bypass workflow: request, approve, deny, revoke, expire. The one question others ask (is this
digest, here, covered right now?) is core/bypass/coverage.py.

Every transition is computed against `ctx.clock()` and written together with its audit entry in one
`ctx.store.write()` transaction (BEGIN IMMEDIATE), so two approvers racing cannot both "reach the
threshold" on stale reads. Cluster calls (PolicyException create/delete) happen outside the
transaction; their outcome is recorded in a second one.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta
from typing import Any

from core.aws.regions import single_region
from core.bypass.cluster_exceptions import create_exception, delete_exception, exception_ref, split_ref
from core.bypass.kyverno_exception import policy_exception
from core.bypass.model import GRANTED_STATES, Bypass, BypassOutcome, BypassState, ScopeKind
from core.bypass.running import digest_warning
from core.bypass.records import MAX_LISTED, load_bypass, select_bypasses, set_state
from core.bypass.targets import require_cluster
from core.bypass.validation import (validate_digest, validate_duration, validate_justification, validate_reason,
                                    validate_scope, validate_ticket)
from core.clock import iso
from core.context import SignetContext
from core.errors import InvalidState, PermissionDenied, SignetError
from core.identity import Role

AUDIT_PREFIX = "bypass."


def subject_of(bypass_id: str) -> str:
    return f"bypass:{bypass_id}"


def request_bypass(ctx: SignetContext, *, digest: str, justification: str, ticket: str, duration: str | int,
                   cluster: str | None = None, namespace: str | None = None, workload: str | None = None,
                   function: str | None = None, region: str | None = None) -> Bypass:
    """Record a request by the current identity; it grants nothing until approved by someone else."""
    ctx.require_write(None, action="requesting a bypass")
    if function and not region:
        region = single_region(ctx.config)  # as `signet lambda deploy` would act on it
    scope = validate_scope(cluster=cluster, namespace=namespace, workload=workload, function=function, region=region)
    if scope.kind is ScopeKind.CLUSTER:
        scope = replace(scope, cluster=require_cluster(ctx, scope.cluster or "").context)
    digest = validate_digest(digest)
    justification = validate_justification(justification)
    ticket = validate_ticket(ticket)
    seconds = validate_duration(duration, ctx.config.policy)
    warning = digest_warning(ctx, scope, digest)
    now = ctx.clock()
    expires = now + timedelta(seconds=ctx.config.policy.bypass_request_ttl_seconds)
    bypass_id = "bp-" + secrets.token_hex(6)
    with ctx.store.write() as db:
        db.execute(
            "INSERT INTO bypasses (id, state, requester, scope_kind, cluster, namespace, workload, function_name,"
            " region, digest, justification, ticket, duration_seconds, requested_at, request_expires_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (bypass_id, BypassState.REQUESTED.value, ctx.actor, scope.kind.value, scope.cluster, scope.namespace,
             scope.workload, scope.function, scope.region, digest, justification, ticket, seconds, iso(now),
             iso(expires)))
        ctx.audit(AUDIT_PREFIX + "request", subject_of(bypass_id),
                  {"to": BypassState.REQUESTED.value, "scope": scope.as_dict(), "digest": digest,
                   "justification": justification, "ticket": ticket, "duration_seconds": seconds,
                   "request_expires_at": iso(expires), **({"digest_warning": warning} if warning else {})})
        (created,) = select_bypasses(db, "id = ?", (bypass_id,), limit=1)
    return created


def get_bypass(ctx: SignetContext, bypass_id: str) -> Bypass:
    with ctx.store.read() as db:
        return load_bypass(db, bypass_id)


def list_bypasses(ctx: SignetContext, *, include_closed: bool = False, limit: int = MAX_LISTED) -> list[Bypass]:
    """Open bypasses (requested, approved, active), or all of them with `include_closed`; newest first.

    Rows are as stored: use `Bypass.effective_state(now)` to see an end that passed before the reaper ran.
    """
    with ctx.store.read() as db:
        if include_closed:
            return select_bypasses(db, limit=limit)
        states = (BypassState.REQUESTED.value, *(s.value for s in GRANTED_STATES))
        return select_bypasses(db, "state IN (?, ?, ?)", states, limit=limit)


def _settle(ctx: SignetContext, db: Any, bypass_id: str) -> Bypass:
    """Load a bypass inside a write transaction, first recording a lapse or expiry that is due."""
    bypass = load_bypass(db, bypass_id)
    now = ctx.clock()
    due = bypass.effective_state(now)
    if due is not bypass.state:
        reason = "request not approved in time" if due is BypassState.LAPSED else "end of the approved window"
        close_bypass(ctx, db, bypass, due, reason=reason)
        bypass = load_bypass(db, bypass_id)
    return bypass


def close_bypass(ctx: SignetContext, db: Any, bypass: Bypass, state: BypassState, *, reason: str) -> None:
    """Move `bypass` to a closed state and audit it, inside the caller's write transaction."""
    now = ctx.clock()
    set_state(db, bypass.id, state, closed_at=iso(now), closed_by=ctx.actor, close_reason=reason)
    ctx.audit(AUDIT_PREFIX + _ACTIONS[state], subject_of(bypass.id),
              {"from": bypass.state.value, "to": state.value, "reason": reason})


_ACTIONS = {BypassState.LAPSED: "lapse", BypassState.EXPIRED: "expire", BypassState.REVOKED: "revoke",
            BypassState.DENIED: "deny"}


def approve_bypass(ctx: SignetContext, bypass_id: str) -> BypassOutcome:
    """Record the current identity's approval; on reaching the threshold the bypass is granted.

    Refused for the requester (no self-approval), for anyone without the approver role, twice for
    the same person, and for anything but a pending request. The window starts at the approval that
    reaches the threshold. For cluster scope the PolicyException is then created; if the cluster
    cannot be reached the bypass stays `approved` (Signet honours it for its window) with the
    exception pending, the outcome carries a warning, and `reap` retries the creation.
    """
    ctx.require_write(Role.APPROVER, action="approving a bypass")
    threshold = ctx.config.policy.bypass_approvals
    requested = get_bypass(ctx, bypass_id)  # scope and digest never change (the team guards refuse it)
    warning = digest_warning(ctx, requested.scope, requested.digest)
    refusal: SignetError | None = None
    with ctx.store.write() as db:
        bypass = _settle(ctx, db, bypass_id)
        refusal = decision_refusal(ctx, bypass, "approve")
        if refusal is None:
            now = ctx.clock()
            db.execute("INSERT INTO bypass_approvals (bypass_id, approver, decision, reason, at)"
                            " VALUES (?, ?, 'approve', NULL, ?)", (bypass.id, ctx.actor, iso(now)))
            approvals = len(bypass.approvers) + 1
            details: dict[str, Any] = {"approvals": approvals, "threshold": threshold,
                                       **({"digest_warning": warning} if warning else {})}
            if approvals >= threshold:
                ends = now + timedelta(seconds=bypass.duration_seconds)
                set_state(db, bypass.id, BypassState.APPROVED, approved_at=iso(now), starts_at=iso(now),
                          ends_at=iso(ends))
                details.update({"from": bypass.state.value, "to": BypassState.APPROVED.value,
                                "starts_at": iso(now), "ends_at": iso(ends)})
            ctx.audit(AUDIT_PREFIX + "approve", subject_of(bypass.id), details)
            bypass = load_bypass(db, bypass.id)
    if refusal is not None:
        raise refusal
    outcome = activate(ctx, bypass) if bypass.state is BypassState.APPROVED else BypassOutcome(bypass)
    return replace(outcome, digest_warning=warning)


def deny_bypass(ctx: SignetContext, bypass_id: str, *, reason: str) -> BypassOutcome:
    """An approver refuses a pending request, with a reason; one denial closes it. An approver may
    deny their own request (withdrawing it), never approve it."""
    ctx.require_write(Role.APPROVER, action="denying a bypass")
    reason = validate_reason(reason, required=True)
    refusal: SignetError | None = None
    with ctx.store.write() as db:
        bypass = _settle(ctx, db, bypass_id)
        refusal = decision_refusal(ctx, bypass, "deny")
        if refusal is None:
            db.execute("INSERT INTO bypass_approvals (bypass_id, approver, decision, reason, at)"
                            " VALUES (?, ?, 'deny', ?, ?)", (bypass.id, ctx.actor, reason, iso(ctx.clock())))
            close_bypass(ctx, db, bypass, BypassState.DENIED, reason=reason)
            bypass = load_bypass(db, bypass.id)
    if refusal is not None:
        raise refusal
    return BypassOutcome(bypass)


def decision_refusal(ctx: SignetContext, bypass: Bypass, verb: str) -> SignetError | None:
    """Why the current identity may not `verb` ("approve" or "deny") this bypass, or None; the role
    is checked apart (`require_write`). The console asks too, to disable the action with the reason."""
    state = bypass.effective_state(ctx.clock())
    if state is not BypassState.REQUESTED:
        return InvalidState(f"bypass {bypass.id} is {state.value}; only a requested bypass can be "
                            f"{'approved' if verb == 'approve' else 'denied'}")
    if verb == "approve" and bypass.requester == ctx.actor:  # denying one's own request withdraws it
        return PermissionDenied(f"'{ctx.actor}' requested bypass {bypass.id} and cannot approve it")
    if any(d.approver == ctx.actor for d in bypass.decisions):
        return InvalidState(f"'{ctx.actor}' has already decided on bypass {bypass.id}")
    return None


def activate(ctx: SignetContext, bypass: Bypass) -> BypassOutcome:
    """Put a granted bypass in force: Lambda scope at once, cluster scope once its PolicyException exists."""
    warning = ""
    applied: str | None = None
    if bypass.scope.kind is ScopeKind.CLUSTER:
        doc = policy_exception(bypass, ctx.config.policy)
        try:
            cluster = require_cluster(ctx, bypass.scope.cluster or "")
            create_exception(ctx, cluster, doc)
            applied = exception_ref(cluster, doc["metadata"]["namespace"], doc["metadata"]["name"])
        except SignetError as exc:
            warning = (f"PolicyException not created ({exc}); the cluster still enforces signatures for this "
                       "workload. Signet honours the bypass until its end; `signet bypass reap` retries.")
    stale = False
    with ctx.store.write() as db:
        current = load_bypass(db, bypass.id)
        if warning:
            ctx.audit(AUDIT_PREFIX + "exception_pending", subject_of(bypass.id), {"error": warning})
        elif current.state is BypassState.APPROVED and current.honoured_at(ctx.clock()):
            set_state(db, bypass.id, BypassState.ACTIVE, exception_ref=applied)
            ctx.audit(AUDIT_PREFIX + "activate", subject_of(bypass.id),
                      {"from": current.state.value, "to": BypassState.ACTIVE.value, "exception": applied})
        elif not current.honoured_at(ctx.clock()):
            stale = applied is not None  # revoked or ended while we were creating it
        current = load_bypass(db, bypass.id)
    if stale:
        remove_exception(ctx, current, applied)
    return BypassOutcome(current, warning)


def revoke_bypass(ctx: SignetContext, bypass_id: str, *, reason: str = "") -> BypassOutcome:
    """End a granted bypass early: allowed to its requester and to any approver.

    Signet stops honouring it when this commits; the PolicyException is deleted afterwards (a
    failure is a warning: the TTL label and the reaper still remove it).
    """
    ctx.require_write(None, action="revoking a bypass")
    reason = validate_reason(reason, required=False) or "revoked"
    refusal: SignetError | None = None
    with ctx.store.write() as db:
        bypass = _settle(ctx, db, bypass_id)
        if bypass.state not in GRANTED_STATES:
            refusal = InvalidState(f"bypass {bypass.id} is {bypass.state.value}; only an approved or active "
                                   "bypass can be revoked")
        elif ctx.actor != bypass.requester and not ctx.principal.has(Role.APPROVER):
            refusal = PermissionDenied(f"only the requester or an approver can revoke bypass {bypass.id}")
        else:
            close_bypass(ctx, db, bypass, BypassState.REVOKED, reason=reason)
            bypass = load_bypass(db, bypass.id)
    if refusal is not None:
        raise refusal
    return BypassOutcome(bypass, remove_exception(ctx, bypass, bypass.exception_ref))


def remove_exception(ctx: SignetContext, bypass: Bypass, ref: str | None) -> str:
    """Delete the bypass's PolicyException (ref "<context>/<namespace>/<name>") and audit it;
    returns a warning when that failed."""
    if not ref:
        return ""
    context, namespace, name = split_ref(ref)
    try:
        deleted = delete_exception(ctx, require_cluster(ctx, context), namespace, name)
    except SignetError as exc:
        with ctx.store.write():
            ctx.audit(AUDIT_PREFIX + "exception_delete_failed", subject_of(bypass.id), {"exception": ref,
                                                                                      "error": str(exc)})
        return (f"PolicyException {ref} not deleted yet ({exc}); Kyverno's TTL label and "
                "`signet bypass reap` remove it")
    with ctx.store.write():
        ctx.audit(AUDIT_PREFIX + "exception_delete", subject_of(bypass.id),
                  {"exception": ref, "found": deleted})
    return ""


def settle_due(ctx: SignetContext) -> list[Bypass]:
    """Record every lapse and expiry that is due now (one transaction); returns the bypasses closed."""
    stamp = iso(ctx.clock())
    with ctx.store.write() as db:
        due = select_bypasses(
            db, "(state = ? AND request_expires_at <= ?) OR (state IN (?, ?) AND ends_at <= ?)",
            (BypassState.REQUESTED.value, stamp, *(s.value for s in GRANTED_STATES), stamp))
        closed = [_settle(ctx, db, b.id) for b in due]
    return closed
