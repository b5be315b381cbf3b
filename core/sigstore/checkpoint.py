"""Signed checkpoints (C2SP signed-note format) that commit a log to a tree size and root hash.

Text: `<origin>\\n<size>\\n<base64 root>\\n[extra lines]\\n\\n— <name> <base64(keyhint4 ‖ signature)>\\n`.
The signature covers everything before the blank line. Key hint: first 4 bytes of the log id for
ECDSA logs; for Ed25519 notes, of sha256(name ‖ 0x0A ‖ 0x01 ‖ raw key).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.errors import CheckFailed
from core.sigstore.encoding import b64
from core.sigstore.trusted_root import LogInstance

MAX_CHECKPOINT_BYTES = 16 * 1024
MAX_NOTE_SIGNATURES = 16
_EM_DASH = "\u2014 "


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes


def verify_checkpoint(envelope: str, log: LogInstance) -> Checkpoint:
    """Parse a signed note and require a valid signature by `log`'s key."""
    if not isinstance(envelope, str) or len(envelope) > MAX_CHECKPOINT_BYTES:
        raise CheckFailed("checkpoint: missing or too large")
    body, sep, signatures = envelope.partition("\n\n")
    if not sep:
        raise CheckFailed("checkpoint: no signature block")
    lines = body.split("\n")
    if len(lines) < 3 or not lines[0] or not lines[1].isdigit() or len(lines[1]) > 19:
        raise CheckFailed("checkpoint: malformed header")
    checkpoint = Checkpoint(origin=lines[0], tree_size=int(lines[1]), root_hash=b64(lines[2], "checkpoint root"))
    signed = (body + "\n").encode()
    sig_lines = [line for line in signatures.split("\n") if line]
    if len(sig_lines) > MAX_NOTE_SIGNATURES:
        raise CheckFailed("checkpoint: too many signatures")
    for line in sig_lines:
        if not line.startswith(_EM_DASH):
            raise CheckFailed("checkpoint: malformed signature line")
        name, _, blob = line[len(_EM_DASH):].rpartition(" ")
        raw = b64(blob, "checkpoint signature", max_bytes=1024)
        if len(raw) > 4 and raw[:4] == _key_hint(log, name) and _signature_ok(log, raw[4:], signed):
            return checkpoint
    raise CheckFailed("checkpoint: no valid signature by the transparency log's key")


def _key_hint(log: LogInstance, name: str) -> bytes:
    if isinstance(log.key, ed25519.Ed25519PublicKey):
        raw = log.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
    return log.log_id[:4]


def _signature_ok(log: LogInstance, signature: bytes, signed: bytes) -> bool:
    try:
        if isinstance(log.key, ed25519.Ed25519PublicKey):
            log.key.verify(signature, signed)
        elif isinstance(log.key, ec.EllipticCurvePublicKey):
            log.key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True
