"""The what-if models Notary Project trust (notation, AWS Signer) as the verifier does: Lambda functions (moto's
server) running images in a real registry, one signed only with notation (self-made certificate chain and
JWS envelope, tests/support/notation.py), one signed with a cosign key; [trust] trusts the key and the
configured notation trust policy. Its answers equal the real gate's, with no change and with a candidate
notation trust policy (`--notation-config`, a directory or a trust policy file) applied as [trust]
notation_config; a candidate notation would reject is one line, exit 2; a `--trust` file carries its own
notation_config."""

from __future__ import annotations

import json
import re
import shutil

import boto3
import pytest
from click.testing import CliRunner

from core.aws.regions import aws_targets
from core.clusters.inventory import cluster_targets
from core.clusters.sweep import run_sweep
from core.context import open_context
from core.lambdas.inventory import list_image_functions, verify_functions
from core.verify.verifier import Verifier
from core.whatif.facts import forget_facts
from core.whatif.service import prepare_what_if
from tests.support.cluster_world import push_signed
from tests.support.kube_api import KubeApiServer, pod, write_kubeconfig
from tests.support.notation import (attach_to_registry, jws_envelope, make_signer, payload_for, statement,
                                    write_notation_config)
from tests.support.oci import build_image, new_key, push_image, write_public_key
from tui.cli.main import cli

SUBJECT = "C=US, ST=WA, O=Signet Tests, CN=release-notation"
OTHER = "C=US, ST=WA, O=Signet Tests, CN=someone-else"


