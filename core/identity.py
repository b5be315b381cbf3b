"""Who is acting, and what they may do.

On a local SQLite file this is a guard against mistakes (a custodian step run by the wrong person,
an approver approving their own request), not a security boundary against the operator of this
machine, who can edit the config; the cluster's RBAC and AWS IAM remain the hard boundary (see README).

On a team store the database decides: the identity is the login the server authenticated
(`session_user`) and the roles are its memberships in the signet_* group roles. A configured identity
that disagrees is refused rather than silently used; `[roles]` is ignored there (with a note).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from enum import Enum
from typing import Any

from core.config.model import Config
from core.errors import ConfigError, PermissionDenied, ReadOnlyMode


class Role(str, Enum):
    OPERATOR = "operator"
    CUSTODIAN = "custodian"
    APPROVER = "approver"


@dataclass(frozen=True)
class Principal:
    identity: str
    roles: frozenset[Role]
    read_only: bool = False
    notes: tuple[str, ...] = ()  # things the person should know about how this was decided

    def has(self, role: Role) -> bool:
        return role in self.roles

    def can_write(self, role: Role | None = None) -> tuple[bool, str]:
        """(allowed, reason) without raising: the console uses this to disable and explain."""
        if self.read_only:
            return False, "read-only mode is on"
        if role is not None and role not in self.roles:
            return False, f"'{self.identity}' does not hold the {role.value} role"
        return True, ""

    def require_write(self, role: Role | None = None, *, action: str = "this action") -> None:
        if self.read_only:
            raise ReadOnlyMode(f"read-only mode refuses {action}")
        if role is not None and role not in self.roles:
            raise PermissionDenied(f"{action} needs the {role.value} role; '{self.identity}' does not hold it")


def current_identity(config: Config) -> str:
    """SIGNET_IDENTITY (already folded into config by the loader), else the config file, else the OS user."""
    if config.identity:
        return config.identity
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


GROUP_ROLE_PREFIX = "signet_"


def principal_for(config: Config, store: Any = None) -> Principal:
    """From the team store when `store` is one (it has a `login`), else from the configuration."""
    login = getattr(store, "login", None)
    if login:
        return _team_principal(config, login, store.held_roles)
    identity = current_identity(config)
    roles = frozenset(Role(r) for r, members in config.roles.items() if identity in members)
    return Principal(identity=identity, roles=roles, read_only=config.read_only)


def _team_principal(config: Config, login: str, held_roles: frozenset[str]) -> Principal:
    if config.identity and config.identity != login:
        raise ConfigError(f"identity '{config.identity}' (SIGNET_IDENTITY or identity =) disagrees with the team "
                          f"store's login '{login}'; on a team store the database says who you are: unset it")
    roles = frozenset(Role(name.removeprefix(GROUP_ROLE_PREFIX)) for name in held_roles
                      if name.removeprefix(GROUP_ROLE_PREFIX) in Role._value2member_map_)
    notes = ("[roles] in the config file is ignored on a team store: roles are memberships in the "
             "signet_* database roles",) if config.roles else ()
    return Principal(identity=login, roles=roles, read_only=config.read_only, notes=notes)
