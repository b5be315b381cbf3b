"""cosign's "simple signing" payload: the JSON that a classic signature signs.

Built byte-for-byte as cosign writes it (Go `json.Marshal`: fixed key order, compact, HTML
characters escaped, `optional` null or a key-sorted object) and parsed strictly when verifying:
exact key names (Go would also accept case variants), no duplicate keys, `critical` an object with
`type` and `image.docker-manifest-digest` strings, `optional` null or an object.
`critical.identity.docker-reference` is read for display only: cosign ignores it when verifying
(its SIGNATURE_SPEC), and skopeo-made signatures carry a tagged reference there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.errors import RegistryError
from core.registry.manifest import loads_strict
from core.verify.policy import COSIGN_SIGNATURE_TYPE

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"


@dataclass(frozen=True)
class SimpleSigningPayload:
    type: str
    digest: str
    docker_reference: str
    optional: dict[str, Any]


def parse_payload(raw: bytes) -> SimpleSigningPayload:
    """Raises RegistryError with a short reason when the payload is not a well-formed claim."""
    doc = loads_strict(raw, what="payload")
    if not isinstance(doc, dict):
        raise RegistryError("payload is not a JSON object")
    critical = doc.get("critical")
    if not isinstance(critical, dict):
        raise RegistryError("payload has no 'critical' object")
    image = critical.get("image")
    identity = critical.get("identity")
    kind = critical.get("type")
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    if not isinstance(kind, str):
        raise RegistryError("payload has no critical.type string")
    if not isinstance(digest, str):
        raise RegistryError("payload has no critical.image.docker-manifest-digest string")
    reference = identity.get("docker-reference", "") if isinstance(identity, dict) else ""
    optional = doc.get("optional")
    if optional is None:
        optional = {}
    if not isinstance(optional, dict):
        raise RegistryError("payload 'optional' is neither null nor an object")
    return SimpleSigningPayload(type=kind, digest=digest,
                                docker_reference=reference if isinstance(reference, str) else "",
                                optional=optional)


def build_payload(docker_reference: str, digest: str, optional: dict[str, str] | None = None) -> bytes:
    """The payload cosign's `signDigest` writes for `digest`, as the exact bytes Go produces."""
    doc = {"critical": {"identity": {"docker-reference": docker_reference},
                        "image": {"docker-manifest-digest": digest},
                        "type": COSIGN_SIGNATURE_TYPE},
           "optional": dict(sorted(optional.items())) if optional else None}
    return go_json(doc)


def go_json(value: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (HTML-safe escapes, raw UTF-8 otherwise)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode("utf-8")
