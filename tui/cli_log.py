"""The `@` log: the `signet` command line equivalent to each action started in the console.

Like lazygit's command log: what was done by keyboard can be repeated, scripted in CI, or pasted into
an incident ticket. Lines are built with shlex quoting from the values the action used, never from
secrets (passphrases and shares are read from files or prompts on the command line, so no flag
carries one). Each line runs against what this console runs against: `--db`/`--config` when they are
not the platform defaults, and the identity when the configuration file alone would not give it.
"""

from __future__ import annotations

import shlex
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Sequence

from core.config.loader import load_config
from core.context import SignetContext
from core.identity import current_identity
from core.paths import default_paths

MAX_ENTRIES = 200
MAX_LINE_CHARS = 2000


@dataclass(frozen=True)
class CliEntry:
    at: datetime
    view: str
    command: str


def replay_prefix(ctx: SignetContext) -> str:
    """`[VAR=value ...] signet [--db PATH] [--config PATH] [--read-only]`: what makes a pasted line act on
    this console's database and configuration, as its identity, whatever the shell's SIGNET_* say."""
    defaults = default_paths()
    env: list[str] = []
    if ctx.actor != current_identity(load_config(ctx.paths.config, env={})):  # e.g. `signet demo --as bob`
        env.append(f"SIGNET_IDENTITY={shlex.quote(ctx.actor)}")
    if ctx.paths.key_store != ctx.paths.db.parent / "keys":
        env.append(f"SIGNET_KEY_STORE={shlex.quote(str(ctx.paths.key_store))}")
    flags: list[str] = []
    if ctx.paths.db != defaults.db:
        flags += ["--db", str(ctx.paths.db)]
    if ctx.paths.config != defaults.config:
        flags += ["--config", str(ctx.paths.config)]
    if ctx.principal.read_only:
        flags.append("--read-only")
    return " ".join([*env, shlex.join(["signet", *flags])])


def cli_line(args: Sequence[str], prefix: str = "signet") -> str:
    """`signet ARGS...`, quoted for a POSIX shell; a line too long to be useful is cut with a note."""
    line = prefix + " " + shlex.join(str(a) for a in args)
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS] + " …  # cut: longer than a terminal line should be"
    return line


class CliLog:
    """The newest MAX_ENTRIES commands of this console session, oldest first."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), *,
                 prefix: str = "signet") -> None:
        self._entries: deque[CliEntry] = deque(maxlen=MAX_ENTRIES)
        self._prefix = prefix
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, view: str, commands: Sequence[Sequence[str]]) -> None:
        now = self._clock()
        with self._lock:
            self._entries.extend(CliEntry(now, view, cli_line(args, self._prefix)) for args in commands)

    def entries(self) -> list[CliEntry]:
        with self._lock:
            return list(self._entries)
