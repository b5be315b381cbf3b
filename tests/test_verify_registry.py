"""Key-based verification of classic cosign signatures against a real docker-registry on loopback."""

from __future__ import annotations

import json

import pytest

from core.context import open_context
from core.crypto.public_keys import fingerprint
from core.registry.cache import RegistryCache
from core.sign.service import LocalKeySigner, sign_image
from core.verify.policy import TrustArgs
from core.verify.service import VerifyStats, verify_image, verify_images
from core.verify.verifier import Verifier
from tests.support.oci import (RewritingProxy, SignatureLayer, cosign_payload, digest_of, new_key, push_blob,
                               push_image, push_index, push_manifest, push_signatures, sign, signature_layer,
                               signature_tag, write_public_key)
from tests.support.processes import free_port
from tests.support.store import history


@pytest.fixture
def ctx(signet_home):
    context = open_context()
    yield context
    context.close()


@pytest.fixture
def keys(tmp_path):
    made = {name: new_key() for name in ("alice", "bob", "mallory")}
    paths = {name: str(write_public_key(tmp_path / f"{name}.pub", key)) for name, key in made.items()}
    return made, paths


def _image(registry, repo, tag="v1"):
    digest = push_image(registry.url, repo, tag)
    return f"{registry.host}/{repo}:{tag}", digest


def _signed_images(registry, repo, key, count):
    """`count` images tagged t0..tN-1 in `repo`, each signed by `key`; their references."""
    refs = []
    for i in range(count):
        ref, digest = _image(registry, repo, f"t{i}")
        push_signatures(registry.url, repo, digest, [signature_layer(key, "x", digest)])
        refs.append(ref)
    return refs


def test_signed_by_one_trusted_key(ctx, registry, keys):
    made, paths = keys
    ref, digest = _image(registry, "app")
    push_signatures(registry.url, "app", digest, [signature_layer(made["alice"], f"{registry.host}/app", digest)])
    result = verify_image(ctx, ref, Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]])))
    assert result.result == "verified", result.reason
    assert result.digest == digest
    assert result.matched_keys == (fingerprint(made["alice"].public_key()),)
    assert result.duration_ms > 0
    rows = history(ctx.store)
    assert [(r.reference, r.digest, r.result, r.source) for r in rows] == [(ref, digest, "verified", "cli")]
    assert rows[0].matched_keys == list(result.matched_keys)


def test_threshold_needs_distinct_trusted_keys(ctx, registry, keys):
    made, paths = keys
    ref, digest = _image(registry, "two")
    alice = signature_layer(made["alice"], "x", digest)
    push_signatures(registry.url, "two", digest, [alice, signature_layer(made["alice"], "x", digest)])
    policy = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"], paths["bob"]], threshold=2))
    first = verify_image(ctx, ref, policy)
    assert first.result == "invalid" and "only 1 of the 2" in first.reason
    push_signatures(registry.url, "two", digest, [alice, signature_layer(made["bob"], "x", digest)])
    ctx.forget_registry_cache()  # forget the cached .sig lookup (its TTL is tested separately)
    second = verify_image(ctx, ref, policy)
    assert second.result == "verified" and len(second.matched_keys) == 2


def test_untrusted_key_is_invalid(ctx, registry, keys):
    made, paths = keys
    ref, digest = _image(registry, "untrusted")
    push_signatures(registry.url, "untrusted", digest, [signature_layer(made["mallory"], "x", digest)])
    result = verify_image(ctx, ref, Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]])))
    assert result.result == "invalid"
    assert "does not verify with any trusted key" in result.signatures[0].reason
    assert result.matched_keys == ()


def test_unsigned(ctx, registry, keys):
    _, paths = keys
    ref, digest = _image(registry, "plain")
    result = verify_image(ctx, ref, Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]])))
    assert result.result == "unsigned" and result.digest == digest
    assert signature_tag(digest) in result.reason


def test_payload_naming_another_digest(ctx, registry, keys):
    made, paths = keys
    ref, digest = _image(registry, "replay")
    _, other = _image(registry, "replay", "other")
    push_signatures(registry.url, "replay", digest, [signature_layer(made["alice"], "x", other)])
    result = verify_image(ctx, ref, Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]])))
    assert result.result == "invalid"
    assert other in result.signatures[0].reason and result.signatures[0].key_fingerprint


