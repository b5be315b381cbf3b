"""A loopback OCI registry that misbehaves on purpose.

`HostileRegistry` is a threaded HTTP(S) server on 127.0.0.x that serves honest content (manifests by
tag and digest, blobs by digest) until a test installs an override for a path: then that handler
answers instead, with an endless body, a lying Content-Length, a slow drip, a redirect, an auth
challenge, or bytes that do not match their digest. Every request is recorded (method, path,
headers) so tests can assert what the client sent where, e.g. that Authorization did not follow a
redirect to another host.

`publish_signed_image` puts a small image and a real cosign signature (simple-signing payload
signed with an ECDSA P-256 key, `.sig` tag manifest) on a registry, so each hostile case differs
from a verifiable image in exactly one way.

Streaming handlers check `stopping` and the server sets a socket timeout, so no handler thread
outlives the test even when the client walks away from a half-read response.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import re
import ssl
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_TYPE = "cosign container image signature"
SOCKET_TIMEOUT_S = 10.0

Handler = Callable[["Request"], None]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    host: str  # the server (host:port) that received it


class Request:
    """What a handler gets: the parsed request and ways to answer it, honestly or not."""

    def __init__(self, raw: BaseHTTPRequestHandler, registry: "HostileRegistry") -> None:
        self.raw = raw
        self.registry = registry
        self.method = raw.command
        self.path = raw.path
        self.headers = {k.lower(): v for k, v in raw.headers.items()}

    @property
    def stopping(self) -> bool:
        return self.registry.stopping.is_set()

    def send(self, status: int, body: bytes = b"", *, content_type: str = "application/json",
             headers: dict[str, str] | None = None, content_length: int | None = None) -> None:
        """An answer; `content_length` may lie (the connection is closed after a lie)."""
        self.raw.send_response(status)
        self.raw.send_header("Content-Type", content_type)
        length = len(body) if content_length is None else content_length
        self.raw.send_header("Content-Length", str(length))
        for name, value in (headers or {}).items():
            self.raw.send_header(name, value)
        if length != len(body):
            self.raw.send_header("Connection", "close")
            self.raw.close_connection = True
        self.raw.end_headers()
        if self.method != "HEAD":
            self._write(body)

    def stream(self, status: int, chunks: Iterable[bytes], *, content_type: str = "application/octet-stream",
               headers: dict[str, str] | None = None, content_length: int | None = None,
               chunked: bool = False) -> None:
        """A lazily produced body: with a Content-Length, chunked, or delimited by closing the connection."""
        self.raw.send_response(status)
        self.raw.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.raw.send_header(name, value)
        if content_length is not None:
            self.raw.send_header("Content-Length", str(content_length))
        if chunked:
            self.raw.send_header("Transfer-Encoding", "chunked")
        if not chunked:
            self.raw.send_header("Connection", "close")
        self.raw.close_connection = True
        self.raw.end_headers()
        for chunk in chunks:
            if self.stopping:
                return
            if chunked:
                self._write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            else:
                self._write(chunk)
        if chunked:
            self._write(b"0\r\n\r\n")

    def _write(self, data: bytes) -> None:
        self.raw.wfile.write(data)
        self.raw.wfile.flush()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    server: "_Server"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        pass

    def _dispatch(self) -> None:
        registry = self.server.registry
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 16 * 1024 * 1024))
        request = Request(self, registry)
        registry.record(request)
        try:
            registry.handler_for(request)(request)
        except (BrokenPipeError, ConnectionResetError, TimeoutError, ssl.SSLError, OSError):
            self.close_connection = True  # the client walked away: that is what hostile tests expect

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    registry: "HostileRegistry"

    def handle_error(self, request, client_address) -> None:  # a reset client is not a test failure
        pass


@dataclass
class HostileRegistry:
    """A registry listening on `host_ip` (any 127.0.0.x). `tls` = (cert_pem, key_pem) serves HTTPS.

    `public_ip` is the address clients are told to use, when it differs: "0.0.0.0" reaches a
    127.0.0.1 listener on Linux but is not a loopback name, so clients treat it as a remote host.
    """

    host_ip: str = "127.0.0.1"
    public_ip: str = ""
    tls: tuple[bytes, bytes] | None = None
    tls_dir: Path | None = None
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    seen: list[SeenRequest] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._overrides: list[tuple[str, re.Pattern, Handler]] = []
        self._lock = threading.Lock()
        self._server = _Server((self.host_ip, 0), _RequestHandler)
        self._server.registry = self
        if self.tls is not None:
            # The handshake runs lazily in the handler thread, so a client that refuses the
            # certificate (or stalls) never blocks the accept loop.
            self._server.socket = _tls_context(self.tls, self.tls_dir).wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    # --- addresses ----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        return f"{self.public_ip or self.host_ip}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # --- content ------------------------------------------------------------------------------------

    def add_blob(self, data: bytes) -> dict:
        digest = digest_of(data)
        self.blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    def add_manifest(self, repo: str, raw: bytes, media_type: str, *tags: str) -> str:
        digest = digest_of(raw)
        for ref in (digest, *tags):
            self.manifests[(repo, ref)] = (raw, media_type)
        return digest

    def override(self, pattern: str, handler: Handler, *, method: str = "GET") -> None:
        """Answer requests whose path fully matches `pattern` (a regexp) with `handler` instead."""
        with self._lock:
            self._overrides.insert(0, (method, re.compile(pattern), handler))

    def requests_to(self, pattern: str) -> list[SeenRequest]:
        regex = re.compile(pattern)
        with self._lock:
            return [r for r in self.seen if regex.fullmatch(r.path.split("?")[0])]

    # --- serving ------------------------------------------------------------------------------------

    def record(self, request: Request) -> None:
        with self._lock:
            self.seen.append(SeenRequest(request.method, request.path, dict(request.headers), self.host))

    def handler_for(self, request: Request) -> Handler:
        path = request.path.split("?")[0]
        with self._lock:
            for method, pattern, handler in self._overrides:
                if method in (request.method, "*") or (method == "GET" and request.method == "HEAD"):
                    if pattern.fullmatch(path):
                        return handler
        return self.serve_honestly

    def serve_honestly(self, request: Request) -> None:
        path = request.path.split("?")[0]
        if path in ("/v2/", "/v2"):
            request.send(200, b"{}")
            return
        match = re.fullmatch(r"/v2/(.+)/(manifests|blobs|referrers|tags)/(.+)", path)
        if not match:
            request.send(404, canonical({"errors": [{"code": "NAME_UNKNOWN", "message": "no such thing"}]}))
            return
        repo, kind, ref = match.groups()
        if kind == "manifests" and (repo, ref) in self.manifests:
            raw, media_type = self.manifests[(repo, ref)]
            request.send(200, raw, content_type=media_type, headers={"Docker-Content-Digest": digest_of(raw)})
        elif kind == "blobs" and ref in self.blobs:
            data = self.blobs[ref]
            request.send(200, data, content_type="application/octet-stream",
                         headers={"Docker-Content-Digest": ref})
        else:
            code = "MANIFEST_UNKNOWN" if kind == "manifests" else "BLOB_UNKNOWN"
            request.send(404, canonical({"errors": [{"code": code, "message": "unknown"}]}))


# --- honest content: a small image and a cosign signature for it ---------------------------------------


@dataclass
class SignedImage:
    registry: HostileRegistry
    repo: str
    tag: str
    digest: str
    private_key: ec.EllipticCurvePrivateKey
    public_pem: bytes
    sig_tag: str
    payload: bytes
    signature_b64: str

    @property
    def reference(self) -> str:
        return f"{self.registry.host}/{self.repo}:{self.tag}"

    def manifest_path(self, ref: str | None = None) -> str:
        """A pattern for `override`: this repository's manifest `ref`, or any manifest."""
        return rf"/v2/{re.escape(self.repo)}/manifests/" + (re.escape(ref) if ref else ".+")

    def blob_path(self, digest: str | None = None) -> str:
        """A pattern for `override`: this repository's blob `digest`, or any blob."""
        return rf"/v2/{re.escape(self.repo)}/blobs/" + (re.escape(digest) if digest else ".+")


