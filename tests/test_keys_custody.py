"""Key generation, import, export and inventory lookups against the real store, files and moto."""

from __future__ import annotations

import json
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from core.aws.client import aws_client
from core.crypto.public_keys import fingerprint, load_public_key, verify_signature
from core.errors import InputError, InvalidState, NotFound, PermissionDenied, WrongPassphrase
from core.keys import aws_keys
from core.keys.cosign_format import decrypt_cosign_private_key, is_encrypted_cosign_pem
from core.keys.custody import (
    KeyPlacement,
    export_key,
    generate_key,
    import_key,
    import_kms_key,
    open_private_key,
)
from core.keys.inventory import find_key, list_keys, set_key_state, trusted_keys
from tests.conftest import FIXTURES
from tests.support.keys import ctx, custodian_context  # noqa: F401 (ctx is a fixture)

PASS = b"correct horse battery"
COSIGN_KEYS = FIXTURES / "cosign-encrypted-keys"


def _audit(ctx, action):
    return [json.loads(r["details"]) for r in ctx.store.query("SELECT details FROM audit WHERE action = ?", (action,))]


def test_generate_local_key_writes_encrypted_0600_files_in_a_0700_store(ctx, signet_home):
    record = generate_key(ctx, name="prod-2026", passphrase=PASS, custodians=["alice", "bob"])
    store = signet_home / "keys"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    key_file = store / f"{record.id}.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert is_encrypted_cosign_pem(key_file.read_bytes())
    private = decrypt_cosign_private_key(key_file.read_bytes(), PASS)
    assert fingerprint(private.public_key()) == record.fingerprint
    assert record.state == "active" and record.algorithm == "ecdsa-p256" and record.custodians == ("alice", "bob")
    assert record.activated_at == record.created_at
    details = _audit(ctx, "key.generate")
    assert details[0]["fingerprint"] == record.fingerprint and details[0]["location"] == "local"
    events = ctx.store.query("SELECT event FROM key_events WHERE key_id = ?", (record.id,))
    assert [e["event"] for e in events] == ["created"]


def test_find_key_by_id_name_and_fingerprint_prefix(ctx):
    a = generate_key(ctx, name="alpha", passphrase=PASS)
    assert find_key(ctx, a.id) == a
    assert find_key(ctx, "alpha") == a
    assert find_key(ctx, a.fingerprint[:10]) == a
    assert find_key(ctx, "sha256:" + a.fingerprint[:10].upper()) == a
    with pytest.raises(NotFound):
        find_key(ctx, "nope")
    with pytest.raises(NotFound):
        find_key(ctx, a.fingerprint[:4])  # too short to be a prefix


def test_ambiguous_fingerprint_prefix_is_refused(ctx):
    target = generate_key(ctx, name="real", passphrase=PASS)
    # A public-only row whose fingerprint shares the first 6 digits of the real key.
    with ctx.store.write() as db:
        db.insert("keys", {"id": "key_000000000000", "name": "twin", "fingerprint": target.fingerprint[:6] + "0" * 58,
                           "algorithm": "ecdsa-p256", "location": "public", "public_pem": target.public_pem,
                           "state": "retired", "created_at": target.created_at})
    with pytest.raises(InputError, match="ambiguous: it matches real, twin"):
        find_key(ctx, target.fingerprint[:6])
    assert find_key(ctx, target.fingerprint[:12]) == target


def test_duplicate_name_or_bad_name_is_refused(ctx):
    generate_key(ctx, name="dup", passphrase=PASS)
    with pytest.raises(InvalidState, match="already exists"):
        generate_key(ctx, name="dup", passphrase=PASS)
    with pytest.raises(InputError, match="key name"):
        generate_key(ctx, name="../evil", passphrase=PASS)
    with pytest.raises(InputError, match="at least 8"):
        generate_key(ctx, name="short", passphrase=b"abc")
    assert [k.name for k in list_keys(ctx)] == ["dup"]


def test_generation_needs_the_custodian_role(signet_home):
    ctx = custodian_context(signet_home, identity="mallory", custodians=("alice",))
    with pytest.raises(PermissionDenied, match="custodian"):
        generate_key(ctx, name="x", passphrase=PASS)
    assert list_keys(ctx) == [] and not (signet_home / "keys").exists()
    ctx.close()


@pytest.mark.parametrize("path, password", [("policy-controller-example/cosign.key", b""),
                                            ("cosign-keys-test/encrypted-cosign-labeled.key", b"hello")])
def test_import_real_cosign_keys_and_export_round_trips(ctx, tmp_path, path, password):
    record = import_key(ctx, name="imported", pem=(COSIGN_KEYS / path).read_bytes(), passphrase=password)
    if path.startswith("policy"):
        assert record.fingerprint == load_public_key((COSIGN_KEYS / "policy-controller-example/cosign.pub")
                                                     .read_bytes()).fingerprint
    exported = export_key(ctx, "imported")
    assert b"ENCRYPTED SIGSTORE PRIVATE KEY" in exported
    assert fingerprint(decrypt_cosign_private_key(exported, password).public_key()) == record.fingerprint
    assert export_key(ctx, record.fingerprint[:8], public=True) == record.public_pem.encode()
    assert _audit(ctx, "key.export")[0]["fingerprint"] == record.fingerprint


