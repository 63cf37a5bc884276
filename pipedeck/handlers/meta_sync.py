"""meta_sync: ad-level daily insights from the Meta Graph API.

For the brand's ad account: the ads (names, status, creative), then one
insights row per ad per day over ``days_back`` days ending today in the
account's time zone (``level=ad``, ``time_increment=1``). Ranges up to
``ASYNC_AFTER_DAYS`` are read synchronously, page by page; longer ranges (or
when Meta asks for less data) through an asynchronous report, and a range
whose report fails is split in two (see :class:`InsightsSync`). Every page is
upserted by (ad id, date), so re-running duplicates nothing and picks up
Meta's revisions of recent days. Throttling and error mapping live in
:mod:`pipedeck.handlers.graph_client`.

Every range read to its end is recorded day by day as answered (with how
many rows Meta sent), so completeness can tell a day on which no ad
delivered (answered, no rows) from a day no sync covered. A day the
ad-level answer has no rows for is checked against the account's own daily
totals (``level=account``, one call per range that has such days): if the
account did deliver that day, Meta's answer left it out; it is not recorded
as answered, and the run's result warns.
"""

from __future__ import annotations

import datetime as dt
import time

from pipedeck.errors import PermanentError, RetryableError
from pipedeck.handlers import httpclient
from pipedeck.handlers.graph_client import GraphClient, TooMuchData
from pipedeck.handlers.params import MetaSyncParams as Params
from pipedeck.storage import meta as store

# Longer ranges go through an asynchronous report.
ASYNC_AFTER_DAYS = 31
PAGE_LIMIT = 500
ADS_PAGE_LIMIT = 500
REPORT_TIMEOUT = 30 * 60.0
ACCOUNT_CHECK_FIELDS = "impressions,spend,date_start,date_stop"
INSIGHT_FIELDS = ("ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,spend,impressions,reach,clicks,"
                  "ctr,cpc,cpm,actions,action_values,purchase_roas,date_start,date_stop")
AD_FIELDS = "id,name,status,adset_id,campaign_id,creative{id,image_url,image_hash,thumbnail_url,video_id,object_type}"


def require_account(ctx) -> str:
    account = (ctx.brand.get("meta_ad_account_id") or "").strip()
    if account.startswith("act_"):
        account = account[4:]
    if not account:
        raise PermanentError(f"brand {ctx.brand.get('name')!r} has no Meta ad account id; set it with "
                             "`pipedeck brands edit`", error_type="MissingAdAccount")
    return account


def account_today(ctx, graph: GraphClient, account: str) -> tuple[dt.date, str]:
    """Today in the ad account's time zone (Meta's days are the account's days)."""
    info = graph.get(f"act_{account}", {"fields": "name,timezone_name,currency"})
    zone = info.get("timezone_name") or "UTC"
    try:
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(zone)).date(), zone
    except Exception:  # unknown zone or no tz database
        ctx.log(f"time zone {zone!r} of ad account {account} is unknown here; using UTC days", "warning")
        return dt.datetime.now(dt.timezone.utc).date(), "UTC"


def ad_record(ad: dict) -> dict:
    creative = ad.get("creative") or {}
    return {"ad_id": ad["id"], "name": ad.get("name"), "status": ad.get("status") or ad.get("effective_status"),
            "adset_id": ad.get("adset_id"), "campaign_id": ad.get("campaign_id"), "creative_id": creative.get("id"),
            "object_type": creative.get("object_type"), "image_hash": creative.get("image_hash"),
            "image_url": creative.get("image_url"), "video_id": creative.get("video_id"),
            "thumbnail_url": creative.get("thumbnail_url")}


# Every effective status but DELETED: asking for ARCHIVED means naming all the others too.
STATUSES_WITH_ARCHIVED = ("ACTIVE", "PAUSED", "PENDING_REVIEW", "DISAPPROVED", "PREAPPROVED", "PENDING_BILLING_INFO",
                          "CAMPAIGN_PAUSED", "ADSET_PAUSED", "IN_PROCESS", "WITH_ISSUES", "ARCHIVED")


def sync_ads(ctx, graph: GraphClient, account: str, *, include_archived: bool = False) -> list[dict]:
    """All ads of the account with their creatives, upserted into meta_ads. Returns the records.

    Meta's ``/ads`` leaves ARCHIVED ads out unless ``effective_status`` asks for them.
    """
    records: list[dict] = []
    query = {"fields": AD_FIELDS, "limit": ADS_PAGE_LIMIT}
    if include_archived:
        query["effective_status"] = list(STATUSES_WITH_ARCHIVED)
    for page in graph.pages(f"act_{account}/ads", query):
        batch = [ad_record(ad) for ad in page if ad.get("id")]
        if batch:
            store.upsert_ads(ctx.database, ctx.brand["id"], account, batch)
        records.extend(batch)
        ctx.check_cancelled()
    return records