def new_signing_key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem


def simple_signing_payload(identity: str, digest: str) -> bytes:
    return canonical({"critical": {"identity": {"docker-reference": identity},
                                   "image": {"docker-manifest-digest": digest}, "type": COSIGN_TYPE},
                      "optional": None})


def cosign_signature(key: ec.EllipticCurvePrivateKey, payload: bytes) -> str:
    return base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()


def image_manifest(config: dict, layers: list[dict], media_type: str = OCI_MANIFEST, **extra: object) -> bytes:
    return canonical({"schemaVersion": 2, "mediaType": media_type, "config": config, "layers": layers, **extra})


def sig_manifest(registry: HostileRegistry, layers: list[tuple[bytes, str]]) -> bytes:
    """A `.sig` manifest with one simple-signing layer per (payload, base64 signature); blobs stored."""
    config = {"mediaType": OCI_CONFIG, **registry.add_blob(b"{}")}
    descriptors = [{"mediaType": SIMPLE_SIGNING, **registry.add_blob(payload),
                    "annotations": {SIGNATURE_ANNOTATION: sig}} for payload, sig in layers]
    return image_manifest(config, descriptors)


def sig_tag_for(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def publish_signed_image(registry: HostileRegistry, repo: str = "team/app", tag: str = "v1",
                         key: tuple[ec.EllipticCurvePrivateKey, bytes] | None = None) -> SignedImage:
    private_key, public_pem = key or new_signing_key()
    config = {"mediaType": OCI_CONFIG, **registry.add_blob(canonical({"architecture": "amd64", "os": "linux"}))}
    layer = {"mediaType": OCI_LAYER, **registry.add_blob(b"layer bytes of " + repo.encode())}
    digest = registry.add_manifest(repo, image_manifest(config, [layer]), OCI_MANIFEST, tag)
    payload = simple_signing_payload(f"{registry.host}/{repo}", digest)
    signature = cosign_signature(private_key, payload)
    sig_tag = sig_tag_for(digest)
    registry.add_manifest(repo, sig_manifest(registry, [(payload, signature)]), OCI_MANIFEST, sig_tag)
    return SignedImage(registry, repo, tag, digest, private_key, public_pem, sig_tag, payload, signature)


def publish_referrers_only_image(registry: HostileRegistry) -> SignedImage:
    """A published image whose `.sig` is gone: its only candidate signatures are the referrers a test adds."""
    image = publish_signed_image(registry)
    del registry.manifests[(image.repo, image.sig_tag)]
    return image


@contextmanager
def referrers_only_registry() -> Iterator[tuple[HostileRegistry, SignedImage]]:
    """A hostile registry holding one `publish_referrers_only_image`; stopped afterwards."""
    registry = HostileRegistry()
    try:
        yield registry, publish_referrers_only_image(registry)
    finally:
        registry.stop()


def image_size(registry: HostileRegistry, image: SignedImage) -> int:
    return len(registry.manifests[(image.repo, image.tag)][0])


def add_referrer(registry: HostileRegistry, image: SignedImage, content: bytes, *, artifact_type: str,
                 media_type: str | None = None, subject: str | None = None, layers: int = 1,
                 size: int | None = None, annotations: dict[str, str] | None = None) -> dict:
    """Store an OCI 1.1 referrer of `image` (or of digest `subject`) whose `layers` layers all hold
    `content` (of media type `media_type`, default `artifact_type`; declared `size` bytes, default its
    own); returns its descriptor for a referrers index (`serve_referrers`)."""
    blob = registry.add_blob(content)
    layer = {"mediaType": media_type or artifact_type, "digest": blob["digest"],
             "size": size if size is not None else blob["size"]}
    manifest = canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, **registry.add_blob(b"{}")},
        "layers": [layer] * layers,
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject or image.digest, "size": image_size(registry, image)},
        **({"annotations": annotations} if annotations else {})})
    digest = registry.add_manifest(image.repo, manifest, OCI_MANIFEST)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest), "artifactType": artifact_type}