@pytest.fixture
def world(signet_home, registry, aws_endpoint, tmp_path, monkeypatch):
    """Function `notation-fn` runs an image signed only with notation by CN=release-notation; `cosign-fn` one
    signed with the trusted cosign key. The configured notation trust policy trusts that subject."""
    forget_facts()
    trusted = new_key()
    key = write_public_key(signet_home / "trusted.pub", trusted)
    host = registry.host
    image = build_image()
    notation_digest = push_image(registry.url, "app", "v1", image)
    signer = make_signer("release-notation")
    attach_to_registry(registry.url, "app", notation_digest, len(image.manifest),
                       jws_envelope(signer, payload_for(notation_digest, len(image.manifest))))
    cosign_digest = push_signed(registry.url, "app", trusted, tag="v2")
    stores = {"ca:corp": [signer.root]}
    configured = write_notation_config(tmp_path / "configured", stores,
                                       [statement(identities=(f"x509.subject: {SUBJECT}",))])
    excluding = write_notation_config(tmp_path / "excluding", stores,
                                      [statement(identities=(f"x509.subject: {OTHER}",))])
    including = write_notation_config(tmp_path / "including", stores,
                                      [statement(identities=(f"x509.subject: {OTHER}", f"x509.subject: {SUBJECT}"))])
    # a cluster (loopback API, no admission policy) runs the notation-signed image too: [trust] is not its gate
    kube = KubeApiServer().start()
    kube.add(pod("web", "shop", [("app", f"{host}/app:v1", f"{host}/app@{notation_digest}")]))
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(signet_home / "kubeconfig", {"shop-cluster": kube.url})))
    config = signet_home / "config.toml"
    config.write_text(f'identity = "alice"\n\n[trust]\nkeys = ["{key}"]\nnotation_config = "{configured}"\n\n'
                      '[aws]\nregions = ["us-east-1"]\n')
    lam = boto3.client("lambda", region_name="us-east-1")
    role = boto3.client("iam", region_name="us-east-1").create_role(
        RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    for name, digest in (("notation-fn", notation_digest), ("cosign-fn", cosign_digest)):
        lam.create_function(FunctionName=name, Role=role, PackageType="Image",
                            Code={"ImageUri": f"{host}/app@{digest}"})
    yield {"host": host, "config": config, "key": key, "notation": notation_digest, "cosign": cosign_digest,
           "configured": configured, "excluding": excluding, "including": including}
    kube.stop()
    forget_facts()


def _what_if(*args):
    result = CliRunner().invoke(cli, ["what-if", *args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, {w["name"]: w for w in json.loads(result.stdout)["workloads"]}, json.loads(result.stdout)


def _gate_refuses(world, notation_config=None):
    """The real Lambda gate over every function, with [trust] notation_config replaced when given ("": left out)."""
    ctx = open_context()
    try:
        if notation_config is not None:
            configured = f'notation_config = "{world["configured"]}"\n'
            text = world["config"].read_text().replace(
                configured, f'notation_config = "{notation_config}"\n' if notation_config else "")
            changed = world["config"].with_name("changed.toml")
            changed.write_text(text)
            from core.config.loader import load_config
            ctx.config = load_config(changed)
        functions = [f for inv in list_image_functions(ctx.config, aws_targets(ctx.config)) for f in inv.functions]
        return {f.name for f in verify_functions(ctx, functions, Verifier.for_args(ctx))
                if f.result not in ("verified", "bypassed")}
    finally:
        ctx.close()


def test_a_notation_signed_image_is_allowed_as_the_gate_allows_it(world):
    """No change: [trust] counts the notation signer its notation trust policy trusts (the key alone
    would deny it), exactly as `signet lambda deploy` and the Lambda gate decide."""
    ctx = open_context()
    try:
        report = prepare_what_if(ctx, []).evaluate([])
    finally:
        ctx.close()
    verdicts = {o.workload.name: o.before for o in report.outcomes}
    assert verdicts["notation-fn"].allowed, verdicts["notation-fn"].reason
    assert verdicts["cosign-fn"].allowed
    assert _gate_refuses(world) == set()
    deploy = CliRunner().invoke(cli, ["lambda", "deploy", "notation-fn", f"{world['host']}/app:v1", "--json"])
    assert deploy.exit_code == 0 and json.loads(deploy.stdout)["result"] == "verified", deploy.output
    # the configured trust policy as a candidate changes nothing
    code, workloads, _ = _what_if("--notation-config", str(world["configured"]))
    assert code == 0 and {w["status"] for w in workloads.values()} == {"allowed"}


def test_a_notation_trust_policy_excluding_the_signer_newly_denies_it_as_the_gate_would(world):
    code, workloads, report = _what_if("--notation-config", str(world["excluding"]))
    assert code == 1
    assert report["changes"][0]["kind"] == "notation" and "excluding" in report["changes"][0]["label"]
    denied = workloads["notation-fn"]
    assert denied["status"] == "newly-denied" and workloads["cosign-fn"]["status"] == "allowed"
    assert workloads["web"]["status"] == "allowed"  # admission policies do not read Signet's notation trust
    assert denied["reason"].startswith("[trust]: the notation trust policy excluding/trustpolicy.json refuses "
                                       "its notation-jws signature: trustedIdentity: ")
    assert "CN=release-notation" in denied["reason"]
    (fix,) = denied["fixes"]
    assert fix["kind"] == "notation-trust" and "re-sign it with a trusted key" in fix["text"]
    assert "to trustedIdentities of statement 'all' of the notation trust policy excluding/trustpolicy.json" \
        in fix["text"]
    assert denied["bypass_command"].startswith("signet bypass request --function notation-fn --region us-east-1")
    predicted = {name for name, w in workloads.items() if w["status"] != "allowed"}
    assert predicted == _gate_refuses(world, world["excluding"]) == {"notation-fn"}
    # one that trusts the signer too: nothing changes, as the gate agrees
    code, workloads, _ = _what_if("--notation-config", str(world["including"]))
    assert code == 0 and workloads["notation-fn"]["status"] == "allowed"
    assert _gate_refuses(world, world["including"]) == set()
    # follow the fix: the identity it names, added to the candidate, is one notation matches
    suggested = re.search(r'add "(x509\.subject: [^"]+)"', fix["text"]).group(1)
    policy = json.loads((world["excluding"] / "trustpolicy.json").read_text())
    policy["trustPolicies"][0]["trustedIdentities"].append(suggested)
    (world["excluding"] / "trustpolicy.json").write_text(json.dumps(policy))
    code, workloads, _ = _what_if("--notation-config", str(world["excluding"]))
    assert code == 0 and workloads["notation-fn"]["status"] == "allowed"
    assert _gate_refuses(world, world["excluding"]) == set()


def test_a_trust_policy_file_is_read_with_the_configured_trust_store(world, tmp_path):
    alone = tmp_path / "candidate"
    alone.mkdir()
    shutil.copy(world["excluding"] / "trustpolicy.json", alone / "trustpolicy.oci.json")  # no trust store beside it
    code, workloads, _ = _what_if("--notation-config", str(alone / "trustpolicy.oci.json"))
    assert code == 1 and workloads["notation-fn"]["status"] == "newly-denied"
    shutil.copy(world["including"] / "trustpolicy.json", alone / "trustpolicy.oci.json")
    code, workloads, _ = _what_if("--notation-config", str(alone / "trustpolicy.oci.json"))
    assert code == 0 and workloads["notation-fn"]["status"] == "allowed"


def test_a_candidate_notation_would_reject_is_one_line_exit_2(world, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "trustpolicy.json").write_text(json.dumps({"version": "1.0", "trustPolicies": []}))
    for given in (bad, bad / "trustpolicy.json"):
        result = CliRunner().invoke(cli, ["what-if", "--notation-config", str(given)])
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
        assert "trustPolicies" in result.stderr and "notation trust policy" in result.stderr
    (bad / "trustpolicy.json").write_text('{"version": "1.0", "trustPolicies": [')
    result = CliRunner().invoke(cli, ["what-if", "--notation-config", str(bad)])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1 and "JSON" in result.stderr
    result = CliRunner().invoke(cli, ["what-if", "--notation-config", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "no such directory or trust policy file" in result.stderr


def test_a_trust_file_carries_its_notation_config(world, tmp_path):
    trust = tmp_path / "trust.toml"
    trust.write_text(f'[trust]\nkeys = ["{world["key"]}"]\nnotation_config = "{world["excluding"]}"\n')
    code, workloads, report = _what_if("--trust", str(trust))
    assert code == 1 and workloads["notation-fn"]["status"] == "newly-denied"
    assert "notation trust from notation_config" in report["changes"][0]["label"]
    # without one, [trust] gets notation's default directory (none here): the notation signer no longer counts
    trust.write_text(f'[trust]\nkeys = ["{world["key"]}"]\n')
    code, workloads, report = _what_if("--trust", str(trust))
    assert code == 1 and "no notation trust" in report["changes"][0]["label"]
    assert workloads["notation-fn"]["reason"] == ("[trust]: signed only with notation, and no notation trust policy "
                                                  "is in force")
    assert workloads["notation-fn"]["fixes"][0]["text"].startswith("set [trust] notation_config to a notation")
    assert _gate_refuses(world, "") == {"notation-fn"}  # the gate with that [trust] (no notation_config) agrees
    # notation trust alone is a [trust] the gate accepts (no key), and a threshold counting both kinds
    trust.write_text(f'[trust]\nkeys = ["{world["key"]}"]\nthreshold = 2\nnotation_config = "{world["including"]}"\n')
    code, workloads, _ = _what_if("--trust", str(trust))
    assert code == 1 and {n for n, w in workloads.items() if w["status"] == "newly-denied"} == {"notation-fn",
                                                                                               "cosign-fn"}
    assert "1 of the 2 required trusted signers (keys and notation)" in workloads["notation-fn"]["reason"]


def test_offline_the_recorded_notation_signers_count_under_the_configured_notation_trust(world):
    """From the last sweep: the pod running the notation-signed image was recorded verified by its notation
    signer; judged by [trust] offline it is allowed, as the sweep found. A candidate notation trust policy
    needs the registries (exit 2)."""
    ctx = open_context()
    try:
        sweep = run_sweep(ctx, Verifier.for_args(ctx), cluster_targets(ctx.config))
        assert {f.workload: f.result for f in sweep.findings} == {"web": "verified"}
        report = prepare_what_if(ctx, [], from_last_sweep=True).evaluate([])
    finally:
        ctx.close()
    (web,) = [o for o in report.outcomes if o.workload.place == "cluster"]
    assert web.before.allowed, web.before.reason
    result = CliRunner().invoke(cli, ["what-if", "--from-last-sweep", "--notation-config", str(world["excluding"])])
    assert result.exit_code == 2 and "needs the registries" in result.stderr
