"""The console's watch on a team store: one thread worker listens on the store's change channel
(core/store/live.py) and posts `StoreChanged`, so open views refresh within a moment of another
Signet's request or decision; a lost connection posts `StoreReachable` with the reason, and the
worker reconnects with backoff until the store answers again. A local file has no watch.

The worker never touches widgets and never blocks the UI; it checks for cancellation at least every
WAIT_S, so leaving the console does not wait on it.
"""

from __future__ import annotations

import time
from typing import Callable

from textual.message import Message
from textual.worker import get_current_worker

from core.errors import SignetError
from core.store.live import open_listener
from core.store.postgres_store import PostgresStore
from tui.messages import StoreChanged, StoreReachable

WATCH_GROUP = "store-watch"
WAIT_S = 0.25           # longest wait between cancellation checks
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # reconnect attempts, then every 8 s


def watch_store(store: PostgresStore, post: Callable[[Message], object]) -> None:
    """The worker body: listen, report, reconnect; returns when the worker is cancelled."""
    worker = get_current_worker()
    failures = 0
    while not worker.is_cancelled:
        try:
            listener = open_listener(store.target)
            try:
                if failures:
                    store.reconnect()  # the pool connects afresh rather than waiting out its backoff
                    post(StoreReachable(""))
                failures = 0
                while not worker.is_cancelled:
                    changes = listener.wait(WAIT_S)
                    if changes:
                        post(StoreChanged(frozenset(c.table for c in changes)))
            finally:
                listener.close()
        except SignetError as exc:
            if failures == 0:
                post(StoreReachable(str(exc)))
            pause = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            failures += 1
            deadline = time.monotonic() + pause
            while not worker.is_cancelled and time.monotonic() < deadline:
                time.sleep(min(WAIT_S, pause))  # the backoff itself, cut short by cancellation
