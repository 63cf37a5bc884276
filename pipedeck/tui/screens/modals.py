"""Dialogs: confirm, brand and competitor forms, and the job form built from a params model."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from pipedeck.concepts.text import visible
from pipedeck.errors import UserError
from pipedeck.handlers.registry import JobType
from pipedeck.storage.catalog import normalise_ad_account_id, normalise_page_id
from pipedeck.tui import forms
from pipedeck.tui.screens.form import FormScreen, field_row, param_fields, read_params
from pipedeck.urls import page_search_url, validate_ad_library_url
from pipedeck.tui.widgets.key_footer import KeyFooter


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no for anything destructive. Default answer is no."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No"),
    ]

    def __init__(self, message: str, *, confirm: str = "Yes", detail: str = "") -> None:
        super().__init__()
        self.message = message
        self.confirm = confirm
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm"):
            yield Static(Text(visible(self.message), style="bold"), classes="dialog-title")
            if self.detail:
                yield Static(Text(visible(self.detail)), classes="dialog-detail")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.confirm} (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class BrandFormScreen(FormScreen):
    """Add a brand, or edit one (name, Meta ad account id, Ad Library page id)."""

    def __init__(self, brand: dict | None = None) -> None:
        super().__init__()
        self.brand = brand

    def compose(self) -> ComposeResult:
        b = self.brand or {}
        with VerticalScroll(classes="dialog form"):
            yield Static(Text(visible(f"Edit brand {b['name']}") if b else "Add a brand", style="bold"),
                         classes="dialog-title")
            yield from field_row("Name", Input(b.get("name", ""), id="name", placeholder="e.g. Acme"), "name")
            yield from field_row("Meta ad account id", Input(b.get("meta_ad_account_id") or "", id="meta_ad_account_id",
                                                          placeholder="digits, e.g. 1001 or act_1001"),
                              "meta_ad_account_id", "for meta_sync and asset_download")
            yield from field_row("Ad Library page id", Input(b.get("ad_library_page_id") or "", id="ad_library_page_id",
                                                          placeholder="digits"),
                              "ad_library_page_id", "for template_scrape")
            yield from self.form_end()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#{name}", Input).value
                for name in ("name", "meta_ad_account_id", "ad_library_page_id")}

    def check(self) -> dict[str, str]:
        values = self.values()
        errors = {}
        if not " ".join(values["name"].split()):
            errors["name"] = "a brand needs a name"
        elif len(" ".join(values["name"].split())) > 100:
            errors["name"] = "at most 100 characters"
        for name, normalise in (("meta_ad_account_id", normalise_ad_account_id),
                                ("ad_library_page_id", normalise_page_id)):
            try:
                normalise(values[name])
            except UserError as exc:
                errors[name] = str(exc)
        for name in ("name", "meta_ad_account_id", "ad_library_page_id"):
            self.set_error(name, errors.get(name, ""))
        self.query_one("#submit", Button).disabled = bool(errors)
        return errors

    @on(Input.Changed)
    def _changed(self) -> None:
        self.check()

    def action_submit(self) -> None:
        if self.check():
            return
        values = self.values()
        svc = self.app.service
        if self.brand:
            brand_id = self.brand["id"]
            fn = lambda: svc.edit_brand(brand_id, name=values["name"],  # noqa: E731
                                        meta_ad_account_id=values["meta_ad_account_id"],
                                        ad_library_page_id=values["ad_library_page_id"])
        else:
            fn = lambda: svc.add_brand(values["name"], values["meta_ad_account_id"],  # noqa: E731
                                       values["ad_library_page_id"])
        self.submit_off_loop(fn, self.dismiss)


class CompetitorFormScreen(FormScreen):
    """Add or edit a competitor; the Ad Library URL is checked as you type."""

    def __init__(self, brand: dict, competitor: dict | None = None) -> None:
        super().__init__()
        self.brand = brand
        self.competitor = competitor

    def compose(self) -> ComposeResult:
        c = self.competitor or {}
        origin = self.app.settings.ad_library_url
        with VerticalScroll(classes="dialog form"):
            title = f"Edit competitor {c['name']}" if c else f"Add a competitor of {self.brand['name']}"
            yield Static(Text(visible(title), style="bold"), classes="dialog-title")
            yield from field_row("Name", Input(c.get("name", ""), id="name", placeholder="e.g. Rival Co"), "name")
            yield from field_row("Ad Library URL", Input(c.get("ad_library_url", ""), id="ad_library_url",
                                                      placeholder=page_search_url(origin, "123456789")),
                              "ad_library_url", f"on {origin}")
            yield from self.form_end()
        yield KeyFooter()

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#{name}", Input).value for name in ("name", "ad_library_url")}

    def check(self) -> dict[str, str]:
        values = self.values()
        errors = {}
        if not " ".join(values["name"].split()):
            errors["name"] = "a competitor needs a name"
        try:
            validate_ad_library_url(values["ad_library_url"], self.app.settings.ad_library_url)
        except ValueError as exc:
            errors["ad_library_url"] = str(exc)
        for name in ("name", "ad_library_url"):
            self.set_error(name, errors.get(name, ""))
        self.query_one("#submit", Button).disabled = bool(errors)
        return errors

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        if self.competitor:
            self.check()

    @on(Input.Changed)
    def _changed(self) -> None:
        self.check()

    def action_submit(self) -> None:
        if self.check():
            return
        values = self.values()
        svc = self.app.service
        if self.competitor:
            cid = self.competitor["id"]
            fn = lambda: svc.edit_competitor(cid, name=values["name"],  # noqa: E731
                                             ad_library_url=values["ad_library_url"])
        else:
            bid = self.brand["id"]
            fn = lambda: svc.add_competitor(bid, values["name"], values["ad_library_url"])  # noqa: E731
        self.submit_off_loop(fn, self.dismiss)


class JobFormScreen(FormScreen):
    """A job's params, generated from its model: defaults filled, bounds shown and enforced as you type.

    Nothing is queued while a field is invalid. Dismisses with the new run id.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Queue"),
        Binding("ctrl+r", "run_directly", "Run directly"),
    ]

    def __init__(self, job_type: JobType, brand: dict, competitor: dict | None = None, *,
                 params: dict | None = None, retry_of: int | None = None) -> None:
        super().__init__()
        self.job_type = job_type
        self.brand = brand
        self.competitor = competitor
        self.retry_of = retry_of
        if retry_of is not None:  # the footer says what the button says
            keys = self._bindings.key_to_bindings
            keys["ctrl+s"] = [Binding("ctrl+s", "submit", "Retry")]
            keys["ctrl+r"] = [Binding("ctrl+r", "run_directly", "Retry directly")]
        # The competitor is the form's subject (named in its title): its internal id is not a field.
        hidden = ("competitor_id",) if job_type.scope == "competitor" else ()
        self.specs = forms.field_specs(job_type, hidden=hidden)
        self.prefilled = self._prefill(brand, competitor)
        self.initial = forms.initial_values(job_type, self.specs, self.prefilled, params)
        self.errors: dict[str, str] = {}

    def _prefill(self, brand: dict, competitor: dict | None) -> dict:
        if self.job_type.prefill is None:
            return {}
        return dict(self.job_type.prefill(brand, competitor, self.app.settings) or {})

    def compose(self) -> ComposeResult:
        jt = self.job_type
        target = self.brand["name"] + (f" › {self.competitor['name']}" if self.competitor else "")
        verb = f"Retry run {self.retry_of} with edited params" if self.retry_of else "Queue"
        with VerticalScroll(classes="dialog form"):
            yield Static(Text.assemble((f"{verb}: {jt.emoji} {jt.label}", "bold"), ("  " + visible(target), "cyan")),
                         classes="dialog-title")
            if jt.description:
                yield Static(Text(jt.description, style="dim"), classes="dialog-detail")
            where = "competitor" if self.competitor else "brand"
            yield from param_fields(self.specs, self.initial,
                                    {name: f" (from the {where})" for name in self.prefilled}, self.prefilled)
            if not [s for s in self.specs if not s.hidden]:
                yield Static(Text("This job type takes no parameters.", style="dim"))
            yield Checkbox("Run directly in this app (no worker needed; still recorded as a run)",
                           self.app.direct_default, id="direct")
            yield Label("", id="worker-note", classes="note")
            yield from self.form_end("Queue (enter)" if not self.retry_of else "Retry (enter)")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.check()
        self._update_note()
        self.first_field().focus()

    def first_field(self):
        """Where a person starts typing: the first param not taken from the brand or competitor (a long
        prefilled URL is rarely what they came to change); else the first field."""
        fields = [self.query_one(f"#f-{s.name}") for s in self.specs if not s.hidden]
        own = [self.query_one(f"#f-{s.name}") for s in self.specs if not s.hidden and s.name not in self.prefilled]
        return (own or fields or [self.query_one("#direct", Checkbox)])[0]

    def raw_values(self) -> dict[str, Any]:
        return read_params(self, self.specs)

    def params(self) -> dict:
        params = forms.collect(self.specs, self.raw_values())
        if self.competitor is not None and "competitor_id" in {s.name for s in self.specs}:
            params["competitor_id"] = self.competitor["id"]
        return params

    def check(self) -> dict[str, str]:
        self.errors = forms.validate(self.job_type, self.params(), ad_library_origin=self.app.settings.ad_library_url,
                                     prefilled=self.prefilled, specs=self.specs)
        names = {s.name for s in self.specs if not s.hidden}
        for name in names:
            self.set_error(name, self.errors.get(name, ""))
        loose = [v for k, v in self.errors.items() if k not in names]
        self.show_form_error("; ".join(loose))
        self.query_one("#submit", Button).disabled = bool(self.errors)
        return self.errors

    def _update_note(self) -> None:
        direct = self.query_one("#direct", Checkbox).value
        note = self.query_one("#worker-note", Label)
        if not direct and not self.app.worker_alive:
            note.update(Text("No worker is alive: the run waits in the queue until one starts. ctrl+r runs it "
                             "directly in this app instead; w (on the main screens) starts a worker.", style="yellow"))
        elif direct:
            note.update(Text("Runs on a thread in this app; the app stays usable and the run is recorded.",
                             style="magenta"))
        else:
            note.update("")

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self) -> None:
        self.check()

    @on(Checkbox.Changed)
    def _checkbox(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "direct":
            self._update_note()
        else:
            self.check()

    def action_run_directly(self) -> None:
        """Run the job now, inside the app (whatever the checkbox says)."""
        self.submit(direct=True)

    def action_submit(self) -> None:
        self.submit(direct=self.query_one("#direct", Checkbox).value)

    def submit(self, *, direct: bool) -> None:
        if self.check():
            bad = next((s.name for s in self.specs if s.name in self.errors and not s.hidden), None)
            if bad is not None:
                self.query_one(f"#f-{bad}").focus()
            self.app.bell()
            return
        params = self.params()
        app = self.app
        jt, brand_id = self.job_type.key, self.brand["id"]
        competitor_id = self.competitor["id"] if self.competitor else None
        retry_of = self.retry_of

        def submit() -> int:
            return app.submit_job(jt, brand_id, competitor_id, params, direct, retry_of=retry_of)

        def queued(run_id: int) -> None:
            how = "started directly" if direct else "queued"
            app.notify(f"run {run_id} {how}: {self.job_type.key} for {self.brand['name']}", timeout=4)
            self.dismiss(run_id)

        self.submit_off_loop(submit, queued)
