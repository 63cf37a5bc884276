"""competitor_scrape: a competitor's ads from the Ad Library, through headless Chromium."""

from __future__ import annotations

import time

from pipedeck.errors import PermanentError
from pipedeck.handlers import browser
from pipedeck.handlers.adlibrary_results import normalise_ad
from pipedeck.handlers.adlibrary_scraper import scrape_ad_library
from pipedeck.handlers.params import CompetitorScrapeParams as Params
from pipedeck.storage import adlibrary


def prepare() -> None:
    """Once per worker, at start (registry.import_handlers): what the first run would otherwise pay."""
    browser.prepare()


def run(ctx, params: Params) -> dict:
    competitor = ctx.competitor
    if competitor is None or competitor["id"] != params.competitor_id:
        raise PermanentError(f"competitor {params.competitor_id} is not this run's competitor", error_type="NotFound")
    brand_id = ctx.brand["id"]
    started = time.time()

    def store(batch: list[dict]) -> None:
        adlibrary.upsert_competitor_ads(ctx.database, competitor["id"], brand_id,
                                        [normalise_ad(r) for r in batch], run_id=ctx.run_id)

    report = scrape_ad_library(ctx, params.ad_library_url, max_ads=params.max_ads, on_batch=store)
    reported = report.reported
    line = report.summary()
    if report.truncated:
        line += f" (stopped at max_ads={params.max_ads})"
    ctx.log(line)
    result = {"captured": report.captured, "reported": reported, "truncated": report.truncated}
    if report.shortfall:
        result["shortfall"] = report.shortfall
        ctx.warning(f"shortfall: the Ad Library counted {reported} ads but its paging ended after "
                    f"{report.captured}; {report.shortfall} were never returned")
    # Counted from the stored ads, not this attempt's upserts: right however many attempts it took.
    changes = adlibrary.run_changes(ctx.database, competitor["id"], ctx.run_id)
    result.update(new=changes["new"], updated=report.captured - changes["new"], stopped=changes["stopped"])
    if changes["restarted"]:
        result["restarted"] = changes["restarted"]
    missing = 0
    if report.complete and not report.shortfall:
        missing = adlibrary.mark_unseen_inactive(ctx.database, competitor["id"], started)
        if missing:
            ctx.log(f"{missing} ads seen before are no longer in the Ad Library: marked inactive")
    else:
        why = "max_ads was reached" if report.truncated else "paging returned fewer ads than counted"
        ctx.log(f"ads not seen this time were left as they were: the scrape was partial ({why})")
    result["missing_marked_inactive"] = missing
    result["pages"] = report.pages
    if changes["stopped"]:
        ctx.log(f"{changes['stopped']} ads stopped running since the last scrape")
    return result
