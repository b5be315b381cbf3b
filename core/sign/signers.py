"""Signers for `signet sign` and rotation re-signing, wherever the key lives.

A cosign key file path, a key-store reference (id, name, fingerprint prefix) for a local, Secrets
Manager or KMS key, or `awskms:///<key ARN>`. Only keys in a signing state sign: a retiring,
retired or revoked key must not produce new signatures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from core.aws.client import aws_client
from core.context import SignetContext
from core.errors import InvalidState
from core.keys import aws_keys
from core.keys.cosign_format import decrypt_cosign_private_key
from core.keys.custody import PassphraseProvider, open_private_key
from core.keys.inventory import SIGNING_STATES, KeyRecord, find_key
from core.keys.local_store import read_secret_file
from core.sign.service import LocalKeySigner, Signer


class KmsSigner:
    """Signs in AWS KMS (ECDSA_SHA_256); the private key never leaves KMS."""

    def __init__(self, client: Any, arn: str, *, key_id: str | None = None, expected_fingerprint: str | None = None,
                 name: str = "") -> None:
        kms_key = aws_keys.kms_public_key(client, arn, name=name)
        if expected_fingerprint and kms_key.public.fingerprint != expected_fingerprint:
            raise InvalidState(f"KMS key {arn} no longer has the public key recorded for it "
                               f"({expected_fingerprint[:16]}); refusing to sign")
        self._client = client
        self.arn = arn
        self.public_key = kms_key.public.key
        self.fingerprint = kms_key.public.fingerprint
        self.key_id: str | None = key_id or arn

    def sign(self, data: bytes) -> bytes:
        return aws_keys.kms_sign(self._client, self.arn, data)


def signer_for(ctx: SignetContext, key_ref_or_path: str, *, passphrase_provider: PassphraseProvider,
               allowed_states: Sequence[str] = SIGNING_STATES) -> Signer:
    """The signer `--key` names. Files and `awskms://` URIs bypass the inventory; store keys must be in
    `allowed_states` (default: active only)."""
    if key_ref_or_path.startswith("awskms://"):
        arn = aws_keys.kms_key_arn(key_ref_or_path)
        client = aws_client("kms", ctx.config.limits, region=aws_keys.region_of_arn(arn))
        return _known_state_allows(ctx, KmsSigner(client, arn), allowed_states)
    path = Path(os.path.expanduser(key_ref_or_path))
    if path.is_file():
        signer = signer_from_key_file(read_secret_file(path, what="key file"), passphrase_provider(str(path)))
        return _known_state_allows(ctx, signer, allowed_states)
    return signer_for_record(ctx, find_key(ctx, key_ref_or_path), passphrase_provider=passphrase_provider,
                             allowed_states=allowed_states)


def signer_from_key_file(pem: bytes, passphrase: bytes, *, key_id: str | None = None) -> LocalKeySigner:
    """A signer for a cosign encrypted private key file (the fallback when no key store is involved)."""
    return LocalKeySigner(decrypt_cosign_private_key(pem, passphrase), key_id=key_id)


def _known_state_allows(ctx: SignetContext, signer: Signer, allowed_states: Sequence[str]) -> Signer:
    """A key given as a file or ARN that the inventory knows keeps its inventory state: a copy of a
    retired or revoked key must not sign just because it was passed by path."""
    rows = ctx.store.query("SELECT name, state FROM keys WHERE fingerprint = ?", (signer.fingerprint,))
    if rows and rows[0]["state"] not in allowed_states:
        raise InvalidState(f"this key is the inventory's key {rows[0]['name']}, which is {rows[0]['state']}; "
                           "it may not sign")
    return signer


def signer_for_record(ctx: SignetContext, record: KeyRecord, *, passphrase_provider: PassphraseProvider,
                      allowed_states: Sequence[str] = SIGNING_STATES) -> Signer:
    if record.state not in allowed_states:
        raise InvalidState(f"key {record.name} is {record.state}; only {', '.join(allowed_states)} keys may sign")
    if record.location == "kms":
        arn = record.location_ref or ""
        client = aws_client("kms", ctx.config.limits, region=aws_keys.region_of_arn(arn))
        return KmsSigner(client, arn, key_id=record.id, expected_fingerprint=record.fingerprint, name=record.name)
    # open_private_key checks the decrypted key against the recorded fingerprint.
    return LocalKeySigner(open_private_key(ctx, record, passphrase_provider), key_id=record.id)
