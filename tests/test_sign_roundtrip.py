"""`signet sign` then `signet verify` through the CLI against a real registry, and the exact bytes written."""

from __future__ import annotations

import base64
import json
import os

import httpx
import pytest
from click.testing import CliRunner
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from core.context import open_context
from core.crypto.ed25519ph import verify_ed25519ph
from core.crypto.public_keys import fingerprint, load_public_key, public_key_pem, verify_signature
from core.keys.cosign_format import generate_key_pair
from core.sign.service import LocalKeySigner, sign_image
from core.verify.policy import TrustPolicy
from core.verify.verifier import Verifier
from core.verify.service import verify_image
from tests.support.oci import build_image, cosign_payload, digest_of, new_key, push_image, signature_tag, write_layout
from tests.support.processes import free_port
from tui.cli.main import cli

PASS = "correct horse"


@pytest.fixture
def operator(signet_home):
    (signet_home / "config.toml").write_text('identity = "olga"\n[roles]\noperator = ["olga"]\n')
    return signet_home


def _key(tmp_path, name="cosign"):
    key, encrypted, public = generate_key_pair(PASS.encode())
    (tmp_path / f"{name}.key").write_bytes(encrypted)
    os.chmod(tmp_path / f"{name}.key", 0o600)
    (tmp_path / f"{name}.pub").write_bytes(public)
    return key, str(tmp_path / f"{name}.key"), str(tmp_path / f"{name}.pub")


