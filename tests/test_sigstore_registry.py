"""Keyless `.sig` signatures and Sigstore bundle referrers, verified through core/verify against a real
docker-registry (2.8: no referrers API, so the `sha256-<hex>` fallback index is what is read)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from click.testing import CliRunner

from core.config.model import Config, LimitsConfig, TrustConfig
from core.crypto.public_keys import fingerprint
from core.errors import InputError
from core.registry.client import open_registry
from core.registry.reference import parse_reference
from core.sigstore.certificate_identity import CertificateIdentity
from core.verify.policy import TrustArgs, configured_identities
from core.verify.service import verify_image
from core.verify.sigstore_bundles import find_bundles
from core.verify.verifier import Verifier
from tests.support.oci import (OCI_INDEX, OCI_MANIFEST, RewritingProxy, SignatureLayer, build_image, cosign_payload,
                               digest_of, new_key, push_blob, push_image, push_manifest, push_signatures, sign,
                               write_layout, write_public_key)
from tests.support.referrers import (
    GGCR_EMPTY_MANIFEST, attach_bundle, attach_referrer, manifest_size, push_ggcr_empty_image, referrer_manifest,
)
from tests.support.sigstore_factory import statement
from tests.support.sigstore_fixtures import OCI_BUNDLE
from tests.support.sigstore_world import ALICE, ctx, registry, root_file, sigstore  # noqa: F401 (fixtures)
from tui.cli.main import cli

SLSA = "https://slsa.dev/provenance/v1"


def keyless(ctx, root_file, *identities, **kw):
    return Verifier.for_args(ctx, TrustArgs(identities=identities or (ALICE,), trusted_root=root_file, **kw))


def image(registry, repo):
    digest = push_image(registry.url, repo, "v1")
    return f"{registry.host}/{repo}:v1", digest, manifest_size(registry.url, repo, digest)


def keyless_sig_layer(sigstore, leaf, repo_ref, digest):
    payload = cosign_payload(repo_ref, digest)
    return SignatureLayer(payload, b"", annotations=sigstore.classic_layer(leaf, payload))


def test_keyless_classic_signature_verifies_with_identity(ctx, registry, sigstore, root_file):
    ref, digest, _ = image(registry, "keyless")
    push_signatures(registry.url, "keyless", digest, [keyless_sig_layer(sigstore, sigstore.leaf(), "x", digest)])
    result = verify_image(ctx, ref, keyless(ctx, root_file))
    assert result.result == "verified", result.reason
    check = result.signatures[0]
    assert (check.source, check.identity, check.issuer) == ("cosign-sig", "alice@example.com", "https://issuer.example")


def test_keyless_classic_signature_with_wrong_identity_is_invalid(ctx, registry, sigstore, root_file):
    ref, digest, _ = image(registry, "keyless-wrong")
    push_signatures(registry.url, "keyless-wrong", digest,
                    [keyless_sig_layer(sigstore, sigstore.leaf(email="mallory@example.com"), "x", digest)])
    result = verify_image(ctx, ref, keyless(ctx, root_file))
    assert result.result == "invalid"
    assert "mallory@example.com" in result.reason and "matches none" in result.reason


def test_keyless_signature_replayed_onto_another_digest_is_invalid(ctx, registry, sigstore, root_file):
    ref, digest, _ = image(registry, "replay")
    other = "sha256:" + "e" * 64
    push_signatures(registry.url, "replay", digest, [keyless_sig_layer(sigstore, sigstore.leaf(), "x", other)])
    result = verify_image(ctx, ref, keyless(ctx, root_file))
    assert result.result == "invalid" and "not this image's digest" in result.reason


def test_keyless_needs_a_trusted_root(ctx):
    """Refused when the Verifier is built (a usage error), before any image is looked at."""
    with pytest.raises(InputError, match="--trusted-root"):
        Verifier.for_args(ctx, TrustArgs(identities=(ALICE,)))


@pytest.mark.parametrize("index_type", ["application/vnd.dev.sigstore.bundle.v0.3+json",
                                        "application/vnd.oci.empty.v1+json", None])
def test_dsse_signature_bundle_referrer_via_fallback_tag(ctx, registry, sigstore, root_file, index_type):
    repo = f"bundle-{str(index_type).split('.')[-1].replace('+', '').lower()}"
    ref, digest, size = image(registry, repo)
    bundle = sigstore.dsse_bundle(sigstore.leaf(), statement(digest))
    attach_bundle(registry.url, repo, digest, size, bundle, index_artifact_type=index_type)
    result = verify_image(ctx, ref, keyless(ctx, root_file))
    assert result.result == "verified", result.reason
    assert [(c.source, c.ok, c.identity) for c in result.signatures] == [("sigstore-bundle", True, "alice@example.com")]


def test_message_signature_bundle_referrer(ctx, registry, sigstore, root_file):
    ref, digest, size = image(registry, "msgbundle")
    attach_bundle(registry.url, "msgbundle", digest, size, sigstore.message_bundle(sigstore.leaf(), digest))
    assert verify_image(ctx, ref, keyless(ctx, root_file)).result == "verified"


def test_attestation_alone_does_not_make_an_image_signed(ctx, registry, sigstore, root_file):
    ref, digest, size = image(registry, "sbom-only")
    attach_bundle(registry.url, "sbom-only", digest, size,
                  sigstore.dsse_bundle(sigstore.leaf(), statement(digest, SLSA, {"builder": {"id": "b"}})),
                  predicate_type=SLSA)
    result = verify_image(ctx, ref, keyless(ctx, root_file))
    assert result.result == "unsigned", result.reason


def test_index_annotations_are_not_trusted(ctx, registry, sigstore, root_file):
    """An index entry claiming to be a cosign signature, whose manifest is really an SBOM attestation."""
    ref, digest, size = image(registry, "lying-index")
    attach_bundle(registry.url, "lying-index", digest, size,
                  sigstore.dsse_bundle(sigstore.leaf(), statement(digest, SLSA)), predicate_type=SLSA,
                  annotations={"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"})
    assert verify_image(ctx, ref, keyless(ctx, root_file)).result == "unsigned"


def test_bundle_for_another_digest_is_invalid(ctx, registry, sigstore, root_file):
    ref, digest, size = image(registry, "other-digest")
    other = "sha256:" + "f" * 64
    attach_bundle(registry.url, "other-digest", digest, size, sigstore.dsse_bundle(sigstore.leaf(), statement(other)))
    result = verify_image(ctx, ref, keyless(ctx, root_file))
    assert result.result == "invalid" and "subjects do not name this digest" in result.reason


def test_referrer_whose_subject_is_another_image_is_ignored(ctx, registry, sigstore, root_file):
    ref, digest, size = image(registry, "wrong-subject")
    other = "sha256:" + "a" * 64
    bundle = sigstore.dsse_bundle(sigstore.leaf(), statement(other))
    manifest = referrer_manifest(bundle, other, 10)  # its subject is another image
    attach_referrer(registry.url, "wrong-subject", digest, manifest, [bundle])
    assert verify_image(ctx, ref, keyless(ctx, root_file)).result == "unsigned"


def test_tampered_bundle_in_registry_is_invalid(ctx, registry, sigstore, root_file):
    ref, digest, size = image(registry, "tampered")
    doc = json.loads(sigstore.dsse_bundle(sigstore.leaf(), statement(digest)))
    doc["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1"
    attach_bundle(registry.url, "tampered", digest, size, json.dumps(doc).encode())
    result = verify_image(ctx, ref, keyless(ctx, root_file))
    assert result.result == "invalid" and "signed entry timestamp" in result.reason


def test_key_based_bundle_verifies_with_key_and_trusted_root(ctx, registry, sigstore, root_file, tmp_path):
    key = new_key()
    ref, digest, size = image(registry, "keyed-bundle")
    attach_bundle(registry.url, "keyed-bundle", digest, size, sigstore.key_bundle(key, digest))
    key_path = str(write_public_key(tmp_path / "k.pub", key))
    result = verify_image(ctx, ref, Verifier.for_args(ctx, TrustArgs(keys=[key_path], trusted_root=root_file)))
    assert result.result == "verified", result.reason
    assert result.matched_keys == (fingerprint(key.public_key()),)
    other = str(write_public_key(tmp_path / "o.pub", new_key()))
    other_key = Verifier.for_args(ctx, TrustArgs(keys=[other], trusted_root=root_file))
    assert verify_image(ctx, ref, other_key).result == "invalid"


def test_real_cosign_oci_attestation_bundle_is_not_a_signature(ctx, registry):
    """cosign's own `--new-bundle-format` attestation, attached to the exact image it attests."""
    digest = push_ggcr_empty_image(registry.url, "ggcr", "empty")
    assert digest == "sha256:" + hashlib.sha256(GGCR_EMPTY_MANIFEST).hexdigest()
    bundle = (OCI_BUNDLE / "oci-attestation.sigstore.json").read_bytes()
    attach_bundle(registry.url, "ggcr", digest, len(GGCR_EMPTY_MANIFEST), bundle,
                  subject_type="application/vnd.docker.distribution.manifest.v2+json",
                  predicate_type="https://cosign.sigstore.dev/attestation/v1")
    policy = Verifier.for_args(ctx, TrustArgs(identities=(CertificateIdentity(identity="cody@soyland.com",
                                                                       issuer="https://github.com/login/oauth"),),
                                  trusted_root=str(OCI_BUNDLE / "trusted_root_pgi.json")))
    assert verify_image(ctx, f"{registry.host}/ggcr:empty", policy).result == "unsigned"


