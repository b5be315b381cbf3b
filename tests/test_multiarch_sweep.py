"""A cluster running platform children of multi-arch images (real registry, loopback kube API): the
index its spec's tag names covers a child only when it lists exactly that digest, verifies, and
`[trust] index_signature_covers_children` is on."""

from __future__ import annotations

import pytest

from core.clusters.inventory import cluster_targets
from core.clusters.sweep import run_sweep
from core.history.records import HistoryFilter
from core.lambdas.inventory import LambdaFunction, running_image, verify_functions
from core.verify.verifier import Verifier
from tests.support.cluster_world import build_world
from tests.support.kube_api import KubeApiServer, pod
from tests.support.oci import new_key, push_image, push_index, push_signatures, signature_layer, write_public_key
from tests.support.store import history


@pytest.fixture
def world(signet_home, registry):
    with KubeApiServer() as kube:
        yield build_world(signet_home, registry.url, kube)


def _multiarch(world, covers: bool):
    """Index `multi:v1` (signed), index `multi:v2` (signed, other children), index `bare:v1`
    (unsigned); pods running their children, each deployed from a tag. Returns the digests."""
    key = new_key()
    path = write_public_key(world.root / "index-signer.pub", key)
    host = world.host
    signed, signed_children = push_index(world.registry_url, "multi", "v1")
    moved, moved_children = push_index(world.registry_url, "multi", "v2")
    bare, bare_children = push_index(world.registry_url, "bare", "v1")
    for digest in (signed, moved):
        push_signatures(world.registry_url, "multi", digest, [signature_layer(key, f"{host}/multi", digest)])
    amd = signed_children["linux/amd64"]
    pods = {"amd": (f"{host}/multi:v1", f"{host}/multi@{amd}"),
            # a child of another signed index, run under a tag whose index does not list it
            "stranger": (f"{host}/multi:v1", f"{host}/multi@{moved_children['linux/arm64']}"),
            "bare": (f"{host}/bare:v1", f"{host}/bare@{bare_children['linux/amd64']}"),
            # deployed from a tag that no longer exists: no index can be read, nothing covers it
            "gone": (f"{host}/multi:gone", f"{host}/multi@{amd}"),
            # deployed by the index digest itself: the same index, the same answer
            "pinned": (f"{host}/multi@{signed}", f"{host}/multi@{signed_children['linux/arm64']}")}
    for name, (image, image_id) in pods.items():
        world.kube.add(pod(name, "multi", [("c", image, image_id)]))
    config = (world.root / "config.toml").read_text()
    config = config.replace("[trust]\nkeys = [", f"[trust]\nindex_signature_covers_children = {str(covers).lower()}"
                                                 f"\nkeys = [\"{path}\", ", 1)
    (world.root / "config.toml").write_text(config)
    return signed, signed_children


def _sweep(world):
    ctx = world.context()
    report = run_sweep(ctx, Verifier.for_args(ctx), cluster_targets(ctx.config), namespaces=["multi"],
                       allow_http=True)
    return ctx, report, {f.workload: f for f in report.findings}


def test_index_signature_covers_a_listed_child_and_nothing_else(world):
    signed, children = _multiarch(world, covers=True)
    ctx, report, found = _sweep(world)
    amd = found["amd"]
    assert amd.result == "verified" and amd.covered_by == f"index {signed}"
    assert amd.reason.startswith(f"signed on the index {signed} for linux/amd64")
    assert amd.digest == children["linux/amd64"] and amd.matched_keys  # the index's signer
    assert found["pinned"].result == "verified" and found["pinned"].covered_by == f"index {signed}"
    assert "for linux/arm64" in found["pinned"].reason
    stranger = found["stranger"]
    assert stranger.result == "unsigned" and stranger.covered_by is None
    assert f"not a child of the index {signed}" in stranger.reason
    bare = found["bare"]
    assert bare.result == "unsigned" and bare.covered_by is None and "is unsigned" in bare.reason
    gone = found["gone"]
    assert gone.result == "unsigned" and gone.covered_by is None and "could not be read" in gone.reason
    assert not report.ok
    assert report.as_dict()["findings"][0].keys() >= {"covered_by"}
    rows = {r.digest: r for r in history(ctx.store, HistoryFilter(source="sweep"))}
    assert rows[children["linux/amd64"]].result == "verified"
    assert rows[children["linux/amd64"]].reason.startswith("signed on the index")


def test_with_the_setting_off_only_own_signatures_count(world):
    _, children = _multiarch(world, covers=False)
    _, report, found = _sweep(world)
    for name in ("amd", "pinned", "stranger", "bare", "gone"):
        assert found[name].result == "unsigned" and found[name].covered_by is None, name
    assert "signed on the index" not in found["amd"].reason


def test_lambda_running_a_child_of_its_image_uri_index(world):
    """A function deployed from `multi:v1` whose ResolvedImageUri is a platform child (as Lambda
    records it); and one whose resolved digest is not in that index."""
    signed, children = _multiarch(world, covers=True)
    host = world.host
    ctx = world.context()
    functions = []
    single = push_image(world.registry_url, "multi", "single")  # in the repository, not in the index
    for name, digest in (("fn-arm", children["linux/arm64"]), ("fn-other", single)):
        found, source, reference, problem = running_image(f"{host}/multi:v1", f"{host}/multi@{digest}")
        functions.append(LambdaFunction(profile="default", region="eu-west-1", name=name, arn=f"arn:{name}",
                                        image_uri=f"{host}/multi:v1", resolved_image_uri=f"{host}/multi@{digest}",
                                        digest=found, digest_source=source, reference=reference, problem=problem))
    checked = {f.name: f for f in verify_functions(ctx, functions, Verifier.for_args(ctx), allow_http=True)}
    arm = checked["fn-arm"]
    assert arm.result == "verified" and arm.covered_by == f"index {signed}"
    assert arm.reason.startswith(f"signed on the index {signed} for linux/arm64") and len(arm.matched_keys) == 1
    other = checked["fn-other"]
    assert other.result == "unsigned" and other.covered_by is None
    assert f"not a child of the index {signed}" in other.reason
    saved = {r["name"]: r["last_result"] for r in ctx.store.query("SELECT name, last_result FROM lambda_functions")}
    assert saved == {"fn-arm": "verified", "fn-other": "unsigned"}
