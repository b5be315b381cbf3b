"""`signet trust update` as a service: resolve where from and where to (flags, then `[trust]`), update
through TUF, record when, and audit the change of trust material."""

from __future__ import annotations

from pathlib import Path

from core.context import SignetContext
from core.errors import ConfigError
from core.identity import Role
from core.trustroot.tuf_update import RootUpdate, record_refresh, update_trusted_root


def refresh_trusted_root(ctx: SignetContext, *, repository: str | None = None, tuf_root: str | None = None,
                         output: str | None = None) -> RootUpdate:
    trust = ctx.config.trust
    source = repository or trust.tuf_repository
    if not source:
        raise ConfigError("no TUF repository: give --repository (a URL or a mirror directory) or set "
                          "[trust] tuf_repository")
    ctx.require_write(Role.CUSTODIAN, action="updating the trusted root")
    destination = Path(output or trust.trusted_root or ctx.paths.db.parent / "trusted_root.json").expanduser()
    bootstrap = tuf_root or trust.tuf_root
    update = update_trusted_root(repository=source, state_dir=ctx.paths.db.parent / "tuf", destination=destination,
                                 bootstrap_root=Path(bootstrap).expanduser() if bootstrap else None)
    record_refresh(destination, update, ctx.clock())
    with ctx.store.write():
        ctx.audit("trust update", str(destination), {"source": source, "sha256": update.sha256,
                                                     "changed": update.changed,
                                                     "tuf_root_version": update.tuf_root_version})
    return update
