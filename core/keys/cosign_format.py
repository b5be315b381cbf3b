"""cosign's encrypted private key format (cosign-formats.md §6.1), read and written like cosign does.

PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (legacy `ENCRYPTED COSIGN PRIVATE KEY` is read too) whose body
is JSON: scrypt parameters and salt, a NaCl secretbox nonce, and the ciphertext of a DER PKCS#8
private key. We accept exactly what cosign's reader accepts (go-securesystemslib `CheckParams`:
N = 2^15, 2^16 or 2^17 with r = 8, p = 1; PKCS#8 only) and write what cosign writes (N = 2^16).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from typing import Any

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from core.crypto.public_keys import MAX_PEM_BYTES, load_public_key, public_key_pem
from core.errors import InputError, WrongPassphrase

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

PEM_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
LEGACY_PEM_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
ACCEPTED_LABELS = (PEM_LABEL, LEGACY_PEM_LABEL)
ACCEPTED_SCRYPT_N = (1 << 15, 1 << 16, 1 << 17)
WRITE_SCRYPT_N = 1 << 16
SCRYPT_R, SCRYPT_P = 8, 1
SALT_BYTES = 32
MAX_SALT_BYTES = 1024
MAX_CIPHERTEXT_BYTES = 16 * 1024  # a PKCS#8 RSA-4096 key is ~2.4 KiB

_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)\r?\n?-----END \1-----", re.S)


def decrypt_cosign_private_key(pem: bytes, passphrase: bytes) -> PrivateKey:
    """Decrypt a cosign private key file. WrongPassphrase when the secretbox MAC fails (wrong
    password, or a tampered file); InputError for anything cosign would not load."""
    envelope = _parse_envelope(pem)
    key = derive_scrypt_key(passphrase, envelope["salt"], envelope["n"])
    try:
        der = nacl.secret.SecretBox(key).decrypt(envelope["ciphertext"], envelope["nonce"])
    except nacl.exceptions.CryptoError:
        raise WrongPassphrase("wrong passphrase for the encrypted private key (or the file was altered)") from None
    return load_pkcs8_private_key(der)


def encrypt_cosign_private_key(key: PrivateKey, passphrase: bytes) -> bytes:
    """The PEM cosign's `generate-key-pair` would write for `key` under `passphrase`."""
    _check_private_key(key)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(derive_scrypt_key(passphrase, salt, WRITE_SCRYPT_N))
    ciphertext = box.encrypt(der, nonce).ciphertext
    body = {
        "kdf": {"name": "scrypt", "params": {"N": WRITE_SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(ciphertext),
    }
    return _pem(PEM_LABEL, json.dumps(body, separators=(",", ":")).encode())


def generate_key_pair(passphrase: bytes) -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    """A new ECDSA P-256 key (cosign's default): (private key, encrypted PEM, public PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key, encrypt_cosign_private_key(key, passphrase), public_key_pem(key.public_key())


def is_encrypted_cosign_pem(data: bytes) -> bool:
    """Cheap test used to tell a cosign key file from other inputs (no decryption)."""
    match = _PEM_RE.search(data[:MAX_PEM_BYTES])
    return match is not None and match.group(1).decode() in ACCEPTED_LABELS


def _parse_envelope(pem: bytes) -> dict[str, Any]:
    if len(pem) > MAX_PEM_BYTES:
        raise InputError(f"private key file is larger than {MAX_PEM_BYTES} bytes")
    blocks = _PEM_RE.findall(pem)
    if len(blocks) != 1:
        raise InputError("expected exactly one PEM block in the private key file")
    label, body = blocks[0][0].decode(), blocks[0][1]
    if label not in ACCEPTED_LABELS:
        raise InputError(f"unsupported private key PEM type '{label}': cosign reads only "
                         f"'{PEM_LABEL}' and '{LEGACY_PEM_LABEL}'")
    try:
        doc = json.loads(base64.b64decode(b"".join(body.split()), validate=True))
        kdf, cipher = doc["kdf"], doc["cipher"]
        params = kdf["params"]
        if kdf["name"] != "scrypt":
            raise InputError(f"unsupported key derivation '{kdf['name']}' (cosign uses scrypt)")
        if cipher["name"] != "nacl/secretbox":
            raise InputError(f"unsupported cipher '{cipher['name']}' (cosign uses nacl/secretbox)")
        n, r, p = params["N"], params["r"], params["p"]
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        ciphertext = base64.b64decode(doc["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):  # RecursionError: [[[[... nesting
        raise InputError("malformed encrypted private key: the PEM body is not cosign's JSON envelope") from None
    if (n, r, p) not in [(v, SCRYPT_R, SCRYPT_P) for v in ACCEPTED_SCRYPT_N] or type(n) is not int:
        raise InputError(f"unsupported scrypt parameters N={n} r={r} p={p}: cosign accepts only "
                         "N=32768/65536/131072 with r=8 p=1")
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise InputError(f"secretbox nonce must be {nacl.secret.SecretBox.NONCE_SIZE} bytes, got {len(nonce)}")
    if not 0 < len(salt) <= MAX_SALT_BYTES:
        raise InputError(f"scrypt salt of {len(salt)} bytes is out of range")
    if not 0 < len(ciphertext) <= MAX_CIPHERTEXT_BYTES:
        raise InputError(f"ciphertext of {len(ciphertext)} bytes is out of range")
    return {"n": n, "salt": salt, "nonce": nonce, "ciphertext": ciphertext}


def derive_scrypt_key(passphrase: bytes, salt: bytes, n: int) -> bytes:
    """32-byte key = scrypt(passphrase, salt, N=n, r=8, p=1), cosign's derivation."""
    # cryptography's Scrypt sizes its own memory limit (hashlib's default 32 MiB refuses N=2^16).
    return Scrypt(salt=salt, length=nacl.secret.SecretBox.KEY_SIZE, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)


def load_pkcs8_private_key(der: bytes) -> PrivateKey:
    """A DER PKCS#8 private key of a type cosign supports; InputError otherwise."""
    # `cryptography` also loads SEC1 `ECPrivateKey`; cosign (x509.ParsePKCS8PrivateKey) does not.
    if not _looks_like_pkcs8(der):
        raise InputError("the decrypted key is not PKCS#8 (e.g. a SEC1 EC key); cosign rejects this key")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InputError("the decrypted key is not a valid PKCS#8 private key") from None
    return _check_private_key(key)


def _check_private_key(key: object) -> PrivateKey:
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise InputError(f"unsupported private key type {type(key).__name__}")
    load_public_key(public_key_pem(key.public_key()))  # the same curve/size rules as for public keys
    return key


def _looks_like_pkcs8(der: bytes) -> bool:
    """SEQUENCE { INTEGER version(0|1), SEQUENCE AlgorithmIdentifier, ... } (RFC 5208/5958)."""
    body = _der_sequence_body(der)
    return body is not None and body[:3] in (b"\x02\x01\x00", b"\x02\x01\x01") and body[3:4] == b"\x30"


def _der_sequence_body(der: bytes) -> bytes | None:
    if len(der) < 2 or der[0] != 0x30:
        return None
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or len(der) < 2 + count:
            return None
        length, offset = int.from_bytes(der[2:2 + count], "big"), 2 + count
    if offset + length != len(der):
        return None
    return der[offset:]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pem(label: str, body: bytes) -> bytes:
    text = base64.b64encode(body).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n").encode()
