"""A hostile registry against `verify_images`: every case ends in `error` or `invalid` (never
`verified`, never an exception, never a hang), within its time limit and with bounded memory.

Each case starts from an image with a valid cosign signature on `tests/support/hostile_registry.py`
(the first test proves that image verifies) and changes exactly one thing. Limits are set small in
the config so the timeouts end each case within a few seconds. Cases that could eat memory run the
verification in a child process, which reports its peak RSS; the parent kills it if its RSS passes
a hard ceiling, so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.hostile_registry import (HARD_TIMEOUT_S, OCI_INDEX, OCI_MANIFEST, SIMPLE_SIGNING, HostileRegistry,
                                            Request, SignedImage, assert_refused, bearer_challenge, canonical,
                                            cosign_signature, deeply_nested, endless, fixed, huge, lying_length,
                                            publish_signed_image, redirect, self_signed_certificate, sig_manifest,
                                            simple_signing_payload, slow_drip, token_endpoint, verify,
                                            verify_with_manifest, write_config)

REPO = Path(__file__).resolve().parent.parent
GIB = 1 << 30
MAX_RSS_GROWTH_KB = 200 * 1024       # what a hostile answer may cost us at most
RSS_CEILING_KB = 1024 * 1024         # the child is killed past this: the machine is shared


# --- harness ----------------------------------------------------------------------------------------


def _child_main(reference: str, key_path: str) -> None:
    """Child process: verify one reference, print the result and peak RSS growth as JSON."""
    import resource

    from core.context import open_context
    from core.crypto.public_keys import load_public_key
    from core.verify.policy import TrustPolicy
    from core.verify.service import verify_images
    from core.verify.verifier import Verifier

    ctx = open_context()
    policy = Verifier(TrustPolicy(keys=(load_public_key(Path(key_path).read_bytes()),)))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    [result] = verify_images(ctx, [reference], policy)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"result": result.result, "reason": result.reason, "growth_kb": peak - baseline,
                      "signatures": [c.reason for c in result.signatures]}), flush=True)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "child":
    _child_main(sys.argv[2], sys.argv[3])
    sys.exit(0)


def verify_in_child(home: Path, image: SignedImage, reference: str | None = None, **config) -> dict:
    """Verify in a child process; kill it if it passes RSS_CEILING_KB or HARD_TIMEOUT_S."""
    write_config(home, **config)
    key_path = home / "trusted.pub"
    key_path.write_bytes(image.public_pem)
    proc = subprocess.Popen([sys.executable, "-m", "tests.test_hostile_registry", "child",
                             reference or image.reference, str(key_path)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + HARD_TIMEOUT_S
    worst_kb = 0
    while proc.poll() is None:  # polling the child's memory with a deadline
        rss = _rss_kb(proc.pid)
        worst_kb = max(worst_kb, rss)
        if rss > RSS_CEILING_KB or time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"verification child killed: rss {rss} kB, {time.monotonic() - deadline + HARD_TIMEOUT_S:.1f}s")
        time.sleep(0.02)
    out, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["growth_kb"] < MAX_RSS_GROWTH_KB, f"peak RSS grew by {report['growth_kb']} kB"
    return report


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


@pytest.fixture
def hostile():
    registry = HostileRegistry()
    yield registry
    registry.stop()


@pytest.fixture
def image(hostile) -> SignedImage:
    return publish_signed_image(hostile)


def sig_manifest_of(image: SignedImage) -> dict:
    raw, _ = image.registry.manifests[(image.repo, image.sig_tag)]
    return json.loads(raw)


def replace_sig_manifest(image: SignedImage, doc: dict | bytes) -> None:
    raw = doc if isinstance(doc, bytes) else canonical(doc)
    image.registry.add_manifest(image.repo, raw, OCI_MANIFEST, image.sig_tag)


def payload_digest(image: SignedImage) -> str:
    return sig_manifest_of(image)["layers"][0]["digest"]


# --- the control: the untouched image verifies --------------------------------------------------------


def test_the_honest_image_verifies(signet_home, image):
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert result.result == "verified", result.reason
    assert result.digest == image.digest


def test_the_honest_image_verifies_in_a_child_with_small_memory(signet_home, image):
    report = verify_in_child(signet_home, image)
    assert report["result"] == "verified", report


# --- endless and oversized bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "close-delimited"])
def test_endless_image_manifest_is_cut_at_the_manifest_cap(signet_home, image, chunked):
    image.registry.override(image.manifest_path(image.tag), endless(chunked=chunked))
    report = verify_in_child(signet_home, image)
    assert report["result"] == "error", report
    assert "max_manifest_bytes" in report["reason"]


def test_endless_signature_manifest_is_an_error(signet_home, image):
    image.registry.override(image.manifest_path(image.sig_tag), endless())
    report = verify_in_child(signet_home, image)
    assert report["result"] == "error", report
    assert "max_manifest_bytes" in report["reason"]


def test_endless_payload_blob_never_verifies(signet_home, image):
    image.registry.override(image.blob_path(payload_digest(image)), endless(b"\0" * 65536))
    report = verify_in_child(signet_home, image)
    assert report["result"] in ("error", "invalid"), report


def test_descriptor_claiming_a_1gb_payload_is_refused_before_any_download(signet_home, image):
    doc = sig_manifest_of(image)
    doc["layers"][0]["size"] = GIB
    replace_sig_manifest(image, doc)
    image.registry.override(image.blob_path(), huge(GIB))
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "invalid", reason="max_payload_bytes")
    assert image.registry.requests_to(image.blob_path()) == []


@pytest.mark.parametrize("declared", ["honest", "absent", "small"])
def test_1gb_blob_behind_a_small_descriptor_is_never_read_whole(signet_home, image, declared):
    """The blob is produced lazily by the server; the client must stop at the descriptor's size."""
    handler = {"honest": huge(GIB), "small": huge(GIB, declared=100)}.get(declared)
    if handler is None:  # no Content-Length at all: the body ends when the connection closes
        def handler(request: Request) -> None:
            request.stream(200, iter([b"\0" * (1 << 20)] * 1024))
    image.registry.override(image.blob_path(payload_digest(image)), handler)
    report = verify_in_child(signet_home, image)
    assert report["result"] in ("error", "invalid"), report


