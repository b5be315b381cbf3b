"""Manifests as received: the exact bytes, their media type and the digest we computed over them.

Media types come from the OCI image spec and Docker's schema 2. JSON from registries is parsed
strictly (core/strict_json.py: no duplicate keys, NaN or invalid UTF-8).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from core import strict_json
from core.errors import LimitExceeded, RegistryError
from core.registry.reference import DIGEST_RE

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT_MANIFESTS = ", ".join(MANIFEST_TYPES)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def loads_strict(raw: bytes, *, what: str) -> Any:
    """Parse registry JSON strictly (core/strict_json.py). Raises RegistryError."""
    return strict_json.loads_strict(raw, what=what, error=RegistryError)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str]
    platform: dict[str, Any] | None = None
    raw: dict[str, Any] | None = None  # the descriptor exactly as found, kept when re-writing manifests


@dataclass(frozen=True)
class Manifest:
    """Bytes of a manifest and the digest computed locally over them (never the server's header)."""

    raw: bytes
    media_type: str
    digest: str

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str = "") -> Manifest:
        return cls(raw=raw, media_type=media_type or _declared_type(raw), digest=sha256_digest(raw))

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def json(self) -> dict[str, Any]:
        doc = loads_strict(self.raw, what=f"manifest {self.digest[:19]}")
        if not isinstance(doc, dict):
            raise RegistryError(f"manifest {self.digest[:19]} is not a JSON object")
        return doc

    def descriptors(self, field: str, *, max_count: int, limit: str = "max_layers") -> list[Descriptor]:
        """`layers` of an image manifest or `manifests` of an index, count-checked before use
        (`limit` names the configuration limit that `max_count` comes from)."""
        items = self.json().get(field) or []
        if not isinstance(items, list):
            raise RegistryError(f"manifest {self.digest[:19]}: '{field}' is not a list")
        if len(items) > max_count:
            raise LimitExceeded(limit, len(items), f"{field} of manifest {self.digest[:19]}, at most {max_count}")
        return [parse_descriptor(item, where=f"manifest {self.digest[:19]} {field}") for item in items]


def parse_descriptor(item: Any, *, where: str) -> Descriptor:
    if not isinstance(item, dict):
        raise RegistryError(f"{where}: descriptor is not an object")
    media_type, digest, size = item.get("mediaType", ""), item.get("digest"), item.get("size")
    annotations = item.get("annotations") or {}
    platform = item.get("platform")
    if not isinstance(media_type, str) or not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise RegistryError(f"{where}: descriptor has no valid mediaType/sha256 digest")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise RegistryError(f"{where}: descriptor size is not a non-negative integer")
    if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()):
        raise RegistryError(f"{where}: annotations must map strings to strings")
    if platform is not None and not isinstance(platform, dict):
        raise RegistryError(f"{where}: platform is not an object")
    return Descriptor(media_type=media_type, digest=digest, size=size, annotations=annotations, platform=platform,
                      raw=item)


def referrer_descriptors(index: Manifest, max_referrers: int) -> list[dict[str, Any]]:
    """The `manifests` of a referrers index (API answer or fallback tag), validated, as plain dicts."""
    return [d.raw or {} for d in index.descriptors("manifests", max_count=max_referrers, limit="max_referrers")]


def _declared_type(raw: bytes) -> str:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: a registry's [[[[... nesting
        return ""
    value = doc.get("mediaType", "") if isinstance(doc, dict) else ""
    return value if isinstance(value, str) else ""
