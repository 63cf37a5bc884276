"""Queue each job type from its screen, with defaults and with edited values; invalid input queues nothing."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Checkbox, Input, Label

from pipedeck.tui.screens.brands import BrandScreen
from pipedeck.tui.screens.competitors import CompetitorScreen
from pipedeck.tui.screens.modals import JobFormScreen
from pipedeck.tui.screens.pipeline import PipelineScreen
from tests.tui.conftest import cell_text, screen_text, shown_ids, wait_for_screen, wait_until

BRAND_KEYS = {"meta_sync": "m", "asset_download": "a", "template_scrape": "t"}


async def open_form(pilot, app, key: str) -> JobFormScreen:
    await pilot.press(key)
    return await wait_for_screen(pilot, app, JobFormScreen)


async def set_field(pilot, form: JobFormScreen, name: str, value: str) -> None:
    box = form.query_one(f"#f-{name}", Input)
    box.focus()
    if len(value) > 20:  # paste long text (a URL) in one go
        box.value = value
        await pilot.pause()
        return
    box.value = ""
    await pilot.press(*value)


async def assert_in_runs_table(pilot, app, run_id: int, job_type: str) -> None:
    await pilot.press("2")
    screen = await wait_for_screen(pilot, app, PipelineScreen)
    table = screen.query_one("#runs")
    await wait_until(pilot, lambda: run_id in shown_ids(table), message=f"run {run_id} in the runs table")
    assert cell_text(table, run_id, "type") == job_type
    assert cell_text(table, run_id, "brand") == "Acme"


@pytest.mark.parametrize("job_type", ["meta_sync", "asset_download", "template_scrape"])
async def test_queue_brand_job_with_defaults(make_app, svc, acme, job_type):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_brand(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: screen.brand, message="brand loaded")
        form = await open_form(pilot, app, BRAND_KEYS[job_type])
        assert form.job_type.key == job_type
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, JobFormScreen), message="form closes")
        runs = svc.list_runs(job_type=job_type)
        assert len(runs) == 1
        expected = svc.job_type(job_type).defaults()
        if job_type == "template_scrape":
            expected["search_url"] = svc.settings.ad_library_url + (
                "/ads/library/?active_status=all&ad_type=all&country=ALL&view_all_page_id=5001"
                "&search_type=page&media_type=all")
        assert runs[0]["params"] == expected
        assert runs[0]["direct"] == 0 and runs[0]["status"] == "queued"
        await assert_in_runs_table(pilot, app, runs[0]["id"], job_type)


@pytest.mark.parametrize("job_type, edits, expected", [
    ("meta_sync", {"days_back": "30"}, {"days_back": 30}),
    ("asset_download", {"max_images": "5", "ad_ids": "111, 222", "product": "boots"},
     {"max_images": 5, "max_videos": 20, "ad_ids": ["111", "222"], "product": "boots"}),
    ("template_scrape", {"max_ads": "25"}, {"max_ads": 25}),
])
async def test_queue_brand_job_with_edited_values(make_app, svc, acme, job_type, edits, expected):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_brand(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: screen.brand, message="brand loaded")
        form = await open_form(pilot, app, BRAND_KEYS[job_type])
        for name, value in edits.items():
            await set_field(pilot, form, name, value)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, JobFormScreen), message="form closes")
        (run,) = svc.list_runs(job_type=job_type)
        for key, value in expected.items():
            assert run["params"][key] == value
        await assert_in_runs_table(pilot, app, run["id"], job_type)


async def test_asset_download_form_offers_include_archived(make_app, svc, acme):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_brand(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: screen.brand, message="brand loaded")
        form = await open_form(pilot, app, BRAND_KEYS["asset_download"])
        box = form.query_one("#f-include_archived", Checkbox)
        assert box.value is False
        box.value = True
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, JobFormScreen), message="form closes")
        (run,) = svc.list_runs(job_type="asset_download")
        assert run["params"]["include_archived"] is True


@pytest.mark.parametrize("max_ads", [None, "40"])
async def test_queue_competitor_scrape_from_competitor_screen(make_app, svc, acme, max_ads):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_competitors(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, CompetitorScreen)
        await wait_until(pilot, lambda: screen.current_competitor() is not None, message="competitor list")
        form = await open_form(pilot, app, "s")
        assert not form.query("#f-competitor_id")  # implied by the screen: not a field
        if max_ads:
            await set_field(pilot, form, "max_ads", max_ads)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CompetitorScreen), message="form closes")
        (run,) = svc.list_runs(job_type="competitor_scrape")
        assert run["competitor_id"] == acme["competitor"]["id"]
        assert run["params"]["max_ads"] == (int(max_ads) if max_ads else 500)
        assert run["params"]["ad_library_url"] == acme["competitor"]["ad_library_url"]
        # The competitor screen's recent scrapes show it without a key press.
        scrapes = screen.query_one("#scrapes")
        await wait_until(pilot, lambda: run["id"] in shown_ids(scrapes), message="run in recent scrapes")


@pytest.mark.parametrize("value, message", [
    ("0", "days back: a whole number from 1 to 1125"),
    ("5000", "days back: a whole number from 1 to 1125"),
    ("seven", "days back: a whole number from 1 to 1125"),
    ("2.5", "days back: a whole number from 1 to 1125"),
    ("", "required"),
])
async def test_invalid_field_shows_inline_error_and_queues_nothing(make_app, svc, acme, value, message):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_brand(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: screen.brand, message="brand loaded")
        form = await open_form(pilot, app, "m")
        await set_field(pilot, form, "days_back", value)
        error = form.query_one("#err-days_back", Label)
        if value == "":
            # An empty optional field stands for its default, and says so.
            assert not error.has_class("visible")
            assert form.query_one("#f-days_back", Input).placeholder == "default 7"
            return
        await wait_until(pilot, lambda: error.has_class("visible"), message="inline error")
        assert str(error.content) == message
        assert form.query_one("#submit", Button).disabled
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, JobFormScreen), "the form stays open"
        assert svc.list_runs() == []
        # Fixing the value clears the error and queues.
        await set_field(pilot, form, "days_back", "3")
        await wait_until(pilot, lambda: not error.has_class("visible"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: svc.list_runs(), message="run queued after the fix")
        assert svc.list_runs()[0]["params"] == {"days_back": 3}


async def test_required_field_left_empty_is_an_inline_error(make_app, svc, acme):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_competitors(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, CompetitorScreen)
        await wait_until(pilot, lambda: screen.current_competitor() is not None)
        form = await open_form(pilot, app, "s")
        await set_field(pilot, form, "ad_library_url", "https://example.com/ads/library/?q=x")
        error = form.query_one("#err-ad_library_url", Label)
        await wait_until(pilot, lambda: error.has_class("visible"))
        assert "not on the Ad Library origin" in str(error.content)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert svc.list_runs() == []


async def test_brand_without_account_gets_a_clear_error_in_the_form(make_app, svc):
    brand = svc.catalog.add_brand("NoAccount")
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_brand(brand["id"])
        screen = await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: screen.brand, message="brand loaded")
        form = await open_form(pilot, app, "m")
        await pilot.press("enter")
        error = form.query_one("#err-form", Label)
        await wait_until(pilot, lambda: error.has_class("visible"), message="form error")
        assert "has no Meta ad account id" in str(error.content)
        assert isinstance(app.screen, JobFormScreen)
        assert svc.list_runs() == []


async def test_ctrl_r_in_a_job_form_runs_the_job_directly(make_app, svc, brand):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_job_form("test_echo", brand["id"])
        form = await wait_for_screen(pilot, app, JobFormScreen)
        assert not form.query_one("#direct").value  # the checkbox is not ticked: ctrl+r alone is enough
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not isinstance(app.screen, JobFormScreen), message="the form closes")
        runs = await wait_until(pilot, lambda: svc.list_runs(job_type="test_echo"), message="run recorded")
        assert runs[0]["direct"] == 1
        await wait_until(pilot, lambda: svc.runs.get(runs[0]["id"])["status"] == "succeeded", timeout=20,
                         message="ran in the app and succeeded (no worker is running)")


async def test_competitor_form_hides_the_internal_id_and_focuses_what_a_person_edits(make_app, svc, acme):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_competitors(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, CompetitorScreen)
        await wait_until(pilot, lambda: screen.current_competitor() is not None)
        form = await open_form(pilot, app, "s")
        assert not form.query("#f-competitor_id"), "the competitor's internal id is not a field"
        assert "competitor_id" not in screen_text(app)
        # The Ad Library URL is prefilled from the competitor: focus starts on max_ads.
        assert form.query_one("#f-ad_library_url", Input).value == acme["competitor"]["ad_library_url"]
        assert app.focused is form.query_one("#f-max_ads", Input)
        await pilot.press("enter")
        run = await wait_until(pilot, lambda: svc.list_runs(job_type="competitor_scrape"), message="queued")
        assert run[0]["params"]["competitor_id"] == acme["competitor"]["id"]
        assert run[0]["competitor_id"] == acme["competitor"]["id"]


@pytest.mark.parametrize("key, first", [("m", "days_back"), ("t", "max_ads")])
async def test_first_focus_is_the_first_field_not_taken_from_the_brand(make_app, svc, acme, key, first):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_brand(acme["brand"]["id"])
        screen = await wait_for_screen(pilot, app, BrandScreen)
        await wait_until(pilot, lambda: screen.brand, message="brand loaded")
        form = await open_form(pilot, app, key)
        assert app.focused is form.query_one(f"#f-{first}", Input)


async def test_retry_form_button_and_footer_say_the_same(make_app, svc, brand):
    from pipedeck.tui.widgets.key_footer import KeyFooter

    run_id = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 5, "permanent": True}, direct=True)
    svc.execute_direct(run_id)
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_job_form("test_flaky", brand["id"], params=svc.runs.get(run_id)["params"], retry_of=run_id)
        form = await wait_for_screen(pilot, app, JobFormScreen)
        labels = [item.description for item in form.query_one(KeyFooter).items()]
        assert "Retry" in labels and "Queue" not in labels
        assert str(form.query_one("#submit", Button).label) == "Retry (enter)"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: svc.runs.get(run_id)["retried_by"], message="retried by ctrl+s")