def test_endless_response_headers_are_an_error(signet_home, image):
    def handler(request: Request) -> None:
        request.raw.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        while not request.stopping:
            request.raw.wfile.write(b"X-Filler: " + b"a" * 4096 + b"\r\n")
    image.registry.override(image.manifest_path(image.tag), handler)
    report = verify_in_child(signet_home, image)
    assert report["result"] == "error", report


# --- lying lengths, wrong digests -----------------------------------------------------------------------


def test_content_length_longer_than_the_body_is_an_error(signet_home, image):
    raw, _ = image.registry.manifests[(image.repo, image.tag)]
    result, _ = verify_with_manifest(signet_home, image, lying_length(raw, len(raw) + 500))
    assert_refused(result, "error")


def test_content_length_shorter_than_the_manifest_changes_the_digest_and_never_verifies(signet_home, image):
    raw, _ = image.registry.manifests[(image.repo, image.tag)]
    result, _ = verify_with_manifest(signet_home, image, lying_length(raw, len(raw) // 2))
    assert_refused(result, "error", "invalid", "unsigned")
    assert result.digest != image.digest


def test_payload_blob_with_short_content_length_is_invalid(signet_home, image):
    digest = payload_digest(image)
    image.registry.override(image.blob_path(digest), lying_length(image.payload, len(image.payload) - 10,
                                                                  content_type="application/octet-stream"))
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result)


def test_payload_blob_whose_bytes_do_not_match_the_digest_is_invalid(signet_home, image):
    other = image.payload.replace(b"cosign", b"cosigN")  # same length, other bytes
    image.registry.override(image.blob_path(payload_digest(image)),
                            fixed(other, content_type="application/octet-stream"))
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "invalid", reason="hash")


