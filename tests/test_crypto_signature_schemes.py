"""Which signature schemes count for each key type, as cosign and the admission verifiers write them.

ECDSA: the curve's hash (cosign v3) or SHA-256 (cosign v2, Kyverno's and policy-controller's default).
Ed25519: Ed25519ph (RFC 8032 §5.1, what cosign signs images with) or pure Ed25519 (older cosign).
Ed25519ph vectors made by other implementations: RFC 8032 §7.3 (the reference), and sigstore/sigstore's
Go signer (`pkg/signature/ed25519ph_test.go`, the code cosign signs with).
"""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.crypto.ed25519ph import sign_ed25519ph, verify_ed25519ph
from core.crypto.public_keys import load_public_key, verify_signature

RFC8032_PUBLIC = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
RFC8032_SECRET = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
RFC8032_SIGNATURE = bytes.fromhex("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
                                  "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406")
SIGSTORE_GO_PUBLIC_PEM = (b"-----BEGIN PUBLIC KEY-----\n"
                          b"MCowBQYDK2VwAyEA9wy4umF4RHQ8UQXo8fzEQNBWE4GsBMkCzQPAfHvkf/s=\n"
                          b"-----END PUBLIC KEY-----\n")
SIGSTORE_GO_SIGNATURE = base64.b64decode("9D4pA8jutZnbqKy4fFRl+kDsVUCO50qrOD1lxmsiUFk6NX+7OXUK5BCMkE2KYPRDxjkDFBzb"
                                         "DZEQhaFdDV5tDg==")


def test_rfc8032_vector_signs_and_verifies_bit_for_bit():
    private = ed25519.Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    public = ed25519.Ed25519PublicKey.from_public_bytes(RFC8032_PUBLIC)
    assert sign_ed25519ph(private, b"abc") == RFC8032_SIGNATURE  # Ed25519ph is deterministic
    assert verify_ed25519ph(public, RFC8032_SIGNATURE, b"abc")
    assert verify_signature(public, RFC8032_SIGNATURE, b"abc")
    assert not verify_signature(public, RFC8032_SIGNATURE, b"abd")


def test_signature_from_sigstore_go_verifies_and_only_over_its_message():
    key = load_public_key(SIGSTORE_GO_PUBLIC_PEM).key
    assert verify_signature(key, SIGSTORE_GO_SIGNATURE, b"sign me")
    assert not verify_signature(key, SIGSTORE_GO_SIGNATURE, b"sign me ")
    flipped = bytes([SIGSTORE_GO_SIGNATURE[0] ^ 1]) + SIGSTORE_GO_SIGNATURE[1:]
    assert not verify_signature(key, flipped, b"sign me")


def test_pure_and_prehashed_signatures_are_told_apart():
    private = ed25519.Ed25519PrivateKey.generate()
    public = private.public_key()
    pure, prehashed = private.sign(b"payload"), sign_ed25519ph(private, b"payload")
    assert pure != prehashed
    assert not verify_ed25519ph(public, pure, b"payload")  # dom2 separates the schemes
    with pytest.raises(InvalidSignature):
        public.verify(prehashed, b"payload")
    # both are accepted as cosign signatures by this key, each over its own message only
    assert verify_signature(public, pure, b"payload") and verify_signature(public, prehashed, b"payload")
    assert not verify_signature(public, prehashed, b"payloae")


@pytest.mark.parametrize("signature", [b"", b"\x00" * 63, b"\x00" * 65, b"\xff" * 64])
def test_malformed_signatures_are_rejected_without_raising(signature):
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    assert not verify_ed25519ph(public, signature, b"payload")
    assert not verify_signature(public, signature, b"payload")


@pytest.mark.parametrize("curve, accepted, refused", [
    (ec.SECP256R1, [hashes.SHA256], [hashes.SHA384, hashes.SHA512]),
    (ec.SECP384R1, [hashes.SHA384, hashes.SHA256], [hashes.SHA512, hashes.SHA224]),
    (ec.SECP521R1, [hashes.SHA512, hashes.SHA256], [hashes.SHA384]),
])
def test_ecdsa_counts_the_curve_hash_or_sha256_and_nothing_else(curve, accepted, refused):
    private = ec.generate_private_key(curve())
    for hash_type in accepted:
        signature = private.sign(b"payload", ec.ECDSA(hash_type()))
        assert verify_signature(private.public_key(), signature, b"payload"), hash_type.name
        assert not verify_signature(private.public_key(), signature, b"payloae"), hash_type.name
    for hash_type in refused:
        assert not verify_signature(private.public_key(), private.sign(b"payload", ec.ECDSA(hash_type())),
                                    b"payload"), hash_type.name
