"""The what-if on workloads running platform children of a multi-arch image whose signature sits on the
index only (real registry, loopback Kubernetes API, a Lambda functions file): it finds the index through
the tag each workload was deployed from, as the sweep and the Lambda gate do, and answers what they report
once the change is really made, with `[trust] index_signature_covers_children` on (Kyverno's reading) and
off (cosign's)."""

from __future__ import annotations

import json
import shlex

import pytest
from click.testing import CliRunner

from core.aws.regions import aws_targets
from core.clusters.inventory import cluster_targets
from core.clusters.policy_apply import apply_policy
from core.clusters.sweep import run_sweep
from core.crypto.public_keys import load_public_key
from core.keys.custody import generate_key
from core.lambdas.file_client import write_functions_file
from core.lambdas.inventory import list_image_functions, verify_functions
from core.policy.generate import kyverno_cluster_policy, to_yaml
from core.verify.verifier import Verifier
from core.whatif.change import policy_file_change, trust_change
from core.whatif.facts import forget_facts
from core.whatif.service import what_if
from tests.support.cluster_world import build_world
from tests.support.kube_api import KubeApiServer, pod
from tests.support.oci import new_key, push_index, push_signatures, signature_layer, write_public_key
from tui.cli.main import cli

PASSPHRASE = "correct horse battery"


@pytest.fixture
def world(signet_home, registry):
    with KubeApiServer() as kube:
        yield build_world(signet_home, registry.url, kube)


def _children_signed_on_their_index(world, covers: bool):
    """`multi:v1` and `multi:v2` are indexes signed by the index key only (no child has a signature
    of its own). Pod `amd` and function `fn-arm` run children of `multi:v1` deployed from that tag; pod
    `stranger` and function `fn-stranger` run children of `multi:v2` under the tag `multi:v1` (whose
    index does not list them). [trust] trusts the index key alone."""
    key = new_key()
    key_path = write_public_key(world.root / "index-signer.pub", key)
    host = world.host
    signed, children = push_index(world.registry_url, "multi", "v1")
    other, other_children = push_index(world.registry_url, "multi", "v2")
    for digest in (signed, other):
        push_signatures(world.registry_url, "multi", digest, [signature_layer(key, f"{host}/multi", digest)])
    world.kube.add(pod("amd", "multi", [("c", f"{host}/multi:v1", f"{host}/multi@{children['linux/amd64']}")]))
    world.kube.add(pod("stranger", "multi",
                       [("c", f"{host}/multi:v1", f"{host}/multi@{other_children['linux/amd64']}")]))
    functions = [{"FunctionName": name, "Region": "eu-west-1", "PackageType": "Image",
                  "FunctionArn": f"arn:aws:lambda:eu-west-1:000000000000:function:{name}",
                  "ImageUri": f"{host}/multi:v1", "ResolvedImageUri": f"{host}/multi@{digest}", "RevisionId": "1"}
                 for name, digest in (("fn-arm", children["linux/arm64"]),
                                      ("fn-stranger", other_children["linux/arm64"]))]
    write_functions_file(world.root / "lambda.json", functions)
    config = (world.root / "config.toml").read_text()
    config = config.replace(f'[trust]\nkeys = ["{world.key_path}"]',
                            f'[trust]\nindex_signature_covers_children = {str(covers).lower()}\nkeys = ["{key_path}"]')
    config += f'\n[aws]\nregions = ["eu-west-1"]\ndemo_lambda = "{world.root / "lambda.json"}"\n'
    (world.root / "config.toml").write_text(config)
    return key_path, signed


