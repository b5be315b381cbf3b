"""The HTTP registry client against a real docker-registry, behind loopback proxies that add auth,
redirects, oversized or chunked bodies; plus docker config / credential helpers, ECR on moto, the
OCI layout source and paginated listings."""

from __future__ import annotations

import base64
import json
import os
import threading

import pytest

from core.config.loader import load_config
from core.context import open_context
from core.errors import ConfigError, DigestMismatch, LimitExceeded, NotFound, RegistryError
from core.registry import http_registry
from core.registry.auth import docker_credentials, ecr_credentials, parse_challenge
from core.registry.client import open_registry
from core.registry.http_registry import HttpRegistry
from core.registry.reference import parse_reference
from core.sign.service import LocalKeySigner, sign_image
from core.verify.policy import TrustArgs
from core.verify.service import verify_image
from core.verify.verifier import Verifier
from tests.support.oci import (RewritingProxy, build_image, digest_of, new_key, push_image, push_signatures,
                               self_signed_certificate, signature_layer, write_public_key)


def _lower(headers: dict) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def signed(registry, tmp_path):
    """An image `app:v1` signed by a fresh key; returns (digest, public key path)."""
    key = new_key()
    digest = push_image(registry.url, "app", "v1")
    push_signatures(registry.url, "app", digest, [signature_layer(key, "x", digest)])
    return digest, str(write_public_key(tmp_path / "k.pub", key))


def _context(signet_home, config: str = ""):
    (signet_home / "config.toml").write_text(config)
    return open_context()


def _verify_via(proxy: RewritingProxy, signet_home, pub: str, config: str = ""):
    """Verify `app:v1` through `proxy` with a fresh context using `config`."""
    ctx = _context(signet_home, config)
    try:
        return verify_image(ctx, f"{proxy.host}/app:v1", Verifier.for_args(ctx, TrustArgs(keys=[pub])))
    finally:
        ctx.close()


def _basic_config(proxy: RewritingProxy, user: str, password_env: str) -> str:
    return (f'[[registries]]\nname = "p"\nurl = "http://{proxy.host}"\nauth = "basic"\n'
            f'username = "{user}"\npassword_env = "{password_env}"\n')


def _credential_helper(tmp_path, monkeypatch, name: str, script: str) -> None:
    """A `docker-credential-<name>` shell script on PATH."""
    helper_dir = tmp_path / "bin"
    helper_dir.mkdir(exist_ok=True)
    helper = helper_dir / f"docker-credential-{name}"
    helper.write_text(f"#!/bin/sh\n{script}\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper_dir}:{os.environ['PATH']}")


def _docker_config(home, doc: dict) -> None:
    path = home / ".docker"
    path.mkdir(exist_ok=True)
    (path / "config.json").write_text(json.dumps(doc))


def test_bearer_token_challenge_with_docker_config_credentials(signet_home, isolated_home, registry, signed):
    digest, pub = signed
    issued: list[str] = []
    token_requests: list[tuple[str, dict]] = []

    def token_gate(method, path, headers):
        token_requests.append((path, _lower(headers)))
        if _lower(headers).get("authorization") != _basic("ci", "s3cret"):
            return 401, {}, b""
        issued.append(f"tok-{len(issued)}")
        return 200, {"Content-Type": "application/json"}, json.dumps({"token": issued[-1], "expires_in": 300}).encode()

    with RewritingProxy(registry.url, gate=token_gate) as tokens:
        def registry_gate(method, path, headers):
            auth = _lower(headers).get("authorization", "")
            if auth.startswith("Bearer ") and auth[7:] in issued:
                return None
            challenge = f'Bearer realm="{tokens.url}/token",service="test-registry",scope="repository:app:pull"'
            return 401, {"WWW-Authenticate": challenge}, b'{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}'

        with RewritingProxy(registry.url, gate=registry_gate) as proxy:
            _docker_config(isolated_home, {"auths": {proxy.host: {"auth": base64.b64encode(b"ci:s3cret").decode()}}})
            result = _verify_via(proxy, signet_home, pub)
    assert result.result == "verified", result.reason
    assert len(issued) == 1  # one token, reused for every request of the same scope
    path, headers = token_requests[0]
    assert "service=test-registry" in path and "scope=repository%3Aapp%3Apull" in path