def prepare() -> None:
    """Once per worker, at start (registry.import_handlers): what the first run would otherwise pay."""
    httpclient.warm()


def run(ctx, params: Params) -> dict:
    account = require_account(ctx)
    started = time.monotonic()
    with GraphClient(ctx) as graph:
        until, zone = account_today(ctx, graph, account)
        since = until - dt.timedelta(days=params.days_back - 1)
        ads = sync_ads(ctx, graph, account)
        ctx.log(f"ad account {account}: {len(ads)} ads; syncing daily insights {since} to {until} ({zone})")
        sync = InsightsSync(ctx, graph, account, expected=max(1, len(ads) * params.days_back), timezone=zone)
        sync.fetch(since, until)
        ctx.progress(sync.received, sync.received, f"{sync.received} ad-day rows stored")
        waited = graph.waited
        calls = graph.calls
    totals, received = sync.totals, sync.received
    unchanged = max(0, received - totals.inserted - totals.updated)
    ctx.log(f"stored {received} ad-day rows for {len(ads)} ads: {totals.inserted} new, {totals.updated} changed, "
            f"{unchanged} unchanged ({calls} API calls, {waited:.1f}s waiting on Meta's limits, "
            f"{time.monotonic() - started:.1f}s)")
    result = {"ads": len(ads), "rows": received, "inserted": totals.inserted, "updated": totals.updated,
              "unchanged": unchanged, "since": since.isoformat(), "until": until.isoformat(), "mode": sync.mode,
              "api_calls": calls, "throttle_wait_s": round(waited, 1)}
    if sync.ranges > 1:
        result["ranges"] = sync.ranges
    result["days_answered"] = sync.days_answered
    if sync.left_out:
        days = sorted(sync.left_out)
        result["days_left_out"] = [d.isoformat() for d in days]
        result["warning"] = (f"Meta's ad-level insights left out {len(days)} day(s) on which the account delivered "
                             f"({_day_list(days)}); they count as missing until a later sync gets them")
        ctx.warning(result["warning"])
    return result


def _positive(value) -> bool:
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False


def _day_list(days: list[dt.date], limit: int = 5) -> str:
    shown = ", ".join(d.isoformat() for d in days[:limit])
    return shown + (f" and {len(days) - limit} more" if len(days) > limit else "")


class ReportFailed(RetryableError):
    """Meta's asynchronous report ended failed (often: still too much data for one report)."""


