"""Open the console. Kept apart from the CLI so command-line paths never import Textual."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.context import SignetContext


def run_console(*, db: str | None = None, config: str | None = None, read_only: bool = False) -> None:
    from core.context import open_context

    open_console(open_context(db=db, config=config, read_only=read_only, interface="tui"))


def open_console(context: "SignetContext") -> None:
    """Run the app on `context` until the user quits; the context is closed afterwards."""
    from tui.app import SignetApp

    app = SignetApp(context)
    try:
        app.run()
    finally:
        context.close()
    from tui.terminal_driver import LEFT_EXIT_CODES

    if app.return_code in LEFT_EXIT_CODES:
        # The terminal went away or a signal asked us to stop, and everything is closed: end now.
        # The interpreter's teardown of the console's modules takes a second of CPU on a busy
        # machine, with nobody left to wait for it.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(app.return_code)
