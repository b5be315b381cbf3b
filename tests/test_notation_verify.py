"""Notary Project signatures through `signet verify`: every case of the notation fixtures
(tests/fixtures/notation/expected.json, signatures made by the notation CLI) gives its documented result
through `signet verify oci:...`; a notation-signed image in a real docker-registry (found through the
referrers fallback tag); threshold across cosign keys and notation signers; notation signatures without
notation trust are reported as such; hostile referrers stay bounded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

from core.context import open_context
from tests.support.console import console_context, press, running
from tests.support.notation import (attach_to_registry, jws_envelope, make_signer, payload_for, signature_manifest,
                                    statement, write_notation_config)
from tests.support.oci import (OCI_MANIFEST, build_image, descriptor, new_key, push_blob, push_image, push_manifest,
                               push_signatures, signature_layer, write_layout, write_public_key)
from tests.support.store import history
from tests.test_notation_core import CASES, FIXTURES, PROFILE, aws_envelope, notation_config
from tui.cli.main import cli

LAYOUTS = FIXTURES / "layouts"


def verify(*args: str):
    return CliRunner().invoke(cli, ["verify", *args, "--json"])


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_notation_fixture_case_through_signet_verify(signet_home, tmp_path, case):
    config = notation_config(tmp_path, FIXTURES / case["trust_policy"], case["trust_store"])
    image = case["image"].replace("oci:", f"oci:{FIXTURES}/", 1)
    result = verify(image, "--notation-config", str(config), "--notation-scope", case["scope"])
    if case.get("failed_check") == "policy":
        assert result.exit_code == 2 and str(config / "trustpolicy.json") in result.stderr, result.output
        return
    (doc,) = json.loads(result.stdout)
    if case["expected"] == "verified":
        assert result.exit_code == 0 and doc["result"] == "verified", doc["reason"]
        (ok,) = [s for s in doc["signatures"] if s["ok"]]
        assert ok["source"] == "notation-jws" and ok["details"]["statement"]
        if "verified_by" in case:
            assert ok["details"]["referrer"] == case["verified_by"]
        assert [m for m in doc["matched_keys"] if m.startswith("notation:")]
        return
    assert result.exit_code == 1 and doc["result"] == "invalid", doc
    if case["expected"] == "skipped":
        assert "skips signature verification" in doc["reason"]
    elif case["failed_check"] == "noApplicablePolicy":
        assert "no applicable trust policy statement" in doc["reason"]
    else:
        assert [s["reason"].split(":")[0] for s in doc["signatures"]] == case["failed_check"]


def test_notation_signature_without_notation_trust_is_unsigned_and_says_why(signet_home, tmp_path):
    key = write_public_key(tmp_path / "cosign.pub", new_key())
    result = verify(f"oci:{LAYOUTS}/e2e-valid-signature:v1", "--key", str(key),
                    "--notation-config", str(tmp_path / "absent"))
    assert result.exit_code == 2 and "trustpolicy" in result.stderr  # a named directory must hold a policy
    result = verify(f"oci:{LAYOUTS}/e2e-valid-signature:v1", "--key", str(key))
    (doc,) = json.loads(result.stdout)
    assert result.exit_code == 1 and doc["result"] == "unsigned"
    assert "1 notation signature(s) exist, but no notation trust policy covers them" in doc["reason"]


def copy_layout_to_registry(registry, repository: str, layout: Path) -> None:
    """Every blob and manifest of a notation-signed layout into a real registry, as `notation sign` leaves
    them there (the image by tag, the signature by digest, the referrers fallback index by its tag)."""
    for blob in (layout / "blobs" / "sha256").iterdir():
        push_blob(registry.url, repository, blob.read_bytes())
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        raw = (layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes()
        reference = entry.get("annotations", {}).get("org.opencontainers.image.ref.name", entry["digest"])
        push_manifest(registry.url, repository, reference, raw, entry["mediaType"])


def test_notation_signed_image_in_a_real_registry(signet_home, registry_session, tmp_path):
    """The notation CLI's own signature, moved into docker-registry 2.8 (no referrers API: found through
    the sha256-<hex> fallback index); the statement's scope is the image's registry/repository."""
    copy_layout_to_registry(registry_session, "notation/e2e", LAYOUTS / "e2e-valid-signature")
    scope = f"{registry_session.host}/notation/e2e"
    policy = json.loads((FIXTURES / "trustpolicies" / "registry_scope_trustpolicy.json").read_text())
    policy["trustPolicies"][0]["registryScopes"] = [scope]
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    (tmp_path / "notation").mkdir()
    config = notation_config(tmp_path / "notation", tmp_path / "policy.json", {"ca:e2e": ["trust/localkeys/e2e.crt"]})
    result = verify(f"{scope}:v1", "--notation-config", str(config), "--allow-http-registry")
    (doc,) = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["result"] == "verified", doc["reason"]
    ctx = open_context()
    try:
        (row,) = history(ctx.store, limit=1)
        (signature,) = [s for s in row.details["signatures"] if s["ok"]]
        assert signature["source"] == "notation-jws" and signature["identity"].startswith("CN=e2e")
    finally:
        ctx.close()
    elsewhere = f"{registry_session.host}/notation/copy"
    copy_layout_to_registry(registry_session, "notation/copy", LAYOUTS / "e2e-valid-signature")
    other = verify(f"{elsewhere}:v1", "--notation-config", str(config), "--allow-http-registry")
    (doc,) = json.loads(other.stdout)
    assert other.exit_code == 1 and "no applicable trust policy statement" in doc["reason"]


def test_threshold_counts_cosign_keys_and_notation_signers_together(signet_home, registry_session, tmp_path):
    """Self-made: one image signed with a cosign key and with a notation certificate."""
    repo = "notation/mixed"
    image = build_image()
    digest = push_image(registry_session.url, repo, "v1", image)
    cosign_key = new_key()
    push_signatures(registry_session.url, repo, digest,
                    [signature_layer(cosign_key, f"{registry_session.host}/{repo}", digest)])
    signer = make_signer()
    attach_to_registry(registry_session.url, repo, digest, len(image.manifest),
                       jws_envelope(signer, payload_for(digest, len(image.manifest))))
    config = write_notation_config(tmp_path / "notation", {"ca:corp": [signer.root]}, [statement()])
    key_file = write_public_key(tmp_path / "cosign.pub", cosign_key)
    ref = f"{registry_session.host}/{repo}:v1"
    both = verify(ref, "--key", str(key_file), "--notation-config", str(config), "--threshold", "2",
                  "--allow-http-registry")
    (doc,) = json.loads(both.stdout)
    assert both.exit_code == 0 and doc["result"] == "verified", doc["reason"]
    assert len(doc["matched_keys"]) == 2 and any(m.startswith("notation:") for m in doc["matched_keys"])
    untrusted = write_notation_config(tmp_path / "other", {"ca:corp": [make_signer().root]}, [statement()])
    one = verify(ref, "--key", str(key_file), "--notation-config", str(untrusted), "--threshold", "2",
                 "--allow-http-registry")
    (doc,) = json.loads(one.stdout)
    assert one.exit_code == 1 and doc["result"] == "invalid" and "only 1 of the 2" in doc["reason"]


async def test_console_shows_each_notation_signature_format_signer_and_statement(tmp_path):
    """Registries view on an oci: registry holding the notation CLI's signed layout, notation trust configured."""
    registry = tmp_path / "registry"
    shutil.copytree(LAYOUTS / "e2e-valid-signature", registry / "e2e")
    (tmp_path / "notation").mkdir()
    config = notation_config(tmp_path / "notation", FIXTURES / "trustpolicies" / "trustpolicy.json",
                             {"ca:e2e": ["trust/localkeys/e2e.crt"]})
    extra = (f'[[registries]]\nname = "notary"\nurl = {json.dumps("oci:" + str(registry))}\nauth = "anonymous"\n\n'
             f'[trust]\nnotation_config = {json.dumps(str(config))}\n')
    (tmp_path / "home").mkdir()
    ctx = console_context(tmp_path / "home", extra=extra)
    async with running(ctx, "registries") as (app, pilot):
        view = app.view
        await press(app, pilot, "enter")  # into "notary"
        await press(app, pilot, "enter")  # into repository e2e
        assert [t.tag for t in view.tags] == ["v1"]
        await press(app, pilot, "v")
        assert view.verified[view.tags[0].reference].result == "verified"
        detail = view.query_one("#detail").text
        assert "signature notation-jws#0" in detail and "identity CN=e2e,O=Notary" in detail
        assert "trust policy statement e2e" in detail and "signed at 2023-06-27T13:30:33+08:00" in detail
    ctx.close()


