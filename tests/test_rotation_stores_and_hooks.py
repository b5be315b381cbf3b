"""Rotation across key stores (Secrets Manager -> KMS, on moto's server) and the publish hook's failure/resume."""

from __future__ import annotations

import pytest
import yaml

from core.aws.client import aws_client
from core.keys.backup import ShareScheme
from core.keys.backup_records import list_backups
from core.keys.custody import KeyPlacement, generate_key
from core.keys.inventory import find_key
from core.rotation.rotation import AdvanceOptions, StageInputs, rotation_status, start_rotation
from core.sign.signers import KmsSigner, signer_for
from core.policy.generate import policy_key_fingerprints
from core.sign.service import sign_image
from tests.support.keys import ctx  # noqa: F401 (fixture)
from tests.support.oci import push_image
from tests.support.rotation import next_step

OLD_PASS = b"old key passphrase"


def test_secrets_manager_key_rotates_to_a_kms_key(ctx, registry, aws_endpoint, tmp_path):
    old = generate_key(ctx, name="old", passphrase=OLD_PASS, placement=KeyPlacement(store="secretsmanager"))
    push_image(registry.url, "team/app", "v1")
    sign_image(ctx, f"{registry.host}/team/app:v1", signer_for(ctx, "old", passphrase_provider=lambda _n: OLD_PASS))
    stage = StageInputs(new_name="new-kms", backup=ShareScheme(2, 3), placement=KeyPlacement(store="kms"))
    started = start_rotation(ctx, "old", stage, policy_dir=tmp_path / "pol")
    assert started.backup is None and "not exportable" in started.status.details["backup"]["skipped"]
    new = started.status.new_key
    assert new.location == "kms" and new.state == "staged" and list_backups(ctx, new.id) == []
    status = started.status
    while not status.finished:
        status = next_step(ctx, status.id, AdvanceOptions())  # KMS signs: no passphrase needed
    assert status.details["resign"]["signed"] == 1 and status.coverage == 1.0
    assert isinstance(signer_for(ctx, "new-kms", passphrase_provider=lambda _n: b""), KmsSigner)
    assert find_key(ctx, "old").state == "revoked"
    client = aws_client("secretsmanager", ctx.config.limits)
    assert "DeletedDate" in client.describe_secret(SecretId=old.location_ref)
    assert "recovery window" in status.details["revoke"]["destroyed"]


class Hook:
    def __init__(self, fail_times, exc=RuntimeError):
        self.fail_times, self.exc, self.calls = fail_times, exc, []

    def __call__(self, docs):
        self.calls.append(docs)
        if len(self.calls) <= self.fail_times:
            raise self.exc("cluster apply failed")


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failing_publish_hook_leaves_the_step_resumable(ctx, tmp_path, exc):
    generate_key(ctx, name="old", passphrase=OLD_PASS)
    stage = StageInputs(new_name="new", backup=ShareScheme(2, 2), new_passphrase=b"new key passphrase",
                        backup_out=tmp_path / "b.json")
    status = start_rotation(ctx, "old", stage, policy_dir=tmp_path / "pol").status
    hook = Hook(fail_times=1, exc=exc)
    with pytest.raises(exc):
        next_step(ctx, status.id, AdvanceOptions(publish_hook=hook))
    interrupted = rotation_status(ctx, status.id)
    assert interrupted.step == "publish" and interrupted.status == "running"
    status = next_step(ctx, status.id, AdvanceOptions(publish_hook=hook))
    assert status.step == "switch" and status.details["publish"]["applied"] is True
    assert len(hook.calls) == 2
    kinds = [doc["kind"] for doc in hook.calls[-1]]
    assert kinds == ["ClusterPolicy", "ClusterImagePolicy"]
    expected = {find_key(ctx, "old").fingerprint, find_key(ctx, "new").fingerprint}
    assert all(policy_key_fingerprints(doc) == expected for doc in hook.calls[-1])


def test_emergency_revoke_of_kms_key_disables_it_and_sm_keys_back_up(ctx, aws_endpoint, tmp_path):
    from core.keys.backup import PassphraseScheme, create_backup, drill_backup
    from core.rotation.emergency import emergency_revoke

    kms = generate_key(ctx, name="kms", placement=KeyPlacement(store="kms"))
    generate_key(ctx, name="sm", passphrase=OLD_PASS, placement=KeyPlacement(store="secretsmanager"))
    created = create_backup(ctx, "sm", PassphraseScheme(b"backup passphrase"), passphrase_provider=lambda _n: OLD_PASS,
                            out=tmp_path / "sm.json")
    assert drill_backup(ctx, created.path, passphrase=b"backup passphrase").ok
    report = emergency_revoke(ctx, "kms", reason="KMS key policy was opened to everyone", policy_dir=tmp_path / "pol")
    assert report.destroyed.startswith("KMS key disabled")
    meta = aws_client("kms", ctx.config.limits).describe_key(KeyId=kms.location_ref)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert policy_key_fingerprints(yaml.safe_load((tmp_path / "pol/kyverno-clusterpolicy.yaml")
                                                                .read_text())) == {find_key(ctx, "sm").fingerprint}
