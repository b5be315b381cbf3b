"""cosign's encrypted key format against real keys made by cosign (fixtures/cosign-encrypted-keys)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.crypto.public_keys import fingerprint, load_public_key
from core.errors import InputError, WrongPassphrase
from core.keys.cosign_format import (
    LEGACY_PEM_LABEL,
    PEM_LABEL,
    decrypt_cosign_private_key,
    encrypt_cosign_private_key,
    generate_key_pair,
    is_encrypted_cosign_pem,
)
from tests.conftest import FIXTURES

KEYS = FIXTURES / "cosign-encrypted-keys"


def _envelope(pem: bytes) -> tuple[str, dict]:
    label, body = re.search(rb"-----BEGIN ([A-Z ]+)-----\n(.*?)-----END", pem, re.S).groups()
    return label.decode(), json.loads(base64.b64decode(b"".join(body.split())))


def _rewrap(label: str, doc: dict) -> bytes:
    body = base64.b64encode(json.dumps(doc).encode()).decode()
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


def test_policy_controller_example_decrypts_with_empty_password_and_matches_its_pub():
    key = decrypt_cosign_private_key((KEYS / "policy-controller-example/cosign.key").read_bytes(), b"")
    pub = load_public_key((KEYS / "policy-controller-example/cosign.pub").read_bytes())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert fingerprint(key.public_key()) == pub.fingerprint


@pytest.mark.parametrize("name, label", [("encrypted-sigstore-labeled.key", PEM_LABEL),
                                         ("encrypted-cosign-labeled.key", LEGACY_PEM_LABEL)])
def test_both_cosign_labels_decrypt_with_hello(name, label):
    pem = (KEYS / "cosign-keys-test" / name).read_bytes()
    assert _envelope(pem)[0] == label
    key = decrypt_cosign_private_key(pem, b"hello")
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"


@pytest.mark.parametrize("path", ["policy-controller-example/cosign.key",
                                  "cosign-keys-test/encrypted-sigstore-labeled.key",
                                  "cosign-keys-test/encrypted-cosign-labeled.key"])
def test_wrong_password_is_a_clear_wrong_passphrase_error(path):
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        decrypt_cosign_private_key((KEYS / path).read_bytes(), b"wrong")


def test_sec1_plaintext_is_rejected_like_cosign():
    pem = (KEYS / "cosign-keys-test/encrypted-cosign-labeled-sec1-plaintext.key").read_bytes()
    with pytest.raises(InputError, match="not PKCS#8"):
        decrypt_cosign_private_key(pem, b"hello")


def test_round_trip_writes_cosign_standard_format():
    key, pem, pub_pem = generate_key_pair(b"s3cret")
    label, doc = _envelope(pem)
    assert label == PEM_LABEL
    assert doc["kdf"] == {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": doc["kdf"]["salt"]}
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    assert doc["cipher"]["name"] == "nacl/secretbox" and len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    back = decrypt_cosign_private_key(pem, b"s3cret")
    assert back.private_numbers() == key.private_numbers()
    assert load_public_key(pub_pem).fingerprint == fingerprint(key.public_key())
    assert b"PRIVATE KEY-----" in pem and b"BEGIN PRIVATE KEY" not in pem


def test_each_encryption_uses_fresh_salt_and_nonce():
    key = ec.generate_private_key(ec.SECP256R1())
    a, b = (_envelope(encrypt_cosign_private_key(key, b"p"))[1] for _ in range(2))
    assert a["kdf"]["salt"] != b["kdf"]["salt"] and a["cipher"]["nonce"] != b["cipher"]["nonce"]


def test_empty_passphrase_round_trips_and_ed25519_is_supported():
    key = ed25519.Ed25519PrivateKey.generate()
    back = decrypt_cosign_private_key(encrypt_cosign_private_key(key, b""), b"")
    assert back.private_bytes_raw() == key.private_bytes_raw()


@pytest.mark.parametrize("n, r, p", [(16384, 8, 1), (65536, 16, 1), (65536, 8, 2), (262144, 8, 1), ("65536", 8, 1)])
def test_other_scrypt_parameters_are_refused_before_deriving(n, r, p):
    label, doc = _envelope((KEYS / "cosign-keys-test/encrypted-sigstore-labeled.key").read_bytes())
    doc["kdf"]["params"] = {"N": n, "r": r, "p": p}
    with pytest.raises(InputError, match="scrypt parameters"):
        decrypt_cosign_private_key(_rewrap(label, doc), b"hello")


def test_other_pem_labels_are_refused():
    label, doc = _envelope((KEYS / "cosign-keys-test/encrypted-sigstore-labeled.key").read_bytes())
    with pytest.raises(InputError, match="unsupported private key PEM type 'ENCRYPTED PRIVATE KEY'"):
        decrypt_cosign_private_key(_rewrap("ENCRYPTED PRIVATE KEY", doc), b"hello")
    plain = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(InputError, match="'PRIVATE KEY'"):
        decrypt_cosign_private_key(plain, b"")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["kdf"].__setitem__("name", "pbkdf2"), "unsupported key derivation"),
    (lambda d: d["cipher"].__setitem__("name", "aes-gcm"), "unsupported cipher"),
    (lambda d: d["cipher"].__setitem__("nonce", base64.b64encode(b"x" * 12).decode()), "nonce must be 24"),
    (lambda d: d.pop("ciphertext"), "malformed"),
    (lambda d: d.__setitem__("ciphertext", "!!not base64!!"), "malformed"),
])
def test_malformed_envelopes_are_input_errors(mutate, message):
    label, doc = _envelope((KEYS / "cosign-keys-test/encrypted-sigstore-labeled.key").read_bytes())
    mutate(doc)
    with pytest.raises(InputError, match=message):
        decrypt_cosign_private_key(_rewrap(label, doc), b"hello")


def test_tampered_ciphertext_fails_the_mac():
    label, doc = _envelope((KEYS / "cosign-keys-test/encrypted-sigstore-labeled.key").read_bytes())
    raw = bytearray(base64.b64decode(doc["ciphertext"]))
    raw[-1] ^= 1
    doc["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(WrongPassphrase):
        decrypt_cosign_private_key(_rewrap(label, doc), b"hello")


def test_garbage_oversized_and_multi_block_inputs_are_refused():
    with pytest.raises(InputError, match="exactly one PEM block"):
        decrypt_cosign_private_key(b"not a pem", b"")
    with pytest.raises(InputError, match="larger than"):
        decrypt_cosign_private_key(b"A" * (65 * 1024), b"")
    pem = (KEYS / "cosign-keys-test/encrypted-sigstore-labeled.key").read_bytes()
    with pytest.raises(InputError, match="exactly one PEM block"):
        decrypt_cosign_private_key(pem + pem, b"hello")


def test_is_encrypted_cosign_pem():
    assert is_encrypted_cosign_pem((KEYS / "policy-controller-example/cosign.key").read_bytes())
    assert not is_encrypted_cosign_pem((KEYS / "policy-controller-example/cosign.pub").read_bytes())
