"""SQLite DDL for each schema version (PostgreSQL's is schema_postgres.py). Times are unix seconds (REAL, UTC)."""

from __future__ import annotations

import sqlite3


def _run(conn, ddl: str) -> None:
    # executescript() would COMMIT the migration's transaction, so split by hand.
    for statement in ddl.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def v1_core(conn: sqlite3.Connection) -> None:
    _run(conn, """
CREATE TABLE brands (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    meta_ad_account_id TEXT,
    ad_library_page_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE competitors (
    id INTEGER PRIMARY KEY,
    brand_id INTEGER NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    name TEXT NOT NULL COLLATE NOCASE,
    ad_library_url TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (brand_id, name)
);
CREATE TABLE schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_type TEXT NOT NULL,
    brand_id INTEGER NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    competitor_id INTEGER REFERENCES competitors(id) ON DELETE CASCADE,
    params TEXT NOT NULL DEFAULT '{}',
    cron TEXT NOT NULL,
    tz TEXT NOT NULL DEFAULT 'UTC',
    active INTEGER NOT NULL DEFAULT 1,
    missed_policy TEXT NOT NULL DEFAULT 'skip',
    next_run_at REAL,
    last_run_id INTEGER,
    last_fired_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE active = 1;
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_type TEXT NOT NULL,
    brand_id INTEGER NOT NULL REFERENCES brands(id),
    competitor_id INTEGER REFERENCES competitors(id),
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    direct INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    next_attempt_at REAL,
    worker_id TEXT,
    heartbeat_at REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    progress_current REAL,
    progress_total REAL,
    progress_message TEXT,
    summary TEXT,
    error_type TEXT,
    error_message TEXT,
    result TEXT,
    schedule_id INTEGER,
    retry_of INTEGER,
    retried_by INTEGER,
    rev INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_brand_type ON runs (brand_id, job_type, id);
CREATE INDEX runs_competitor ON runs (competitor_id, id) WHERE competitor_id IS NOT NULL;
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_rev ON runs (rev);
CREATE INDEX runs_worker ON runs (worker_id) WHERE status IN ('running', 'cancelling');
CREATE INDEX runs_schedule ON runs (schedule_id, id) WHERE schedule_id IS NOT NULL;
CREATE TABLE attempts (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    worker_id TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    error_type TEXT,
    error_message TEXT,
    PRIMARY KEY (run_id, number)
) WITHOUT ROWID;
CREATE TABLE run_logs (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    ts REAL NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX run_logs_run ON run_logs (run_id, id);
CREATE TABLE freshness (
    brand_id INTEGER NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    competitor_id INTEGER NOT NULL DEFAULT 0,
    dataset TEXT NOT NULL,
    last_success_at REAL,
    last_success_run_id INTEGER,
    last_failure_at REAL,
    last_failure_run_id INTEGER,
    last_error TEXT,
    PRIMARY KEY (brand_id, competitor_id, dataset)
) WITHOUT ROWID;
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    proc_start TEXT,
    threads INTEGER NOT NULL DEFAULT 1,
    version TEXT,
    queue TEXT,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    stopped_at REAL,
    status TEXT NOT NULL
)
""")


def v2_meta(conn: sqlite3.Connection) -> None:
    """Meta Graph API data: ads, one insights row per ad per day, media assets."""
    _run(conn, """
CREATE TABLE meta_ads (
    ad_id TEXT PRIMARY KEY,
    brand_id INTEGER NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    ad_account_id TEXT NOT NULL,
    name TEXT,
    status TEXT,
    adset_id TEXT,
    adset_name TEXT,
    campaign_id TEXT,
    campaign_name TEXT,
    creative_id TEXT,
    object_type TEXT,
    image_hash TEXT,
    image_url TEXT,
    video_id TEXT,
    thumbnail_url TEXT,
    first_seen_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX meta_ads_brand ON meta_ads (brand_id);
CREATE TABLE meta_insights (
    ad_id TEXT NOT NULL,
    date TEXT NOT NULL,
    brand_id INTEGER NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    spend REAL,
    impressions INTEGER,
    reach INTEGER,
    clicks INTEGER,
    ctr REAL,
    cpc REAL,
    cpm REAL,
    actions TEXT,
    action_values TEXT,
    purchase_roas TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (ad_id, date)
) WITHOUT ROWID;
CREATE INDEX meta_insights_brand_date ON meta_insights (brand_id, date);
CREATE TABLE assets (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE ad_assets (
    ad_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    source_key TEXT NOT NULL,
    brand_id INTEGER NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL REFERENCES assets(sha256),
    downloaded_at REAL NOT NULL,
    PRIMARY KEY (ad_id, kind, source_key)
) WITHOUT ROWID;
CREATE INDEX ad_assets_brand ON ad_assets (brand_id)
""")


