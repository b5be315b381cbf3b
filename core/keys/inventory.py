"""The key inventory (table `keys`): what keys exist, where they live, their state, who trusts them.

Only public material is stored here. Private keys live encrypted in the local key store, in
Secrets Manager (encrypted cosign PEM), or never leave KMS.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from core.clock import iso
from core.context import SignetContext
from core.errors import InputError, InvalidState, NotFound
from core.store.session import StoreSession

if TYPE_CHECKING:  # loading keys needs the crypto stack; listing them (dashboard, key list) does not
    from core.crypto.public_keys import TrustedKey

STATES = ("staged", "active", "retiring", "retired", "revoked")
LOCATIONS = ("local", "secretsmanager", "kms", "public")
TRUSTED_STATES = ("active", "retiring", "staged")
SIGNING_STATES = ("active",)
MAX_NAME_LEN = 64
MIN_FINGERPRINT_PREFIX = 6
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")  # \Z: $ would accept a trailing newline
# Which state may follow which; everything else is refused (revocation is final).
_TRANSITIONS = {
    "staged": ("active", "revoked"),
    "active": ("retiring", "revoked"),
    "retiring": ("active", "retired", "revoked"),
    "retired": ("revoked",),
    "revoked": (),
}
_DATE_COLUMN = {"active": "activated_at", "retired": "retired_at", "revoked": "revoked_at"}


@dataclass(frozen=True)
class KeyRecord:
    """One row of `keys`."""

    id: str
    name: str
    fingerprint: str
    algorithm: str
    location: str
    location_ref: str | None
    public_pem: str
    state: str
    created_at: str
    activated_at: str | None = None
    retired_at: str | None = None
    revoked_at: str | None = None
    custodians: tuple[str, ...] = ()
    trusted_by: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return self.fingerprint[:16]

    def trusted_key(self) -> TrustedKey:
        from core.crypto.public_keys import load_public_key

        return load_public_key(self.public_pem.encode(), name=self.name)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "fingerprint": self.fingerprint, "algorithm": self.algorithm,
                "location": self.location, "location_ref": self.location_ref, "state": self.state,
                "created_at": self.created_at, "activated_at": self.activated_at,
                "retired_at": self.retired_at, "revoked_at": self.revoked_at,
                "custodians": list(self.custodians), "trusted_by": list(self.trusted_by)}


def new_key_id() -> str:
    return "key_" + secrets.token_hex(6)


def validate_name(name: str) -> str:
    if not name or len(name) > MAX_NAME_LEN or not _NAME_RE.match(name):
        raise InputError(f"key name must be 1-{MAX_NAME_LEN} characters of letters, digits, '.', '_' or '-' "
                         "and start with a letter or digit")
    return name


def list_keys(ctx: SignetContext, *, states: Sequence[str] = ()) -> list[KeyRecord]:
    sql = "SELECT * FROM keys"
    params: list[Any] = []
    if states:
        sql += f" WHERE state IN ({','.join('?' * len(states))})"
        params.extend(states)
    return [_record(row) for row in ctx.store.query(sql + " ORDER BY created_at, name", tuple(params))]


def get_key(ctx: SignetContext, key_id: str) -> KeyRecord:
    rows = ctx.store.query("SELECT * FROM keys WHERE id = ?", (key_id,))
    if not rows:
        raise NotFound(f"no key with id {key_id}")
    return _record(rows[0])


def find_key(ctx: SignetContext, ref: str) -> KeyRecord:
    """A key by id, exact name, or fingerprint prefix (at least 6 hex digits, optionally 'sha256:')."""
    ref = ref.strip()
    if not ref:
        raise InputError("empty key reference")
    for column in ("id", "name"):
        rows = ctx.store.query(f"SELECT * FROM keys WHERE {column} = ?", (ref,))
        if rows:
            return _record(rows[0])
    prefix = ref.lower().removeprefix("sha256:")
    if re.fullmatch(r"[0-9a-f]+", prefix) and len(prefix) >= MIN_FINGERPRINT_PREFIX:
        rows = ctx.store.query("SELECT * FROM keys WHERE fingerprint LIKE ? ORDER BY name LIMIT 5",
                               (prefix + "%",))
        if len(rows) == 1:
            return _record(rows[0])
        if len(rows) > 1:
            names = ", ".join(r["name"] for r in rows)
            raise InputError(f"key reference '{ref}' is ambiguous: it matches {names}; give more of the fingerprint")
    raise NotFound(f"no key with id, name or fingerprint prefix '{ref}' (see `signet key list`)")


def trusted_keys(ctx: SignetContext, states: Sequence[str] = TRUSTED_STATES) -> list[TrustedKey]:
    """Public keys of keys in `states`, ready for a TrustPolicy or a generated verifier policy."""
    return [record.trusted_key() for record in list_keys(ctx, states=states)]


def insert_key(ctx: SignetContext, db: StoreSession, *, key_id: str, name: str, trusted: TrustedKey,
               location: str, location_ref: str | None, state: str,
               custodians: Sequence[str] = ()) -> KeyRecord:
    """Add a key row and its 'created' event; call inside `ctx.store.write()` next to `ctx.audit`."""
    if location not in LOCATIONS or state not in STATES:
        raise InputError(f"bad key location '{location}' or state '{state}'")
    validate_name(name)
    clash = db.execute("SELECT name FROM keys WHERE name = ? OR fingerprint = ?",
                       (name, trusted.fingerprint)).fetchone()
    if clash:
        raise InvalidState(f"key '{clash[0]}' already has this name or fingerprint {trusted.fingerprint[:16]}")
    now = iso(ctx.clock())
    db.insert("keys", {
        "id": key_id, "name": name, "fingerprint": trusted.fingerprint, "algorithm": trusted.algorithm,
        "location": location, "location_ref": location_ref, "public_pem": trusted.pem().decode(),
        "state": state, "created_at": now, "activated_at": now if state == "active" else None,
        "custodians": json.dumps(list(custodians)), "trusted_by": "[]",
    })
    record_key_event(ctx, db, key_id, "created", {"state": state, "location": location})
    return _fetch(db, key_id)


def set_key_state(ctx: SignetContext, db: StoreSession, key_id: str, state: str,
                  details: dict[str, Any] | None = None) -> KeyRecord:
    """Move a key to `state` (allowed transitions only; same state is a no-op so steps can be re-run)."""
    row = db.execute("SELECT state FROM keys WHERE id = ?", (key_id,)).fetchone()
    if row is None:
        raise NotFound(f"no key with id {key_id}")
    current = row[0]
    if current != state:
        if state not in _TRANSITIONS[current]:
            raise InvalidState(f"key {key_id} cannot go from {current} to {state}")
        now = iso(ctx.clock())
        column = _DATE_COLUMN.get(state)
        extra = f", {column} = ?" if column else ""
        db.execute(f"UPDATE keys SET state = ?{extra} WHERE id = ?",
                   (state, now, key_id) if column else (state, key_id))
        record_key_event(ctx, db, key_id, f"state:{state}", {"from": current, **(details or {})})
    return _fetch(db, key_id)


def set_trusted_by(db: StoreSession, key_id: str, verifiers: Sequence[str]) -> None:
    db.execute("UPDATE keys SET trusted_by = ? WHERE id = ?", (json.dumps(sorted(set(verifiers))), key_id))


def record_key_event(ctx: SignetContext, db: StoreSession, key_id: str, event: str,
                     details: dict[str, Any]) -> None:
    db.insert("key_events", {"key_id": key_id, "at": iso(ctx.clock()), "actor": ctx.actor, "event": event,
                             "details": json.dumps(details, sort_keys=True)})


def _fetch(db: StoreSession, key_id: str) -> KeyRecord:
    return _record(next(db.query("SELECT * FROM keys WHERE id = ?", (key_id,))))


def _record(row: dict[str, Any]) -> KeyRecord:
    return KeyRecord(
        id=row["id"], name=row["name"], fingerprint=row["fingerprint"], algorithm=row["algorithm"],
        location=row["location"], location_ref=row["location_ref"], public_pem=row["public_pem"],
        state=row["state"], created_at=row["created_at"], activated_at=row["activated_at"],
        retired_at=row["retired_at"], revoked_at=row["revoked_at"],
        custodians=tuple(json.loads(row["custodians"] or "[]")),
        trusted_by=tuple(json.loads(row["trusted_by"] or "[]")))
