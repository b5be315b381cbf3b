"""Conditions on what verified attestations say: CEL (--condition) and the built-in checks (--max-severity,
--slsa-builder-id, --slsa-source-repo), on real statements where public ones fit (GitHub's SLSA v1
provenance from the sigstore conformance set, cosign's custom attestation) and on self-made cosign-vuln and
Trivy reports (marked as such), then end to end through a real registry and the CLI."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.conditions import attestation_conditions
from core.conditions.cel import CelCondition
from core.conditions.named_checks import MaxSeverity, SlsaField
from core.errors import CheckFailed, InputError
from core.sigstore.attestation import PREDICATE_TYPES, parse_statement
from core.verify.attestations import verify_attestations
from core.verify.policy import TrustArgs
from core.verify.verifier import Verifier
from core.sigstore.dsse import INTOTO_PAYLOAD_TYPE, pae
from tests.support.oci import new_key, push_image, push_signatures, sign, signature_layer, write_public_key
from tests.support.sigstore_factory import envelope, statement
from tests.support.sigstore_world import ALICE, ctx, registry, root_file, sigstore  # noqa: F401 (fixtures)
from tests.test_attestation_verify import push_attestations
from tui.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures"
VULN = PREDICATE_TYPES["vuln"]


def bundle_statement(path: Path):
    bundle = json.loads(path.read_text())
    return parse_statement(base64.b64decode(bundle["dsseEnvelope"]["payload"]))


GITHUB_SLSA = bundle_statement(FIXTURES / "sigstore-conformance-bundles" / "happy-path-intoto-in-dsse-v3" /
                               "bundle.sigstore.json")
COSIGN_CUSTOM = bundle_statement(FIXTURES / "cosign-oci-sigstore-bundle" / "oci-attestation.sigstore.json")


def trivy_report(*severities: str) -> dict:
    """Self-made: the shape of `trivy image --format json` (SchemaVersion 2)."""
    return {"SchemaVersion": 2, "ArtifactName": "registry.example/app:1", "Results": [
        {"Target": "app (debian 12.5)", "Class": "os-pkgs", "Type": "debian",
         "Vulnerabilities": [{"VulnerabilityID": f"CVE-2026-{1000 + i}", "PkgName": "libfoo", "Severity": s}
                             for i, s in enumerate(severities)]}]}


def cosign_vuln(*severities: str) -> dict:
    """Self-made: cosign's vuln predicate as `trivy --format cosign-vuln` writes it (the report under
    scanner.result)."""
    return {"invocation": {"uri": "", "event_id": "", "builder.id": ""},
            "scanner": {"uri": "pkg:github/aquasecurity/trivy@v0.58.0", "version": "0.58.0",
                        "result": trivy_report(*severities)},
            "metadata": {"scanStartedOn": "2026-12-01T10:00:00Z", "scanFinishedOn": "2026-12-01T10:00:05Z"}}


def vuln_statement(digest: str, predicate: dict):
    return parse_statement(json.dumps(statement(digest, VULN, predicate)).encode())


D = "sha256:" + "ab" * 32


def test_cel_on_real_github_slsa_provenance():
    ok = CelCondition('predicate.buildDefinition.externalParameters.workflow.repository == '
                      '"https://github.com/loosebazooka/aa-test"')
    assert ok.evaluate(GITHUB_SLSA).status == "passed"
    refs = CelCondition('predicate.buildDefinition.externalParameters.workflow.ref.startsWith("refs/tags/")')
    failed = refs.evaluate(GITHUB_SLSA)
    assert failed.status == "failed" and "false" in failed.reason
    subjects = CelCondition('subject.exists(s, s.name == "a.txt") && statement.predicateType.endsWith("/v1")')
    assert subjects.evaluate(GITHUB_SLSA).status == "passed"


def test_cel_that_cannot_be_evaluated_is_could_not_check_never_pass():
    missing = CelCondition("predicate.scanner.result.summary.critical == 0").evaluate(COSIGN_CUSTOM)
    assert missing.status == "unknown" and missing.reason.startswith("could not check")
    not_bool = CelCondition("predicate.Timestamp").evaluate(COSIGN_CUSTOM)
    assert not_bool.status == "unknown" and "not a bool" in not_bool.reason


def test_invalid_or_oversized_cel_is_a_usage_error():
    with pytest.raises(InputError, match="not valid CEL"):
        CelCondition("predicate.x ==")
    with pytest.raises(InputError, match="longer than"):
        CelCondition("true && " * 1000 + "true")


def test_hostile_predicates_are_refused_within_bounds():
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    outcome = CelCondition("has(predicate.a)").evaluate(vuln_statement(D, deep))
    assert outcome.status == "unknown" and "nested deeper" in outcome.reason
    huge = vuln_statement(D, {"blob": "x" * (10 * 1024 * 1024)})
    assert CelCondition("true").evaluate(huge).status == "unknown"
    wide = vuln_statement(D, {"items": list(range(300_000))})
    assert "more than" in CelCondition("true").evaluate(wide).reason
    with pytest.raises(CheckFailed):
        parse_statement(b'{"_type": "https://in-toto.io/Statement/v1", "predicate": "\xff\xfe"}')


def test_a_costly_condition_stops_at_its_bound_and_leaves_nothing_running():
    """A nested comprehension over a few thousand items is millions of steps in cel-python: it is "could not
    check" at the cost (or time) bound, and the evaluation itself has stopped (no thread left computing)."""
    threads = set(threading.enumerate())
    quadratic = CelCondition("predicate.items.all(x, predicate.items.exists(y, x == y + 1))")
    outcome = quadratic.evaluate(vuln_statement(D, {"items": list(range(3000))}))
    assert outcome.status == "unknown"
    assert "evaluation steps" in outcome.reason or "took longer than" in outcome.reason
    assert set(threading.enumerate()) <= threads
    # within the bounds, a comprehension is evaluated
    assert CelCondition("predicate.items.all(x, x >= 0)").evaluate(
        vuln_statement(D, {"items": list(range(300))})).status == "passed"


