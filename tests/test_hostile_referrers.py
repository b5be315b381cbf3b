"""A hostile registry's OCI 1.1 referrers (Sigstore bundles): bounded counts and sizes, no loops, and
every case ends `error`/`invalid`/`unsigned`, never `verified`, never a crash.

The image has no `.sig` here: its only signature is a key-signed Sigstore bundle (logged in our own
test log) attached as a referrer, and the first test proves it verifies that way.
"""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.support.hostile_registry import (OCI_INDEX, OCI_MANIFEST, Request, add_referrer, assert_refused, canonical,
                                            endless, fixed, referrers_only_registry, serve_referrers, verify)
from tests.support.sigstore_factory import FakeSigstore

BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


@pytest.fixture
def world(tmp_path):
    with referrers_only_registry() as (registry, image):
        fake = FakeSigstore()
        root = tmp_path / "trusted_root.json"
        root.write_bytes(fake.trusted_root())
        yield registry, image, fake, str(root), tmp_path


referrer = partial(add_referrer, artifact_type=BUNDLE)  # a Sigstore bundle referrer


def run(world, **kw):
    _, image, _, root, home = world
    result, _ = verify(home, image.reference, image.public_pem, trusted_root=root, **kw)
    return result


def test_the_bundle_referrer_verifies(world):
    registry, image, fake, _, _ = world
    serve_referrers(registry, image, [referrer(registry, image, fake.key_bundle(image.private_key, image.digest))])
    result = run(world)
    assert result.result == "verified", result.reason


def test_10000_referrers_are_refused_without_opening_any(world):
    registry, image, fake, _, _ = world
    one = referrer(registry, image, fake.key_bundle(image.private_key, image.digest))
    serve_referrers(registry, image, [one] * 10_000)
    assert_refused(run(world), "error", reason="limit")
    assert registry.requests_to(rf"/v2/{image.repo}/manifests/sha256:.+") == []


def test_endless_referrers_answer_is_an_error(world):
    registry, image, _, _, _ = world
    registry.override(rf"/v2/{image.repo}/referrers/.+", endless(content_type=OCI_INDEX))
    assert_refused(run(world), "error")


def test_referrers_about_another_image_are_skipped_and_bounded(world):
    registry, image, fake, _, _ = world
    other = "sha256:" + "0" * 64
    descriptors = [referrer(registry, image, fake.key_bundle(image.private_key, other), subject=other,
                                annotations={"note": str(i)})
                   for i in range(100)]
    serve_referrers(registry, image, descriptors)
    assert_refused(run(world), "unsigned")
    assert len(registry.requests_to(rf"/v2/{image.repo}/manifests/sha256:.+")) <= 100
    assert registry.requests_to(rf"/v2/{image.repo}/blobs/.+") == []  # never fetched a bundle not about us


def test_bundle_claiming_a_huge_size_is_refused_before_download(world):
    registry, image, fake, _, _ = world
    serve_referrers(registry, image, [referrer(registry, image, fake.key_bundle(image.private_key, image.digest),
                                               size=1 << 40)])
    assert_refused(run(world), "invalid", reason="limit")
    assert registry.requests_to(rf"/v2/{image.repo}/blobs/.+") == []


def test_two_bundle_layers_in_one_referrer_are_invalid(world):
    registry, image, fake, _, _ = world
    serve_referrers(registry, image, [referrer(registry, image, fake.key_bundle(image.private_key, image.digest),
                                               layers=2)])
    assert_refused(run(world), "invalid")


def test_deeply_nested_bundle_is_invalid(world):
    registry, image, _, _, _ = world
    serve_referrers(registry, image, [referrer(registry, image, b"[" * 100_000 + b"]" * 100_000)])
    assert_refused(run(world), "invalid")


def test_bundle_for_another_digest_is_invalid(world):
    registry, image, fake, _, _ = world
    serve_referrers(registry, image, [referrer(registry, image,
                                               fake.key_bundle(image.private_key, "sha256:" + "1" * 64))])
    assert_refused(run(world), "invalid")


def test_referrers_index_naming_itself_does_not_loop(world):
    """The fallback tag's index lists a 'referrer' that the registry serves as the index again."""
    registry, image, _, _, _ = world
    registry.override(rf"/v2/{image.repo}/referrers/.+", fixed(b"not found", status=404))
    loop_digest = "sha256:" + "e" * 64

    def index_everywhere(request: Request) -> None:
        body = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": loop_digest, "size": 10}]})
        request.send(200, body, content_type=OCI_INDEX)
    registry.override(rf"/v2/{image.repo}/manifests/(sha256-.+|{loop_digest})", index_everywhere)
    result = run(world)
    assert_refused(result, "error", "invalid", "unsigned")
    assert len(registry.requests_to(rf"/v2/{image.repo}/manifests/.+")) < 10


def test_referrers_api_failure_is_an_error_not_unsigned(world):
    registry, image, _, _, _ = world
    registry.override(rf"/v2/{image.repo}/referrers/.+", fixed(json.dumps({"errors": []}).encode(), status=500))
    assert_refused(run(world), "error")
