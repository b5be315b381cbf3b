"""`:`: type a view name (completion, unique prefixes work), optionally followed by a filter."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.screens import VIEW_NAMES, VIEWS, match_view


class ViewSwitcher(ModalScreen[tuple[str, str] | None]):
    """Dismisses with (view name, filter text) or None."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self) -> None:
        super().__init__(classes="form-modal")

    def compose(self) -> ComposeResult:
        with Vertical(id="switcher"):
            yield Input(placeholder="view name, e.g. history result:invalid", id="switch-input",
                        suggester=SuggestFromList(VIEW_NAMES, case_sensitive=False), max_length=200)
            yield OptionList(*(_option(name) for name in VIEW_NAMES), id="switch-options")
            yield Static("", id="switch-error")

    def on_mount(self) -> None:
        self.query_one("#switch-input", Input).focus()

    @on(Input.Changed, "#switch-input")
    def _narrow(self, event: Input.Changed) -> None:
        word = event.value.split(" ", 1)[0].lower()
        options = self.query_one("#switch-options", OptionList)
        options.clear_options()
        options.add_options(_option(name) for name in VIEW_NAMES if name.startswith(word))

    @on(Input.Submitted, "#switch-input")
    def _submit(self, event: Input.Submitted) -> None:
        word, _, rest = event.value.strip().partition(" ")
        name = match_view(word)
        if name is None:
            self.query_one("#switch-error", Static).update(Text(f"no single view matches '{word}'"))
            return
        self.dismiss((name, rest.strip()))

    @on(OptionList.OptionSelected, "#switch-options")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss((str(event.option.id), ""))

    def action_close(self) -> None:
        self.dismiss(None)


def _option(name: str) -> Option:
    return Option(Text.assemble((name, "bold"), "  ", (VIEWS[name][2], "dim")), id=name)
