"""`verify-attestation` against a real docker-registry: classic `.att` layers (keyless and key-based)
and bundle referrers, including cosign's own OCI attestation bundle on the image it attests."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from core.clock import iso
from core.crypto.public_keys import fingerprint
from core.errors import InputError
from core.sigstore.attestation import PREDICATE_TYPES, predicate_type_for
from core.sigstore.certificate_identity import CertificateIdentity
from core.sigstore.dsse import INTOTO_PAYLOAD_TYPE, pae
from core.verify.attestations import verify_attestations
from core.verify.policy import TrustArgs
from core.verify.verifier import Verifier
from tests.support.oci import (OCI_CONFIG, OCI_MANIFEST, descriptor, new_key, push_blob, push_image, push_index,
                               push_manifest, sign, write_public_key)
from tests.support.referrers import GGCR_EMPTY_MANIFEST, attach_bundle, manifest_size, push_ggcr_empty_image
from tests.support.sigstore_factory import envelope, statement
from tests.support.sigstore_fixtures import OCI_BUNDLE
from tests.support.sigstore_world import ALICE, ctx, registry, root_file, sigstore  # noqa: F401 (fixtures)
from tests.support.store import history
from tui.cli.main import cli

CODY = CertificateIdentity(identity="cody@soyland.com", issuer="https://github.com/login/oauth")
SLSA1 = PREDICATE_TYPES["slsaprovenance1"]
SPDX = PREDICATE_TYPES["spdxjson"]
CUSTOM = PREDICATE_TYPES["custom"]
DSSE_LAYER = "application/vnd.dsse.envelope.v1+json"


def push_attestations(base_url: str, repo: str, digest: str, layers: list[tuple[bytes, dict]]) -> None:
    """The `.att` manifest: one DSSE-envelope layer per attestation (cosign's layout)."""
    config = b'{"architecture":"","os":"","config":{}}'
    for blob in [config] + [blob for blob, _ in layers]:
        push_blob(base_url, repo, blob)
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(config, OCI_CONFIG),
                      "layers": [descriptor(blob, DSSE_LAYER, annotations=ann) for blob, ann in layers]}).encode()
    push_manifest(base_url, repo, digest.replace(":", "-") + ".att", raw)


def slsa(digest: str) -> dict:
    return statement(digest, SLSA1, {"buildDefinition": {"externalParameters": {"workflow": {
        "repository": "https://github.com/acme/app"}}}, "runDetails": {"builder": {"id": "https://builder.test/v1"}}})


def test_keyless_classic_attestation_with_summary(ctx, registry, sigstore, root_file):
    digest = push_image(registry.url, "att-slsa", "v1")
    push_attestations(registry.url, "att-slsa", digest, [sigstore.classic_attestation(sigstore.leaf(), slsa(digest))])
    policy = Verifier.for_args(ctx, TrustArgs(identities=(ALICE,), trusted_root=root_file))
    result = verify_attestations(ctx, f"{registry.host}/att-slsa:v1", policy, predicate_type=SLSA1)
    assert result.result == "verified", result.reason
    summary = result.summaries[0]
    assert (summary.builder_id, summary.source_repository) == ("https://builder.test/v1", "https://github.com/acme/app")
    assert result.checks[0].identity == "alice@example.com"


def test_predicate_type_filter_is_applied_before_success(ctx, registry, sigstore, root_file):
    """CVE-2022-35929: a valid SLSA attestation does not satisfy --type spdxjson."""
    digest = push_image(registry.url, "att-filter", "v1")
    push_attestations(registry.url, "att-filter", digest, [sigstore.classic_attestation(sigstore.leaf(), slsa(digest))])
    policy = Verifier.for_args(ctx, TrustArgs(identities=(ALICE,), trusted_root=root_file))
    result = verify_attestations(ctx, f"{registry.host}/att-filter:v1", policy, predicate_type=SPDX)
    assert result.result == "unsigned"
    assert SLSA1 in result.reason and not any(c.ok for c in result.checks)