def test_manifest_whose_bytes_do_not_match_the_requested_digest_is_an_error(signet_home, image):
    other, _ = image.registry.manifests[(image.repo, image.sig_tag)]
    image.registry.override(image.manifest_path(image.digest), fixed(other))
    reference = f"{image.registry.host}/{image.repo}@{image.digest}"
    result, _ = verify(signet_home, reference, image.public_pem)
    assert_refused(result, "error", reason="hash")


def test_docker_content_digest_header_is_not_trusted(signet_home, image):
    """A registry naming the signed digest in its header while serving other bytes gets nowhere."""
    raw, _ = image.registry.manifests[(image.repo, image.tag)]
    forged = raw.replace(b'"schemaVersion":2', b'"schemaVersion":2 ')
    result, _ = verify_with_manifest(signet_home, image,
                                     fixed(forged, headers={"Docker-Content-Digest": image.digest}))
    assert_refused(result, "unsigned", "invalid")
    assert result.digest != image.digest


def test_gzip_encoded_manifest_is_refused(signet_home, image):
    import gzip

    raw, _ = image.registry.manifests[(image.repo, image.tag)]
    result, _ = verify_with_manifest(signet_home, image,
                                     fixed(gzip.compress(raw), headers={"Content-Encoding": "gzip"}))
    assert_refused(result, "error", reason="compressed")


# --- counts -------------------------------------------------------------------------------------------


def test_10000_signature_layers_are_refused_without_reading_any(signet_home, image):
    doc = sig_manifest_of(image)
    doc["layers"] = doc["layers"] * 10_000
    replace_sig_manifest(image, doc)
    report = verify_in_child(signet_home, image)
    assert report["result"] == "error", report
    assert "limit exceeded" in report["reason"] and "layers" in report["reason"]
    assert image.registry.requests_to(image.blob_path()) == []


def test_at_most_max_signatures_payloads_are_fetched(signet_home, image):
    """1000 layers (the layer limit): only the first 100 are read, so a good one at 150 does not count."""
    bad = [(simple_signing_payload(f"x/{i}", image.digest), image.signature_b64) for i in range(150)]
    manifest = sig_manifest(image.registry, bad + [(image.payload, image.signature_b64)] * 850)
    replace_sig_manifest(image, manifest)
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "invalid", reason="max_signatures")
    assert len(image.registry.requests_to(image.blob_path())) <= 100


def test_index_with_more_children_than_the_limit_is_an_error(signet_home, image):
    child = {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": 10,
             "platform": {"os": "linux", "architecture": "arm64"}}
    index = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child] * 5000})
    image.registry.add_manifest(image.repo, index, OCI_INDEX, "multi")
    result, _ = verify(signet_home, f"{image.registry.host}/{image.repo}:multi", image.public_pem,
                       platform="linux/amd64")
    assert_refused(result, "error", reason="limit exceeded")


def test_index_referring_to_itself_does_not_loop(signet_home, image):
    """An index whose child is served back as the index: no walk, no recursion, not verified."""
    def self_index(request: Request) -> None:
        body = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_INDEX, "digest": "sha256:" + "ab" * 32, "size": 200,
             "platform": {"os": "linux", "architecture": "amd64"}}]})
        request.send(200, body, content_type=OCI_INDEX)
    image.registry.override(image.manifest_path(), self_index)
    for platform in (None, "linux/amd64"):
        result, _ = verify(signet_home, image.reference, image.public_pem, platform=platform)
        assert_refused(result, "error", "unsigned", "invalid")


# --- time ---------------------------------------------------------------------------------------------


def test_slow_drip_manifest_is_ended_by_the_total_timeout(signet_home, image):
    raw, _ = image.registry.manifests[(image.repo, image.tag)]
    result, elapsed = verify_with_manifest(signet_home, image, slow_drip(raw, 1.0),
                                           limits={"read_timeout": 5.0, "total_timeout": 2.0})
    assert_refused(result, "error", reason="time")
    assert elapsed < 8.0  # total_timeout (2 s) plus slack for a loaded machine; the whole drip takes minutes


