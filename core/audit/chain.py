"""The append-only, hash-chained audit log.

Each entry's hash covers a canonical JSON encoding of (seq, at, actor, action, subject, details,
prev_hash); prev_hash is the previous entry's hash (GENESIS_HASH for the first). Triggers refuse
UPDATE/DELETE; anyone who goes around them with plain sqlite3 breaks the chain, and
`verify_chain` names the first bad sequence number. Truncating the newest entries cannot be seen
from the chain alone (see README, "What the audit log proves").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterator

from core.clock import Clock, iso, system_clock
from core.errors import InputError

GENESIS_HASH = "0" * 64
MAX_DETAILS_BYTES = 64 * 1024


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action,
                "subject": self.subject, "details": self.details, "prev_hash": self.prev_hash,
                "hash": self.hash}


@dataclass(frozen=True)
class ChainStatus:
    intact: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    head_hash: str = GENESIS_HASH


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(seq: int, at: str, actor: str, action: str, subject: str, details_json: str,
               prev_hash: str) -> str:
    body = canonical_json({"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject,
                           "details": json.loads(details_json), "prev_hash": prev_hash})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append_entry(db: Any, *, actor: str, action: str, subject: str, details: dict[str, Any] | None = None,
                 clock: Clock = system_clock) -> AuditEntry:
    """Append one entry. Call inside `Store.write()` so it commits with the change it records."""
    details_json = canonical_json(details or {})
    if len(details_json.encode("utf-8")) > MAX_DETAILS_BYTES:
        raise InputError(f"audit details larger than {MAX_DETAILS_BYTES} bytes")
    if not db.in_transaction:
        raise RuntimeError("append_entry must run inside a write transaction")
    last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    at = iso(clock())
    digest = entry_hash(seq, at, actor, action, subject, details_json, prev)
    db.execute(
        "INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
        (seq, at, actor, action, subject, details_json, prev, digest))
    return AuditEntry(seq, at, actor, action, subject, json.loads(details_json), prev, digest)


def _rows(db: Any, batch: int = 5000) -> Iterator[tuple[Any, ...]]:
    # Storage order is sequence order on both backends (seq is SQLite's rowid; the primary key here).
    cursor = db.execute("SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit ORDER BY seq")
    while rows := cursor.fetchmany(batch):
        yield from rows


def verify_chain(db: Any) -> ChainStatus:
    """Walk the whole chain in storage order; report the first entry that does not fit."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for seq, at, actor, action, subject, details, prev_hash, stored_hash in _rows(db):
        count += 1
        if seq != expected_seq:
            return ChainStatus(False, count, seq, f"expected sequence {expected_seq}, found {seq} "
                               "(entries deleted, inserted or reordered)", expected_prev)
        if prev_hash != expected_prev:
            return ChainStatus(False, count, seq, "previous-hash link does not match the entry before", expected_prev)
        try:
            computed = entry_hash(seq, at, actor, action, subject, details, prev_hash)
        except (ValueError, TypeError):
            return ChainStatus(False, count, seq, "details are not valid JSON", expected_prev)
        if computed != stored_hash:
            return ChainStatus(False, count, seq, "entry content does not match its hash (edited)", expected_prev)
        expected_prev = stored_hash
        expected_seq += 1
    return ChainStatus(True, count, None, "", expected_prev)


def export_entries(db: Any) -> Iterator[AuditEntry]:
    for seq, at, actor, action, subject, details, prev_hash, stored_hash in _rows(db):
        try:
            parsed = json.loads(details)
        except ValueError:
            parsed = {"unparseable": details}
        yield AuditEntry(seq, at, actor, action, subject, parsed, prev_hash, stored_hash)


def list_entries(db: Any, *, before_seq: int | None = None, limit: int = 200) -> list[AuditEntry]:
    """Newest first, keyset-paged by sequence number."""
    sql = "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit"
    params: tuple[int, ...] = ()
    if before_seq is not None:
        sql += " WHERE seq < ?"
        params = (before_seq,)
    sql += " ORDER BY seq DESC LIMIT ?"
    rows = db.execute(sql, params + (limit,)).fetchall()
    return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows]
