"""The `@` log: the `signet` command line equivalent to each action started in the console.

Like lazygit's command log: what was done by keyboard can be repeated, scripted in CI, or pasted into
an incident ticket. Lines are built with shlex quoting from the values the action used, never from
secrets (passphrases and shares are read from files or prompts on the command line, so no flag
carries one).
"""

from __future__ import annotations

import shlex
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Sequence

MAX_ENTRIES = 200
MAX_LINE_CHARS = 2000


@dataclass(frozen=True)
class CliEntry:
    at: datetime
    view: str
    command: str


def cli_line(args: Sequence[str]) -> str:
    """`signet ARGS...`, quoted for a POSIX shell; a line too long to be useful is cut with a note."""
    line = "signet " + shlex.join(str(a) for a in args)
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS] + " …  # cut: longer than a terminal line should be"
    return line


class CliLog:
    """The newest MAX_ENTRIES commands of this console session, oldest first."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self._entries: deque[CliEntry] = deque(maxlen=MAX_ENTRIES)
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, view: str, commands: Sequence[Sequence[str]]) -> None:
        now = self._clock()
        with self._lock:
            self._entries.extend(CliEntry(now, view, cli_line(args)) for args in commands)

    def entries(self) -> list[CliEntry]:
        with self._lock:
            return list(self._entries)
