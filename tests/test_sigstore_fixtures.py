"""Real Sigstore/cosign material other than the conformance suite gives its documented result
(each folder's README): sigstore-go edge bundles, cosign's OCI attestation bundle, connaisseur's
keyless `.sig` layer, containers/image's Fulcio/Rekor/PKI signatures and SET unit data."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

import pytest
from cryptography import x509

from core.errors import CheckFailed
from core.sigstore.bundle import parse_bundle
from core.sigstore.certificate_identity import CertificateIdentity
from core.sigstore.fulcio import subject_alternative_names
from core.sigstore.rekor import SignedContent, parse_cosign_bundle_annotation, verify_entry
from core.sigstore.trusted_root import load_trusted_root, trusted_root_from_pems
from core.sigstore.verifier import SigstoreTrust, verify_bundle, verify_cosign_signature
from tests.support.sigstore_fixtures import (
    ANY_IDENTITY, CONNAISSEUR, CONTAINERS_IMAGE, EDGE, NOW, OCI_BUNDLE, OCI_BUNDLE_DIGEST, connaisseur_keyless_layer,
    connaisseur_root, containers_image_key, containers_image_layer,
)

OTHERNAME_DIGEST = "sha256:bc103b4a84971ef6459b294a2b98568a2bfb72cded09d4acd1e16366a401f95b"
GITHUB = "https://github.com/login/oauth"


# --- sigstore-go edge bundles -------------------------------------------------------------------


def _othername(identity: str):
    trust = SigstoreTrust(root=load_trusted_root(EDGE / "trusted_root.scaffolding.json"),
                          identities=(CertificateIdentity(identity=identity, issuer="http://oidc.local:8080"),))
    return verify_bundle(parse_bundle((EDGE / "othername.sigstore.json").read_bytes()), digest=OTHERNAME_DIGEST,
                         trust=trust, now=NOW)


def test_othername_san_matches_its_username_identity():
    result = _othername("foo!oidc.local")
    assert (result.identity, result.issuer) == ("foo!oidc.local", "http://oidc.local:8080")


def test_othername_san_is_not_an_email():
    with pytest.raises(CheckFailed, match="matches none"):
        _othername("foo@oidc.local")


def test_othername_san_is_read_from_a_critical_extension():
    bundle = parse_bundle((EDGE / "othername.sigstore.json").read_bytes())
    assert subject_alternative_names(bundle.certificates[0]) == ("foo!oidc.local",)


def test_dsse_bundle_with_two_signatures_is_refused():
    with pytest.raises(CheckFailed, match="2 signatures; exactly one is allowed"):
        parse_bundle((EDGE / "dsse-2sigs.sigstore.json").read_bytes())


def test_dsse_bundle_whose_subject_has_only_sha512_never_matches_an_image_digest():
    bundle = parse_bundle((EDGE / "dsse.sigstore.json").read_bytes())
    trust = SigstoreTrust(root=load_trusted_root(EDGE / "trusted_root.public-good.json"), identities=(ANY_IDENTITY,))
    with pytest.raises(CheckFailed, match="subjects do not name this digest"):
        verify_bundle(bundle, digest="sha256:" + "0" * 64, trust=trust, now=NOW)


# --- cosign --new-bundle-format OCI attestation -------------------------------------------------


def _oci_bundle(identity: CertificateIdentity, digest: str = OCI_BUNDLE_DIGEST):
    trust = SigstoreTrust(root=load_trusted_root(OCI_BUNDLE / "trusted_root_pgi.json"), identities=(identity,))
    return verify_bundle(parse_bundle((OCI_BUNDLE / "oci-attestation.sigstore.json").read_bytes()), digest=digest,
                         trust=trust, now=NOW)


def test_cosign_oci_bundle_verifies_for_any_identity_and_exact_identity():
    assert _oci_bundle(ANY_IDENTITY).identity == "cody@soyland.com"
    result = _oci_bundle(CertificateIdentity(identity="cody@soyland.com", issuer=GITHUB))
    assert result.statement.predicate_type == "https://cosign.sigstore.dev/attestation/v1"
    assert result.signed_at[0].isoformat() == "2025-02-28T19:18:11+00:00"


def test_cosign_oci_bundle_wrong_identity():
    with pytest.raises(CheckFailed, match="matches none"):
        _oci_bundle(CertificateIdentity(identity_regexp="wrong", issuer_regexp=".*"))


def test_cosign_oci_bundle_for_another_digest():
    with pytest.raises(CheckFailed, match="subjects do not name this digest"):
        _oci_bundle(ANY_IDENTITY, digest="sha256:" + "1" * 64)


def test_cosign_oci_bundle_without_the_ct_log_key_fails_on_the_sct():
    root = load_trusted_root(OCI_BUNDLE / "trusted_root_pgi.json")
    other_ct = trusted_root_from_pems(ctlog_keys=((CONTAINERS_IMAGE / "keys/cosign.pub").read_bytes(),)).ctlogs
    trust = SigstoreTrust(root=dataclasses.replace(root, ctlogs=other_ct), identities=(ANY_IDENTITY,))
    with pytest.raises(CheckFailed, match="no valid embedded SCT"):
        verify_bundle(parse_bundle((OCI_BUNDLE / "oci-attestation.sigstore.json").read_bytes()),
                      digest=OCI_BUNDLE_DIGEST, trust=trust, now=NOW)


def test_trusted_root_ca_validity_window_is_enforced():
    """The pgi root's first CA (2021–2022) does not cover 2025; with only it the chain fails."""
    root = load_trusted_root(OCI_BUNDLE / "trusted_root_pgi.json")
    trust = SigstoreTrust(root=dataclasses.replace(root, certificate_authorities=root.certificate_authorities[:1]),
                          identities=(ANY_IDENTITY,))
    with pytest.raises(CheckFailed, match="does not chain to a trusted CA valid at 2025-02-28"):
        verify_bundle(parse_bundle((OCI_BUNDLE / "oci-attestation.sigstore.json").read_bytes()),
                      digest=OCI_BUNDLE_DIGEST, trust=trust, now=NOW)


