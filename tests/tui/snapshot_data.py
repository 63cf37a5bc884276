"""Fixed data for the snapshot tests: the same rows, times and ids every run (clock frozen)."""

from __future__ import annotations

from pipedeck.storage import schedules as schedule_store
from pipedeck.storage.runs import LogLine

# 2026-03-02 09:00:00 UTC
NOW = 1772442000.0
HOUR = 3600.0


def build(svc) -> dict:
    """Brands, competitors, runs in every state, logs, ads, templates and a live worker; all at fixed times."""
    cat, runs = svc.catalog, svc.runs
    clock = {"t": NOW - 30 * HOUR}

    def at(hours_ago: float) -> None:
        clock["t"] = NOW - hours_ago * HOUR

    cat.clock = runs.clock = lambda: clock["t"]
    at(40)
    acme = cat.add_brand("Acme Outdoor", "1001", "100000000001")
    bloom = cat.add_brand("Bloom Skincare", "1002", "100000000002")
    cat.add_brand("Cobalt Coffee", "1003", None)
    origin = svc.settings.ad_library_url
    url = (origin + "/ads/library/?active_status=all&ad_type=all&country=ALL&view_all_page_id={}"
           "&search_type=page&media_type=all")
    summit = cat.add_competitor(acme["id"], "Summit Gear", url.format("200000000011"), origin)
    cat.add_competitor(acme["id"], "Trailhead Co", url.format("200000000012"), origin)
    cat.add_competitor(bloom["id"], "Glow Labs", url.format("200000000021"), origin)

    def run(brand, job_type, params, *, hours_ago, outcome, took=0.05, competitor=None, logs=(), progress=None,
            error=None, datasets=(), attempts=1, max_attempts=3):
        at(hours_ago)
        run_id = runs.create_run(job_type=job_type, brand_id=brand["id"], competitor_id=competitor["id"] if competitor
                                 else None, params=params, max_attempts=max_attempts)
        if outcome == "queued":
            return run_id
        step = took / attempts
        for attempt in range(1, attempts + 1):
            at(hours_ago - step * (attempt - 1) - 0.001)
            assert runs.claim(run_id, "worker-a:4242:abc123") is not None
            lines = [LogLine(clock["t"] + i, "info", msg) for i, msg in enumerate(logs)]
            runs.flush(run_id, attempt, lines, progress)
            if outcome == "running":
                return run_id
            at(hours_ago - step * attempt)
            last = attempt == attempts
            if last and outcome == "succeeded":
                runs.finish(run_id, attempt, "worker-a:4242:abc123", "succeeded", result={"rows": 1400},
                            datasets=datasets)
            else:
                runs.finish(run_id, attempt, "worker-a:4242:abc123", "failed", error_type=error[0],
                            error_message=error[1], datasets=datasets,
                            retry_at=None if last else clock["t"])
        return run_id

    ids = {}
    ids["sync_ok"] = run(acme, "meta_sync", {"days_back": 7}, hours_ago=20, outcome="succeeded", took=0.2,
                         logs=["fetched 1400 insight rows for 200 ads"], progress=(1400, 1400, "rows"),
                         datasets=("meta_performance",), max_attempts=4)
    ids["assets_failed"] = run(acme, "asset_download", {"max_images": 40, "max_videos": 20}, hours_ago=5,
                               outcome="failed", attempts=3,
                               logs=["listing creatives", "HTTP 503 from the Graph API"],
                               error=("Upstream5xx", "HTTP 503 from graph.facebook.com after 3 attempts"),
                               datasets=("ad_assets",))
    ids["scrape_ok"] = run(acme, "competitor_scrape", {"competitor_id": summit["id"], "max_ads": 500,
                                                       "ad_library_url": summit["ad_library_url"]},
                           competitor=summit, hours_ago=50, outcome="succeeded", took=0.01,
                           logs=["captured 11 of 11 ads"], datasets=("competitor_ads",))
    ids["bloom_sync"] = run(bloom, "meta_sync", {"days_back": 30}, hours_ago=2, outcome="succeeded",
                            datasets=("meta_performance",), max_attempts=4)
    ids["running"] = run(bloom, "asset_download", {"max_images": 10, "max_videos": 0}, hours_ago=0.01,
                         outcome="running", logs=["downloading images"], progress=(4, 10, "images"))
    ids["queued"] = run(acme, "template_scrape", {"max_ads": 100, "search_url": url.format("100000000001")},
                        hours_ago=0.005, outcome="queued")

    at(0)
    with svc.database.write() as db:
        for i, (archive_id, active, body, fmt, days) in enumerate([
                ("9001", 1, "Trail shoes built for wet spring mornings", "IMAGE", 2),
                ("9002", 1, "Layer up: the breathable rain shell is back", "VIDEO", 4),
                ("9003", 0, "Winter boots clearance, last sizes", "CAROUSEL", 40)]):
            db.conn.execute(
                "INSERT INTO competitor_ads (competitor_id, ad_archive_id, brand_id, page_id, page_name, is_active,"
                " body, cta_text, display_format, first_seen_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (summit["id"], archive_id, acme["id"], "200000000011", "Summit Gear", active, body, "Shop now", fmt,
                 NOW - days * 24 * HOUR, NOW - (days - 1) * 24 * HOUR if not active else NOW - 2 * HOUR))
        for i, (title, body) in enumerate([
                ("Spring is for trails", "Waterproof, light, and ready for mud. Free returns for 60 days."),
                ("Your morning ritual, upgraded", "Single-origin beans roasted every Monday."),
                ("Glow without the fuss", "Three steps, ten minutes, one happy face.")]):
            db.conn.execute(
                "INSERT INTO templates (brand_id, ad_archive_id, status, page_name, body, title, cta_text, link_url,"
                " display_format, image_url, first_seen_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (acme["id"], f"77{i}", "pending", "Summit Gear", body, title, "Learn more",
                 "https://example.com/spring", "IMAGE", f"https://scontent.example/t{i}.jpg", NOW - HOUR, NOW))
        # A live worker. Staleness is judged by the database's clock, which no test freezes: a heartbeat
        # stamped ahead of it reads as "0.0s ago" however long the snapshot takes.
        db.conn.execute(
            "INSERT INTO workers (id, kind, host, pid, proc_start, threads, version, queue, started_at, heartbeat_at,"
            f" status) VALUES (?,?,?,?,?,?,?,?,?,{svc.database.dialect.now} + 3600,?)",
            ("worker-a:4242:abc123", "worker", "worker-a", 4242, None, 2, "0.1.0", "sqlite", NOW - 48 * HOUR,
             "running"))

    # Schedules (created at NOW: their next occurrences are fixed) and freshness policies.
    sync = svc.add_schedule("meta_sync", acme["id"], cron="0 7 * * *", tz="Europe/Berlin", params={"days_back": 14})
    schedule_store.update(svc.database, sync["id"], NOW, last_run_id=ids["sync_ok"])
    templates = svc.add_schedule("template_scrape", acme["id"], cron="0 6 * * 1", missed_policy="run_once")
    svc.pause_schedule(templates["id"])
    scrape = svc.add_schedule("competitor_scrape", acme["id"], competitor=summit["id"], cron="0 5 * * 1",
                              params={"max_ads": 200})
    schedule_store.update(svc.database, scrape["id"], NOW, last_run_id=ids["scrape_ok"])
    svc.add_schedule("asset_download", bloom["id"], cron="*/30 * * * *", tz="America/New_York")
    ids.update(schedule_sync=sync["id"], schedule_templates=templates["id"], schedule_scrape=scrape["id"])
    svc.set_freshness_policy("ad_assets", 3 * 24 * HOUR, 10 * 24 * HOUR)
    svc.set_freshness_policy("meta_performance", 12 * HOUR, 36 * HOUR, brand=bloom["id"])
    return ids


def build_history(svc) -> int:
    """A schedule with a past: queued, skipped (its run still going), and missed occurrences. Returns its id."""
    clock = {"t": NOW - 6 * HOUR}
    svc.clock = lambda: clock["t"]
    try:
        sched = svc.add_schedule("meta_sync", "Cobalt Coffee", cron="0 * * * *")
        for hours_ago in (5, 4):  # 4 h ago the 5 h ago run was still queued: skipped
            clock["t"] = NOW - hours_ago * HOUR
            svc.tick(now=clock["t"])
        run_id = svc.schedule(sched["id"])["last_run_id"]
        svc.runs.clock = lambda: clock["t"]
        assert svc.runs.claim(run_id, "worker-a:4242:abc123") is not None
        svc.runs.finish(run_id, 1, "worker-a:4242:abc123", "succeeded", datasets=("meta_performance",))
        clock["t"] = NOW - 0.5 * HOUR  # no worker ticked for three hours
        svc.tick(now=clock["t"])
    finally:
        svc.clock = svc.runs.clock = lambda: NOW
    return sched["id"]
