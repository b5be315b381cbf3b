"""Lambda inventory and the release gate: real boto3 against moto's server, images in a real registry."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import boto3
import pytest
from click.testing import CliRunner

from core.aws.regions import AwsTarget
from core.bypass.service import approve_bypass, request_bypass
from core.clock import FixedClock
from core.context import open_context
from core.history.records import HistoryFilter
from core.identity import principal_for
from core.lambdas.inventory import running_image
from core.lambdas.release_gate import deploy_function_image
from core.store import sqlite_store
from core.verify.verifier import Verifier
from tests.support.cluster_world import START, push_signed
from tests.support.oci import RewritingProxy, new_key, push_image, write_public_key
from tests.support.store import chain_status, history
from tui.cli.main import cli

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"


@pytest.fixture
def gate(signet_home, registry, aws_endpoint):
    trusted = new_key()
    key = write_public_key(signet_home / "trusted.pub", trusted)
    host = registry.host
    images = {"signed": push_signed(registry.url, "app", trusted, tag="v1"),
              "unsigned": push_image(registry.url, "app", "v2")}
    (signet_home / "config.toml").write_text(
        'identity = "alice"\n\n[roles]\noperator = ["alice"]\napprover = ["bob"]\n\n'
        f'[trust]\nkeys = ["{key}"]\n\n[aws]\nregions = ["us-east-1"]\n')
    lam = boto3.client("lambda", region_name="us-east-1")
    role = boto3.client("iam", region_name="us-east-1").create_role(
        RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    for name in ("checkout", "billing"):
        lam.create_function(FunctionName=name, Role=role, PackageType="Image",
                            Code={"ImageUri": f"{host}/app@{images['signed']}"})
    lam.create_function(FunctionName="tagged", Role=role, PackageType="Image", Code={"ImageUri": f"{host}/app:v1"})
    yield {"host": host, "images": images, "lambda": lam, "endpoint": aws_endpoint}


def _run(*args):
    return CliRunner().invoke(cli, list(args))


def _uri(lam, name):
    return lam.get_function(FunctionName=name)["Code"]["ImageUri"]


def test_running_image_prefers_aws_resolved_digest_and_refuses_inconsistency():
    assert running_image(f"{ECR}:v1", f"{ECR}@{D1}") == (D1, "ResolvedImageUri", f"{ECR}@{D1}", "")
    assert running_image(f"{ECR}@{D1}", "")[:2] == (D1, "ImageUri")
    digest, _, _, problem = running_image(f"{ECR}@{D1}", f"{ECR}@{D2}")
    assert digest is None and "pins" in problem
    digest, _, _, problem = running_image(f"{ECR}:v1", "")
    assert digest is None and "tag" in problem
    # moto's stub answer (repository cut at the first ':') is not taken for the running digest.
    assert running_image(f"127.0.0.1:5000/app@{D1}", f"127.0.0.1@{D2}")[:2] == (D1, "ImageUri")


def test_deploy_verified_image_pins_the_digest_and_records_it(gate):
    result = _run("lambda", "deploy", "checkout", f"{gate['host']}/app:v1", "--json")
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    pinned = f"{gate['host']}/app@{gate['images']['signed']}"
    assert decision["deployed"] and decision["result"] == "verified" and decision["image_uri"] == pinned
    assert _uri(gate["lambda"], "checkout") == pinned
    ctx = open_context()
    (row,) = history(ctx.store, HistoryFilter(source="gate"))
    assert row.result == "verified" and row.digest == gate["images"]["signed"] and row.details["deployed"] is True
    # the started entry was committed before AWS was called; the result names it
    started, finished = _gate_audit(ctx)
    assert started["action"] == "lambda.deploy.started" and finished["action"] == "lambda.deploy"
    assert started["subject"] == finished["subject"] == "lambda:us-east-1/checkout"
    assert {k: started["details"][k] for k in ("function", "region", "digest", "image_uri", "result", "bypass_id")} \
        == {"function": "checkout", "region": "us-east-1", "digest": gate["images"]["signed"], "image_uri": pinned,
            "result": "verified", "bypass_id": None}
    assert finished["details"]["deployed"] and finished["details"]["started_audit_seq"] == started["seq"]
    assert decision["started_audit_seq"] == started["seq"] and decision["store_error"] == ""
    assert chain_status(ctx.store).intact


def test_unsigned_image_is_refused_and_the_function_is_untouched(gate):
    before = _uri(gate["lambda"], "checkout")
    result = _run("lambda", "deploy", "checkout", f"{gate['host']}/app:v2", "--json")
    assert result.exit_code == 1
    decision = json.loads(result.stdout)
    assert not decision["deployed"] and decision["result"] == "unsigned" and decision["reason"].startswith("refused")
    assert _uri(gate["lambda"], "checkout") == before
    ctx = open_context()
    (row,) = history(ctx.store, HistoryFilter(source="gate"))
    assert row.result == "unsigned" and row.details["deployed"] is False
    details = json.loads(ctx.store.query("SELECT details FROM audit WHERE action = 'lambda.deploy'")[0]["details"])
    assert details["deployed"] is False and details["result"] == "unsigned"
    assert [e["action"] for e in _gate_audit(ctx)] == ["lambda.deploy"]  # nothing was about to be deployed


def _gate_audit(ctx):
    rows = ctx.store.query("SELECT seq, action, subject, details FROM audit WHERE action LIKE 'lambda.deploy%' "
                           "ORDER BY seq")
    return [{**r, "details": json.loads(r["details"])} for r in rows]


@pytest.fixture
def short_busy_timeout(monkeypatch):
    """A locked SQLite file is given up on after 0.5 s instead of 30 s (the waiting itself is sqlite's)."""
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_S", 0.5)


def _lock(path):
    """Another process's writer: holds the SQLite write lock until released."""
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_store_that_cannot_record_the_deploy_stops_it_before_aws(gate, signet_home, short_busy_timeout):
    open_context().close()  # the file exists and is migrated; from here on the gate only needs to write
    before = _uri(gate["lambda"], "tagged")
    other = _lock(signet_home / "signet.db")
    try:
        result = _run("lambda", "deploy", "tagged", f"{gate['host']}/app:v1", "--json")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 3, result.output
    decision = json.loads(result.stdout)  # the decision is still printed
    assert not decision["deployed"] and decision["result"] == "verified"
    assert decision["reason"].startswith("not deployed: the store could not record it: ")
    assert "locked" in decision["reason"] and decision["started_audit_seq"] is None
    assert "not deployed: the store could not record it" in result.stderr
    assert _uri(gate["lambda"], "tagged") == before  # AWS was never asked
    ctx = open_context()
    assert _gate_audit(ctx) == [] and history(ctx.store, HistoryFilter(source="gate")) == []


def test_a_deploy_whose_result_cannot_be_recorded_says_so_naming_the_started_entry(gate, signet_home, monkeypatch,
                                                                                  short_busy_timeout):
    """AWS took the update, then the store is locked: exit 3, stderr names the started entry."""
    held: list[sqlite3.Connection] = []

    def lock_once_aws_answered(method, path, status, headers, body):
        if method == "PUT" and path.endswith("/functions/tagged/code") and not held:
            held.append(_lock(signet_home / "signet.db"))
        return status, headers, body

    pinned = f"{gate['host']}/app@{gate['images']['signed']}"
    with RewritingProxy(gate["endpoint"], rewrite=lock_once_aws_answered) as aws:
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
        try:
            result = _run("lambda", "deploy", "tagged", f"{gate['host']}/app:v1", "--json")
        finally:
            for other in held:
                other.execute("ROLLBACK")
                other.close()
    assert held, "the deploy never reached AWS"
    assert result.exit_code == 3, result.output
    decision = json.loads(result.stdout)
    assert decision["deployed"] and decision["image_uri"] == pinned and _uri(gate["lambda"], "tagged") == pinned
    ctx = open_context()
    ((started),) = _gate_audit(ctx)
    assert started["action"] == "lambda.deploy.started" and started["details"]["image_uri"] == pinned
    assert decision["started_audit_seq"] == started["seq"]
    assert "DEPLOYED BUT NOT RECORDED" in result.stderr and "locked" in result.stderr
    assert f"audit entry #{started['seq']} (lambda.deploy.started)" in result.stderr
    assert history(ctx.store, HistoryFilter(source="gate")) == [] and chain_status(ctx.store).intact


def test_bypass_for_exactly_this_function_and_digest_lets_it_through(gate):
    ctx = open_context(clock=FixedClock(START))
    unsigned = gate["images"]["unsigned"]
    bypass = request_bypass(ctx, digest=unsigned, justification="Payment outage INC-77: ship the hotfix before the "
                            "signing pipeline is back", ticket="INC-77", duration="1h", function="checkout",
                            region="us-east-1")
    config = replace(ctx.config, identity="bob")
    approve_bypass(replace(ctx, config=config, principal=principal_for(config)), bypass.id)
    verifier = Verifier.for_args(ctx)
    other = deploy_function_image(ctx, function="billing", image=f"{gate['host']}/app:v2", verifier=verifier,
                                  target=AwsTarget("", "us-east-1"))
    assert not other.deployed and other.result == "unsigned"  # the bypass names another function
    decision = deploy_function_image(ctx, function="checkout", image=f"{gate['host']}/app:v2", verifier=verifier,
                                     target=AwsTarget("", "us-east-1"))
    assert decision.deployed and decision.result == "bypassed" and decision.bypass_id == bypass.id
    assert _uri(gate["lambda"], "checkout") == f"{gate['host']}/app@{unsigned}"


def test_deploy_needs_no_role_but_a_writable_session(gate, monkeypatch):
    """CI runs the gate as a reader: with no role it deploys only what verifies; read-only refuses it."""
    monkeypatch.setenv("SIGNET_IDENTITY", "ci-reader")  # in no [roles] list
    before = _uri(gate["lambda"], "tagged")
    unsigned = _run("lambda", "deploy", "tagged", f"{gate['host']}/app:v2")
    assert unsigned.exit_code == 1 and _uri(gate["lambda"], "tagged") == before
    read_only = _run("--read-only", "lambda", "deploy", "tagged", f"{gate['host']}/app:v1")
    assert read_only.exit_code == 2 and "read-only" in read_only.stderr
    assert _uri(gate["lambda"], "tagged") == before
    signed = _run("lambda", "deploy", "tagged", f"{gate['host']}/app:v1")
    assert signed.exit_code == 0, signed.stderr
    assert _uri(gate["lambda"], "tagged") == f"{gate['host']}/app@{gate['images']['signed']}"
    rows = history(open_context().store, HistoryFilter(source="gate"))
    assert [(r.actor, r.result) for r in rows] == [("ci-reader", "verified"), ("ci-reader", "unsigned")]


def test_list_and_verify_functions(gate):
    listed = _run("lambda", "list", "--verify", "--json")
    assert listed.exit_code == 1  # the tag-only function cannot be told
    (region,) = json.loads(listed.stdout)
    by_name = {f["name"]: f for f in region["functions"]}
    assert by_name["checkout"]["result"] == "verified" and by_name["checkout"]["digest_source"] == "ImageUri"
    assert by_name["tagged"]["result"] == "error" and "tag" in by_name["tagged"]["problem"]
    one = _run("lambda", "verify", "billing", "--json")
    assert one.exit_code == 0 and json.loads(one.stdout)["digest"] == gate["images"]["signed"]
    ctx = open_context()
    stored = {r["name"]: r["last_result"] for r in ctx.store.query("SELECT name, last_result FROM lambda_functions")}
    assert stored == {"checkout": "verified", "billing": "verified", "tagged": "error"}
    missing = _run("lambda", "verify", "nope")
    assert missing.exit_code == 3 and "ResourceNotFound" in missing.stderr


def test_every_configured_profile_and_region_is_listed(gate, isolated_home, signet_home):
    aws = isolated_home / ".aws"
    aws.mkdir(exist_ok=True)
    (aws / "config").write_text("[profile prod]\nregion = eu-west-1\n")
    (aws / "credentials").write_text("[prod]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    config = (signet_home / "config.toml").read_text().replace(
        'regions = ["us-east-1"]', 'profiles = ["prod"]\nregions = ["us-east-1", "eu-west-1"]')
    (signet_home / "config.toml").write_text(config)
    session = boto3.session.Session(profile_name="prod")
    role = session.client("iam").get_role(RoleName="fn-role")["Role"]["Arn"]
    session.client("lambda", region_name="eu-west-1").create_function(
        FunctionName="eu-api", Role=role, PackageType="Image",
        Code={"ImageUri": f"{gate['host']}/app@{gate['images']['signed']}"})
    session.client("lambda", region_name="eu-west-1").create_function(
        FunctionName="zip-fn", Role=role, Runtime="python3.12", Handler="x.h",
        Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18})  # not an image function: not listed
    listed = _run("lambda", "list", "--json")
    assert listed.exit_code == 0, listed.output
    found = {(r["profile"], r["region"]): sorted(f["name"] for f in r["functions"]) for r in json.loads(listed.stdout)}
    assert found == {("prod", "us-east-1"): ["billing", "checkout", "tagged"], ("prod", "eu-west-1"): ["eu-api"]}
    ambiguous = _run("lambda", "verify", "eu-api")
    assert ambiguous.exit_code == 2 and "--region" in ambiguous.stderr
    one = _run("lambda", "verify", "eu-api", "--region", "eu-west-1", "--json")
    assert one.exit_code == 0 and json.loads(one.stdout)["profile"] == "prod"
