"""Rotation reaches the trust configuration: `[trust] keys` in config.toml gains the new key at publish
and loses the old one at retire/revoke (comments kept, audited), revocation refuses while the file or a
generated policy still trusts the old key, and verification keeps working after the old key is revoked."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from core.config.loader import load_config
from core.errors import InputError, InvalidState
from core.keys.backup import ShareScheme
from core.keys.custody import generate_key
from core.rotation.rotation import AdvanceOptions, StageInputs, advance_rotation, rotation_status, start_rotation
from core.sign.signers import signer_for
from core.rotation.trust_config import rotation_config_edit
from core.sign.service import sign_image
from tests.support.keys import custodian_context
from tests.support.oci import push_image
from tests.support.rotation import next_step
from tui.cli.main import cli

OLD_PASS = b"old key passphrase"
NEW_PASS = b"new key passphrase"
TRUST = '\n[trust]\n# the release key; ask #release before changing\nkeys = ["old"]  # pinned by name\n'


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _config_edits(ctx):
    return [json.loads(row["details"]) for row in
            ctx.store.query("SELECT details FROM audit WHERE action = 'config.edit' ORDER BY seq")]


def test_rotation_on_the_demo_updates_the_config_file_and_verify_works_after_revoke(tmp_path, monkeypatch):
    demo = tmp_path / "demo"
    assert run("demo", "--dir", str(demo), "--no-open").exit_code == 0
    config = demo / "config.toml"
    for name, value in (("SIGNET_DB", demo / "signet.db"), ("SIGNET_CONFIG", config), ("SIGNET_IDENTITY", "alice")):
        monkeypatch.setenv(name, str(value))
    config.write_text(config.read_text().replace("[trust]\n", "[trust]\n# release keys: see RUNBOOK-7\n"))
    original = config.read_text()
    assert 'keys = ["release-a", "release-b"]' in original
    passphrase = str(demo / "demo-passphrase")
    started = run("key", "rotate", "start", "release-a", "--new-name", "ra2", "--shares", "2-of-3", "--custodian",
                  "alice", "--custodian", "carol", "--custodian", "dave", "--passphrase-file", passphrase, "--json")
    assert started.exit_code == 0, started.stderr
    rid = json.loads(started.stdout)["id"]

    published = run("key", "rotate", "next", rid, "--update-config")
    assert published.exit_code == 0, published.stderr
    assert ('-keys = ["release-a", "release-b"]\n+keys = ["release-a", "ra2", "release-b"]\n'
            in published.stdout)  # the exact diff, printed before it is written
    overlap = original.replace('keys = ["release-a", "release-b"]', 'keys = ["release-a", "ra2", "release-b"]')
    assert config.read_text() == overlap  # comments, order and layout kept

    for expected in ("resign", "soak", "retire"):
        step = run("key", "rotate", "next", rid, "--passphrase-file", passphrase, "--json", "--yes")
        assert step.exit_code == 0, step.stderr
        data = json.loads(step.stdout)
        assert data["step"] == expected and data["config_change"] is None  # already what the step needs
    assert config.read_text() == overlap

    retired = run("key", "rotate", "next", rid)  # retire, without the flag: shows the change and how to apply it
    assert retired.exit_code == 0, retired.stderr
    assert "[trust] keys in " + str(config) + " still needs this change:" in retired.stdout
    assert '+keys = ["ra2", "release-b"]' in retired.stdout
    assert f"apply it with: signet key rotate config {rid} --apply" in retired.stdout
    assert config.read_text() == overlap  # nothing written without the flag
    shown = json.loads(run("key", "rotate", "status", rid, "--json").stdout)["config_change"]
    assert shown["applied"] is False and shown["removed"] == ["release-a"] and shown["file"] == str(config)

    refused = run("key", "rotate", "revoke", rid)
    assert refused.exit_code == 2
    assert f"{config}: [trust] keys still trusts release-a: remove it there" in refused.stderr
    keys = {k["name"]: k["state"] for k in json.loads(run("key", "list", "--json").stdout)}
    assert keys["release-a"] == "retired"  # not revoked

    revoked = run("key", "rotate", "revoke", rid, "--update-config", "--json")
    assert revoked.exit_code == 0, revoked.stderr
    data = json.loads(revoked.stdout)
    assert data["status"] == "done" and data["config_change"]["applied"] is True
    assert data["config_change"]["removed"] == ["release-a"] and data["config_change"]["added"] == []
    assert config.read_text() == original.replace('keys = ["release-a", "release-b"]', 'keys = ["ra2", "release-b"]')
    assert load_config(config).trust.keys == ("ra2", "release-b")

    # The images release-a signed were re-signed with ra2: they verify with the configured keys, no error
    # about a revoked key (payments-api:v1.4.1 was signed by release-a alone).
    for image in ("payments-api:v1.4.1", "payments-api:v1.4.2"):
        verified = run("verify", f"oci:{demo / 'registry' / image}", "--json")
        assert verified.exit_code == 0, verified.stdout + verified.stderr
        assert "revoked" not in verified.stdout + verified.stderr
    with sqlite3.connect(demo / "signet.db") as db:
        edits = [json.loads(row[0]) for row in
                 db.execute("SELECT details FROM audit WHERE action = 'config.edit' ORDER BY seq")]
    assert [(e["step"], e["added"], e["removed"]) for e in edits] == [("publish", ["ra2"], []),
                                                                     ("revoke", [], ["release-a"])]


@pytest.fixture
def world(signet_home, registry, tmp_path, monkeypatch):
    """Key 'old' trusted by name in [trust] keys and one image it signed; the CLI uses the same home."""
    ctx = custodian_context(signet_home, extra=TRUST)
    generate_key(ctx, name="old", passphrase=OLD_PASS)
    push_image(registry.url, "team/app", "v1")
    sign_image(ctx, f"{registry.host}/team/app:v1", signer_for(ctx, "old", passphrase_provider=lambda _n: OLD_PASS))
    monkeypatch.setenv("SIGNET_DB", str(ctx.paths.db))
    monkeypatch.setenv("SIGNET_CONFIG", str(ctx.paths.config))
    yield {"ctx": ctx, "config": signet_home / "config.toml", "policies": tmp_path / "policies",
           "backup": tmp_path / "b.json"}
    ctx.close()


def _start(world):
    """A rotation from 'old' to 'new', staged."""
    stage = StageInputs(new_name="new", backup=ShareScheme(2, 2, ("ann", "bob")), new_passphrase=NEW_PASS,
                        backup_out=world["backup"])
    return start_rotation(world["ctx"], "old", stage, policy_dir=world["policies"]).status.id


def _advance_to(ctx, rid, step):
    while rotation_status(ctx, rid).step != step:
        next_step(ctx, rid, AdvanceOptions(passphrase_provider=lambda _n: NEW_PASS))


def test_a_config_file_changed_after_the_diff_is_not_written_and_the_step_does_not_run(world):
    ctx, rid, config = world["ctx"], _start(world), world["config"]
    edit = rotation_config_edit(ctx, rotation_status(ctx, rid), step="publish")
    assert edit.added == ("new",) and '+keys = ["old", "new"]  # pinned by name' in edit.diff
    changed = config.read_text() + "\n# edited by a colleague meanwhile\n"
    config.write_text(changed)
    with pytest.raises(InvalidState, match="changed since the diff was computed"):
        advance_rotation(ctx, rid, AdvanceOptions(config_edit=edit))
    assert config.read_text() == changed and _config_edits(ctx) == []
    assert rotation_status(ctx, rid).step == "publish" and rotation_status(ctx, rid).status == "pending"
    # An edit for another step is refused as well; the current one, shown again, is written with the step.
    wrong = rotation_config_edit(ctx, rotation_status(ctx, rid), step="retire")
    with pytest.raises(InputError, match="not the one the 'publish' step"):
        advance_rotation(ctx, rid, AdvanceOptions(config_edit=wrong))
    again = rotation_config_edit(ctx, rotation_status(ctx, rid), step="publish")
    advance_rotation(ctx, rid, AdvanceOptions(config_edit=again))
    assert rotation_status(ctx, rid).step == "switch"
    assert config.read_text() == changed.replace('keys = ["old"]', 'keys = ["old", "new"]')
    [entry] = _config_edits(ctx)
    assert entry == {**entry, "rotation": rid, "step": "publish", "key": "old", "new_key": "new", "added": ["new"],
                     "removed": [], "field": "trust.keys"}
    assert NEW_PASS.decode() not in json.dumps(entry) and OLD_PASS.decode() not in json.dumps(entry)


def test_revoke_refuses_while_the_config_or_a_generated_policy_trusts_only_the_old_key(world, tmp_path):
    ctx, config = world["ctx"], world["config"]
    generated = tmp_path / "admission" / "kyverno.yaml"
    generated.parent.mkdir()
    made = run("cluster", "policy", "generate", "--out", str(generated), "--image-glob", "registry.example/*")
    assert made.exit_code == 0, made.stderr  # written while only 'old' is trusted, and recorded
    rid = _start(world)
    _advance_to(ctx, rid, "revoke")  # every step without touching the configuration
    assert load_config(config).trust.keys == ("old",)
    with pytest.raises(InvalidState) as refused:
        advance_rotation(ctx, rid, AdvanceOptions())
    message = str(refused.value)
    assert f"{config.resolve()}: [trust] keys trusts only old, not new: replace old by new there" in message
    assert f"{generated}: ClusterPolicy/signet-verify-images trusts only old, not new" in message
    assert str(tmp_path / "policies") not in message  # the rotation's own files dropped 'old' at retire
    assert rotation_status(ctx, rid).status == "pending"
    assert {r["state"] for r in ctx.store.query("SELECT state FROM keys WHERE name = 'old'")} == {"retired"}

    # The configuration change fixes the first; regenerating the policy file fixes the second.
    edit = rotation_config_edit(ctx, rotation_status(ctx, rid))
    assert edit.removed == ("old",) and edit.added == ("new",)
    with pytest.raises(InvalidState, match=str(generated)):
        advance_rotation(ctx, rid, AdvanceOptions(config_edit=edit))
    assert load_config(config).trust.keys == ("new",)  # written before the check, as shown
    assert "# the release key; ask #release before changing" in config.read_text()
    assert run("cluster", "policy", "generate", "--out", str(generated), "--image-glob", "registry.example/*"
               ).exit_code == 0
    status = advance_rotation(ctx, rid, AdvanceOptions())
    assert status.status == "done"


def test_a_deleted_generated_policy_trusts_nothing_and_an_unreadable_one_blocks(world, tmp_path):
    ctx, rid = world["ctx"], _start(world)
    gone, broken = tmp_path / "gone.yaml", tmp_path / "broken.yaml"
    for path in (gone, broken):
        assert run("cluster", "policy", "generate", "--out", str(path), "--image-glob", "*").exit_code == 0
    gone.unlink()
    broken.write_text("kind: [unclosed\n")
    _advance_to(ctx, rid, "revoke")
    edit = rotation_config_edit(ctx, rotation_status(ctx, rid))
    with pytest.raises(InvalidState) as refused:
        advance_rotation(ctx, rid, AdvanceOptions(config_edit=edit))
    assert f"{broken}: cannot tell whether it trusts old (not readable YAML" in str(refused.value)
    assert str(gone) not in str(refused.value)
    broken.unlink()
    config = world["config"]
    fixed = config.read_text()
    config.write_text(fixed + "[trust\n")  # a configuration edited into invalid TOML: it may trust anything
    with pytest.raises(InvalidState, match="cannot tell whether it trusts old"):
        advance_rotation(ctx, rid, AdvanceOptions())
    config.write_text(fixed)
    assert advance_rotation(ctx, rid, AdvanceOptions()).status == "done"


def test_an_entry_naming_the_old_key_by_its_public_key_file_or_fingerprint_is_recognised(world, tmp_path):
    ctx, config = world["ctx"], world["config"]
    old = ctx.store.query("SELECT public_pem, fingerprint FROM keys WHERE name = 'old'")[0]
    pem = tmp_path / "old.pub"
    pem.write_text(old["public_pem"])
    config.write_text(config.read_text().replace('keys = ["old"]', f'keys = [{json.dumps(str(pem))}, "spare"]'))
    status = rotation_status(ctx, _start(world))
    publish = rotation_config_edit(ctx, status, step="publish")
    assert publish.added == ("new",) and f'+keys = [{json.dumps(str(pem))}, "new", "spare"]' in publish.diff
    retire = rotation_config_edit(ctx, status, step="retire")
    assert retire.removed == (str(pem),) and retire.added == ("new",) and '+keys = ["new", "spare"]' in retire.diff
    config.write_text(config.read_text().replace(json.dumps(str(pem)), json.dumps(old["fingerprint"][:12])))
    assert rotation_config_edit(ctx, status, step="retire").removed == (old["fingerprint"][:12],)


def test_emergency_revoke_still_revokes_and_names_the_files_that_trust_the_key(signet_home, tmp_path, monkeypatch):
    ctx = custodian_context(signet_home)
    try:
        leaked = generate_key(ctx, name="leaked", passphrase=OLD_PASS)
        generate_key(ctx, name="spare", passphrase=OLD_PASS)
    finally:
        ctx.close()
    pem = tmp_path / "leaked.pub"
    pem.write_text(leaked.public_pem)  # trusted by file: verify would keep trusting it after revocation
    config = custodian_context(signet_home, extra=f'\n[trust]\nkeys = [{json.dumps(str(pem))}, "spare"]\n')
    config.close()
    monkeypatch.setenv("SIGNET_PASSWORD", OLD_PASS.decode())
    out = run("key", "rotate", "revoke", "leaked", "--emergency", "--reason", "leaked in CI logs",
              "--policy-dir", str(tmp_path / "pol"))
    assert out.exit_code == 0, out.stderr
    path = (signet_home / "config.toml").resolve()
    assert "still trusting the revoked key in 1 place(s); change them:" in out.stdout
    assert f"{path}: [trust] keys still trusts leaked: remove it there" in out.stdout
    keys = {k["name"]: k["state"] for k in json.loads(run("key", "list", "--json").stdout)}
    assert keys == {"leaked": "revoked", "spare": "active"}
    report = json.loads(run("key", "rotate", "revoke", "spare", "--emergency", "--reason", "drill",
                            "--policy-dir", str(tmp_path / "pol"), "--json").stdout)
    assert [(t["file"], t["field"]) for t in report["still_trusted_in"]] == [(str(path), "[trust] keys")]
