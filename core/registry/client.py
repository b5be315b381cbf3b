"""Where images come from: an OCI distribution registry over HTTP(S), or an OCI layout directory.

`open_registry()` picks the implementation for a reference. Both return `Manifest`s whose digest was
computed locally over the bytes received and, when a digest was asked for, compared with it
(`DigestMismatch` otherwise); blobs are read with a byte cap and digest-checked the same way. A
missing manifest or blob raises `NotFound`; a refusal, malformed answer or transport failure raises
`RegistryError`; a tripped size/count/time limit raises `LimitExceeded`.
"""

from __future__ import annotations

from typing import Any, Protocol

from core.config.model import Config
from core.registry.manifest import Manifest
from core.registry.reference import ImageReference


class RegistrySource(Protocol):
    """What verification and signing need from a registry (HTTP) or a layout directory."""

    name: str  # host[:port], or "oci:PATH"

    def resolve(self, ref: ImageReference) -> Manifest:
        """The manifest `ref` names (by digest when it has one, else by tag)."""

    def get_manifest(self, repository: str, tag_or_digest: str) -> Manifest:
        """Manifest bytes (capped at limits.max_manifest_bytes), digest checked when asked by digest."""

    def get_blob(self, repository: str, digest: str, *, max_bytes: int) -> bytes:
        """Blob bytes; never reads more than `max_bytes`; sha256 checked against `digest`."""

    def list_tags(self, repository: str) -> list[str]:
        """Every tag (pages followed, bounded)."""

    def catalog(self) -> list[str]:
        """Repository names (pages followed, bounded)."""

    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """Descriptors of artifacts whose subject is `digest` (referrers API, else the sha256-<hex> tag)."""

    def put_blob(self, repository: str, data: bytes) -> str:
        """Upload (skipped when present); returns the digest."""

    def put_manifest(self, repository: str, tag_or_digest: str, raw: bytes, media_type: str) -> str:
        """Store manifest bytes as they are; returns their digest."""

    def close(self) -> None:
        """Release connections."""


def open_registry(config: Config, ref: ImageReference, *, allow_http: bool = False) -> RegistrySource:
    """A source for `ref`: an `OciLayout` for `oci:` references, else an `HttpRegistry`.

    `allow_http` is `--allow-http-registry`: plain HTTP for this registry even when it is neither on
    loopback nor marked `insecure` in the config.
    """
    if ref.is_layout:
        from core.registry.layout import OciLayout

        return OciLayout(ref.layout_path or "", limits=config.limits)
    from core.registry.http_registry import HttpRegistry

    return HttpRegistry(ref.registry, config=config, allow_http=allow_http)
