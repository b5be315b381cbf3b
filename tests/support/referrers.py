"""Attach Sigstore bundles to images in a real registry as OCI 1.1 referrers, the way cosign v3 does
(cosign-formats.md §3.4). docker-registry 2.8 has no referrers API, so — as the distribution spec
asks clients to — the referrers tag-schema index `sha256-<hex>` is written (read back by Signet's
fallback). Index variants of the wild (no artifactType, the empty type) can be chosen.
"""

from __future__ import annotations

import json

import httpx

from tests.support.oci import OCI_INDEX, OCI_MANIFEST, digest_of, push_blob, push_manifest

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = "application/vnd.oci.empty.v1+json"
# go-containerregistry's empty.Image, byte for byte: the image cosign's OCI bundle fixture attests.
GGCR_EMPTY_CONFIG = (b'{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":'
                     b'{"type":"layers","diff_ids":null},"config":{}}')
GGCR_EMPTY_MANIFEST = (b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
                       b'"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":115,"digest":'
                       b'"sha256:5b943e2b943f6c81dbbd4e2eca5121f4fcc39139e3d1219d6d89bd925b77d9fe"},"layers":[]}')
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def referrer_manifest(bundle: bytes, subject_digest: str, subject_size: int, *, subject_type: str = OCI_MANIFEST,
                      predicate_type: str = "https://sigstore.dev/cosign/sign/v1",
                      layer_type: str = BUNDLE_V03) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE_V03,
        "config": {"mediaType": EMPTY, "digest": digest_of(b"{}"), "size": 2},
        "layers": [{"mediaType": layer_type, "digest": digest_of(bundle), "size": len(bundle)}],
        "subject": {"mediaType": subject_type, "digest": subject_digest, "size": subject_size},
        "annotations": {"dev.sigstore.bundle.content": "dsse-envelope",
                        "dev.sigstore.bundle.predicateType": predicate_type}}).encode()


def attach_referrer(base_url: str, repository: str, subject_digest: str, manifest: bytes, blobs: list[bytes], *,
                    index_artifact_type: str | None = BUNDLE_V03, annotations: dict | None = None) -> str:
    """Push the blobs and the referrer manifest (by digest), then add it to the fallback index."""
    for blob in [b"{}"] + blobs:
        push_blob(base_url, repository, blob)
    digest = push_manifest(base_url, repository, digest_of(manifest), manifest)
    tag = subject_digest.replace(":", "-")
    existing = httpx.get(f"{base_url}/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_INDEX}, timeout=10)
    index = existing.json() if existing.status_code == 200 else {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                                  "manifests": []}
    entry = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest)}
    if index_artifact_type is not None:
        entry["artifactType"] = index_artifact_type
    if annotations is not None:
        entry["annotations"] = annotations
    index["manifests"].append(entry)
    push_manifest(base_url, repository, tag, json.dumps(index).encode(), OCI_INDEX)
    return digest


def attach_bundle(base_url: str, repository: str, subject_digest: str, subject_size: int, bundle: bytes,
                  **kw) -> str:
    index_kw = {k: kw.pop(k) for k in ("index_artifact_type", "annotations") if k in kw}
    manifest = referrer_manifest(bundle, subject_digest, subject_size, **kw)
    return attach_referrer(base_url, repository, subject_digest, manifest, [bundle], **index_kw)


def manifest_size(base_url: str, repository: str, digest: str) -> int:
    """The size the referrer's `subject` descriptor must carry."""
    return len(httpx.get(f"{base_url}/v2/{repository}/manifests/{digest}", headers={"Accept": OCI_MANIFEST},
                         timeout=10).content)


def push_ggcr_empty_image(base_url: str, repository: str, tag: str) -> str:
    push_blob(base_url, repository, GGCR_EMPTY_CONFIG)
    return push_manifest(base_url, repository, tag, GGCR_EMPTY_MANIFEST, DOCKER_MANIFEST)