# --- connaisseur keyless `.sig` layer -----------------------------------------------------------


def test_connaisseur_keyless_layer_verifies_with_regexp_identity():
    payload, annotations, digest = connaisseur_keyless_layer()
    trust = SigstoreTrust(root=connaisseur_root(),
                          identities=(CertificateIdentity(identity_regexp="philipp", issuer_regexp="github"),))
    result = verify_cosign_signature(payload, annotations, trust=trust, now=NOW)
    assert result.identity == "philipp.belitz@securesystems.de"
    assert result.issuer == GITHUB
    assert result.signed_at[0].isoformat() == "2024-05-30T15:18:17+00:00"
    assert digest.encode() in payload  # the digest claim itself is core/verify's check


def test_connaisseur_keyless_layer_rejects_another_identity():
    payload, annotations, _ = connaisseur_keyless_layer()
    trust = SigstoreTrust(root=connaisseur_root(),
                          identities=(CertificateIdentity(identity="bob@gmail.com", issuer_regexp="google"),))
    with pytest.raises(CheckFailed, match="matches none"):
        verify_cosign_signature(payload, annotations, trust=trust, now=NOW)


def test_connaisseur_keyless_layer_with_a_foreign_rekor_key_fails():
    payload, annotations, _ = connaisseur_keyless_layer()
    trust_dir = CONNAISSEUR / "trust"
    root = trusted_root_from_pems(fulcio_certs=(trust_dir / "fulcio_root_v1.crt.pem").read_bytes(),
                                  rekor_keys=((CONTAINERS_IMAGE / "keys/cosign.pub").read_bytes(),),
                                  ctlog_keys=((trust_dir / "ctfe.pub").read_bytes(),))
    trust = SigstoreTrust(root=root, identities=(ANY_IDENTITY,))
    with pytest.raises(CheckFailed, match="not in the trusted root"):
        verify_cosign_signature(payload, annotations, trust=trust, now=NOW)


# --- containers/image ---------------------------------------------------------------------------