def test_slow_drip_payload_blob_is_ended_by_the_total_timeout(signet_home, image):
    image.registry.override(image.blob_path(payload_digest(image)),
                            slow_drip(image.payload, 0.5, content_type="application/octet-stream"))
    result, elapsed = verify(signet_home, image.reference, image.public_pem,
                             limits={"read_timeout": 5.0, "total_timeout": 2.0})
    assert_refused(result, "error", "invalid")
    assert elapsed < 8.0


def test_slow_drip_of_the_response_headers_is_ended_by_the_total_timeout(signet_home, image):
    result, elapsed = verify_with_manifest(signet_home, image, _drip_headers,
                                           limits={"read_timeout": 5.0, "total_timeout": 2.0})
    assert_refused(result, "error")
    assert elapsed < 8.0


def assert_read_timeout_ends_it(signet_home, image: SignedImage, handler) -> None:
    """A manifest answer that stops short is a timeout error within the 1 s read / 3 s total limits."""
    result, elapsed = verify_with_manifest(signet_home, image, handler,
                                           limits={"read_timeout": 1.0, "total_timeout": 3.0})
    assert_refused(result, "error", reason="timed out")
    assert elapsed < 7.0


def test_body_that_stalls_after_the_headers_is_a_timeout_error(signet_home, image):
    raw, _ = image.registry.manifests[(image.repo, image.tag)]

    def stall(request: Request) -> None:
        request.stream(200, iter([raw[:10]]), content_type=OCI_MANIFEST, content_length=len(raw))
        request.registry.stopping.wait(30)
    assert_read_timeout_ends_it(signet_home, image, stall)


def test_server_that_never_answers_is_ended_by_the_read_timeout(signet_home, image):
    def silent(request: Request) -> None:
        request.registry.stopping.wait(30)
    assert_read_timeout_ends_it(signet_home, image, silent)


# --- redirects and authentication -----------------------------------------------------------------------


def test_redirect_loop_stops_at_max_redirects(signet_home, image):
    path = f"/v2/{image.repo}/manifests/{image.tag}"
    result, _ = verify_with_manifest(signet_home, image, redirect(path), limits={"max_redirects": 3})
    assert_refused(result, "error", reason="max_redirects")
    assert len(image.registry.requests_to(image.manifest_path(image.tag))) <= 4


def test_authorization_does_not_follow_a_redirect_to_another_host(signet_home, image):
    """Bearer auth on the registry; blobs redirect to a 'CDN' on 127.0.0.2, which must see no token."""
    cdn = HostileRegistry(host_ip="127.0.0.2")
    try:
        cdn.blobs.update(image.registry.blobs)
        registry = image.registry
        registry.override(r"/token", token_endpoint("s3cr3t-token"))
        registry.override(r"/v2/.+", bearer_challenge(f"{registry.url}/token", token="s3cr3t-token"), method="*")
        registry.override(image.blob_path(),
                          redirect(lambda req: f"{cdn.url}/v2/{image.repo}/blobs/{req.path.rsplit('/', 1)[1]}"))
        result, _ = verify(signet_home, image.reference, image.public_pem)
        assert result.result == "verified", result.reason  # following the redirect is legitimate
        assert cdn.requests_to(r"/v2/.+/blobs/.+"), "the blob never came from the CDN"
        for seen in cdn.seen:
            assert "authorization" not in seen.headers, f"token leaked to {seen.host}{seen.path}"
        assert any(r.headers.get("authorization") == "Bearer s3cr3t-token" for r in registry.seen)
    finally:
        cdn.stop()


def test_redirect_to_a_url_with_credentials_or_another_scheme_is_refused(signet_home, image):
    for location in ("http://user:pw@127.0.0.2:1/x", "file:///etc/passwd", "ftp://127.0.0.1/x"):
        result, _ = verify_with_manifest(signet_home, image, redirect(location))
        assert_refused(result, "error", reason="redirect")


