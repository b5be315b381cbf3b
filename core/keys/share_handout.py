"""Which custodians received their share of a new backup, recorded once the hand-out ends.

Signet keeps no share, so a share not handed out when the hand-out ends is gone for good: the record
(a key event and an audit entry, names and share numbers only) is what later tells a custodian team
whether the backup can still be restored and who holds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from core.context import SignetContext
from core.identity import Role
from core.keys.backup import CreatedBackup, IssuedShare
from core.keys.inventory import record_key_event


@dataclass(frozen=True)
class ShareHandout:
    backup_id: str
    handed_out: tuple[IssuedShare, ...]
    not_handed_out: tuple[IssuedShare, ...]
    needed: int

    @property
    def restorable(self) -> bool:
        return len(self.handed_out) >= self.needed

    def details(self) -> dict[str, object]:
        """What the audit entry and the key event say (never a share's words)."""
        return {"backup_id": self.backup_id, "needed": self.needed, "restorable": self.restorable,
                "handed_out": [_holder(s) for s in self.handed_out],
                "not_handed_out": [_holder(s) for s in self.not_handed_out]}


def record_share_handout(ctx: SignetContext, created: CreatedBackup, handed_out: Sequence[int]) -> ShareHandout:
    """Record that the shares numbered `handed_out` reached their custodians and the others did not."""
    ctx.require_write(Role.CUSTODIAN, action="recording a share hand-out")
    given = set(handed_out)
    outcome = ShareHandout(backup_id=created.record.id,
                           handed_out=tuple(s for s in created.shares if s.index in given),
                           not_handed_out=tuple(s for s in created.shares if s.index not in given),
                           needed=created.record.threshold or 1)
    with ctx.store.write() as db:
        record_key_event(ctx, db, created.record.key_id, "backup.shares", outcome.details())
        ctx.audit("key.backup.shares", created.record.key_id, outcome.details())
    return outcome


def holder_name(share: IssuedShare) -> str:
    """The custodian a share is for, or its number when the backup names none."""
    return share.custodian or f"share-{share.index}"


def _holder(share: IssuedShare) -> dict[str, object]:
    return {"index": share.index, "custodian": share.custodian}
