"""What every form dialog shares: the frame, one error line per field and for the form, the
submit/cancel buttons, submitting off the event loop; and the pieces of a job's param fields."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from pipedeck.errors import UserError
from pipedeck.tui import forms
from pipedeck.tui.screens.base import run_off_loop


class FormScreen(ModalScreen[Any]):
    """A form dialog whose submit runs off the loop and shows errors inline."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Save"),
    ]

    submitting = False

    def action_cancel(self) -> None:
        self.dismiss(None)

    def set_error(self, field: str, message: str) -> None:
        try:
            label = self.query_one(f"#err-{field}", Label)
        except Exception:  # noqa: BLE001 - field-less errors go to the form line
            label = self.query_one("#err-form", Label)
        label.update(Text(message, style="bold red") if message else "")
        label.set_class(bool(message), "visible")

    def form_end(self, submit: str = "Save (ctrl+s)") -> ComposeResult:
        """The form-wide error line and the submit and cancel buttons, with the ids this class relies on."""
        yield Label("", id="err-form", classes="error")
        with Horizontal(classes="buttons"):
            yield Button(submit, id="submit", variant="primary")
            yield Button("Cancel (esc)", id="cancel")

    def show_form_error(self, message: str) -> None:
        label = self.query_one("#err-form", Label)
        label.update(Text(message, style="bold red"))
        label.set_class(bool(message), "visible")

    def submit_off_loop(self, fn, then) -> None:
        if self.submitting:
            return
        self.submitting = True
        self.show_form_error("")

        def failed(exc: UserError) -> None:
            self.submitting = False
            self.show_form_error(str(exc))

        def done(result) -> None:
            self.submitting = False
            then(result)

        run_off_loop(self, fn, done, group="submit", on_error=failed)

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def field_box(label: str, widget, name: str, hint: str = "") -> Vertical:
    """A labelled input with its inline error line (``#err-<name>``)."""
    caption = Text(label, style="bold")
    if hint:
        caption.append(f"  {hint}", style="dim")
    return Vertical(Label(caption), widget, Label("", id=f"err-{name}", classes="error"), classes="field")


def field_row(label: str, widget, name: str, hint: str = "") -> ComposeResult:
    yield field_box(label, widget, name, hint)


def param_fields(specs: list[forms.FieldSpec], values: dict, notes: dict[str, str] | None = None,
                 prefilled: dict | None = None) -> list[Vertical]:
    """One field per shown param of a job type's model (``#f-<name>``), filled with ``values``.

    An empty field says what it stands for ("default 7"); ``prefilled`` names the values taken from
    the brand or competitor record.
    """
    out = []
    for spec in specs:
        if spec.hidden:
            continue
        value = values.get(spec.name)
        widget: Any
        if spec.kind == "boolean":
            widget = Checkbox(spec.name, bool(value), id=f"f-{spec.name}")
        elif spec.kind == "enum":
            widget = Select([(str(c), c) for c in spec.choices], value=value if value in spec.choices
                            else Select.NULL, allow_blank=not spec.required, id=f"f-{spec.name}")
        else:
            widget = Input(forms.display_value(spec, value), id=f"f-{spec.name}",
                           placeholder=spec.placeholder(prefilled=spec.name in (prefilled or {})))
        label = spec.name + (notes or {}).get(spec.name, "")
        hint = " — ".join(p for p in (spec.hint, spec.description) if p)
        out.append(field_box(label, widget, spec.name, hint))
    return out


def read_params(screen, specs: list[forms.FieldSpec]) -> dict[str, Any]:
    """What the param fields hold, as typed (``forms.collect`` turns it into params)."""
    raw: dict[str, Any] = {}
    for spec in specs:
        if spec.hidden:
            continue
        widget = screen.query_one(f"#f-{spec.name}")
        if isinstance(widget, Checkbox):
            raw[spec.name] = widget.value
        elif isinstance(widget, Select):
            raw[spec.name] = None if widget.is_blank() else widget.value
        else:
            raw[spec.name] = widget.value
    return raw
