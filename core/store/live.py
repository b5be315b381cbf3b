"""Live team state: a dedicated connection LISTENing on the channel the team store's triggers NOTIFY
(data/schema/postgresql/0004_live_changes.sql), so an open console learns of another Signet's bypass
request or decision without polling the tables.

The listener is also the console's health check: a lost connection surfaces as a StoreError from
`wait()` (at the latest at the next quiet-time ping), and the caller reconnects with `open_listener`.
A local file has nobody else writing it, so it has no listener.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import psycopg

from core.store.postgres_store import connect, server_error
from core.store.target import TeamTarget

CHANNEL = "signet_changes"
PING_AFTER_QUIET_S = 5.0  # a silent connection is checked this often (a dead peer sends nothing)
MAX_BATCH = 1000  # changes taken in one wait: a burst is reported together, bounded


@dataclass(frozen=True)
class StoreChange:
    table: str  # bypasses, bypass_approvals
    id: str     # the bypass concerned


class ChangeListener:
    """One autocommit connection with LISTEN on CHANNEL. Use from one thread; close() when done."""

    def __init__(self, conn: psycopg.Connection, where: str) -> None:
        self._conn = conn
        self._where = where
        self._last_heard = time.monotonic()

    def wait(self, timeout: float) -> list[StoreChange]:
        """The changes announced within `timeout` seconds ([] when none); StoreError once the
        connection is lost."""
        try:
            heard = list(self._conn.notifies(timeout=timeout, stop_after=1))
            if heard:  # drain what arrived together without waiting again
                heard += self._conn.notifies(timeout=0.01, stop_after=MAX_BATCH)
                self._last_heard = time.monotonic()
            elif time.monotonic() - self._last_heard > PING_AFTER_QUIET_S:
                self._conn.execute("SELECT 1")
                self._last_heard = time.monotonic()
        except psycopg.Error as exc:
            raise server_error(exc, self._where) from None
        return [change for change in map(_change, (n.payload for n in heard)) if change is not None]

    def close(self) -> None:
        try:
            self._conn.close()
        except psycopg.Error:
            pass  # already broken: nothing left to close


def open_listener(target: TeamTarget) -> ChangeListener:
    """Connect and LISTEN; StoreError/ConfigError (one line) when the server cannot be reached."""
    conn = connect(target)
    try:
        conn.execute(f"LISTEN {CHANNEL}")
    except psycopg.Error as exc:
        conn.close()
        raise server_error(exc, target.shown) from None
    return ChangeListener(conn, target.shown)


def _change(payload: str) -> StoreChange | None:
    """A trigger's payload; anything else (any login may NOTIFY this channel) is ignored."""
    try:
        data = json.loads(payload)
        return StoreChange(table=str(data["table"]), id=str(data["id"]))
    except (ValueError, KeyError, TypeError):
        return None
