"""The console as a user runs it: in a real pseudo-terminal, under a wrapper (a shell, make) that
is the session leader with the pty as its controlling terminal. Closing the pty master is what
`tmux kill-session` or a dropped SSH connection does to the terminal.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
CONSOLE = f"{sys.executable} -m tui.cli.main"
ROWS, COLUMNS = 45, 170


class PtyConsole:
    """`wrapper` is a shell command line in which `{console}` stands for the console's command."""

    def __init__(self, wrapper: str, *, cwd: Path = REPO) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color", TEXTUAL_ANIMATIONS="none")
        # setsid -c: a new session whose controlling terminal is the pty (stdin), as in a real login
        self.wrapper = subprocess.Popen(["setsid", "-c", "sh", "-c", wrapper.format(console=CONSOLE)],
                                        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd)
        os.close(slave)
        self.output = b""
        self.closed = False

    def read_until(self, marker: bytes, timeout: float) -> None:
        """Read the console's output until `marker` shows up (the screen, escape codes included)."""
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{marker!r} not on screen within {timeout}s; tail: {self.output[-1500:]!r}")
            if select.select([self.master], [], [], min(left, 0.5))[0]:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError as exc:  # EIO: every process closed the pty
                    raise AssertionError(f"the console left before showing {marker!r}: {self.output[-1500:]!r}") \
                        from exc

    def drain_for(self, seconds: float) -> None:
        """Keep reading the output for `seconds` (a measuring window; the console never blocks on output)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if select.select([self.master], [], [], left)[0]:
                self.output += os.read(self.master, 65536)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def console_pid(self, timeout: float = 10.0) -> int:
        """The console's process: the Python process among the wrapper's descendants."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in descendants(self.wrapper.pid):
                try:
                    if b"tui.cli.main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        return pid
                except OSError:
                    continue
        raise AssertionError("no console process under the wrapper")

    def hang_up(self) -> None:
        """Close the terminal: the pty master goes away and the slave side is hung up."""
        os.close(self.master)
        self.closed = True

    def close(self) -> None:
        if not self.closed:
            self.hang_up()
        for pid in [*descendants(self.wrapper.pid), self.wrapper.pid]:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        self.wrapper.wait(10)


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (None once it is gone or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_gone(pid: int, timeout: float) -> tuple[float, float]:
    """Poll until `pid` has exited; returns (seconds it took, CPU seconds it spent meanwhile, up to
    the last sample taken while it was alive)."""
    started = time.monotonic()
    first = last = cpu_seconds(pid)
    if first is None:
        return 0.0, 0.0
    while (now := cpu_seconds(pid)) is not None:
        last = now
        if time.monotonic() - started > timeout:
            raise AssertionError(f"the console (pid {pid}) is still running {timeout}s after the hang-up, "
                                 f"having used {last - first:.1f}s of CPU since")
        time.sleep(0.02)  # the sampling interval of this poll, not a synchronisation
    return time.monotonic() - started, last - first