def v3_ad_library(conn: sqlite3.Connection) -> None:
    """Ad Library data: competitors' ads and the template review queue.

    Lists (platforms, image_urls, video_urls) are JSON arrays. ``end_date`` is
    the Ad Library's own; ``missing_since`` is set when a complete scrape no
    longer found an ad that was active (it is marked inactive then, with no
    end date known), and cleared when the ad shows up again. ``first_run_id``,
    ``stopped_run_id`` and ``restarted_run_id`` say which run first saw an ad,
    saw it stop, or saw it run again, so a run's counts hold across its attempts.
    """
    _run(conn, """
CREATE TABLE competitor_ads (
    competitor_id INTEGER NOT NULL REFERENCES competitors(id) ON DELETE CASCADE,
    ad_archive_id TEXT NOT NULL,
    brand_id INTEGER NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    page_id TEXT,
    page_name TEXT,
    is_active INTEGER NOT NULL,
    start_date REAL,
    end_date REAL,
    body TEXT,
    title TEXT,
    caption TEXT,
    cta_text TEXT,
    cta_type TEXT,
    link_url TEXT,
    display_format TEXT,
    platforms TEXT,
    image_urls TEXT,
    video_urls TEXT,
    preview_image_url TEXT,
    card_count INTEGER NOT NULL DEFAULT 0,
    branded_content INTEGER NOT NULL DEFAULT 0,
    branded_partner TEXT,
    collation_id TEXT,
    collation_count INTEGER,
    first_seen_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    missing_since REAL,
    last_run_id INTEGER,
    first_run_id INTEGER,
    stopped_run_id INTEGER,
    restarted_run_id INTEGER,
    PRIMARY KEY (competitor_id, ad_archive_id)
) WITHOUT ROWID;
CREATE INDEX competitor_ads_active ON competitor_ads (competitor_id, is_active, last_seen_at);
CREATE TABLE templates (
    id INTEGER PRIMARY KEY,
    brand_id INTEGER NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    ad_archive_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    page_id TEXT,
    page_name TEXT,
    body TEXT,
    title TEXT,
    caption TEXT,
    cta_text TEXT,
    link_url TEXT,
    display_format TEXT,
    platforms TEXT,
    is_active INTEGER,
    start_date REAL,
    end_date REAL,
    image_url TEXT,
    video_url TEXT,
    preview_sha256 TEXT,
    search_url TEXT,
    run_id INTEGER,
    first_seen_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    reviewed_at REAL,
    UNIQUE (brand_id, ad_archive_id)
);
CREATE INDEX templates_status ON templates (brand_id, status, id)
""")


def v4_schedules(conn: sqlite3.Connection) -> None:
    """Schedule history (fired, skipped) and per-brand freshness policies."""
    _run(conn, """
CREATE TABLE schedule_events (
    id INTEGER PRIMARY KEY,
    schedule_id INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    occurrence_at REAL NOT NULL,
    ts REAL NOT NULL,
    action TEXT NOT NULL,
    run_id INTEGER,
    reason TEXT,
    UNIQUE (schedule_id, occurrence_at)
);
CREATE TABLE freshness_policies (
    brand_id INTEGER NOT NULL DEFAULT 0,
    dataset TEXT NOT NULL,
    warn_after REAL NOT NULL,
    stale_after REAL NOT NULL,
    PRIMARY KEY (brand_id, dataset)
) WITHOUT ROWID
""")


def v5_run_media_and_cards(conn: sqlite3.Connection) -> None:
    """Which run stored each media file and linked it to an ad (so a retry counts what
    earlier attempts of the same run stored against its caps), and the copy of every
    card of an Ad Library ad (a JSON array, in order; a dynamic-creative ad's real copy)."""
    _run(conn, """
ALTER TABLE assets ADD COLUMN run_id INTEGER;
ALTER TABLE ad_assets ADD COLUMN run_id INTEGER;
CREATE INDEX assets_run ON assets (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX ad_assets_run ON ad_assets (run_id) WHERE run_id IS NOT NULL;
ALTER TABLE competitor_ads ADD COLUMN cards TEXT;
ALTER TABLE templates ADD COLUMN cards TEXT
""")


