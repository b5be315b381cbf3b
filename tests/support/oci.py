"""Build and push OCI images, indexes and cosign signatures for tests, independently of Signet's client.

Everything here talks plain OCI distribution HTTP with httpx (so tests of Signet's registry client do
not test it against itself), and writes OCI layout directories by hand. `RewritingProxy` sits in
front of a real registry on loopback and can change bytes and headers, to play a lying registry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import datetime
import ipaddress
import os
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
REF_NAME = "org.opencontainers.image.ref.name"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(data: bytes, media_type: str, **extra) -> dict:
    return {"mediaType": media_type, "size": len(data), "digest": digest_of(data), **extra}


# --- pushing to a real registry ----------------------------------------------------------------


def push_blob(base_url: str, repository: str, data: bytes) -> str:
    digest = digest_of(data)
    start = httpx.post(f"{base_url}/v2/{repository}/blobs/uploads/", timeout=10)
    assert start.status_code == 202, start.text
    location = httpx.URL(base_url).join(start.headers["location"])
    done = httpx.put(location.copy_merge_params({"digest": digest}), content=data,
                     headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert done.status_code == 201, done.text
    return digest


def push_manifest(base_url: str, repository: str, reference: str, raw: bytes, media_type: str = OCI_MANIFEST) -> str:
    resp = httpx.put(f"{base_url}/v2/{repository}/manifests/{reference}", content=raw,
                     headers={"Content-Type": media_type}, timeout=10)
    assert resp.status_code == 201, resp.text
    return digest_of(raw)


@dataclass(frozen=True)
class BuiltImage:
    manifest: bytes
    blobs: tuple[bytes, ...]
    media_type: str = OCI_MANIFEST

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)


def build_image(content: bytes | None = None, *, platform: tuple[str, str] = ("linux", "amd64")) -> BuiltImage:
    """A tiny image: a config and one (random unless given) layer."""
    layer = content if content is not None else os.urandom(32)
    config = json.dumps({"architecture": platform[1], "os": platform[0],
                         "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(config, OCI_CONFIG),
                           "layers": [descriptor(layer, LAYER)]}, indent=2).encode()
    return BuiltImage(manifest=manifest, blobs=(config, layer))


def push_image(base_url: str, repository: str, tag: str, image: BuiltImage | None = None) -> str:
    """Push `image` (a fresh random one by default) under `tag`; returns its digest."""
    image = image or build_image()
    for blob in image.blobs:
        push_blob(base_url, repository, blob)
    return push_manifest(base_url, repository, tag, image.manifest, image.media_type)


def build_index(children: list[tuple[BuiltImage, str, str]]) -> bytes:
    """An OCI index over (image, os, architecture) children."""
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(img.manifest, img.media_type, platform={"os": os_, "architecture": arch})
        for img, os_, arch in children]}).encode()


def push_index(base_url: str, repository: str, tag: str, platforms=(("linux", "amd64"), ("linux", "arm64"))
               ) -> tuple[str, dict[str, str]]:
    """Push one image per platform and an index over them; (index digest, {"os/arch": child digest})."""
    children = []
    for os_, arch in platforms:
        image = build_image(platform=(os_, arch))
        push_image(base_url, repository, image.digest, image)
        children.append((image, os_, arch))
    raw = build_index(children)
    return push_manifest(base_url, repository, tag, raw, OCI_INDEX), {f"{o}/{a}": i.digest for i, o, a in children}


# --- cosign signatures -------------------------------------------------------------------------


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_public_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(public_pem(key))
    return path


def cosign_payload(docker_reference: str, digest: str, optional: str = "null") -> bytes:
    """The simple-signing payload as cosign writes it; `optional` is raw JSON text."""
    return ('{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},'
            '"type":"cosign container image signature"},"optional":%s}' % (docker_reference, digest, optional)).encode()


def sign(key: ec.EllipticCurvePrivateKey, payload: bytes) -> bytes:
    return key.sign(payload, ec.ECDSA(hashes.SHA256()))


@dataclass(frozen=True)
class SignatureLayer:
    payload: bytes
    signature: bytes
    media_type: str = SIMPLE_SIGNING
    annotations: dict | None = None  # replaces the default signature annotation when given


def signature_layer(key: ec.EllipticCurvePrivateKey, docker_reference: str, digest: str,
                    optional: str = "null") -> SignatureLayer:
    payload = cosign_payload(docker_reference, digest, optional)
    return SignatureLayer(payload, sign(key, payload))


def signature_manifest(layers: list[SignatureLayer]) -> tuple[bytes, list[bytes]]:
    """(.sig manifest bytes, blobs to push) in cosign's layout."""
    config = json.dumps({"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": [
        digest_of(layer.payload) for layer in layers]}, "config": {}}).encode()
    descriptors = []
    for layer in layers:
        annotations = layer.annotations if layer.annotations is not None else {
            SIGNATURE_ANNOTATION: base64.b64encode(layer.signature).decode()}
        descriptors.append(descriptor(layer.payload, layer.media_type, annotations=annotations))
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(config, OCI_CONFIG),
                      "layers": descriptors}).encode()
    return raw, [config] + [layer.payload for layer in layers]


