"""What the Registries view browses: configured registries -> repositories -> tags, with each
digest's newest recorded result. Listing goes through core.registry sources (bounded, timed out)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from core.config.model import RegistryConfig
from core.context import SignetContext
from core.errors import NotFound, RegistryError, SignetError
from core.registry.client import open_registry
from core.registry.manifest import loads_strict
from core.registry.reference import parse_reference
from core.verify.cosign_signatures import signature_tag

MAX_REPOSITORIES = 500
MAX_TAGS = 500
OCI_PREFIX = "oci:"


@dataclass(frozen=True)
class RepositoryEntry:
    registry: str
    name: str
    base: str  # reference text without tag: "oci:/dir/app" or "host:port/team/app"

    def reference(self, tag: str) -> str:
        return f"{self.base}:{tag}"


@dataclass(frozen=True)
class TagEntry:
    reference: str
    tag: str
    digest: str | None
    error: str = ""


@dataclass(frozen=True)
class LastResult:
    result: str
    reason: str
    at: str
    matched_keys: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)


def is_layout_url(url: str) -> bool:
    return url.startswith(OCI_PREFIX)


def list_repositories(ctx: SignetContext, registry: RegistryConfig, *,
                      limit: int = MAX_REPOSITORIES) -> list[RepositoryEntry]:
    """Repositories of one registry. An `oci:DIR` registry is a directory of OCI layouts (one per
    repository), or a single layout. Raises RegistryError when the registry cannot be listed."""
    if is_layout_url(registry.url):
        root = Path(registry.url[len(OCI_PREFIX):]).expanduser()
        if (root / "oci-layout").is_file():
            layouts = [root]
        elif root.is_dir():
            layouts = sorted(p for p in root.iterdir() if (p / "oci-layout").is_file())[:limit]
        else:
            raise RegistryError(f"registry {registry.name}: {root} is not a directory")
        return [RepositoryEntry(registry.name, p.name, f"{OCI_PREFIX}{p}") for p in layouts]
    host = registry.url.split("://", 1)[-1].split("/", 1)[0]
    # open_registry picks the source from a reference; any repository on the host selects it.
    source = open_registry(ctx.config, parse_reference(f"{host}/catalog-probe"))
    try:
        names = source.catalog()[:limit]
    finally:
        source.close()
    return [RepositoryEntry(registry.name, name, f"{host}/{name}") for name in names]


@dataclass(frozen=True)
class RegistryProbe:
    name: str
    url: str
    reachable: bool
    detail: str  # repository count, or why it could not be listed


def probe_registry(ctx: SignetContext, registry: RegistryConfig) -> RegistryProbe:
    """Can the registry be listed now? Never raises for the registry's own failures."""
    try:
        repositories = list_repositories(ctx, registry)
    except (SignetError, OSError) as exc:
        return RegistryProbe(registry.name, registry.url, False, str(exc))
    return RegistryProbe(registry.name, registry.url, True, f"{len(repositories)} repositories")


def is_signature_tag(tag: str) -> bool:
    """cosign's `sha256-<hex>.sig|.att|.sbom` tags belong to an image; they are not images."""
    return tag.startswith("sha256-")


def list_tag_entries(ctx: SignetContext, repo: RepositoryEntry, *, limit: int = MAX_TAGS,
                     cancelled: Callable[[], bool] = lambda: False) -> list[TagEntry]:
    """Image tags (signature tags left out) with the digest each resolves to now; a tag that fails
    to resolve is listed with its error rather than dropped."""
    ref = parse_reference(repo.reference("latest"))
    source = open_registry(ctx.config, ref)
    entries: list[TagEntry] = []
    try:
        tags = [t for t in source.list_tags(ref.repository) if not is_signature_tag(t)][:limit]
        for tag in tags:
            if cancelled():
                break
            try:
                digest: str | None = source.get_manifest(ref.repository, tag).digest
                error = ""
            except SignetError as exc:
                digest, error = None, str(exc)
            entries.append(TagEntry(repo.reference(tag), tag, digest, error))
    finally:
        source.close()
    return entries


def last_results(ctx: SignetContext, digests: Sequence[str]) -> dict[str, LastResult]:
    """The newest history row per digest (uses the digest index; one query per digest)."""
    found: dict[str, LastResult] = {}
    with ctx.store.read() as db:
        for digest in dict.fromkeys(d for d in digests if d):
            rows = list(db.query("SELECT result, reason, at, matched_keys, details FROM verifications "
                                 "WHERE digest = ? ORDER BY at DESC, id DESC LIMIT 1", (digest,)))
            if rows:
                r = rows[0]
                found[digest] = LastResult(r["result"], r["reason"], r["at"], tuple(json.loads(r["matched_keys"])),
                                           json.loads(r["details"] or "{}"))
    return found


@dataclass(frozen=True)
class SignaturePayload:
    """One layer of an image's cosign `.sig` manifest, as stored (unverified: for reading only)."""
    index: int
    layer_digest: str
    payload: str       # the signed JSON, pretty-printed when it parses, else as received
    annotations: dict[str, str]


MAX_SHOWN_ANNOTATION = 200  # base64 signatures and certificates are long: shown shortened


def signature_payloads(ctx: SignetContext, reference: str, digest: str) -> list[SignaturePayload]:
    """The payloads and annotations next to `digest`'s signatures (none when it has no `.sig` tag).

    Bounded by the verify limits (layers, payload bytes); every blob is digest-checked by the source.
    """
    ref = parse_reference(reference)
    source = open_registry(ctx.config, ref)
    limits = ctx.config.limits
    try:
        try:
            manifest = source.get_manifest(ref.repository, signature_tag(digest))
        except NotFound:
            return []
        shown = []
        for index, layer in enumerate(manifest.descriptors("layers", max_count=limits.max_layers)
                                      [:limits.max_signatures]):
            raw = source.get_blob(ref.repository, layer.digest, max_bytes=limits.max_payload_bytes)
            try:
                payload = json.dumps(loads_strict(raw, what="payload"), indent=2, sort_keys=True)
            except RegistryError:
                payload = raw.decode("utf-8", "replace")
            annotations = {k: v if len(v) <= MAX_SHOWN_ANNOTATION else v[:MAX_SHOWN_ANNOTATION] + "…"
                           for k, v in layer.annotations.items()}
            shown.append(SignaturePayload(index, layer.digest, payload, annotations))
        return shown
    finally:
        source.close()
