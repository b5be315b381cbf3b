"""Gates read the team store: a bypass requested on one "machine" and approved on another is
honoured by `signet lambda deploy` and by `signet cluster sweep` running in a third, each a separate
process logged in to the same PostgreSQL database as a different role (the gate's login holds only
signet_reader), and the gate's results land in the shared history under the gate's login."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import psycopg
from click.testing import CliRunner

from core.history.records import HistoryFilter
from core.store import postgres_store
from core.store.postgres_store import WRITE_LOCK
from tests.support.cluster_world import build_world, push_signed
from tests.support.kube_api import KubeApiServer
from tests.support.oci import new_key, push_image, write_public_key
from tests.support.store import chain_status, fresh_team_database, history, login_url, open_target
from tui.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
JUSTIFICATION = "Payment outage INC-77: ship the hotfix before the signing pipeline is back"


def _signet(url: str, login: str, config: Path, *args: str) -> subprocess.CompletedProcess:
    """One Signet process on its own 'machine': its own login, nothing shared but the database."""
    env = {**os.environ, "SIGNET_DB": login_url(url, login), "SIGNET_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    env.pop("SIGNET_IDENTITY", None)
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def _checkout_function_on_signed_v1(registry, tmp_path: Path) -> Path:
    """app:v1 signed by the one key [trust] names, and a Lambda function `checkout` running it; returns the
    config (no identity, no [roles]: the database says who is who)."""
    trusted = new_key()
    key = write_public_key(tmp_path / "trusted.pub", trusted)
    push_signed(registry.url, "app", trusted, tag="v1")
    config = tmp_path / "config.toml"
    config.write_text(f'[trust]\nkeys = ["{key}"]\n\n[aws]\nregions = ["us-east-1"]\n')
    role = boto3.client("iam", region_name="us-east-1").create_role(
        RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda", region_name="us-east-1").create_function(
        FunctionName="checkout", Role=role, PackageType="Image", Code={"ImageUri": f"{registry.host}/app:v1"})
    return config


def test_a_bypass_approved_elsewhere_lets_the_gate_deploy(postgres_server, registry, aws_endpoint, tmp_path):
    url = fresh_team_database(postgres_server)
    postgres_server.create_login("rita", "signet_reader", "signet_operator")   # on-call requester
    postgres_server.create_login("abe", "signet_reader", "signet_approver")    # approver, another laptop
    postgres_server.create_login("ci_gate", "signet_reader")                    # the deploy stage in CI

    config = _checkout_function_on_signed_v1(registry, tmp_path)
    unsigned = push_image(registry.url, "app", "v2")
    lam = boto3.client("lambda", region_name="us-east-1")

    refused = _signet(url, "ci_gate", config, "lambda", "deploy", "checkout", f"{registry.host}/app:v2", "--json")
    assert refused.returncode == 1 and json.loads(refused.stdout)["result"] == "unsigned", refused.stderr

    requested = _signet(url, "rita", config, "bypass", "request", "--function", "checkout", "--region", "us-east-1",
                        "--digest", unsigned, "--justification", JUSTIFICATION, "--ticket", "INC-77",
                        "--duration", "1h", "--json")
    assert requested.returncode == 0, requested.stderr
    bypass = json.loads(requested.stdout)
    assert bypass["requester"] == "rita"

    self_approval = _signet(url, "rita", config, "bypass", "approve", bypass["id"])
    assert self_approval.returncode == 2 and "approver" in self_approval.stderr

    approved = _signet(url, "abe", config, "bypass", "approve", bypass["id"], "--json")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["bypass"]["approvers"] == ["abe"]

    deployed = _signet(url, "ci_gate", config, "lambda", "deploy", "checkout", f"{registry.host}/app:v2", "--json")
    assert deployed.returncode == 0, deployed.stderr
    decision = json.loads(deployed.stdout)
    assert decision["deployed"] and decision["result"] == "bypassed" and decision["bypass_id"] == bypass["id"]
    assert lam.get_function(FunctionName="checkout")["Code"]["ImageUri"] == f"{registry.host}/app@{unsigned}"

    team = open_target(url)
    rows = history(team, HistoryFilter(source="gate"))
    assert [(r.actor, r.result) for r in rows] == [("ci_gate", "bypassed"), ("ci_gate", "unsigned")]
    assert rows[0].bypass_id == bypass["id"]
    actors = {r["action"]: r["actor"] for r in team.query("SELECT action, actor FROM audit")}
    assert actors["bypass.request"] == "rita" and actors["bypass.approve"] == "abe"
    assert actors["lambda.deploy"] == actors["lambda.deploy.started"] == "ci_gate"  # a reader may record both
    deployed_row = team.query("SELECT resolved_digest, last_result FROM lambda_functions WHERE name = 'checkout'")
    assert deployed_row == [{"resolved_digest": unsigned, "last_result": "bypassed"}]
    assert chain_status(team).intact
    team.close()


def test_a_bypass_approved_elsewhere_is_honoured_by_a_sweep_run_as_a_reader(postgres_server, registry, tmp_path):
    url = fresh_team_database(postgres_server)
    postgres_server.create_login("rita", "signet_reader", "signet_operator")   # on-call requester
    postgres_server.create_login("abe", "signet_reader", "signet_approver")    # approver, another laptop
    postgres_server.create_login("ci_sweep", "signet_reader")                  # the nightly sweep in CI
    with KubeApiServer() as kube:
        kube.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kyverno"}})
        world = build_world(tmp_path, registry.url, kube)
        config = tmp_path / "team.toml"  # no identity, no [roles]: the database says who is who
        config.write_text(f'[trust]\nkeys = ["{world.key_path}"]\n\n[[clusters]]\ncontext = "prod-eu"\n'
                          f'kubeconfig = "{world.kubeconfig}"\n')
        sweep = ("cluster", "sweep", "--context", "prod-eu", "--namespace", "prod", "--json")

        before = _signet(url, "ci_sweep", config, *sweep)
        assert before.returncode == 1, before.stderr
        assert _results(before)["batch-tool"] == ("unsigned", None)

        requested = _signet(url, "rita", config, "bypass", "request", "--cluster", "prod-eu", "--namespace", "prod",
                            "--workload", "batch-tool", "--digest", world.digests["unsigned"],
                            "--justification", JUSTIFICATION, "--ticket", "INC-77", "--duration", "1h", "--json")
        assert requested.returncode == 0, requested.stderr
        bypass_id = json.loads(requested.stdout)["id"]
        approved = _signet(url, "abe", config, "bypass", "approve", bypass_id, "--json")
        assert approved.returncode == 0, approved.stderr

        after = _signet(url, "ci_sweep", config, *sweep)
        assert after.returncode == 1, after.stderr  # bypassed is never verified; db-0 stays invalid
        results = _results(after)
        assert results["batch-tool"] == ("bypassed", bypass_id)
        assert results["db"] == ("invalid", None) and results["web"] == ("verified", None)

    team = open_target(url)
    rows = history(team, HistoryFilter(source="sweep", image=world.digests["unsigned"]))
    assert [(r.actor, r.result, r.bypass_id) for r in rows] == [("ci_sweep", "bypassed", bypass_id),
                                                                 ("ci_sweep", "unsigned", None)]
    assert {r["actor"] for r in team.query("SELECT DISTINCT actor FROM verifications")} == {"ci_sweep"}
    assert team.query("SELECT context, last_error FROM clusters") == [{"context": "prod-eu", "last_error": None}]
    actors = {r["action"]: r["actor"] for r in team.query("SELECT action, actor FROM audit")}
    assert actors["bypass.request"] == "rita" and actors["bypass.approve"] == "abe"
    team.close()


def test_the_gate_deploys_nothing_while_the_team_store_cannot_record_it(postgres_server, registry, aws_endpoint,
                                                                     tmp_path, monkeypatch):
    """Another Signet holds the team store's write lock past the lock timeout: the reader-only gate cannot
    commit its `lambda.deploy.started` entry, so it does not call AWS (exit 3, the decision printed)."""
    url = fresh_team_database(postgres_server)
    postgres_server.create_login("ci_gate", "signet_reader")
    config = _checkout_function_on_signed_v1(registry, tmp_path)
    lam = boto3.client("lambda", region_name="us-east-1")
    monkeypatch.setattr(postgres_store, "LOCK_TIMEOUT_MS", 1000)  # give up after 1 s, not 30 (server-side wait)
    for name, value in (("SIGNET_DB", login_url(url, "ci_gate")), ("SIGNET_CONFIG", str(config))):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SIGNET_IDENTITY", raising=False)
    other = psycopg.connect(url, autocommit=True)  # another Signet, mid-write
    other.execute("BEGIN")
    other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
    try:
        result = CliRunner().invoke(cli, ["lambda", "deploy", "checkout", f"{registry.host}/app:v1", "--json"])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 3, result.output
    decision = json.loads(result.stdout)
    assert not decision["deployed"] and decision["result"] == "verified", decision
    assert decision["reason"].startswith("not deployed: the store could not record it: ") and "locked" in result.stderr
    assert lam.get_function(FunctionName="checkout")["Code"]["ImageUri"] == f"{registry.host}/app:v1"
    team = open_target(url)
    assert team.query("SELECT action FROM audit WHERE action LIKE 'lambda.deploy%'") == []
    assert history(team, HistoryFilter(source="gate")) == []
    team.close()


def _results(run: subprocess.CompletedProcess) -> dict[str, tuple[str, str | None]]:
    """workload -> (result, bypass id) of a sweep's --json output (one container per workload here)."""
    return {f["workload"]: (f["result"], f["bypass_id"]) for f in json.loads(run.stdout)["findings"]}


