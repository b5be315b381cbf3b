"""A hostile registry's Notary Project signatures: bounded counts and sizes, every case ends
`error`/`invalid`, never `verified`, never a crash, within the timeouts.

The image's cosign `.sig` is removed, so its only candidate signatures are notation referrers (self-made
envelopes, tests/support/notation.py); the first test proves a good one verifies that way."""

from __future__ import annotations

import json
from functools import partial

import pytest

from core.notation.config import load_notation_trust
from tests.support.hostile_registry import (add_referrer, assert_refused, image_size, referrers_only_registry,
                                            serve_referrers, verify)
from tests.support.notation import (cose_envelope, jws_envelope, make_signer, payload_for, statement,
                                    write_notation_config)

ARTIFACT = "application/vnd.cncf.notary.signature"
JWS = "application/jose+json"


@pytest.fixture
def world(tmp_path):
    with referrers_only_registry() as (registry, image):
        signer = make_signer()
        config = write_notation_config(tmp_path / "notation", {"ca:corp": [signer.root]}, [statement()])
        yield registry, image, signer, load_notation_trust(str(config)), tmp_path


# a notation signature referrer holding a JWS envelope unless told otherwise
referrer = partial(add_referrer, artifact_type=ARTIFACT, media_type=JWS)


def run(world):
    _, image, _, trust, home = world
    result, _ = verify(home, image.reference, image.public_pem, notation=trust)
    return result


def good(world) -> bytes:
    registry, image, signer, _, _ = world
    return jws_envelope(signer, payload_for(image.digest, image_size(registry, image)))


def test_a_good_notation_referrer_verifies(world):
    registry, image, _, _, _ = world
    serve_referrers(registry, image, [referrer(registry, image, good(world))])
    result = run(world)
    assert result.result == "verified", result.reason
    assert [s.source for s in result.signatures if s.ok] == ["notation-jws"]


def test_10000_signature_referrers_are_refused_without_opening_any(world):
    registry, image, _, _, _ = world
    serve_referrers(registry, image, [referrer(registry, image, good(world))] * 10_000)
    assert_refused(run(world), "error", reason="limit")
    assert registry.requests_to(rf"/v2/{image.repo}/manifests/sha256:.+") == []


@pytest.mark.parametrize("case", ["huge-chain", "claimed-100MB", "two-layers", "duplicate-keys", "deep-cbor",
                                  "other-digest", "wrong-alg", "not-an-envelope"])
def test_hostile_envelopes_fail_closed_with_a_reason(world, case):
    registry, image, signer, _, _ = world
    size = image_size(registry, image)
    kwargs: dict = {}
    if case == "huge-chain":
        envelope = jws_envelope(signer, payload_for(image.digest, size), chain=[signer.leaf] * 500)
        reason = "certificates (at most"
    elif case == "claimed-100MB":
        envelope, kwargs, reason = good(world), {"size": 100 * 1024 * 1024}, "envelope of"
    elif case == "two-layers":
        envelope, kwargs, reason = good(world), {"layers": 2}, "exactly one envelope layer"
    elif case == "duplicate-keys":
        envelope = good(world).replace(b'{"payload"', b'{"payload": "e30", "payload"', 1)
        reason = "duplicate JSON key"
    elif case == "deep-cbor":
        envelope, kwargs, reason = b"\xd2" + b"\x81" * 50_000 + b"\x00", {"media_type": "application/cose"}, "CBOR"
    elif case == "other-digest":
        envelope = jws_envelope(signer, payload_for("sha256:" + "0" * 64, size))
        reason = "not this image"
    elif case == "wrong-alg":
        envelope = jws_envelope(make_signer(curve=None), payload_for(image.digest, size), alg="PS512")
        reason = "does not fit"
    else:
        envelope, kwargs, reason = b"hello", {"media_type": "application/vnd.oci.image.layer.v1.tar"}, "neither JWS"
    serve_referrers(registry, image, [referrer(registry, image, envelope, **kwargs)])
    assert_refused(run(world), "invalid", reason=reason)


def test_cose_envelope_through_the_registry(world):
    registry, image, signer, _, _ = world
    envelope = cose_envelope(signer, payload_for(image.digest, image_size(registry, image)))
    serve_referrers(registry, image, [referrer(registry, image, envelope, media_type="application/cose")])
    result = run(world)
    assert result.result == "verified" and [s.source for s in result.signatures if s.ok] == ["notation-cose"]
    assert json.dumps(result.as_dict())  # serialisable as --json prints it
