"""Helpers for key-custody tests: a context whose identity holds the custodian role."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest

from core.clock import FixedClock
from core.context import SignetContext, open_context

START = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def write_config(home: Path, *, identity: str = "alice", custodians: tuple[str, ...] = ("alice",),
                 extra: str = "") -> Path:
    members = ", ".join(f'"{c}"' for c in custodians)
    path = home / "config.toml"
    path.write_text(f'identity = "{identity}"\n\n[roles]\ncustodian = [{members}]\noperator = [{members}]\n{extra}')
    return path


def custodian_context(home: Path, *, clock: FixedClock | None = None, identity: str = "alice",
                      custodians: tuple[str, ...] = ("alice",), extra: str = "") -> SignetContext:
    write_config(home, identity=identity, custodians=custodians, extra=extra)
    return open_context(clock=clock or FixedClock(START))


@pytest.fixture
def ctx(signet_home: Path) -> Iterator[SignetContext]:
    """A custodian_context on the test's own Signet home, closed afterwards (import it as a fixture)."""
    context = custodian_context(signet_home)
    yield context
    context.close()
