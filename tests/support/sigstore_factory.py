"""A tiny Sigstore of our own for negative tests: a Fulcio-like CA (root + intermediate) issuing
short-lived leaves with the Fulcio issuer extensions, and a Rekor-like log key that signs entry
timestamps and checkpoints. Everything is real cryptography (`cryptography`); nothing is mocked —
only the services are absent, so entries are built the way Rekor builds them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.sigstore.dsse import INTOTO_PAYLOAD_TYPE, pae
from core.sigstore.merkle import leaf_hash

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class Leaf:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))


@dataclass
class FakeSigstore:
    name: str = "test-ca"
    root_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))
    inter_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))
    log_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    inter_not_after: datetime = T0 + timedelta(days=365)

    def __post_init__(self) -> None:
        root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "signet-test"),
                               x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        self.root = self._ca_cert(root_name, root_name, self.root_key.public_key(), self.root_key,
                                  T0 - timedelta(days=365), T0 + timedelta(days=3650))
        inter_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "signet-test"),
                                x509.NameAttribute(NameOID.COMMON_NAME, self.name + "-intermediate")])
        self.intermediate = self._ca_cert(inter_name, root_name, self.inter_key.public_key(), self.root_key,
                                          T0 - timedelta(days=30), self.inter_not_after)

    @staticmethod
    def _ca_cert(subject, issuer, public_key, signer, not_before, not_after) -> x509.Certificate:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                               critical=True)
                .sign(signer, hashes.SHA384()))

    @property
    def log_id(self) -> bytes:
        return hashlib.sha256(_spki(self.log_key.public_key())).digest()

    def leaf(self, *, email: str = "alice@example.com", issuer: str = "https://issuer.example",
             issuer_v1: str | None = None, not_before: datetime = T0, minutes: int = 10,
             code_signing: bool = True) -> Leaf:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(self.intermediate.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_before + timedelta(minutes=minutes))
                   .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING if code_signing
                                                         else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.UnrecognizedExtension(ISSUER_V2, _der_utf8(issuer)), critical=False))
        if issuer_v1 is not None:
            builder = builder.add_extension(x509.UnrecognizedExtension(ISSUER_V1, issuer_v1.encode()), critical=False)
        return Leaf(key, builder.sign(self.inter_key, hashes.SHA384()))

    def trusted_root(self, *, include_log: bool = True, timestamp_authorities: tuple[dict, ...] = ()) -> bytes:
        ca = {"subject": {"organization": "signet-test", "commonName": self.name}, "uri": "https://fulcio.test",
              "certChain": {"certificates": [{"rawBytes": b64(_der(c))}
                                             for c in (self.intermediate, self.root)]},
              "validFor": {"start": (T0 - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
        log = {"baseUrl": "https://rekor.test", "hashAlgorithm": "SHA2_256",
               "publicKey": {"rawBytes": b64(_spki(self.log_key.public_key())), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                             "validFor": {"start": "2020-01-01T00:00:00Z"}},
               "logId": {"keyId": b64(self.log_id)}}
        return json.dumps({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                           "tlogs": [log] if include_log else [], "certificateAuthorities": [ca],
                           "ctlogs": [], "timestampAuthorities": list(timestamp_authorities)}).encode()

    # --- Rekor-like entries ---------------------------------------------------------------------

    def hashedrekord_body(self, signature: bytes, verifier_pem: bytes, artifact_sha256: bytes) -> bytes:
        return json.dumps({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": artifact_sha256.hex()}},
            "signature": {"content": b64(signature), "publicKey": {"content": b64(verifier_pem)}}}},
            separators=(",", ":"), sort_keys=True).encode()

    def dsse_body(self, signature: bytes, verifier_pem: bytes, payload: bytes) -> bytes:
        return json.dumps({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": "00" * 32},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [{"signature": b64(signature), "verifier": b64(verifier_pem)}]}},
            separators=(",", ":"), sort_keys=True).encode()

    def set_for(self, body_b64: str, integrated_time: int, log_index: int) -> bytes:
        canonical = json.dumps({"body": body_b64, "integratedTime": integrated_time, "logID": self.log_id.hex(),
                                "logIndex": log_index}, sort_keys=True, separators=(",", ":")).encode()
        return self.log_key.sign(canonical, ec.ECDSA(hashes.SHA256()))

    def checkpoint(self, tree_size: int, root_hash: bytes) -> str:
        body = f"rekor.test - 1\n{tree_size}\n{b64(root_hash)}\n"
        sig = self.log_key.sign(body.encode(), ec.ECDSA(hashes.SHA256()))
        return body + f"\n\u2014 rekor.test {b64(self.log_id[:4] + sig)}\n"

    def tlog_entry(self, body: bytes, integrated_time: datetime, *, log_index: int = 7) -> dict:
        """A bundle tlogEntries[] element: a one-leaf tree, SET and signed checkpoint."""
        body_b64 = b64(body)
        when = int(integrated_time.timestamp())
        doc = json.loads(body)
        return {"logIndex": str(log_index), "logId": {"keyId": b64(self.log_id)},
                "kindVersion": {"kind": doc["kind"], "version": doc["apiVersion"]},
                "integratedTime": str(when),
                "inclusionPromise": {"signedEntryTimestamp": b64(self.set_for(body_b64, when, log_index))},
                "inclusionProof": {"logIndex": "0", "rootHash": b64(leaf_hash(body)), "treeSize": "1", "hashes": [],
                                   "checkpoint": {"envelope": self.checkpoint(1, leaf_hash(body))}},
                "canonicalizedBody": body_b64}

    def cosign_bundle_annotation(self, body: bytes, integrated_time: datetime, *, log_index: int = 7) -> str:
        body_b64 = b64(body)
        when = int(integrated_time.timestamp())
        return json.dumps({"SignedEntryTimestamp": b64(self.set_for(body_b64, when, log_index)),
                           "Payload": {"body": body_b64, "integratedTime": when, "logIndex": log_index,
                                       "logID": self.log_id.hex()}})

    # --- whole signatures -----------------------------------------------------------------------

    def message_bundle(self, leaf: Leaf, artifact_digest: str, *, signed_at: datetime | None = None) -> bytes:
        digest = bytes.fromhex(artifact_digest.split(":", 1)[1])
        signature = leaf.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        body = self.hashedrekord_body(signature, _pem(leaf.cert), digest)
        return json.dumps({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"certificate": {"rawBytes": b64(_der(leaf.cert))},
                                     "tlogEntries": [self.tlog_entry(body, signed_at or leaf.cert.not_valid_before_utc
                                                                     + timedelta(minutes=1))]},
            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                                 "signature": b64(signature)}}).encode()

    def key_bundle(self, key: ec.EllipticCurvePrivateKey, artifact_digest: str, *, signed_at: datetime = T0) -> bytes:
        """A key-signed (publicKey hint) message-signature bundle, logged in our log."""
        digest = bytes.fromhex(artifact_digest.split(":", 1)[1])
        signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        body = self.hashedrekord_body(signature, pub_pem, digest)
        return json.dumps({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": b64(hashlib.sha256(_spki(key.public_key())).digest())},
                                     "tlogEntries": [self.tlog_entry(body, signed_at)]},
            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                                 "signature": b64(signature)}}).encode()

    def dsse_bundle(self, leaf: Leaf, statement: dict | bytes, *, signed_at: datetime | None = None,
                    extra_signatures: int = 0) -> bytes:
        payload = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
        signature = leaf.sign(pae(INTOTO_PAYLOAD_TYPE, payload))
        body = self.dsse_body(signature, _pem(leaf.cert), payload)
        sigs = [{"sig": b64(signature), "keyid": ""}] + [
            {"sig": b64(leaf.sign(pae(INTOTO_PAYLOAD_TYPE, payload))), "keyid": ""} for _ in range(extra_signatures)]
        return json.dumps({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"certificate": {"rawBytes": b64(_der(leaf.cert))},
                                     "tlogEntries": [self.tlog_entry(body, signed_at or leaf.cert.not_valid_before_utc
                                                                     + timedelta(minutes=1))]},
            "dsseEnvelope": {"payload": b64(payload), "payloadType": INTOTO_PAYLOAD_TYPE, "signatures": sigs}}).encode()

    def classic_attestation(self, leaf: Leaf, statement_doc: dict | bytes, *,
                            signed_at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
        """(DSSE envelope blob, layer annotations) of a keyless `.att` layer, logged as a dsse entry."""
        payload = statement_doc if isinstance(statement_doc, bytes) else json.dumps(statement_doc).encode()
        signature = leaf.sign(pae(INTOTO_PAYLOAD_TYPE, payload))
        body = self.dsse_body(signature, _pem(leaf.cert), payload)
        annotations = {"dev.cosignproject.cosign/signature": "",
                       "predicateType": json.loads(payload).get("predicateType", ""),
                       "dev.sigstore.cosign/certificate": _pem(leaf.cert).decode(),
                       "dev.sigstore.cosign/chain": (_pem(self.intermediate) + _pem(self.root)).decode(),
                       "dev.sigstore.cosign/bundle": self.cosign_bundle_annotation(
                           body, signed_at or leaf.cert.not_valid_before_utc + timedelta(minutes=1))}
        return envelope(payload, [signature]), annotations

    def classic_layer(self, leaf: Leaf, payload: bytes, *, signed_at: datetime | None = None,
                      chain: bool = True) -> dict[str, str]:
        """Annotations of a keyless `.sig` layer over `payload` (as cosign writes them)."""
        signature = leaf.sign(payload)
        body = self.hashedrekord_body(signature, _pem(leaf.cert), hashlib.sha256(payload).digest())
        annotations = {"dev.cosignproject.cosign/signature": b64(signature),
                       "dev.sigstore.cosign/certificate": _pem(leaf.cert).decode(),
                       "dev.sigstore.cosign/bundle": self.cosign_bundle_annotation(
                           body, signed_at or leaf.cert.not_valid_before_utc + timedelta(minutes=1))}
        if chain:
            annotations["dev.sigstore.cosign/chain"] = (_pem(self.intermediate) + _pem(self.root)).decode()
        return annotations


def envelope(payload: bytes, signatures: list[bytes]) -> bytes:
    return json.dumps({"payloadType": INTOTO_PAYLOAD_TYPE, "payload": b64(payload),
                       "signatures": [{"keyid": "", "sig": b64(sig)} for sig in signatures]}).encode()


def statement(digest: str, predicate_type: str = "https://sigstore.dev/cosign/sign/v1",
              predicate: object | None = None) -> dict:
    algorithm, _, value = digest.partition(":")
    return {"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "img", "digest": {algorithm: value}}],
            "predicateType": predicate_type, "predicate": predicate if predicate is not None else {}}
