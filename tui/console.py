"""Open the console. Kept apart from the CLI so command-line paths never import Textual."""

from __future__ import annotations


def run_console(*, db: str | None = None, config: str | None = None, read_only: bool = False) -> None:
    from core.context import open_context
    from tui.app import SignetApp

    context = open_context(db=db, config=config, read_only=read_only, interface="tui")
    try:
        SignetApp(context).run()
    finally:
        context.close()
