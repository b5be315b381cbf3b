"""The dashboard's figures in one read: what an on-call engineer must see first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.bypass.model import GRANTED_STATES, Bypass, BypassState
from core.bypass.records import select_bypasses
from core.clock import iso
from core.context import SignetContext
from core.history.records import count_by_result
from core.keys.overview import key_overview
from core.keys.rotation_records import list_rotations
from core.store.session import POSTGRESQL, Store

FAILING_RESULTS = ("invalid", "error", "unsigned")
OPEN_BYPASS_STATES = (BypassState.REQUESTED.value, *(s.value for s in GRANTED_STATES))


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
    unreachable: list[Unreachable] = field(default_factory=list)


def dashboard_summary(ctx: SignetContext, *, window: timedelta = timedelta(hours=24),
                      limit: int = 20) -> DashboardSummary:
    """Everything but the keys panel (see `keys_due`), from light queries only, so the first
    dashboard renders fast."""
    now = ctx.clock()
    since = iso(now - window)
    with ctx.store.read() as db:
        open_bypasses = select_bypasses(db, "state IN (?, ?, ?)", OPEN_BYPASS_STATES)
    bypasses = sorted((_time_left(b, now) for b in open_bypasses if b.remaining(now) is not None),
                      key=lambda b: b.seconds_left)[:limit]
    pending = sum(1 for b in open_bypasses if b.listing_group(now) == "pending")
    with ctx.store.read() as db:
        counts = count_by_result(db, since=since)
        attention = [Attention(r["reference"], r["digest"], r["result"], r["reason"], r["at"])
                     for r in db.query(_newest_failing_sql(db.dialect), (since, *FAILING_RESULTS, limit))]
        # Sweeps record each cluster's last error; registries are probed live by the console.
        unreachable = [Unreachable("cluster", r["name"], r["last_error"], r["last_seen_at"]) for r in db.query(
            "SELECT context AS name, last_error, last_seen_at FROM clusters WHERE last_error IS NOT NULL LIMIT ?",
            (limit,))]
    return DashboardSummary(since, counts, attention, bypasses, pending, unreachable)


def store_label(store: Store) -> str:
    """Which store this console is on, as the dashboard says it: a local file, or the team store and
    the login the database authenticated."""
    if store.backend == POSTGRESQL:
        return f"team: {store.location}"
    return "local file"


def _newest_failing_sql(dialect: str) -> str:
    """The newest result per image (by digest; rows without one, e.g. unreachable registries, by
    reference) since a time, when it is a failing one."""
    if dialect == POSTGRESQL:
        return ("SELECT * FROM (SELECT DISTINCT ON (COALESCE(digest, reference)) reference, digest, result, reason, "
                "at FROM verifications WHERE at >= ? ORDER BY COALESCE(digest, reference), at DESC, id DESC) newest "
                "WHERE result IN (?, ?, ?) ORDER BY at DESC LIMIT ?")
    # SQLite returns the other columns from the row holding MAX(at).
    return ("SELECT reference, digest, result, reason, MAX(at) AS at FROM verifications WHERE at >= ? "
            "GROUP BY COALESCE(digest, reference) HAVING result IN (?, ?, ?) ORDER BY at DESC LIMIT ?")


def _time_left(bypass: Bypass, now: datetime) -> BypassTimeLeft:
    remaining = bypass.remaining(now)
    seconds = int(remaining.total_seconds()) if remaining is not None else 0
    return BypassTimeLeft(bypass.id, bypass.digest, bypass.scope.describe(), bypass.requester,
                          iso(bypass.ends_at) if bypass.ends_at else "", seconds)


def keys_due(ctx: SignetContext, *, limit: int = 20) -> list[KeyDue]:
    """Keys needing a backup or a drill, and open rotations: table reads only (the key and rotation
    services' crypto, cloud and cluster imports stay out of it)."""
    due = [KeyDue(o.key.id, o.key.name, o.backup_status,
                  min((b.drill_due_at or "" for b in o.backups), default=""))
           for o in key_overview(ctx) if o.needs_attention]
    due += [KeyDue(r.old_key.id, r.old_key.name, f"rotation at {r.step} ({r.status})", r.updated_at)
            for r in list_rotations(ctx, open_only=True)]
    return due[:limit]


def format_time_left(seconds: float | None) -> str:
    """The one countdown text of every table and detail pane: "" without a window, "expired" at its end."""
    if seconds is None:
        return ""
    return format_seconds(int(seconds)) if seconds >= 1 else "expired"


def format_seconds(seconds: int) -> str:
    """12s, 5m03s, 2h05m, 3d04h: compact countdowns for tables."""
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