def test_basic_auth_from_a_credential_helper(signet_home, isolated_home, registry, signed, tmp_path, monkeypatch):
    _, pub = signed
    log = tmp_path / "helper.log"
    _credential_helper(tmp_path, monkeypatch, "signettest",
                       f"cat > {log}\necho '{{\"Username\": \"robot\", \"Secret\": \"pw\"}}'")

    def gate(method, path, headers):
        if _lower(headers).get("authorization") == _basic("robot", "pw"):
            return None
        return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, b""

    with RewritingProxy(registry.url, gate=gate) as proxy:
        _docker_config(isolated_home, {"credHelpers": {proxy.host: "signettest"}})
        result = _verify_via(proxy, signet_home, pub)
    assert result.result == "verified", result.reason
    assert log.read_text() == proxy.host


@pytest.mark.parametrize("challenge, reason", [
    ('Bearer realm="http://auth.example.invalid/token",service="x"', "token realm must use https"),  # off loopback
    ('Basic realm="registry"', "no credentials"),
])
def test_a_challenge_signet_must_not_answer_is_an_error_saying_why(signet_home, registry, signed, challenge, reason):
    _, pub = signed

    def gate(method, path, headers):
        return 401, {"WWW-Authenticate": challenge}, b""

    with RewritingProxy(registry.url, gate=gate) as proxy:
        result = _verify_via(proxy, signet_home, pub)
    assert result.result == "error" and reason in result.reason


def test_basic_auth_from_config_password_env(signet_home, registry, signed, monkeypatch):
    _, pub = signed
    monkeypatch.setenv("REG_PW", "hunter2")

    def gate(method, path, headers):
        if _lower(headers).get("authorization") == _basic("svc", "hunter2"):
            return None
        return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, b""

    with RewritingProxy(registry.url, gate=gate) as proxy:
        result = _verify_via(proxy, signet_home, pub, _basic_config(proxy, "svc", "REG_PW"))
    assert result.result == "verified", result.reason


def test_redirect_to_another_host_drops_authorization(signet_home, registry, signed, monkeypatch):
    digest, pub = signed
    with RewritingProxy(registry.url) as storage:
        def gate(method, path, headers):
            if "/blobs/" in path and method == "GET":
                return 307, {"Location": storage.url + path}, b""
            if _lower(headers).get("authorization") == _basic("u", "p"):
                return None
            return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""

        with RewritingProxy(registry.url, gate=gate) as proxy:
            monkeypatch.setenv("PW_FOR_TEST", "p")
            result = _verify_via(proxy, signet_home, pub, _basic_config(proxy, "u", "PW_FOR_TEST"))
    assert result.result == "verified", result.reason
    assert storage.seen and all("authorization" not in _lower(h) for _, _, h in storage.seen)
    assert any("authorization" in _lower(h) for _, _, h in proxy.seen)


def test_redirect_loops_stop_at_the_limit(signet_home, registry, signed):
    _, pub = signed

    def gate(method, path, headers):
        return 302, {"Location": path}, b""

    with RewritingProxy(registry.url, gate=gate) as proxy:
        result = _verify_via(proxy, signet_home, pub, "[limits]\nmax_redirects = 3\n")
    assert result.result == "error" and "max_redirects" in result.reason
    assert len(proxy.seen) == 4


@pytest.mark.parametrize("mode", ["chunked", "declared"])
def test_manifest_cap_holds_with_or_without_content_length(signet_home, registry, signed, mode):
    _, pub = signed
    big = b"{" + b" " * 50_000 + b"}"

    def rewrite(method, path, status, headers, body):
        if path.endswith("/manifests/v1"):
            return 200, {**headers, **({"X-Test-Chunked": "1"} if mode == "chunked" else {})}, big
        return status, headers, body

    with RewritingProxy(registry.url, rewrite) as proxy:
        result = _verify_via(proxy, signet_home, pub, "[limits]\nmax_manifest_bytes = 10000\n")
    assert result.result == "error" and "max_manifest_bytes" in result.reason