def test_predicate_type_is_taken_from_the_verified_statement_not_the_annotation(ctx, registry, sigstore, root_file):
    digest = push_image(registry.url, "att-lying", "v1")
    blob, annotations = sigstore.classic_attestation(sigstore.leaf(), slsa(digest))
    annotations["predicateType"] = SPDX
    push_attestations(registry.url, "att-lying", digest, [(blob, annotations)])
    policy = Verifier.for_args(ctx, TrustArgs(identities=(ALICE,), trusted_root=root_file))
    assert verify_attestations(ctx, f"{registry.host}/att-lying:v1", policy, predicate_type=SPDX).result == "unsigned"


def test_statement_naming_another_digest_is_invalid(ctx, registry, sigstore, root_file):
    digest = push_image(registry.url, "att-other", "v1")
    push_attestations(registry.url, "att-other", digest,
                      [sigstore.classic_attestation(sigstore.leaf(), slsa("sha256:" + "9" * 64))])
    policy = Verifier.for_args(ctx, TrustArgs(identities=(ALICE,), trusted_root=root_file))
    result = verify_attestations(ctx, f"{registry.host}/att-other:v1", policy, predicate_type=SLSA1)
    assert result.result == "invalid" and "subjects do not name this digest" in result.reason


def test_tampered_attestation_payload_is_invalid(ctx, registry, sigstore, root_file):
    digest = push_image(registry.url, "att-tamper", "v1")
    blob, annotations = sigstore.classic_attestation(sigstore.leaf(), slsa(digest))
    doc = json.loads(blob)
    evil = slsa(digest)
    evil["predicate"]["runDetails"]["builder"]["id"] = "https://evil.test"
    forged = envelope(json.dumps(evil).encode(), [base64.b64decode(doc["signatures"][0]["sig"])])
    push_attestations(registry.url, "att-tamper", digest, [(forged, annotations)])
    policy = Verifier.for_args(ctx, TrustArgs(identities=(ALICE,), trusted_root=root_file))
    result = verify_attestations(ctx, f"{registry.host}/att-tamper:v1", policy, predicate_type=SLSA1)
    assert result.result == "invalid" and "signature does not verify" in result.reason


def test_key_based_classic_attestation_and_two_signature_envelope(ctx, registry, tmp_path):
    key = new_key()
    digest = push_image(registry.url, "att-key", "v1")
    payload = json.dumps(statement(digest, SPDX, {"packages": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})).encode()
    signature = sign(key, pae(INTOTO_PAYLOAD_TYPE, payload))
    push_attestations(registry.url, "att-key", digest, [(envelope(payload, [signature]),
                                                         {"dev.cosignproject.cosign/signature": ""})])
    policy = Verifier.for_args(ctx, TrustArgs(keys=[str(write_public_key(tmp_path / "k.pub", key))]))
    result = verify_attestations(ctx, f"{registry.host}/att-key:v1", policy, predicate_type=SPDX)
    assert result.result == "verified", result.reason
    assert result.summaries[0].package_count == 3
    two = push_image(registry.url, "att-key2", "v1")
    payload = json.dumps(statement(two, SPDX)).encode()
    signature = sign(key, pae(INTOTO_PAYLOAD_TYPE, payload))
    push_attestations(registry.url, "att-key2", two, [(envelope(payload, [signature, signature]),
                                                       {"dev.cosignproject.cosign/signature": ""})])
    result = verify_attestations(ctx, f"{registry.host}/att-key2:v1", policy, predicate_type=SPDX)
    assert result.result == "invalid" and "exactly one is allowed" in result.reason


