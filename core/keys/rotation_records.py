"""The `rotations` table's rows, read without the rotation services: listing open rotations (dashboard,
`key rotate status`) must not pay for the signing, publishing and cluster stack `core.rotation.rotation`
imports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.context import SignetContext
from core.errors import NotFound
from core.keys.inventory import KeyRecord, get_key

STEPS = ("stage", "publish", "switch", "resign", "soak", "retire", "revoke")
OPEN_STATUSES_SQL = "('pending','running','blocked','failed')"


@dataclass(frozen=True)
class RotationStatus:
    id: str
    old_key: KeyRecord
    new_key: KeyRecord | None
    step: str          # the step to run next (or running / blocked); "done" when finished
    status: str        # pending | running | blocked | failed | done | aborted
    started_at: str
    updated_at: str
    details: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.status in ("done", "aborted")

    @property
    def coverage(self) -> float | None:
        return (self.details.get("soak") or {}).get("coverage")

    @property
    def next_action(self) -> str:
        if self.status == "done":
            return "nothing: rotation finished"
        if self.status == "aborted":
            return f"nothing: rotation aborted ({self.details.get('aborted', '')})"
        if self.status == "running":
            return f"resume the interrupted '{self.step}' step"
        if self.status == "failed":
            reason = (self.details.get("failure") or {}).get("reason", "")
            return f"the '{self.step}' step failed ({reason}); fix that and run the step again"
        if self.status == "blocked":
            return ("coverage below the minimum: fix the uncovered images and run the soak again, "
                    "or retire with --force --reason")
        return f"run the '{self.step}' step"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "old_key": self.old_key.as_dict(),
                "new_key": self.new_key.as_dict() if self.new_key else None, "step": self.step,
                "status": self.status, "started_at": self.started_at, "updated_at": self.updated_at,
                "coverage": self.coverage, "next_action": self.next_action, "details": self.details}


def rotation_status(ctx: SignetContext, rotation_id: str) -> RotationStatus:
    rows = ctx.store.query("SELECT * FROM rotations WHERE id = ?", (rotation_id,))
    if not rows:
        raise NotFound(f"no rotation {rotation_id} (see `signet key rotate status`)")
    row = rows[0]
    return RotationStatus(id=row["id"], old_key=get_key(ctx, row["old_key_id"]),
                          new_key=get_key(ctx, row["new_key_id"]) if row["new_key_id"] else None,
                          step=row["step"], status=row["status"], started_at=row["started_at"],
                          updated_at=row["updated_at"], details=json.loads(row["details"] or "{}"))


def list_rotations(ctx: SignetContext, *, open_only: bool = False) -> list[RotationStatus]:
    sql = "SELECT id FROM rotations" + (f" WHERE status IN {OPEN_STATUSES_SQL}" if open_only else "")
    return [rotation_status(ctx, row["id"]) for row in ctx.store.query(sql + " ORDER BY started_at")]
