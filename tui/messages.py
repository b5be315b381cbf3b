"""Messages posted by workers to the screens that own them; handlers change widgets, workers never do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class JobDone(Message):
    """A background job finished; `kind` names it, `value` carries its result."""
    kind: str
    value: Any
    token: Any = None  # what the job was started for (page cursor, filter), to drop stale results


@dataclass
class JobProgress(Message):
    kind: str
    done: int
    total: int


@dataclass
class StoreChanged(Message):
    """Another Signet changed these tables of the team store (core/store/live.py)."""
    tables: frozenset[str]


@dataclass
class StoreReachable(Message):
    """The team store's connection was lost (`problem` says why) or is back (`problem` empty)."""
    problem: str
