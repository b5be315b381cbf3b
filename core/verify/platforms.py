"""Multi-arch images: the platform children of an index, and which signature covers each one.

cosign signs the digest it resolved, usually the index; `cosign sign --recursive` also signs each
child (cosign-formats.md §1.1). A child is covered by its *own* trusted signatures, or — when the
policy says so (`[trust] index_signature_covers_children`) — by a verified signature on an index
whose manifest list names the child's digest. The index is content-addressed and lists its
children by digest, so a signature on it binds them too; what is never trusted is a name alone: a
digest the index does not list is not covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import InputError
from core.registry.manifest import Manifest
from core.results import VERIFIED

# buildx puts attestation manifests in the index as "unknown/unknown" entries: nothing runs them
_NOT_A_PLATFORM = "vnd.docker.reference.type"
OWN = "own"


@dataclass(frozen=True)
class PlatformChild:
    platform: str   # os/arch[/variant]
    digest: str
    media_type: str = ""
    size: int = -1


@dataclass(frozen=True)
class PlatformVerdict:
    """One child of a verified-or-not index: its own verdict and what covers it."""

    platform: str
    digest: str
    result: str
    covered_by: str | None  # "own" | "index sha256:..." | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"platform": self.platform, "digest": self.digest, "result": self.result,
                "covered_by": self.covered_by, "reason": self.reason}


def platform_label(platform: dict[str, Any] | None) -> str:
    p = platform or {}
    parts = [str(p.get("os", "") or "unknown"), str(p.get("architecture", "") or "unknown")]
    return "/".join(parts + ([str(p["variant"])] if p.get("variant") else []))


def index_children(index: Manifest, max_entries: int) -> list[PlatformChild]:
    """The runnable children of an index (count-checked against `max_entries`), in index order."""
    return [PlatformChild(platform_label(d.platform), d.digest, d.media_type, d.size)
            for d in index.descriptors("manifests", max_count=max_entries)
            if _NOT_A_PLATFORM not in (d.annotations or {})]


def child_of(index: Manifest, digest: str, max_entries: int) -> PlatformChild | None:
    """The child of `index` with exactly `digest` (by the index's own manifest list), else None."""
    if not index.is_index:
        return None
    return next((c for c in index_children(index, max_entries) if c.digest == digest), None)


def select_platform(manifest: Manifest, platform: str, max_entries: int) -> str:
    """Digest of the index child matching `os/arch[/variant]`; a single-platform image reports itself."""
    wanted = platform.split("/")
    if not 2 <= len(wanted) <= 3 or not all(wanted):
        raise InputError(f"--platform '{platform[:80]}' is not os/arch[/variant]")
    if not manifest.is_index:
        return manifest.digest
    for child in manifest.descriptors("manifests", max_count=max_entries):
        p = child.platform or {}
        have = [p.get("os", ""), p.get("architecture", "")] + ([p.get("variant", "")] if len(wanted) == 3 else [])
        if have == wanted:
            return child.digest
    raise InputError(f"platform {platform[:80]} is not in index {manifest.digest[:19]}")


def covered_by_index_reason(index_digest: str, platform: str) -> str:
    return f"signed on the index {index_digest} for {platform}"


def platform_verdict(child: PlatformChild, own_result: str, own_reason: str, index_digest: str,
                     index_result: str, covers_children: bool) -> PlatformVerdict:
    """A child's standing: its own signatures first, else the index's when the policy lets it cover
    children and the index verified; otherwise the child's own (failing) verdict, saying why."""
    if own_result == VERIFIED:
        return PlatformVerdict(child.platform, child.digest, VERIFIED, OWN, own_reason)
    if index_result == VERIFIED and covers_children:
        return PlatformVerdict(child.platform, child.digest, VERIFIED, f"index {index_digest}",
                               covered_by_index_reason(index_digest, child.platform) + f" (own: {own_reason})")
    if index_result == VERIFIED:
        why = "the index is signed but [trust] index_signature_covers_children = false"
    else:
        why = f"the index is {index_result}"
    return PlatformVerdict(child.platform, child.digest, own_result, None, f"{own_reason}; {why}")
