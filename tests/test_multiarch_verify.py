"""Multi-arch images on a real docker-registry: `verify` of an index reports each platform child,
its own signatures and whether the index's signature covers it, under both settings of
`[trust] index_signature_covers_children`; the image's verdict stays the index's."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.context import open_context
from core.verify.policy import TrustArgs
from core.verify.service import verify_images
from core.verify.verifier import Verifier
from tests.support.store import history
from tests.support.oci import new_key, push_index, push_signatures, signature_layer, write_public_key
from tui.cli.main import cli


@pytest.fixture
def key(tmp_path):
    made = new_key()
    return made, str(write_public_key(tmp_path / "k.pub", made))


def _context(home, covers: bool | None):
    if covers is not None:
        (home / "config.toml").write_text(f"[trust]\nindex_signature_covers_children = {str(covers).lower()}\n")
    return open_context()


def _sign(registry, repo, key, digest):
    push_signatures(registry.url, repo, digest, [signature_layer(key, f"{registry.host}/{repo}", digest)])


def _verify(ctx, ref, key_path):
    (result,) = verify_images(ctx, [ref], Verifier.for_args(ctx, TrustArgs(keys=[key_path])), platforms=True,
                              record=False)
    return result, {p.platform: p for p in result.platforms}


@pytest.mark.parametrize("covers", [None, True, False])  # None: the default (covers)
def test_index_signed_only(signet_home, registry, key, covers):
    made, path = key
    index, children = push_index(registry.url, "only-index", "v1")
    _sign(registry, "only-index", made, index)
    ctx = _context(signet_home, covers)
    try:
        result, platforms = _verify(ctx, f"{registry.host}/only-index:v1", path)
    finally:
        ctx.close()
    assert result.result == "verified" and result.digest == index
    assert set(platforms) == {"linux/amd64", "linux/arm64"}
    for name, p in platforms.items():
        assert p.digest == children[name]
        if covers is False:
            assert p.result == "unsigned" and p.covered_by is None
            assert "index_signature_covers_children = false" in p.reason
        else:
            assert p.result == "verified" and p.covered_by == f"index {index}"
            assert p.reason.startswith(f"signed on the index {index} for {name}")


def test_child_signed_only_keeps_the_index_verdict(signet_home, registry, key):
    made, path = key
    index, children = push_index(registry.url, "only-child", "v1")
    _sign(registry, "only-child", made, children["linux/arm64"])
    ctx = _context(signet_home, True)
    try:
        result, platforms = _verify(ctx, f"{registry.host}/only-child:v1", path)
    finally:
        ctx.close()
    assert result.result == "unsigned" and result.digest == index  # no weakening: the index is unsigned
    assert platforms["linux/arm64"].result == "verified" and platforms["linux/arm64"].covered_by == "own"
    assert platforms["linux/amd64"].result == "unsigned" and platforms["linux/amd64"].covered_by is None
    assert "the index is unsigned" in platforms["linux/amd64"].reason


def test_both_signed_prefers_own_and_a_forged_child_signature_does_not_count(signet_home, registry, key):
    made, path = key
    index, children = push_index(registry.url, "both", "v1")
    _sign(registry, "both", made, index)
    _sign(registry, "both", made, children["linux/amd64"])
    # arm64's .sig is by an untrusted key: invalid on its own, but the index still covers it
    _sign(registry, "both", new_key(), children["linux/arm64"])
    ctx = _context(signet_home, False)
    try:
        result, platforms = _verify(ctx, f"{registry.host}/both:v1", path)
    finally:
        ctx.close()
    assert result.result == "verified"
    assert platforms["linux/amd64"].covered_by == "own" and platforms["linux/amd64"].result == "verified"
    assert platforms["linux/arm64"].result == "invalid" and platforms["linux/arm64"].covered_by is None


def test_cli_json_carries_platforms(signet_home, registry, key):
    made, path = key
    index, children = push_index(registry.url, "cli-multi", "v1")
    _sign(registry, "cli-multi", made, index)
    run = CliRunner().invoke(cli, ["verify", f"{registry.host}/cli-multi:v1", "--key", path, "--json",
                                   "--allow-http-registry"])
    assert run.exit_code == 0, run.output
    (doc,) = json.loads(run.stdout)
    assert doc["result"] == "verified" and doc["digest"] == index
    by_platform = {p["platform"]: p for p in doc["platforms"]}
    assert set(by_platform) == set(children)
    for name, p in by_platform.items():
        assert set(p) == {"platform", "digest", "result", "covered_by", "reason"}
        assert (p["digest"], p["result"], p["covered_by"]) == (children[name], "verified", f"index {index}")
        assert p["reason"].startswith(f"signed on the index {index} for {name}")
    ctx = open_context()
    try:
        (row,) = history(ctx.store)
    finally:
        ctx.close()
    assert {p["platform"]: p["covered_by"] for p in row.details["platforms"]} == {
        name: f"index {index}" for name in children}
    table = CliRunner().invoke(cli, ["verify", f"{registry.host}/cli-multi:v1", "--key", path, "--allow-http-registry"])
    assert table.exit_code == 0, table.output
    lines = {name: next(line for line in table.stdout.splitlines() if name in line) for name in children}
    assert all(f"index {index[:19]}" in line and "verified: signed on the index" in line for line in lines.values())
    # a single-platform image has no platforms
    child = CliRunner().invoke(cli, ["verify", f"{registry.host}/cli-multi@{children['linux/amd64']}", "--key",
                                     path, "--json", "--allow-http-registry"])
    (single,) = json.loads(child.stdout)
    assert child.exit_code == 1 and single["result"] == "unsigned" and single["platforms"] == []


def test_too_many_children_is_an_error_not_a_verdict(signet_home, registry, key):
    made, path = key
    index, _ = push_index(registry.url, "wide", "v1", platforms=[("linux", a) for a in ("amd64", "arm64", "s390x")])
    _sign(registry, "wide", made, index)
    (signet_home / "config.toml").write_text("[limits]\nmax_layers = 2\n")
    ctx = open_context()
    try:
        result, _ = _verify(ctx, f"{registry.host}/wide:v1", path)
    finally:
        ctx.close()
    assert result.result == "error" and "max_layers" in result.reason
