"""Forms for recurring schedules and freshness policies.

Everything shown while typing (the cron's plain-English meaning, its next
occurrence, a param's bounds, what a policy would make of the data) is
computed here without the database; only saving goes through the Service,
on a thread worker.
"""

from __future__ import annotations

import functools
from typing import Any
from zoneinfo import available_timezones

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from pipedeck.concepts import durations
from pipedeck.errors import UserError
from pipedeck.handlers.registry import JobType
from pipedeck.queue import scheduler
from pipedeck.concepts.datasets import Policy, assess
from pipedeck.tui import fmt, forms
from pipedeck.tui.screens.form import FormScreen, field_box, param_fields, read_params
from pipedeck.tui.widgets.key_footer import KeyFooter
from pipedeck.tui.widgets.schedules_table import local_time

DEFAULT_CRON = "0 7 * * *"
MISSED_CHOICES = [("skip them", "skip"), ("run once on recovery", "run_once")]


@functools.cache
def _zone_names() -> list[str]:
    return sorted(available_timezones())


def check_zone(tz: str) -> None:
    """scheduler.zone, also for a half-typed name that is a tzdata folder ("Europe" raises IsADirectoryError)."""
    try:
        scheduler.zone(tz)
    except OSError:
        raise UserError(f"unknown time zone {tz!r} (use an IANA name such as UTC or Europe/Berlin)") from None


