"""One row per key with its backups and whether a restore drill is overdue (for `key list` and the console)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.context import SignetContext
from core.keys.backup_records import BackupRecord, list_backups
from core.keys.inventory import TRUSTED_STATES, KeyRecord, list_keys


@dataclass(frozen=True)
class KeyOverview:
    key: KeyRecord
    backups: tuple[BackupRecord, ...]
    backup_status: str  # ok | drill overdue | no backup | not applicable

    @property
    def needs_attention(self) -> bool:
        return self.backup_status in ("drill overdue", "no backup")

    @property
    def needs_drills(self) -> bool:
        """Only a key that still signs or is trusted needs its backups drilled (not revoked/retired/KMS)."""
        return self.backup_status != "not applicable"

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {**self.key.as_dict(), "backup_status": self.backup_status,
                "drill_overdue": self.backup_status == "drill overdue",
                "backups": [b.as_dict(now) for b in self.backups]}


def key_overview(ctx: SignetContext) -> list[KeyOverview]:
    now = ctx.clock()
    by_key: dict[str, list[BackupRecord]] = {}
    for backup in list_backups(ctx):
        by_key.setdefault(backup.key_id, []).append(backup)
    rows = []
    for key in list_keys(ctx):
        backups = tuple(by_key.get(key.id, ()))
        rows.append(KeyOverview(key=key, backups=backups, backup_status=_status(key, backups, now)))
    return rows


def _status(key: KeyRecord, backups: tuple[BackupRecord, ...], now: datetime) -> str:
    # Only keys that still sign or are trusted need a restorable backup; KMS keys cannot be exported.
    if key.state not in TRUSTED_STATES or key.location in ("kms", "public"):
        return "not applicable"
    if not backups:
        return "no backup"
    if all(b.drill_overdue(now) for b in backups):
        return "drill overdue"
    return "ok"
