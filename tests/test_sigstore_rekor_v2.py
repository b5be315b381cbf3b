"""Rekor v2 entries (hashedrekord/dsse 0.0.2, Ed25519 signed-note checkpoints, no SET) and RFC 3161
timestamp failure modes on the real conformance timestamps."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from core.crypto.public_keys import load_public_key
from core.errors import CheckFailed
from core.sigstore.bundle import parse_bundle
from core.sigstore.certificate_identity import CertificateIdentity
from core.sigstore.merkle import leaf_hash
from core.sigstore.timestamp import verify_timestamp
from core.sigstore.trusted_root import ALWAYS, LogInstance, TrustedRoot, load_trusted_root, parse_trusted_root
from core.sigstore.verifier import SigstoreTrust, verify_bundle
from tests.support.sigstore_factory import T0, FakeSigstore, b64
from tests.support.sigstore_fixtures import CONFORMANCE

DIGEST = "sha256:" + "ab" * 32
ORIGIN = "log2025-test.rekor.test"


class RekorV2:
    """An Ed25519 tile log: entries carry only an inclusion proof and a signed checkpoint."""

    def __init__(self) -> None:
        self.key = ed25519.Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()

    def log(self) -> LogInstance:
        return LogInstance(log_id=self.key_id, key=self.key.public_key(), validity=ALWAYS)

    def entry(self, body: dict, *, other_leaves: int = 2) -> dict:
        raw = json.dumps(body, separators=(",", ":")).encode()
        leaves = [leaf_hash(b"x%d" % i) for i in range(other_leaves)] + [leaf_hash(raw)]
        # A 3-leaf tree: root = H(H(l0,l1), l2); the proof for leaf 2 is [H(l0,l1)].
        left = hashlib.sha256(b"\x01" + leaves[0] + leaves[1]).digest()
        root = hashlib.sha256(b"\x01" + left + leaves[2]).digest()
        note = f"{ORIGIN}\n3\n{b64(root)}\n"
        sig = self.key.sign(note.encode())
        checkpoint = note + f"\n\u2014 {ORIGIN} {b64(self.key_id[:4] + sig)}\n"
        return {"logIndex": "2", "logId": {"keyId": b64(self.key_id)},
                "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
                "inclusionProof": {"logIndex": "2", "rootHash": b64(root), "treeSize": "3", "hashes": [b64(left)],
                                   "checkpoint": {"envelope": checkpoint}},
                "canonicalizedBody": b64(raw)}


def key_bundle_v2(log: RekorV2, key: ec.EllipticCurvePrivateKey, *, recorded_digest: bytes | None = None) -> bytes:
    digest = bytes.fromhex(DIGEST.split(":")[1])
    signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = {"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_256", "digest": b64(recorded_digest or digest)},
        "signature": {"content": b64(signature), "verifier": {"publicKey": {"rawBytes": b64(spki)},
                                                              "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}}}
    return json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                       "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": [log.entry(body)]},
                       "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                                            "signature": b64(signature)}}).encode()


def trust_with(log: RekorV2, key) -> SigstoreTrust:
    root = parse_trusted_root(FakeSigstore().trusted_root(include_log=False))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return SigstoreTrust(root=TrustedRoot(tlogs=(log.log(),), certificate_authorities=root.certificate_authorities),
                         keys=(load_public_key(pem),), require_tlog=True)


def test_rekor_v2_hashedrekord_entry_with_ed25519_checkpoint_verifies():
    log, key = RekorV2(), ec.generate_private_key(ec.SECP256R1())
    result = verify_bundle(parse_bundle(key_bundle_v2(log, key)), digest=DIGEST, trust=trust_with(log, key), now=T0)
    assert result.tlog_indexes == (2,)
    assert result.signed_at == ()  # Rekor v2 signs no time: only a TSA could give one


def test_rekor_v2_entry_for_another_artifact_is_refused():
    log, key = RekorV2(), ec.generate_private_key(ec.SECP256R1())
    data = key_bundle_v2(log, key, recorded_digest=b"\x01" * 32)
    with pytest.raises(CheckFailed, match="records a different artifact hash"):
        verify_bundle(parse_bundle(data), digest=DIGEST, trust=trust_with(log, key), now=T0)


def test_rekor_v2_checkpoint_by_another_log_is_refused():
    log, key = RekorV2(), ec.generate_private_key(ec.SECP256R1())
    impostor = RekorV2()
    impostor.key_id = log.key_id  # same claimed id, different key
    data = key_bundle_v2(impostor, key)
    with pytest.raises(CheckFailed, match="checkpoint: no valid signature"):
        verify_bundle(parse_bundle(data), digest=DIGEST, trust=trust_with(log, key), now=T0)


def test_keyless_rekor_v2_entry_without_timestamp_has_no_signing_time():
    log, sigstore = RekorV2(), FakeSigstore()
    leaf = sigstore.leaf()
    digest = bytes.fromhex(DIGEST.split(":")[1])
    signature = leaf.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    cert_der = leaf.cert.public_bytes(serialization.Encoding.DER)
    body = {"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_256", "digest": b64(digest)},
        "signature": {"content": b64(signature), "verifier": {"x509Certificate": {"rawBytes": b64(cert_der)},
                                                              "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}}}
    data = json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                       "verificationMaterial": {"certificate": {"rawBytes": b64(cert_der)},
                                                "tlogEntries": [log.entry(body)]},
                       "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                                            "signature": b64(signature)}}).encode()
    root = parse_trusted_root(sigstore.trusted_root(include_log=False))
    trust = SigstoreTrust(root=TrustedRoot(tlogs=(log.log(),), certificate_authorities=root.certificate_authorities),
                          identities=(CertificateIdentity(identity="alice@example.com",
                                                          issuer="https://issuer.example"),))
    with pytest.raises(CheckFailed, match="no verified signing time"):
        verify_bundle(parse_bundle(data), digest=DIGEST, trust=trust, now=T0 + timedelta(days=30))


# --- RFC 3161 timestamps (real ones from the conformance suite) ---------------------------------


def _timestamped_case():
    doc = json.loads((CONFORMANCE / "managed-key-happy-path/bundle.sigstore.json").read_text())
    stamp = base64.b64decode(doc["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
                             ["signedTimestamp"])
    return stamp, base64.b64decode(doc["messageSignature"]["signature"]), \
        load_trusted_root(CONFORMANCE / "trusted_root.production.json")


def test_real_timestamp_verifies_for_its_signature():
    stamp, signature, root = _timestamped_case()
    assert verify_timestamp(stamp, signature, root).isoformat() == "2025-12-18T17:04:39+00:00"


def test_timestamp_over_another_signature_is_refused():
    stamp, signature, root = _timestamped_case()
    with pytest.raises(CheckFailed, match="covers a different signature"):
        verify_timestamp(stamp, signature + b"\0", root)


def test_timestamp_from_an_untrusted_tsa_is_refused():
    stamp, signature, root = _timestamped_case()
    with pytest.raises(CheckFailed, match="not signed by a trusted timestamp authority"):
        verify_timestamp(stamp, signature, TrustedRoot(tlogs=root.tlogs))


def test_tampered_timestamp_is_refused():
    stamp, signature, root = _timestamped_case()
    # Change one byte of the TSA's signature value (the last bytes of the structure).
    tampered = stamp[:-3] + bytes([stamp[-3] ^ 1]) + stamp[-2:]
    with pytest.raises(CheckFailed, match="RFC 3161 timestamp"):
        verify_timestamp(tampered, signature, root)
    with pytest.raises(CheckFailed, match="malformed"):
        verify_timestamp(b"\x30\x03\x02\x01\x00", signature, root)
