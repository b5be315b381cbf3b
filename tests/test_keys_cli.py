"""`signet key ...` through the real command line: output, exit codes, files, prompts."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.crypto.public_keys import load_public_key
from core.keys.cosign_format import decrypt_cosign_private_key
from tests.conftest import FIXTURES
from tests.support.keys import write_config
from tests.support.oci import push_image
from tui.cli.main import cli

PASS = "correct horse battery"
NEW_PASS = "new key passphrase"


@pytest.fixture
def home(signet_home, monkeypatch):
    write_config(signet_home)
    monkeypatch.setenv("SIGNET_PASSWORD", PASS)
    return signet_home


def run(*args, input=None, env=None):
    return CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)


def _shares_from(stdout):
    return re.findall(r"===== share \d+ of \d+.*=====\n(.+)\n===== end", stdout)


def test_generate_list_export_import(home, tmp_path):
    out = run("key", "generate", "--name", "prod", "--custodian", "alice", "--json")
    assert out.exit_code == 0, out.stderr
    key = json.loads(out.stdout)
    assert key["state"] == "active" and key["location"] == "local" and key["custodians"] == ["alice"]
    listed = json.loads(run("key", "list", "--json").stdout)
    assert listed[0]["fingerprint"] == key["fingerprint"]
    assert listed[0]["backup_status"] == "no backup" and listed[0]["backups"] == []
    table = run("key", "list")
    assert "prod" in table.stdout and key["fingerprint"][:16] in table.stdout
    assert "backup attention needed" in table.stderr

    assert run("key", "export", key["fingerprint"][:10], "--out", str(tmp_path / "prod.key")).exit_code == 0
    assert stat.S_IMODE((tmp_path / "prod.key").stat().st_mode) == 0o600
    private = decrypt_cosign_private_key((tmp_path / "prod.key").read_bytes(), PASS.encode())
    assert run("key", "export", "prod", "--public", "--out", str(tmp_path / "prod.pub")).exit_code == 0
    assert load_public_key((tmp_path / "prod.pub").read_bytes()).fingerprint == key["fingerprint"]
    exported = load_public_key((tmp_path / "prod.pub").read_bytes())
    assert private.public_key().public_numbers() == exported.key.public_numbers()
    again = run("key", "export", "prod", "--out", str(tmp_path / "prod.key"))
    assert again.exit_code == 2 and "refusing to overwrite" in again.stderr

    imported = run("key", "import", str(FIXTURES / "cosign-encrypted-keys/policy-controller-example/cosign.key"),
                   "--name", "pc-example", "--json", env={"SIGNET_PASSWORD": ""})
    assert imported.exit_code == 0, imported.stderr
    labeled = FIXTURES / "cosign-encrypted-keys/cosign-keys-test/encrypted-sigstore-labeled.key"
    wrong = run("key", "import", str(labeled), "--name", "x", env={"SIGNET_PASSWORD": "wrong"})
    assert wrong.exit_code == 2 and "wrong passphrase" in wrong.stderr and wrong.stderr.count("\n") == 1


def test_generate_prompts_with_confirmation(home, monkeypatch):
    monkeypatch.delenv("SIGNET_PASSWORD")
    mismatch = CliRunner().invoke(cli, ["key", "generate", "--name", "k"], input="first pass 1\nsecond pass\n"
                                  "again pass 1\nagain pass 1\n")
    assert mismatch.exit_code == 0, mismatch.output
    assert "do not match" in mismatch.stderr and mismatch.stderr.count("New passphrase for k") == 2
    assert "again pass 1" not in mismatch.output
    key_file = next((home / "keys").glob("*.key"))
    decrypt_cosign_private_key(key_file.read_bytes(), b"again pass 1")  # the confirmed one protects the key


def test_non_custodian_is_refused_before_any_prompt(signet_home):
    write_config(signet_home, identity="mallory", custodians=("alice",))
    out = CliRunner().invoke(cli, ["key", "generate", "--name", "k"], input="")
    assert out.exit_code == 2 and "custodian" in out.stderr and "Passphrase" not in out.stderr


def test_backup_prints_shares_once_then_drill_and_restore(home, tmp_path):
    run("key", "generate", "--name", "prod")
    backup_file = tmp_path / "prod.json"
    out = run("key", "backup", "prod", "--shares", "2-of-3", "--custodian", "ann", "--custodian", "bob",
              "--custodian", "cat", "--out", str(backup_file))
    assert out.exit_code == 0, out.stderr
    shares = _shares_from(out.stdout)
    assert len(shares) == 3 and all(len(s.split()) == 33 for s in shares)
    assert "(custodian: bob)" in out.stdout
    (tmp_path / "s1").write_text(shares[0] + "\n")
    (tmp_path / "s3").write_text(shares[2] + "\n")

    drill = run("key", "backup", "test", str(backup_file), "--share-file", str(tmp_path / "s1"),
                "--share-file", str(tmp_path / "s3"), "--json")
    assert drill.exit_code == 0, drill.stderr
    assert json.loads(drill.stdout)["ok"] is True
    assert json.loads(run("key", "list", "--json").stdout)[0]["backup_status"] == "ok"

    listed = run("key", "backup", "list", "prod")
    assert "2-of-3" in listed.stdout and "1:ann, 2:bob, 3:cat" in listed.stdout and "OVERDUE" not in listed.stdout
    [entry] = json.loads(run("key", "backup", "list", "--json").stdout)
    assert entry["last_test_result"] == "ok" and entry["location"] == str(backup_file.resolve())
    too_few = run("key", "backup", "test", str(backup_file), "--share-file", str(tmp_path / "s1"))
    assert too_few.exit_code == 2 and "too few shares" in too_few.stderr
    prompted = CliRunner().invoke(cli, ["key", "backup", "test", str(backup_file)], input=f"{shares[1]}\n{shares[2]}\n")
    assert prompted.exit_code == 0, prompted.output
    assert shares[1] not in prompted.stdout and shares[1] not in prompted.stderr

    present = run("key", "restore", str(backup_file), "--share-file", str(tmp_path / "s1"),
                  "--share-file", str(tmp_path / "s3"))
    assert present.exit_code == 2 and "already present" in present.stderr


def test_passphrase_backup_via_files(home, tmp_path):
    run("key", "generate", "--name", "prod")
    (tmp_path / "bp").write_text("backup passphrase!\n")
    out = run("key", "backup", "--passphrase", "prod", "--backup-passphrase-file", str(tmp_path / "bp"),
              "--out", str(tmp_path / "b.json"), "--json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["shares"] == []
    assert run("key", "backup", "test", str(tmp_path / "b.json"), "--backup-passphrase-file",
               str(tmp_path / "bp")).exit_code == 0
    (tmp_path / "bad").write_text("not the passphrase\n")
    bad = run("key", "backup", "test", str(tmp_path / "b.json"), "--backup-passphrase-file", str(tmp_path / "bad"))
    assert bad.exit_code == 2 and "wrong passphrase for this backup" in bad.stderr
    both = run("key", "backup", "prod", "--shares", "2-of-3", "--passphrase")
    assert both.exit_code == 2 and "exactly one" in both.stderr


def test_rotation_through_the_cli(home, registry, tmp_path):
    run("key", "generate", "--name", "old")
    push_image(registry.url, "team/app", "v1")
    assert run("sign", f"{registry.host}/team/app:v1", "--key", "old").exit_code == 0
    (tmp_path / "newpass").write_text(NEW_PASS)
    started = run("key", "rotate", "start", "old", "--new-name", "new", "--shares", "2-of-2",
                  "--passphrase-file", str(tmp_path / "newpass"), "--backup-out", str(tmp_path / "new.json"),
                  "--policy-dir", str(tmp_path / "pol"), "--json")
    assert started.exit_code == 0, started.stderr
    data = json.loads(started.stdout)
    assert data["step"] == "publish" and len(data["shares"]) == 2
    rid = data["id"]
    not_yet = run("key", "rotate", "revoke", rid)
    assert not_yet.exit_code == 2 and "last step" in not_yet.stderr
    for expected in ("switch", "resign", "soak", "retire"):
        step = run("key", "rotate", "next", rid, "--passphrase-file", str(tmp_path / "newpass"), "--json", "--yes")
        assert step.exit_code == 0, step.stderr
        assert json.loads(step.stdout)["step"] == expected
    retired = run("key", "rotate", "retire", rid, "--json")
    assert retired.exit_code == 0, retired.stderr
    assert json.loads(retired.stdout)["step"] == "revoke"
    done = run("key", "rotate", "revoke", rid, "--json")
    assert json.loads(done.stdout)["status"] == "done"
    table = run("key", "rotate", "status")
    assert rid in table.stdout and "done" in table.stdout
    keys = {k["name"]: k["state"] for k in json.loads(run("key", "list", "--json").stdout)}
    assert keys == {"old": "revoked", "new": "active"}


def test_emergency_revoke_through_the_cli(home, registry, tmp_path):
    run("key", "generate", "--name", "leaked")
    run("key", "generate", "--name", "spare")
    digest = push_image(registry.url, "team/app", "v1")
    run("sign", f"{registry.host}/team/app:v1", "--key", "leaked")
    no_reason = run("key", "rotate", "revoke", "leaked", "--emergency")
    assert no_reason.exit_code == 2 and "reason" in no_reason.stderr
    out = run("key", "rotate", "revoke", "leaked", "--emergency", "--reason", "leaked in CI logs",
              "--policy-dir", str(tmp_path / "pol"))
    assert out.exit_code == 0, out.stderr
    assert "1 of 1 in-use image(s) were signed only by this key" in out.stdout
    assert f"{registry.host}/team/app@{digest}" in out.stdout
    refused = run("sign", f"{registry.host}/team/app:v1", "--key", "leaked")
    assert refused.exit_code == 2 and "revoked" in refused.stderr


def test_rotate_resume_stage_and_blocked_retire_exit_code(home, registry, tmp_path):
    from core.context import open_context
    from core.history.records import record_verification

    run("key", "generate", "--name", "old")
    ghost = f"{registry.host}/team/ghost@sha256:" + "cd" * 32
    ctx = open_context()
    with ctx.store.write() as db:
        record_verification(db, at="2026-11-22T00:00:00.000000Z", actor="sweeper", source="sweep", reference=ghost,
                            digest="sha256:" + "cd" * 32, result="error", reason="gone")
    ctx.close()
    (tmp_path / "newpass").write_text(NEW_PASS)
    common = ["--new-name", "new", "--shares", "2-of-2", "--passphrase-file", str(tmp_path / "newpass")]
    failed = run("key", "rotate", "start", "old", *common, "--policy-dir", str(tmp_path / "pol"),
                 "--backup-out", str(tmp_path / "no-dir" / "b.json"))
    assert failed.exit_code == 3 and "cannot write" in failed.stderr
    [row] = json.loads(run("key", "rotate", "status", "--json").stdout)
    assert row["step"] == "stage" and row["status"] == "failed"
    resumed = run("key", "rotate", "resume", row["id"], *common, "--backup-out", str(tmp_path / "b.json"))
    assert resumed.exit_code == 0, resumed.stderr
    assert len(_shares_from(resumed.stdout)) == 2  # the fresh backup's shares, printed once
    for _ in range(3):
        assert run("key", "rotate", "next", row["id"], "--passphrase-file", str(tmp_path / "newpass")).exit_code == 0
    blocked = run("key", "rotate", "retire", row["id"])
    assert blocked.exit_code == 1 and "blocked at the soak step" in blocked.stderr
    assert "coverage: 0.0%" in blocked.stdout
    forced = run("key", "rotate", "retire", row["id"], "--force", "--reason", "ghost was deleted", "--json")
    assert forced.exit_code == 0 and json.loads(forced.stdout)["step"] == "revoke"


def test_rotation_applies_policies_to_a_cluster(home, tmp_path):
    from tests.support.kube_api import KubeApiServer, write_kubeconfig
    from core.policy.generate import policy_key_fingerprints

    old = json.loads(run("key", "generate", "--name", "old", "--json").stdout)
    (tmp_path / "newpass").write_text(NEW_PASS)
    started = run("key", "rotate", "start", "old", "--new-name", "new", "--backup-passphrase",
                  "--backup-passphrase-file", str(tmp_path / "newpass"), "--passphrase-file", str(tmp_path / "newpass"),
                  "--policy-dir", str(tmp_path / "pol"), "--json")
    assert started.exit_code == 0, started.stderr
    data = json.loads(started.stdout)
    rid, new_fp = data["id"], data["new_key"]["fingerprint"]
    with KubeApiServer() as kube:
        kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", {"prod-eu": kube.url}))
        published = run("key", "rotate", "next", rid, "--apply-to", "prod-eu", "--kubeconfig", kubeconfig)
        assert published.exit_code == 0, published.stderr
        cp = kube.get("kyverno.io", "v1", "clusterpolicies", "", "signet-verify-images")
        cip = kube.get("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", "", "signet-verify-images")
        assert policy_key_fingerprints(cp) == policy_key_fingerprints(cip) == {old["fingerprint"], new_fp}
        for _ in range(3):  # switch, resign (nothing in use), soak
            assert run("key", "rotate", "next", rid, "--passphrase-file", str(tmp_path / "newpass")).exit_code == 0
        retired = run("key", "rotate", "retire", rid, "--apply-to", "prod-eu", "--kubeconfig", kubeconfig,
                      "--engine", "kyverno")
        assert retired.exit_code == 0, retired.stderr
        assert policy_key_fingerprints(kube.get("kyverno.io", "v1", "clusterpolicies", "", "signet-verify-images")) \
            == {new_fp}
        # Only the Kyverno policy was asked for: the sigstore one still holds both keys.
        assert len(policy_key_fingerprints(kube.get("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", "",
                                                    "signet-verify-images"))) == 2
    keys = {k["name"]: k for k in json.loads(run("key", "list", "--json").stdout)}
    assert "prod-eu:ClusterPolicy/signet-verify-images" in keys["new"]["trusted_by"]
    assert "prod-eu:ClusterPolicy/signet-verify-images" not in keys["old"]["trusted_by"]
    # The cluster's sigstore policy was not re-applied and still trusts the old key: inventory says so.
    assert keys["old"]["trusted_by"] == ["prod-eu:ClusterImagePolicy/signet-verify-images"]


def test_signet_sign_with_secrets_manager_and_kms_keys(home, registry, aws_endpoint):
    for name, store in (("sm", "secretsmanager"), ("kms", "kms")):
        made = run("key", "generate", "--name", name, "--store", store, "--json")
        assert made.exit_code == 0, made.stderr
        fingerprint = json.loads(made.stdout)["fingerprint"]
        push_image(registry.url, f"team/{name}", "v1")
        signed = run("sign", f"{registry.host}/team/{name}:v1", "--key", name, "--json")
        assert signed.exit_code == 0, signed.stderr
        assert json.loads(signed.stdout)["key_fingerprint"] == fingerprint
        verified = run("verify", f"{registry.host}/team/{name}:v1", "--key", name, "--json")
        assert verified.exit_code == 0 and json.loads(verified.stdout)[0]["matched_keys"] == [fingerprint]


def _signet_without_a_terminal(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`signet ARGS` with stdin at its end and no controlling terminal (a new session), as in CI."""
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=env, start_new_session=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)