def serve_referrers(registry: HostileRegistry, image: SignedImage, descriptors: list[dict]) -> None:
    """Answer the referrers API for `image` with an index of `descriptors`."""
    index = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors})
    registry.override(rf"/v2/{image.repo}/referrers/{image.digest}", fixed(index, content_type=OCI_INDEX))


# --- verification harness -------------------------------------------------------------------------


TEST_LIMITS = {"connect_timeout": 2.0, "read_timeout": 2.0, "total_timeout": 3.0, "max_redirects": 5}
HARD_TIMEOUT_S = 20.0  # a verification still running after this is a hang


def write_config(home: Path, *, limits: dict | None = None, registries: list[dict] | None = None) -> None:
    lines = ["[limits]"] + [f"{k} = {json.dumps(v)}" for k, v in {**TEST_LIMITS, **(limits or {})}.items()]
    for reg in registries or []:
        lines.append("[[registries]]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in reg.items())
    (home / "config.toml").write_text("\n".join(lines) + "\n")


def verify(home: Path, reference: str, public_pem: bytes, *, platform: str | None = None,
           trusted_root: str | None = None, notation: Any = None, **config):
    """One verification in this process, on a thread, failing the test on a hang or an escaped exception.
    `trusted_root` (a trusted_root.json path) makes the policy consult Sigstore bundle referrers too;
    `notation` (a NotationTrust) checks Notary Project signatures."""
    from core.context import open_context
    from core.crypto.public_keys import load_public_key
    from core.verify.policy import TrustPolicy
    from core.verify.service import verify_images
    from core.verify.verifier import Verifier

    write_config(home, **config)
    ctx = open_context(db=str(home / "signet.db"), config=str(home / "config.toml"))
    policy = Verifier(TrustPolicy(keys=(load_public_key(public_pem),), trusted_root=trusted_root, notation=notation))
    box: dict = {}

    def run() -> None:
        try:
            box["results"] = verify_images(ctx, [reference], policy, platform=platform)
        except BaseException as exc:  # noqa: BLE001 - the assertion below reports it
            box["exception"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HARD_TIMEOUT_S)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"verification of {reference} hung for more than {HARD_TIMEOUT_S}s"
    assert "exception" not in box, f"an exception escaped verify_images: {box.get('exception')!r}"
    [result] = box["results"]
    # The verdict is recorded as it was given: nothing lost, nothing upgraded.
    rows = ctx.store.query("SELECT result, reason FROM verifications ORDER BY id DESC LIMIT 1")
    assert rows and rows[0]["result"] == result.result
    ctx.close()
    return result, elapsed


def verify_with_manifest(home: Path, image: SignedImage, handler, **config):
    """Serve `image`'s manifest through `handler` (a misbehaviour), then `verify` the image; returns
    `verify`'s (result, elapsed)."""
    image.registry.override(image.manifest_path(image.tag), handler)
    return verify(home, image.reference, image.public_pem, **config)


def assert_refused(result, *allowed: str, reason: str = "") -> None:
    allowed = allowed or ("error", "invalid")
    assert result.result in allowed, f"{result.result}: {result.reason}"
    assert not result.verified and not result.matched_keys
    assert "internal error" not in result.reason, "a hostile answer must be a named failure, not a crash"
    if reason:
        signature_reasons = " ".join(c.reason for c in result.signatures)
        assert reason.lower() in (result.reason + " " + signature_reasons).lower(), result.reason


# --- misbehaviours ------------------------------------------------------------------------------------


def endless(chunk: bytes = b"[" * 65536, *, chunked: bool = True, content_type: str = OCI_MANIFEST) -> Handler:
    """A body that never ends (chunked, or close-delimited without a length)."""
    def handler(request: Request) -> None:
        request.stream(200, _forever(chunk), content_type=content_type, chunked=chunked)
    return handler


def _forever(chunk: bytes) -> Iterator[bytes]:
    while True:
        yield chunk


def huge(total: int, *, declared: int | None = None, content_type: str = "application/octet-stream",
         digest_header: str | None = None) -> Handler:
    """`total` bytes of zeros produced lazily (1 GB never exists in memory); Content-Length `declared`."""
    def chunks() -> Iterator[bytes]:
        block = b"\0" * (1 << 20)
        left = total
        while left > 0:
            yield block[:left]
            left -= len(block)

    def handler(request: Request) -> None:
        headers = {"Docker-Content-Digest": digest_header} if digest_header else None
        request.stream(200, chunks(), content_type=content_type, headers=headers,
                       content_length=total if declared is None else declared)
    return handler


def lying_length(body: bytes, declared: int, *, content_type: str = OCI_MANIFEST) -> Handler:
    """Content-Length says `declared`, the body is `body`, then the connection closes."""
    def handler(request: Request) -> None:
        request.send(200, body, content_type=content_type, content_length=declared)
    return handler


def slow_drip(body: bytes, interval_s: float = 1.0, *, content_type: str = OCI_MANIFEST) -> Handler:
    """One byte every `interval_s` seconds, with an honest Content-Length: only a total deadline ends it."""
    def chunks(stopping: threading.Event) -> Iterator[bytes]:
        for i in range(len(body)):
            yield body[i:i + 1]
            if stopping.wait(interval_s):  # pacing a producer (and stopping with the server)
                return

    def handler(request: Request) -> None:
        request.stream(200, chunks(request.registry.stopping), content_type=content_type, content_length=len(body))
    return handler


def redirect(location: str | Callable[[Request], str], status: int = 307) -> Handler:
    def handler(request: Request) -> None:
        target = location(request) if callable(location) else location
        request.send(status, b"", headers={"Location": target})
    return handler


def fixed(body: bytes, *, status: int = 200, content_type: str = OCI_MANIFEST,
          headers: dict[str, str] | None = None) -> Handler:
    def handler(request: Request) -> None:
        request.send(status, body, content_type=content_type, headers=headers)
    return handler


def bearer_challenge(realm: str, *, service: str = "hostile", token: str = "hostile-token") -> Handler:
    """401 with a Bearer challenge unless the request carries `Bearer <token>`; else the honest answer."""
    def handler(request: Request) -> None:
        if request.headers.get("authorization") == f"Bearer {token}":
            request.registry.serve_honestly(request)
            return
        request.send(401, canonical({"errors": [{"code": "UNAUTHORIZED", "message": "auth"}]}),
                     headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="{service}"'})
    return handler


def token_endpoint(token: str = "hostile-token") -> Handler:
    def handler(request: Request) -> None:
        request.send(200, canonical({"token": token, "access_token": token, "expires_in": 300}))
    return handler


def deeply_nested(depth: int) -> bytes:
    return b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","x":' + b"[" * depth + b"]" * depth + b"}"


# --- TLS ----------------------------------------------------------------------------------------------


def self_signed_certificate(host_ip: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """(cert_pem, key_pem) of a self-signed server certificate for `host_ip` (also a CA for itself)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile registry")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host_ip)),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _tls_context(tls: tuple[bytes, bytes], directory: Path | None) -> ssl.SSLContext:
    import tempfile

    cert_pem, key_pem = tls
    folder = directory or Path(tempfile.mkdtemp(prefix="hostile-tls-"))
    (folder / "server.crt").write_bytes(cert_pem)
    (folder / "server.key").write_bytes(key_pem)
    (folder / "server.key").chmod(0o600)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.crt", folder / "server.key")
    return context
