"""Open the console. Kept apart from the CLI so command-line paths never import Textual."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.context import SignetContext


def run_console(*, db: str | None = None, config: str | None = None, read_only: bool = False) -> None:
    from core.context import open_context

    open_console(open_context(db=db, config=config, read_only=read_only, interface="tui"))


def open_console(context: "SignetContext") -> None:
    """Run the app on `context` until the user quits; the context is closed afterwards."""
    from tui.app import SignetApp

    try:
        SignetApp(context).run()
    finally:
        context.close()
