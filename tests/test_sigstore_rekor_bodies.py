"""The body binding for every Rekor entry kind we accept: a body recording this signature, key or
certificate and payload passes; changing any one of the three is refused (CVE-2022-23649 family)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.errors import CheckFailed
from core.sigstore.rekor import SignedContent, check_body_binding
from tests.support.sigstore_factory import FakeSigstore

PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1"}'
SIG = b"0E\x02 signature-bytes"
OTHER_SIG = b"0E\x02 other-signature"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def cert():
    fake = FakeSigstore()
    return fake.leaf().cert


def pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def body(kind: str, version: str, cert, *, sig=SIG, payload=PAYLOAD) -> dict:
    digest = hashlib.sha256(payload)
    if (kind, version) in (("hashedrekord", "0.0.1"), ("rekord", "0.0.1")):
        spec = {"data": {"hash": {"algorithm": "sha256", "value": digest.hexdigest()}},
                "signature": {"format": "x509", "content": b64(sig), "publicKey": {"content": b64(pem(cert))}}}
    elif (kind, version) == ("dsse", "0.0.1"):
        spec = {"payloadHash": {"algorithm": "sha256", "value": digest.hexdigest()},
                "signatures": [{"signature": b64(sig), "verifier": b64(pem(cert))}]}
    elif (kind, version) == ("intoto", "0.0.1"):
        spec = {"content": {"payloadHash": {"algorithm": "sha256", "value": digest.hexdigest()}},
                "publicKey": b64(pem(cert))}
    elif (kind, version) == ("intoto", "0.0.2"):
        spec = {"content": {"payloadHash": {"algorithm": "sha256", "value": digest.hexdigest()}, "envelope": {
            "payloadType": "application/vnd.in-toto+json", "payload": b64(b64(payload).encode()),
            "signatures": [{"sig": b64(b64(sig).encode()), "publicKey": b64(pem(cert))}]}}}
    elif (kind, version) == ("hashedrekord", "0.0.2"):
        spec = {"hashedRekordV002": {"data": {"algorithm": "SHA2_256", "digest": b64(digest.digest())},
                                     "signature": {"content": b64(sig),
                                                   "verifier": {"x509Certificate": {"rawBytes": b64(der(cert))}}}}}
    else:
        spec = {"dsseV002": {"payloadHash": {"algorithm": "SHA2_256", "digest": b64(digest.digest())},
                             "signatures": [{"content": b64(sig),
                                             "verifier": {"x509Certificate": {"rawBytes": b64(der(cert))}}}]}}
    return {"apiVersion": version, "kind": kind, "spec": spec}


KINDS = [("hashedrekord", "0.0.1"), ("rekord", "0.0.1"), ("dsse", "0.0.1"), ("intoto", "0.0.1"),
         ("intoto", "0.0.2"), ("hashedrekord", "0.0.2"), ("dsse", "0.0.2")]


def content(kind: str, cert, *, sig=SIG, payload=PAYLOAD) -> SignedContent:
    if kind in ("hashedrekord", "rekord"):
        return SignedContent(signature=sig, verifier=cert, digest=hashlib.sha256(payload).digest())
    return SignedContent(signature=sig, verifier=cert, dsse_payload=payload)


@pytest.mark.parametrize("kind, version", KINDS)
def test_matching_body_is_accepted(kind, version, cert):
    check_body_binding(body(kind, version, cert), content(kind, cert))


@pytest.mark.parametrize("kind, version", KINDS)
def test_other_payload_is_refused(kind, version, cert):
    with pytest.raises(CheckFailed, match="records a different .*hash"):
        check_body_binding(body(kind, version, cert), content(kind, cert, payload=PAYLOAD + b" "))


@pytest.mark.parametrize("kind, version", [k for k in KINDS if k != ("intoto", "0.0.1")])
def test_other_signature_is_refused(kind, version, cert):
    # intoto 0.0.1 bodies keep no signature (Rekor strips the envelope): key and payload bind it.
    with pytest.raises(CheckFailed, match="records a different signature"):
        check_body_binding(body(kind, version, cert), content(kind, cert, sig=OTHER_SIG))


@pytest.mark.parametrize("kind, version", KINDS)
def test_other_certificate_is_refused(kind, version, cert):
    other = FakeSigstore().leaf().cert
    with pytest.raises(CheckFailed, match="records a different certificate"):
        check_body_binding(body(kind, version, cert), content(kind, other))


@pytest.mark.parametrize("kind, version", [("hashedrekord", "0.0.1"), ("dsse", "0.0.1")])
def test_recorded_public_key_binds_the_same_key_only(kind, version, cert):
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    doc = body(kind, version, cert)
    if kind == "hashedrekord":
        doc["spec"]["signature"]["publicKey"]["content"] = b64(key_pem)
    else:
        doc["spec"]["signatures"][0]["verifier"] = b64(key_pem)
    check_body_binding(doc, content(kind, key.public_key()))
    with pytest.raises(CheckFailed, match="records a different public key"):
        check_body_binding(doc, content(kind, ec.generate_private_key(ec.SECP256R1()).public_key()))


def test_message_signature_cannot_be_bound_by_a_dsse_entry_and_vice_versa(cert):
    with pytest.raises(CheckFailed, match="cannot record a message signature"):
        check_body_binding(body("dsse", "0.0.1", cert), content("hashedrekord", cert))
    with pytest.raises(CheckFailed, match="cannot record a DSSE envelope"):
        check_body_binding(body("hashedrekord", "0.0.1", cert), content("dsse", cert))
    with pytest.raises(CheckFailed, match="unsupported kind"):
        check_body_binding({"apiVersion": "0.0.1", "kind": "rpm", "spec": {}}, content("dsse", cert))
