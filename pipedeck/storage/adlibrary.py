"""Ad Library data: competitors' ads and the template review queue.

Read and review functions live here so the TUI and CLI share them; the
scrape handlers add the upserts.
"""

from __future__ import annotations

import json
import time

from pipedeck.errors import UserError
from pipedeck.storage.db import Database

TEMPLATE_STATUSES = ("pending", "approved", "rejected")


def competitor_ads(database: Database, competitor_id: int, *, search: str | None = None,
                   limit: int | None = 500, active_only: bool = False) -> list[dict]:
    """A competitor's ads, active first, newest seen first; ``search`` matches text, title, CTA or link."""
    sql = "SELECT * FROM competitor_ads WHERE competitor_id = ?"
    args: list = [competitor_id]
    if active_only:
        sql += " AND is_active = 1"
    if search:
        like = f"%{search}%"
        op = database.dialect.like
        sql += (f" AND (body {op} ? OR title {op} ? OR caption {op} ? OR cta_text {op} ? OR link_url {op} ?"
                f" OR ad_archive_id = ? OR page_name {op} ?)")
        args += [like, like, like, like, like, search.strip(), like]
    sql += " ORDER BY is_active DESC, last_seen_at DESC, start_date DESC, ad_archive_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return database.query(sql, args)


def competitor_ad_counts(database: Database, competitor_id: int) -> dict[str, int]:
    row = database.query_one(
        "SELECT count(*) AS total, coalesce(sum(is_active), 0) AS active FROM competitor_ads WHERE competitor_id = ?",
        (competitor_id,))
    return {"total": row["total"], "active": row["active"]}


def templates(database: Database, brand_id: int | None = None, status: str | None = "pending",
              limit: int | None = 500) -> list[dict]:
    sql = "SELECT t.*, b.name AS brand FROM templates t JOIN brands b ON b.id = t.brand_id WHERE 1=1"
    args: list = []
    if brand_id is not None:
        sql += " AND t.brand_id = ?"
        args.append(brand_id)
    if status is not None:
        if status not in TEMPLATE_STATUSES:
            raise UserError(f"unknown template status {status!r} (one of {', '.join(TEMPLATE_STATUSES)})")
        sql += " AND t.status = ?"
        args.append(status)
    sql += " ORDER BY t.id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return database.query(sql, args)


def template_counts(database: Database, brand_id: int | None = None) -> dict[str, int]:
    """How many templates are in each review status (every status present, 0 when none)."""
    sql = "SELECT status, count(*) AS n FROM templates"
    args: list = []
    if brand_id is not None:
        sql += " WHERE brand_id = ?"
        args.append(brand_id)
    counts = {status: 0 for status in TEMPLATE_STATUSES}
    for row in database.query(sql + " GROUP BY status", args):
        counts[row["status"]] = row["n"]
    return counts


def set_template_status(database: Database, template_ids: list[int], status: str,
                        clock=time.time) -> int:
    """Approve or reject (or put back to pending) templates; returns how many changed."""
    if status not in TEMPLATE_STATUSES:
        raise UserError(f"unknown template status {status!r} (one of {', '.join(TEMPLATE_STATUSES)})")
    if not template_ids:
        return 0
    marks = ",".join("?" * len(template_ids))
    with database.write() as db:
        cur = db.conn.execute(
            f"UPDATE templates SET status = ?, reviewed_at = ? WHERE id IN ({marks}) AND status != ?",
            (status, clock(), *template_ids, status))
        return cur.rowcount


# -- upserts (the scrape handlers) ---------------------------------------------------
_AD_COLUMNS = ("page_id", "page_name", "is_active", "start_date", "end_date", "body", "title", "caption", "cta_text",
               "cta_type", "link_url", "display_format", "platforms", "image_urls", "video_urls",
               "preview_image_url", "card_count", "branded_content", "branded_partner", "collation_id",
               "collation_count", "cards")


def _ad_values(ad: dict) -> list:
    out = []
    for col in _AD_COLUMNS:
        value = ad.get(col)
        if col in ("platforms", "image_urls", "video_urls", "cards"):
            value = json.dumps(list(value or []))
        elif col in ("is_active", "branded_content"):
            value = 1 if value else 0
        out.append(value)
    return out


def upsert_competitor_ads(database: Database, competitor_id: int, brand_id: int, ads: list[dict], *,
                          run_id: int | None = None, clock=time.time) -> None:
    """Insert or update a competitor's ads by ad_archive_id (normalised records).

    first_seen_at stays; last_seen_at, active state, end date and content take
    the new values. The run that first saw an ad, saw it stop, or saw it run
    again is recorded on the ad; :func:`run_changes` counts them for a run.
    """
    if not ads:
        return
    now = clock()
    cols = ", ".join(_AD_COLUMNS)
    marks = ", ".join("?" * (3 + len(_AD_COLUMNS) + 4))
    updates = ", ".join(f"{c} = excluded.{c}" for c in _AD_COLUMNS)
    # On conflict, competitor_ads.is_active is the stored (old) value, excluded.is_active the new one.
    sql = (f"INSERT INTO competitor_ads (competitor_id, ad_archive_id, brand_id, {cols}, first_seen_at, last_seen_at,"
           f" last_run_id, first_run_id) VALUES ({marks})"
           f" ON CONFLICT (competitor_id, ad_archive_id) DO UPDATE SET {updates},"
           " brand_id = excluded.brand_id, last_seen_at = excluded.last_seen_at, last_run_id = excluded.last_run_id,"
           " missing_since = NULL,"
           " stopped_run_id = CASE WHEN competitor_ads.is_active = 1 AND excluded.is_active = 0"
           "   THEN excluded.last_run_id ELSE competitor_ads.stopped_run_id END,"
           " restarted_run_id = CASE WHEN competitor_ads.is_active = 0 AND excluded.is_active = 1"
           "   THEN excluded.last_run_id ELSE competitor_ads.restarted_run_id END")
    rows = [(competitor_id, str(ad["ad_archive_id"]), brand_id, *_ad_values(ad), now, now, run_id, run_id)
            for ad in ads]
    with database.write() as db:
        db.conn.executemany(sql, rows)