def test_every_attestation_check_is_written_to_the_history(ctx, registry, tmp_path):
    """Issue 3: every verification is a history row — verify-attestation too, whatever its outcome."""
    key = new_key()
    digest = push_image(registry.url, "att-history", "v1")
    payload = json.dumps(statement(digest, SPDX)).encode()
    push_attestations(registry.url, "att-history", digest, [(envelope(payload, [sign(key, pae(INTOTO_PAYLOAD_TYPE,
                                                                                           payload))]),
                                                             {"dev.cosignproject.cosign/signature": ""})])
    policy = Verifier.for_args(ctx, TrustArgs(keys=[str(write_public_key(tmp_path / "k.pub", key))]))
    verify_attestations(ctx, f"{registry.host}/att-history:v1", policy, predicate_type=SPDX)
    verify_attestations(ctx, f"{registry.host}/att-history:v1", policy, predicate_type=SLSA1)
    ctx.interface = "tui"
    verify_attestations(ctx, "127.0.0.1:1/nowhere:v1", policy, predicate_type=SPDX)
    error, unsigned, verified = history(ctx.store)
    assert (verified.source, verified.result, verified.digest) == ("cli", "verified", digest)
    assert verified.reference == f"{registry.host}/att-history:v1" and verified.actor == ctx.actor
    assert verified.matched_keys == [fingerprint(key.public_key())]
    assert verified.details["predicate_type"] == SPDX and verified.details["attestations"][0]["ok"] is True
    assert verified.at == iso(ctx.clock())
    assert (unsigned.result, unsigned.matched_keys, unsigned.details["predicate_type"]) == ("unsigned", [], SLSA1)
    assert "no attestation of type" in unsigned.reason
    assert (error.source, error.result, error.digest) == ("tui", "error", None)


def test_bundle_referrer_attestation(ctx, registry, sigstore, root_file):
    digest = push_image(registry.url, "att-bundle", "v1")
    size = manifest_size(registry.url, "att-bundle", digest)
    attach_bundle(registry.url, "att-bundle", digest, size, sigstore.dsse_bundle(sigstore.leaf(), slsa(digest)),
                  predicate_type=SLSA1)
    policy = Verifier.for_args(ctx, TrustArgs(identities=(ALICE,), trusted_root=root_file))
    result = verify_attestations(ctx, f"{registry.host}/att-bundle:v1", policy, predicate_type=SLSA1)
    assert result.result == "verified", result.reason
    assert [c.source for c in result.checks] == ["sigstore-bundle"]