def test_signet_follows_the_store_policy_row_not_a_laxer_config(postgres_server, tmp_path):
    """The store wants two approvals and at most 1 h; the config says one and 24 h. Signet asks for two
    (the first approval is recorded and waits) and caps requests at 1 h, as the database would."""
    url = fresh_team_database(postgres_server)
    admin = open_target(url)
    with admin.write() as db:  # the admin's session sets the policy row
        db.execute("UPDATE signet_policy SET bypass_approvals = 2, max_bypass_seconds = 3600")
    admin.close()
    for login, group in (("rita", "signet_operator"), ("abe", "signet_approver"), ("cleo", "signet_approver")):
        postgres_server.create_login(login, "signet_reader", group)
    config = tmp_path / "config.toml"
    config.write_text('[policy]\nbypass_approvals = 1\nmax_bypass_duration = "24h"\n')
    ask = ("bypass", "request", "--function", "checkout", "--region", "us-east-1", "--digest", "sha256:" + "ab" * 32,
           "--justification", JUSTIFICATION, "--ticket", "INC-77", "--json")
    too_long = _signet(url, "rita", config, *ask, "--duration", "2h")
    assert too_long.returncode == 2 and "maximum of 1h" in too_long.stderr, too_long.stderr
    bypass = json.loads(_signet(url, "rita", config, *ask, "--duration", "1h").stdout)
    first = _signet(url, "abe", config, "bypass", "approve", bypass["id"], "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["bypass"]["state"] == "requested"
    second = _signet(url, "cleo", config, "bypass", "approve", bypass["id"], "--json")
    assert second.returncode == 0 and json.loads(second.stdout)["bypass"]["state"] == "active", second.stderr
