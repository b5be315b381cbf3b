"""One Signet database seen by several people, with a hand-moved clock: for bypass workflow tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from core.clock import FixedClock
from core.config.model import ClusterConfig, Config, PolicyConfig
from core.context import SignetContext
from core.identity import principal_for
from core.paths import SignetPaths
from core.store.database import open_store

DIGEST = "sha256:" + "ab" * 32
NEIGHBOUR = "sha256:" + "ab" * 31 + "ac"
JUSTIFICATION = "Hotfix for CVE-2026-1234 must ship before the signing pipeline is repaired"
START = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)


class BypassWorld:
    def __init__(self, root: Path, *, approvals: int = 1, clusters: tuple[ClusterConfig, ...] = (),
                 max_bypass_seconds: int = 24 * 3600, request_ttl_seconds: int = 2 * 3600) -> None:
        self.clock = FixedClock(START)
        self.store = open_store(root / "signet.db")
        self.paths = SignetPaths(db=root / "signet.db", config=root / "config.toml", key_store=root / "keys")
        self.config = Config(
            roles={"approver": ("alice", "bob", "carol"), "operator": ("dev",)},
            clusters=clusters,
            policy=PolicyConfig(bypass_approvals=approvals, max_bypass_seconds=max_bypass_seconds,
                                bypass_request_ttl_seconds=request_ttl_seconds))

        self._own_stores: list = []

    def as_(self, identity: str, *, read_only: bool = False, own_connection: bool = False) -> SignetContext:
        """A context for `identity`; `own_connection` opens a separate SQLite connection, as another process would."""
        store = self.store
        if own_connection:
            store = open_store(self.paths.db)
            self._own_stores.append(store)
        config = replace(self.config, identity=identity, read_only=read_only)
        return SignetContext(config=config, store=store, principal=principal_for(config), paths=self.paths,
                             clock=self.clock)

    def close(self) -> None:
        for store in self._own_stores:
            store.close()
        self.store.close()
