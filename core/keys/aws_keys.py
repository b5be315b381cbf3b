"""Keys held in AWS: an encrypted cosign key as a Secrets Manager secret, or a KMS asymmetric key.

KMS keys are `ECC_NIST_P256` / `SIGN_VERIFY`; signing happens in KMS and the public key comes from
GetPublicKey. Inventory rows and verifier policies name a KMS key by its ARN, never an alias:
repointing an alias would silently change what verifiers trust (keys-bypass-anchors.md §1.2).
Every client has connect/read timeouts and bounded retries.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.crypto.public_keys import TrustedKey, load_public_key
from core.errors import AwsError, InputError
from core.keys.cosign_format import is_encrypted_cosign_pem

KMS_KEY_SPEC = "ECC_NIST_P256"
KMS_SIGNING_ALGORITHM = "ECDSA_SHA_256"
KMS_MAX_RAW_MESSAGE = 4096
SECRET_PREFIX = "signet/keys/"
KEY_ID_TAG = "signet:key-id"
MAX_SECRET_BYTES = 64 * 1024
_KMS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key/[0-9a-fA-F-]{36}$")
_ARN_REGION_RE = re.compile(r"^arn:aws[a-z-]*:[a-z]+:([a-z0-9-]+):")


@dataclass(frozen=True)
class KmsKey:
    arn: str
    public: TrustedKey


def region_of_arn(arn: str) -> str | None:
    match = _ARN_REGION_RE.match(arn)
    return match.group(1) if match else None


def kms_key_arn(text: str) -> str:
    """Accept `arn:aws:kms:...:key/<uuid>` or `awskms:///arn:...`; refuse aliases and bare ids."""
    arn = text.removeprefix("awskms://")
    arn = arn[arn.index("/") + 1:] if arn != text and "/" in arn else arn
    if not _KMS_ARN_RE.match(arn):
        raise InputError(f"'{text}' is not a KMS key ARN; verifiers must pin a key ARN (aliases can be repointed)")
    return arn


# --- Secrets Manager ------------------------------------------------------------------------------


def put_secret_key(client: Any, *, name: str, encrypted_pem: bytes, fingerprint: str, key_id: str) -> str:
    """Store an encrypted cosign PEM as a new secret, tagged with the Signet key id; returns the secret ARN."""
    if not is_encrypted_cosign_pem(encrypted_pem):
        raise InputError("refusing to store a private key in Secrets Manager that is not cosign-encrypted")
    try:
        response = client.create_secret(
            Name=SECRET_PREFIX + name, SecretString=encrypted_pem.decode("ascii"),
            Description="cosign-encrypted signing key managed by Signet",
            Tags=[{"Key": "signet:fingerprint", "Value": fingerprint}, {"Key": KEY_ID_TAG, "Value": key_id}])
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"Secrets Manager refused to create secret {SECRET_PREFIX + name}: {_reason(exc)}") from None
    return str(response["ARN"])


def delete_unrecorded_secret(client: Any, *, name: str, key_id: str) -> bool:
    """Delete at once the secret `name` if it was created for `key_id` (its tag says so), which the caller
    knows never reached the inventory; True if one was deleted. Any other secret of that name is left."""
    try:
        tags = client.describe_secret(SecretId=SECRET_PREFIX + name).get("Tags") or []
    except client.exceptions.ResourceNotFoundException:
        return False
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"cannot read secret {SECRET_PREFIX + name}: {_reason(exc)}") from None
    if {"Key": KEY_ID_TAG, "Value": key_id} not in tags:
        return False
    delete_secret_key(client, SECRET_PREFIX + name, recovery_days=None)
    return True


def get_secret_key(client: Any, secret_arn: str) -> bytes:
    try:
        response = client.get_secret_value(SecretId=secret_arn)
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"cannot read secret {secret_arn}: {_reason(exc)}") from None
    data = (response.get("SecretString") or "").encode()
    if len(data) > MAX_SECRET_BYTES or not is_encrypted_cosign_pem(data):
        raise InputError(f"secret {secret_arn} does not hold a cosign-encrypted private key")
    return data


def delete_secret_key(client: Any, secret_arn: str, *, recovery_days: int | None = 30) -> None:
    """Delete with a recovery window; `recovery_days=None` deletes at once (only for a secret never
    recorded in the inventory, so its name is free for a retry)."""
    window = {"ForceDeleteWithoutRecovery": True} if recovery_days is None else {"RecoveryWindowInDays": recovery_days}
    try:
        client.delete_secret(SecretId=secret_arn, **window)
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"cannot delete secret {secret_arn}: {_reason(exc)}") from None


# --- KMS ------------------------------------------------------------------------------------------


def create_kms_key(client: Any, *, name: str) -> KmsKey:
    try:
        meta = client.create_key(KeySpec=KMS_KEY_SPEC, KeyUsage="SIGN_VERIFY",
                                 Description=f"Signet signing key {name}",
                                 Tags=[{"TagKey": "signet:name", "TagValue": name}])["KeyMetadata"]
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"KMS refused to create key {name}: {_reason(exc)}") from None
    return kms_public_key(client, meta["Arn"], name=name)


def kms_public_key(client: Any, arn: str, *, name: str = "") -> KmsKey:
    """GetPublicKey, checked to be a P-256 signing key that allows ECDSA_SHA_256."""
    try:
        response = client.get_public_key(KeyId=arn)
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"cannot get the public key of {arn}: {_reason(exc)}") from None
    # CustomerMasterKeySpec is the deprecated name some endpoints still send instead of KeySpec.
    spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec")
    if response.get("KeyUsage") != "SIGN_VERIFY" or spec != KMS_KEY_SPEC:
        raise InputError(f"KMS key {arn} is {spec}/{response.get('KeyUsage')}, not {KMS_KEY_SPEC}/SIGN_VERIFY")
    if KMS_SIGNING_ALGORITHM not in response.get("SigningAlgorithms", []):
        raise InputError(f"KMS key {arn} does not allow {KMS_SIGNING_ALGORITHM}")
    public = load_public_key(response["PublicKey"], name=name)
    if public.algorithm != "ecdsa-p256":
        raise InputError(f"KMS key {arn} returned a {public.algorithm} public key, not P-256")
    return KmsKey(arn=arn, public=public)


def kms_sign(client: Any, arn: str, message: bytes) -> bytes:
    """ECDSA_SHA_256 signature (DER) made in KMS. Messages up to KMS's 4096-byte RAW limit are sent
    whole (KMS hashes them); larger ones as a locally computed SHA-256 DIGEST."""
    if len(message) <= KMS_MAX_RAW_MESSAGE:
        request = {"Message": message, "MessageType": "RAW"}
    else:
        request = {"Message": hashlib.sha256(message).digest(), "MessageType": "DIGEST"}
    try:
        response = client.sign(KeyId=arn, SigningAlgorithm=KMS_SIGNING_ALGORITHM, **request)
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"KMS refused to sign with {arn}: {_reason(exc)}") from None
    return bytes(response["Signature"])


def disable_kms_key(client: Any, arn: str, *, pending_days: int = 30) -> None:
    """Revocation: disable now, schedule deletion (7-30 day window, cancellable in AWS)."""
    try:
        # The bare key id (the client is in the ARN's region) is what every KMS implementation resolves
        # here; moto's server, for one, fails DisableKey/ScheduleKeyDeletion when given the full ARN.
        key_id = arn.rsplit("/", 1)[-1]
        client.disable_key(KeyId=key_id)
        client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=pending_days)
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"cannot disable KMS key {arn}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}"[:300]
    return str(exc)[:300]
