"""What a bypass is: its states, its scope and the decisions recorded on it.

A bypass grants nothing by being requested. Signet honours it only while its state is
`approved` or `active` and the clock is inside [starts_at, ends_at); `approved` means the grant is
decided but the cluster-side PolicyException is not (yet) in place, `active` that it is (Lambda
scope has no cluster object, so it goes straight to `active`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from core.clock import iso, parse_iso


class BypassState(str, Enum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"
    LAPSED = "lapsed"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


GRANTED_STATES = (BypassState.APPROVED, BypassState.ACTIVE)
EXPIRING_SOON = timedelta(hours=1)  # listed apart so on-call sees what is about to end
# How `bypass list` and the console group bypasses, in that order, with the words people read.
LISTING_GROUPS = (("expiring_soon", "expiring within the hour"), ("active", "active"),
                  ("pending", "waiting for approval"), ("history", "history"))
CLOSED_STATES = (BypassState.DENIED, BypassState.LAPSED, BypassState.EXPIRED, BypassState.REVOKED)


class ScopeKind(str, Enum):
    CLUSTER = "cluster"
    LAMBDA = "lambda"


@dataclass(frozen=True)
class BypassScope:
    """Where a bypass applies: a cluster namespace (optionally one workload) or one Lambda function."""

    kind: ScopeKind
    cluster: str | None = None
    namespace: str | None = None
    workload: str | None = None
    function: str | None = None
    region: str | None = None

    def describe(self) -> str:
        if self.kind is ScopeKind.CLUSTER:
            return f"{self.cluster}/{self.namespace}" + (f"/{self.workload}" if self.workload else "")
        return f"lambda:{self.region}/{self.function}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "cluster": self.cluster, "namespace": self.namespace,
                "workload": self.workload, "function": self.function, "region": self.region}


@dataclass(frozen=True)
class Decision:
    """One approver's vote (row of bypass_approvals)."""

    approver: str
    decision: str  # approve | deny
    reason: str | None
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"approver": self.approver, "decision": self.decision, "reason": self.reason, "at": iso(self.at)}


@dataclass(frozen=True)
class Bypass:
    id: str
    state: BypassState
    requester: str
    scope: BypassScope
    digest: str
    justification: str
    ticket: str
    duration_seconds: int
    requested_at: datetime
    request_expires_at: datetime
    approved_at: datetime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    close_reason: str | None = None
    exception_ref: str | None = None  # "<context>/<namespace>/<name>" of the PolicyException we created
    decisions: tuple[Decision, ...] = ()

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(d.approver for d in self.decisions if d.decision == "approve")

    def honoured_at(self, now: datetime) -> bool:
        """True only for a granted bypass whose window contains `now` (the end itself is outside)."""
        return (self.state in GRANTED_STATES and self.starts_at is not None and self.ends_at is not None
                and self.starts_at <= now < self.ends_at)

    def effective_state(self, now: datetime) -> BypassState:
        """The state the reaper would record now: a passed end or request TTL counts even before it runs."""
        if self.state in GRANTED_STATES and self.ends_at is not None and now >= self.ends_at:
            return BypassState.EXPIRED
        if self.state is BypassState.REQUESTED and now >= self.request_expires_at:
            return BypassState.LAPSED
        return self.state

    def remaining(self, now: datetime) -> timedelta | None:
        """Time left for a bypass honoured now; None otherwise."""
        if not self.honoured_at(now):
            return None
        assert self.ends_at is not None
        return self.ends_at - now

    def listing_group(self, now: datetime) -> str:  # one of LISTING_GROUPS
        """expiring_soon | active | pending | history: how `bypass list` and the console group it."""
        remaining = self.remaining(now)
        if remaining is not None:
            return "expiring_soon" if remaining <= EXPIRING_SOON else "active"
        if self.effective_state(now) is BypassState.REQUESTED:
            return "pending"
        return "history"

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """Stable field names for `--json` and the console."""
        out: dict[str, Any] = {
            "id": self.id, "state": self.state.value, "requester": self.requester, "scope": self.scope.as_dict(),
            "digest": self.digest, "justification": self.justification, "ticket": self.ticket,
            "duration_seconds": self.duration_seconds, "requested_at": iso(self.requested_at),
            "request_expires_at": iso(self.request_expires_at),
            "approved_at": _iso_or_none(self.approved_at), "starts_at": _iso_or_none(self.starts_at),
            "ends_at": _iso_or_none(self.ends_at), "closed_at": _iso_or_none(self.closed_at),
            "closed_by": self.closed_by, "close_reason": self.close_reason, "exception_ref": self.exception_ref,
            "approvers": list(self.approvers), "decisions": [d.as_dict() for d in self.decisions],
        }
        if now is not None:
            remaining = self.remaining(now)
            out["effective_state"] = self.effective_state(now).value
            out["group"] = self.listing_group(now)
            out["remaining_seconds"] = int(remaining.total_seconds()) if remaining is not None else None
        return out


def _iso_or_none(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None


def bypass_from_row(row: dict[str, Any], decisions: tuple[Decision, ...] = ()) -> Bypass:
    scope = BypassScope(kind=ScopeKind(row["scope_kind"]), cluster=row["cluster"], namespace=row["namespace"],
                        workload=row["workload"], function=row["function_name"], region=row["region"])
    return Bypass(
        id=row["id"], state=BypassState(row["state"]), requester=row["requester"], scope=scope,
        digest=row["digest"], justification=row["justification"], ticket=row["ticket"],
        duration_seconds=int(row["duration_seconds"]), requested_at=parse_iso(row["requested_at"]),
        request_expires_at=parse_iso(row["request_expires_at"]), approved_at=_dt(row["approved_at"]),
        starts_at=_dt(row["starts_at"]), ends_at=_dt(row["ends_at"]), closed_at=_dt(row["closed_at"]),
        closed_by=row["closed_by"], close_reason=row["close_reason"], exception_ref=row["exception_ref"],
        decisions=decisions)


def decision_from_row(row: dict[str, Any]) -> Decision:
    return Decision(approver=row["approver"], decision=row["decision"], reason=row["reason"], at=parse_iso(row["at"]))


@dataclass(frozen=True)
class BypassOutcome:
    """What an action did: the bypass as it now stands, a warning when the cluster side lagged
    (e.g. the PolicyException could not be created or deleted yet), and for an approval the
    `digest_warning` it was recorded with (the digest is not what the target runs: core/bypass/running.py)."""

    bypass: Bypass
    warning: str = ""
    digest_warning: str = ""

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        return {"bypass": self.bypass.as_dict(now), "warning": self.warning, "digest_warning": self.digest_warning}
