"""One Signet store seen by several people, with a hand-moved clock: for bypass workflow tests.

On a team store (a postgresql:// target) each person logs in as their own database role, a member
of the signet_* group roles their configured roles name, as a team would set it up; the identity
and roles then come from the database, as in production.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.clock import FixedClock
from core.config.model import ClusterConfig, Config, PolicyConfig
from core.context import SignetContext
from core.identity import principal_for
from core.paths import SignetPaths
from tests.support.store import login_url, open_target

DIGEST = "sha256:" + "ab" * 32
NEIGHBOUR = "sha256:" + "ab" * 31 + "ac"
JUSTIFICATION = "Hotfix for CVE-2026-1234 must ship before the signing pipeline is repaired"
START = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)


class BypassWorld:
    def __init__(self, root: Path, *, approvals: int = 1, clusters: tuple[ClusterConfig, ...] = (),
                 max_bypass_seconds: int = 24 * 3600, request_ttl_seconds: int = 2 * 3600,
                 target: str | Path | None = None, server: Any = None) -> None:
        self.clock = FixedClock(START)
        self.target = target if target is not None else root / "signet.db"
        self.server = server
        self.store = open_target(self.target)  # the administrator's view (the superuser on a team store)
        self.paths = SignetPaths(db=root / "signet.db", config=root / "config.toml", key_store=root / "keys")
        self.config = Config(
            roles={"approver": ("alice", "bob", "carol"), "operator": ("dev",)},
            clusters=clusters,
            policy=PolicyConfig(bypass_approvals=approvals, max_bypass_seconds=max_bypass_seconds,
                                bypass_request_ttl_seconds=request_ttl_seconds))

        self._own_stores: list = []
        self._logins: dict[str, Any] = {}

    @property
    def team(self) -> bool:
        return isinstance(self.target, str)

    def as_(self, identity: str, *, read_only: bool = False, own_connection: bool = False) -> SignetContext:
        """A context for `identity`; `own_connection` opens a separate connection, as another process would."""
        if self.team:
            store = self._login(identity, fresh=own_connection)
        elif own_connection:
            store = open_target(self.target)
            self._own_stores.append(store)
        else:
            store = self.store
        config = replace(self.config, identity=identity, read_only=read_only)
        if self.team:
            config = replace(config, roles={})
        return SignetContext(config=config, store=store, principal=principal_for(config, store), paths=self.paths,
                             clock=self.clock)

    def _login(self, identity: str, *, fresh: bool) -> Any:
        if identity in self._logins and not fresh:
            return self._logins[identity]
        groups = ["signet_reader"] + [f"signet_{role}" for role, members in self.config.roles.items()
                                      if identity in members]
        self.server.create_login(identity, *groups)
        store = open_target(login_url(self.target, identity))
        self._own_stores.append(store)
        self._logins.setdefault(identity, store)
        return store

    def close(self) -> None:
        for store in self._own_stores:
            store.close()
        self.store.close()
