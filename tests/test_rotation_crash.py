"""A rotation process killed with SIGKILL in the middle of re-signing resumes at that step, signing
only what is missing (no Python cleanup runs on SIGKILL: this is the real crash case)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from core.keys.backup import ShareScheme
from core.keys.custody import generate_key
from core.keys.rotation import AdvanceOptions, StageInputs, rotation_status, start_rotation
from core.keys.signers import signer_for
from core.sign.service import sign_image
from tests.support.keys import custodian_context
from tests.support.oci import push_image, signature_tag
from tests.support.rotation import next_step

REPO = Path(__file__).resolve().parent.parent
NEW_PASS = b"new key passphrase"

CHILD = r"""
import sys, threading
from pathlib import Path
from core.context import open_context
from core.keys.rotation import AdvanceOptions, advance_rotation, resign_plan
from core.keys.signers import signer_for

ctx = open_context()
real = signer_for(ctx, "new", passphrase_provider=lambda _n: b"new key passphrase")

class StallingSigner:
    public_key, fingerprint, key_id = real.public_key, real.fingerprint, real.key_id
    count = 0
    def sign(self, data):
        if self.count == 1:
            Path(sys.argv[2]).write_text("stalled")
            threading.Event().wait()  # hold here until killed
        self.count += 1
        return real.sign(data)

advance_rotation(ctx, sys.argv[1], AdvanceOptions(signer=StallingSigner(), resign_plan=resign_plan(ctx, sys.argv[1])))
"""


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

    marker = tmp_path / "stalled"
    child = subprocess.Popen([sys.executable, "-c", CHILD, status.id, str(marker)], cwd=REPO, env=dict(os.environ),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "child never reached the second signature"
        time.sleep(0.05)  # polling a file the child writes, bounded by the deadline
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    crashed = rotation_status(ctx, status.id)
    assert crashed.step == "resign" and crashed.status == "running"
    assert sorted(_layers(registry, repo, d) for repo, d in digests.items()) == [1, 1, 2]
    resumed = next_step(ctx, status.id, AdvanceOptions(passphrase_provider=lambda _n: NEW_PASS))
    assert resumed.step == "soak"
    assert resumed.details["resign"]["already_carried"] == 1 and resumed.details["resign"]["signed"] == 2
    assert all(_layers(registry, repo, d) == 2 for repo, d in digests.items())
    ctx.close()
