"""Trust policy resolution: key files, key-store references (signet key), config defaults, refusals."""

from __future__ import annotations

import pytest

from core.context import open_context
from core.errors import InputError, NotFound
from core.keys.custody import generate_key
from core.keys.inventory import set_key_state
from core.sign.signers import signer_for
from core.sign.service import sign_image
from core.verify.policy import TrustArgs, parse_annotations, policy_for
from core.verify.service import verify_image
from core.verify.verifier import Verifier
from tests.support.oci import new_key, push_image, write_public_key

PASS = b"a long enough passphrase"


@pytest.fixture
def ctx(signet_home):
    (signet_home / "config.toml").write_text('identity = "kim"\n[roles]\ncustodian = ["kim"]\noperator = ["kim"]\n')
    context = open_context()
    yield context
    context.close()


def test_key_store_reference_signs_and_verifies(ctx, registry):
    record = generate_key(ctx, name="release", passphrase=PASS)
    ref = f"{registry.host}/store:v1"
    push_image(registry.url, "store", "v1")
    signer = signer_for(ctx, "release", passphrase_provider=lambda _: PASS)
    assert sign_image(ctx, ref, signer).verification.result == "verified"
    for key_ref in ("release", record.id, record.fingerprint[:12]):
        policy = policy_for(ctx, TrustArgs(keys=[key_ref]))
        assert [k.fingerprint for k in policy.keys] == [record.fingerprint]
        assert verify_image(ctx, ref, Verifier(policy)).result == "verified"


def test_revoked_store_key_is_refused(ctx):
    record = generate_key(ctx, name="old", passphrase=PASS)
    with ctx.store.write() as db:
        set_key_state(ctx, db, record.id, "revoked")
    with pytest.raises(InputError, match="revoked"):
        Verifier.for_args(ctx, TrustArgs(keys=["old"]))


def test_config_trust_keys_are_the_default(signet_home, tmp_path):
    pub = write_public_key(tmp_path / "cfg.pub", new_key())
    (signet_home / "config.toml").write_text(f'[trust]\nkeys = ["{pub}"]\n')
    context = open_context()
    try:
        assert len(policy_for(context).keys) == 1
    finally:
        context.close()


def test_refusals(ctx, tmp_path):
    pub = str(write_public_key(tmp_path / "one.pub", new_key()))
    with pytest.raises(InputError, match="no trusted keys"):
        Verifier.for_args(ctx)
    with pytest.raises(InputError, match="threshold 2"):
        Verifier.for_args(ctx, TrustArgs(keys=[pub, pub], threshold=2))  # the same key twice counts once
    with pytest.raises(NotFound):
        Verifier.for_args(ctx, TrustArgs(keys=["no-such-key"]))
    (tmp_path / "junk.pub").write_text("not a key")
    with pytest.raises(InputError):
        Verifier.for_args(ctx, TrustArgs(keys=[str(tmp_path / "junk.pub")]))
    with pytest.raises(InputError):
        parse_annotations(["novalue"])
    with pytest.raises(InputError):
        parse_annotations(["a=1", "a=2"])
    assert parse_annotations(["a=b=c", "empty="]) == {"a": "b=c", "empty": ""}


def test_policy_fingerprint_changes_with_what_is_trusted(ctx, tmp_path):
    one = str(write_public_key(tmp_path / "1.pub", new_key()))
    two = str(write_public_key(tmp_path / "2.pub", new_key()))
    base = policy_for(ctx, TrustArgs(keys=[one]))
    assert base.fingerprint == policy_for(ctx, TrustArgs(keys=[one])).fingerprint
    others = [policy_for(ctx, TrustArgs(keys=[two])), policy_for(ctx, TrustArgs(keys=[one, two])),
              policy_for(ctx, TrustArgs(keys=[one], annotations={"a": "b"})),
              policy_for(ctx, TrustArgs(keys=[one], allowed_payload_types=["x"])),
              policy_for(ctx, TrustArgs(keys=[one], signature_repository="reg.example/sigs"))]
    assert len({base.fingerprint, *(p.fingerprint for p in others)}) == 6


def test_policy_cannot_be_changed_under_its_cached_fingerprint(ctx, tmp_path):
    annotations = {"env": "prod"}
    policy = policy_for(ctx, TrustArgs(keys=[str(write_public_key(tmp_path / "k.pub", new_key()))],
                                  annotations=annotations))
    before = policy.fingerprint
    annotations["env"] = "dev"  # the caller's dict was copied
    with pytest.raises(TypeError):
        policy.annotations["env"] = "dev"  # type: ignore[index]
    assert dict(policy.annotations) == {"env": "prod"} and policy.fingerprint == before


def test_trust_config_supplies_what_arguments_leave_out(signet_home, tmp_path):
    """Threshold, annotations, payload types and the keyless identity come from `[trust]` unless the
    arguments say otherwise: the console (no flags) and the CLI (flags) build the same policy."""
    one = write_public_key(tmp_path / "1.pub", new_key())
    two = write_public_key(tmp_path / "2.pub", new_key())
    (signet_home / "config.toml").write_text(
        f'[trust]\nkeys = ["{one}", "{two}"]\nthreshold = 2\nannotations = ["env=prod"]\n'
        'payload_types = ["custom"]\ncertificate_identity = "alice@example.com"\n'
        'certificate_oidc_issuer = "https://issuer.example"\n')
    context = open_context()
    try:
        configured = policy_for(context)
        assert (configured.threshold, dict(configured.annotations), configured.allowed_payload_types) == \
            (2, {"env": "prod"}, ("custom",))
        assert [i.identity for i in configured.identities] == ["alice@example.com"]
        asked = policy_for(context, TrustArgs(keys=[str(one)], threshold=1, annotations={"team": "a"},
                                              allowed_payload_types=["other"]))
        assert (len(asked.keys), asked.threshold, dict(asked.annotations), asked.allowed_payload_types) == \
            (1, 1, {"team": "a"}, ("other",))
    finally:
        context.close()


def test_verifier_refuses_an_unusable_keyless_policy(signet_home):
    """Checked when the Verifier is built (exit 2 for the CLI), before any image is looked at."""
    (signet_home / "config.toml").write_text(
        '[trust]\ncertificate_identity = "alice@example.com"\ncertificate_oidc_issuer = "https://issuer.example"\n')
    context = open_context()
    try:
        with pytest.raises(InputError, match="needs --trusted-root") as caught:
            Verifier(policy_for(context))
        assert caught.value.exit_code == 2
    finally:
        context.close()