def test_a_trusted_key_or_a_trusted_identity_may_sign(ctx, registry, sigstore, root_file, tmp_path):
    """A policy with both keys and identities: each signature is checked with whichever it carries."""
    key = new_key()
    ref, digest, _ = image(registry, "mixed")
    keyed = SignatureLayer(cosign_payload("x", digest), b"")
    keyed = SignatureLayer(keyed.payload, b"", annotations={
        "dev.cosignproject.cosign/signature": base64.b64encode(sign(key, keyed.payload)).decode()})
    push_signatures(registry.url, "mixed", digest, [keyed, keyless_sig_layer(sigstore, sigstore.leaf(), "x", digest)])
    policy = keyless(ctx, root_file, keys=[str(write_public_key(tmp_path / "k.pub", key))])
    result = verify_image(ctx, ref, policy)
    assert result.result == "verified", result.reason
    assert len(result.matched_keys) == 2
    assert [(c.ok, c.identity) for c in result.signatures] == [(True, None), (True, "alice@example.com")]


def test_identity_defaults_come_from_the_config():
    config = Config(trust=TrustConfig(certificate_identity="alice@example.com",
                                      certificate_oidc_issuer="https://issuer.example"))
    assert configured_identities(config.trust) == (ALICE,)
    assert configured_identities(Config().trust) == ()