class InsightsSync:
    """Daily insights of one account over a date range, stored page by page.

    Ranges up to ASYNC_AFTER_DAYS are read synchronously; longer ones, or any
    that Meta says is too much data for one request, through an asynchronous
    report; a range whose report fails too is split in two and each half read
    the same way, down to single days. Rows are upserted by (ad id, date), so a
    range read again after a failure part-way stores nothing twice.
    """

    def __init__(self, ctx, graph: GraphClient, account: str, *, expected: int, timezone: str | None = None) -> None:
        self.ctx, self.graph, self.account, self.expected = ctx, graph, account, expected
        self.timezone = timezone
        self.totals = store.UpsertCounts()
        self.received = 0
        self.ranges = 0
        self.modes: set[str] = set()
        self.days_answered = 0
        self.left_out: set[dt.date] = set()

    @property
    def mode(self) -> str:
        if self.ranges > 1:
            return "split"
        return next(iter(self.modes), "sync")

    def query(self, since: dt.date, until: dt.date) -> dict:
        return {"level": "ad", "time_increment": 1, "fields": INSIGHT_FIELDS,
                "time_range": {"since": since.isoformat(), "until": until.isoformat()}}

    def store_pages(self, pages, per_day: dict[str, int]) -> None:
        ctx = self.ctx
        for page in pages:
            counts = store.store_insights_page(ctx.database, ctx.brand["id"], self.account, page)
            self.totals.add(counts)
            self.received += len(page)
            for row in page:
                day = row.get("date_start")
                per_day[day] = per_day.get(day, 0) + 1
            ctx.progress(self.received, max(self.expected, self.received), f"{self.received} ad-day rows stored")
            ctx.check_cancelled()

    def fetch(self, since: dt.date, until: dt.date) -> None:
        ctx = self.ctx
        days = (until - since).days + 1
        received_before = self.received
        if days <= ASYNC_AFTER_DAYS:
            try:
                per_day: dict[str, int] = {}
                self.store_pages(self.graph.pages(f"act_{self.account}/insights",
                                                  {**self.query(since, until), "limit": PAGE_LIMIT}), per_day)
                self.answered(since, until, per_day)
                self.ranges += 1
                self.modes.add("sync")
                return
            except TooMuchData:
                self.received = received_before  # the range is read again below; count its rows once
                ctx.log(f"Meta asked for less data per request ({since} to {until}, {days} days); "
                        "switching to an asynchronous report", "warning")
        try:
            report_id = run_report(ctx, self.graph, self.account, self.query(since, until))
            per_day = {}
            self.store_pages(self.graph.pages(f"{report_id}/insights", {"limit": PAGE_LIMIT}), per_day)
            self.answered(since, until, per_day)
            self.ranges += 1
            self.modes.add("async")
            return
        except (ReportFailed, TooMuchData) as exc:
            if days == 1:
                raise
            self.received = received_before
            middle = since + dt.timedelta(days=days // 2 - 1)
            ctx.log(f"{exc}; splitting {since} to {until} into {since} to {middle} and "
                    f"{middle + dt.timedelta(days=1)} to {until}", "warning")
        self.fetch(since, middle)
        self.fetch(middle + dt.timedelta(days=1), until)

    def answered(self, since: dt.date, until: dt.date, per_day: dict[str, int]) -> None:
        """Record the range Meta answered in full, day by day, but for days its ad-level answer left out."""
        days = [since + dt.timedelta(days=k) for k in range((until - since).days + 1)]
        empty = [d for d in days if d.isoformat() not in per_day]
        left_out = self.account_delivered(empty[0], empty[-1]) & set(empty) if empty else set()
        if left_out:
            self.left_out |= left_out
            self.ctx.log(f"Meta's ad-level answer for {since} to {until} has no rows for {len(left_out)} day(s) on "
                         f"which the account delivered ({_day_list(sorted(left_out))})", "warning")
        recorded = [(d.isoformat(), per_day.get(d.isoformat(), 0)) for d in days if d not in left_out]
        self.days_answered += store.record_answered_days(self.ctx.database, self.ctx.brand["id"], self.account,
                                                         recorded, timezone=self.timezone, run_id=self.ctx.run_id)

    def account_delivered(self, since: dt.date, until: dt.date) -> set[dt.date]:
        """Days from ``since`` to ``until`` on which the account's own totals show delivery."""
        query = {"level": "account", "time_increment": 1, "fields": ACCOUNT_CHECK_FIELDS, "limit": PAGE_LIMIT,
                 "time_range": {"since": since.isoformat(), "until": until.isoformat()}}
        delivered = set()
        for page in self.graph.pages(f"act_{self.account}/insights", query):
            for row in page:
                if _positive(row.get("impressions")) or _positive(row.get("spend")):
                    delivered.add(dt.date.fromisoformat(row["date_start"]))
        return delivered


def run_report(ctx, graph: GraphClient, account: str, query: dict) -> str:
    """Start an asynchronous insights report and wait until Meta has it ready. Returns its id."""
    started = graph.post(f"act_{account}/insights", query)
    report_id = str(started.get("report_run_id") or "")
    if not report_id:
        raise RetryableError("Meta did not return a report_run_id for the asynchronous insights report",
                             error_type="MetaServerError")
    ctx.log(f"asynchronous insights report {report_id} started")
    deadline = time.monotonic() + REPORT_TIMEOUT
    delay = 0.25
    while True:
        status = graph.get(report_id)
        state = status.get("async_status")
        pct = status.get("async_percent_completion") or 0
        if state == "Job Completed":
            ctx.log(f"report {report_id} ready")
            return report_id
        if state in ("Job Failed", "Job Skipped"):
            raise ReportFailed(f"Meta's asynchronous report {report_id} ended {state!r} at {pct}%",
                               error_type="MetaReportFailed")
        if time.monotonic() > deadline:
            raise RetryableError(f"Meta's asynchronous report {report_id} not ready after "
                                 f"{REPORT_TIMEOUT / 60:.0f} min ({state}, {pct}%)", error_type="MetaReportTimeout")
        ctx.progress(pct, 100, f"Meta is preparing the report: {state} {pct}%")
        ctx.sleep(delay)
        delay = min(5.0, delay * 1.5)
