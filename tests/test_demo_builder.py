"""`signet demo`: an offline environment built through the real services, rebuilt idempotently."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.bypass.service import list_bypasses
from core.clock import FixedClock
from core.demo.builder import DEMO_CLUSTER, HISTORY_ROWS, IMAGES, build_demo, open_demo_context
from core.demo.workloads import AUDIT_POLICY, ENFORCED_POLICY
from core.errors import InputError
from core.keys.inventory import list_keys
from core.verify.service import verify_images
from core.verify.verifier import Verifier
from tests.support.console import NOW, press, running, screen_text
from tui.cli.main import cli

EXPECTED = {"signed-both": "verified", "signed-a": "verified", "signed-b": "verified", "unsigned": "unsigned",
            "tampered": "invalid", "bypassed": "unsigned"}


def test_demo_has_every_story_and_verification_is_real(tmp_path):
    env = build_demo(tmp_path / "demo", clock=FixedClock(NOW))
    ctx = open_demo_context(env.root, clock=FixedClock(NOW))
    keys = list_keys(ctx)
    assert sorted(k.name for k in keys) == ["release-a", "release-b"] and {k.state for k in keys} == {"active"}
    results = verify_images(ctx, [env.references[f"{i.repository}:{i.tag}"] for i in IMAGES],
                            Verifier.for_args(ctx), record=False)
    for image, result in zip(IMAGES, results, strict=True):
        assert result.result == EXPECTED[image.story], (image, result.reason)
    both = results[0]
    assert len(both.matched_keys) == 2 and {k.fingerprint for k in keys} == set(both.matched_keys)
    assert "payload is for" in results[4].reason  # the replayed signature names another digest
    bypasses = {b.id: b for b in list_bypasses(ctx)}
    assert bypasses[env.pending_bypass].state.value == "requested"
    active = bypasses[env.active_bypass]
    assert active.state.value == "active" and active.requester == "alice" and active.approvers == ("bob",)
    demo_rows = ctx.store.query("SELECT COUNT(*) AS n, MIN(at) AS first FROM verifications WHERE source = 'demo'")
    assert demo_rows[0]["n"] >= HISTORY_ROWS and demo_rows[0]["first"] < "2026-11-16"
    ctx.close()


def test_no_private_key_is_ever_on_disk_unencrypted(tmp_path):
    env = build_demo(tmp_path / "demo", clock=FixedClock(NOW))
    passphrase = env.passphrase_file.read_bytes().strip()
    assert stat.S_IMODE(env.passphrase_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(env.key_store.stat().st_mode) == 0o700
    for path in env.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"BEGIN PRIVATE KEY" not in data and b"BEGIN EC PRIVATE KEY" not in data, path
            if path.parent == env.key_store:
                assert stat.S_IMODE(path.stat().st_mode) == 0o600
            if path != env.passphrase_file:
                assert passphrase not in data, path  # the passphrase lives in one file only
    keys = [p for p in env.key_store.iterdir() if p.suffix == ".key"]
    assert len(keys) == 2 and all(b"ENCRYPTED SIGSTORE PRIVATE KEY" in p.read_bytes() for p in keys)


def test_rebuild_is_idempotent_and_refuses_foreign_directories(tmp_path):
    root = tmp_path / "demo"
    first = build_demo(root, clock=FixedClock(NOW))
    first_pass = first.passphrase_file.read_bytes()
    second = build_demo(root, clock=FixedClock(NOW))
    ctx = open_demo_context(root, clock=FixedClock(NOW))
    assert len(list_keys(ctx)) == 2 and len(list_bypasses(ctx)) == 2
    assert second.digests == first.digests  # the images are the same bytes every time
    assert second.passphrase_file.read_bytes() != first_pass  # a fresh passphrase per build
    ctx.close()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a Signet demo"):
        build_demo(foreign)
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_demo_identities_are_fixed_whatever_the_environment_says(tmp_path, monkeypatch):
    env = build_demo(tmp_path / "demo", clock=FixedClock(NOW))
    monkeypatch.setenv("SIGNET_KEY_STORE", str(tmp_path / "elsewhere"))
    bob = open_demo_context(env.root, identity="bob")
    assert bob.principal.identity == "bob" and {r.value for r in bob.principal.roles} == {"operator", "approver"}
    assert bob.paths.key_store == env.key_store
    with pytest.raises(InputError):
        open_demo_context(env.root, identity="mallory")
    bob.close()


def test_cli_builds_without_opening_and_prints_the_shell_line_that_uses_it(tmp_path):
    root = tmp_path / "o'demo"  # the printed line must quote it
    result = CliRunner().invoke(cli, ["demo", "--dir", str(root), "--no-open"])
    assert result.exit_code == 0, result.output
    assert f"demo built in {root}" in result.output
    assert (root / "signet.db").exists() and os.access(root / "config.toml", os.R_OK)
    [export] = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("export ")]
    shell_env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNET_")}
    shell_env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{shell_env.get('PATH', '')}",
                     PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    run = subprocess.run(["sh", "-c", export + " && signet locate --json && signet history --limit 1 --json"],
                         capture_output=True, text=True, env=shell_env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    located = json.loads(run.stdout[:run.stdout.index("}") + 1])
    assert (located["db"], located["config"]) == (str(root / "signet.db"), str(root / "config.toml"))
    assert json.loads(run.stdout[run.stdout.index("}") + 1:])  # the demo's history, not an empty one


def test_demo_in_a_directory_with_a_space_builds_and_verifies(tmp_path):
    """A home or project path may contain a space ("Application Support"): the demo's local registry,
    its cluster policy globs and the printed shell lines must all work there."""
    root = tmp_path / "D with space"
    built = CliRunner().invoke(cli, ["demo", "--dir", str(root), "--no-open"])
    assert built.exit_code == 0, built.output
    lines = {line.strip().split(":  ", 1)[0]: line.strip().split(":  ", 1)[-1] for line in built.stdout.splitlines()}
    assert shlex.split(lines["console as bob"])[-1] == str(root)
    assert shlex.split(lines["key passphrase"]) == [str(root / "demo-passphrase")]
    env = {"SIGNET_DB": str(root / "signet.db"), "SIGNET_CONFIG": str(root / "config.toml")}
    signed = CliRunner().invoke(cli, ["verify", f"oci:{root}/registry/payments-api:v1.4.2"], env=env)
    assert signed.exit_code == 0 and "verified" in signed.stdout, signed.output
    tampered = CliRunner().invoke(cli, ["verify", f"oci:{root}/registry/web-frontend:v3.1.0"], env=env)
    assert tampered.exit_code == 1 and "invalid" in tampered.stdout, tampered.output
    # the demo cluster's policy glob has the space and still matches its images
    enforced = CliRunner().invoke(cli, ["what-if", "--enforce", "signet-verify-images"], env=env)
    assert "newly-denied  demo-prod/payments/Deployment/ledger:ledger" in enforced.stdout, enforced.output


def test_key_list_shows_the_demo_cluster_policy_trusting_its_keys(tmp_path):
    """The demo's cluster-wide policy is applied as `cluster policy generate --apply` applies one, so each
    key's TRUSTED BY names it (it was empty: the policy was written straight into the cluster file)."""
    root = tmp_path / "demo"
    built = CliRunner().invoke(cli, ["demo", "--dir", str(root), "--no-open"])
    assert built.exit_code == 0, built.output
    env = {"SIGNET_DB": str(root / "signet.db"), "SIGNET_CONFIG": str(root / "config.toml"), "SIGNET_IDENTITY": "alice"}
    applied = f"{DEMO_CLUSTER}:ClusterPolicy/{AUDIT_POLICY}"
    listed = CliRunner().invoke(cli, ["key", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    keys = json.loads(listed.stdout)
    assert {k["name"]: k["trusted_by"] for k in keys} == {"release-a": [applied], "release-b": [applied]}
    table = CliRunner().invoke(cli, ["key", "list"], env={**env, "COLUMNS": "300"})
    assert all(applied in line for line in table.stdout.splitlines() if line.startswith("release-"))
    # the apply was audited with the keys it trusts, and the cluster has the policy Signet recorded
    ctx = open_demo_context(root)
    (audit,) = ctx.store.query("SELECT subject, details FROM audit WHERE action = 'cluster.policy.apply'")
    details = json.loads(audit["details"])
    assert audit["subject"] == applied and details["outcome"] == "applied"
    assert sorted(details["fingerprints"]) == sorted(k["fingerprint"] for k in keys)
    policies = CliRunner().invoke(cli, ["cluster", "policy", "show", "--json"], env=env)
    (report,) = json.loads(policies.stdout)
    by_name = {(p["kind"], p["name"]): p for p in report["policies"]}
    audit_rule = by_name[("ClusterPolicy", AUDIT_POLICY)]
    assert audit_rule["mode"] == "audit" and ("Policy", ENFORCED_POLICY) in by_name, policies.output
    assert sorted(k["fingerprint"] for k in audit_rule["keys"]) == sorted(details["fingerprints"])
    ctx.close()


async def test_the_console_key_panel_shows_what_key_list_shows(tmp_path):
    root = tmp_path / "demo"
    build_demo(root, clock=FixedClock(NOW))
    ctx = open_demo_context(root, clock=FixedClock(NOW))
    applied = f"{DEMO_CLUSTER}:ClusterPolicy/{AUDIT_POLICY}"
    try:
        async with running(ctx, "keys") as (app, pilot):
            for name in ("release-a", "release-b"):
                pane = "\n".join(line.split("│", 1)[1].strip() for line in screen_text(app).splitlines() if "│" in line)
                assert f"key {name}" in pane and f"trusted by:\n{applied}\n" in pane, pane
                await press(app, pilot, "down")
    finally:
        ctx.close()


def test_screenshots_are_svgs_of_the_demo_views(tmp_path):
    import asyncio

    from tui.screenshots import main

    paths = asyncio.run(main(tmp_path / "shots", ("dashboard", "registries"), demo_dir=tmp_path / "demo"))
    assert [p.name for p in paths] == ["dashboard.svg", "registries.svg"]
    registries = paths[1].read_text()
    assert registries.startswith("<svg") and "payments-api" in registries and "verified" in registries
    passphrase = (tmp_path / "demo" / "demo-passphrase").read_text().strip()
    assert all(passphrase not in p.read_text() for p in paths)
