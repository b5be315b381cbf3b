"""Signing time from RFC 3161 timestamps (our own TSA, real CMS): TSA-only keyless bundles (as GitHub's
private Sigstore instance makes them) with the log waived, classic `.att` timestamps over the layer
bytes, and the ways a timestamp can fail to count."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from core.errors import CheckFailed
from core.sigstore.bundle import parse_bundle
from core.sigstore.certificate_identity import CertificateIdentity
from core.sigstore.trusted_root import parse_trusted_root
from core.sigstore.verifier import SigstoreTrust, verify_bundle, verify_cosign_attestation
from tests.support.sigstore_factory import T0, FakeSigstore, statement
from tests.support.tsa import TimestampAuthority

DIGEST = "sha256:" + "ab" * 32
ALICE = CertificateIdentity(identity="alice@example.com", issuer="https://issuer.example")
NOW = T0 + timedelta(days=90)


@pytest.fixture(scope="module")
def world():
    sigstore, tsa = FakeSigstore(), TimestampAuthority(T0)
    root = parse_trusted_root(sigstore.trusted_root(timestamp_authorities=(tsa.authority_json(T0),)))
    return sigstore, tsa, root


def tsa_only_bundle(sigstore: FakeSigstore, tsa: TimestampAuthority, at, *, over: bytes | None = None) -> bytes:
    doc = json.loads(sigstore.dsse_bundle(sigstore.leaf(), statement(DIGEST)))
    signature = base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"])
    material = doc["verificationMaterial"]
    del material["tlogEntries"]
    material["timestampVerificationData"] = {"rfc3161Timestamps": [
        {"signedTimestamp": base64.b64encode(tsa.timestamp(over or signature, at)).decode()}]}
    return json.dumps(doc).encode()


def test_tsa_only_bundle_needs_the_log_waived_then_verifies_at_the_tsa_time(world):
    sigstore, tsa, root = world
    data = tsa_only_bundle(sigstore, tsa, T0 + timedelta(minutes=2))
    with pytest.raises(CheckFailed, match="no transparency log entry"):
        verify_bundle(parse_bundle(data), digest=DIGEST, trust=SigstoreTrust(root=root, identities=(ALICE,)), now=NOW)
    waived = SigstoreTrust(root=root, identities=(ALICE,), ignore_tlog=True, require_tlog=False)
    result = verify_bundle(parse_bundle(data), digest=DIGEST, trust=waived, now=NOW)
    assert result.signed_at == (T0 + timedelta(minutes=2),) and result.identity == "alice@example.com"


def test_tsa_time_outside_the_certificate_validity_fails(world):
    sigstore, tsa, root = world
    waived = SigstoreTrust(root=root, identities=(ALICE,), ignore_tlog=True, require_tlog=False)
    with pytest.raises(CheckFailed, match="does not chain to a trusted CA valid at"):
        verify_bundle(parse_bundle(tsa_only_bundle(sigstore, tsa, T0 + timedelta(hours=2))), digest=DIGEST,
                      trust=waived, now=NOW)


def test_timestamp_over_other_bytes_or_from_an_unknown_tsa_fails(world):
    sigstore, tsa, root = world
    waived = SigstoreTrust(root=root, identities=(ALICE,), ignore_tlog=True, require_tlog=False)
    with pytest.raises(CheckFailed, match="covers a different signature"):
        verify_bundle(parse_bundle(tsa_only_bundle(sigstore, tsa, T0, over=b"other")), digest=DIGEST,
                      trust=waived, now=NOW)
    stranger = TimestampAuthority(T0, name="stranger-tsa")
    with pytest.raises(CheckFailed, match="not signed by a trusted timestamp authority"):
        verify_bundle(parse_bundle(tsa_only_bundle(sigstore, stranger, T0)), digest=DIGEST, trust=waived, now=NOW)


def test_classic_attestation_timestamp_covers_the_layer_bytes(world):
    sigstore, tsa, root = world
    envelope, annotations = sigstore.classic_attestation(sigstore.leaf(),
                                                         statement(DIGEST, "https://slsa.dev/provenance/v1"))
    del annotations["dev.sigstore.cosign/bundle"]
    waived = SigstoreTrust(root=root, identities=(ALICE,), ignore_tlog=True, require_tlog=False)
    annotations["dev.sigstore.cosign/rfc3161timestamp"] = json.dumps(
        {"SignedRFC3161Timestamp": base64.b64encode(tsa.timestamp(envelope, T0 + timedelta(minutes=1))).decode()})
    result = verify_cosign_attestation(envelope, annotations, digest=DIGEST, trust=waived, now=NOW)
    assert result.signed_at == (T0 + timedelta(minutes=1),)
    signature = base64.b64decode(json.loads(envelope)["signatures"][0]["sig"])
    annotations["dev.sigstore.cosign/rfc3161timestamp"] = json.dumps(
        {"SignedRFC3161Timestamp": base64.b64encode(tsa.timestamp(signature, T0 + timedelta(minutes=1))).decode()})
    with pytest.raises(CheckFailed, match="covers a different signature"):
        verify_cosign_attestation(envelope, annotations, digest=DIGEST, trust=waived, now=NOW)
