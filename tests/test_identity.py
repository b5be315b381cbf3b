"""Identity and roles are checked in core; read-only mode refuses every state change."""

from __future__ import annotations

import getpass

import pytest

from core.config.model import Config
from core.errors import PermissionDenied, ReadOnlyMode
from core.identity import Role, principal_for


def test_identity_from_config_else_os_user():
    assert principal_for(Config(identity="alice")).identity == "alice"
    assert principal_for(Config()).identity == getpass.getuser()


def test_roles_come_from_the_config_mapping():
    config = Config(identity="alice", roles={"custodian": ("alice", "carol"), "approver": ("bob",)})
    principal = principal_for(config)
    assert principal.roles == frozenset({Role.CUSTODIAN})
    principal.require_write(Role.CUSTODIAN, action="key rotation")
    with pytest.raises(PermissionDenied, match="approver role"):
        principal.require_write(Role.APPROVER, action="approving a bypass")


def test_read_only_refuses_even_with_the_role():
    principal = principal_for(Config(identity="alice", read_only=True, roles={"custodian": ("alice",)}))
    with pytest.raises(ReadOnlyMode):
        principal.require_write(Role.CUSTODIAN, action="key rotation")
    allowed, reason = principal.can_write(Role.CUSTODIAN)
    assert not allowed and "read-only" in reason


def test_can_write_explains_a_missing_role():
    allowed, reason = principal_for(Config(identity="dave")).can_write(Role.APPROVER)
    assert not allowed and "'dave' does not hold the approver role" == reason
