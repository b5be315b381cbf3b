"""Small but real OCI images written into layout directories (one layout per repository)."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

from core.registry.layout import OciLayout
from core.sigstore.dsse import pae
from core.verify.attestations import ATTESTATION_LAYER
from core.verify.cosign_signatures import signature_tag

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
IN_TOTO = "application/vnd.in-toto+json"


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def write_image(layout: OciLayout, tag: str, content: bytes) -> str:
    """One linux/amd64 image whose single layer is `content`; returns the manifest digest."""
    layout.init()
    layer_digest = layout.put_blob("", content)
    config = _canonical({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}, "config": {}})
    config_digest = layout.put_blob("", config)
    manifest = _canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(content)}],
    })
    return layout.put_manifest("", tag, manifest, OCI_MANIFEST)


def copy_signature(source: OciLayout, source_digest: str, target: OciLayout, target_digest: str,
                   *, max_bytes: int) -> str:
    """Replay `source_digest`'s cosign signature manifest as if it signed `target_digest`: the
    kind of tampering verification must catch (the signed payload names another digest)."""
    manifest = source.get_manifest("", signature_tag(source_digest))
    doc = json.loads(manifest.raw)
    for descriptor in [doc["config"], *doc["layers"]]:
        target.put_blob("", source.get_blob("", descriptor["digest"], max_bytes=max_bytes))
    return target.put_manifest("", signature_tag(target_digest), manifest.raw, manifest.media_type)


def write_attestation(layout: OciLayout, digest: str, statement: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A cosign-style `.att` manifest for `digest`: one DSSE envelope (in-toto statement) signed with `sign`."""
    payload = _canonical(statement)
    signature = base64.b64encode(sign(pae(IN_TOTO, payload))).decode()
    envelope = _canonical({"payloadType": IN_TOTO, "payload": base64.b64encode(payload).decode(),
                           "signatures": [{"keyid": "", "sig": signature}]})
    layout.init()
    config = _canonical({"architecture": "", "os": "", "config": {}})
    config_digest = layout.put_blob("", config)
    layer_digest = layout.put_blob("", envelope)
    manifest = _canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": ATTESTATION_LAYER, "digest": layer_digest, "size": len(envelope),
                    "annotations": {"predicateType": statement["predicateType"]}}],
    })
    return layout.put_manifest("", digest.replace(":", "-", 1) + ".att", manifest, OCI_MANIFEST)
