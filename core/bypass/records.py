"""Reading and writing bypass rows (tables bypasses and bypass_approvals of migration 0001)."""

from __future__ import annotations

from typing import Any, Iterable

from core.bypass.model import Bypass, BypassState, Decision, bypass_from_row, decision_from_row
from core.errors import NotFound

MAX_LISTED = 1000  # bound on one listing; history beyond it is in the audit log


def _decisions(db: Any, ids: Iterable[str]) -> dict[str, tuple[Decision, ...]]:
    ids = list(ids)
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    cursor = db.execute(f"SELECT * FROM bypass_approvals WHERE bypass_id IN ({marks}) ORDER BY at, approver", ids)
    names = [c[0] for c in cursor.description]
    out: dict[str, list[Decision]] = {}
    for raw in cursor.fetchall():
        row = dict(zip(names, raw, strict=True))
        out.setdefault(row["bypass_id"], []).append(decision_from_row(row))
    return {k: tuple(v) for k, v in out.items()}


def select_bypasses(db: Any, where: str = "TRUE", params: tuple[object, ...] = (), *,
                    limit: int = MAX_LISTED) -> list[Bypass]:
    """Rows matching `where` (SQL over table bypasses), newest request first, with their decisions."""
    cursor = db.execute(f"SELECT * FROM bypasses WHERE {where} ORDER BY requested_at DESC, id LIMIT ?",
                          params + (limit,))
    names = [c[0] for c in cursor.description]
    rows = [dict(zip(names, raw, strict=True)) for raw in cursor.fetchall()]
    decisions = _decisions(db, (r["id"] for r in rows))
    return [bypass_from_row(r, decisions.get(r["id"], ())) for r in rows]


def load_bypass(db: Any, bypass_id: str) -> Bypass:
    found = select_bypasses(db, "id = ?", (bypass_id,), limit=1)
    if not found:
        raise NotFound(f"no bypass with id '{bypass_id}'")
    return found[0]


def set_state(db: Any, bypass_id: str, state: BypassState, **columns: Any) -> None:
    """Update the state and the named columns of one bypass (column names are ours, never input)."""
    assignments = ", ".join(["state = ?"] + [f"{name} = ?" for name in columns])
    db.execute(f"UPDATE bypasses SET {assignments} WHERE id = ?", (state.value, *columns.values(), bypass_id))
