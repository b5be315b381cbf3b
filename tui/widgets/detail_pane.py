"""A scrollable side pane of label/value lines; every value is shown as plain text."""

from __future__ import annotations

from typing import Any, Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.text import safe_text

MAX_VALUE_CHARS = 4000


def detail_text(title: str, fields: Iterable[tuple[str, Any]]) -> Text:
    text = Text()
    text.append(safe_text(title, max_len=200) + "\n", style="bold")
    for label, value in fields:
        if value is None or value == "" or value == [] or value == {}:
            continue
        text.append(f"{label}: ", style="bold dim")
        text.append(safe_text(str(value), max_len=MAX_VALUE_CHARS) + "\n")
    return text


class DetailPane(VerticalScroll):
    def __init__(self, *, id: str = "detail") -> None:
        super().__init__(id=id)
        self._body = Static(Text("Select a row to see its details.", style="dim"), classes="detail-body")

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, title: str, fields: Iterable[tuple[str, Any]]) -> None:
        self._body.update(detail_text(title, fields))

    def show_text(self, text: Text) -> None:
        self._body.update(text)

    @property
    def text(self) -> str:
        content = self._body.content
        return content.plain if isinstance(content, Text) else str(content)