def test_import_failures_are_clear_and_leave_nothing(ctx, signet_home):
    pem = (COSIGN_KEYS / "cosign-keys-test/encrypted-sigstore-labeled.key").read_bytes()
    with pytest.raises(WrongPassphrase):
        import_key(ctx, name="x", pem=pem, passphrase=b"wrong")
    with pytest.raises(InputError, match="not PKCS#8"):
        import_key(ctx, name="x", pem=(COSIGN_KEYS / "cosign-keys-test/encrypted-cosign-labeled-sec1-plaintext.key")
                   .read_bytes(), passphrase=b"hello")
    import_key(ctx, name="x", pem=pem, passphrase=b"hello")
    with pytest.raises(InvalidState, match="fingerprint"):
        import_key(ctx, name="y", pem=pem, passphrase=b"hello")  # same key twice
    assert len(list(ctx.paths.key_store.glob("*.key"))) == 1
    assert [k.name for k in list_keys(ctx)] == ["x"]


def test_open_private_key_checks_passphrase_and_fingerprint(ctx):
    record = generate_key(ctx, name="k", passphrase=PASS)
    assert fingerprint(open_private_key(ctx, record, lambda _name: PASS).public_key()) == record.fingerprint
    with pytest.raises(WrongPassphrase):
        open_private_key(ctx, record, lambda _name: b"wrong passphrase")
    # Another key's file put in its place is caught.
    other = generate_key(ctx, name="other", passphrase=PASS)
    (ctx.paths.key_store / f"{record.id}.key").write_bytes((ctx.paths.key_store / f"{other.id}.key").read_bytes())
    with pytest.raises(InvalidState, match="does not match"):
        open_private_key(ctx, record, lambda _name: PASS)


def test_world_readable_key_file_is_refused(ctx):
    record = generate_key(ctx, name="k", passphrase=PASS)
    (ctx.paths.key_store / f"{record.id}.key").chmod(0o644)
    with pytest.raises(InvalidState, match="readable by others"):
        open_private_key(ctx, record, lambda _name: PASS)


def test_state_transitions_and_trusted_keys(ctx):
    a = generate_key(ctx, name="a", passphrase=PASS)
    b = generate_key(ctx, name="b", passphrase=PASS, state="staged")
    assert {k.fingerprint for k in trusted_keys(ctx)} == {a.fingerprint, b.fingerprint}
    with ctx.store.write() as db:
        set_key_state(ctx, db, a.id, "retiring")
        set_key_state(ctx, db, a.id, "retired")
        with pytest.raises(InvalidState, match="cannot go from retired to active"):
            set_key_state(ctx, db, a.id, "active")
        revoked = set_key_state(ctx, db, a.id, "revoked")
    assert revoked.revoked_at and revoked.retired_at
    assert [k.fingerprint for k in trusted_keys(ctx)] == [b.fingerprint]


def test_secrets_manager_key_stores_only_the_encrypted_pem(ctx, aws_endpoint):
    record = generate_key(ctx, name="sm-key", passphrase=PASS, placement=KeyPlacement(store="secretsmanager"))
    assert record.location == "secretsmanager" and record.location_ref.startswith("arn:aws:secretsmanager:")
    client = aws_client("secretsmanager", ctx.config.limits)
    secret = client.get_secret_value(SecretId=record.location_ref)["SecretString"].encode()
    assert is_encrypted_cosign_pem(secret) and b"BEGIN PRIVATE KEY" not in secret
    assert fingerprint(open_private_key(ctx, record, lambda _n: PASS).public_key()) == record.fingerprint
    assert b"SIGSTORE PRIVATE KEY" in export_key(ctx, "sm-key")
    assert not ctx.paths.key_store.exists() or not list(ctx.paths.key_store.glob("*.key"))


def test_kms_key_signs_in_kms_and_pins_the_arn(ctx, aws_endpoint):
    record = generate_key(ctx, name="kms-key", placement=KeyPlacement(store="kms"))
    assert record.location == "kms" and ":key/" in record.location_ref and "alias" not in record.location_ref
    client = aws_client("kms", ctx.config.limits)
    signature = aws_keys.kms_sign(client, record.location_ref, b"payload")
    assert verify_signature(record.trusted_key().key, signature, b"payload")
    with pytest.raises(InvalidState, match="cannot be read"):
        export_key(ctx, "kms-key")
    assert export_key(ctx, "kms-key", public=True) == record.public_pem.encode()


def test_import_kms_key_by_arn_refuses_aliases_and_wrong_specs(ctx, aws_endpoint):
    client = aws_client("kms", ctx.config.limits)
    arn = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    record = import_kms_key(ctx, name="adopted", arn=f"awskms:///{arn}")
    assert record.location_ref == arn
    with pytest.raises(InputError, match="not a KMS key ARN"):
        import_kms_key(ctx, name="aliased", arn="awskms:///alias/signing")
    rsa_arn = client.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    with pytest.raises(InputError, match="not ECC_NIST_P256"):
        import_kms_key(ctx, name="rsa", arn=rsa_arn)


def test_generated_key_is_a_real_p256_key(ctx):
    record = generate_key(ctx, name="p", passphrase=PASS)
    assert isinstance(record.trusted_key().key, ec.EllipticCurvePublicKey)


def test_secrets_manager_secret_is_removed_when_the_inventory_refuses_the_key(ctx, aws_endpoint):
    pem = (COSIGN_KEYS / "cosign-keys-test/encrypted-sigstore-labeled.key").read_bytes()
    placement = KeyPlacement(store="secretsmanager")
    import_key(ctx, name="first", pem=pem, passphrase=b"hello", placement=placement)
    with pytest.raises(InvalidState, match="fingerprint"):
        import_key(ctx, name="second", pem=pem, passphrase=b"hello", placement=placement)  # same key again
    client = aws_client("secretsmanager", ctx.config.limits)
    names = [s["Name"] for s in client.list_secrets()["SecretList"]]
    assert names == ["signet/keys/first"]
    # Deleted without a recovery window, so the name is free again.
    other = (COSIGN_KEYS / "policy-controller-example/cosign.key").read_bytes()
    assert import_key(ctx, name="second", pem=other, passphrase=b"", placement=placement).location == "secretsmanager"