def v6_leases(conn: sqlite3.Connection) -> None:
    """Each attempt's lease on its run: a token only the attempt holds, and until when it holds it.

    ``lease`` is set when an attempt claims the run and cleared when the
    attempt ends or is recovered; every write of the attempt checks it.
    ``lease_expires_at`` is renewed with the heartbeat, by the database's
    clock. Runs in flight during the upgrade get a lease that lapses with
    their last heartbeat.
    """
    _run(conn, """
ALTER TABLE runs ADD COLUMN lease TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at REAL;
UPDATE runs SET lease = 'v6-' || id || '-' || attempts, lease_expires_at = coalesce(heartbeat_at, updated_at) + 15
    WHERE status IN ('running', 'cancelling')
""")


def v7_answered_days(conn: sqlite3.Connection) -> None:
    """The days Meta answered an insights request for, per brand and ad account, with how many
    ad-level rows it sent (0: no ad delivered that day), so completeness can tell a day with no
    delivery from a day no sync covered; and the account's time zone (Meta's days are its days)."""
    _run(conn, """
CREATE TABLE meta_answered_days (
    brand_id INTEGER NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    ad_account_id TEXT NOT NULL,
    date TEXT NOT NULL,
    rows INTEGER NOT NULL,
    timezone TEXT,
    answered_at REAL NOT NULL,
    run_id INTEGER,
    PRIMARY KEY (brand_id, ad_account_id, date)
) WITHOUT ROWID
""")


def v8_change_feed(conn: sqlite3.Connection) -> None:
    """The change feed's counter: one row holding the last ``rev`` handed out.

    Every transaction that changes a run takes its ``rev`` from here, updating this row in
    the same transaction, so revs are handed out in commit order (a transaction waits for
    the row until the one before it commits) and a reader that has seen rev N has seen every
    change up to N. ``max(rev) + 1`` read before commit gives no such order once writers run
    side by side (PostgreSQL).
    """
    _run(conn, """
CREATE TABLE run_feed (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    rev INTEGER NOT NULL
);
INSERT INTO run_feed (id, rev) SELECT 1, coalesce(max(rev), 0) FROM runs
""")


def v10_run_windows(conn: sqlite3.Connection) -> None:
    """What the runs table's windows, sorts and search and the trends read by.

    Indexes for the filters and sorts the runs table offers over a long history
    (job type, brand, creation time, duration), for the trends (by creation
    time, covering what they count, so a window of runs is read from the index
    alone), for the workers view (each worker's attempts), and a trigram full-text index of
    the runs' summaries and errors (``runs_text``, row id = run id). The text
    index is kept off the write path: ``run_search.sync`` brings it up to a run
    rev (``runs_text_state.indexed_rev``) in batches, and a search reads rows
    changed after that rev by scanning them, so it is exact at any moment.
    (On PostgreSQL: a pg_trgm GIN index on the same text instead, no side table.)
    """
    _run(conn, """
CREATE INDEX runs_type ON runs (job_type, id);
CREATE INDEX runs_brand ON runs (brand_id, id);
CREATE INDEX runs_created ON runs (created_at, job_type, brand_id, status, started_at, finished_at);
CREATE INDEX attempts_worker ON attempts (worker_id, started_at) WHERE worker_id IS NOT NULL;
CREATE INDEX runs_took ON runs ((finished_at - started_at), id)
    WHERE finished_at IS NOT NULL AND started_at IS NOT NULL;
CREATE VIRTUAL TABLE runs_text USING fts5(summary, error_message, tokenize = 'trigram');
CREATE TABLE runs_text_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_rev INTEGER NOT NULL
);
INSERT INTO runs_text_state (id, indexed_rev) VALUES (1, 0)
""")


def v11_alerts(conn: sqlite3.Connection) -> None:
    """Alerts: one row per event (a unique key, so every process that notices it records it
    once), and its delivery: who claimed it, how many attempts, when it was sent, the last error."""
    _run(conn, """
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    claimed_by TEXT,
    claimed_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at REAL,
    last_error TEXT
);
CREATE INDEX alerts_unsent ON alerts (id) WHERE sent_at IS NULL
""")


def v12_text_search(conn: sqlite3.Connection) -> None:
    """Nothing on SQLite: its search index (``runs_text``) came with step 10. The step gives
    PostgreSQL its trigram indexes (see ``schema_postgres.v12_text_search``)."""
