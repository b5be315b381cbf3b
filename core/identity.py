"""Who is acting, and what they may do.

This is a local guard against mistakes (a custodian step run by the wrong person, an approver
approving their own request). It is not a security boundary against the operator of this machine,
who can edit the config; the cluster's RBAC and AWS IAM remain the hard boundary (see README).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from enum import Enum

from core.config.model import Config
from core.errors import PermissionDenied, ReadOnlyMode


class Role(str, Enum):
    OPERATOR = "operator"
    CUSTODIAN = "custodian"
    APPROVER = "approver"


@dataclass(frozen=True)
class Principal:
    identity: str
    roles: frozenset[Role]
    read_only: bool = False

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


def principal_for(config: Config) -> Principal:
    identity = current_identity(config)
    roles = frozenset(Role(r) for r, members in config.roles.items() if identity in members)
    return Principal(identity=identity, roles=roles, read_only=config.read_only)