def signature_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def push_signatures(base_url: str, repository: str, digest: str, layers: list[SignatureLayer]) -> str:
    """Write (replace) the `.sig` manifest for `digest`; returns the .sig manifest digest."""
    raw, blobs = signature_manifest(layers)
    for blob in blobs:
        push_blob(base_url, repository, blob)
    return push_manifest(base_url, repository, signature_tag(digest), raw)


# --- OCI layout directories --------------------------------------------------------------------


def push_signed_images(base_url: str, repository: str, count: int, key: ec.EllipticCurvePrivateKey,
                       ) -> list[tuple[str, str]]:
    """(reference, digest) of `count` images tagged img-N in `repository`, each with its own cosign
    signature (pushed 8 at a time). The images share their blobs (distinct manifests via an annotation)."""
    host = base_url.split("://", 1)[1]
    base = build_image(b"one layer for a batch of signed images")
    for blob in base.blobs:
        push_blob(base_url, repository, blob)
    sig_config = b'{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}'
    push_blob(base_url, repository, sig_config)
    manifest = json.loads(base.manifest)
    client = httpx.Client(base_url=base_url, timeout=30)

    def push(i: int) -> tuple[str, str]:
        raw = json.dumps({**manifest, "annotations": {"signet.test.index": str(i)}}).encode()
        tag = f"img-{i}"
        assert client.put(f"/v2/{repository}/manifests/{tag}", content=raw,
                          headers={"Content-Type": OCI_MANIFEST}).status_code == 201
        digest = descriptor(raw, OCI_MANIFEST)["digest"]
        payload = cosign_payload(f"{host}/{repository}", digest)
        push_blob(base_url, repository, payload)
        sig = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": descriptor(sig_config, OCI_CONFIG),
                          "layers": [descriptor(payload, SIMPLE_SIGNING, annotations={
                              SIGNATURE_ANNOTATION: base64.b64encode(sign(key, payload)).decode()})]}).encode()
        assert client.put(f"/v2/{repository}/manifests/{signature_tag(digest)}", content=sig,
                          headers={"Content-Type": OCI_MANIFEST}).status_code == 201
        return f"{host}/{repository}:{tag}", digest

    try:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(push, range(count)))
    finally:
        client.close()


def write_layout(root: Path, manifests: dict[str, tuple[bytes, str]], blobs: list[bytes] = ()) -> Path:
    """A layout with `manifests` {tag: (raw, media type)} in index.json and every blob stored by digest."""
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    entries = []
    for data in list(blobs) + [raw for raw, _ in manifests.values()]:
        (root / "blobs" / "sha256" / digest_of(data).split(":")[1]).write_bytes(data)
    for tag, (raw, media_type) in manifests.items():
        entries.append(descriptor(raw, media_type, annotations={REF_NAME: tag}))
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    return root


# --- a registry that lies ----------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN), valid for a day: (certificate PEM file, key PEM file)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file

Rewrite = Callable[[str, str, int, dict, bytes], tuple[int, dict, bytes]]
Gate = Callable[[str, str, dict], "tuple[int, dict, bytes] | None"]


def _unchanged(method: str, path: str, status: int, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
    return status, headers, body


class RewritingProxy:
    """Loopback HTTP proxy to `upstream` (a real registry).

    `tls=(certificate file, key file)` serves HTTPS. `gate(method, path, headers)` may answer instead of
    the registry (auth, redirects); otherwise `rewrite(method, path, status, headers, body)` may change
    the registry's answer. Every request is
    recorded in `.seen` as (method, path, headers). Use as a context manager; `.url`/`.host` name it.
    """

    def __init__(self, upstream: str, rewrite: Rewrite = _unchanged, gate: Gate | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        proxy = self
        self.seen: list[tuple[str, str, dict]] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append((self.command, self.path, dict(self.headers.items())))
                answer = gate(self.command, self.path, dict(self.headers.items())) if gate else None
                if answer is not None:
                    self._send(*answer)
                    return
                # Host is kept so the registry builds upload Locations that point back at the proxy
                headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
                resp = httpx.request(self.command, upstream + self.path, content=body, headers=headers, timeout=10)
                out_headers = {k: v for k, v in resp.headers.items()
                               if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                                    "content-encoding")}
                self._send(*proxy.rewrite(self.command, self.path, resp.status_code, out_headers, resp.content))

            def _send(self, status: int, out_headers: dict, data: bytes) -> None:
                """`X-Test-Chunked: 1` in `out_headers` sends the body chunked, without Content-Length."""
                chunked = out_headers.pop("X-Test-Chunked", None)
                self.send_response(status)
                for key, value in out_headers.items():
                    self.send_header(key, value)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if not chunked:
                    self.wfile.write(data)
                    return
                try:
                    for start in range(0, len(data), 16384):
                        piece = data[start:start + 16384]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading, as a capped reader should

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, *args) -> None:
                pass

        self.rewrite = rewrite
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "https" if tls else "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile=str(tls[0]), keyfile=str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def __enter__(self) -> RewritingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