def test_real_cosign_bundle_attestation_via_cli(signet_home, registry):
    digest = push_ggcr_empty_image(registry.url, "ggcr-att", "empty")
    attach_bundle(registry.url, "ggcr-att", digest, len(GGCR_EMPTY_MANIFEST),
                  (OCI_BUNDLE / "oci-attestation.sigstore.json").read_bytes(),
                  subject_type="application/vnd.docker.distribution.manifest.v2+json", predicate_type=CUSTOM)
    base = ["verify-attestation", f"{registry.host}/ggcr-att:empty", "--trusted-root",
            str(OCI_BUNDLE / "trusted_root_pgi.json"), "--json"]
    ok = CliRunner().invoke(cli, base + ["--certificate-identity", CODY.identity,
                                         "--certificate-oidc-issuer", CODY.issuer, "--type", "custom"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["result"] == "verified" and doc["digest"] == digest
    assert doc["attestations"][0]["identity"] == "cody@soyland.com"
    assert doc["attestations"][0]["summary"]["predicate_type"] == CUSTOM
    wrong_type = CliRunner().invoke(cli, base + ["--certificate-identity", CODY.identity,
                                                 "--certificate-oidc-issuer", CODY.issuer, "--type", "slsaprovenance"])
    assert wrong_type.exit_code == 1 and json.loads(wrong_type.stdout)["result"] == "unsigned"
    history = CliRunner().invoke(cli, ["history", "--json"])
    assert [(r["source"], r["result"], r["digest"]) for r in json.loads(history.stdout)] == [
        ("cli", "unsigned", digest), ("cli", "verified", digest)]
    wrong_id = CliRunner().invoke(cli, base + ["--certificate-identity-regexp", "^wrong$",
                                               "--certificate-oidc-issuer-regexp", ".*", "--type", "custom"])
    assert wrong_id.exit_code == 1 and json.loads(wrong_id.stdout)["result"] == "invalid"
    table = CliRunner().invoke(cli, base[:-1] + ["--certificate-identity", CODY.identity,
                                                 "--certificate-oidc-issuer", CODY.issuer])
    assert table.exit_code == 0 and "verified" in table.stdout
    assert "cody@soyland.com" in table.stdout and CUSTOM in table.stdout
    no_issuer = CliRunner().invoke(cli, base + ["--certificate-identity", CODY.identity])
    assert no_issuer.exit_code == 2 and "certificate-oidc-issuer" in no_issuer.stderr


def test_keyless_signet_verify_cli_flags(signet_home, registry, sigstore, root_file):
    digest = push_image(registry.url, "cli-keyless", "v1")
    size = manifest_size(registry.url, "cli-keyless", digest)
    attach_bundle(registry.url, "cli-keyless", digest, size, sigstore.dsse_bundle(sigstore.leaf(), statement(digest)))
    base = ["verify", f"{registry.host}/cli-keyless:v1", "--trusted-root", root_file, "--json",
            "--certificate-oidc-issuer", ALICE.issuer]
    ok = CliRunner().invoke(cli, base + ["--certificate-identity", ALICE.identity])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)[0]["signatures"][0]["identity"] == "alice@example.com"
    bad = CliRunner().invoke(cli, base + ["--certificate-identity", "bob@example.com"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)[0]["result"] == "invalid"


def test_type_names_follow_cosign():
    assert predicate_type_for("slsaprovenance") == "https://slsa.dev/provenance/v0.2"
    assert predicate_type_for("vuln") == "https://cosign.sigstore.dev/attestation/vuln/v1"
    assert predicate_type_for("https://example.com/p/v1") == "https://example.com/p/v1"
    with pytest.raises(InputError, match="unknown attestation type"):
        predicate_type_for("sbom")


def test_unusable_keyless_policy_is_a_usage_error(signet_home, registry):
    no_root = CliRunner().invoke(cli, ["verify", f"{registry.host}/nothing:v1", "--certificate-identity",
                                       ALICE.identity, "--certificate-oidc-issuer", ALICE.issuer])
    assert no_root.exit_code == 2 and "--trusted-root" in no_root.stderr
    threshold = CliRunner().invoke(cli, ["verify-attestation", f"{registry.host}/nothing:v1", "--threshold", "2",
                                         "--certificate-identity", ALICE.identity, "--certificate-oidc-issuer",
                                         ALICE.issuer, "--trusted-root", str(OCI_BUNDLE / "trusted_root_pgi.json")])
    assert threshold.exit_code == 2 and "keyless identities" in threshold.stderr


def test_malformed_reference_and_unknown_type_are_usage_errors(signet_home):
    bad_ref = CliRunner().invoke(cli, ["verify-attestation", "Registry/UPPER\x1b[31m:tag", "--key", "k.pub"])
    assert bad_ref.exit_code == 2 and "\x1b" not in bad_ref.stderr
    bad_type = CliRunner().invoke(cli, ["verify-attestation", "127.0.0.1:1/app:v1", "--type", "sbom"])
    assert bad_type.exit_code == 2 and "unknown attestation type" in bad_type.stderr


def test_platform_checks_the_attestations_of_that_index_child(ctx, registry, sigstore, root_file):
    index, children = push_index(registry.url, "att-multi", "v1")
    arm = children["linux/arm64"]
    push_attestations(registry.url, "att-multi", arm, [sigstore.classic_attestation(sigstore.leaf(), slsa(arm))])
    policy = Verifier.for_args(ctx, TrustArgs(identities=(ALICE,), trusted_root=root_file))
    ref = f"{registry.host}/att-multi:v1"
    child = verify_attestations(ctx, ref, policy, predicate_type=SLSA1, platform="linux/arm64")
    assert child.result == "verified" and child.digest == arm, child.reason
    whole = verify_attestations(ctx, ref, policy, predicate_type=SLSA1)
    assert whole.result == "unsigned" and whole.digest == index  # the index itself has no attestation
    other = verify_attestations(ctx, ref, policy, predicate_type=SLSA1, platform="linux/amd64")
    assert other.result == "unsigned" and other.digest == children["linux/amd64"]
    missing = verify_attestations(ctx, ref, policy, predicate_type=SLSA1, platform="windows/amd64")
    assert missing.result == "error" and "not in index" in missing.reason
    run = CliRunner().invoke(cli, ["verify-attestation", ref, "--type", "slsaprovenance1", "--platform", "linux/arm64",
                                   "--trusted-root", str(root_file), "--certificate-identity", ALICE.identity,
                                   "--certificate-oidc-issuer", ALICE.issuer, "--allow-http-registry", "--json"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["digest"] == arm
