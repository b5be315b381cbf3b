"""kill -9 in the stage step of a key rotation (the step that writes key files and a backup outside
the database): afterwards the database is consistent, the audit chain intact, and the rotation
resumes to the next step without a second staged key, and without key files that no row names.
(tests/test_rotation_crash.py covers a kill in the middle of re-signing.)

The child starts the rotation and stops at a point it reports on stdout, where the parent SIGKILLs
it: inside the transaction that records the new key, or after the key committed but before its
backup was written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.aws.client import aws_client
from core.keys import aws_keys
from core.keys.backup import ShareScheme
from core.keys.custody import KeyPlacement, generate_key
from core.rotation.rotation import AdvanceOptions, StageInputs, advance_rotation
from core.keys.rotation_records import list_rotations
from tests.support.crash import assert_store_intact, kill_at_marker
from tests.support.keys import custodian_context
from tests.support.store import chain_status

NEW_PASS = b"new key passphrase"
LINE_TIMEOUT_S = 60.0

CHILD = r"""
import sys
from pathlib import Path
import core.rotation.rotation as rotation
from core.keys.backup import ShareScheme
from tests.support.keys import custodian_context

point, home, out, store = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]

def hold():
    print("holding", flush=True)
    sys.stdin.readline()  # the parent kills us here

real_generate, real_backup = rotation.generate_key, rotation.create_backup

def generate_key(*args, **kwargs):
    record = real_generate(*args, **kwargs)  # key written, its row not yet committed
    if point == "in-key-transaction":
        hold()
    return record

def create_backup(*args, **kwargs):
    if point == "before-backup":
        hold()
    return real_backup(*args, **kwargs)

rotation.generate_key, rotation.create_backup = generate_key, create_backup
stage = rotation.StageInputs(new_name="new", backup=ShareScheme(2, 2), new_passphrase=b"new key passphrase",
                             backup_out=out / "b.json", placement=rotation.KeyPlacement(store=store))
rotation.start_rotation(custodian_context(home), "old", stage, policy_dir=out / "pol")
print("finished", flush=True)
"""


def start_and_kill(home: Path, out: Path, point: str, store: str = "local") -> None:
    kill_at_marker(CHILD, point, str(home), str(out), store, line_timeout=LINE_TIMEOUT_S)


def test_kill_before_a_secrets_manager_key_commits_then_resume(signet_home, tmp_path, aws_endpoint):
    """The secret written before the kill takes the key's name; the resumed stage removes it (it is
    tagged with the id the rotation recorded first) instead of failing on the name forever."""
    ctx = custodian_context(signet_home)
    generate_key(ctx, name="old", passphrase=b"old key passphrase")
    ctx.close()
    out = tmp_path / "out"
    out.mkdir()
    start_and_kill(signet_home, out, "in-key-transaction", "secretsmanager")

    ctx = custodian_context(signet_home)
    [crashed] = list_rotations(ctx, open_only=True)
    client = aws_client("secretsmanager", ctx.config.limits)
    left = client.describe_secret(SecretId=aws_keys.SECRET_PREFIX + "new")
    assert {"Key": aws_keys.KEY_ID_TAG, "Value": crashed.details["staging_key_id"]} in left["Tags"]
    assert ctx.store.query("SELECT id FROM keys WHERE name = 'new'") == []

    stage = StageInputs(new_name="new", backup=ShareScheme(2, 2), new_passphrase=NEW_PASS,
                        backup_out=out / "resumed.json", placement=KeyPlacement(store="secretsmanager"))
    resumed = advance_rotation(ctx, crashed.id, AdvanceOptions(stage=stage, on_backup=lambda _b: None))
    assert resumed.step == "publish" and resumed.new_key.location == "secretsmanager"
    assert resumed.new_key.id == crashed.details["staging_key_id"]
    recreated = client.describe_secret(SecretId=aws_keys.SECRET_PREFIX + "new")
    assert recreated["ARN"] == resumed.new_key.location_ref and "DeletedDate" not in recreated
    assert len(ctx.store.query("SELECT 1 FROM audit WHERE action = 'key.rotation.stage.discarded'")) == 1
    assert chain_status(ctx.store).intact
    ctx.close()


@pytest.mark.parametrize("point", ["in-key-transaction", "before-backup"])
def test_kill_in_the_stage_step_then_resume(signet_home, tmp_path, point):
    ctx = custodian_context(signet_home)
    generate_key(ctx, name="old", passphrase=b"old key passphrase")
    ctx.close()
    out = tmp_path / "out"
    out.mkdir()
    start_and_kill(signet_home, out, point)

    ctx = custodian_context(signet_home)
    assert_store_intact(ctx)
    [crashed] = list_rotations(ctx, open_only=True)
    assert crashed.step == "stage"
    staged = ctx.store.query("SELECT id, state FROM keys WHERE name = 'new'")
    if point == "in-key-transaction":
        assert staged == [] and crashed.new_key is None  # the uncommitted key is cleanly absent
        # ... from the database; its encrypted files were written before the kill
        assert _key_files(ctx) - _recorded_ids(ctx) == {crashed.details["staging_key_id"]}
    else:
        assert [r["state"] for r in staged] == ["staged"] and crashed.new_key is not None

    backups = []
    stage = StageInputs(new_name="new", backup=ShareScheme(2, 2), new_passphrase=NEW_PASS,
                        backup_out=out / "resumed.json")
    resumed = advance_rotation(ctx, crashed.id, AdvanceOptions(stage=stage, on_backup=backups.append))
    assert resumed.step == "publish" and resumed.status == "pending", resumed.as_dict()
    assert len(backups) == 1 and (out / "resumed.json").exists()
    assert len(ctx.store.query("SELECT id FROM keys WHERE name = 'new'")) == 1
    if point == "before-backup":
        assert resumed.new_key.id == staged[0]["id"]  # the committed key was kept, not made twice
    else:
        discarded = ctx.store.query("SELECT details FROM audit WHERE action = 'key.rotation.stage.discarded'")
        assert len(discarded) == 1 and crashed.details["staging_key_id"] in discarded[0]["details"]
    assert _key_files(ctx) == _recorded_ids(ctx)  # no key file that no row names
    assert chain_status(ctx.store).intact
    ctx.close()


def _key_files(ctx) -> set[str]:
    return {p.stem for p in ctx.paths.key_store.iterdir() if p.suffix in (".key", ".pub")}


def _recorded_ids(ctx) -> set[str]:
    return {r["id"] for r in ctx.store.query("SELECT id FROM keys WHERE location = 'local'")}
