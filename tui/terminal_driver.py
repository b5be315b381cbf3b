"""The console's terminal driver: Textual's Linux driver, plus leaving when the terminal goes away.

Textual 8.2.8's input thread (`LinuxDriver.run_input_thread`) answers an empty read with `break` and
selects again. On a hung-up terminal (tmux session killed, SSH connection dropped) select returns
at once and the read returns nothing, forever: a busy loop at full CPU, while the console keeps its
database open. It only ends if SIGHUP kills the process, which does not happen when something above
the console (make, a script with `trap "" HUP`) survives the hang-up or ignores the signal for it.

Here the end of terminal input (an empty read, or EIO on reading or writing), SIGHUP and SIGTERM
all mean the same: exit the app as a quit would (workers cancelled, the store closed by
`tui.console`, which then skips the interpreter's teardown), and if that has not finished within
EXIT_DEADLINE_S (a worker stuck in a network call keeps the interpreter waiting for its thread),
end the process. Ending it cannot half-commit anything: SQLite drops a transaction that has not
committed.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import threading
from codecs import getincrementaldecoder
from typing import IO, Any, Callable

from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

EXIT_DEADLINE_S = 1.5  # the issue asks for an exit within 2 s of the hang-up
HANGUP_EXIT_CODE = 128 + signal.SIGHUP
LEAVE_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
LEFT_EXIT_CODES = frozenset(128 + signum for signum in LEAVE_SIGNALS)  # the app's return code after leave()
READ_BYTES = 4096
INPUT_POLL_S = 0.1  # as Textual: the parser's tick (a lone escape key) needs a wake-up now and then


class TerminalOutput:
    """The driver's output stream. A write that fails (EIO on a hung-up terminal) reports the hang-up
    and later writes are dropped: Textual's writer thread would otherwise die on the error and leave
    the app blocked on the writer's full queue."""

    def __init__(self, stream: IO[str], on_gone: Callable[[], None]) -> None:
        self._stream = stream
        self._on_gone = on_gone
        self.gone = False

    def write(self, text: str) -> None:
        self._guard(self._stream.write, text)

    def flush(self) -> None:
        self._guard(self._stream.flush)

    def fileno(self) -> int:
        return self._stream.fileno()

    def _guard(self, call: Callable[..., Any], *args: Any) -> None:
        if self.gone:
            return
        try:
            call(*args)
        except OSError:
            self.gone = True
            self._on_gone()


class TerminalDriver(LinuxDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._output = TerminalOutput(self._file, lambda: self.leave(HANGUP_EXIT_CODE))  # type: ignore[arg-type]
        self._file = self._output  # type: ignore[assignment]  # every write now goes through the hang-up check
        self._leaving = threading.Lock()  # taken once, by the first reason to leave

    def start_application_mode(self) -> None:
        super().start_application_mode()
        loop = asyncio.get_running_loop()
        for signum in LEAVE_SIGNALS:
            # Also when the signal was ignored by whatever started us (a `trap "" HUP` is inherited).
            loop.add_signal_handler(signum, self.leave, 128 + signum)

    def leave(self, return_code: int) -> None:
        """Exit the app because the terminal went away or a signal asked; any thread, any number of times."""
        if not self._leaving.acquire(blocking=False):
            return
        # A hung-up terminal takes no output; a terminated one still does, so keep it for the reset.
        if return_code == HANGUP_EXIT_CODE:
            self._output.gone = True
        self._app.call_later(self._app.exit, None, return_code)
        deadline = threading.Timer(EXIT_DEADLINE_S, os._exit, (return_code,))
        deadline.daemon = True
        deadline.start()

    def run_input_thread(self) -> None:
        """Textual's input loop, except that the end of input (or a failed read) is a hang-up."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        try:
            while not self.exit_event.is_set():
                for _key, mask in selector.select(INPUT_POLL_S):
                    if not mask & selectors.EVENT_READ:
                        continue
                    try:
                        data = os.read(self.fileno, READ_BYTES)
                    except OSError:
                        data = b""
                    if not data:
                        self.leave(HANGUP_EXIT_CODE)
                        return
                    for event in parser.feed(decode(data)):
                        self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
