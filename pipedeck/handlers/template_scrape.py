"""template_scrape: Ad Library ads into the template review queue."""

from __future__ import annotations

from pipedeck.handlers import browser, httpclient, media
from pipedeck.handlers.adlibrary_results import normalise_ad
from pipedeck.handlers.adlibrary_scraper import scrape_ad_library
from pipedeck.handlers.params import TemplateScrapeParams as Params
from pipedeck.storage import adlibrary

PREVIEW_CONCURRENCY = 4


def prepare() -> None:
    """Once per worker, at start (registry.import_handlers): what the first run would otherwise pay."""
    httpclient.warm()
    browser.prepare()


def run(ctx, params: Params) -> dict:
    brand_id = ctx.brand["id"]
    totals = {"new": 0, "pending": 0, "approved": 0, "rejected": 0}

    def store(batch: list[dict]) -> None:
        stats = adlibrary.upsert_templates(ctx.database, brand_id, [normalise_ad(r) for r in batch],
                                           search_url=params.search_url, run_id=ctx.run_id)
        for key, value in stats.items():
            totals[key] = totals.get(key, 0) + value

    report = scrape_ad_library(ctx, params.search_url, max_ads=params.max_ads, on_batch=store)
    line = report.summary()
    if report.truncated:
        line += f" (stopped at max_ads={params.max_ads})"
    ctx.log(line)
    result = {"captured": report.captured, "reported": report.reported, "truncated": report.truncated}
    if report.shortfall:
        result["shortfall"] = report.shortfall
        ctx.warning(f"shortfall: the Ad Library counted {report.reported} ads but its paging ended after "
                    f"{report.captured}; {report.shortfall} were never returned")
    totals["new"] = adlibrary.templates_new_in_run(ctx.database, brand_id, ctx.run_id)  # over all attempts
    reviewed = totals["approved"] + totals["rejected"]
    ctx.log(f"{totals['new']} new templates waiting for review"
            + (f"; {reviewed} already reviewed were left as reviewed" if reviewed else ""))
    result.update(new_pending=totals["new"], already_reviewed=reviewed)

    # Preview images through the one safe download path (streamed, content-addressed, size-capped).
    need = adlibrary.templates_needing_preview(ctx.database, brand_id, report.ad_ids)
    saved, failed = 0, 0
    if need:
        ctx.log(f"saving {len(need)} preview images")

        def on_result(job: media.DownloadJob, outcome) -> None:
            nonlocal saved, failed
            if isinstance(outcome, media.StoredAsset):
                adlibrary.set_template_preview(ctx.database, job.extra["template_id"], outcome.sha256)
                saved += 1
            else:
                failed += 1
                ctx.warning(f"preview of ad {job.key} not saved: {outcome}")
            ctx.progress(saved + failed, len(need), f"previews {saved + failed} of {len(need)}")

        media.download_many(ctx, [media.DownloadJob(t["image_url"], "image", key=t["ad_archive_id"],
                                                    extra={"template_id": t["id"]}) for t in need],
                            concurrency=PREVIEW_CONCURRENCY, on_result=on_result)
    result.update(previews=saved)
    if failed:
        result["preview_failures"] = failed
    return result
