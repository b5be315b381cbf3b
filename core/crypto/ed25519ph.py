"""Ed25519ph (RFC 8032 §5.1: SHA-512 prehash, empty context), the scheme cosign signs images with when the
key is Ed25519 (cosign-formats.md §6.2).

`cryptography` implements only pure Ed25519; libsodium implements Ed25519ph as its multi-part signing
API, which PyNaCl exposes as `crypto_sign_ed25519ph_*`. Both are vetted implementations; nothing
here touches the curve arithmetic.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from nacl import bindings
from nacl.exceptions import BadSignatureError, CryptoError

SIGNATURE_BYTES = 64


def verify_ed25519ph(key: ed25519.Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """True only when `signature` is a valid Ed25519ph signature over `data` by `key`."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    state = bindings.crypto_sign_ed25519ph_state()
    bindings.crypto_sign_ed25519ph_update(state, data)
    try:
        return bool(bindings.crypto_sign_ed25519ph_final_verify(state, signature, raw))
    except (BadSignatureError, CryptoError, ValueError, TypeError):
        return False


def sign_ed25519ph(key: ed25519.Ed25519PrivateKey, data: bytes) -> bytes:
    """Ed25519ph signature over `data`. The seed is only ever held in memory, as the key object is."""
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    _public, secret = bindings.crypto_sign_seed_keypair(seed)
    state = bindings.crypto_sign_ed25519ph_state()
    bindings.crypto_sign_ed25519ph_update(state, data)
    return bindings.crypto_sign_ed25519ph_final_create(state, secret)
