"""The scraper on a bad day: timeouts and cancel while the page is still opening.

Run in-process with a real RunContext, real Chromium and the sandbox; the
browser must be gone by the time the exception leaves the scraper.
"""

from __future__ import annotations

import threading

import pytest

from pipedeck.errors import RetryableError, RunCancelled
from pipedeck.handlers.adlibrary_scraper import Timeouts, scrape_ad_library
from pipedeck.handlers.context import RunContext
from tests.helpers import wait_for
from tests.test_scrape_competitor import browser_processes, lib  # noqa: F401  (fixture)


def make_ctx(lib, run_id: int) -> RunContext:
    return RunContext(run_id=run_id, attempt=1, job_type="competitor_scrape", brand=lib.brand,
                      competitor=lib.rival, settings=lib.svc.settings, database=lib.svc.database)


@pytest.mark.parametrize("timeouts, expected", [
    (Timeouts(navigation=1.0, page=30.0), "did not load within 1s"),
    (Timeouts(navigation=30.0, page=1.0), "within 1s"),
])
def test_timeouts_fail_retryably_with_the_browser_closed(lib, timeouts, expected):
    lib.sandbox.set_faults(adlib_slow=2.5)
    run_id = 9000 + int(timeouts.page)
    batches: list = []
    with pytest.raises(RetryableError) as err:
        scrape_ad_library(make_ctx(lib, run_id), lib.url, max_ads=100, on_batch=batches.append, timeouts=timeouts)
    assert err.value.error_type == "AdLibraryTimeout" and expected in str(err.value)
    assert browser_processes(run_id, lib.svc.settings.home) == []
    if timeouts.page == 1.0:
        assert sum(len(b) for b in batches) == 30  # the first page was read before paging timed out


def test_cancel_while_the_page_is_still_opening(lib):
    lib.sandbox.set_faults(adlib_slow=20)
    ctx = make_ctx(lib, 9100)
    outcome: dict = {}

    def scrape():
        try:
            scrape_ad_library(ctx, lib.url, max_ads=100, on_batch=lambda b: None)
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc
            outcome["left"] = browser_processes(9100, lib.svc.settings.home)

    thread = threading.Thread(target=scrape)
    thread.start()
    wait_for(lambda: browser_processes(9100, lib.svc.settings.home), 30, message="Chromium to start")
    wait_for(lambda: lib.sandbox.stats().get("adlib_html"), 30, message="the search page request")
    ctx.request_cancel()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the scrape did not stop on cancel"
    assert isinstance(outcome["error"], RunCancelled)
    assert outcome["left"] == []


def test_browser_killed_mid_scrape_is_a_retryable_failure(lib):
    lib.sandbox.set_faults(adlib_slow=0.3)
    ctx = make_ctx(lib, 9200)
    home = lib.svc.settings.home
    outcome: dict = {}

    def scrape():
        try:
            scrape_ad_library(ctx, lib.url, max_ads=500, on_batch=lambda b: outcome.setdefault("batches", []).append(b))
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc

    thread = threading.Thread(target=scrape)
    thread.start()
    wait_for(lambda: outcome.get("batches"), 30, message="the first page")
    main = [p for p in browser_processes(9200, home)
            if "crashpad" not in p.name() and not any(a.startswith("--type=") for a in p.cmdline())]
    assert len(main) == 1
    main[0].kill()
    thread.join(timeout=30)
    assert not thread.is_alive()
    err = outcome["error"]
    assert isinstance(err, RetryableError) and err.error_type == "BrowserError", repr(err)
    wait_for(lambda: not browser_processes(9200, home), 2.0, message="the rest of Chromium to go")


def test_page_that_keeps_loading_on_its_own_is_not_waited_out(lib):
    """The page's own script may ask for the next cursor before the scraper stops listening to it;
    that page must then be fetched directly, not waited for until the page timeout."""
    lib.sandbox.set_faults(adlib_eager=1)
    batches: list = []
    report = scrape_ad_library(make_ctx(lib, 9100), lib.url, max_ads=500, on_batch=batches.append,
                               timeouts=Timeouts(navigation=30.0, page=3.0))
    assert report.captured == 212 and report.complete
    assert len({ad["ad_archive_id"] for batch in batches for ad in batch}) == 212
