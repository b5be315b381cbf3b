"""Loading the copied Sigstore interop fixtures (tests/fixtures/*) the way each README describes them."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from core.crypto.public_keys import load_public_key
from core.sigstore.certificate_identity import CertificateIdentity
from core.sigstore.trusted_root import TrustedRoot, load_trusted_root, trusted_root_from_pems

FIXTURES = Path(__file__).parent.parent / "fixtures"
CONFORMANCE = FIXTURES / "sigstore-conformance-bundles"
EDGE = FIXTURES / "sigstore-go-edge-bundles"
OCI_BUNDLE = FIXTURES / "cosign-oci-sigstore-bundle"
CONNAISSEUR = FIXTURES / "connaisseur-cosign-registry"
CONTAINERS_IMAGE = FIXTURES / "containers-image-cosign"
CONFORMANCE_IDENTITY = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
                        ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main")
CONFORMANCE_ISSUER = "https://token.actions.githubusercontent.com"
OCI_BUNDLE_DIGEST = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ANY_IDENTITY = CertificateIdentity(identity_regexp=".*", issuer_regexp=".*")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def conformance_case(name: str) -> dict:
    """bundle bytes, artifact digest, identity, trusted root and optional key path of one case."""
    case = CONFORMANCE / name
    artifact = case / "artifact" if (case / "artifact").exists() else CONFORMANCE / "a.txt"
    identity = (case / "identity").read_text().strip() if (case / "identity").exists() else CONFORMANCE_IDENTITY
    issuer = (case / "issuer").read_text().strip() if (case / "issuer").exists() else CONFORMANCE_ISSUER
    root_file = case / "trusted_root.json" if (case / "trusted_root.json").exists() else \
        CONFORMANCE / "trusted_root.production.json"
    return {"bundle": (case / "bundle.sigstore.json").read_bytes(), "digest": sha256_digest(artifact.read_bytes()),
            "identity": CertificateIdentity(identity=identity, issuer=issuer), "root": load_trusted_root(root_file),
            "key": case / "key.pub" if (case / "key.pub").exists() else None}


def conformance_cases() -> list[str]:
    return sorted(p.name for p in CONFORMANCE.iterdir() if p.is_dir())


def connaisseur_root() -> TrustedRoot:
    trust = CONNAISSEUR / "trust"
    return trusted_root_from_pems(fulcio_certs=(trust / "fulcio_root_v1.crt.pem").read_bytes(),
                                  rekor_keys=((trust / "rekor.pub").read_bytes(),),
                                  ctlog_keys=((trust / "ctfe.pub").read_bytes(),))


def connaisseur_keyless_layer() -> tuple[bytes, dict, str]:
    """(payload blob, layer annotations, image digest) of the keyless signature."""
    repo = CONNAISSEUR / "securesystemsengineering/testimage"
    image = (repo / "manifests/keyless.json").read_bytes()
    sig = json.loads((repo / f"manifests/sha256-{hashlib.sha256(image).hexdigest()}.sig.json").read_bytes())
    layer = sig["layers"][0]
    return (repo / "blobs" / f"{layer['digest']}.json").read_bytes(), layer["annotations"], sha256_digest(image)


def containers_image_layer(path: str) -> tuple[bytes, dict, str]:
    """Unwrap containers/image's `\\x00sigstore-json\\n` file: (payload, annotations, mimeType)."""
    raw = (CONTAINERS_IMAGE / path).read_bytes()
    prefix = b"\x00sigstore-json\n"
    assert raw.startswith(prefix)
    doc = json.loads(raw[len(prefix):])
    return base64.b64decode(doc["payload"]), doc["annotations"], doc["mimeType"]


def containers_image_key(name: str):
    return load_public_key((CONTAINERS_IMAGE / "keys" / name).read_bytes(), name=name)


def pem(path: Path) -> bytes:
    return path.read_bytes()
