"""The dashboard's figures in one read: what an on-call engineer must see first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.bypass.model import Bypass
from core.bypass.service import list_bypasses
from core.clock import iso
from core.context import SignetContext
from core.history.records import count_by_result

FAILING_RESULTS = ("invalid", "error", "unsigned")
# Rotations in these states need nobody's attention.
_ROTATION_DONE = ("completed", "done", "aborted", "cancelled", "failed-rolled-back")


@dataclass(frozen=True)
class Attention:
    """An image whose newest verification in the window did not pass."""
    reference: str
    digest: str | None
    result: str
    reason: str
    at: str


@dataclass(frozen=True)
class BypassTimeLeft:
    id: str
    digest: str
    scope: str
    requester: str
    ends_at: str
    seconds_left: int


@dataclass(frozen=True)
class KeyDue:
    key_id: str
    name: str
    what: str
    due_at: str = ""


@dataclass(frozen=True)
class Unreachable:
    kind: str  # registry | cluster
    name: str
    error: str
    last_seen_at: str | None


@dataclass(frozen=True)
class DashboardSummary:
    since: str
    counts: dict[str, int]
    attention: list[Attention] = field(default_factory=list)
    bypasses: list[BypassTimeLeft] = field(default_factory=list)
    pending_bypasses: int = 0
    keys_due: list[KeyDue] = field(default_factory=list)
    unreachable: list[Unreachable] = field(default_factory=list)


def dashboard_summary(ctx: SignetContext, *, window: timedelta = timedelta(hours=24),
                      limit: int = 20) -> DashboardSummary:
    now = ctx.clock()
    since = iso(now - window)
    open_bypasses = list_bypasses(ctx)
    bypasses = sorted((_time_left(b, now) for b in open_bypasses if b.remaining(now) is not None),
                      key=lambda b: b.seconds_left)[:limit]
    pending = sum(1 for b in open_bypasses if b.listing_group(now) == "pending")
    with ctx.store.read() as db:
        counts = count_by_result(db, since=since)
        attention = [Attention(r["reference"], r["digest"], r["result"], r["reason"], r["at"]) for r in db.query(
            # SQLite returns the other columns from the row holding MAX(at): the newest result per image.
            "SELECT reference, digest, result, reason, MAX(at) AS at FROM verifications WHERE at >= ? "
            "GROUP BY reference HAVING result IN (?, ?, ?) ORDER BY at DESC LIMIT ?",
            (since, *FAILING_RESULTS, limit))]
        keys_due = _keys_due(db, now, limit)
        unreachable = [Unreachable(kind, r["name"], r["last_error"], r["last_seen_at"]) for kind, sql in (
            ("registry", "SELECT name, last_error, last_seen_at FROM registries WHERE last_error IS NOT NULL"),
            ("cluster", "SELECT context AS name, last_error, last_seen_at FROM clusters WHERE last_error IS NOT NULL"),
        ) for r in db.query(sql + " LIMIT ?", (limit,))]
    return DashboardSummary(since, counts, attention, bypasses, pending, keys_due, unreachable)


def _time_left(bypass: Bypass, now: datetime) -> BypassTimeLeft:
    remaining = bypass.remaining(now)
    seconds = int(remaining.total_seconds()) if remaining is not None else 0
    return BypassTimeLeft(bypass.id, bypass.digest, bypass.scope.describe(), bypass.requester,
                          iso(bypass.ends_at) if bypass.ends_at else "", seconds)


def _keys_due(db: Any, now: datetime, limit: int) -> list[KeyDue]:
    due: list[KeyDue] = []
    for r in db.query("SELECT k.id, k.name, b.drill_due_at FROM backups b JOIN keys k ON k.id = b.key_id "
                      "WHERE k.state IN ('active', 'staged', 'retiring') AND b.drill_due_at <= ? "
                      "ORDER BY b.drill_due_at LIMIT ?", (iso(now), limit)):
        due.append(KeyDue(r["id"], r["name"], "backup drill due", r["drill_due_at"]))
    for r in db.query("SELECT id, name FROM keys WHERE location = 'local' AND state IN ('active', 'staged') "
                      "AND id NOT IN (SELECT key_id FROM backups) ORDER BY name LIMIT ?", (limit,)):
        due.append(KeyDue(r["id"], r["name"], "no backup"))
    marks = ",".join("?" * len(_ROTATION_DONE))
    for r in db.query(f"SELECT r.id, r.step, r.status, r.updated_at, k.id AS key_id, k.name FROM rotations r "
                      f"JOIN keys k ON k.id = r.old_key_id WHERE r.status NOT IN ({marks}) ORDER BY r.updated_at "
                      f"LIMIT ?", (*_ROTATION_DONE, limit)):
        due.append(KeyDue(r["key_id"], r["name"], f"rotation at step {r['step']} ({r['status']})", r["updated_at"]))
    return due[:limit]


def format_seconds(seconds: int) -> str:
    """12s, 5m03s, 2h05m, 3d04h: compact countdowns for tables."""
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
