"""Public keys as cosign uses them: loading, fingerprints, and signature checks with each key's
default scheme (cosign-formats.md §6.2).

Fingerprint = SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex. It names a key everywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from core.crypto.ed25519ph import verify_ed25519ph
from core.errors import InputError

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

MAX_PEM_BYTES = 64 * 1024
HashFactory = Callable[[], hashes.HashAlgorithm]
CURVE_HASH: dict[str, HashFactory] = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384,
                                      "secp521r1": hashes.SHA512}


@dataclass(frozen=True)
class TrustedKey:
    """A public key we were told to trust, and how people know it."""

    key: PublicKey
    fingerprint: str
    algorithm: str
    name: str = ""

    @property
    def short(self) -> str:
        return self.fingerprint[:16]

    def pem(self) -> bytes:
        return public_key_pem(self.key)


def spki_der(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: PublicKey) -> str:
    return hashlib.sha256(spki_der(key)).hexdigest()


def algorithm_name(key: PublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}.get(
            key.curve.name, f"ecdsa-{key.curve.name}")
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return type(key).__name__


def load_public_key(data: bytes, *, name: str = "") -> TrustedKey:
    """Load a PEM (or DER) SubjectPublicKeyInfo. Refuses key types cosign cannot use."""
    if len(data) > MAX_PEM_BYTES:
        raise InputError(f"public key{_named(name)} is larger than {MAX_PEM_BYTES} bytes")
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise InputError(f"not a PEM or DER public key{_named(name)}: {_first_line(exc)}") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in CURVE_HASH:
            raise InputError(f"unsupported EC curve {key.curve.name}{_named(name)}")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise InputError(f"RSA key of {key.key_size} bits is too small{_named(name)}")
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise InputError(f"unsupported public key type {type(key).__name__}{_named(name)}")
    return TrustedKey(key=key, fingerprint=fingerprint(key), algorithm=algorithm_name(key), name=name)


def verify_signature(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """True only when `signature` is valid over `data` with the key's default cosign scheme.

    ECDSA: DER signature with the curve's hash (cosign v3), or SHA-256, which cosign v2 used for every
    curve and which Kyverno and policy-controller assume unless told otherwise (an ECDSA signature
    over one hash is not one over another: no message can be substituted). RSA: PKCS#1 v1.5 with
    SHA-256. Ed25519: Ed25519ph, what cosign signs images with, or pure Ed25519, what older cosign
    releases and `sign-blob` without a log upload wrote. The two are domain-separated (RFC 8032
    dom2), so accepting either never lets a signature made for one message count for another.
    """
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            curve_hash = CURVE_HASH[key.curve.name]
            if curve_hash is not hashes.SHA256 and _ecdsa_valid(key, signature, data, curve_hash):
                return True
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            if verify_ed25519ph(key, signature, data):
                return True
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _ecdsa_valid(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes, hash_type: HashFactory) -> bool:
    try:
        key.verify(signature, data, ec.ECDSA(hash_type()))
    except InvalidSignature:
        return False
    return True


def signing_hash_name(key: PublicKey) -> str:
    """The digest Signet (like cosign v3) signs with for this key, as Kyverno and policy-controller name it."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return CURVE_HASH[key.curve.name]().name
    return "sha256"


def _named(name: str) -> str:
    return f" ({name})" if name else ""


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