def test_keyless_threshold_above_one_is_refused(ctx, root_file):
    """Two signatures by the same identity carry two fresh keys; they must not pass for two signers,
    so a keyless-only threshold above 1 is refused when the Verifier is built."""
    with pytest.raises(InputError, match="cannot be used with keyless identities"):
        keyless(ctx, root_file, threshold=2)


def test_referrer_with_two_bundle_layers_or_oversized_bundle_is_a_failed_signature(ctx, registry, sigstore, root_file):
    ref, digest, size = image(registry, "odd-referrers")
    bundle = sigstore.dsse_bundle(sigstore.leaf(), statement(digest))
    doc = json.loads(referrer_manifest(bundle, digest, size))
    doc["layers"] = doc["layers"] * 2
    attach_referrer(registry.url, "odd-referrers", digest, json.dumps(doc).encode(), [bundle])
    result = verify_image(ctx, ref, keyless(ctx, root_file))
    assert result.result == "invalid" and "2 bundle layers" in result.reason
    _, big_digest, big_size = image(registry, "big-referrer")
    attach_bundle(registry.url, "big-referrer", big_digest, big_size, bundle)
    source = open_registry(ctx.config, parse_reference(ref))
    try:
        found = find_bundles(source, "big-referrer", big_digest, limits=LimitsConfig(max_blob_bytes=len(bundle) - 1))
    finally:
        source.close()
    assert len(found) == 1 and found[0].bundle is None and "limit exceeded" in found[0].error


