"""Key rotation end to end against a real registry: every step, resume after a crash, the soak gate,
and emergency revocation; on both store backends (on the team store each person logs in as themselves)."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from core.errors import InputError, InvalidState, PermissionDenied, StoreError
from core.history.records import record_verification
from core.keys.backup import ShareScheme
from core.keys.backup_records import list_backups
from core.keys.custody import generate_key
from core.rotation.emergency import emergency_revoke
from core.keys.inventory import find_key
from core.rotation.rotation import (
    AdvanceOptions,
    StageInputs,
    retire_rotation,
    rotation_status,
    start_rotation,
)
from core.keys.rotation_records import list_rotations
from core.sign.signers import signer_for
from core.policy.generate import policy_key_fingerprints
from core.sign.service import sign_image
from tests.support.keys import custodian_context, team  # noqa: F401 (team is a fixture)
from tests.support.oci import push_image, signature_tag
from tests.support.rotation import next_step
from tests.support.store import chain_status

OLD_PASS = b"old key passphrase"
NEW_PASS = b"new key passphrase"


@pytest.fixture
def ctx(signet_home, team):
    context = custodian_context(signet_home, team=team)
    yield context
    context.close()


@pytest.fixture
def world(ctx, registry, tmp_path):
    """An active key 'old' that signed three images Signet has seen (so they are in use)."""
    old = generate_key(ctx, name="old", passphrase=OLD_PASS)
    signer = signer_for(ctx, "old", passphrase_provider=lambda _n: OLD_PASS)
    refs = []
    for i in range(3):
        digest = push_image(registry.url, f"team/app{i}", "v1")
        sign_image(ctx, f"{registry.host}/team/app{i}:v1", signer)
        refs.append(f"{registry.host}/team/app{i}@{digest}")
    return {"old": old, "refs": refs, "registry": registry, "policies": tmp_path / "policies"}


def _stage(tmp_path, **kw):
    return StageInputs(new_name="new", backup=ShareScheme(2, 3, ("ann", "bob", "cat")), new_passphrase=NEW_PASS,
                       backup_out=tmp_path / "new-backup.json", **kw)


def _opts(**kw):
    return AdvanceOptions(passphrase_provider=lambda _n: NEW_PASS, **kw)


def _layers(registry, ref):
    repo, digest = ref.split("/", 1)[1].split("@")
    manifest = httpx.get(f"{registry.url}/v2/{repo}/manifests/{signature_tag(digest)}",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    return len(manifest["layers"])


def _fingerprints(path):
    return policy_key_fingerprints(yaml.safe_load(path.read_text()))


def test_full_rotation_walks_every_step(ctx, world, tmp_path):
    started = start_rotation(ctx, "old", _stage(tmp_path), policy_dir=world["policies"])
    status = started.status
    new = status.new_key
    assert status.step == "publish" and status.status == "pending" and new.state == "staged"
    assert [s.custodian for s in started.backup.shares] == ["ann", "bob", "cat"]
    [backup] = list_backups(ctx, new.id)
    assert backup.last_test_result == "ok"  # test-restored before first use
    assert status.details["smoke_test"] == "ok"

    status = next_step(ctx, status.id, _opts())
    assert status.step == "switch"
    for name in ("kyverno-clusterpolicy.yaml", "sigstore-clusterimagepolicy.yaml"):
        assert _fingerprints(world["policies"] / name) == {world["old"].fingerprint, new.fingerprint}
    kyverno = yaml.safe_load((world["policies"] / "kyverno-clusterpolicy.yaml").read_text())
    assert kyverno["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["count"] == 1
    assert find_key(ctx, "new").trusted_by == ("ClusterImagePolicy/signet-verify-images",
                                               "ClusterPolicy/signet-verify-images")

    status = next_step(ctx, status.id, _opts())
    assert status.step == "resign"
    assert find_key(ctx, "new").state == "active" and find_key(ctx, "old").state == "retiring"
    with pytest.raises(InvalidState, match="old is retiring"):
        signer_for(ctx, "old", passphrase_provider=lambda _n: OLD_PASS)

    seen = []
    status = next_step(ctx, status.id, _opts(progress=lambda d, t: seen.append((d, t))))
    assert status.step == "soak"
    resign = status.details["resign"]
    assert (resign["in_use"], resign["verified_under_old"], resign["signed"], resign["already_carried"],
            resign["not_carried_over"], resign["failed"]) == (3, 3, 3, 0, 0, 0)
    assert sorted(c["reference"] for c in resign["carried"]) == sorted(world["refs"])
    assert seen[-1] == (3, 3)
    assert all(_layers(world["registry"], ref) == 2 for ref in world["refs"])  # old signature kept, new appended

    status = next_step(ctx, status.id, _opts())
    assert status.step == "retire" and status.coverage == 1.0

    status = next_step(ctx, status.id, _opts())
    assert status.step == "revoke" and find_key(ctx, "old").state == "retired"
    assert _fingerprints(world["policies"] / "kyverno-clusterpolicy.yaml") == {new.fingerprint}
    assert _fingerprints(world["policies"] / "sigstore-clusterimagepolicy.yaml") == {new.fingerprint}
    assert find_key(ctx, "old").trusted_by == ()

    status = next_step(ctx, status.id, _opts())
    assert status.status == "done" and status.finished
    old = find_key(ctx, "old")
    assert old.state == "revoked" and not (ctx.paths.key_store / f"{old.id}.key").exists()
    assert status.details["revoke"]["destroyed"] == "local encrypted key file deleted"
    with pytest.raises(InvalidState, match="done"):
        next_step(ctx, status.id, _opts())

    actions = [r["action"] for r in ctx.store.query("SELECT action FROM audit WHERE subject = ? ORDER BY seq",
                                                    (status.id,))]
    assert actions[0] == "key.rotation.start"
    for step in ("stage", "publish", "switch", "resign", "soak", "retire", "revoke"):
        assert f"key.rotation.{step}.done" in actions
    assert chain_status(ctx.store).intact


class FlakySigner:
    """Wraps a real signer and dies (like a crash) after `limit` signatures."""

    def __init__(self, inner, limit):
        self.inner, self.limit, self.count = inner, limit, 0
        self.public_key, self.fingerprint, self.key_id = inner.public_key, inner.fingerprint, inner.key_id

    def sign(self, data):
        if self.count >= self.limit:
            raise RuntimeError("simulated crash mid re-sign")
        self.count += 1
        return self.inner.sign(data)


def _to_resign(ctx, tmp_path, world):
    status = start_rotation(ctx, "old", _stage(tmp_path), policy_dir=world["policies"]).status
    status = next_step(ctx, status.id, _opts())
    return next_step(ctx, status.id, _opts())


def test_resign_crash_resumes_without_signing_twice(ctx, world, tmp_path):
    status = _to_resign(ctx, tmp_path, world)
    real = signer_for(ctx, "new", passphrase_provider=lambda _n: NEW_PASS)
    with pytest.raises(RuntimeError, match="simulated crash"):
        next_step(ctx, status.id, _opts(signer=FlakySigner(real, limit=1)))
    status = rotation_status(ctx, status.id)
    assert status.step == "resign" and status.status == "running"
    assert "resume" in status.next_action
    assert sorted(_layers(world["registry"], ref) for ref in world["refs"]) == [1, 1, 2]

    status = next_step(ctx, status.id, _opts())
    assert status.step == "soak"
    assert status.details["resign"]["already_carried"] == 1 and status.details["resign"]["signed"] == 2
    assert all(_layers(world["registry"], ref) == 2 for ref in world["refs"])  # nobody signed twice
    begins = ctx.store.query("SELECT COUNT(*) AS n FROM audit WHERE action = 'key.rotation.resign.begin'")
    assert begins[0]["n"] == 1  # resumed, not restarted


def test_stage_interrupted_resumes_with_the_same_key(ctx, world, tmp_path):
    bad = StageInputs(new_name="new", backup=ShareScheme(2, 3), new_passphrase=NEW_PASS,
                      backup_out=tmp_path / "missing-dir" / "b.json")
    with pytest.raises(StoreError, match="cannot write"):
        start_rotation(ctx, "old", bad, policy_dir=world["policies"])
    [status] = list_rotations(ctx, open_only=True)
    assert status.step == "stage" and status.status == "failed" and status.new_key.state == "staged"
    assert "cannot write" in status.next_action
    first_key = status.new_key.id
    with pytest.raises(InputError, match="stage step needs"):
        next_step(ctx, status.id, _opts())
    with pytest.raises(InputError, match="on_backup"):
        next_step(ctx, status.id, _opts(stage=_stage(tmp_path)))  # its shares would be lost
    handed_out = []
    status = next_step(ctx, status.id, _opts(stage=_stage(tmp_path), on_backup=handed_out.append))
    assert status.step == "publish" and status.new_key.id == first_key
    assert len(handed_out[0].shares) == 3 and status.details["backup"]["id"] == handed_out[0].record.id
    with pytest.raises(InvalidState, match="already being rotated"):
        start_rotation(ctx, "old", StageInputs(new_name="other", backup=ShareScheme(2, 3), new_passphrase=NEW_PASS))


def test_soak_blocks_retirement_below_full_coverage_unless_forced_with_reason(ctx, world, tmp_path):
    ghost = f"{world['registry'].host}/team/ghost@sha256:" + "ab" * 32
    with ctx.store.write() as db:
        record_verification(db, at=ctx.clock(), actor=ctx.actor, source="sweep", reference=ghost,
                            digest="sha256:" + "ab" * 32, result="error", reason="manifest unknown")
    status = _to_resign(ctx, tmp_path, world)
    status = next_step(ctx, status.id, _opts())
    assert status.details["resign"]["not_carried_over"] == 1  # never signed: it cannot be checked
    assert status.details["resign"]["not_carried"][ghost].startswith("error:")
    status = retire_rotation(ctx, status.id, _opts())
    assert status.step == "soak" and status.status == "blocked" and status.coverage == 0.75
    assert status.details["soak"]["uncovered_images"] == [ghost]
    assert find_key(ctx, "old").state == "retiring"
    with pytest.raises(InputError, match="--reason"):
        retire_rotation(ctx, status.id, _opts(force=True))
    status = retire_rotation(ctx, status.id, _opts(force=True, reason="ghost image was deleted upstream"))
    assert status.step == "revoke" and find_key(ctx, "old").state == "retired"
    assert status.details["soak"]["forced"]["reason"] == "ghost image was deleted upstream"
    forced = [json.loads(r["details"]) for r in ctx.store.query(
        "SELECT details FROM audit WHERE action = 'key.rotation.soak.done'")]
    assert forced[-1]["forced"]["by"] == "alice"


def test_rotation_preconditions_and_roles(ctx, world, tmp_path, signet_home, team):
    with pytest.raises(InputError, match="at least 8"):
        start_rotation(ctx, "old", StageInputs(new_name="new", backup=ShareScheme(2, 3), new_passphrase=b"x"))
    with pytest.raises(InputError, match="M >= 2"):
        start_rotation(ctx, "old", StageInputs(new_name="new", backup=ShareScheme(1, 3), new_passphrase=NEW_PASS))
    with pytest.raises(InvalidState, match="already exists"):
        start_rotation(ctx, "old", StageInputs(new_name="old", backup=ShareScheme(2, 3), new_passphrase=NEW_PASS))
    assert list_rotations(ctx) == []  # nothing half-open after refused inputs
    other = custodian_context(signet_home, identity="mallory", team=team)
    with pytest.raises(PermissionDenied, match="custodian"):
        start_rotation(other, "old", _stage(tmp_path))
    other.close()


def test_emergency_revoke_lists_images_signed_only_by_the_compromised_key(ctx, world, tmp_path):
    generate_key(ctx, name="spare", passphrase=NEW_PASS)
    spare_signer = signer_for(ctx, "spare", passphrase_provider=lambda _n: NEW_PASS)
    sign_image(ctx, world["refs"][0], spare_signer)  # app0 is also vouched for by the spare key
    status = _to_resign(ctx, tmp_path, world)
    report = emergency_revoke(ctx, "old", reason="key file leaked in CI logs", policy_dir=world["policies"])
    assert report.key.state == "revoked" and report.in_use == 3
    assert sorted(report.signed_only_by_revoked) == sorted(world["refs"][1:])
    assert report.unverified == ()
    assert report.aborted_rotations == (status.id,)
    assert rotation_status(ctx, status.id).status == "aborted"
    assert world["old"].fingerprint not in _fingerprints(world["policies"] / "kyverno-clusterpolicy.yaml")
    assert not (ctx.paths.key_store / f"{world['old'].id}.key").exists()
    with pytest.raises(InvalidState, match="already revoked"):
        emergency_revoke(ctx, "old", reason="again")
    with pytest.raises(InputError, match="needs a reason"):
        emergency_revoke(ctx, "spare", reason="  ")


def test_step_bookkeeping_refuses_when_the_rotation_was_aborted_meanwhile(ctx, world, tmp_path, signet_home, team):
    status = _to_resign(ctx, tmp_path, world)
    other = custodian_context(signet_home, team=team)  # a second process (own connection) on the same store
    real = signer_for(ctx, "new", passphrase_provider=lambda _n: NEW_PASS)

    class RevokingSigner(FlakySigner):
        def sign(self, data):
            if self.count == 2:  # the last signature: no re-check under the (now revoked) old key follows
                emergency_revoke(other, "old", reason="leaked while rotating", policy_dir=world["policies"])
            self.count += 1
            return self.inner.sign(data)

    with pytest.raises(InvalidState, match="changed while its 'resign' step ran"):
        next_step(ctx, status.id, _opts(signer=RevokingSigner(real, limit=99)))
    final = rotation_status(ctx, status.id)
    assert final.status == "aborted" and "leaked while rotating" in final.details["aborted"]
    assert "resign" not in final.details  # the aborted rotation's record was not overwritten
    other.close()


def test_rotation_refusals(ctx, world, tmp_path):
    from core.keys.inventory import set_key_state

    spare = generate_key(ctx, name="spare", passphrase=NEW_PASS, state="staged")
    with pytest.raises(InvalidState, match="only an active key can be rotated"):
        start_rotation(ctx, spare.name, StageInputs(new_name="x", backup=ShareScheme(2, 3), new_passphrase=NEW_PASS))
    status = start_rotation(ctx, "old", _stage(tmp_path), policy_dir=world["policies"]).status
    with pytest.raises(InvalidState, match="retiring comes after the soak step"):
        retire_rotation(ctx, status.id, _opts())
    status = next_step(ctx, status.id, _opts())
    status = next_step(ctx, status.id, _opts())
    with pytest.raises(InputError, match="needs the passphrase of the new key"):
        next_step(ctx, status.id, AdvanceOptions())
    failed = rotation_status(ctx, status.id)  # refused inside the step: failed, with why, and retried as is
    assert failed.status == "failed" and "needs the passphrase" in failed.next_action
    status = next_step(ctx, status.id, _opts())
    assert status.step == "soak"
    with ctx.store.write() as db:
        set_key_state(ctx, db, spare.id, "revoked")
    with pytest.raises(InvalidState, match="revoked"):
        signer_for(ctx, "spare", passphrase_provider=lambda _n: NEW_PASS)