def test_tampered_payload(ctx, registry, keys):
    made, paths = keys
    ref, digest = _image(registry, "tamper")
    good = signature_layer(made["alice"], "x", digest)
    tampered = SignatureLayer(good.payload.replace(b'"optional":null', b'"optional":{"a":"b"}'), good.signature)
    push_signatures(registry.url, "tamper", digest, [tampered])
    result = verify_image(ctx, ref, Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]])))
    assert result.result == "invalid"


def test_line_wrapped_signature_annotation_is_read_like_go_does(ctx, registry, keys):
    """Some signers wrap the base64 signature (containers/image's PKI fixture); Go's decoder skips line
    breaks, so a cosign-compatible verifier must too. Any other non-base64 character is refused."""
    import base64
    import textwrap

    made, paths = keys
    policy = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]]))
    ref, digest = _image(registry, "wrapped")
    good = signature_layer(made["alice"], "x", digest)
    wrapped = "\r\n".join(textwrap.wrap(base64.b64encode(good.signature).decode(), 20))
    push_signatures(registry.url, "wrapped", digest, [SignatureLayer(
        good.payload, good.signature, annotations={"dev.cosignproject.cosign/signature": wrapped})])
    assert verify_image(ctx, ref, policy).result == "verified"
    spaced = wrapped.replace("\r\n", " ")
    push_signatures(registry.url, "wrapped", digest, [SignatureLayer(
        good.payload, good.signature, annotations={"dev.cosignproject.cosign/signature": spaced})])
    ctx.forget_registry_cache()
    result = verify_image(ctx, ref, policy)
    assert result.result == "invalid" and "not base64" in result.signatures[0].reason


def test_wrong_type_and_annotations(ctx, registry, keys):
    made, paths = keys
    ref, digest = _image(registry, "claims")
    payload = cosign_payload("x", digest, '{"env":"prod"}').replace(b"cosign container image signature", b"other")
    push_signatures(registry.url, "claims", digest, [SignatureLayer(payload, sign(made["alice"], payload))])
    result = verify_image(ctx, ref, Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]])))
    assert result.result == "invalid" and "payload type 'other' is not allowed" in result.reason
    allowed = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]], allowed_payload_types=["other"]))
    assert verify_image(ctx, ref, allowed).result == "verified"
    wanted = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]], allowed_payload_types=["other"],
                                  annotations={"env": "prod"}))
    assert verify_image(ctx, ref, wanted).result == "verified"
    wrong = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]], allowed_payload_types=["other"],
                                 annotations={"env": "dev"}))
    assert "annotation env is 'prod', not 'dev'" in verify_image(ctx, ref, wrong).reason
    missing = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]], allowed_payload_types=["other"],
                                   annotations={"team": "a"}))
    assert "missing annotation team=a" in verify_image(ctx, ref, missing).reason


def test_duplicate_json_keys_in_payload_are_refused(ctx, registry, keys):
    made, paths = keys
    ref, digest = _image(registry, "dupes")
    _, other = _image(registry, "dupes", "other")
    # Two digest claims: a lenient parser might take either; we refuse the payload.
    payload = ('{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"%s",'
               '"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}'
               % (other, digest)).encode()
    push_signatures(registry.url, "dupes", digest, [SignatureLayer(payload, sign(made["alice"], payload))])
    result = verify_image(ctx, ref, Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]])))
    assert result.result == "invalid" and "duplicate JSON key" in result.reason


def test_tag_moved_after_signing(ctx, registry, keys):
    made, paths = keys
    ref, signed = _image(registry, "moved")
    push_signatures(registry.url, "moved", signed, [signature_layer(made["alice"], "x", signed)])
    policy = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]]))
    assert verify_image(ctx, ref, policy).result == "verified"
    moved = push_image(registry.url, "moved", "v1")
    ctx.forget_registry_cache()
    result = verify_image(ctx, ref, policy)
    assert result.result == "unsigned" and result.digest == moved != signed
    assert verify_image(ctx, f"{registry.host}/moved@{signed}", policy).result == "verified"


def test_index_image_verifies_index_digest_and_reports_platform(ctx, registry, keys):
    made, paths = keys
    index_digest, children = push_index(registry.url, "multi", "v1")
    push_signatures(registry.url, "multi", index_digest, [signature_layer(made["alice"], "x", index_digest)])
    policy = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]]))
    result = verify_image(ctx, f"{registry.host}/multi:v1", policy, platform="linux/arm64")
    assert result.result == "verified" and result.digest == index_digest
    assert result.platform_digest == children["linux/arm64"]
    missing = verify_image(ctx, f"{registry.host}/multi:v1", policy, platform="windows/amd64")
    assert missing.result == "error" and "not in index" in missing.reason
    # a child has no signature of its own: verifying it by digest is "unsigned"
    child = verify_image(ctx, f"{registry.host}/multi@{children['linux/amd64']}", policy)
    assert child.result == "unsigned"


