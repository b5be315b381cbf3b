"""Key custody services: generate, import, export and open keys wherever they live.

Every state change checks the custodian role and writes its audit entry in the same transaction.
Outside side effects (files, AWS) happen before the transaction; if the transaction fails they are
undone where possible (local files) so the inventory never points at nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from core.aws.client import aws_client
from core.context import SignetContext
from core.crypto.public_keys import TrustedKey, fingerprint, load_public_key, public_key_pem
from core.errors import InputError, InvalidState
from core.identity import Role
from core.keys import aws_keys
from core.keys.cosign_format import (
    PrivateKey,
    decrypt_cosign_private_key,
    encrypt_cosign_private_key,
    generate_key_pair,
)
from core.keys.inventory import KeyRecord, find_key, insert_key, new_key_id, validate_name
from core.keys.local_store import LocalKeyStore

STORES = ("local", "secretsmanager", "kms")
MIN_PASSPHRASE_LEN = 8

# Asked for a key's passphrase; the argument names the key (never a secret) for the prompt.
PassphraseProvider = Callable[[str], bytes]


@dataclass(frozen=True)
class KeyPlacement:
    """Where a new key goes: store kind and, for AWS, region/profile."""

    store: str = "local"
    region: str | None = None
    profile: str | None = None


def key_store(ctx: SignetContext) -> LocalKeyStore:
    return LocalKeyStore(ctx.paths.key_store)


def check_new_passphrase(passphrase: bytes) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE_LEN:
        raise InputError(f"a new key passphrase must be at least {MIN_PASSPHRASE_LEN} characters")
    return passphrase


def generate_key(ctx: SignetContext, *, name: str, passphrase: bytes | None = None,
                 placement: KeyPlacement = KeyPlacement(), custodians: Sequence[str] = (),
                 state: str = "active", audit_details: dict[str, Any] | None = None,
                 key_id: str | None = None) -> KeyRecord:
    """Create a P-256 key in the local store, Secrets Manager (encrypted PEM) or KMS.

    `key_id` lets a caller name the key before creating it (rotation records it first, so files from
    an attempt killed before its row committed can be recognised and removed)."""
    ctx.require_write(Role.CUSTODIAN, action="key generation")
    validate_name(name)
    _require_free(ctx, name)
    if placement.store not in STORES:
        raise InputError(f"unknown key store '{placement.store}' (one of {', '.join(STORES)})")
    key_id = key_id or new_key_id()
    if placement.store == "kms":
        client = aws_client("kms", ctx.config.limits, region=placement.region, profile=placement.profile)
        kms_key = aws_keys.create_kms_key(client, name=name)
        try:
            return _record_new_key(ctx, key_id=key_id, name=name, trusted=kms_key.public, location="kms",
                                   location_ref=kms_key.arn, state=state, custodians=custodians,
                                   action="key.generate", audit_details=audit_details)
        except BaseException:
            aws_keys.disable_kms_key(client, kms_key.arn, pending_days=7)  # unrecorded: never trusted or used
            raise
    if passphrase is None:
        raise InputError("a passphrase is needed to encrypt the new key")
    _, encrypted, public_pem = generate_key_pair(check_new_passphrase(passphrase))
    return _place_encrypted(ctx, key_id=key_id, name=name, encrypted=encrypted,
                            trusted=load_public_key(public_pem, name=name), placement=placement,
                            state=state, custodians=custodians, action="key.generate",
                            audit_details=audit_details)


def import_key(ctx: SignetContext, *, name: str, pem: bytes, passphrase: bytes,
               placement: KeyPlacement = KeyPlacement(), custodians: Sequence[str] = (),
               state: str = "active") -> KeyRecord:
    """Import a cosign-encrypted key file (either label); re-encrypted in cosign's current format."""
    ctx.require_write(Role.CUSTODIAN, action="key import")
    validate_name(name)
    _require_free(ctx, name)
    if placement.store == "kms":
        raise InputError("private keys cannot be imported into KMS; import to local or secretsmanager")
    private = decrypt_cosign_private_key(pem, passphrase)
    trusted = load_public_key(public_key_pem(private.public_key()), name=name)
    return _place_encrypted(ctx, key_id=new_key_id(), name=name,
                            encrypted=encrypt_cosign_private_key(private, passphrase), trusted=trusted,
                            placement=placement, state=state, custodians=custodians, action="key.import",
                            audit_details={})


def import_kms_key(ctx: SignetContext, *, name: str, arn: str, profile: str | None = None,
                   custodians: Sequence[str] = (), state: str = "active") -> KeyRecord:
    """Adopt an existing KMS key by ARN (aliases refused: verifiers must pin the key itself)."""
    ctx.require_write(Role.CUSTODIAN, action="key import")
    validate_name(name)
    _require_free(ctx, name)
    arn = aws_keys.kms_key_arn(arn)
    client = aws_client("kms", ctx.config.limits, region=aws_keys.region_of_arn(arn), profile=profile)
    kms_key = aws_keys.kms_public_key(client, arn, name=name)
    return _record_new_key(ctx, key_id=new_key_id(), name=name, trusted=kms_key.public, location="kms",
                           location_ref=kms_key.arn, state=state, custodians=custodians, action="key.import",
                           audit_details={})


def read_encrypted_key(ctx: SignetContext, record: KeyRecord) -> bytes:
    """The cosign-encrypted PEM of a local or Secrets Manager key (never decrypted here)."""
    if record.location == "local":
        return key_store(ctx).read_private(record.id)
    if record.location == "secretsmanager":
        client = aws_client("secretsmanager", ctx.config.limits,
                                     region=aws_keys.region_of_arn(record.location_ref or ""))
        return aws_keys.get_secret_key(client, record.location_ref or "")
    raise InvalidState(f"key {record.name} lives in {record.location}; its private key cannot be read")


