"""Signers for every place a key lives, checked by verifying their signatures with the public key."""

from __future__ import annotations

import pytest

from core.aws.client import aws_client
from core.crypto.public_keys import verify_signature
from core.errors import InvalidState, WrongPassphrase
from core.keys.custody import KeyPlacement, generate_key
from core.keys.inventory import set_key_state
from core.keys.local_store import write_secret_file
from core.sign.signers import KmsSigner, signer_for
from tests.conftest import FIXTURES
from tests.support.keys import ctx  # noqa: F401 (fixture)

PASS = b"correct horse battery"


def _check(signer, record=None):
    signature = signer.sign(b"hello payload")
    assert verify_signature(signer.public_key, signature, b"hello payload")
    assert not verify_signature(signer.public_key, signature, b"other payload")
    if record is not None:
        assert signer.fingerprint == record.fingerprint and signer.key_id == record.id


def test_local_store_key_by_name_and_prefix(ctx):
    record = generate_key(ctx, name="local", passphrase=PASS)
    asked = []
    signer = signer_for(ctx, "local", passphrase_provider=lambda what: asked.append(what) or PASS)
    _check(signer, record)
    assert asked == ["local"]
    _check(signer_for(ctx, record.fingerprint[:8], passphrase_provider=lambda _w: PASS), record)
    with pytest.raises(WrongPassphrase):
        signer_for(ctx, "local", passphrase_provider=lambda _w: b"not the passphrase")


def test_cosign_key_file_path(ctx, tmp_path):
    path = tmp_path / "cosign.key"
    write_secret_file(path, (FIXTURES / "cosign-encrypted-keys/policy-controller-example/cosign.key").read_bytes())
    _check(signer_for(ctx, str(path), passphrase_provider=lambda _w: b""))
    path.chmod(0o644)
    with pytest.raises(InvalidState, match="readable by others"):
        signer_for(ctx, str(path), passphrase_provider=lambda _w: b"")


def test_only_active_keys_sign(ctx):
    record = generate_key(ctx, name="old", passphrase=PASS)
    staged = generate_key(ctx, name="new", passphrase=PASS, state="staged")
    with pytest.raises(InvalidState, match="new is staged"):
        signer_for(ctx, "new", passphrase_provider=lambda _w: PASS)
    _check(signer_for(ctx, "new", passphrase_provider=lambda _w: PASS, allowed_states=("staged",)), staged)
    with ctx.store.write() as db:
        set_key_state(ctx, db, record.id, "retiring")
    with pytest.raises(InvalidState, match="old is retiring"):
        signer_for(ctx, "old", passphrase_provider=lambda _w: PASS)


def test_secrets_manager_key_signs(ctx, aws_endpoint):
    record = generate_key(ctx, name="sm", passphrase=PASS, placement=KeyPlacement(store="secretsmanager"))
    _check(signer_for(ctx, "sm", passphrase_provider=lambda _w: PASS), record)


def test_kms_key_signs_by_store_reference_and_by_arn_uri(ctx, aws_endpoint):
    record = generate_key(ctx, name="kms", placement=KeyPlacement(store="kms"))
    signer = signer_for(ctx, "kms", passphrase_provider=lambda _w: pytest.fail("KMS needs no passphrase"))
    assert isinstance(signer, KmsSigner)
    _check(signer, record)
    by_uri = signer_for(ctx, f"awskms:///{record.location_ref}", passphrase_provider=lambda _w: b"")
    assert by_uri.fingerprint == record.fingerprint
    _check(by_uri)


def test_kms_signer_refuses_a_key_whose_public_key_changed(ctx, aws_endpoint):
    record = generate_key(ctx, name="kms", placement=KeyPlacement(store="kms"))
    client = aws_client("kms", ctx.config.limits)
    other = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    with ctx.store.write() as db:
        db.execute("UPDATE keys SET location_ref = ? WHERE id = ?", (other, record.id))
    with pytest.raises(InvalidState, match="no longer has the public key"):
        signer_for(ctx, "kms", passphrase_provider=lambda _w: b"")


def test_a_copy_of_a_revoked_key_cannot_sign_by_path(ctx, tmp_path):
    from core.keys.custody import export_key

    record = generate_key(ctx, name="gone", passphrase=PASS)
    write_secret_file(tmp_path / "copy.key", export_key(ctx, "gone"))
    _check(signer_for(ctx, str(tmp_path / "copy.key"), passphrase_provider=lambda _w: PASS))
    with ctx.store.write() as db:
        set_key_state(ctx, db, record.id, "revoked")
    with pytest.raises(InvalidState, match="inventory's key gone, which is revoked"):
        signer_for(ctx, str(tmp_path / "copy.key"), passphrase_provider=lambda _w: PASS)