def test_401_forever_is_an_error_after_one_challenge(signet_home, image):
    registry = image.registry
    registry.override(r"/token", token_endpoint("never-accepted"))
    registry.override(r"/v2/.+", bearer_challenge(f"{registry.url}/token", token="other"), method="*")
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "error", reason="401")
    assert len(registry.requests_to(r"/token")) <= 2


def test_endless_token_answer_is_capped(signet_home, image):
    registry = image.registry
    registry.override(r"/token", endless(b'{"token":"' + b"a" * 65536))
    registry.override(r"/v2/.+", bearer_challenge(f"{registry.url}/token"), method="*")
    report = verify_in_child(signet_home, image)
    assert report["result"] == "error", report


def test_token_realm_with_user_info_is_refused(signet_home, image):
    registry = image.registry
    registry.override(r"/v2/.+", bearer_challenge(f"http://evil:pw@{registry.host}/token"), method="*")
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "error", reason="realm")
    assert registry.requests_to(r"/token") == []


# --- TLS (the registry is named 0.0.0.0, not a loopback name, so plain HTTP is not assumed) --------------


@pytest.fixture
def tls_registry(tmp_path):
    cert_pem, key_pem = self_signed_certificate("0.0.0.0")
    registry = HostileRegistry(public_ip="0.0.0.0", tls=(cert_pem, key_pem), tls_dir=tmp_path)
    (tmp_path / "ca.pem").write_bytes(cert_pem)
    yield registry
    registry.stop()


def _tls_image(registry: HostileRegistry) -> tuple[SignedImage, str]:
    image = publish_signed_image(registry)
    return image, image.reference


def test_self_signed_tls_is_refused_by_default(signet_home, tls_registry):
    image, reference = _tls_image(tls_registry)
    result, _ = verify(signet_home, reference, image.public_pem)
    assert_refused(result, "error", reason="certificate")


def test_self_signed_tls_is_accepted_with_its_ca_file_or_insecure(signet_home, tls_registry, tmp_path):
    image, reference = _tls_image(tls_registry)
    url = f"https://0.0.0.0:{tls_registry.port}"
    for extra in ({"ca_file": str(tmp_path / "ca.pem")}, {"insecure": True}):
        registries = [{"name": "selfsigned", "url": url, "auth": "anonymous", **extra}]
        result, _ = verify(signet_home, reference, image.public_pem, registries=registries)
        assert result.result == "verified", (extra, result.reason)


def test_plain_http_realm_for_a_tls_registry_is_refused_and_gets_no_password(signet_home, tls_registry, tmp_path,
                                                                            monkeypatch):
    image, reference = _tls_image(tls_registry)
    realm = HostileRegistry(public_ip="0.0.0.0")
    try:
        realm.override(r"/token", token_endpoint())
        tls_registry.override(r"/v2/.+", bearer_challenge(f"http://0.0.0.0:{realm.port}/token"), method="*")
        monkeypatch.setenv("HOSTILE_PASSWORD", "hunter2")
        registries = [{"name": "selfsigned", "url": f"https://0.0.0.0:{tls_registry.port}", "auth": "basic",
                       "username": "alice", "password_env": "HOSTILE_PASSWORD",
                       "ca_file": str(tmp_path / "ca.pem")}]
        result, _ = verify(signet_home, reference, image.public_pem, registries=registries)
        assert_refused(result, "error", reason="https")
        assert realm.seen == [], "the token request went to a plain-HTTP realm"
    finally:
        realm.stop()


# --- malformed documents --------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b"{not json", b"\xff\xfe\x00{}", b"[]", b'{"layers": "no"}', b'{"layers": [1, 2]}',
    b'{"layers": [], "layers": [{}]}', b'{"schemaVersion": NaN}',
], ids=["malformed", "not-utf8", "array", "layers-string", "layers-numbers", "duplicate-key", "nan"])
def test_malformed_signature_manifest_is_an_error(signet_home, image, body):
    image.registry.override(image.manifest_path(image.sig_tag), fixed(body))
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "error", "invalid", "unsigned")


