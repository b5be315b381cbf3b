"""A rotation process killed with SIGKILL in the middle of re-signing resumes at that step, signing
only what is missing (no Python cleanup runs on SIGKILL: this is the real crash case)."""

from __future__ import annotations

import httpx

from core.keys.backup import ShareScheme
from core.keys.custody import generate_key
from core.rotation.rotation import AdvanceOptions, StageInputs, rotation_status, start_rotation
from core.sign.signers import signer_for
from core.sign.service import sign_image
from tests.support.crash import kill_at_marker
from tests.support.keys import custodian_context
from tests.support.oci import push_image, signature_tag
from tests.support.rotation import RESIGN_UNTIL_SECOND_SIGNATURE, next_step

NEW_PASS = b"new key passphrase"


def _layers(registry, repo, digest):
    manifest = httpx.get(f"{registry.url}/v2/{repo}/manifests/{signature_tag(digest)}",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    return len(manifest["layers"])


def test_sigkill_mid_resign_then_resume(signet_home, registry, tmp_path):
    ctx = custodian_context(signet_home)
    generate_key(ctx, name="old", passphrase=b"old key passphrase")
    signer = signer_for(ctx, "old", passphrase_provider=lambda _n: b"old key passphrase")
    digests = {}
    for i in range(3):
        digests[f"team/app{i}"] = push_image(registry.url, f"team/app{i}", "v1")
        sign_image(ctx, f"{registry.host}/team/app{i}:v1", signer)
    stage = StageInputs(new_name="new", backup=ShareScheme(2, 2), new_passphrase=NEW_PASS,
                        backup_out=tmp_path / "b.json")
    status = start_rotation(ctx, "old", stage, policy_dir=tmp_path / "pol").status
    status = next_step(ctx, status.id)
    status = next_step(ctx, status.id)
    assert status.step == "resign"

    kill_at_marker(RESIGN_UNTIL_SECOND_SIGNATURE, status.id, line_timeout=120)

    crashed = rotation_status(ctx, status.id)
    assert crashed.step == "resign" and crashed.status == "running"
    assert sorted(_layers(registry, repo, d) for repo, d in digests.items()) == [1, 1, 2]
    resumed = next_step(ctx, status.id, AdvanceOptions(passphrase_provider=lambda _n: NEW_PASS))
    assert resumed.step == "soak"
    assert resumed.details["resign"]["already_carried"] == 1 and resumed.details["resign"]["signed"] == 2
    assert all(_layers(registry, repo, d) == 2 for repo, d in digests.items())
    ctx.close()
