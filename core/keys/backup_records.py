"""The `backups` table's rows, read without the backup services: the key overview (dashboard, `key
list`) needs them and must not pay for the crypto and custody stack `core.keys.backup` imports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.clock import parse_iso
from core.context import SignetContext


@dataclass(frozen=True)
class BackupRecord:
    """One row of `backups`: where it is, who holds which share, when it was last proven to restore."""

    id: str
    key_id: str
    scheme: str
    threshold: int | None
    share_count: int | None
    location: str
    custodians: tuple[dict[str, Any], ...]
    created_at: str
    last_tested_at: str | None
    last_test_result: str | None
    drill_due_at: str | None

    def drill_overdue(self, now: datetime) -> bool:
        return self.drill_due_at is None or parse_iso(self.drill_due_at) <= now

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        out = {"id": self.id, "key_id": self.key_id, "scheme": self.scheme, "threshold": self.threshold,
               "share_count": self.share_count, "location": self.location, "custodians": list(self.custodians),
               "created_at": self.created_at, "last_tested_at": self.last_tested_at,
               "last_test_result": self.last_test_result, "drill_due_at": self.drill_due_at}
        if now is not None:
            out["drill_overdue"] = self.drill_overdue(now)
        return out


def list_backups(ctx: SignetContext, key_id: str | None = None) -> list[BackupRecord]:
    sql = "SELECT * FROM backups"
    params: tuple[str, ...] = ()
    if key_id:
        sql, params = sql + " WHERE key_id = ?", (key_id,)
    return [backup_record(row) for row in ctx.store.query(sql + " ORDER BY created_at", params)]


def backup_record(row: dict[str, Any]) -> BackupRecord:
    return BackupRecord(id=row["id"], key_id=row["key_id"], scheme=row["scheme"], threshold=row["threshold"],
                        share_count=row["share_count"], location=row["location"],
                        custodians=tuple(json.loads(row["custodians"] or "[]")), created_at=row["created_at"],
                        last_tested_at=row["last_tested_at"], last_test_result=row["last_test_result"],
                        drill_due_at=row["drill_due_at"])