def test_slow_registry_times_out(signet_home, registry, signed):
    _, pub = signed
    release = threading.Event()

    def gate(method, path, headers):
        release.wait(10)  # holds the answer past the client's read timeout
        return None

    with RewritingProxy(registry.url, gate=gate) as proxy:
        try:
            result = _verify_via(proxy, signet_home, pub, "[limits]\nread_timeout = 0.3\n")
        finally:
            release.set()
    assert result.result == "error" and "timed out" in result.reason


def test_client_level_digest_and_size_checks(registry):
    image = build_image()
    digest = push_image(registry.url, "direct", "v1", image)
    layer_digest = digest_of(image.blobs[1])
    client = HttpRegistry(registry.host, config=load_config(None))
    try:
        assert client.get_manifest("direct", "v1").raw == image.manifest
        assert client.get_manifest("direct", digest).digest == digest
        assert client.get_blob("direct", layer_digest, max_bytes=10_000) == image.blobs[1]
        with pytest.raises(LimitExceeded):
            client.get_blob("direct", layer_digest, max_bytes=10)
        with pytest.raises(NotFound):
            client.get_manifest("direct", "missing")
    finally:
        client.close()
    # asked by digest, served other bytes (with the asked digest in Docker-Content-Digest)
    tamper = lambda m, p, s, h, b: (s, {**h, "Docker-Content-Digest": digest}, b + b" ")  # noqa: E731
    with RewritingProxy(registry.url, tamper) as proxy:
        liar = HttpRegistry(proxy.host, config=load_config(None))
        try:
            with pytest.raises(DigestMismatch):
                liar.get_manifest("direct", digest)
            with pytest.raises(DigestMismatch):
                liar.get_blob("direct", layer_digest, max_bytes=10_000)
        finally:
            liar.close()


