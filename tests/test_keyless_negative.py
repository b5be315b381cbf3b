"""Keyless verification refuses every way a signature can be wrong, with our own Fulcio-like CA and
Rekor-like log key (real cryptography, entries built as Rekor builds them)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from core.crypto.public_keys import load_public_key, public_key_pem
from core.errors import CheckFailed, InputError
from core.sigstore.bundle import parse_bundle
from core.sigstore.certificate_identity import CertificateIdentity
from core.sigstore.trusted_root import parse_trusted_root
from core.sigstore.verifier import SigstoreTrust, verify_bundle, verify_cosign_signature
from tests.support.sigstore_factory import T0, FakeSigstore, statement

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
ALICE = CertificateIdentity(identity="alice@example.com", issuer="https://issuer.example")
NOW = T0 + timedelta(days=200)  # long after the leaves expired: only signed times may be used


@pytest.fixture(scope="module")
def sigstore():
    return FakeSigstore()


def trust(sigstore: FakeSigstore, *identities: CertificateIdentity, require_tlog=None) -> SigstoreTrust:
    return SigstoreTrust(root=parse_trusted_root(sigstore.trusted_root()), identities=identities or (ALICE,),
                         require_tlog=require_tlog)


def verify(sigstore, data: bytes, digest=DIGEST, **kw):
    return verify_bundle(parse_bundle(data), digest=digest, trust=kw.pop("trust", None) or trust(sigstore), now=NOW)


def edit(data: bytes, change) -> bytes:
    doc = json.loads(data)
    change(doc)
    return json.dumps(doc).encode()


def test_valid_message_bundle_verifies_long_after_the_certificate_expired(sigstore):
    result = verify(sigstore, sigstore.message_bundle(sigstore.leaf(), DIGEST))
    assert result.identity == "alice@example.com" and result.issuer == "https://issuer.example"
    assert result.signed_at == (T0 + timedelta(minutes=1),)


def test_valid_dsse_signature_bundle_verifies_and_carries_its_statement(sigstore):
    result = verify(sigstore, sigstore.dsse_bundle(sigstore.leaf(), statement(DIGEST)))
    assert result.statement.predicate_type == "https://sigstore.dev/cosign/sign/v1"


def test_wrong_identity(sigstore):
    with pytest.raises(CheckFailed, match="matches none of the expected identities"):
        verify(sigstore, sigstore.message_bundle(sigstore.leaf(email="mallory@example.com"), DIGEST))


def test_wrong_issuer(sigstore):
    with pytest.raises(CheckFailed, match="matches none"):
        verify(sigstore, sigstore.message_bundle(sigstore.leaf(issuer="https://evil.example"), DIGEST))


def test_unanchored_regexp_matches_like_cosign_so_anchors_matter(sigstore):
    data = sigstore.message_bundle(sigstore.leaf(email="alice@example.com.evil.test"), DIGEST)
    loose = CertificateIdentity(identity_regexp=r"alice@example\.com", issuer="https://issuer.example")
    anchored = CertificateIdentity(identity_regexp=r"^alice@example\.com$", issuer="https://issuer.example")
    assert verify(sigstore, data, trust=trust(sigstore, loose)).identity == "alice@example.com.evil.test"
    with pytest.raises(CheckFailed, match="matches none"):
        verify(sigstore, data, trust=trust(sigstore, anchored))


def test_any_of_several_identities_may_match(sigstore):
    bob = CertificateIdentity(identity="bob@example.com", issuer="https://issuer.example")
    result = verify(sigstore, sigstore.message_bundle(sigstore.leaf(), DIGEST), trust=trust(sigstore, bob, ALICE))
    assert result.identity == "alice@example.com"


def test_issuer_extensions_that_disagree_are_refused(sigstore):
    leaf = sigstore.leaf(issuer="https://issuer.example", issuer_v1="https://other.example")
    with pytest.raises(CheckFailed, match="two OIDC issuer extensions disagree"):
        verify(sigstore, sigstore.message_bundle(leaf, DIGEST))


def test_legacy_issuer_extension_alone_is_read():
    from core.sigstore.fulcio import oidc_issuer

    fake = FakeSigstore()
    leaf = fake.leaf(issuer="https://issuer.example", issuer_v1="https://issuer.example")
    assert oidc_issuer(leaf.cert) == "https://issuer.example"


def test_untrusted_ca(sigstore):
    stranger = FakeSigstore(name="stranger")
    # Logged in our (trusted) log, issued by a CA we do not trust.
    with pytest.raises(CheckFailed, match="does not chain to a trusted CA"):
        verify(sigstore, sigstore.message_bundle(stranger.leaf(), DIGEST))


def test_certificate_expired_at_signing_time(sigstore):
    leaf = sigstore.leaf()
    late = leaf.cert.not_valid_after_utc + timedelta(minutes=5)
    with pytest.raises(CheckFailed, match="does not chain to a trusted CA valid at"):
        verify(sigstore, sigstore.message_bundle(leaf, DIGEST, signed_at=late))


def test_intermediate_expired_at_signing_time():
    fake = FakeSigstore(inter_not_after=T0 + timedelta(minutes=3))
    leaf = fake.leaf(minutes=10)
    data = fake.message_bundle(leaf, DIGEST, signed_at=T0 + timedelta(minutes=5))  # leaf valid, intermediate not
    with pytest.raises(CheckFailed, match="does not chain"):
        verify_bundle(parse_bundle(data), digest=DIGEST, trust=SigstoreTrust(
            root=parse_trusted_root(fake.trusted_root()), identities=(ALICE,)), now=NOW)


def test_leaf_not_for_code_signing(sigstore):
    with pytest.raises(CheckFailed, match="not for code signing"):
        verify(sigstore, sigstore.message_bundle(sigstore.leaf(code_signing=False), DIGEST))


def test_tampered_tlog_entry_body(sigstore):
    data = sigstore.message_bundle(sigstore.leaf(), DIGEST)

    def tamper(doc):
        entry = doc["verificationMaterial"]["tlogEntries"][0]
        body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
        body["spec"]["data"]["hash"]["value"] = "00" * 32
        entry["canonicalizedBody"] = base64.b64encode(json.dumps(body).encode()).decode()
    with pytest.raises(CheckFailed, match="records a different artifact hash"):
        verify(sigstore, edit(data, tamper))


def test_tampered_integrated_time_breaks_the_set(sigstore):
    data = sigstore.message_bundle(sigstore.leaf(), DIGEST)
    changed = edit(data, lambda d: d["verificationMaterial"]["tlogEntries"][0].update(
        integratedTime=str(int((T0 + timedelta(minutes=2)).timestamp()))))
    with pytest.raises(CheckFailed, match="signed entry timestamp does not verify"):
        verify(sigstore, changed)


def test_tampered_inclusion_proof_root(sigstore):
    data = sigstore.message_bundle(sigstore.leaf(), DIGEST)
    changed = edit(data, lambda d: d["verificationMaterial"]["tlogEntries"][0]["inclusionProof"].update(
        rootHash=base64.b64encode(b"\x01" * 32).decode()))
    with pytest.raises(CheckFailed, match="inclusion proof"):
        verify(sigstore, changed)


def test_tlog_entry_of_another_signature_is_refused(sigstore):
    """CVE-2022-23649: a valid entry copied from another signature (same signer, same artifact)."""
    leaf = sigstore.leaf()
    mine = sigstore.message_bundle(leaf, DIGEST)
    theirs = sigstore.message_bundle(leaf, DIGEST)  # ECDSA: a second, different valid signature
    swapped = edit(mine, lambda d: d["verificationMaterial"].update(
        tlogEntries=json.loads(theirs)["verificationMaterial"]["tlogEntries"]))
    with pytest.raises(CheckFailed, match="records a different signature"):
        verify(sigstore, swapped)


def test_tlog_entry_of_another_certificate_is_refused(sigstore):
    mine = sigstore.message_bundle(sigstore.leaf(), DIGEST)
    other = sigstore.message_bundle(sigstore.leaf(), DIGEST)
    swapped = edit(mine, lambda d: d["verificationMaterial"].update(
        tlogEntries=json.loads(other)["verificationMaterial"]["tlogEntries"]))
    with pytest.raises(CheckFailed, match="records a different"):
        verify(sigstore, swapped)


def test_tlog_is_required_for_keyless_and_can_be_waived_only_explicitly(sigstore):
    data = edit(sigstore.message_bundle(sigstore.leaf(), DIGEST),
                lambda d: d["verificationMaterial"].update(tlogEntries=[]))
    with pytest.raises(CheckFailed, match="no transparency log entry"):
        verify(sigstore, data)
    # Waived: no signed time, so the short-lived certificate must be valid *now* — it is not.
    with pytest.raises(CheckFailed, match="does not chain"):
        verify(sigstore, data, trust=trust(sigstore, require_tlog=False))


def test_unknown_log_is_refused(sigstore):
    root = parse_trusted_root(sigstore.trusted_root(include_log=False))
    with pytest.raises(CheckFailed, match="not in the trusted root"):
        verify(sigstore, sigstore.message_bundle(sigstore.leaf(), DIGEST),
               trust=SigstoreTrust(root=root, identities=(ALICE,)))


def test_bundle_for_another_digest(sigstore):
    with pytest.raises(CheckFailed, match="signs a different digest"):
        verify(sigstore, sigstore.message_bundle(sigstore.leaf(), OTHER))


def test_statement_naming_another_digest(sigstore):
    with pytest.raises(CheckFailed, match="subjects do not name this digest"):
        verify(sigstore, sigstore.dsse_bundle(sigstore.leaf(), statement(OTHER)))


def test_tampered_dsse_payload(sigstore):
    data = sigstore.dsse_bundle(sigstore.leaf(), statement(DIGEST))
    evil = base64.b64encode(json.dumps(statement(DIGEST, predicate={"evil": True})).encode()).decode()
    with pytest.raises(CheckFailed, match="signature does not verify"):
        verify(sigstore, edit(data, lambda d: d["dsseEnvelope"].update(payload=evil)))


def test_dsse_with_two_signatures(sigstore):
    with pytest.raises(CheckFailed, match="exactly one is allowed"):
        verify(sigstore, sigstore.dsse_bundle(sigstore.leaf(), statement(DIGEST), extra_signatures=1))


def test_dsse_payload_type_must_be_in_toto(sigstore):
    data = sigstore.dsse_bundle(sigstore.leaf(), statement(DIGEST))
    with pytest.raises(CheckFailed, match="payloadType"):
        verify(sigstore, edit(data, lambda d: d["dsseEnvelope"].update(payloadType="text/plain")))


def test_malformed_statement_is_a_failure_not_a_pass(sigstore):
    with pytest.raises(CheckFailed, match=r"subject\[0\]: expected a JSON object"):
        verify(sigstore, sigstore.dsse_bundle(sigstore.leaf(),
                                              b'{"_type": "https://in-toto.io/Statement/v1", "subject": [null]}'))
    with pytest.raises(CheckFailed, match="not valid JSON"):
        verify(sigstore, sigstore.dsse_bundle(sigstore.leaf(), b'{"_type": '))


def test_bundle_carrying_its_own_root_is_refused(sigstore):
    from cryptography.hazmat.primitives import serialization

    leaf = sigstore.leaf()
    data = sigstore.message_bundle(leaf, DIGEST)

    def with_chain(doc):
        doc["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2"
        vm = doc["verificationMaterial"]
        vm["x509CertificateChain"] = {"certificates": [
            {"rawBytes": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()}
            for c in (leaf.cert, sigstore.intermediate, sigstore.root)]}
        del vm["certificate"]
    with pytest.raises(CheckFailed, match="carries a root certificate"):
        verify(sigstore, edit(data, with_chain))


def test_identity_flags_are_mandatory_for_keyless(sigstore):
    with pytest.raises(CheckFailed, match="keyless verification needs a certificate identity and issuer"):
        verify(sigstore, sigstore.message_bundle(sigstore.leaf(), DIGEST),
               trust=SigstoreTrust(root=parse_trusted_root(sigstore.trusted_root())))
    with pytest.raises(InputError, match="certificate-oidc-issuer"):
        CertificateIdentity(identity="alice@example.com")
    with pytest.raises(InputError, match="invalid identity regular expression"):
        CertificateIdentity(identity_regexp="(", issuer="x")


def test_bundle_limits(sigstore):
    data = sigstore.message_bundle(sigstore.leaf(), DIGEST)
    many = edit(data, lambda d: d["verificationMaterial"].update(
        tlogEntries=d["verificationMaterial"]["tlogEntries"] * 33))
    with pytest.raises(CheckFailed, match="at most 32"):
        parse_bundle(many)
    stamps = edit(data, lambda d: d["verificationMaterial"].update(
        timestampVerificationData={"rfc3161Timestamps": [{"signedTimestamp": "AA=="}] * 33}))
    with pytest.raises(CheckFailed, match="at most 32"):
        parse_bundle(stamps)
    subjects = statement(DIGEST)
    subjects["subject"] = subjects["subject"] * 1025
    with pytest.raises(CheckFailed, match="subject must be a list of 1 to 1024"):
        verify(sigstore, sigstore.dsse_bundle(sigstore.leaf(), subjects))
    with pytest.raises(CheckFailed, match="duplicate JSON key"):
        parse_bundle(b'{"mediaType": "a", "mediaType": "b"}')


# --- classic `.sig` layers with certificate, chain and Rekor bundle annotations ------------------


def test_classic_keyless_layer_verifies_and_binds(sigstore):
    payload = b'{"critical":{"image":{"docker-manifest-digest":"' + DIGEST.encode() + b'"}}}'
    leaf = sigstore.leaf()
    annotations = sigstore.classic_layer(leaf, payload)
    result = verify_cosign_signature(payload, annotations, trust=trust(sigstore), now=NOW)
    assert result.identity == "alice@example.com"
    # The same annotations over another payload: the signature and the log entry no longer match.
    with pytest.raises(CheckFailed):
        verify_cosign_signature(payload + b" ", annotations, trust=trust(sigstore), now=NOW)
    # A Rekor bundle copied from another signature of the same signer (CVE-2022-23649).
    other = sigstore.classic_layer(leaf, payload)
    forged = dict(annotations, **{"dev.sigstore.cosign/bundle": other["dev.sigstore.cosign/bundle"]})
    with pytest.raises(CheckFailed, match="records a different signature"):
        verify_cosign_signature(payload, forged, trust=trust(sigstore), now=NOW)


def test_classic_chain_annotation_is_only_a_hint(sigstore):
    payload = b"{}"
    stranger = FakeSigstore(name="stranger")
    leaf = stranger.leaf()
    annotations = stranger.classic_layer(leaf, payload)
    # Re-log it in our log, keep the stranger's chain (which includes its root) in the annotation.
    body = sigstore.hashedrekord_body(base64.b64decode(annotations["dev.cosignproject.cosign/signature"]),
                                      annotations["dev.sigstore.cosign/certificate"].encode(),
                                      hashlib.sha256(payload).digest())
    annotations["dev.sigstore.cosign/bundle"] = sigstore.cosign_bundle_annotation(body, T0 + timedelta(minutes=1))
    with pytest.raises(CheckFailed, match="does not chain to a trusted CA"):
        verify_cosign_signature(payload, annotations, trust=trust(sigstore), now=NOW)


def test_identity_mismatch_names_what_was_expected(sigstore):
    regexp = CertificateIdentity(identity_regexp="^bob@", issuer="https://issuer.example")
    with pytest.raises(CheckFailed) as info:
        verify(sigstore, sigstore.message_bundle(sigstore.leaf(), DIGEST), trust=trust(sigstore, regexp))
    assert "alice@example.com from https://issuer.example" in str(info.value)
    assert "~^bob@ from https://issuer.example" in str(info.value)


def test_key_based_signature_with_required_log_but_no_entry(sigstore):
    key = ec.generate_private_key(ec.SECP256R1())
    data = edit(sigstore.key_bundle(key, DIGEST), lambda d: d["verificationMaterial"].update(tlogEntries=[]))
    trusted = load_public_key(public_key_pem(key.public_key()))
    root = parse_trusted_root(sigstore.trusted_root())
    assert verify(sigstore, data, trust=SigstoreTrust(root=root, keys=(trusted,))).tlog_indexes == ()
    with pytest.raises(CheckFailed, match="no transparency log entry"):
        verify(sigstore, data, trust=SigstoreTrust(root=root, keys=(trusted,), require_tlog=True))


def test_log_key_outside_its_validity_window_at_integrated_time(sigstore):
    doc = json.loads(sigstore.trusted_root())
    doc["tlogs"][0]["publicKey"]["validFor"] = {"start": "2026-01-16T00:00:00Z"}  # after the entry was logged
    root = parse_trusted_root(json.dumps(doc).encode())
    with pytest.raises(CheckFailed, match="outside the log key's validity"):
        verify(sigstore, sigstore.message_bundle(sigstore.leaf(), DIGEST),
               trust=SigstoreTrust(root=root, identities=(ALICE,)))
    doc["tlogs"][0]["publicKey"]["validFor"] = {"start": "2025-01-01T00:00:00Z", "end": "2026-01-15T12:00:30Z"}
    with pytest.raises(CheckFailed, match="outside the log key's validity"):
        verify(sigstore, sigstore.message_bundle(sigstore.leaf(), DIGEST),
               trust=SigstoreTrust(root=parse_trusted_root(json.dumps(doc).encode()), identities=(ALICE,)))