def test_deeply_nested_signature_manifest_is_an_error(signet_home, image):
    image.registry.override(image.manifest_path(image.sig_tag), fixed(deeply_nested(200_000)))
    report = verify_in_child(signet_home, image)
    assert report["result"] == "error", report


def test_deeply_nested_payload_signed_by_the_trusted_key_is_invalid(signet_home, image):
    payload = b'{"critical":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    manifest = sig_manifest(image.registry, [(payload, cosign_signature(image.private_key, payload))])
    replace_sig_manifest(image, manifest)
    result, _ = verify(signet_home, image.reference, image.public_pem, limits={"max_payload_bytes": 1 << 20})
    assert_refused(result, "invalid", reason="payload")


@pytest.mark.parametrize("media_type", ["text/html", "application/vnd.oci.image.layer.v1.tar", ""])
def test_signature_layer_with_a_wrong_media_type_is_invalid(signet_home, image, media_type):
    doc = sig_manifest_of(image)
    doc["layers"][0]["mediaType"] = media_type
    replace_sig_manifest(image, doc)
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "invalid", "error")


def test_html_error_page_instead_of_a_manifest_is_not_verified(signet_home, image):
    image.registry.override(image.manifest_path(image.sig_tag),
                            fixed(b"<html><body>Login</body></html>", content_type="text/html"))
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "error")


def test_signature_for_another_digest_is_invalid(signet_home, image):
    other = "sha256:" + "0" * 64
    payload = simple_signing_payload(f"{image.registry.host}/{image.repo}", other)
    replace_sig_manifest(image, sig_manifest(image.registry, [(payload, cosign_signature(image.private_key, payload))]))
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "invalid", reason="not this image")


def test_layer_descriptor_with_a_non_sha256_digest_is_an_error(signet_home, image):
    doc = sig_manifest_of(image)
    doc["layers"][0]["digest"] = "sha512:" + "a" * 128
    replace_sig_manifest(image, doc)
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "error", "invalid")
    assert image.registry.requests_to(image.blob_path()) == []


def test_path_traversal_in_a_descriptor_digest_is_never_requested(signet_home, image):
    doc = sig_manifest_of(image)
    doc["layers"][0]["digest"] = "sha256:../../../../v2/_catalog"
    replace_sig_manifest(image, doc)
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "error", "invalid")
    assert not any("_catalog" in r.path or ".." in r.path for r in image.registry.seen)


def test_simple_signing_layer_type_but_empty_signature_annotation_is_invalid(signet_home, image):
    for signature in ("", "!!!not base64!!!", "AAAA"):
        doc = sig_manifest_of(image)
        doc["layers"][0]["annotations"] = {"dev.cosignproject.cosign/signature": signature}
        doc["layers"][0]["mediaType"] = SIMPLE_SIGNING
        replace_sig_manifest(image, doc)
        result, _ = verify(signet_home, image.reference, image.public_pem)
        assert_refused(result, "invalid")


def test_descriptor_digest_with_a_trailing_newline_is_never_requested(signet_home, image):
    """`^sha256:[a-f0-9]{64}$` with re.match accepts a trailing newline; a registry must not get one in."""
    doc = sig_manifest_of(image)
    doc["layers"][0]["digest"] += "\n"
    replace_sig_manifest(image, doc)
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "error", "invalid")
    assert image.registry.requests_to(image.blob_path()) == []


NESTED = b"[" * 50_000 + b"]" * 50_000


def test_deeply_nested_manifest_is_a_named_error_in_process(signet_home, image):
    result, _ = verify_with_manifest(signet_home, image, fixed(b'{"a":' + NESTED[:14_000] + b"}"))
    assert_refused(result, "error", "unsigned", "invalid")


def test_deeply_nested_error_body_is_a_named_error(signet_home, image):
    result, _ = verify_with_manifest(signet_home, image, fixed(NESTED[:8000] + NESTED[-8000:], status=404))
    assert_refused(result, "error")