@pytest.mark.parametrize("covers", [True, False], ids=["index-covers-children", "own-signatures-only"])
def test_a_child_signed_on_its_index_is_judged_as_the_sweep_and_the_gate_report_it(world, tmp_path, covers):
    key_path, signed = _children_signed_on_their_index(world, covers)
    ctx = world.context()
    targets = cluster_targets(ctx.config)
    doc = kyverno_cluster_policy([load_public_key(key_path.read_bytes())], name="verify-multi",
                                 image_globs=[f"{world.host}/multi*"], mode="Enforce")
    policy = tmp_path / "verify-multi.yaml"
    policy.write_text(to_yaml([doc]))

    report = what_if(ctx, [policy_file_change(str(policy))], targets=targets)
    assert not report.problems
    predicted = {o.workload.name: o for o in report.outcomes if "multi" in o.workload.image}
    assert set(predicted) == {"amd", "stranger", "fn-arm", "fn-stranger"}
    amd, fn_arm = predicted["amd"], predicted["fn-arm"]
    if covers:
        assert amd.status == "allowed" and amd.after.covered_by == f"index {signed}"
        assert f"signed on the index {signed} for linux/amd64" in amd.after.reason
        assert fn_arm.status == "allowed" and fn_arm.after.covered_by == f"index {signed}"
        assert {o.workload.name for o in report.newly_denied} == {"stranger"}
    else:
        assert amd.status == "newly-denied" and amd.after.covered_by is None
        assert f"signed on the index {signed} for linux/amd64" in amd.after.reason
        assert "index_signature_covers_children = false" in amd.after.reason
        assert fn_arm.status == "denied" and "index_signature_covers_children = false" in fn_arm.after.reason
        assert {o.workload.name for o in report.newly_denied} == {"amd", "stranger"}
    assert f"not a child of the index {signed}" in predicted["stranger"].after.reason
    assert predicted["fn-stranger"].status == "denied"
    assert report.as_dict()["workloads"][0].keys() >= {"covered_by"}

    # make the change for real, then run the sweep and the Lambda gate as they run
    apply_policy(ctx, targets[0], doc)
    assert world.kube.get("kyverno.io", "v1", "clusterpolicies", "", "verify-multi")
    verifier = Verifier.for_args(ctx)
    swept = {f.workload: f for f in run_sweep(ctx, verifier, targets, namespaces=["multi"]).findings}
    functions = [f for inv in list_image_functions(ctx.config, aws_targets(ctx.config)) for f in inv.functions]
    gated = {f.name: f for f in verify_functions(ctx, functions, verifier)}
    actual = {**{name: (f.result, f.covered_by, f.digest) for name, f in swept.items()},
              **{name: (f.result, f.covered_by, f.digest) for name, f in gated.items()}}
    answered = {name: ("verified" if o.after.allowed else "denied", o.after.covered_by, o.workload.digest)
                for name, o in predicted.items()}
    assert {name: (result if result == "verified" else "denied", by, digest)
            for name, (result, by, digest) in actual.items()} == answered
    assert (actual["amd"][0] == "verified") is covers and (actual["fn-arm"][0] == "verified") is covers
    # offline, from what that sweep recorded (the index's signers for a covered child): the same answer
    offline = what_if(ctx, [policy_file_change(str(policy))], from_last_sweep=True)
    judged = {o.workload.name: o.after.allowed for o in offline.outcomes if o.workload.namespace == "multi"}
    assert judged == {name: swept[name].result == "verified" for name in ("amd", "stranger")}


def test_a_trust_file_turning_index_coverage_off_newly_denies_children_signed_on_their_index(world, tmp_path):
    key_path, signed = _children_signed_on_their_index(world, covers=True)
    ctx = world.context()
    trust = tmp_path / "trust.toml"
    trust.write_text(f'[trust]\nkeys = ["{key_path}"]\nindex_signature_covers_children = false\n')
    report = what_if(ctx, [trust_change(ctx, str(trust))], targets=cluster_targets(ctx.config))
    (fn_arm,) = [o for o in report.outcomes if o.workload.name == "fn-arm"]
    assert fn_arm.before.covered_by == f"index {signed}" and fn_arm.status == "newly-denied"
    assert "index_signature_covers_children = false" in fn_arm.after.reason
    assert {o.workload.name for o in report.newly_denied} == {"fn-arm"}  # the cluster has no policy here


@pytest.mark.parametrize("covers", [True, False], ids=["index-covers-children", "own-signatures-only"])
def test_the_fix_for_a_child_signed_on_its_index_re_signs_what_counts_and_then_it_is_allowed(world, covers,
                                                                                          monkeypatch):
    """[trust] also trusts `release` (a key in Signet's inventory that signed nothing). Dropping the index
    key denies fn-arm; the fix re-signs with release what the setting counts: the index (which covers its
    children), or with the setting off the child itself. Run for real, the what-if then allows it."""
    key_path, signed = _children_signed_on_their_index(world, covers)
    ctx = world.context()
    generate_key(ctx, name="release", passphrase=PASSPHRASE.encode())
    config = (world.root / "config.toml").read_text()
    (world.root / "config.toml").write_text(config.replace(f'keys = ["{key_path}"]',
                                                           f'keys = ["{key_path}", "release"]'))
    monkeypatch.setenv("SIGNET_PASSWORD", PASSPHRASE)

    def fn_arm(*flags):
        result = CliRunner().invoke(cli, ["what-if", "--drop-key", str(key_path), "--json", *flags])
        assert result.exit_code in (0, 1), result.output
        return next(w for w in json.loads(result.stdout)["workloads"] if w["name"] == "fn-arm")

    before = fn_arm()
    assert before["status"] == ("newly-denied" if covers else "denied")
    (fix,) = before["fixes"]
    assert fix["kind"] == "re-sign"
    signs = f"{world.host}/multi@{signed}" if covers else before["reference"]
    assert shlex.split(fix["command"]) == ["signet", "sign", signs, "--key", "release"]

    signed_now = CliRunner().invoke(cli, shlex.split(fix["command"])[1:])
    assert signed_now.exit_code == 0, signed_now.output
    forget_facts()  # each `signet` is a process of its own: its in-process answers start empty
    after = fn_arm()
    assert after["status"] == "allowed" and after["fixes"] == []
    assert after["covered_by"] == (f"index {signed}" if covers else None)