class ScheduleFormScreen(FormScreen):
    """Add a schedule, or edit one (cron, zone, missed-run policy, params).

    The job type is restricted to what the screen it was opened from is about.
    Params come from the job type's model, as in the job form. Only params the
    user changes are stored with the schedule; the rest (defaults, and values
    taken from the brand or competitor, such as a competitor's Ad Library URL)
    are filled in at each occurrence. Nothing is saved while a field is
    invalid. Dismisses with the saved schedule row.
    """

    def __init__(self, *, job_types: list[JobType], brands: list[dict], competitors: list[dict],
                 brand_id: int | None = None, competitor_id: int | None = None, job_type: str | None = None,
                 schedule: dict | None = None) -> None:
        super().__init__()
        self.job_types = job_types
        self.brands = brands
        self.competitors = competitors
        self.schedule = schedule
        if schedule is not None:
            brand_id, competitor_id, job_type = schedule["brand_id"], schedule["competitor_id"], schedule["job_type"]
        keys = [jt.key for jt in job_types]
        self.initial_type = job_type if job_type in keys else (keys[0] if keys else None)
        self.initial_brand = brand_id if brand_id is not None else (brands[0]["id"] if brands else None)
        self.initial_competitor = competitor_id
        self.specs: list[forms.FieldSpec] = []
        self.prefilled: dict = {}
        self.shown: dict[str, Any] = {}  # the param fields as first shown, to tell what the user changed
        self.built_for: tuple | None = None
        self.building = False
        self.errors: dict[str, str] = {}

    # -- layout --------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        s = self.schedule
        with VerticalScroll(classes="dialog form", id="schedule-form"):
            title = f"Edit schedule #{s['id']}" if s else "Schedule a recurring job"
            yield Static(Text(title, style="bold"), classes="dialog-title")
            yield Static("", id="sched-target", classes="dialog-detail")
            with Horizontal(classes="form-row"):
                if s is None and len(self.brands) > 1:
                    yield field_box("Brand", Select([(fmt.plain(b["name"]), b["id"]) for b in self.brands],
                                                    value=self.initial_brand, allow_blank=False, id="sched-brand"),
                                    "sched-brand")
                if s is None and len(self.job_types) > 1:
                    yield field_box("Job type", Select([(f"{jt.emoji} {jt.key}", jt.key)
                                                        for jt in self.job_types], value=self.initial_type,
                                                       allow_blank=False, id="sched-type"), "sched-type")
            yield field_box("Competitor", Select([], id="sched-competitor", prompt="pick a competitor"),
                            "sched-competitor")
            with Horizontal(classes="form-row"):
                yield field_box("Cron", Input(s["cron"] if s else DEFAULT_CRON, id="sched-cron",
                                              placeholder="minute hour day-of-month month day-of-week"),
                                "sched-cron", "e.g. 0 7 * * 1-5, */30 * * * *")
                yield field_box("Time zone", Input(s["tz"] if s else "UTC", id="sched-tz", placeholder="UTC",
                                                   suggester=SuggestFromList(_zone_names(), case_sensitive=False)),
                                "sched-tz", "IANA name; → completes")
            yield Label("", id="cron-explain", classes="note")
            with Horizontal(classes="form-row"):
                yield field_box("If occurrences are missed (no worker running)",
                                Select(MISSED_CHOICES, value=s["missed_policy"] if s else "skip", allow_blank=False,
                                       id="sched-missed"), "sched-missed")
                if s is None:
                    yield Vertical(Label(" "), Checkbox("Save paused", False, id="sched-paused"),
                                   classes="field paused-box")
            yield Static(Text("Params", style="bold"), classes="dialog-detail", id="params-title")
            yield Vertical(id="sched-params")
            yield from self.form_end()
        yield KeyFooter()

    async def on_mount(self) -> None:
        await self.rebuild_params()
        self.query_one("#sched-cron", Input).focus()

    # -- what is picked --------------------------------------------------------------
    def _select_value(self, widget_id: str, default):
        try:
            select = self.query_one(f"#{widget_id}", Select)
        except Exception:  # noqa: BLE001 - not shown: the screen fixed it
            return default
        return default if select.is_blank() else select.value

    def job_type(self) -> JobType | None:
        key = self._select_value("sched-type", self.initial_type)
        return next((jt for jt in self.job_types if jt.key == key), None)

    def brand(self) -> dict | None:
        brand_id = self._select_value("sched-brand", self.initial_brand)
        return next((b for b in self.brands if b["id"] == brand_id), None)

    def brand_competitors(self) -> list[dict]:
        brand = self.brand()
        return [c for c in self.competitors if brand is not None and c["brand_id"] == brand["id"]]

    def competitor(self) -> dict | None:
        jt = self.job_type()
        if jt is None or jt.scope != "competitor":
            return None
        competitor_id = self._select_value("sched-competitor", self.initial_competitor)
        return next((c for c in self.brand_competitors() if c["id"] == competitor_id), None)

    # -- params, rebuilt when the job type, brand or competitor changes ----------------
    async def rebuild_params(self) -> None:
        jt, brand = self.job_type(), self.brand()
        self._update_competitor_choices()
        competitor = self.competitor()
        key = (jt.key if jt else None, brand["id"] if brand else None, competitor["id"] if competitor else None)
        if key == self.built_for:
            self.check()
            return
        self.building = True
        self.built_for = key
        box = self.query_one("#sched-params", Vertical)
        await box.remove_children()
        self.specs, self.prefilled, values, notes = [], {}, {}, {}
        if jt is not None and brand is not None:
            hidden = ("competitor_id",) if jt.scope == "competitor" else ()
            self.specs = forms.field_specs(jt, hidden=hidden)
            if jt.prefill is not None:
                self.prefilled = dict(jt.prefill(brand, competitor, self.app.settings) or {})
            own = (self.schedule or {}).get("params") or {}
            values = forms.initial_values(jt, self.specs, self.prefilled, own)
            where = "competitor" if jt.scope == "competitor" else "brand"
            for spec in self.specs:
                if spec.name in self.prefilled and spec.name not in own:
                    notes[spec.name] = f" (taken from the {where} at each run unless you change it)"
        if [s for s in self.specs if not s.hidden]:
            await box.mount_all(param_fields(self.specs, values, notes, self.prefilled))
        else:
            await box.mount(Static(Text("This job type takes no parameters." if jt else "", style="dim")))
        self.shown = read_params(self, self.specs)
        self.building = False
        self._update_target()
        self.check()

    def _update_competitor_choices(self) -> None:
        jt = self.job_type()
        select = self.query_one("#sched-competitor", Select)
        box = select.parent
        comps = self.brand_competitors()
        # Shown only for competitor jobs with a choice to make (the competitor screen fixes it).
        wanted = jt is not None and jt.scope == "competitor" and self.schedule is None and len(comps) != 1
        box.display = wanted
        options = [(fmt.plain(c["name"]), c["id"]) for c in comps]
        if options != getattr(self, "_competitor_options", None):
            self._competitor_options = options
            with self.prevent(Select.Changed):
                select.set_options(options)
                if any(v == self.initial_competitor for _, v in options):
                    select.value = self.initial_competitor
                elif len(options) == 1:
                    select.value = options[0][1]
        if len(comps) == 1 and self.initial_competitor is None:
            self.initial_competitor = comps[0]["id"]

    def _update_target(self) -> None:
        jt, brand, comp = self.job_type(), self.brand(), self.competitor()
        text = Text()
        if jt is not None:
            text.append(f"{jt.emoji} {jt.label}", style="bold")
            text.append(f"  {jt.key}", style="dim")
        if brand is not None:
            text.append_text(fmt.plain(f"   {brand['name']}", "cyan"))
        if comp is not None:
            text.append_text(fmt.plain(f" › {comp['name']}", "cyan"))
        self.query_one("#sched-target", Static).update(text)

    @on(Select.Changed)
    async def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id in ("sched-type", "sched-brand", "sched-competitor"):
            if event.select.id == "sched-competitor" and not event.select.is_blank():
                self.initial_competitor = event.value
            await self.rebuild_params()
        else:
            self.check()

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        self.check()

    # -- checking ------------------------------------------------------------------
    def cron_and_zone(self) -> tuple[str, str]:
        return (" ".join(self.query_one("#sched-cron", Input).value.split()),
                self.query_one("#sched-tz", Input).value.strip())

    def params(self) -> dict:
        params = forms.collect(self.specs, read_params(self, self.specs))
        comp = self.competitor()
        if comp is not None and "competitor_id" in {s.name for s in self.specs}:
            params["competitor_id"] = comp["id"]
        return params

    def own_params(self) -> dict:
        """Params to store: those the user changed (and, when editing, those the schedule already had).

        A value of None removes a param the schedule had (edit_schedule's convention): its default applies.
        """
        raw = read_params(self, self.specs)
        collected = forms.collect(self.specs, raw)
        had = (self.schedule or {}).get("params") or {}
        out: dict = {}
        for spec in self.specs:
            if spec.hidden:
                continue
            changed = raw.get(spec.name) != self.shown.get(spec.name)
            if not changed and spec.name not in had:
                continue
            if spec.name in collected:
                out[spec.name] = collected[spec.name]
            elif spec.name in had:
                out[spec.name] = None
        return out

    def check(self) -> dict[str, str]:
        if self.building or not self.is_mounted:
            return self.errors
        errors: dict[str, str] = {}
        form_errors: list[str] = []
        jt, brand = self.job_type(), self.brand()
        cron, tz = self.cron_and_zone()
        zone_ok = True
        try:
            check_zone(tz)
        except UserError as exc:
            errors["sched-tz"] = str(exc)
            zone_ok = False
        explain = self.query_one("#cron-explain", Label)
        try:
            meaning = scheduler.check_cron(cron, tz if zone_ok else "UTC")
        except UserError as exc:
            errors["sched-cron"] = str(exc)
            explain.update("")
        else:
            line = Text.assemble(("→ ", "bold cyan"), (meaning, "bold cyan"))
            if zone_ok:
                now = self.app.service.clock()
                nxt = scheduler.next_after(cron, tz, now)
                line.append(f"  ({tz}); next {local_time(nxt, tz)}, {durations.until(nxt, now)}", style="cyan")
            explain.update(line)
        if brand is None:
            errors["sched-brand"] = "add a brand first"
        if jt is None:
            form_errors.append("no job type can be scheduled here")
        elif jt.scope == "competitor" and self.competitor() is None:
            errors["sched-competitor"] = ("this brand has no competitors: add one on its competitor screen"
                                          if not self.brand_competitors() else "pick a competitor")
            if not self.brand_competitors():
                form_errors.append(errors["sched-competitor"])
        if jt is not None and brand is not None:
            try:
                jt.check_brand(brand)
            except UserError as exc:
                form_errors.append(str(exc))
            param_errors = forms.validate(jt, self.params(), ad_library_origin=self.app.settings.ad_library_url,
                                          prefilled=self.prefilled, specs=self.specs)
            names = {s.name for s in self.specs if not s.hidden}
            for name, message in param_errors.items():
                if name in names:
                    errors[name] = message
                else:
                    form_errors.append(message)
        for name in ("sched-brand", "sched-competitor", "sched-cron", "sched-tz"):
            self.set_error(name, errors.get(name, ""))
        for spec in self.specs:
            if not spec.hidden:
                self.set_error(spec.name, errors.get(spec.name, ""))
        if not self.submitting:
            self.show_form_error("; ".join(form_errors))
        if form_errors:
            errors[""] = form_errors[0]
        self.errors = errors
        self.query_one("#submit", Button).disabled = bool(errors)
        return errors

    # -- saving --------------------------------------------------------------------
    def action_submit(self) -> None:
        if self.building:
            return
        if self.check():
            first = next((name for name in ("sched-cron", "sched-tz") if name in self.errors), None)
            first = first or next((f"f-{s.name}" for s in self.specs if s.name in self.errors and not s.hidden), None)
            if first is not None:
                self.query_one(f"#{first}").focus()
            self.app.bell()
            return
        svc = self.app.service
        cron, tz = self.cron_and_zone()
        missed = self.query_one("#sched-missed", Select).value
        own = self.own_params()
        if self.schedule is not None:
            schedule_id = self.schedule["id"]

            def save() -> dict:
                return svc.edit_schedule(schedule_id, cron=cron, tz=tz, params=own or None, missed_policy=missed)
        else:
            jt, brand, comp = self.job_type(), self.brand(), self.competitor()
            paused = self.query_one("#sched-paused", Checkbox).value

            def save() -> dict:
                return svc.add_schedule(jt.key, brand["id"], cron=cron, tz=tz,
                                        competitor=comp["id"] if comp else None, params=own,
                                        missed_policy=missed, active=not paused)

        self.submit_off_loop(save, self.dismiss)