@pytest.mark.parametrize("predicate", [cosign_vuln, lambda *s: trivy_report(*s)], ids=["cosign-vuln", "trivy-json"])
def test_max_severity_over_cosign_vuln_and_trivy_reports(predicate):
    clean = vuln_statement(D, predicate("LOW", "HIGH", "MEDIUM"))
    assert MaxSeverity("HIGH").evaluate(clean).status == "passed"
    critical = vuln_statement(D, predicate("LOW", "CRITICAL", "HIGH", "CRITICAL"))
    outcome = MaxSeverity("high").evaluate(critical)
    assert outcome.status == "failed" and outcome.reason == "2 CRITICAL finding(s) above HIGH"
    assert "1 HIGH" in MaxSeverity("MEDIUM").evaluate(critical).reason
    assert MaxSeverity("HIGH").evaluate(COSIGN_CUSTOM).status == "unknown"
    with pytest.raises(InputError):
        MaxSeverity("SEVERE")


def test_slsa_checks_on_real_github_provenance():
    builder = "https://github.com/loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main"
    assert SlsaField("builder_id", builder).evaluate(GITHUB_SLSA).status == "passed"
    assert SlsaField("builder_id", "https://github.com/other/builder").evaluate(GITHUB_SLSA).status == "failed"
    assert SlsaField("source_repository", "github.com/loosebazooka/aa-test").evaluate(GITHUB_SLSA).status == "passed"
    assert SlsaField("source_repository", "https://github.com/evil/aa-test").evaluate(GITHUB_SLSA).status == "failed"
    assert SlsaField("builder_id", builder).evaluate(COSIGN_CUSTOM).status == "unknown"


def test_conditions_are_kept_in_the_order_given():
    labels = [c.label for c in attestation_conditions(["true", "1 == 1"], max_severity="HIGH",
                                                      slsa_builder_id="b", slsa_source_repo="r")]
    assert labels == ["true", "1 == 1", "max-severity HIGH", "slsa-builder-id b", "slsa-source-repo r"]


def test_vulnerability_gate_through_a_real_registry(ctx, registry, sigstore, root_file):  # noqa: F811
    clean = push_image(registry.url, "att-vuln", "clean")
    bad = push_image(registry.url, "att-vuln", "critical")
    push_attestations(registry.url, "att-vuln", clean,
                      [sigstore.classic_attestation(sigstore.leaf(), statement(clean, VULN, cosign_vuln("HIGH")))])
    push_attestations(registry.url, "att-vuln", bad,
                      [sigstore.classic_attestation(sigstore.leaf(), statement(bad, VULN, cosign_vuln("CRITICAL")))])
    policy = Verifier.for_args(ctx, TrustArgs(identities=(ALICE,), trusted_root=root_file))
    gate = attestation_conditions(["predicate.scanner.version != ''"], max_severity="HIGH")
    passed = verify_attestations(ctx, f"{registry.host}/att-vuln:clean", policy, predicate_type=VULN, conditions=gate)
    assert passed.result == "verified", passed.reason
    assert [c.status for c in passed.checks[0].conditions] == ["passed", "passed"]
    refused = verify_attestations(ctx, f"{registry.host}/att-vuln:critical", policy, predicate_type=VULN,
                                  conditions=gate)
    assert refused.result == "invalid" and "1 CRITICAL finding(s) above HIGH" in refused.reason


