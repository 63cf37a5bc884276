"""Alerts as recorded: one row per event, however many processes notice it.

The event's key is unique (``run_failed:42``), so the first process to record
it wins and the others' inserts do nothing. Delivery is claimed the same way:
a claim is a compare-and-set on unsent rows, taken again only when an earlier
claimant went quiet, so an alert is sent once unless its sender dies mid-send.
"""

from __future__ import annotations

import json
from typing import Sequence

from pipedeck.storage.db import Database

MAX_ATTEMPTS = 3


def record(database: Database, *, key: str, kind: str, subject: str, body: str, now: float) -> bool:
    """Record an event; False when it was already recorded (by this or another process)."""
    with database.write() as db:
        cur = db.conn.execute(
            "INSERT INTO alerts (key, kind, subject, body, created_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT (key) DO NOTHING", (key, kind, subject, body, now))
        return cur.rowcount == 1


def claim(database: Database, claimant: str, now: float, *, newer_than: float, stale_claim: float,
          limit: int = 200) -> list[dict]:
    """Unsent alerts (created after ``newer_than``) for ``claimant`` to deliver, oldest first."""
    with database.write() as db:
        # SKIP LOCKED (PostgreSQL): two claimants side by side never take the same alert; on SQLite
        # writers take turns and the second finds them claimed.
        rows = db.conn.execute(
            "UPDATE alerts SET claimed_by = ?, claimed_at = ? WHERE id IN (SELECT id FROM alerts"
            " WHERE sent_at IS NULL AND attempts < ? AND created_at > ? AND (claimed_at IS NULL OR claimed_at < ?)"
            f" ORDER BY id LIMIT ?{db.conn.dialect.skip_locked}) RETURNING id, key, kind, subject, body, created_at,"
            " attempts", (claimant, now, MAX_ATTEMPTS, newer_than, now - stale_claim, limit)).fetchall()
    cols = ("id", "key", "kind", "subject", "body", "created_at", "attempts")
    return sorted((dict(zip(cols, r)) for r in rows), key=lambda r: r["id"])


def delivered(database: Database, ids: Sequence[int], now: float, error: str | None = None) -> None:
    """The outcome of one delivery of these alerts: sent, or the error (tried again until MAX_ATTEMPTS)."""
    if not ids:
        return
    marks = ",".join("?" * len(ids))
    with database.write() as db:
        if error is None:
            db.conn.execute(f"UPDATE alerts SET sent_at = ?, attempts = attempts + 1, last_error = NULL"
                            f" WHERE id IN ({marks})", (now, *ids))
        else:
            db.conn.execute(f"UPDATE alerts SET attempts = attempts + 1, last_error = ?, claimed_at = NULL"
                            f" WHERE id IN ({marks})", (error, *ids))


def recent(database: Database, limit: int = 50) -> list[dict]:
    return database.query("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", (limit,))


def last_delivery_error(database: Database) -> dict | None:
    """The latest alert whose delivery failed, if its last attempt failed."""
    return database.query_one("SELECT id, key, last_error, claimed_by, created_at FROM alerts"
                              " WHERE last_error IS NOT NULL AND sent_at IS NULL ORDER BY id DESC LIMIT 1")


def runs_ended_since(database: Database, since: float, status: str) -> list[dict]:
    """Runs that ended with ``status`` after ``since``: what a failure or warning alert is about."""
    rows = database.query(
        "SELECT r.id, r.job_type, r.status, r.attempts, r.error_type, r.error_message, r.result, r.finished_at,"
        " b.name AS brand, c.name AS competitor FROM runs r JOIN brands b ON b.id = r.brand_id"
        " LEFT JOIN competitors c ON c.id = r.competitor_id"
        " WHERE r.status = ? AND r.finished_at > ? ORDER BY r.id", (status, since))
    for row in rows:
        if isinstance(row["result"], str):
            row["result"] = json.loads(row["result"])
    return rows


def oldest_waiting(database: Database) -> dict | None:
    """The longest-waiting queued run (what 'no worker is running' is about)."""
    return database.query_one("SELECT id, created_at FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1")
