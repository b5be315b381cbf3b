"""The Signet console (Textual): one view at a time, switched with `:`, all work in workers."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.driver import Driver

from core.context import SignetContext
from core.store.session import POSTGRESQL
from tui.cli_log import CliLog, replay_prefix
from tui.commands import SignetCommands
from tui.messages import StoreChanged, StoreReachable
from tui.screens import view_class
from tui.screens.base import ViewScreen
from tui.screens.cli_log import CliLogModal
from tui.screens.help import HelpModal, help_entries
from tui.screens.switcher import ViewSwitcher

MAX_TRAIL = 50


class SignetApp(App):
    TITLE = "Signet"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    COMMANDS = App.COMMANDS | {SignetCommands}
    BINDINGS = [
        Binding("colon", "switch_view", "Views", id="views", show=False),
        Binding("question_mark", "help", "Help", id="help", show=False),
        Binding("at", "cli_log", "CLI log", id="cli_log"),
        Binding("ctrl+q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, context: SignetContext, *, start_view: str = "dashboard", start_filter: str = "") -> None:
        super().__init__()
        self.context = context
        self.start_view = start_view
        self.start_filter = start_filter
        self.trail: list[tuple[str, str]] = []  # views visited, for esc
        self.cli_log = CliLog(prefix=replay_prefix(context))
        self.store_problem = ""  # why the team store is unreachable, while it is; every view shows it

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        if driver.__name__ == "LinuxDriver":  # not Windows, not a TEXTUAL_DRIVER override
            from tui.terminal_driver import TerminalDriver

            return TerminalDriver
        return driver

    def on_mount(self) -> None:
        self.show_view(self.start_view, self.start_filter)
        if self.context.store.backend == POSTGRESQL:
            from core.store.postgres_store import PostgresStore
            from tui.store_watch import WATCH_GROUP, watch_store

            store = self.context.store
            assert isinstance(store, PostgresStore)
            self.run_worker(lambda: watch_store(store, self.post_message), name=WATCH_GROUP, group=WATCH_GROUP,
                            thread=True, exit_on_error=False, description="team store: live changes")

    @on(StoreChanged)
    def _store_changed(self, message: StoreChanged) -> None:
        view = self.view
        if view is not None and view.is_mounted:  # a view still being composed loads on mount anyway
            view.store_changed(message.tables)

    @on(StoreReachable)
    def _store_reachable(self, message: StoreReachable) -> None:
        was_down, self.store_problem = bool(self.store_problem), message.problem
        for screen in self.screen_stack:
            if isinstance(screen, ViewScreen) and screen.is_mounted:  # others read it when they mount
                screen.show_store_problem(message.problem)
        view = self.view
        if was_down and not message.problem and view is not None and view.is_mounted:
            view.refresh_view()  # what changed while the store was away

    @property
    def view(self) -> ViewScreen | None:
        screen = self.screen
        return screen if isinstance(screen, ViewScreen) else None

    def show_view(self, name: str, filter_text: str = "", *, remember: bool = True) -> None:
        screen = view_class(name)(self.context, initial_filter=filter_text)
        if remember:
            self.trail = (self.trail + [(name, filter_text)])[-MAX_TRAIL:]
        if isinstance(self.screen, ViewScreen):
            # Replacing the view removes the old screen, which cancels its workers.
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def action_back(self) -> None:  # type: ignore[override]  # synchronous on purpose: views call it directly
        if len(self.trail) < 2:
            return
        self.trail.pop()
        name, filter_text = self.trail[-1]
        self.show_view(name, filter_text, remember=False)

    def action_switch_view(self) -> None:
        def chosen(result: tuple[str, str] | None) -> None:
            if result:
                self.show_view(*result)

        self.push_screen(ViewSwitcher(), chosen)

    def action_cli_log(self) -> None:
        if not isinstance(self.screen, CliLogModal):
            self.push_screen(CliLogModal(self.cli_log.entries()))

    def action_help(self) -> None:
        screen = self.screen
        if not isinstance(screen, ViewScreen):
            return

        def chosen(action: str | None) -> None:
            if action:
                self.call_later(self.run_action, action, screen)

        self.push_screen(HelpModal(screen.VIEW_NAME, help_entries(screen)), chosen)
