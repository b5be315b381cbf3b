"""`signet bypass ...` end to end through the command line, with real time and several identities."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from tests.support.bypass_world import DIGEST, JUSTIFICATION
from tests.support.console import demo_context
from tests.support.kube_api import KubeApiServer, closed_port_url, write_kubeconfig
from tests.support.store import audit_entries
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


@pytest.mark.parametrize("config, env, profile_region, expected", [
    ('[aws]\nregions = ["eu-central-1"]\n', {"AWS_REGION": "us-west-2"}, None, "eu-central-1"),
    ("", {"AWS_REGION": "eu-north-1"}, "ap-south-1", "eu-north-1"),   # AWS_REGION before AWS_DEFAULT_REGION
    ("", {}, "ap-south-1", "us-east-1"),                               # conftest's AWS_DEFAULT_REGION
    ("", {"AWS_DEFAULT_REGION": None}, "ap-south-1", "ap-south-1"),    # the profile's own region
])
def test_request_for_a_function_resolves_its_region_like_the_lambda_commands(
        home, monkeypatch, aws_endpoint, config, env, profile_region, expected):
    (home / "config.toml").write_text('[roles]\napprover = ["alice", "bob"]\n' + config)
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    if profile_region:
        aws_config = home.parent / "aws-config"
        aws_config.write_text(f"[default]\nregion = {profile_region}\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    no_region = [arg for arg in REQUEST if arg not in ("--region", "eu-west-1")]
    made = run(monkeypatch, "dev", *no_region, "--json")
    assert made.exit_code == 0, made.stderr
    with sqlite3.connect(home / "signet.db") as conn:
        assert conn.execute("SELECT function_name, region FROM bypasses").fetchall() == [("checkout", expected)]
    listed = CliRunner().invoke(cli, ["lambda", "list", "--json"])  # the same question asked of `signet lambda`
    assert listed.exit_code == 0, listed.stderr
    assert [target["region"] for target in json.loads(listed.stdout)] == [expected]


def test_request_with_several_configured_regions_needs_one(home, monkeypatch):
    (home / "config.toml").write_text('[aws]\nregions = ["eu-west-1", "us-east-1"]\n')
    made = run(monkeypatch, "dev", *[arg for arg in REQUEST if arg not in ("--region", "eu-west-1")])
    assert made.exit_code == 2 and "2 AWS regions are configured (eu-west-1, us-east-1); give --region" in made.stderr
    assert not (home / "signet.db").exists() or _bypass_count(home) == 0


@pytest.mark.parametrize("args, error", [
    (["--digest", "nope", "--function", "bad fn"], "'nope' is not an image digest"),
    (["--function", "bad fn", "--digest", "nope"], "function 'bad fn' is not a valid name"),
    (["--ticket", "x", "--duration", "1s", "--justification", "short"], "ticket 'x' is not a reference"),
    (["--duration", "1s", "--ticket", "x", "--justification", "short"], "duration must be at least 1m"),
    (["--justification", "short", "--namespace", "Bad_NS", "--cluster", "prod"], "justification must say why"),
])
def test_request_reports_the_first_wrong_input_in_the_order_typed(home, monkeypatch, args, error):
    made = run(monkeypatch, "dev", "request", *args)
    assert made.exit_code == 2 and error in made.stderr and len(made.stderr.strip().splitlines()) == 1
    assert not (home / "signet.db").exists() or _bypass_count(home) == 0


def _bypass_count(home) -> int:
    with sqlite3.connect(home / "signet.db") as conn:
        return conn.execute("SELECT COUNT(*) FROM bypasses").fetchone()[0]


def test_a_digest_the_target_does_not_run_is_warned_on_stderr_and_kept_in_the_audit(tmp_path, monkeypatch):
    """As the console's request and approve dialogs warn: the demo's Lambda inventory (served from its
    functions file through the ordinary inventory code) says what each function runs."""
    alice = demo_context(tmp_path / "demo")
    running = {r["name"]: r["resolved_digest"] for r in alice.store.query(
        "SELECT name, resolved_digest FROM lambda_functions")}
    for name, value in (("SIGNET_DB", alice.paths.db), ("SIGNET_CONFIG", alice.paths.config)):
        monkeypatch.setenv(name, str(value))
    ledger, payments = running["ledger-batch"], running["payments-fn"]
    request = ["request", "--region", "eu-west-1", "--digest", ledger, "--justification", JUSTIFICATION,
               "--ticket", "INC-42", "--duration", "2h"]

    wrong = run(monkeypatch, "alice", *request, "--function", "payments-fn")
    assert wrong.exit_code == 0, wrong.stderr  # a warning, not a refusal
    bypass_id = wrong.stdout.strip()
    expected = (f"signet: warning: bypass {bypass_id}: {ledger[:19]}… is not what lambda:eu-west-1/payments-fn runs "
                f"(last recorded: {payments[:19]}…)")
    assert [line for line in wrong.stderr.splitlines() if "warning" in line] == [expected]
    approved = run(monkeypatch, "bob", "approve", bypass_id, "--json")
    assert approved.exit_code == 0 and approved.stderr.splitlines() == [expected]
    assert json.loads(approved.stdout)["digest_warning"] == expected.split(": ", 3)[3]

    right = run(monkeypatch, "alice", *request, "--function", "ledger-batch")
    assert right.exit_code == 0 and "warning" not in right.stderr
    entries = {(e.action, e.subject): e.details for e in audit_entries(alice.store)}
    assert entries[("bypass.request", f"bypass:{bypass_id}")]["digest_warning"] == expected.split(": ", 3)[3]
    assert entries[("bypass.approve", f"bypass:{bypass_id}")]["digest_warning"] == expected.split(": ", 3)[3]
    assert "digest_warning" not in entries[("bypass.request", f"bypass:{right.stdout.strip()}")]
    alice.close()
