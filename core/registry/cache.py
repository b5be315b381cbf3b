"""In-process caches for registry data, split by what may change.

- Digest-addressed data (manifests by digest, blobs) is immutable: kept in a bounded LRU (entries
  and bytes) with no expiry. Keys include host and repository, so a registry that does not hold a
  blob is never answered from another registry's copy.
- Mutable lookups (tag -> digest, including the cosign `.sig` tag and "tag not found") are reused
  for at most `ttl` seconds. **Staleness bound**: a moved tag, a new or removed signature is seen at
  most `limits.cache_ttl_seconds` (default 30 s) after it happened, within one process; signing from
  the same process forgets the `.sig` entry at once.
- Verdicts (see core/verify) are pure functions of (image digest, signature manifest digest, trust
  policy fingerprint), so they are kept in an LRU like immutable data.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

from core.errors import NotFound
from core.registry.client import RegistrySource
from core.registry.manifest import Manifest
from core.registry.reference import DIGEST_RE, ImageReference

MAX_MANIFESTS = 50_000
MAX_MANIFEST_CACHE_BYTES = 64 * 1024 * 1024
MAX_BLOBS = 50_000
MAX_BLOB_CACHE_BYTES = 64 * 1024 * 1024
MAX_BLOB_CACHED = 1024 * 1024  # larger blobs are not kept
MAX_TAGS = 100_000
MAX_VERDICTS = 100_000


class LruCache:
    """Thread-safe LRU bounded by entry count and total size (size of each value given by `sizeof`)."""

    def __init__(self, max_entries: int, max_bytes: int | None = None,
                 sizeof: Callable[[Any], int] = lambda _: 0) -> None:
        self.max_entries, self.max_bytes, self._sizeof = max_entries, max_bytes, sizeof
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        size = self._sizeof(value)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= self._sizeof(old)
            self._data[key] = value
            self._bytes += size
            while len(self._data) > self.max_entries or (self.max_bytes is not None and self._bytes > self.max_bytes):
                _, evicted = self._data.popitem(last=False)
                self._bytes -= self._sizeof(evicted)

    def __len__(self) -> int:
        return len(self._data)


_MISSING = object()


class TtlCache:
    """Thread-safe map whose entries are forgotten `ttl` seconds after they were stored."""

    def __init__(self, ttl: float, max_entries: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_entries, self._now = ttl, max_entries, monotonic
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = _MISSING) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return default
            if item[0] <= self._now():
                del self._data[key]
                return default
            return item[1]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data.pop(key, None)
            self._data[key] = (self._now() + self.ttl, value)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._data.pop(key, None)


class RegistryCache:
    """The caches one process shares between verifications (`SignetContext.registry_cache`)."""

    def __init__(self, ttl: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.manifests = LruCache(MAX_MANIFESTS, MAX_MANIFEST_CACHE_BYTES, lambda m: len(m.raw))
        self.blobs = LruCache(MAX_BLOBS, MAX_BLOB_CACHE_BYTES, len)
        self.tags = TtlCache(ttl, MAX_TAGS, monotonic)
        self.verdicts = LruCache(MAX_VERDICTS)

    def peek_manifest(self, ref: ImageReference) -> Manifest | None:
        """The manifest `ref` names if the cache alone can answer (tag within its TTL), else None."""
        name = source_key(ref)
        digest = ref.digest or self.tags.get((name, ref.repository, ref.tag or "latest"), None)
        return self.manifests.get((name, ref.repository, digest)) if digest else None


def source_key(ref: ImageReference) -> str:
    """The name a RegistrySource for `ref` has (and its cache entries are keyed by)."""
    return ref.name if ref.is_layout else ref.registry


class CachedSource:
    """A RegistrySource wrapper answering repeated reads from `RegistryCache`.

    Only reads are cached; writes pass through and forget the tag they overwrite.
    """

    def __init__(self, source: RegistrySource, cache: RegistryCache) -> None:
        self.source, self.cache, self.name = source, cache, source.name

    def resolve(self, ref: ImageReference) -> Manifest:
        return self.get_manifest(ref.repository, ref.digest or ref.tag or "latest")

    def get_manifest(self, repository: str, tag_or_digest: str) -> Manifest:
        if DIGEST_RE.match(tag_or_digest):
            return self._by_digest(repository, tag_or_digest)
        tag_key = (self.name, repository, tag_or_digest)
        digest = self.cache.tags.get(tag_key)
        if digest is None:  # remembered "not found"
            raise NotFound(f"{self.name}/{repository}:{tag_or_digest} not found")
        if digest is not _MISSING:
            cached: Manifest | None = self.cache.manifests.get((self.name, repository, digest))
            if cached is not None:
                return cached
        try:
            manifest = self.source.get_manifest(repository, tag_or_digest)
        except NotFound:
            self.cache.tags.put(tag_key, None)
            raise
        self.cache.tags.put(tag_key, manifest.digest)
        self.cache.manifests.put((self.name, repository, manifest.digest), manifest)
        return manifest

    def _by_digest(self, repository: str, digest: str) -> Manifest:
        key = (self.name, repository, digest)
        cached: Manifest | None = self.cache.manifests.get(key)
        if cached is None:
            cached = self.source.get_manifest(repository, digest)
            self.cache.manifests.put(key, cached)
        return cached

    def get_blob(self, repository: str, digest: str, *, max_bytes: int) -> bytes:
        key = (self.name, repository, digest)
        cached: bytes | None = self.cache.blobs.get(key)
        if cached is not None and len(cached) <= max_bytes:
            return cached
        data = self.source.get_blob(repository, digest, max_bytes=max_bytes)
        if len(data) <= MAX_BLOB_CACHED:
            self.cache.blobs.put(key, data)
        return data

    def forget_tag(self, repository: str, tag: str) -> None:
        self.cache.tags.forget((self.name, repository, tag))

    def put_manifest(self, repository: str, tag_or_digest: str, raw: bytes, media_type: str) -> str:
        self.forget_tag(repository, tag_or_digest)
        return self.source.put_manifest(repository, tag_or_digest, raw, media_type)

    # Not cached: listings change, writes go through.
    def list_tags(self, repository: str) -> list[str]:
        return self.source.list_tags(repository)

    def catalog(self) -> list[str]:
        return self.source.catalog()

    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        return self.source.referrers(repository, digest)

    def put_blob(self, repository: str, data: bytes) -> str:
        return self.source.put_blob(repository, data)

    def close(self) -> None:
        self.source.close()

    @property
    def requests(self) -> int:
        """HTTP requests the underlying client made (0 for an OCI layout)."""
        return int(getattr(self.source, "requests", 0))