def test_deeply_nested_token_answer_is_a_named_error(signet_home, image):
    registry = image.registry
    registry.override(r"/token", fixed(b'{"token":' + NESTED[:100_000] + b"}"))
    registry.override(r"/v2/.+", bearer_challenge(f"{registry.url}/token"), method="*")
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "error")


def test_several_slow_signatures_are_bounded_by_total_timeout_each(signet_home, image):
    """The documented bound (SECURITY.md): total_timeout per registry operation, so an image whose
    three payloads all drip ends after about three total_timeouts, not never."""
    payloads = [image.payload + b" " * i for i in range(3)]
    replace_sig_manifest(image, sig_manifest(image.registry, [(p, image.signature_b64) for p in payloads]))
    image.registry.override(image.blob_path(), slow_drip(b"x" * 200, 0.2, content_type="application/octet-stream"))
    result, elapsed = verify(signet_home, image.reference, image.public_pem,
                             limits={"read_timeout": 5.0, "total_timeout": 1.0})
    assert_refused(result, "invalid", "error")
    assert len(result.signatures) == 3
    assert elapsed < 3 * 1.0 + 6.0


def test_deeply_nested_docker_config_is_a_named_error(signet_home, image, monkeypatch, tmp_path):
    """Credentials are looked up on the first 401: a broken ~/.docker/config.json is reported, not a crash."""
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_bytes(b'{"auths":' + NESTED[:40_000] + b"}")
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    registry = image.registry
    registry.override(r"/token", token_endpoint())
    registry.override(r"/v2/.+", bearer_challenge(f"{registry.url}/token"), method="*")
    result, _ = verify(signet_home, image.reference, image.public_pem)
    assert_refused(result, "error", reason="config.json")


def test_https_registry_redirecting_to_plain_http_is_refused(signet_home, tls_registry, tmp_path):
    image, reference = _tls_image(tls_registry)
    plain = HostileRegistry(public_ip="0.0.0.0")
    try:
        plain.blobs.update(tls_registry.blobs)
        tls_registry.override(image.blob_path(), redirect(
            lambda req: f"{plain.url}/v2/{image.repo}/blobs/{req.path.rsplit('/', 1)[1]}"))
        registries = [{"name": "selfsigned", "url": f"https://{tls_registry.host}", "auth": "anonymous",
                       "ca_file": str(tmp_path / "ca.pem")}]
        result, _ = verify(signet_home, reference, image.public_pem, registries=registries)
        assert_refused(result, "error", "invalid", reason="plain HTTP")
        assert plain.seen == [], "a TLS registry downgraded us to plain HTTP"
    finally:
        plain.stop()


def _drip_headers(request: Request) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Slow: " + b"a" * 200
    for i in range(len(head)):
        request.raw.wfile.write(head[i:i + 1])
        request.raw.wfile.flush()
        if request.registry.stopping.wait(0.5):
            return


def test_token_endpoint_dripping_its_headers_is_ended_by_the_total_timeout(signet_home, image):
    registry = image.registry
    registry.override(r"/token", _drip_headers)
    registry.override(r"/v2/.+", bearer_challenge(f"{registry.url}/token"), method="*")
    result, elapsed = verify(signet_home, image.reference, image.public_pem,
                             limits={"read_timeout": 5.0, "total_timeout": 2.0})
    assert_refused(result, "error")
    assert elapsed < 8.0


def test_image_timeout_bounds_one_image_whatever_the_number_of_slow_requests(signet_home, image):
    """With 20 dripping payloads, total_timeout alone would allow 20 of them; image_timeout ends it."""
    payloads = [image.payload + b" " * i for i in range(20)]
    replace_sig_manifest(image, sig_manifest(image.registry, [(p, image.signature_b64) for p in payloads]))
    image.registry.override(image.blob_path(), slow_drip(b"x" * 200, 0.2, content_type="application/octet-stream"))
    result, elapsed = verify(signet_home, image.reference, image.public_pem,
                             limits={"read_timeout": 5.0, "total_timeout": 1.0, "image_timeout": 2.5})
    assert_refused(result, "error", reason="timed out")
    assert elapsed < 2.5 + 5.0  # not 20 x total_timeout
