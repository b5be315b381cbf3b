"""`signet bypass ...` end to end through the command line, with real time and several identities."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.support.bypass_world import DIGEST, JUSTIFICATION
from tests.support.kube_api import KubeApiServer, closed_port_url, write_kubeconfig
from tui.cli.main import cli


@pytest.fixture
def home(signet_home):
    (signet_home / "config.toml").write_text('[roles]\napprover = ["alice", "bob"]\n')
    return signet_home


def run(monkeypatch, who, *args):
    monkeypatch.setenv("SIGNET_IDENTITY", who)
    return CliRunner().invoke(cli, ["bypass", *args])


REQUEST = ["request", "--function", "checkout", "--region", "eu-west-1", "--digest", DIGEST,
           "--justification", JUSTIFICATION, "--ticket", "INC-42", "--duration", "2h"]


def test_request_approve_list_revoke(home, monkeypatch):
    made = run(monkeypatch, "dev", *REQUEST)
    assert made.exit_code == 0, made.stderr
    bypass_id = made.stdout.strip()
    assert bypass_id.startswith("bp-") and "needs 1 approval" in made.stderr

    pending = run(monkeypatch, "dev", "list", "--json")
    (row,) = json.loads(pending.stdout)["bypasses"]
    assert (row["id"], row["group"], row["state"]) == (bypass_id, "pending", "requested")

    no_role = run(monkeypatch, "dev", "approve", bypass_id)
    assert no_role.exit_code == 2 and "approver role" in no_role.stderr
    own = run(monkeypatch, "alice", *REQUEST)
    self_approval = run(monkeypatch, "alice", "approve", own.stdout.strip())
    assert self_approval.exit_code == 2 and "cannot approve" in self_approval.stderr

    approved = run(monkeypatch, "alice", "approve", bypass_id)
    assert approved.exit_code == 0, approved.stderr
    assert approved.stdout.startswith(f"{bypass_id}: active, until ")

    listed = run(monkeypatch, "dev", "list")
    assert listed.exit_code == 0 and "Active" in listed.stdout and "lambda:eu-west-1/checkout" in listed.stdout
    data = json.loads(run(monkeypatch, "dev", "list", "--json").stdout)
    active = next(b for b in data["bypasses"] if b["id"] == bypass_id)
    assert active["group"] == "active" and 7190 <= active["remaining_seconds"] <= 7200
    assert active["approvers"] == ["alice"] and active["scope"]["function"] == "checkout"

    revoked = run(monkeypatch, "bob", "revoke", bypass_id, "--reason", "signed build is out")
    assert revoked.exit_code == 0 and f"{bypass_id}: revoked" in revoked.stdout
    history = json.loads(run(monkeypatch, "dev", "list", "--all", "--json").stdout)["bypasses"]
    assert {b["id"]: b["state"] for b in history}[bypass_id] == "revoked"
    assert bypass_id not in run(monkeypatch, "dev", "list").stdout


def test_request_refusals_exit_2(home, monkeypatch):
    tag = run(monkeypatch, "dev", *[a if a != DIGEST else "app:latest" for a in REQUEST])
    assert tag.exit_code == 2 and "tag" in tag.stderr
    long = run(monkeypatch, "dev", *REQUEST[:-1], "25h")
    assert long.exit_code == 2 and "maximum" in long.stderr
    vague = run(monkeypatch, "dev", *[a if a != JUSTIFICATION else "because" for a in REQUEST])
    assert vague.exit_code == 2 and "justification" in vague.stderr
    assert json.loads(run(monkeypatch, "dev", "list", "--all", "--json").stdout)["bypasses"] == []


def test_deny_needs_reason_and_role(home, monkeypatch):
    bypass_id = run(monkeypatch, "dev", *REQUEST).stdout.strip()
    assert run(monkeypatch, "alice", "deny", bypass_id).exit_code == 2  # --reason missing
    assert run(monkeypatch, "dev", "deny", bypass_id, "--reason", "nope").exit_code == 2
    denied = run(monkeypatch, "alice", "deny", bypass_id, "--reason", "use the break-glass key", "--json")
    assert denied.exit_code == 0 and json.loads(denied.stdout)["bypass"]["state"] == "denied"
    assert run(monkeypatch, "bob", "approve", bypass_id).exit_code == 2


def test_reap_exit_codes_and_pending_exception(home, monkeypatch, tmp_path):
    with KubeApiServer() as server:
        server.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kyverno"}})
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"prod": closed_port_url()})
        (home / "config.toml").write_text('[roles]\napprover = ["alice"]\n\n[[clusters]]\ncontext = "prod"\n'
                                          f'kubeconfig = "{kubeconfig}"\n')
        bypass_id = run(monkeypatch, "dev", "request", "--cluster", "prod", "--namespace", "payments",
                        "--digest", DIGEST, "--justification", JUSTIFICATION, "--ticket", "INC-1",
                        "--duration", "1h").stdout.strip()
        approved = run(monkeypatch, "alice", "approve", bypass_id)
        assert approved.exit_code == 3 and f"{bypass_id}: approved" in approved.stdout
        assert "PolicyException not created" in approved.stderr
        assert "PolicyException pending" in run(monkeypatch, "dev", "list").stdout
        unreachable = run(monkeypatch, "dev", "reap")
        assert unreachable.exit_code == 3

        write_kubeconfig(kubeconfig, {"prod": server.url})
        server.add({"apiVersion": "kyverno.io/v2", "kind": "PolicyException",
                    "metadata": {"name": "by-hand", "namespace": "kyverno"}, "spec": {}})
        found = run(monkeypatch, "dev", "reap", "--json")
        assert found.exit_code == 1, found.stderr
        report = json.loads(found.stdout)
        assert report["activated"] == [bypass_id]
        assert [f["name"] for f in report["foreign"]] == ["by-hand"]
        server.delete("kyverno.io", "policyexceptions", "kyverno", "by-hand")
        clean = run(monkeypatch, "dev", "reap")
        assert clean.exit_code == 0 and "in order" in clean.stdout