def _run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_sign_then_verify_round_trip(operator, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNET_PASSWORD", PASS)
    key, key_file, pub_file = _key(tmp_path)
    digest = push_image(registry.url, "team/app", "v1")
    image = f"{registry.host}/team/app:v1"

    signed = _run("sign", image, "--key", key_file, "--json")
    assert signed.exit_code == 0, signed.output
    out = json.loads(signed.output)
    assert out["digest"] == digest and out["layers"] == 1 and out["verification"]["result"] == "verified"
    assert PASS not in signed.output

    verified = _run("verify", image, "--key", pub_file, "--json")
    assert verified.exit_code == 0, verified.output
    [result] = json.loads(verified.output)
    assert result["result"] == "verified" and result["digest"] == digest
    assert result["matched_keys"] == [fingerprint(key.public_key())]

    # The bytes cosign would have written: tag, media types, annotation, compact payload.
    sig = httpx.get(f"{registry.url}/v2/team/app/manifests/{signature_tag(digest)}",
                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    assert sig["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert sig["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    [layer] = sig["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    payload = httpx.get(f"{registry.url}/v2/team/app/blobs/{layer['digest']}").content
    assert payload == cosign_payload(f"{registry.host}/team/app", digest)
    assert digest_of(payload) == layer["digest"] and layer["size"] == len(payload)
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    assert verify_signature(load_public_key(open(pub_file, "rb").read()).key, signature, payload)
    config = httpx.get(f"{registry.url}/v2/team/app/blobs/{sig['config']['digest']}").json()
    assert config["rootfs"]["diff_ids"] == [layer["digest"]]

    context = open_context()
    audit = context.store.query("SELECT action, subject, details FROM audit WHERE action = 'image.sign'")
    rows = context.store.query("SELECT source, result, digest FROM verifications ORDER BY id")
    context.close()
    assert len(audit) == 1 and digest in audit[0]["subject"] and PASS not in audit[0]["details"]
    assert rows == [{"source": "cli", "result": "verified", "digest": digest}] * 2


def test_second_signature_is_appended_and_threshold_met(operator, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNET_PASSWORD", PASS)
    _, key1, pub1 = _key(tmp_path, "one")
    _, key2, pub2 = _key(tmp_path, "two")
    push_image(registry.url, "app", "v1")
    image = f"{registry.host}/app:v1"
    assert _run("sign", image, "--key", key1, "-a", "env=prod").exit_code == 0
    assert _run("verify", image, "--key", pub1, "--key", pub2, "--threshold", "2").exit_code == 1
    second = _run("sign", image, "--key", key2, "-a", "env=prod", "--json")
    assert json.loads(second.output)["layers"] == 2
    both = _run("verify", image, "--key", pub1, "--key", pub2, "--threshold", "2", "-a", "env=prod", "--json")
    assert both.exit_code == 0, both.output
    assert len(json.loads(both.output)[0]["matched_keys"]) == 2
    assert _run("verify", image, "--key", pub1, "-a", "env=dev").exit_code == 1


def test_passphrase_file_and_wrong_passphrase(operator, registry, tmp_path):
    _, key_file, pub_file = _key(tmp_path)
    push_image(registry.url, "pp", "v1")
    image = f"{registry.host}/pp:v1"
    (tmp_path / "wrong").write_text("nope\n")
    wrong = CliRunner().invoke(cli, ["sign", image, "--key", key_file, "--passphrase-file", str(tmp_path / "wrong")])
    assert wrong.exit_code == 2 and "wrong passphrase" in wrong.output
    (tmp_path / "right").write_text(PASS + "\n")
    assert _run("sign", image, "--key", key_file, "--passphrase-file", str(tmp_path / "right")).exit_code == 0
    assert _run("verify", image, "--key", pub_file).exit_code == 0


def test_sign_needs_operator_role(signet_home, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNET_PASSWORD", PASS)
    _, key_file, _ = _key(tmp_path)
    digest = push_image(registry.url, "norole", "v1")
    result = CliRunner().invoke(cli, ["sign", f"{registry.host}/norole:v1", "--key", key_file])
    assert result.exit_code == 2 and "operator role" in result.output
    assert httpx.get(f"{registry.url}/v2/norole/manifests/{signature_tag(digest)}").status_code == 404


def test_verify_exit_codes_and_table(signet_home, registry, tmp_path):
    _, _, pub_file = _key(tmp_path)
    push_image(registry.url, "codes", "v1")
    unsigned = _run("verify", f"{registry.host}/codes:v1", "--key", pub_file)
    assert unsigned.exit_code == 1 and "unsigned" in unsigned.output
    down = _run("verify", f"127.0.0.1:{free_port()}/codes:v1", "--key", pub_file)
    assert down.exit_code == 3 and "error" in down.output
    no_keys = CliRunner().invoke(cli, ["verify", f"{registry.host}/codes:v1"])
    assert no_keys.exit_code == 2 and "no trusted keys" in no_keys.output


@pytest.mark.parametrize("make_key", [
    lambda: ec.generate_private_key(ec.SECP384R1()),
    lambda: ec.generate_private_key(ec.SECP521R1()),
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ed25519.Ed25519PrivateKey.generate,
], ids=["p384", "p521", "rsa2048", "ed25519"])
def test_every_cosign_key_type_signs_and_verifies(operator, tmp_path, make_key):
    key = make_key()
    layout = tmp_path / "layout"
    image = build_image()
    write_layout(layout, {"v1": (image.manifest, image.media_type)}, list(image.blobs))
    context = open_context()
    try:
        signed = sign_image(context, f"oci:{layout}:v1", LocalKeySigner(key))
        assert signed.verification.result == "verified"
        other = Verifier(TrustPolicy(keys=(load_public_key(public_key_pem(new_key().public_key())),)))
        context.forget_registry_cache()
        assert verify_image(context, f"oci:{layout}:v1", other).result == "invalid"
    finally:
        context.close()


def test_ed25519_keys_sign_with_ed25519ph_as_cosign_does():
    key = ed25519.Ed25519PrivateKey.generate()
    signature = LocalKeySigner(key).sign(b"payload")
    assert verify_ed25519ph(key.public_key(), signature, b"payload")
    with pytest.raises(InvalidSignature):  # not pure Ed25519, which cosign would not accept
        key.public_key().verify(signature, b"payload")
