"""Helpers for key-custody tests: a context whose identity holds the custodian role."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.clock import FixedClock
from core.context import SignetContext, open_context
from tests.support.store import login_url

START = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def write_config(home: Path, *, identity: str = "alice", custodians: tuple[str, ...] = ("alice",),
                 extra: str = "") -> Path:
    members = ", ".join(f'"{c}"' for c in custodians)
    path = home / "config.toml"
    path.write_text(f'identity = "{identity}"\n\n[roles]\ncustodian = [{members}]\noperator = [{members}]\n{extra}')
    return path


def custodian_context(home: Path, *, clock: FixedClock | None = None, identity: str = "alice",
                      custodians: tuple[str, ...] = ("alice",), extra: str = "",
                      team: tuple[str, Any] | None = None) -> SignetContext:
    """`team` = (url, server): log in to that team store as `identity`, a member of signet_custodian
    and signet_operator when it is one of `custodians` (the database then decides the roles)."""
    write_config(home, identity=identity, custodians=custodians, extra=extra)
    db = None
    if team is not None:
        url, server = team
        groups = ("signet_reader",) + (("signet_custodian", "signet_operator") if identity in custodians else ())
        server.create_login(identity, *groups)
        db = login_url(url, identity)
    return open_context(db=db, clock=clock or FixedClock(START))


@pytest.fixture
def team(store_target, request) -> tuple[str, Any] | None:
    """(url, server) when the test runs on the team store, else None (import it as a fixture)."""
    if isinstance(store_target, str):
        return store_target, request.getfixturevalue("postgres_server")
    return None


@pytest.fixture
def ctx(signet_home: Path) -> Iterator[SignetContext]:
    """A custodian_context on the test's own Signet home, closed afterwards (import it as a fixture)."""
    context = custodian_context(signet_home)
    yield context
    context.close()
