"""The demo's cluster and Lambda functions: reachable, served from the demo's own files, no AWS and no network,
through the ordinary CLI commands (inventory, sweep, Lambda list/deploy, bypass approve and reap)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.demo.builder import build_demo
from tui.cli.main import cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "demo")


def _run(demo, *args, identity="alice"):
    # No AWS credentials and a dead endpoint: anything reaching for AWS fails ("Unable to locate credentials").
    env = {"SIGNET_DB": str(demo.db), "SIGNET_CONFIG": str(demo.config), "SIGNET_IDENTITY": identity,
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
           "AWS_EC2_METADATA_DISABLED": "true", "KUBECONFIG": "/nonexistent"}
    return CliRunner().invoke(cli, list(args), env=env)


def _functions(demo):
    return {f["FunctionName"]: f for f in json.loads((demo.root / "lambda.json").read_text())["functions"]}


def test_the_demo_cluster_is_reachable_and_sweeps_to_true_results(demo):
    inventory = _run(demo, "cluster", "inventory", "--json")
    assert inventory.exit_code == 0, inventory.output
    (cluster,) = json.loads(inventory.stdout)["clusters"]
    assert cluster["reachable"] and cluster["context"] == "demo-prod" and not cluster["error"]
    assert {w["name"] for w in cluster["workloads"]} >= {"payments-api", "ledger", "checkout", "web-frontend"}
    sweep = _run(demo, "cluster", "sweep", "--json")
    assert sweep.exit_code == 1  # an unsigned and a tampered image run: the sweep says so
    report = json.loads(sweep.stdout)
    results = {f["workload"]: f["result"] for f in report["findings"]}
    assert results["payments-api"] == results["checkout"] == results["settlement-report"] == "verified"
    assert results["ledger"] == "unsigned" and results["web-frontend"] == "invalid"
    assert all(c["reachable"] for c in report["clusters"])


def test_demo_lambda_lists_verifies_and_the_gate_deploys_only_verified_digests(demo):
    listed = _run(demo, "lambda", "list", "--verify", "--json")
    assert listed.exit_code == 1, listed.output  # ledger-batch runs an unsigned image
    (region,) = json.loads(listed.stdout)
    assert not region["error"]
    results = {f["name"]: f["result"] for f in region["functions"]}
    assert results == {"payments-fn": "verified", "hotfix-worker": "bypassed", "ledger-batch": "unsigned",
                       "report-fn": "verified"}

    checkout = demo.references["checkout:v2.0.0"]
    deployed = _run(demo, "lambda", "deploy", "payments-fn", checkout, "--json")
    assert deployed.exit_code == 0, deployed.output
    decision = json.loads(deployed.stdout)
    assert decision["deployed"] and decision["result"] == "verified"
    assert _functions(demo)["payments-fn"]["ImageUri"] == decision["image_uri"]
    assert decision["image_uri"].endswith("@" + demo.digests["checkout:v2.0.0"])

    before = _functions(demo)["ledger-batch"]
    refused = _run(demo, "lambda", "deploy", "ledger-batch", demo.references["web-frontend:v3.1.0"])
    assert refused.exit_code == 1 and "REFUSED (invalid)" in refused.stdout
    assert _functions(demo)["ledger-batch"] == before
    missing = _run(demo, "lambda", "verify", "no-such-function")
    assert missing.exit_code == 3 and "ResourceNotFoundException" in missing.stderr


def test_approving_the_demo_bypass_reaches_the_cluster_and_reap_succeeds(demo):
    reap = _run(demo, "bypass", "reap")
    assert reap.exit_code == 0, reap.output
    approved = _run(demo, "bypass", "approve", demo.pending_bypass, identity="bob")
    assert approved.exit_code == 0, approved.output
    stored = json.loads((demo.root / "cluster.json").read_text())["objects"]["kyverno.io/policyexceptions"]
    assert [e["metadata"]["labels"]["signet.dev/bypass-id"] for e in stored] == [demo.pending_bypass]
    sweep = json.loads(_run(demo, "cluster", "sweep", "--json").stdout)
    ledger = next(f for f in sweep["findings"] if f["workload"] == "ledger")
    assert ledger["result"] == "bypassed" and ledger["bypass_id"] == demo.pending_bypass
    assert _run(demo, "bypass", "reap").exit_code == 0