def _fulcio_root(rekor_key: str = "rekor.pub"):
    keys = CONTAINERS_IMAGE / "keys"
    return trusted_root_from_pems(fulcio_certs=(keys / "fulcio_v1.crt.pem").read_bytes(),
                                  rekor_keys=((keys / rekor_key).read_bytes(),),
                                  ctlog_keys=((CONNAISSEUR / "trust/ctfe.pub").read_bytes(),))


def test_containers_image_fulcio_rekor_signature_with_legacy_issuer_only():
    payload, annotations, _ = containers_image_layer("dir-img-cosign-fulcio-rekor-valid/signature-1")
    trust = SigstoreTrust(root=_fulcio_root(),
                          identities=(CertificateIdentity(identity="mitr@redhat.com", issuer=GITHUB),))
    result = verify_cosign_signature(payload, annotations, trust=trust, now=NOW)
    assert result.signed_at[0].isoformat() == "2023-01-20T20:51:33+00:00"
    assert result.tlog_indexes == (11605770,)


def test_containers_image_key_signature_with_rekor_set():
    payload, annotations, _ = containers_image_layer("dir-img-cosign-key-rekor-valid/signature-1")
    good = SigstoreTrust(root=_fulcio_root(), keys=(containers_image_key("cosign2.pub"),))
    assert verify_cosign_signature(payload, annotations, trust=good, now=NOW).tlog_indexes == (11608800,)
    wrong_log = trusted_root_from_pems(rekor_keys=((CONTAINERS_IMAGE / "keys/cosign.pub").read_bytes(),))
    with pytest.raises(CheckFailed, match="not in the trusted root"):
        verify_cosign_signature(payload, annotations, trust=SigstoreTrust(root=wrong_log, keys=good.keys), now=NOW)


def test_containers_image_pki_rsa_signature_needs_its_intermediates():
    payload, annotations, _ = containers_image_layer("dir-img-cosign-pki-valid/signature-1")
    root = trusted_root_from_pems(fulcio_certs=(CONTAINERS_IMAGE / "keys/pki_root_crts.pem").read_bytes())
    trust = SigstoreTrust(root=root, require_tlog=False,
                          identities=(CertificateIdentity(identity="qiwan@redhat.com", issuer_regexp=".*"),))
    pki_now = NOW.replace(year=2025)  # inside the long-lived leaf's validity; no signed time exists
    assert verify_cosign_signature(payload, annotations, trust=trust, now=pki_now).identity == "qiwan@redhat.com"
    without_chain = {k: v for k, v in annotations.items() if k != "dev.sigstore.cosign/chain"}
    with pytest.raises(CheckFailed, match="does not chain"):
        verify_cosign_signature(payload, without_chain, trust=trust, now=pki_now)
    # The same signature keyless-with-log-required: there is no signed time, so it is refused.
    with pytest.raises(CheckFailed, match="no transparency log entry"):
        verify_cosign_signature(payload, annotations, trust=dataclasses.replace(trust, require_tlog=True), now=pki_now)


def test_containers_image_rekor_set_unit_data():
    unit = CONTAINERS_IMAGE / "rekor-set-unit"
    entry = parse_cosign_bundle_annotation((unit / "rekor-set").read_text())
    content = SignedContent(signature=base64.b64decode((unit / "rekor-sig").read_bytes()),
                            verifier=x509.load_pem_x509_certificate((unit / "rekor-cert").read_bytes()),
                            digest=hashlib.sha256((unit / "rekor-payload").read_bytes()).digest())
    root = _fulcio_root()
    assert verify_entry(entry, root, content).timestamp() == 1670870899
    assert entry.log_index == 8949589
    wrong = dataclasses.replace(content, digest=b"\x00" * 32)
    with pytest.raises(CheckFailed, match="different artifact hash"):
        verify_entry(entry, root, wrong)
    forged = json.loads((unit / "rekor-set").read_text())
    forged["Payload"]["logIndex"] += 1
    with pytest.raises(CheckFailed, match="signed entry timestamp does not verify"):
        verify_entry(parse_cosign_bundle_annotation(json.dumps(forged)), root, content)