def run_changes(database: Database, competitor_id: int, run_id: int) -> dict[str, int]:
    """What one run changed in a competitor's ads, counted over all of its attempts:
    new (first seen by it), stopped (it saw them stop), restarted (it saw them run again)."""
    row = database.query_one(
        "SELECT sum(CASE WHEN first_run_id = :r THEN 1 ELSE 0 END) AS new,"
        " sum(CASE WHEN stopped_run_id = :r THEN 1 ELSE 0 END) AS stopped,"
        " sum(CASE WHEN restarted_run_id = :r THEN 1 ELSE 0 END) AS restarted FROM competitor_ads WHERE competitor_id = :c",
        {"r": run_id, "c": competitor_id})
    return {k: int(row[k] or 0) for k in ("new", "stopped", "restarted")}


def templates_new_in_run(database: Database, brand_id: int, run_id: int) -> int:
    """Templates a run put into the review queue, over all of its attempts."""
    return database.scalar("SELECT count(*) FROM templates WHERE brand_id = ? AND run_id = ?", (brand_id, run_id))


def mark_unseen_inactive(database: Database, competitor_id: int, seen_since: float, *, clock=time.time) -> int:
    """After a COMPLETE scrape: active ads not seen since ``seen_since`` are no longer in the library.

    They become inactive with ``missing_since`` set (their end date is unknown).
    Only call this when the scrape followed the cursor to the end and captured
    everything Meta counted; after a partial scrape, unseen ads may simply not
    have been reached.
    """
    with database.write() as db:
        cur = db.conn.execute(
            "UPDATE competitor_ads SET is_active = 0, missing_since = ? WHERE competitor_id = ? AND is_active = 1"
            " AND last_seen_at < ?", (clock(), competitor_id, seen_since))
        return cur.rowcount


_TEMPLATE_COLUMNS = ("page_id", "page_name", "body", "title", "caption", "cta_text", "link_url", "display_format",
                     "platforms", "is_active", "start_date", "end_date", "image_url", "video_url", "cards")


def upsert_templates(database: Database, brand_id: int, ads: list[dict], *, search_url: str,
                     run_id: int | None = None, clock=time.time) -> dict[str, int]:
    """Put scraped ads (normalised records) into the review queue.

    New ads arrive ``pending``; for ads already there only the content and
    last_seen_at change, never the status, so a rejected (or approved) ad stays so.
    Returns counts: new, pending, approved, rejected (the status of those already there).
    """
    stats = {"new": 0, "pending": 0, "approved": 0, "rejected": 0}
    if not ads:
        return stats
    now = clock()
    ids = [str(ad["ad_archive_id"]) for ad in ads]
    cols = ", ".join(_TEMPLATE_COLUMNS)
    marks = ", ".join("?" * (3 + len(_TEMPLATE_COLUMNS) + 4))
    updates = ", ".join(f"{c} = excluded.{c}" for c in _TEMPLATE_COLUMNS)
    sql = (f"INSERT INTO templates (brand_id, ad_archive_id, status, {cols}, search_url, run_id, first_seen_at,"
           f" last_seen_at) VALUES ({marks})"
           f" ON CONFLICT (brand_id, ad_archive_id) DO UPDATE SET {updates},"
           " last_seen_at = excluded.last_seen_at")
    with database.write() as db:
        conn = db.conn
        before: dict[str, str] = {}
        for chunk in _chunks(ids, 500):
            q = ",".join("?" * len(chunk))
            for ad_id, status in conn.execute(
                    f"SELECT ad_archive_id, status FROM templates WHERE brand_id = ? AND ad_archive_id IN ({q})",
                    (brand_id, *chunk)):
                before[ad_id] = status
        rows = []
        for ad_id, ad in zip(ids, ads):
            values = []
            for col in _TEMPLATE_COLUMNS:
                if col in ("platforms", "cards"):
                    values.append(json.dumps(list(ad.get(col) or [])))
                elif col == "is_active":
                    values.append(1 if ad.get("is_active") else 0)
                elif col == "image_url":
                    values.append(ad.get("preview_image_url"))
                elif col == "video_url":
                    values.append((ad.get("video_urls") or [None])[0])
                else:
                    values.append(ad.get(col))
            rows.append((brand_id, ad_id, "pending", *values, search_url, run_id, now, now))
            if ad_id in before:
                stats[before[ad_id]] = stats.get(before[ad_id], 0) + 1
            else:
                stats["new"] += 1
        conn.executemany(sql, rows)
    return stats


def templates_needing_preview(database: Database, brand_id: int, ad_archive_ids: list[str]) -> list[dict]:
    """Of these ads, the templates not rejected that have an image but no stored preview yet."""
    out: list[dict] = []
    for chunk in _chunks([str(a) for a in ad_archive_ids], 500):
        q = ",".join("?" * len(chunk))
        out += database.query(
            f"SELECT id, ad_archive_id, image_url FROM templates WHERE brand_id = ? AND ad_archive_id IN ({q})"
            " AND status != 'rejected' AND preview_sha256 IS NULL AND image_url IS NOT NULL ORDER BY id",
            (brand_id, *chunk))
    return out


def set_template_preview(database: Database, template_id: int, sha256: str) -> None:
    with database.write() as db:
        db.conn.execute("UPDATE templates SET preview_sha256 = ? WHERE id = ?", (sha256, template_id))


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