def test_aws_signer_signature_revocation_through_the_cli(signet_home, tmp_path, aws_endpoint, monkeypatch):
    """Self-made AWS-Signer-shaped signature in an OCI layout. With [trust] aws_signer_revocation Signet asks
    signer:GetRevocationStatus (here moto's server on loopback, which does not implement it: the status
    is unknown), strict fails and permissive logs; without it the status is unknown, said so."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    image = build_image()
    image_digest = descriptor(image.manifest, image.media_type)["digest"]
    signer = make_signer(cn="AWS Signer test", curve=ec.SECP384R1())
    envelope = aws_envelope(signer, image_digest, len(image.manifest))
    subject = {"mediaType": image.media_type, "digest": image_digest, "size": len(image.manifest)}
    envelope_digest = descriptor(envelope, "application/jose+json")["digest"]
    sig = json.dumps(signature_manifest(subject, envelope_digest, len(envelope))).encode()
    layout = write_layout(tmp_path / "layout", {"v1": (image.manifest, image.media_type), "sig": (sig, OCI_MANIFEST)},
                          [*image.blobs, envelope, b"{}"])
    stores = {"signingAuthority:aws-signer-ts": [signer.root]}
    strict = write_notation_config(tmp_path / "strict", stores, [statement(stores=("signingAuthority:aws-signer-ts",),
                                                                         identities=(PROFILE,))])
    permissive = write_notation_config(tmp_path / "permissive", stores, [statement(
        stores=("signingAuthority:aws-signer-ts",), identities=(PROFILE,), level="permissive")])
    (signet_home / "config.toml").write_text("[trust]\naws_signer_revocation = true\n")
    refused = verify(f"oci:{layout}:v1", "--notation-config", str(strict))
    (doc,) = json.loads(refused.stdout)
    assert refused.exit_code == 1 and "signer:GetRevocationStatus failed" in doc["reason"], doc["reason"]
    logged = verify(f"oci:{layout}:v1", "--notation-config", str(permissive))
    (doc,) = json.loads(logged.stdout)
    assert logged.exit_code == 0 and doc["signatures"][0]["source"] == "aws-signer"
    assert any("revocation" in entry for entry in doc["signatures"][0]["details"]["logged"])
    (signet_home / "config.toml").write_text("")
    offline = verify(f"oci:{layout}:v1", "--notation-config", str(strict))
    (doc,) = json.loads(offline.stdout)
    assert offline.exit_code == 1 and "was not consulted" in doc["reason"]
