"""Meta Graph API data: ads, daily insights, and downloaded media assets.

Writers (each one short ``BEGIN IMMEDIATE`` transaction):

- :func:`upsert_ads` — ads by Meta ad id; creative fields only overwrite when given.
- :func:`store_insights_page` — a page of insights rows and the ads they name, in one transaction.
- :func:`upsert_insights` — one row per (ad id, date); a re-sync updates a row
  only when one of its values changed, so ``updated_at`` says when Meta
  revised it. Returns how many rows were inserted and updated.
- :func:`record_asset` — a stored media file (content hash → path), once, with the run that stored it
  (and, given :class:`AssetLinks`, the ads that use it, in the same transaction);
  :func:`record_assets` — several, in one transaction.
- :func:`link_ad_asset` / :func:`link_ad_assets` — which ads use which stored file, linked by which run.
- :func:`record_answered_days` — the days Meta answered an insights request for, and how many rows it sent.

Readers: :func:`ads_without_media`, :func:`stored_sources`, :func:`run_media`, :func:`insight_count`,
:func:`asset_rows`, :func:`insight_completeness`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

from pipedeck.concepts import completeness
from pipedeck.storage.db import Database

AD_FIELDS = ("name", "status", "adset_id", "adset_name", "campaign_id", "campaign_name", "creative_id",
             "object_type", "image_hash", "image_url", "video_id", "thumbnail_url")

INSIGHT_COLUMNS = ("ad_id", "date", "brand_id", "spend", "impressions", "reach", "clicks", "ctr", "cpc", "cpm",
                   "actions", "action_values", "purchase_roas", "updated_at")
_VALUE_COLUMNS = INSIGHT_COLUMNS[3:-1]

INSIGHTS_UPSERT = (
    f"INSERT INTO meta_insights ({', '.join(INSIGHT_COLUMNS)}) VALUES ({', '.join('?' * len(INSIGHT_COLUMNS))}) "
    "ON CONFLICT (ad_id, date) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _VALUE_COLUMNS + ("brand_id", "updated_at"))
    + " WHERE {changed}"
)


def _insights_upsert(dialect) -> str:
    """INSIGHTS_UPSERT on ``dialect``: a row is rewritten only when a value changed (compared null-safely)."""
    return INSIGHTS_UPSERT.format(changed=" OR ".join(dialect.differ(f"meta_insights.{c}", f"excluded.{c}")
                                                      for c in _VALUE_COLUMNS + ("brand_id",)))


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: "UpsertCounts") -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


def _num(value, cast=float):
    if value is None or value == "":
        return None
    try:
        return cast(value)
    except (TypeError, ValueError):
        try:
            return cast(float(value))
        except (TypeError, ValueError):
            return None


_PLAIN = re.compile(r"[A-Za-z0-9_.:\-]*\Z").match


def _json_list(value) -> str | None:
    """Compact JSON of an ``actions``-style list, keys sorted (fast path for the usual {action_type, value})."""
    if not value:
        return None
    try:
        parts = []
        for item in value:
            kind, amount = item["action_type"], item["value"]
            if len(item) != 2 or not _PLAIN(kind) or not _PLAIN(amount):
                raise ValueError
            parts.append(f'{{"action_type":"{kind}","value":"{amount}"}}')
        return "[" + ",".join(parts) + "]"
    except (KeyError, TypeError, ValueError):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)


def insight_row(row: dict, brand_id: int, now: float) -> tuple:
    """One Graph API insights row (numbers as strings) as a meta_insights tuple."""
    return (
        str(row["ad_id"]), row["date_start"], brand_id,
        _num(row.get("spend")), _num(row.get("impressions"), int), _num(row.get("reach"), int),
        _num(row.get("clicks"), int), _num(row.get("ctr")), _num(row.get("cpc")), _num(row.get("cpm")),
        _json_list(row.get("actions")), _json_list(row.get("action_values")), _json_list(row.get("purchase_roas")),
        now,
    )


def upsert_insights(database: Database, brand_id: int, rows: Sequence[dict],
                    clock=time.time) -> UpsertCounts:
    """Store daily insights rows as returned by the Graph API (``time_increment=1``)."""
    if not rows:
        return UpsertCounts()
    now = clock()
    tuples = [insight_row(r, brand_id, now) for r in rows]
    first, last = min(t[1] for t in tuples), max(t[1] for t in tuples)
    with database.write() as db:
        conn = db.conn
        before = _count_range(conn, brand_id, first, last)
        changed = conn.executemany(_insights_upsert(conn.dialect), tuples).rowcount
        inserted = _count_range(conn, brand_id, first, last) - before
    updated = max(0, changed - inserted)
    return UpsertCounts(inserted, updated, len(tuples) - inserted - updated)


def _upsert_ads_in(conn, brand_id: int, ad_account_id: str, ads: Iterable[dict], now: float) -> int:
    groups: dict[tuple[str, ...], list[list]] = {}
    count = 0
    for ad in ads:
        fields = tuple(k for k in AD_FIELDS if ad.get(k) is not None)
        groups.setdefault(fields, []).append(
            [str(ad["ad_id"]), brand_id, ad_account_id, *(ad[k] for k in fields), now, now])
        count += 1
    for fields, rows in groups.items():
        cols = ["ad_id", "brand_id", "ad_account_id", *fields, "first_seen_at", "updated_at"]
        sets = ", ".join(f"{c} = excluded.{c}" for c in ["brand_id", "ad_account_id", *fields, "updated_at"])
        conn.executemany(f"INSERT INTO meta_ads ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                         f"ON CONFLICT (ad_id) DO UPDATE SET {sets}", rows)
    return count


def upsert_ads(database: Database, brand_id: int, ad_account_id: str, ads: Iterable[dict],
               clock=time.time) -> int:
    """Insert or update ads (dicts with ``ad_id`` and any of AD_FIELDS). Missing fields keep their value."""
    with database.write() as db:
        return _upsert_ads_in(db.conn, brand_id, ad_account_id, ads, clock())


def store_insights_page(database: Database, brand_id: int, ad_account_id: str, rows: Sequence[dict],
                        clock=time.time) -> UpsertCounts:
    """One page of Graph API insights rows: their ads (names, ad set, campaign) and the daily rows, in one transaction."""
    if not rows:
        return UpsertCounts()
    now = clock()
    ads: dict[str, dict] = {}
    for r in rows:
        ad_id = str(r["ad_id"])
        if ad_id not in ads:
            ads[ad_id] = {"ad_id": ad_id, "name": r.get("ad_name"), "adset_id": r.get("adset_id"),
                          "adset_name": r.get("adset_name"), "campaign_id": r.get("campaign_id"),
                          "campaign_name": r.get("campaign_name")}
    tuples = [insight_row(r, brand_id, now) for r in rows]
    first, last = min(t[1] for t in tuples), max(t[1] for t in tuples)
    with database.write() as db:
        conn = db.conn
        _upsert_ads_in(conn, brand_id, ad_account_id, ads.values(), now)
        before = _count_range(conn, brand_id, first, last)
        changed = conn.executemany(_insights_upsert(conn.dialect), tuples).rowcount
        inserted = _count_range(conn, brand_id, first, last) - before
    updated = max(0, changed - inserted)
    return UpsertCounts(inserted, updated, len(tuples) - inserted - updated)


def _count_range(conn, brand_id: int, first: str, last: str) -> int:
    return conn.execute("SELECT count(*) FROM meta_insights WHERE brand_id = ? AND date BETWEEN ? AND ?",
                        (brand_id, first, last)).fetchone()[0]


@dataclass(frozen=True)
class AssetLinks:
    """The ads that use one source (an image hash, a video id) of one brand, linked by one run."""

    ad_ids: tuple[str, ...]
    kind: str
    source_key: str
    brand_id: int
    run_id: int | None = None


@dataclass(frozen=True)
class AssetRow:
    """A stored media file to record: its content hash, where it lives, the run that stored it, its ads."""

    sha256: str
    path: str
    content_type: str
    size: int
    run_id: int | None = None
    links: AssetLinks | None = None


def record_asset(database: Database, *, sha256: str, path: str, content_type: str, size: int,
                 run_id: int | None = None, links: AssetLinks | None = None, clock=time.time) -> bool:
    """Record a stored media file (and the run that first stored it), and with ``links`` the ads that use
    it, in one transaction; False when that content was already recorded."""
    return record_assets(database, [AssetRow(sha256, path, content_type, size, run_id, links)], clock=clock)[0]


def record_assets(database: Database, rows: Sequence[AssetRow], clock=time.time) -> list[bool]:
    """:func:`record_asset` for several files in one transaction; per file, False when its content was
    already recorded."""
    created = []
    with database.write() as db:
        now = clock()
        for row in rows:
            cur = db.conn.execute(
                "INSERT INTO assets (sha256, path, content_type, size, created_at, run_id) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (sha256) DO NOTHING", (row.sha256, row.path, row.content_type, row.size, now, row.run_id))
            if row.links is not None:
                _link_in(db.conn, row.links, row.sha256, now)
            created.append(cur.rowcount == 1)
    return created


def link_ad_asset(database: Database, *, ad_id: str, kind: str, source_key: str, brand_id: int, sha256: str,
                  run_id: int | None = None, clock=time.time) -> None:
    """Say that ad ``ad_id`` uses stored file ``sha256`` as its ``kind`` (image/video) from ``source_key``,
    linked by run ``run_id``."""
    link_ad_assets(database, ad_ids=[ad_id], kind=kind, source_key=source_key, brand_id=brand_id, sha256=sha256,
                   run_id=run_id, clock=clock)


def link_ad_assets(database: Database, *, ad_ids: Sequence[str], kind: str, source_key: str, brand_id: int,
                   sha256: str, run_id: int | None = None, clock=time.time) -> None:
    """:func:`link_ad_asset` for every ad that uses the same source, in one transaction."""
    with database.write() as db:
        _link_in(db.conn, AssetLinks(tuple(ad_ids), kind, str(source_key), brand_id, run_id), sha256, clock())


def _link_in(conn, links: AssetLinks, sha256: str, now: float) -> None:
    conn.executemany(
        "INSERT INTO ad_assets (ad_id, kind, source_key, brand_id, sha256, downloaded_at, run_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (ad_id, kind, source_key) DO UPDATE SET sha256 = excluded.sha256, "
        "downloaded_at = excluded.downloaded_at, brand_id = excluded.brand_id, run_id = excluded.run_id",
        [(str(ad_id), links.kind, str(links.source_key), links.brand_id, sha256, now, links.run_id)
         for ad_id in links.ad_ids])


def stored_sources(database: Database, brand_id: int, kind: str, source_keys: Sequence[str]) -> dict[str, str]:
    """The sha256 of the file an ad of this brand already has for each of these sources (image hashes,
    video ids): {source key: sha256}, for those stored."""
    out: dict[str, str] = {}
    keys = sorted({str(k) for k in source_keys})
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        for row in database.query(
                f"SELECT source_key, min(sha256) AS sha256 FROM ad_assets WHERE brand_id = ? AND kind = ? "
                f"AND source_key IN ({','.join('?' * len(chunk))}) GROUP BY source_key", [brand_id, kind, *chunk]):
            out[row["source_key"]] = row["sha256"]
    return out


def run_media(database: Database, brand_id: int, run_id: int) -> dict[str, int]:
    """What one run has given the brand's ads, over all of its attempts.

    ``images`` / ``videos``: sources (image hashes, video ids) it linked to a stored file;
    ``linked_existing``: of those, sources stored by an earlier run that it linked to more
    ads; ``stored`` / ``bytes``: files it stored first; ``deduplicated``: sources it
    downloaded whose content was already stored (by an earlier run or another source).
    """
    row = database.query_one(
        "WITH src AS (SELECT kind, source_key, min(sha256) AS sha256 FROM ad_assets"
        "  WHERE brand_id = :b AND run_id = :r GROUP BY kind, source_key),"
        " tagged AS (SELECT kind, sha256, EXISTS (SELECT 1 FROM ad_assets y WHERE y.brand_id = :b"
        f"  AND y.kind = src.kind AND y.source_key = src.source_key AND {database.dialect.differ('y.run_id', ':r')})"
        " AS earlier FROM src)"
        " SELECT coalesce(sum(CASE WHEN kind = 'image' THEN 1 ELSE 0 END), 0) AS images,"
        " coalesce(sum(CASE WHEN kind = 'video' THEN 1 ELSE 0 END), 0) AS videos,"
        " coalesce(sum(CASE WHEN earlier THEN 1 ELSE 0 END), 0) AS linked_existing,"
        " coalesce(sum(CASE WHEN earlier THEN 0 ELSE 1 END), 0) AS downloaded FROM tagged",
        {"b": brand_id, "r": run_id})
    stored = database.query_one(
        "SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM assets a WHERE a.run_id = :r AND EXISTS"
        " (SELECT 1 FROM ad_assets x WHERE x.sha256 = a.sha256 AND x.brand_id = :b AND x.run_id = :r)",
        {"b": brand_id, "r": run_id})
    return {"images": row["images"], "videos": row["videos"], "linked_existing": row["linked_existing"],
            "stored": stored["n"], "bytes": stored["bytes"],
            "deduplicated": max(0, row["downloaded"] - stored["n"])}


def ads_without_media(database: Database, brand_id: int, kind: str, *, ad_ids: Sequence[str] | None = None,
                      product: str | None = None) -> list[dict]:
    """The brand's ads of this kind (image: an image hash or URL; video: a video id) with no stored file yet."""
    if kind == "image":
        has_source = "(a.image_hash IS NOT NULL OR a.image_url IS NOT NULL) AND a.video_id IS NULL"
    elif kind == "video":
        has_source = "a.video_id IS NOT NULL"
    else:
        raise ValueError(f"unknown media kind {kind!r}")
    sql = (f"SELECT a.* FROM meta_ads a WHERE a.brand_id = ? AND {has_source} AND NOT EXISTS "
           "(SELECT 1 FROM ad_assets x WHERE x.ad_id = a.ad_id AND x.kind = ?)")
    args: list = [brand_id, kind]
    if ad_ids:
        sql += f" AND a.ad_id IN ({','.join('?' * len(ad_ids))})"
        args += [str(a) for a in ad_ids]
    if product:
        sql += f" AND a.name {database.dialect.like} ? ESCAPE '\\'"
        args.append("%" + product.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    sql += " ORDER BY a.ad_id"
    return database.query(sql, args)


INSIGHT_EXPORT_COLUMNS = ("date", "ad_id", "ad_name", "adset_name", "campaign_name", "spend", "impressions",
                          "reach", "clicks", "ctr", "cpc", "cpm", "actions", "action_values", "purchase_roas")


def iter_insights(database: Database, brand_id: int, since: str | None = None, chunk: int = 5000):
    """A brand's daily insights rows with their ad's names, by date then ad id, from ``since`` (a
    YYYY-MM-DD date) on; read ``chunk`` rows at a time by keyset (the (brand_id, date) index)."""
    after: tuple[str, str] | None = None
    while True:
        where, args = ["i.brand_id = ?"], [brand_id]
        if since is not None:
            where.append("i.date >= ?")
            args.append(since)
        if after is not None:
            where.append("(i.date > ? OR (i.date = ? AND i.ad_id > ?))")
            args += [after[0], after[0], after[1]]
        rows = database.query(
            "SELECT i.date, i.ad_id, a.name AS ad_name, a.adset_name, a.campaign_name, i.spend, i.impressions,"
            " i.reach, i.clicks, i.ctr, i.cpc, i.cpm, i.actions, i.action_values, i.purchase_roas"
            " FROM meta_insights i LEFT JOIN meta_ads a ON a.ad_id = i.ad_id"
            f" WHERE {' AND '.join(where)} ORDER BY i.date, i.ad_id LIMIT ?", [*args, chunk])
        for row in rows:
            for key in ("actions", "action_values", "purchase_roas"):
                if isinstance(row[key], str):
                    row[key] = json.loads(row[key])
            yield row
        if len(rows) < chunk:
            return
        after = (rows[-1]["date"], rows[-1]["ad_id"])


def insight_count(database: Database, brand_id: int) -> int:
    return database.scalar("SELECT count(*) FROM meta_insights WHERE brand_id = ?", (brand_id,))


def asset_rows(database: Database, brand_id: int | None = None) -> list[dict]:
    if brand_id is None:
        return database.query("SELECT * FROM assets ORDER BY sha256")
    return database.query(
        "SELECT DISTINCT s.* FROM assets s JOIN ad_assets x ON x.sha256 = s.sha256 WHERE x.brand_id = ? "
        "ORDER BY s.sha256", (brand_id,))


def asset_paths(database: Database, sha256s: Sequence[str]) -> dict[str, str]:
    """Where each stored asset lives, relative to the media dir, by content hash."""
    out: dict[str, str] = {}
    unique = sorted(set(sha256s))
    for i in range(0, len(unique), 500):
        chunk = unique[i:i + 500]
        for row in database.query(f"SELECT sha256, path FROM assets WHERE sha256 IN ({','.join('?' * len(chunk))})",
                                  chunk):
            out[row["sha256"]] = row["path"]
    return out


# -- completeness ------------------------------------------------------------------
def ad_account(brand: dict) -> str | None:
    """The brand's Meta ad account id as stored with its ads (no ``act_`` prefix), or None."""
    account = (brand.get("meta_ad_account_id") or "").strip()
    return account.removeprefix("act_") or None


def record_answered_days(database: Database, brand_id: int, ad_account_id: str, days: Iterable[tuple[str, int]], *,
                         timezone: str | None = None, run_id: int | None = None, clock=time.time) -> int:
    """Record that Meta answered insights for these days (ISO date, ad-level rows it sent; 0 rows: no ad
    delivered). A later answer replaces an earlier one. Returns how many days were recorded."""
    now = clock()
    rows = [(brand_id, ad_account_id, day, count, timezone, now, run_id) for day, count in days]
    if not rows:
        return 0
    with database.write() as db:
        db.conn.executemany(
            "INSERT INTO meta_answered_days (brand_id, ad_account_id, date, rows, timezone, answered_at, run_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (brand_id, ad_account_id, date) DO UPDATE SET"
            " rows = excluded.rows, timezone = excluded.timezone, answered_at = excluded.answered_at,"
            " run_id = excluded.run_id", rows)
    return len(rows)


def covered_insight_days(database: Database, brand_id: int, ad_account_id: str, since: str,
                         until: str) -> set[str]:
    """Days (ISO) from ``since`` to ``until`` with insight rows of the account's ads, or answered by Meta."""
    rows = database.query(
        "SELECT DISTINCT i.date AS day FROM meta_insights i JOIN meta_ads a ON a.ad_id = i.ad_id"
        " WHERE i.brand_id = :b AND a.ad_account_id = :a AND i.date BETWEEN :since AND :until"
        " UNION SELECT date FROM meta_answered_days"
        " WHERE brand_id = :b AND ad_account_id = :a AND date BETWEEN :since AND :until",
        {"b": brand_id, "a": ad_account_id, "since": since, "until": until})
    return {r["day"] for r in rows}


def account_timezone(database: Database, brand_id: int, ad_account_id: str) -> str | None:
    """The ad account's time zone as Meta last reported it with an answer, if ever."""
    return database.scalar(
        "SELECT timezone FROM meta_answered_days WHERE brand_id = ? AND ad_account_id = ? AND timezone IS NOT NULL"
        " ORDER BY answered_at DESC LIMIT 1", (brand_id, ad_account_id))


def insight_completeness(database: Database, brand: dict, window: int,
                         now: float) -> completeness.Completeness | None:
    """How many of the ``window`` full days before today (in the ad account's time zone) have insight
    rows for the brand's account, or were answered by Meta with none; None without an ad account."""
    account = ad_account(brand)
    if account is None:
        return None
    until = _account_day(account_timezone(database, brand["id"], account), now) - dt.timedelta(days=1)
    since = until - dt.timedelta(days=window - 1)
    covered = covered_insight_days(database, brand["id"], account, since.isoformat(), until.isoformat())
    return completeness.assess((dt.date.fromisoformat(d) for d in covered), until=until, window=window)


def _account_day(zone: str | None, now: float) -> dt.date:
    try:
        from zoneinfo import ZoneInfo

        return dt.datetime.fromtimestamp(now, ZoneInfo(zone or "UTC")).date()
    except Exception:  # unknown zone or no time zone database
        return dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