def test_signature_repository_from_cosign_repository(ctx, registry, keys, monkeypatch):
    made, paths = keys
    ref, digest = _image(registry, "elsewhere")
    push_signatures(registry.url, "sigstore/sigs", digest, [signature_layer(made["alice"], "x", digest)])
    assert verify_image(ctx, ref, Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]]))).result == "unsigned"
    monkeypatch.setenv("COSIGN_REPOSITORY", f"{registry.host}/sigstore/sigs")
    ctx.forget_registry_cache()
    assert verify_image(ctx, ref, Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]]))).result == "verified"


def test_registry_lying_about_manifest_bytes(ctx, registry, keys):
    made, paths = keys
    ref, signed = _image(registry, "liar")
    push_signatures(registry.url, "liar", signed, [signature_layer(made["alice"], "x", signed)])
    _, unsigned = _image(registry, "liar", "evil")
    evil_bytes = None

    def rewrite(method, path, status, headers, body):
        nonlocal evil_bytes
        if path == "/v2/liar/manifests/evil":
            evil_bytes = body
        if path in ("/v2/liar/manifests/v1", f"/v2/liar/manifests/{signed}") and evil_bytes is not None:
            # serve the unsigned image's bytes while claiming the signed digest
            return status, {**headers, "Docker-Content-Digest": signed}, evil_bytes
        return status, headers, body

    policy = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]]))
    with RewritingProxy(registry.url, rewrite) as proxy:
        assert verify_image(ctx, f"{proxy.host}/liar:evil", policy).result == "unsigned"
        by_tag = verify_image(ctx, f"{proxy.host}/liar:v1", policy)
        assert by_tag.result == "unsigned" and by_tag.digest == unsigned  # the header is ignored
        by_digest = verify_image(ctx, f"{proxy.host}/liar@{signed}", policy)
        assert by_digest.result == "error" and "hash to" in by_digest.reason


def test_registry_lying_about_payload_blob(ctx, registry, keys):
    made, paths = keys
    ref, digest = _image(registry, "blobliar")
    layer = signature_layer(made["alice"], "x", digest)
    push_signatures(registry.url, "blobliar", digest, [layer])

    def rewrite(method, path, status, headers, body):
        if path == f"/v2/blobliar/blobs/{digest_of(layer.payload)}":
            return status, headers, body[:-1] + b" "
        return status, headers, body

    with RewritingProxy(registry.url, rewrite) as proxy:
        result = verify_image(ctx, f"{proxy.host}/blobliar:v1",
                              Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]])))
    assert result.result == "invalid" and "hash to" in result.signatures[0].reason


def test_limits_layers_and_payload_size(ctx, registry, keys):
    made, paths = keys
    ref, digest = _image(registry, "limits")
    layer = signature_layer(made["alice"], "x", digest)
    raw = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                                 "digest": digest_of(b"{}")},
                      "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                                  "size": len(layer.payload), "digest": digest_of(layer.payload),
                                  "annotations": {"dev.cosignproject.cosign/signature": "AA=="}}] * 1001}).encode()
    push_blob(registry.url, "limits", b"{}")
    push_blob(registry.url, "limits", layer.payload)
    push_manifest(registry.url, "limits", signature_tag(digest), raw)
    policy = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]]))
    result = verify_image(ctx, ref, policy)
    assert result.result == "error" and "max_layers" in result.reason
    big = cosign_payload("x" * 200_000, digest)
    push_signatures(registry.url, "limits", digest, [SignatureLayer(big, sign(made["alice"], big))])
    ctx.forget_registry_cache()
    result = verify_image(ctx, ref, policy)
    assert result.result == "invalid" and "max_payload_bytes" in result.reason


def test_more_than_max_signatures_are_not_read(ctx, registry, keys, signet_home):
    made, paths = keys
    (signet_home / "config.toml").write_text("[limits]\nmax_signatures = 3\n")
    context = open_context()
    ref, digest = _image(registry, "many")
    junk = [signature_layer(made["mallory"], "x", digest) for _ in range(3)]
    push_signatures(registry.url, "many", digest, junk + [signature_layer(made["alice"], "x", digest)])
    result = verify_image(context, ref, Verifier.for_args(context, TrustArgs(keys=[paths["alice"]])))
    context.close()
    assert result.result == "invalid" and len(result.signatures) == 4
    assert "only the first 3" in result.signatures[3].reason


