"""The one way to change state from the console: a modal with validated fields and a confirmation.

Dangerous actions also ask the user to type a confirmation word (the key name, the bypass id):
never a single key press.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.validation import Length, ValidationResult, Validator
from textual.widgets import Button, Checkbox, Input, Label, Static

from core.errors import SignetError

MAX_FIELD_CHARS = 2000


class CoreCheck(Validator):
    """A field checked by the same core function the service will apply; its message is shown."""

    def __init__(self, check: Callable[[str], object]) -> None:
        super().__init__()
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        try:
            self.check(value)
        except SignetError as exc:
            return self.failure(str(exc))
        return self.success()


class FormCheck(Validator):
    """A core check of the whole form whose error belongs to one field (M-of-N against the custodians
    named in another field): the field is marked and the form stays open until it passes."""

    def __init__(self, check: Callable[[Mapping[str, str]], object],
                 values: Callable[[], dict[str, str] | None], name: str) -> None:
        super().__init__()
        self.check, self.values, self.name = check, values, name

    def validate(self, value: str) -> ValidationResult:
        others = self.values()
        if others is None:  # the form is still being built; it validates every field once mounted
            return self.success()
        try:
            self.check({**others, self.name: value.strip()})
        except SignetError as exc:
            return self.failure(str(exc))
        return self.success()


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    placeholder: str = ""
    value: str = ""
    password: bool = False
    required: bool = True
    validators: tuple[Validator, ...] = field(default_factory=tuple)
    max_length: int = MAX_FIELD_CHARS
    # Checked with the other fields' values (on every change, like `validators`); its error is this field's.
    form_check: Callable[[Mapping[str, str]], object] | None = None
    # A yes/no choice shown as a checkbox: ticked when `value` is "yes"; its value is "yes" or "".
    checkbox: bool = False


FORM_HEIGHT = 0.9  # of the terminal, as #form's max-height in app.tcss


def fit_body(modal: ModalScreen) -> None:
    """Give the modal's #form-body the rows #form has left after its other parts, so on a short
    terminal the body scrolls instead of pushing the buttons out of sight."""
    form, body = modal.query_one_optional("#form"), modal.query_one_optional("#form-body")
    if form is None or body is None:
        return  # deferred call on a form dismissed before its layout settled (its widgets are gone)
    chrome = form.styles.border.spacing.height + form.styles.padding.height
    others = sum(w.outer_size.height + w.styles.margin.height for w in form.children if w is not body)
    body.styles.max_height = max(3, int(modal.size.height * FORM_HEIGHT) - chrome - others)


class FormModal(ModalScreen[dict[str, str] | None]):
    """Dismisses with {field: value} when confirmed, None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: tuple[FormField, ...] = (), *, explanation: Text | str = "",
                 confirm_word: str = "", submit_label: str = "Confirm", danger: bool = False,
                 warn: Callable[[dict[str, str]], str] | None = None) -> None:
        """`warn`: a caution about the values that does not block submitting (shown as they change)."""
        super().__init__(classes="form-modal")
        self.title_text = title
        self.fields = fields
        self.explanation = explanation if isinstance(explanation, Text) else Text(explanation)
        self.confirm_word = confirm_word
        self.submit_label = submit_label
        self.danger = danger
        self._built = False  # True once every field exists (form checks read the other fields)
        self.warn = warn

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Static(Text(self.title_text, style="bold"), id="form-title")
            with VerticalScroll(id="form-body"):  # scrolls when the terminal is short (see _fit)
                if self.explanation.plain:
                    with VerticalScroll(id="form-explanation"):
                        yield Static(self.explanation)
                yield from self._compose_fields()
            yield Static("", id="form-error")
            yield Static("", id="form-warning")
            with Horizontal(id="form-buttons"):
                yield Button(self.submit_label, id="submit", variant="error" if self.danger else "primary",
                             disabled=True)
                yield Button("Cancel", id="cancel")

    def _compose_fields(self) -> ComposeResult:
        with Vertical(id="form-fields"):
            for spec in self.fields:
                if spec.checkbox:
                    yield Checkbox(Text(spec.label), value=spec.value == "yes", id=f"field-{spec.name}")
                    continue
                yield Label(Text(spec.label))
                validators = list(spec.validators)
                if spec.required:
                    validators.insert(0, Length(minimum=1, failure_description=f"{spec.label} is required"))
                if spec.form_check is not None:
                    validators.append(FormCheck(spec.form_check, lambda: self.values() if self._built else None,
                                                spec.name))
                yield Input(value=spec.value, placeholder=spec.placeholder, password=spec.password,
                            id=f"field-{spec.name}", validators=validators, max_length=spec.max_length,
                            valid_empty=not spec.required)
            if self.confirm_word:
                yield Label(Text.assemble("Type ", (self.confirm_word, "bold"), " to confirm"))
                yield Input(placeholder=self.confirm_word, id="confirm-word",
                            max_length=len(self.confirm_word) + 10)

    def on_mount(self) -> None:
        self._built = True
        self._update()
        self.call_after_refresh(self._fit)
        first = self.query(Input).first() if self.query(Input) else None
        (first or self.query_one("#cancel", Button)).focus()

    def values(self) -> dict[str, str]:
        return {spec.name: ("yes" if self.query_one(f"#field-{spec.name}", Checkbox).value else "") if spec.checkbox
                else self.query_one(f"#field-{spec.name}", Input).value.strip() for spec in self.fields}

    def _invalid(self) -> list[tuple[Input, list[str]]]:
        """Every field failing its checks (each re-validated, which marks it), with the reasons."""
        invalid = []
        for spec in self.fields:
            if spec.checkbox:  # either answer is valid
                continue
            widget = self.query_one(f"#field-{spec.name}", Input)
            result = widget.validate(widget.value)
            if result is not None and not result.is_valid:
                invalid.append((widget, result.failure_descriptions or [f"{spec.label} is not valid"]))
        return invalid

    def _problems(self) -> list[str]:
        problems = [reason for _, reasons in self._invalid() for reason in reasons]
        if self.confirm_word and self.query_one("#confirm-word", Input).value != self.confirm_word:
            problems.append(f"type {self.confirm_word} to confirm")
        return problems

    def _update(self) -> None:
        problems = self._problems()
        self.query_one("#submit", Button).disabled = bool(problems)
        self.query_one("#form-error", Static).update(Text("; ".join(problems[:3]), style="italic"))
        if self.warn is not None:
            self.query_one("#form-warning", Static).update(Text(self.warn(self.values())))

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Keep the title, the error line and the buttons on screen: the body (explanation and fields)
        gets the height left and scrolls, following the focused field."""
        fit_body(self)
        if self.focused is not None:
            self.focused.scroll_visible(animate=False)

    @on(Input.Changed)
    def _changed(self) -> None:
        self._update()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self._problems():
            self._confirm()
            return
        if event.input.is_valid:  # on to the next field to fill in; a wrong one keeps the focus
            self.focus_next()

    @on(Button.Pressed, "#submit")
    def _confirm(self) -> None:
        if self._problems():
            self._update()
            return
        self.dismiss(self.values())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class MessageModal(ModalScreen[None]):
    """Shows text once (e.g. a backup share) until the user closes it; nothing is kept afterwards."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, title: str, body: Text, *, close_label: str = "Close") -> None:
        super().__init__(classes="form-modal")
        self.title_text = title
        self.body = body
        self.close_label = close_label

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Static(Text(self.title_text, style="bold"), id="form-title")
            with VerticalScroll(id="form-body"):
                yield Static(self.body, id="message-body")
            with Horizontal(id="form-buttons"):
                yield Button(self.close_label, id="close", variant="primary")

    def on_resize(self) -> None:
        self.call_after_refresh(fit_body, self)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)