def test_required_annotations_are_read_from_the_signed_subject(ctx, registry, sigstore, root_file):
    ref, digest, size = image(registry, "annotated")
    signed = statement(digest)
    signed["subject"][0]["annotations"] = {"env": "prod"}
    attach_bundle(registry.url, "annotated", digest, size, sigstore.dsse_bundle(sigstore.leaf(), signed))
    assert verify_image(ctx, ref, keyless(ctx, root_file, annotations={"env": "prod"})).result == "verified"
    wrong = verify_image(ctx, ref, keyless(ctx, root_file, annotations={"env": "dev"}))
    assert wrong.result == "invalid" and "missing annotation env=dev" in wrong.reason
    ref2, digest2, size2 = image(registry, "annotated-msg")
    attach_bundle(registry.url, "annotated-msg", digest2, size2, sigstore.message_bundle(sigstore.leaf(), digest2))
    assert verify_image(ctx, ref2, keyless(ctx, root_file, annotations={"env": "prod"})).result == "invalid"


def test_bundle_referrer_in_an_oci_layout(ctx, sigstore, root_file, tmp_path):
    """`oci:PATH` references: the referrers fallback index is a tag in index.json."""
    image_manifest = build_image()
    bundle = sigstore.dsse_bundle(sigstore.leaf(), statement(image_manifest.digest))
    referrer = referrer_manifest(bundle, image_manifest.digest, len(image_manifest.manifest))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest_of(referrer), "size": len(referrer)}]}).encode()
    layout = write_layout(tmp_path / "layout", {
        "v1": (image_manifest.manifest, OCI_MANIFEST),
        image_manifest.digest.replace(":", "-"): (index, OCI_INDEX)},
        blobs=[*image_manifest.blobs, b"{}", bundle, referrer])
    result = verify_image(ctx, f"oci:{layout}:v1", keyless(ctx, root_file))
    assert result.result == "verified", result.reason
    assert result.signatures[0].source == "sigstore-bundle"


@pytest.mark.parametrize("predicate, expected", [(SLSA, "unsigned"),
                                                 ("https://sigstore.dev/cosign/sign/v1", "verified")])
def test_referrers_api_answer_is_used_and_its_claims_are_not_trusted(ctx, registry, sigstore, root_file,
                                                                     predicate, expected):
    """A registry with the referrers API (played by a proxy in front of the real one): its index
    always says "cosign signature"; only the opened manifest's verified content counts."""
    repo = "api-referrers-" + predicate.rsplit("/", 2)[-2]
    ref, digest, size = image(registry, repo)
    bundle = sigstore.dsse_bundle(sigstore.leaf(), statement(digest, predicate))
    manifest = referrer_manifest(bundle, digest, size, predicate_type=predicate)
    for blob in (b"{}", bundle):
        push_blob(registry.url, repo, blob)
    push_manifest(registry.url, repo, digest_of(manifest), manifest)
    lying_index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest_of(manifest), "size": len(manifest),
         "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
         "annotations": {"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"}}]}).encode()

    def api(method, path, headers):
        if path.startswith(f"/v2/{repo}/referrers/{digest}"):
            return 200, {"Content-Type": OCI_INDEX}, lying_index
        return None

    with RewritingProxy(registry.url, gate=api) as proxy:
        result = verify_image(ctx, f"{proxy.host}/{repo}:v1", keyless(ctx, root_file))
        asked = [path for _, path, _ in proxy.seen]
    assert result.result == expected, result.reason
    assert f"/v2/{repo}/referrers/{digest}" in asked
    assert f"/v2/{repo}/manifests/{digest_of(manifest)}" in asked  # the manifest itself was opened
    assert not any(path.endswith(digest.replace(":", "-")) for path in asked)  # no fallback when the API answers


def test_signet_verify_table_names_keyless_signers_by_identity(signet_home, registry, sigstore, root_file):
    ref, digest, _ = image(registry, "table-keyless")
    push_signatures(registry.url, "table-keyless", digest,
                    [keyless_sig_layer(sigstore, sigstore.leaf(), "x", digest)])
    result = CliRunner().invoke(cli, ["verify", ref, "--trusted-root", root_file, "--certificate-identity",
                                      ALICE.identity, "--certificate-oidc-issuer", ALICE.issuer])
    # The CLI runs on the real clock, long after the test leaf expired: the log's signed time is what counts.
    assert result.exit_code == 0, result.output
    assert "signers" in result.stdout and "alice@example.com" in result.stdout
