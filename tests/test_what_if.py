"""`signet what-if` on the demo (its cluster served from its file through the ordinary kube code, its Lambda
functions, its OCI-layout registry with real signatures and vuln attestations): newly denied workloads for
dropping a key, for Enforce and for --max-severity HIGH, each with its fix; the answers equal what happens
once the change is made (config changed and the gate re-run; policy applied and judged again); exit codes;
offline from the last sweep."""

from __future__ import annotations

import json

import pytest
import tomlkit
from click.testing import CliRunner

from core.aws.regions import aws_targets
from core.lambdas.inventory import list_image_functions, verify_functions
from core.clusters.inventory import cluster_targets
from core.kube.api import resource_path
from core.kube.connect import open_kube_api
from core.clusters.policy_apply import apply_policy
from core.config.loader import load_config
from core.demo.builder import build_demo, open_demo_context
from core.demo.workloads import AUDIT_POLICY
from core.verify.verifier import Verifier
from core.clusters.sweep import run_sweep
from core.whatif.change import enforce_change, key_change
from core.whatif.service import what_if
from tui.cli.main import cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("whatif") / "demo")


def _run(demo, *args):
    env = {"SIGNET_DB": str(demo.db), "SIGNET_CONFIG": str(demo.config), "SIGNET_IDENTITY": "alice",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true", "KUBECONFIG": "/nonexistent"}
    return CliRunner().invoke(cli, ["what-if", *args], env=env)


def _report(demo, *args):
    result = _run(demo, *args, "--json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _by_status(report, status):
    return {w["name"]: w for w in report["workloads"] if w["status"] == status}


def test_dropping_a_key_newly_denies_what_only_it_signed_with_a_re_sign_fix(demo):
    code, report = _report(demo, "--drop-key", "release-a")
    assert code == 1
    newly = _by_status(report, "newly-denied")
    # payments-api:v1.4.1 is signed by release-a only: the enforcing reporting Policy and the Lambda gate refuse it
    assert set(newly) == {"settlement-report", "report-fn"}
    assert newly["settlement-report"]["digest"] == demo.digests["payments-api:v1.4.1"]
    for w in newly.values():
        (fix,) = w["fixes"]
        assert fix["kind"] == "re-sign" and fix["command"].startswith("signet sign ")
        assert fix["command"].endswith("--key release-b") and demo.digests["payments-api:v1.4.1"] in fix["command"]
    assert _by_status(report, "denied").keys() == {"ledger-batch"}  # unsigned before and after
    assert report["counts"]["newly-denied"] == 2
    assert {"cluster": "demo-prod", "namespace": "reporting", "allowed": 0, "denied": 0, "newly-denied": 1,
            "newly-allowed": 0} in report["namespaces"]


def test_enforcing_the_audit_policy_newly_denies_the_unsigned_and_tampered_with_a_scope_fix(demo):
    code, report = _report(demo, "--enforce", AUDIT_POLICY)
    assert code == 1
    newly = _by_status(report, "newly-denied")
    assert set(newly) == {"ledger", "web-frontend"}
    assert "unsigned" in newly["ledger"]["reason"] and "invalid" in newly["web-frontend"]["reason"]
    assert newly["ledger"]["fixes"][0]["kind"] == "narrow-scope" and "payments" in newly["ledger"]["fixes"][0]["text"]
    bypass = newly["web-frontend"]["bypass_command"]
    assert bypass.startswith("signet bypass request --cluster demo-prod --namespace storefront --workload "
                             "web-frontend --digest " + demo.digests["web-frontend:v3.1.0"])


def test_max_severity_high_newly_denies_the_image_with_a_critical_finding(demo):
    code, report = _report(demo, "--require-attestation", "vuln", "--max-severity", "HIGH")
    assert code == 1
    newly = _by_status(report, "newly-denied")
    assert set(newly) == {"settlement-report", "report-fn"}
    assert "1 CRITICAL finding(s) above HIGH" in newly["report-fn"]["reason"]
    (fix,) = newly["report-fn"]["fixes"]
    assert fix["kind"] == "bypass" and fix["command"].startswith(
        "signet bypass request --function report-fn --region eu-west-1 --digest ")
    # payments-api:v1.4.2's scan is clean up to HIGH: still allowed
    assert _by_status(report, "allowed")["payments-fn"]["digest"] == demo.digests["payments-api:v1.4.2"]
    # the same check without the severity bound: every image with a vuln attestation passes
    _, plain = _report(demo, "--require-attestation", "vuln")
    assert "report-fn" not in _by_status(plain, "newly-denied")


def test_a_change_with_no_effect_exits_0_and_bad_input_exits_2(demo, tmp_path):
    assert _run(demo, "--add-key", "release-b").exit_code == 0
    assert _run(demo).exit_code == 2
    assert _run(demo, "--enforce", "no-such-policy").exit_code == 2
    assert _run(demo, "--drop-key", "no-such-key").exit_code == 2
    assert _run(demo, "--max-severity", "HIGH").exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: ConfigMap\nmetadata: {name: x}\n")
    result = _run(demo, "--policy", str(bad))
    assert result.exit_code == 2 and "not an admission policy" in result.output


def test_what_if_equals_the_gate_after_the_key_is_really_dropped(demo, tmp_path):
    ctx = open_demo_context(demo.root, interface="cli")
    try:
        _, report = _report(demo, "--drop-key", "release-a")
        predicted = {w["digest"] for w in report["workloads"] if w["place"] == "lambda" and w["status"] != "allowed"}
        # make the change for real in a copy of the configuration, then run the Lambda gate as it runs
        config = tomlkit.parse(demo.config.read_text())
        config["trust"]["keys"] = ["release-b"]
        changed = tmp_path / "config.toml"
        changed.write_text(tomlkit.dumps(config))
        after = open_demo_context(demo.root, interface="cli")
        after.config = load_config(changed)
        functions = [f for inv in list_image_functions(after.config, aws_targets(after.config)) for f in inv.functions]
        checked = verify_functions(after, functions, Verifier.for_args(after))
        actual = {f.digest for f in checked if f.result not in ("verified", "bypassed")}
        assert actual == predicted and demo.digests["payments-api:v1.4.1"] in actual
        after.close()
    finally:
        ctx.close()


def test_what_if_equals_the_cluster_once_the_policy_is_enforced(demo):
    ctx = open_demo_context(demo.root, interface="cli")
    try:
        targets = cluster_targets(ctx.config)
        predicted = what_if(ctx, [enforce_change(AUDIT_POLICY)], targets=targets)
        denied = {(o.workload.name, o.workload.digest) for o in predicted.outcomes
                  if o.workload.place == "cluster" and not o.after.allowed}
        # apply it for real (server-side apply, audited), then judge the cluster as it now is
        (target,) = targets
        with open_kube_api(target.context, target.kubeconfig, timeout=(2, 2)) as api:
            doc = api.get(resource_path("kyverno.io", "v1", "clusterpolicies", name=AUDIT_POLICY))
        for rule in doc["spec"]["rules"]:
            for verify in rule["verifyImages"]:
                verify["failureAction"] = "Enforce"
        apply_policy(ctx, target, {k: doc[k] for k in ("apiVersion", "kind", "metadata", "spec")})
        try:
            now = what_if(ctx, [enforce_change("reporting-verify-images")], targets=targets)
            actual = {(o.workload.name, o.workload.digest) for o in now.outcomes
                      if o.workload.place == "cluster" and not o.before.allowed}
            assert actual == denied == {("ledger", demo.digests["ledger:v0.9.0"]),
                                        ("web-frontend", demo.digests["web-frontend:v3.1.0"])}
            audited = ctx.store.query("SELECT subject FROM audit WHERE action = 'cluster.policy.apply'")
            assert any(AUDIT_POLICY in r["subject"] for r in audited)
        finally:
            for rule in doc["spec"]["rules"]:
                for verify in rule["verifyImages"]:
                    verify["failureAction"] = "Audit"
            apply_policy(ctx, target, {k: doc[k] for k in ("apiVersion", "kind", "metadata", "spec")})
    finally:
        ctx.close()


def test_from_last_sweep_uses_the_recorded_workloads_without_asking_the_cluster(demo):
    cluster_file = demo.root / "cluster.json"
    saved = cluster_file.read_bytes()
    cluster_file.write_text("not json")  # the cluster is unreadable now: offline must not need it
    try:
        code, report = _report(demo, "--drop-key", "release-a", "--from-last-sweep")
    finally:
        cluster_file.write_bytes(saved)
    assert report["notes"] and "offline" in report["notes"][0]
    cluster = {w["name"] for w in report["workloads"] if w["place"] == "cluster"}
    assert {"payments-api", "ledger", "settlement-report"} <= cluster
    assert "settlement-report" in _by_status(report, "newly-denied") and code == 1


def test_a_new_trust_block_is_judged_like_the_gate_would_judge_it(demo, tmp_path):
    trust = tmp_path / "trust.toml"
    trust.write_text('[trust]\nkeys = ["release-b"]\n')
    code, report = _report(demo, "--trust", str(trust))
    assert code == 1
    # [trust] is what the Lambda gate applies; the clusters' own policies are unchanged
    assert set(_by_status(report, "newly-denied")) == {"report-fn"}
    trust.write_text('[trust]\nkeys = ["release-b"]\nthreshold = 2\n')
    assert _run(demo, "--trust", str(trust)).exit_code == 2


def _requiring_a_clean_scan(config_file, tmp_path):
    """A copy of the configuration with [[trust.attestations]] vuln, max-severity HIGH."""
    config = tomlkit.parse(config_file.read_text())
    required = tomlkit.aot()
    required.append(tomlkit.table().add("type", "vuln").add("max_severity", "HIGH"))
    config["trust"]["attestations"] = required
    changed = tmp_path / "config.toml"
    changed.write_text(tomlkit.dumps(config))
    return load_config(changed)


def test_configured_trust_attestations_are_judged_as_the_gate_judges_them(demo, tmp_path):
    """[[trust.attestations]] (vuln, max-severity HIGH) in the configuration: the gate refuses report-fn
    (its scan has a CRITICAL); the what-if's baseline denies exactly what the gate refuses, and a --trust
    file adding the same requirement newly denies it."""
    ctx = open_demo_context(demo.root, interface="cli")
    try:
        ctx.config = _requiring_a_clean_scan(demo.config, tmp_path)
        functions = [f for inv in list_image_functions(ctx.config, aws_targets(ctx.config)) for f in inv.functions]
        refused = {f.name for f in verify_functions(ctx, functions, Verifier.for_args(ctx))
                   if f.result not in ("verified", "bypassed")}
        assert refused == {"report-fn", "ledger-batch"}
        report = what_if(ctx, [enforce_change(AUDIT_POLICY)], targets=cluster_targets(ctx.config))
        lambdas = {o.workload.name: o for o in report.outcomes if o.workload.place == "lambda"}
        assert {name for name, o in lambdas.items() if not o.before.allowed} == refused
        assert "[[trust.attestations]]" in lambdas["report-fn"].before.reason
        assert "1 CRITICAL finding(s) above HIGH" in lambdas["report-fn"].before.reason
        assert lambdas["report-fn"].fixes[0].text.startswith("rebuild without the findings")
    finally:
        ctx.close()
    trust = tmp_path / "trust.toml"
    trust.write_text('[trust]\nkeys = ["release-a", "release-b"]\n\n'
                     '[[trust.attestations]]\ntype = "vuln"\nmax_severity = "HIGH"\n')
    code, with_scan = _report(demo, "--trust", str(trust))
    assert code == 1 and set(_by_status(with_scan, "newly-denied")) == {"report-fn"}
    assert "max-severity HIGH" in with_scan["changes"][0]["label"]


def test_offline_the_configured_attestations_hold_where_the_last_sweep_recorded_verified(tmp_path):
    demo = build_demo(tmp_path / "demo")  # its own: this sweep becomes the last one
    ctx = open_demo_context(demo.root, interface="cli")
    try:
        ctx.config = _requiring_a_clean_scan(demo.config, tmp_path)
        sweep = run_sweep(ctx, Verifier.for_args(ctx), cluster_targets(ctx.config))
        refused = {f.workload for f in sweep.findings if f.result not in ("verified", "bypassed")}
        assert "settlement-report" in refused  # payments-api:v1.4.1: its scan has a CRITICAL
        report = what_if(ctx, [key_change(ctx, "add-key", "release-b")], from_last_sweep=True)
        cluster = {o.workload.name: o for o in report.outcomes if o.workload.place == "cluster"}
        assert {name for name, o in cluster.items() if not o.before.allowed} == refused
        assert "the last sweep recorded invalid" in cluster["settlement-report"].before.reason
    finally:
        ctx.close()


def test_the_text_report_says_each_fix_and_the_line_to_run(demo):
    scan = _run(demo, "--require-attestation", "vuln", "--max-severity", "HIGH")
    assert scan.exit_code == 1
    lines = scan.stdout.splitlines()
    fn = lines.index("  lambda:eu-west-1/report-fn")
    assert lines[fn + 1].startswith("    bypass: rebuild without the findings, or request a time-limited bypass")
    assert lines[fn + 2].startswith("      signet bypass request --function report-fn --region eu-west-1 --digest ")
    drop = _run(demo, "--drop-key", "release-a")
    lines = drop.stdout.splitlines()
    fn = lines.index("  lambda:eu-west-1/report-fn")
    assert lines[fn + 1].startswith("    re-sign: re-sign ") and lines[fn + 1].endswith(" with release-b")
    assert lines[fn + 2].startswith("      signet sign ") and lines[fn + 2].endswith(" --key release-b")