def test_cli_condition_flags(signet_home, registry, sigstore, root_file):  # noqa: F811
    digest = push_image(registry.url, "att-cli", "v1")
    push_attestations(registry.url, "att-cli", digest,
                      [sigstore.classic_attestation(sigstore.leaf(), statement(digest, VULN, cosign_vuln("CRITICAL")))])
    base = ["verify-attestation", f"{registry.host}/att-cli:v1", "--type", "vuln", "--trusted-root", root_file,
            "--certificate-identity", ALICE.identity, "--certificate-oidc-issuer", ALICE.issuer,
            "--allow-http-registry", "--json"]
    runner = CliRunner()
    ok = runner.invoke(cli, base + ["--max-severity", "CRITICAL", "--condition", "size(subject) == 1"])
    assert ok.exit_code == 0, ok.output
    denied = runner.invoke(cli, base + ["--max-severity", "HIGH"])
    assert denied.exit_code == 1
    doc = json.loads(denied.stdout)
    assert doc["attestations"][0]["conditions"] == [
        {"condition": "max-severity HIGH", "status": "failed", "reason": "1 CRITICAL finding(s) above HIGH"}]
    bad = runner.invoke(cli, base + ["--condition", "predicate.("])
    assert bad.exit_code == 2 and "not valid CEL" in bad.stderr


def test_trust_config_attestations_are_required_by_every_verification(signet_home, registry_session, tmp_path):
    """[[trust.attestations]]: `signet verify` (and so sweeps, the Lambda gate and the console, which verify
    the same way) passes a signed image only when it also carries a verified vuln attestation with no
    finding above HIGH. Key-signed attestations (cosign's classic .att layout)."""
    key = new_key()
    key_file = write_public_key(tmp_path / "k.pub", key)
    refs = {}
    for name, predicate in (("clean", cosign_vuln("HIGH")), ("critical", cosign_vuln("CRITICAL")), ("none", None)):
        digest = push_image(registry_session.url, "att-required", name)
        push_signatures(registry_session.url, "att-required", digest,
                        [signature_layer(key, f"{registry_session.host}/att-required", digest)])
        if predicate is not None:
            payload = json.dumps(statement(digest, VULN, predicate)).encode()
            push_attestations(registry_session.url, "att-required", digest, [
                (envelope(payload, [sign(key, pae(INTOTO_PAYLOAD_TYPE, payload))]),
                 {"dev.cosignproject.cosign/signature": ""})])
        refs[name] = f"{registry_session.host}/att-required:{name}"
    (signet_home / "config.toml").write_text(
        f'[trust]\nkeys = [{json.dumps(str(key_file))}]\n\n[[trust.attestations]]\ntype = "vuln"\n'
        'max_severity = "HIGH"\nconditions = ["predicate.scanner.version != \'\'"]\n')
    runner = CliRunner()
    clean = runner.invoke(cli, ["verify", refs["clean"], "--json"])
    assert clean.exit_code == 0, clean.output
    critical = runner.invoke(cli, ["verify", refs["critical"], "--json"])
    (doc,) = json.loads(critical.stdout)
    assert critical.exit_code == 1 and doc["result"] == "invalid"
    assert "required attestation" in doc["reason"] and "1 CRITICAL finding(s) above HIGH" in doc["reason"]
    missing = runner.invoke(cli, ["verify", refs["none"], "--json"])
    (doc,) = json.loads(missing.stdout)
    assert missing.exit_code == 1 and "no attestation of type" in doc["reason"]
    (signet_home / "config.toml").write_text('[[trust.attestations]]\ntype = "vuln"\nconditions = ["predicate.("]\n')
    bad = runner.invoke(cli, ["verify", refs["clean"], "--key", str(key_file)])
    assert bad.exit_code == 2 and "trust.attestations" in bad.stderr
