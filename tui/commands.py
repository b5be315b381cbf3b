"""Command palette (ctrl+p): every view, and every action of the current view with its key."""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.screens import VIEW_NAMES, VIEWS
from tui.screens.help import help_entries


class SignetCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        app = self.app
        for name in VIEW_NAMES:
            yield f"Go to {name}", VIEWS[name][2], partial(app.show_view, name)  # type: ignore[attr-defined]
        yield ("CLI log", "key @ — the signet command line of each action taken in this session",
               app.action_cli_log)  # type: ignore[attr-defined]
        screen = self.screen
        view = getattr(screen, "VIEW_NAME", "")
        for entry in help_entries(screen):  # the same list `?` shows
            if not hasattr(screen, f"action_{entry.action}") or entry.action == "back":
                continue
            help_text = f"key {entry.key}" + (f" — disabled: {entry.reason}" if not entry.enabled else "")
            yield f"{view}: {entry.description}", help_text, partial(self._run, entry.action, entry.reason)

    def _run(self, action: str, reason: str) -> None:
        if reason:
            self.app.notify(f"{action.replace('_', ' ')}: {reason}", severity="warning", markup=False)
            return
        self.app.call_later(self.app.run_action, action, self.screen)

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