class PolicyFormScreen(FormScreen):
    """A dataset's freshness policy, for all brands (the default) or one brand.

    Shows the policy in force and, as you type, what the new one would make of
    the data: the same states and reasons as `pipedeck freshness` (both come
    from ``concepts.datasets.assess`` through ``Service.freshness``).
    Dismisses with True when saved.
    """

    PREVIEW_ROWS = 6

    def __init__(self, *, datasets: list[str], brands: list[dict], policies: list[dict], freshness: list[dict],
                 dataset: str | None = None, brand_id: int | None = None) -> None:
        super().__init__()
        self.datasets = datasets
        self.brands = brands
        self.policies = policies
        self.freshness = freshness
        self.initial_dataset = dataset if dataset in datasets else datasets[0]
        self.initial_scope = brand_id or 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="policy-form"):
            yield Static(Text("Freshness policy", style="bold"), classes="dialog-title")
            yield Static(Text("When a dataset turns ◐ warning and ○ stale after its last successful refresh. "
                              "A brand's own policy wins over the default for all brands.", style="dim"),
                         classes="dialog-detail")
            with Horizontal(classes="form-row"):
                yield field_box("Dataset", Select([(ds, ds) for ds in self.datasets], value=self.initial_dataset,
                                                  allow_blank=False, id="pol-dataset"), "pol-dataset")
                yield field_box("Applies to", Select([("all brands (default policy)", 0)] +
                                                     [(fmt.plain(b["name"]), b["id"]) for b in self.brands],
                                                     value=self.initial_scope, allow_blank=False, id="pol-scope"),
                                "pol-scope")
            yield Label("", id="pol-current", classes="note")
            with Horizontal(classes="form-row"):
                yield field_box("Warn after", Input("", id="pol-warn", placeholder="e.g. 26h"), "pol-warn",
                                "e.g. 90m, 26h, 7d")
                yield field_box("Stale after", Input("", id="pol-stale", placeholder="e.g. 50h"), "pol-stale",
                                "longer than warn after")
            yield Static("", id="pol-preview", classes="dialog-detail")
            yield from self.form_end()
        yield KeyFooter()

    def on_mount(self) -> None:
        self._fill()
        self.query_one("#pol-dataset", Select).focus()  # the first field, at the top of the form

    def dataset(self) -> str:
        return self.query_one("#pol-dataset", Select).value

    def scope(self) -> int:
        return self.query_one("#pol-scope", Select).value

    def brand_name(self, brand_id: int) -> str:
        return next((b["name"] for b in self.brands if b["id"] == brand_id), str(brand_id))

    def in_force(self, dataset: str, brand_id: int) -> dict:
        """The policy that applies now to this scope: the brand's own, else the default for all brands."""
        default = next(p for p in self.policies if p["brand"] is None and p["dataset"] == dataset)
        if brand_id:
            name = self.brand_name(brand_id)
            own = next((p for p in self.policies if p["brand"] == name and p["dataset"] == dataset), None)
            if own is not None:
                return own
        return default

    def _fill(self) -> None:
        policy = self.in_force(self.dataset(), self.scope())
        with self.prevent(Input.Changed):
            self.query_one("#pol-warn", Input).value = durations.as_input(policy["warn_after"])
            self.query_one("#pol-stale", Input).value = durations.as_input(policy["stale_after"])
        where = "for all brands" if not self.scope() else f"for {self.brand_name(self.scope())}"
        self.query_one("#pol-current", Label).update(Text.assemble(
            ("In force ", "dim"), (where, "dim"), (": ", "dim"),
            f"warns after {durations.words(policy['warn_after'])}, stale after {durations.words(policy['stale_after'])}",
            (f" ({policy['source']})", "dim")))
        self.check()

    @on(Select.Changed, "#pol-dataset, #pol-scope")
    def _scope_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._fill()

    @on(Input.Changed)
    def _changed(self) -> None:
        self.check()

    def spans(self) -> tuple[float | None, float | None, dict[str, str]]:
        errors: dict[str, str] = {}
        values: list[float | None] = []
        for name in ("pol-warn", "pol-stale"):
            try:
                value = durations.parse(self.query_one(f"#{name}", Input).value)
                if value <= 0:
                    raise UserError("must be longer than 0")
                values.append(value)
            except UserError as exc:
                errors[name] = str(exc)
                values.append(None)
        warn, stale = values
        if warn is not None and stale is not None and stale <= warn:
            errors["pol-stale"] = "must be longer than warn after (a dataset warns before it goes stale)"
        return warn, stale, errors

    def affected(self, dataset: str, brand_id: int) -> list[dict]:
        """Freshness rows the policy being edited decides (a brand with its own policy keeps it)."""
        if brand_id:
            return [r for r in self.freshness if r["dataset"] == dataset and r["brand_id"] == brand_id]
        own = {p["brand"] for p in self.policies if p["brand"] is not None and p["dataset"] == dataset}
        return [r for r in self.freshness if r["dataset"] == dataset and r["brand"] not in own]

    def check(self) -> dict[str, str]:
        warn, stale, errors = self.spans()
        for name in ("pol-warn", "pol-stale"):
            self.set_error(name, errors.get(name, ""))
        self.query_one("#submit", Button).disabled = bool(errors)
        preview = self.query_one("#pol-preview", Static)
        if errors:
            preview.update("")
            return errors
        dataset, brand_id = self.dataset(), self.scope()
        rows = self.affected(dataset, brand_id)
        source = "brand policy" if brand_id else "default policy"
        now = self.app.service.clock()
        text = Text()
        text.append("With this policy:\n" if rows else "No brand's data follows this policy yet.", style="bold")
        for row in rows[: self.PREVIEW_ROWS]:
            state, reason = assess(row, Policy(warn, stale), now, source)
            who = row["brand"] + (f" › {row['competitor']}" if row["competitor"] else "")
            text.append(f"  {who}: ", style="bold")
            if state != row["state"]:
                text.append_text(fmt.freshness_text(row["state"]))
                text.append(" → ")
            text.append_text(fmt.freshness_text(state))
            text.append(f" — {reason}\n", style="")
        if len(rows) > self.PREVIEW_ROWS:
            text.append(f"  …and {len(rows) - self.PREVIEW_ROWS} more", style="dim")
        preview.update(text)
        return errors

    def action_submit(self) -> None:
        warn, stale, errors = self.spans()
        if errors:
            self.check()
            self.app.bell()
            return
        svc, dataset, brand_id = self.app.service, self.dataset(), self.scope()

        def save() -> bool:
            svc.set_freshness_policy(dataset, warn, stale, brand=brand_id or None)
            return True

        self.submit_off_loop(save, self.dismiss)