def test_a_prompt_nobody_can_answer_is_a_usage_error_naming_the_flag(home, tmp_path, monkeypatch):
    run("key", "generate", "--name", "prod")
    backup_file = tmp_path / "prod.json"
    run("key", "backup", "prod", "--shares", "2-of-3", "--out", str(backup_file))
    monkeypatch.delenv("SIGNET_PASSWORD")
    env = {k: v for k, v in os.environ.items()}
    cases = [(("key", "backup", "test", str(backup_file)), "--share-file"),
             (("key", "import", str(FIXTURES / "cosign-encrypted-keys/policy-controller-example/cosign.key"),
               "--name", "pc"), "--passphrase-file"),
             (("key", "generate", "--name", "other"), "--passphrase-file")]
    for args, flag in cases:
        done = _signet_without_a_terminal(*args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert flag in done.stderr and "nobody can answer" in done.stderr
        assert "GetPassWarning" not in done.stderr and "Aborted" not in done.stderr and "echoed" not in done.stderr
        in_process = CliRunner().invoke(cli, list(args), input="")  # the same through click's own prompt
        assert in_process.exit_code == 2 and flag in in_process.stderr, in_process.output
    assert [k["name"] for k in json.loads(run("key", "list", "--json").stdout)] == ["prod"]


def test_piped_shares_still_answer_the_prompts_without_a_terminal(home, tmp_path):
    run("key", "generate", "--name", "prod")
    backup_file = tmp_path / "prod.json"
    shares = _shares_from(run("key", "backup", "prod", "--shares", "2-of-3", "--out", str(backup_file)).stdout)
    done = subprocess.run([sys.executable, "-m", "tui.cli.main", "key", "backup", "test", str(backup_file), "--json"],
                          input=f"{shares[0]}\n{shares[2]}\n", capture_output=True, text=True, env=dict(os.environ),
                          start_new_session=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True and "echoed" not in done.stderr and shares[0] not in done.stderr
