"""State shared by the verifications of one `verify_images` call: registry connections per host,
the process cache, the limits."""

from __future__ import annotations

import threading

from core.config.model import LimitsConfig
from core.context import SignetContext
from core.registry.cache import CachedSource, RegistryCache, source_key
from core.registry.client import open_registry
from core.registry.reference import ImageReference


class VerifySession:
    def __init__(self, ctx: SignetContext, *, allow_http: bool = False) -> None:
        self.ctx = ctx
        self.limits: LimitsConfig = ctx.config.limits
        self.cache: RegistryCache = ctx.registry_cache
        self.allow_http = allow_http
        self._sources: dict[str, CachedSource] = {}
        self._lock = threading.Lock()

    def source_for(self, ref: ImageReference) -> CachedSource:
        """One (cached, connection-pooling) source per registry host or layout directory."""
        key = source_key(ref)
        with self._lock:
            source = self._sources.get(key)
            if source is None:
                source = CachedSource(open_registry(self.ctx.config, ref, allow_http=self.allow_http), self.cache)
                self._sources[key] = source
            return source

    def request_count(self) -> int:
        return sum(s.requests for s in self._sources.values())

    def close(self) -> None:
        with self._lock:
            for source in self._sources.values():
                source.close()
            self._sources.clear()