def test_registry_unreachable_is_error(ctx, keys):
    _, paths = keys
    result = verify_image(ctx, f"127.0.0.1:{free_port()}/app:v1",
                          Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]])))
    assert result.result == "error" and result.digest is None


def test_cache_reuse_and_ttl(ctx, registry, keys):
    made, paths = keys
    now = [0.0]
    ctx.registry_cache = RegistryCache(30.0, monotonic=lambda: now[0])
    refs = _signed_images(registry, "cached", made["alice"], 5)
    policy = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]]))
    stats = VerifyStats()
    cold = verify_images(ctx, refs, policy, stats=stats)
    assert all(r.result == "verified" for r in cold)
    assert stats.requests <= 3 * len(refs)
    warm = verify_images(ctx, refs, policy, stats=stats)
    assert [r.result for r in warm] == ["verified"] * 5 and stats.requests == 0
    moved = push_image(registry.url, "cached", "t0")
    assert verify_image(ctx, refs[0], policy).result == "verified"  # within the TTL: the old answer
    now[0] = 31.0
    stale_over = verify_image(ctx, refs[0], policy)
    assert stale_over.result == "unsigned" and stale_over.digest == moved


def test_results_keep_order_and_bad_references_are_errors(ctx, registry, keys):
    made, paths = keys
    ref, digest = _image(registry, "order")
    push_signatures(registry.url, "order", digest, [signature_layer(made["alice"], "x", digest)])
    results = verify_images(ctx, ["NOT A REF", ref, f"{registry.host}/order:missing"],
                            Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]])))
    assert [r.result for r in results] == ["error", "verified", "error"]
    assert "not found" in results[2].reason
    assert len(history(ctx.store)) == 3


def test_progress_reports_every_image_once_done(ctx, registry, keys):
    made, paths = keys
    refs = _signed_images(registry, "progress", made["alice"], 6)
    policy = Verifier.for_args(ctx, TrustArgs(keys=[paths["alice"]]))
    for _ in range(2):  # cold (worker threads), then warm (answered from the cache)
        seen: list[tuple[int, int]] = []
        results = verify_images(ctx, refs, policy, progress=lambda d, t, seen=seen: seen.append((d, t)))
        assert [r.result for r in results] == ["verified"] * 6
        assert seen[-1] == (6, 6) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_sign_into_another_signature_repository(ctx, registry, keys, signet_home, monkeypatch):
    made, paths = keys
    (signet_home / "config.toml").write_text('identity = "op"\n[roles]\noperator = ["op"]\n')
    context = open_context()
    ref, digest = _image(registry, "signed-elsewhere")
    result = sign_image(context, ref, LocalKeySigner(made["alice"]),
                        signature_repository=f"{registry.host}/signatures")
    assert result.verification.result == "verified"
    assert result.signature_repository == f"{registry.host}/signatures"
    policy = Verifier.for_args(context, TrustArgs(keys=[paths["alice"]]))
    context.forget_registry_cache()
    assert verify_image(context, ref, policy).result == "unsigned"
    monkeypatch.setenv("COSIGN_REPOSITORY", f"{registry.host}/signatures")
    assert verify_image(context, ref, Verifier.for_args(context, TrustArgs(keys=[paths["alice"]]))).result == "verified"
    context.close()


def test_a_cancelled_verification_stops_at_the_next_image_and_records_nothing(signet_home, registry, keys):
    """The console cancels a job by making its progress callback raise (the view or the console
    closed): the verification stops after the image in hand, not at the end of its chunk of images,
    and writes no history."""
    _, paths = keys
    (signet_home / "config.toml").write_text("[limits]\nconcurrency = 1\n")  # one thread: chunks of 3 images
    context = open_context()
    with RewritingProxy(registry.url) as proxy:
        refs = [f"{proxy.host}/cancelled:{ref.rsplit(':', 1)[1]}"
                for ref in (_image(registry, "cancelled", f"t{i}")[0] for i in range(12))]

        def cancelled(done: int, total: int) -> None:
            raise InterruptedError("view closed")

        with pytest.raises(InterruptedError):
            verify_images(context, refs, Verifier.for_args(context, TrustArgs(keys=[paths["alice"]])),
                          progress=cancelled)
        images = {path.split("/manifests/", 1)[1] for _, path, _ in proxy.seen if "/manifests/t" in path}
    assert images == {"t0"}  # not t1, t2 (the rest of its chunk)
    assert not context.store.query("SELECT id FROM verifications")
    context.close()
