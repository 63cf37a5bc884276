"""Ad Library data: competitors' ads and the template review queue.

Read and review functions live here so the TUI and CLI share them; the
scrape handlers add the upserts.
"""

from __future__ import annotations

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
        sql += (" AND (body LIKE ? OR title LIKE ? OR caption LIKE ? OR cta_text LIKE ? OR link_url LIKE ?"
                " OR ad_archive_id = ? OR page_name LIKE ?)")
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
