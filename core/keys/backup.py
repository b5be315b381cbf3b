"""Encrypted key backups with M-of-N custodian shares (SLIP-39) or a passphrase, and restore drills.

The private key (PKCS#8 DER) is sealed with AES-256-GCM under a random 32-byte data key; the AAD
binds the format version, backup id, key fingerprint and protection metadata (share parameters and
custodians, or KDF parameters), so a file edited to claim another key or other holders fails to open.
The data key (not the key itself: shares stay short and AEAD detects a bad reconstruction) is split
into SLIP-39 shares or wrapped under scrypt(passphrase).

Shares are returned once to the caller for printing and never stored or logged. Library error
messages that quote share words are never passed on: share problems are reported by position.
The backup file is versioned, self-describing JSON (see `BACKUP_FORMAT`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

import shamir_mnemonic
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from shamir_mnemonic.share import Share

from core.audit.chain import canonical_json
from core.clock import iso
from core.context import SignetContext
from core.crypto.public_keys import fingerprint, load_public_key, public_key_pem
from core.errors import CheckFailed, InputError, InvalidState, WrongPassphrase
from core.identity import Role
from core.keys.cosign_format import (
    PrivateKey,
    derive_scrypt_key,
    encrypt_cosign_private_key,
    load_pkcs8_private_key,
)
from core.keys.custody import PassphraseProvider, check_new_passphrase, key_store, open_private_key
from core.keys.inventory import KeyRecord, find_key, insert_key, new_key_id, record_key_event
from core.files import read_limited_file
from core.keys.backup_records import BackupRecord, backup_record
from core.keys.local_store import write_secret_file

BACKUP_FORMAT = "signet-key-backup"
BACKUP_VERSION = 1
BACKUP_SCRYPT_N = 1 << 16
MAX_BACKUP_BYTES = 256 * 1024
MAX_SHARES = 16  # SLIP-39's limit per group
MAX_SHARE_CHARS = 1024
GCM_NONCE_BYTES = 12
_BOUND_PROTECTION = ("scheme", "standard", "threshold", "share_count", "identifier", "custodians", "kdf", "cipher")


@dataclass(frozen=True)
class ShareScheme:
    """Split the data key into `count` shares, any `threshold` of which restore it."""

    threshold: int
    count: int
    custodians: tuple[str, ...] = ()  # custodian i holds share i (1-based); never the share itself

    @classmethod
    def parse(cls, text: str, custodians: Sequence[str] = ()) -> "ShareScheme":
        """'3-of-5' (also '3/5')."""
        parts = text.lower().replace("/", "-of-").split("-of-")
        try:
            threshold, count = (int(p) for p in parts)
        except ValueError:
            raise InputError(f"shares must look like M-of-N (e.g. 3-of-5), not '{text[:40]}'") from None
        return cls(threshold=threshold, count=count, custodians=tuple(custodians))


@dataclass(frozen=True)
class PassphraseScheme:
    passphrase: bytes = field(repr=False)


@dataclass(frozen=True)
class IssuedShare:
    index: int
    custodian: str
    mnemonic: str = field(repr=False)


@dataclass(frozen=True)
class CreatedBackup:
    record: BackupRecord
    path: Path
    shares: tuple[IssuedShare, ...] = ()


@dataclass(frozen=True)
class BackupFile:
    """A parsed backup file (public parts only until opened)."""

    backup_id: str
    key_id: str
    key_name: str
    fingerprint: str
    public_pem: str
    scheme: str
    threshold: int | None
    share_count: int | None
    identifier: int | None
    custodians: tuple[dict[str, Any], ...]
    doc: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class DrillResult:
    backup_id: str
    fingerprint: str
    ok: bool
    reason: str
    tested_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"backup_id": self.backup_id, "fingerprint": self.fingerprint, "ok": self.ok,
                "reason": self.reason, "tested_at": self.tested_at}


def default_backup_dir(ctx: SignetContext) -> Path:
    return ctx.paths.key_store.parent / "backups"


def create_backup(ctx: SignetContext, key_ref: str, scheme: ShareScheme | PassphraseScheme, *,
                  passphrase_provider: PassphraseProvider, out: Path | None = None) -> CreatedBackup:
    """Write an encrypted backup of a local or Secrets Manager key and record it in the inventory."""
    ctx.require_write(Role.CUSTODIAN, action="key backup")
    record = find_key(ctx, key_ref)
    if record.location == "kms":
        raise InvalidState(f"key {record.name} lives in KMS and cannot be exported; protect it with KMS "
                           "deletion windows and key policy instead")
    if record.state == "revoked":
        raise InvalidState(f"key {record.name} is revoked; it must not be backed up")
    validate_scheme(scheme)
    private = open_private_key(ctx, record, passphrase_provider)
    backup_id = "bkp_" + secrets.token_hex(6)
    path = Path(out) if out else default_backup_dir(ctx) / f"{record.name}-{backup_id}.json"
    doc, shares = _seal(record, private, backup_id, scheme, created_at=iso(ctx.clock()))
    if not out:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_secret_file(path, json.dumps(doc, indent=2).encode() + b"\n")
    custodians = tuple(doc["protection"].get("custodians", []))
    row = {"id": backup_id, "key_id": record.id, "scheme": doc["protection"]["scheme"],
           "threshold": getattr(scheme, "threshold", None), "share_count": getattr(scheme, "count", None),
           "location": str(path.resolve()), "custodians": json.dumps(list(custodians)),
           "created_at": doc["created_at"], "last_tested_at": None, "last_test_result": None,
           # Not yet restored once: a backup is only known good after a drill, so it is due now.
           "drill_due_at": doc["created_at"]}
    try:
        with ctx.store.write() as db:
            db.insert("backups", row)
            record_key_event(ctx, db, record.id, "backup", {"backup_id": backup_id, "scheme": row["scheme"]})
            ctx.audit("key.backup", record.id, {"backup_id": backup_id, "fingerprint": record.fingerprint,
                                                "scheme": row["scheme"], "threshold": row["threshold"],
                                                "share_count": row["share_count"], "location": row["location"],
                                                "custodians": list(custodians)})
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return CreatedBackup(record=backup_record(row), path=path, shares=shares)


def read_backup_file(path: Path) -> BackupFile:
    """Parse a backup file. It is encrypted, so (unlike key files) its mode is not checked: copies
    come back from offline media with whatever mode they got there."""
    data = read_limited_file(path, MAX_BACKUP_BYTES, what="backup file")
    try:
        doc = json.loads(data)
        if doc.get("format") != BACKUP_FORMAT:
            raise InputError(f"{path} is not a Signet key backup")
        if doc.get("version") != BACKUP_VERSION:
            raise InputError(f"backup format version {doc.get('version')} is not supported (this Signet reads "
                             f"version {BACKUP_VERSION})")
        key, protection = doc["key"], doc["protection"]
        scheme = protection["scheme"]
        if scheme not in ("shares", "passphrase"):
            raise InputError(f"unknown backup protection '{scheme}'")
        parsed = BackupFile(
            backup_id=str(doc["backup_id"]), key_id=str(key["id"]), key_name=str(key["name"]),
            fingerprint=str(key["fingerprint"]), public_pem=str(key["public_pem"]), scheme=scheme,
            threshold=protection.get("threshold"), share_count=protection.get("share_count"),
            identifier=protection.get("identifier"), custodians=tuple(protection.get("custodians", [])), doc=doc)
        if load_public_key(parsed.public_pem.encode()).fingerprint != parsed.fingerprint:
            raise InputError("the backup's public key does not match its recorded fingerprint")
        _check_fields(doc)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):  # RecursionError: [[[[... nesting
        raise InputError(f"backup file {path} is corrupt (not the expected JSON structure)") from None
    return parsed


def open_backup(backup: BackupFile, *, shares: Sequence[str] = (), passphrase: bytes | None = None) -> PrivateKey:
    """Decrypt a backup with M shares or its passphrase; the key must have the recorded fingerprint."""
    try:
        return _open(backup, shares, passphrase)
    except (KeyError, TypeError, AttributeError):
        raise InputError(f"backup {backup.backup_id} is corrupt (fields missing or of the wrong type)") from None


def _open(backup: BackupFile, shares: Sequence[str], passphrase: bytes | None) -> PrivateKey:
    doc = backup.doc
    aad = _aad(backup.backup_id, backup.fingerprint, doc["protection"])
    if backup.scheme == "shares":
        data_key = _combine_shares(backup, shares)
    else:
        if passphrase is None:
            raise InputError("this backup is protected by a passphrase; give it")
        wrap = doc["protection"]
        kek = derive_scrypt_key(passphrase, _b64d(wrap["kdf"]["salt"]), _scrypt_n(wrap["kdf"]))
        try:
            data_key = AESGCM(kek).decrypt(_b64d(wrap["nonce"]), _b64d(wrap["wrapped_key"]), aad)
        except InvalidTag:
            raise WrongPassphrase("wrong passphrase for this backup (or the file was altered)") from None
    payload = doc["payload"]
    try:
        der = AESGCM(data_key).decrypt(_b64d(payload["nonce"]), _b64d(payload["ciphertext"]), aad)
    except (InvalidTag, ValueError):
        raise CheckFailed("the backup did not decrypt: the file was altered or the shares reconstruct another "
                          "key") from None
    private = load_pkcs8_private_key(der)
    if fingerprint(private.public_key()) != backup.fingerprint:
        raise CheckFailed("the backup decrypted to a key with a different fingerprint than recorded")
    return private


def drill_backup(ctx: SignetContext, path: Path, *, shares: Sequence[str] = (),
                passphrase: bytes | None = None) -> DrillResult:
    """Restore drill: prove the backup opens to the recorded key, write nothing but the drill record."""
    ctx.require_write(Role.CUSTODIAN, action="backup restore drill")
    backup = read_backup_file(path)
    now = ctx.clock()
    try:
        open_backup(backup, shares=shares, passphrase=passphrase)
    except (CheckFailed, WrongPassphrase) as exc:
        # The backup itself failed (altered, or its passphrase no longer opens it). A mistyped or
        # missing share is the caller's input error and says nothing about the backup: not recorded.
        _record_drill(ctx, backup, now, ok=False, reason=str(exc))
        raise
    _record_drill(ctx, backup, now, ok=True, reason="decrypted to the recorded fingerprint")
    return DrillResult(backup_id=backup.backup_id, fingerprint=backup.fingerprint, ok=True,
                       reason="decrypted to the recorded fingerprint", tested_at=iso(now))


def restore_backup(ctx: SignetContext, path: Path, *, new_passphrase: bytes, shares: Sequence[str] = (),
                   passphrase: bytes | None = None, name: str | None = None) -> KeyRecord:
    """Put the key back into the local store, encrypted under `new_passphrase` (cosign format).

    If the inventory knows the key and its stored copy is readable, nothing is done (InvalidState);
    if its local file is lost, the file is rewritten; if the key is unknown it is added as a local key.
    """
    ctx.require_write(Role.CUSTODIAN, action="key restore")
    backup = read_backup_file(path)
    private = open_backup(backup, shares=shares, passphrase=passphrase)
    encrypted = encrypt_cosign_private_key(private, check_new_passphrase(new_passphrase))
    public_pem = public_key_pem(private.public_key())
    store = key_store(ctx)
    known = ctx.store.query("SELECT id FROM keys WHERE fingerprint = ?", (backup.fingerprint,))
    if known:
        record = find_key(ctx, known[0]["id"])
        if record.location != "local" or store.private_path(record.id).exists():
            raise InvalidState(f"key {record.name} is already present ({record.location}); nothing to restore. "
                               "Use `signet key backup test` for a drill")
        if record.state == "revoked":
            raise InvalidState(f"key {record.name} is revoked; it must not be restored")
        store.write_key(record.id, encrypted, public_pem)
        with ctx.store.write() as db:
            record_key_event(ctx, db, record.id, "restored", {"backup_id": backup.backup_id})
            ctx.audit("key.restore", record.id, {"backup_id": backup.backup_id, "fingerprint": record.fingerprint,
                                                 "into": "local"})
        return record
    key_id = new_key_id()
    store.write_key(key_id, encrypted, public_pem)
    try:
        with ctx.store.write() as db:
            record = insert_key(ctx, db, key_id=key_id, name=name or backup.key_name,
                                trusted=load_public_key(public_pem, name=name or backup.key_name), location="local",
                                location_ref=str(store.private_path(key_id)), state="active")
            ctx.audit("key.restore", key_id, {"backup_id": backup.backup_id, "fingerprint": record.fingerprint,
                                              "into": "local", "name": record.name})
    except BaseException:
        store.remove(key_id, keep_public=False)
        raise
    return record


# --- internals ------------------------------------------------------------------------------------


def validate_scheme(scheme: ShareScheme | PassphraseScheme) -> None:
    """InputError unless the scheme is usable (SLIP-39 limits, one custodian per share, passphrase length)."""
    if isinstance(scheme, PassphraseScheme):
        check_new_passphrase(scheme.passphrase)
        return
    m, n = scheme.threshold, scheme.count
    if not (1 <= m <= n <= MAX_SHARES):
        raise InputError(f"shares must satisfy 1 <= M <= N <= {MAX_SHARES} (got {m}-of-{n})")
    if m == 1 and n > 1:
        raise InputError("1-of-N shares would let any single holder restore the key; use M >= 2 (or 1-of-1)")
    if scheme.custodians and len(scheme.custodians) != n:
        raise InputError(f"name one custodian per share: {n} shares but {len(scheme.custodians)} custodians")


def _seal(record: KeyRecord, private: PrivateKey, backup_id: str, scheme: ShareScheme | PassphraseScheme,
          *, created_at: str) -> tuple[dict[str, Any], tuple[IssuedShare, ...]]:
    data_key = AESGCM.generate_key(bit_length=256)
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    nonce = os.urandom(GCM_NONCE_BYTES)
    issued: tuple[IssuedShare, ...] = ()
    if isinstance(scheme, ShareScheme):
        groups = shamir_mnemonic.generate_mnemonics(1, [(scheme.threshold, scheme.count)], data_key)
        mnemonics = groups[0]
        identifier = Share.from_mnemonic(mnemonics[0]).identifier
        names = scheme.custodians or tuple("" for _ in mnemonics)
        issued = tuple(IssuedShare(index=i + 1, custodian=names[i], mnemonic=m) for i, m in enumerate(mnemonics))
        protection: dict[str, Any] = {
            "scheme": "shares", "standard": "SLIP-39", "threshold": scheme.threshold, "share_count": scheme.count,
            "identifier": identifier,
            "custodians": [{"index": s.index, "name": s.custodian} for s in issued]}
        aad = _aad(backup_id, record.fingerprint, protection)
    else:
        salt = os.urandom(32)
        wrap_nonce = os.urandom(GCM_NONCE_BYTES)
        kek = derive_scrypt_key(scheme.passphrase, salt, BACKUP_SCRYPT_N)
        protection = {"scheme": "passphrase",
                      "kdf": {"name": "scrypt", "N": BACKUP_SCRYPT_N, "r": 8, "p": 1, "salt": _b64(salt)},
                      "cipher": "AES-256-GCM", "nonce": _b64(wrap_nonce)}
        aad = _aad(backup_id, record.fingerprint, protection)
        protection["wrapped_key"] = _b64(AESGCM(kek).encrypt(wrap_nonce, data_key, aad))
    doc = {
        "format": BACKUP_FORMAT, "version": BACKUP_VERSION, "backup_id": backup_id, "created_at": created_at,
        "key": {"id": record.id, "name": record.name, "fingerprint": record.fingerprint,
                "algorithm": record.algorithm, "public_pem": record.public_pem},
        "payload": {"cipher": "AES-256-GCM", "content": "pkcs8-der",
                    "aad": "format,version,backup_id,fingerprint,protection metadata",
                    "nonce": _b64(nonce), "ciphertext": _b64(AESGCM(data_key).encrypt(nonce, der, aad))},
        "protection": protection,
    }
    return doc, issued


def parse_share(text: str, position: int | None = None) -> tuple[str, Share]:
    """One typed share, normalised, with its decoded form; InputError when it is mistyped (checked
    as it is typed in the console, so the holder can correct that one share)."""
    which = f"share #{position}" if position is not None else "this share"
    words = " ".join(text.lower().split())
    if not words or len(words) > MAX_SHARE_CHARS:
        raise InputError(f"{which} is empty or too long")
    try:
        return words, Share.from_mnemonic(words)
    except shamir_mnemonic.MnemonicError:
        # The library's message quotes the share's first words; report the position only.
        raise InputError(f"{which} is mistyped (a word is unknown or the checksum fails)") from None


def _combine_shares(backup: BackupFile, shares: Sequence[str]) -> bytes:
    parsed: dict[int, str] = {}
    for position, text in enumerate(shares, start=1):
        words, share = parse_share(text, position)
        if share.identifier != backup.identifier:
            raise InputError(f"share #{position} belongs to another share set, not backup {backup.backup_id}")
        parsed.setdefault(share.index, words)
    threshold = backup.threshold or 0
    if len(parsed) < threshold:
        raise InputError(f"too few shares: {len(parsed)} distinct share(s) given, {threshold} needed")
    try:
        return bytes(shamir_mnemonic.combine_mnemonics(list(parsed.values())))
    except (shamir_mnemonic.MnemonicError, ValueError):
        raise InputError("these shares do not combine (they are from different sets or were altered)") from None


def _check_fields(doc: dict[str, Any]) -> None:
    """Every field decryption relies on has its type and size (the AEAD then proves the content)."""
    problems = []
    if len(_b64d(doc["payload"]["nonce"])) != GCM_NONCE_BYTES:
        problems.append("payload nonce")
    if not 16 < len(_b64d(doc["payload"]["ciphertext"])) <= MAX_BACKUP_BYTES:
        problems.append("payload ciphertext")
    protection = doc["protection"]
    if protection["scheme"] == "shares":
        m, n, ident = protection.get("threshold"), protection.get("share_count"), protection.get("identifier")
        if not all(type(v) is int for v in (m, n, ident)) or not 1 <= m <= n <= MAX_SHARES:
            problems.append("share parameters")
    else:
        if len(_b64d(protection["nonce"])) != GCM_NONCE_BYTES:
            problems.append("wrap nonce")
        if len(_b64d(protection["wrapped_key"])) != 32 + 16:
            problems.append("wrapped key")
        if not isinstance(protection["kdf"], dict):
            problems.append("kdf")
    if problems:
        raise InputError(f"backup file is corrupt: bad {', '.join(problems)}")


def _record_drill(ctx: SignetContext, backup: BackupFile, now: datetime, *, ok: bool, reason: str) -> None:
    interval = timedelta(days=ctx.config.policy.backup_drill_interval_days)
    with ctx.store.write() as db:
        known = db.execute("SELECT key_id FROM backups WHERE id = ?", (backup.backup_id,)).fetchone()
        if known:
            if ok:
                db.execute("UPDATE backups SET last_tested_at = ?, last_test_result = ?, drill_due_at = ? "
                           "WHERE id = ?", (iso(now), "ok", iso(now + interval), backup.backup_id))
            else:
                db.execute("UPDATE backups SET last_tested_at = ?, last_test_result = ? WHERE id = ?",
                           (iso(now), f"failed: {reason}"[:300], backup.backup_id))
            record_key_event(ctx, db, known[0], "backup-drill", {"backup_id": backup.backup_id, "ok": ok})
        ctx.audit("key.backup.test", backup.key_id, {"backup_id": backup.backup_id, "fingerprint": backup.fingerprint,
                                                     "ok": ok, "reason": reason[:300], "known": bool(known)})


def _aad(backup_id: str, key_fingerprint: str, protection: dict[str, Any]) -> bytes:
    """What the AEAD binds besides the key: which backup of which key, and how it is protected (share
    parameters and custodians, or KDF parameters), so editing any of them makes the file fail to open."""
    bound = {k: protection[k] for k in _BOUND_PROTECTION if k in protection}
    return canonical_json({"format": BACKUP_FORMAT, "version": BACKUP_VERSION, "backup_id": backup_id,
                           "fingerprint": key_fingerprint, "protection": bound}).encode()


def _scrypt_n(kdf: dict[str, Any]) -> int:
    if kdf.get("name") != "scrypt" or kdf.get("N") != BACKUP_SCRYPT_N or kdf.get("r") != 8 or kdf.get("p") != 1:
        raise InputError("unsupported key derivation parameters in the backup file")
    return BACKUP_SCRYPT_N


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64d(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise InputError("backup file is corrupt (bad base64 field)") from None