def test_plain_http_refused_off_loopback_unless_allowed(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[[registries]]\nname = "r"\nurl = "http://registry.example"\n')
    config = load_config(path)
    with pytest.raises(ConfigError):
        HttpRegistry("registry.example", config=config)
    HttpRegistry("registry.example", config=config, allow_http=True).close()
    assert HttpRegistry("registry.example", config=load_config(None)).scheme == "https"
    client = HttpRegistry("registry.example", config=load_config(None))
    try:
        with pytest.raises(RegistryError):
            client._redirect_target("https://registry.example/v2/x", "http://cdn.example/blob")
        assert client._redirect_target("https://registry.example/v2/x", "/v2/y") == "https://registry.example/v2/y"
    finally:
        client.close()


def test_catalog_and_tags_follow_link_pagination(registry, monkeypatch):
    monkeypatch.setattr(http_registry, "PAGE_SIZE", 2)
    for repo in ("a", "b", "c"):
        push_image(registry.url, repo, "t")
    for tag in ("t1", "t2", "t3", "t4"):
        push_image(registry.url, "a", tag)
    client = HttpRegistry(registry.host, config=load_config(None))
    try:
        assert client.catalog() == ["a", "b", "c"]
        assert client.requests == 2  # two pages of at most 2, linked by the registry's Link header
        # (docker-registry 2.8 answers tag lists in one page whatever n says)
        assert sorted(client.list_tags("a")) == ["t", "t1", "t2", "t3", "t4"]
    finally:
        client.close()


def test_challenge_parsing():
    scheme, params = parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="a:b:pull,push"')
    assert scheme == "bearer" and params == {"realm": "https://auth.example/token", "service": "reg",
                                             "scope": "a:b:pull,push"}


def test_ecr_token_from_moto(aws_endpoint):
    creds = ecr_credentials("123456789012.dkr.ecr.us-east-1.amazonaws.com", load_config(None))
    assert creds.username == "AWS" and creds.password
    with pytest.raises(ConfigError):
        ecr_credentials("registry.example", load_config(None))


def test_oci_layout_read_write_sign_and_verify(signet_home, tmp_path):
    (signet_home / "config.toml").write_text('identity = "o"\n[roles]\noperator = ["o"]\n')
    ctx = open_context()
    layout = tmp_path / "layout"
    ref = parse_reference(f"oci:{layout}:v1")
    source = open_registry(ctx.config, ref)
    image = build_image()
    source.init()
    for blob in image.blobs:
        source.put_blob("", blob)
    source.put_manifest("", "v1", image.manifest, image.media_type)
    assert source.resolve(ref).digest == image.digest and source.list_tags("") == ["v1"]
    key = new_key()
    pub = write_public_key(tmp_path / "k.pub", key)
    policy = Verifier.for_args(ctx, TrustArgs(keys=[str(pub)]))
    assert verify_image(ctx, ref, policy).result == "unsigned"
    signed = sign_image(ctx, ref, LocalKeySigner(key))
    assert signed.verification.result == "verified"
    ctx.forget_registry_cache()
    assert verify_image(ctx, ref, policy).result == "verified"
    (layout / "blobs" / "sha256" / image.digest.split(":")[1]).write_bytes(image.manifest + b" ")
    ctx.forget_registry_cache()
    tampered = verify_image(ctx, ref, policy)
    ctx.close()
    assert tampered.result == "error" and "hashes to" in tampered.reason


def test_creds_store_without_an_entry_falls_back_to_auths(isolated_home, tmp_path, monkeypatch):
    _credential_helper(tmp_path, monkeypatch, "emptystore", "echo 'credentials not found in native keychain'\nexit 1")
    hub_auth = {"auth": base64.b64encode(b"hub:pw").decode()}
    _docker_config(isolated_home, {"credsStore": "emptystore", "auths": {"https://index.docker.io/v1/": hub_auth}})
    hub = docker_credentials("docker.io")
    assert (hub.username, hub.password) == ("hub", "pw")
    assert docker_credentials("registry.example") is None
    assert "pw" not in repr(hub)


def test_broken_credential_helper_is_an_error(isolated_home, tmp_path, monkeypatch):
    _credential_helper(tmp_path, monkeypatch, "broken", "echo 'not json'")
    _docker_config(isolated_home, {"credHelpers": {"registry.example": "broken", "other.example": "missing-helper"}})
    with pytest.raises(RegistryError, match="no Username/Secret"):
        docker_credentials("registry.example")
    with pytest.raises(RegistryError, match="not installed"):
        docker_credentials("other.example")


def test_tls_is_verified_unless_a_ca_or_insecure_is_configured(signet_home, registry, signed, tmp_path):
    _, pub = signed
    cert, key = self_signed_certificate(tmp_path)
    with RewritingProxy(registry.url, tls=(cert, key)) as proxy:
        https = f'[[registries]]\nname = "tls"\nurl = "https://{proxy.host}"\n'
        refused = _verify_via(proxy, signet_home, pub, https)
        assert refused.result == "error" and "CERTIFICATE_VERIFY_FAILED" in refused.reason
        assert _verify_via(proxy, signet_home, pub, https + f'ca_file = "{cert}"\n').result == "verified"
        assert _verify_via(proxy, signet_home, pub, https + "insecure = true\n").result == "verified"
        # the system's CA bundle is loaded once per process and shared; a configured CA never joins it
        again = _verify_via(proxy, signet_home, pub, https)
        assert again.result == "error" and "CERTIFICATE_VERIFY_FAILED" in again.reason
    config = load_config(None)
    assert HttpRegistry("a.example", config=config)._tls is HttpRegistry("b.example", config=config)._tls


def test_an_oci_layout_that_cannot_be_read_fails_as_a_registry_naming_it(tmp_path):
    from core.config.model import LimitsConfig
    from core.registry.layout import OciLayout

    layout = OciLayout(str(tmp_path), limits=LimitsConfig(max_manifest_bytes=1024))
    ref = parse_reference(f"oci:{tmp_path}:v1")
    with pytest.raises(NotFound, match=f"index.json not found in oci:{tmp_path}"):
        layout.resolve(ref)
    (tmp_path / "index.json").mkdir()  # there, but not a file
    with pytest.raises(RegistryError, match=f"^oci:{tmp_path}: cannot read index.json .*Is a directory"):
        layout.resolve(ref)
    (tmp_path / "index.json").rmdir()
    (tmp_path / "index.json").write_text(json.dumps({"manifests": [], "pad": "x" * 1024}))
    with pytest.raises(LimitExceeded, match="index.json .*more than 1024 bytes") as refused:
        layout.resolve(ref)
    assert refused.value.exit_code == 3  # a registry's failure, not the user's input
