"""Everything a core service needs, built once per process by whichever interface runs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.audit.chain import AuditEntry, append_entry
from core.clock import Clock, system_clock
from core.config.loader import load_config
from core.config.model import Config
from core.identity import Principal, Role, principal_for
from core.paths import SignetPaths, resolve_paths
from core.registry.cache import RegistryCache
from core.store import Store, open_store


@dataclass
class SignetContext:
    config: Config
    store: Store
    principal: Principal
    paths: SignetPaths
    clock: Clock = system_clock
    interface: str = "cli"  # cli | tui: recorded as the history source
    # Registry data and verdicts this process has seen, shared by every verification it runs
    registry_cache: RegistryCache = field(init=False)

    def __post_init__(self) -> None:
        self.forget_registry_cache()

    def forget_registry_cache(self) -> None:
        """Start again with empty caches (cold figures, tests that change a registry behind our back)."""
        self.registry_cache = RegistryCache(self.config.limits.cache_ttl_seconds)

    @property
    def actor(self) -> str:
        return self.principal.identity

    def audit(self, action: str, subject: str, details: dict[str, Any] | None = None) -> AuditEntry:
        """Append an audit entry; must be called inside `store.write()` with the change it records."""
        return append_entry(self.store.current(), actor=self.actor, action=action, subject=subject,
                            details=details or {}, clock=self.clock)

    def require_write(self, role: Role | None = None, *, action: str = "this action") -> None:
        self.principal.require_write(role, action=action)

    def close(self) -> None:
        self.store.close()


def with_store_policy(config: Config, store: Store) -> Config:
    """On a team store the database's policy row binds everyone (it enforces it): Signet follows the
    stricter of it and the configuration, so it asks for the approvals the store will demand."""
    if store.team_policy is None:
        return config
    approvals, max_seconds = store.team_policy
    return replace(config, policy=replace(config.policy,
                                          bypass_approvals=max(config.policy.bypass_approvals, approvals),
                                          max_bypass_seconds=min(config.policy.max_bypass_seconds, max_seconds)))


def store_location(paths: SignetPaths, config: Config) -> str:
    """--db / SIGNET_DB win; else [store] url names a team database; else the local file."""
    return paths.store_url or config.store.url or str(paths.db)


def open_context(*, db: str | None = None, config: str | None = None, read_only: bool = False,
                 interface: str = "cli", clock: Clock = system_clock) -> SignetContext:
    paths = resolve_paths(db=db, config=config)
    paths.check_db_location()
    cfg = load_config(paths.config, read_only_flag=read_only, required=config is not None)
    store = open_store(store_location(paths, cfg))
    cfg = with_store_policy(cfg, store)
    try:
        principal = principal_for(cfg, store)
    except BaseException:
        store.close()
        raise
    return SignetContext(config=cfg, store=store, principal=principal, paths=paths, clock=clock,
                         interface=interface)