def open_private_key(ctx: SignetContext, record: KeyRecord, passphrase_provider: PassphraseProvider) -> PrivateKey:
    """Decrypt a stored key and check it is the key the inventory names."""
    private = decrypt_cosign_private_key(read_encrypted_key(ctx, record), passphrase_provider(record.name))
    if fingerprint(private.public_key()) != record.fingerprint:
        raise InvalidState(f"the stored private key of {record.name} does not match its recorded fingerprint")
    return private


def export_key(ctx: SignetContext, ref: str, *, public: bool = False) -> bytes:
    """cosign.pub, or the cosign-encrypted private key (custodians only; audited)."""
    record = find_key(ctx, ref)
    if public:
        return record.public_pem.encode()
    ctx.require_write(Role.CUSTODIAN, action="private key export")
    data = read_encrypted_key(ctx, record)
    with ctx.store.write():
        ctx.audit("key.export", record.id, {"fingerprint": record.fingerprint, "format": "cosign-encrypted"})
    return data


def destroy_private_key(ctx: SignetContext, record: KeyRecord, *, recovery_days: int = 30) -> str:
    """Remove the private material Signet controls for a revoked key; returns what was done.

    Local: the encrypted key file is deleted (the public key stays). Secrets Manager: deletion with a
    recovery window. KMS: disabled now, deletion scheduled. Backups and shares are listed by the
    caller for custodians to destroy by hand: Signet does not hold them.
    """
    if record.state != "revoked":
        raise InvalidState(f"key {record.name} is {record.state}; only revoked keys are destroyed")
    if record.location == "local":
        key_store(ctx).remove(record.id)
        return "local encrypted key file deleted"
    arn = record.location_ref or ""
    if record.location == "secretsmanager":
        client = aws_client("secretsmanager", ctx.config.limits, region=aws_keys.region_of_arn(arn))
        aws_keys.delete_secret_key(client, arn, recovery_days=recovery_days)
        return f"secret scheduled for deletion ({recovery_days}-day recovery window)"
    if record.location == "kms":
        client = aws_client("kms", ctx.config.limits, region=aws_keys.region_of_arn(arn))
        aws_keys.disable_kms_key(client, arn, pending_days=recovery_days)
        return f"KMS key disabled; deletion scheduled in {recovery_days} days"
    return "no private material held"


def _place_encrypted(ctx: SignetContext, *, key_id: str, name: str, encrypted: bytes, trusted: TrustedKey,
                     placement: KeyPlacement, state: str, custodians: Sequence[str], action: str,
                     audit_details: dict[str, Any] | None) -> KeyRecord:
    if placement.store == "secretsmanager":
        client = aws_client("secretsmanager", ctx.config.limits, region=placement.region,
                                     profile=placement.profile)
        arn = aws_keys.put_secret_key(client, name=name, encrypted_pem=encrypted, fingerprint=trusted.fingerprint,
                                      key_id=key_id)
        try:
            return _record_new_key(ctx, key_id=key_id, name=name, trusted=trusted, location="secretsmanager",
                                   location_ref=arn, state=state, custodians=custodians, action=action,
                                   audit_details=audit_details)
        except BaseException:
            aws_keys.delete_secret_key(client, arn, recovery_days=None)
            raise
    store = key_store(ctx)
    path = store.write_key(key_id, encrypted, trusted.pem())
    try:
        return _record_new_key(ctx, key_id=key_id, name=name, trusted=trusted, location="local",
                               location_ref=str(path), state=state, custodians=custodians, action=action,
                               audit_details=audit_details)
    except BaseException:
        store.remove(key_id, keep_public=False)
        raise


def discard_unrecorded_key(ctx: SignetContext, key_id: str, *, name: str, placement: KeyPlacement) -> bool:
    """Remove what a creation of `key_id` killed before its row committed left behind: local key files,
    or the Secrets Manager secret tagged with that id. Only for ids the caller recorded as about to be
    created and that have no row (never used, trusted or backed up). True if something was removed.
    A KMS key from such an attempt is not looked for (finding it means listing every key's tags)."""
    if ctx.store.query("SELECT 1 FROM keys WHERE id = ?", (key_id,)):
        raise InvalidState(f"key {key_id} is recorded; it is not an interrupted creation")
    if placement.store == "secretsmanager":
        client = aws_client("secretsmanager", ctx.config.limits, region=placement.region,
                                     profile=placement.profile)
        return aws_keys.delete_unrecorded_secret(client, name=name, key_id=key_id)
    return key_store(ctx).remove(key_id, keep_public=False)


def _record_new_key(ctx: SignetContext, *, key_id: str, name: str, trusted: TrustedKey, location: str,
                    location_ref: str | None, state: str, custodians: Sequence[str], action: str,
                    audit_details: dict[str, Any] | None) -> KeyRecord:
    with ctx.store.write() as db:
        record = insert_key(ctx, db, key_id=key_id, name=name, trusted=trusted, location=location,
                            location_ref=location_ref, state=state, custodians=custodians)
        ctx.audit(action, key_id, {"name": name, "fingerprint": trusted.fingerprint, "algorithm": trusted.algorithm,
                                   "location": location, "location_ref": location_ref, "state": state,
                                   "custodians": list(custodians), **(audit_details or {})})
    return record


def _require_free(ctx: SignetContext, name: str) -> None:
    if ctx.store.query("SELECT 1 FROM keys WHERE name = ?", (name,)):
        raise InvalidState(f"a key named '{name}' already exists")
