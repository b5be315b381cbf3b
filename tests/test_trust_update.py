"""`signet trust update`: trusted_root.json through TUF (python-tuf's client) from a local TUF repository
made with python-tuf's own metadata tools, as a mirror directory and over loopback HTTP; refusals leave
the trusted root as it was; the freshness warning."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timedelta, timezone
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.context import open_context
from core.trustroot.tuf_update import root_age_warning
from tests.support.tuf_repo import LocalTufRepo
from tests.support.store import chain_status
from tui.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures"
PRODUCTION_ROOT = (FIXTURES / "sigstore-conformance-bundles" / "trusted_root.production.json").read_bytes()
PGI_ROOT = (FIXTURES / "cosign-oci-sigstore-bundle" / "trusted_root_pgi.json").read_bytes()


@pytest.fixture
def custodian(signet_home):
    (signet_home / "config.toml").write_text('identity = "carol"\n\n[roles]\ncustodian = ["carol"]\n')
    return signet_home


@pytest.fixture
def repo(tmp_path):
    repository = LocalTufRepo(tmp_path / "tuf-repo")
    repository.publish(PRODUCTION_ROOT)
    return repository


def update(*args: str):
    return CliRunner().invoke(cli, ["trust", "update", *args, "--json"])


def test_first_update_from_a_mirror_directory_then_follow_updates(custodian, repo, tmp_path):
    out = tmp_path / "trusted_root.json"
    first = update("--repository", str(repo.dir), "--tuf-root", str(repo.root_file), "--output", str(out))
    assert first.exit_code == 0, first.output
    assert out.read_bytes() == PRODUCTION_ROOT and json.loads(first.stdout)["changed"] is True
    again = update("--repository", str(repo.dir), "--output", str(out))  # cached root from now on
    assert again.exit_code == 0 and json.loads(again.stdout)["changed"] is False
    repo.rotate_timestamp_key()
    repo.publish(PGI_ROOT)
    rotated = update("--repository", str(repo.dir), "--output", str(out))
    assert rotated.exit_code == 0, rotated.output
    assert out.read_bytes() == PGI_ROOT and json.loads(rotated.stdout)["tuf_root_version"] == 2
    ctx = open_context()
    try:
        entries = [e for e in ctx.store.query("SELECT action, subject FROM audit ORDER BY seq")
                   if e["action"] == "trust update"]
        assert len(entries) == 3 and entries[0]["subject"] == str(out)
        chain_status(ctx.store)
    finally:
        ctx.close()
    assert root_age_warning(str(out), 30 * 86400, datetime.now(timezone.utc)) == ""


def test_update_over_loopback_http(custodian, repo, tmp_path):
    handler = partial(SimpleHTTPRequestHandler, directory=str(repo.dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = tmp_path / "root.json"
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = update("--repository", url, "--tuf-root", str(repo.root_file), "--output", str(out))
        assert result.exit_code == 0, result.output
        assert out.read_bytes() == PRODUCTION_ROOT
    finally:
        server.shutdown()
        server.server_close()


def test_refused_repositories_leave_the_trusted_root_unchanged(custodian, repo, tmp_path):
    out = tmp_path / "trusted_root.json"
    assert update("--repository", str(repo.dir), "--tuf-root", str(repo.root_file), "--output", str(out)).exit_code == 0
    repo.expire_timestamp()
    expired = update("--repository", str(repo.dir), "--output", str(out))
    assert expired.exit_code == 1 and "expired" in expired.stderr
    assert out.read_bytes() == PRODUCTION_ROOT
    other = LocalTufRepo(tmp_path / "not-a-root")
    other.publish(b'{"mediaType": "something else"}')
    wrong = update("--repository", str(other.dir), "--tuf-root", str(other.root_file), "--output", str(out))
    assert wrong.exit_code == 1 and "not a usable trusted root" in wrong.stderr
    assert out.read_bytes() == PRODUCTION_ROOT


def test_an_expired_tuf_root_is_refused_and_the_trusted_root_kept(custodian, repo, tmp_path):
    out = tmp_path / "trusted_root.json"
    assert update("--repository", str(repo.dir), "--tuf-root", str(repo.root_file), "--output", str(out)).exit_code == 0
    repo.expire_root()
    repo.publish(PGI_ROOT)  # a new target behind the expired root is not taken either
    expired = update("--repository", str(repo.dir), "--output", str(out))
    assert expired.exit_code == 1 and "expired" in expired.stderr
    assert out.read_bytes() == PRODUCTION_ROOT
    # first use of a copy (its own TUF state) pinned to that expired root: refused too
    mirror = Path(shutil.copytree(repo.dir, tmp_path / "mirror"))
    fresh = tmp_path / "fresh.json"
    pinned = update("--repository", str(mirror), "--tuf-root", str(mirror / "2.root.json"), "--output", str(fresh))
    assert pinned.exit_code == 1 and "expired" in pinned.stderr and not fresh.exists()


def test_tampered_target_is_refused(custodian, repo, tmp_path):
    (target,) = (repo.dir / "targets").glob("*.trusted_root.json")
    target.write_bytes(PGI_ROOT)  # served bytes no longer match the signed targets metadata
    out = tmp_path / "trusted_root.json"
    result = update("--repository", str(repo.dir), "--tuf-root", str(repo.root_file), "--output", str(out))
    assert result.exit_code == 1 and not out.exists()


def test_first_use_needs_a_pinned_root_and_the_custodian_role(signet_home, repo, tmp_path):
    (signet_home / "config.toml").write_text('identity = "olga"\n\n[roles]\noperator = ["olga"]\n')
    denied = update("--repository", str(repo.dir), "--tuf-root", str(repo.root_file),
                    "--output", str(tmp_path / "x.json"))
    assert denied.exit_code == 2 and "custodian" in denied.stderr
    (signet_home / "config.toml").write_text('identity = "carol"\n\n[roles]\ncustodian = ["carol"]\n')
    unpinned = update("--repository", str(repo.dir), "--output", str(tmp_path / "x.json"))
    assert unpinned.exit_code == 2 and "--tuf-root" in unpinned.stderr
    remote = update("--repository", "http://198.51.100.7/tuf", "--output", str(tmp_path / "x.json"))
    assert remote.exit_code == 2 and "loopback" in remote.stderr


def test_freshness_warning_reads_the_refresh_record(tmp_path):
    root = tmp_path / "trusted_root.json"
    root.write_bytes(PRODUCTION_ROOT)
    now = datetime.now(timezone.utc)
    (tmp_path / "trusted_root.json.tuf.json").write_text(json.dumps(
        {"refreshed_at": (now - timedelta(days=45)).isoformat(), "source": "x"}))
    warning = root_age_warning(str(root), 30 * 86400, now)
    assert "45 days ago" in warning and "signet trust update" in warning
    assert root_age_warning(str(root), 60 * 86400, now) == ""


def test_max_root_age_is_a_duration_in_the_trust_config(signet_home):
    (signet_home / "config.toml").write_text('[trust]\nmax_root_age = "45d"\ntuf_repository = "/srv/tuf"\n')
    ctx = open_context()
    try:
        assert ctx.config.trust.max_root_age_seconds == 45 * 86400
        assert ctx.config.trust.tuf_repository == "/srv/tuf"
    finally:
        ctx.close()
    (signet_home / "config.toml").write_text('[trust]\nmax_root_age = "soon"\n')
    result = CliRunner().invoke(cli, ["trust", "update"])
    assert result.exit_code == 2 and "max_root_age" in result.stderr


def test_verify_warns_when_the_trusted_root_is_stale(signet_home, tmp_path):
    root = tmp_path / "trusted_root.json"
    root.write_bytes(PRODUCTION_ROOT)
    (tmp_path / "trusted_root.json.tuf.json").write_text(json.dumps(
        {"refreshed_at": (datetime.now(timezone.utc) - timedelta(days=40)).isoformat(), "source": "x"}))
    args = ["verify", f"oci:{tmp_path}/no-such-layout:v1", "--trusted-root", str(root),
            "--certificate-identity", "a@example.com", "--certificate-oidc-issuer", "https://issuer.example"]
    stale = CliRunner().invoke(cli, args)
    assert "warning: trusted root" in stale.stderr and "40 days ago" in stale.stderr
    (signet_home / "config.toml").write_text('[trust]\nmax_root_age = "60d"\n')
    fresh_enough = CliRunner().invoke(cli, args)
    assert "warning: trusted root" not in fresh_enough.stderr
