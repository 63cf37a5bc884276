"""Recurring schedules and their history (fired, skipped, missed)."""

from __future__ import annotations

import json

from pipedeck.errors import NotFound
from pipedeck.storage.db import Database

SCHEDULE_COLUMNS = """s.*, b.name AS brand, c.name AS competitor,
    r.status AS last_run_status, r.finished_at AS last_run_finished_at"""
SCHEDULE_FROM = """ FROM schedules s JOIN brands b ON b.id = s.brand_id
    LEFT JOIN competitors c ON c.id = s.competitor_id LEFT JOIN runs r ON r.id = s.last_run_id"""


def _decode(row: dict | None) -> dict | None:
    if row is not None and isinstance(row.get("params"), str):
        row["params"] = json.loads(row["params"])
    return row


def create(database: Database, *, job_type: str, brand_id: int, competitor_id: int | None, params: dict,
           cron: str, tz: str, missed_policy: str, active: bool, next_run_at: float | None, now: float) -> int:
    with database.write() as db:
        cur = db.conn.execute(
            "INSERT INTO schedules (job_type, brand_id, competitor_id, params, cron, tz, active, missed_policy,"
            " next_run_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (job_type, brand_id, competitor_id, json.dumps(params, sort_keys=True), cron, tz, int(active),
             missed_policy, next_run_at, now, now))
        return cur.lastrowid


def get(database: Database, schedule_id: int) -> dict:
    row = _decode(database.query_one(f"SELECT {SCHEDULE_COLUMNS}{SCHEDULE_FROM} WHERE s.id = ?", (schedule_id,)))
    if row is None:
        raise NotFound(f"unknown schedule {schedule_id}")
    return row


def list_(database: Database, *, brand_id: int | None = None, competitor_id: int | None = None) -> list[dict]:
    sql = f"SELECT {SCHEDULE_COLUMNS}{SCHEDULE_FROM} WHERE 1=1"
    args: list = []
    if brand_id is not None:
        sql += " AND s.brand_id = ?"
        args.append(brand_id)
    if competitor_id is not None:
        sql += " AND s.competitor_id = ?"
        args.append(competitor_id)
    return [_decode(r) for r in database.query(sql + " ORDER BY b.name COLLATE NOCASE, s.id", args)]


def update(database: Database, schedule_id: int, now: float, **fields) -> None:
    if "params" in fields:
        fields["params"] = json.dumps(fields["params"], sort_keys=True)
    fields["updated_at"] = now
    sets = ", ".join(f"{k} = ?" for k in fields)
    with database.write() as db:
        cur = db.conn.execute(f"UPDATE schedules SET {sets} WHERE id = ?", (*fields.values(), schedule_id))
        if cur.rowcount == 0:
            raise NotFound(f"unknown schedule {schedule_id}")


def delete(database: Database, schedule_id: int) -> None:
    with database.write() as db:
        if db.conn.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,)).rowcount == 0:
            raise NotFound(f"unknown schedule {schedule_id}")


def due(database: Database, now: float, limit: int = 500) -> list[dict]:
    """Active schedules whose next occurrence has come (uses the partial index schedules_due)."""
    return [_decode(r) for r in database.query(
        "SELECT * FROM schedules WHERE active = 1 AND next_run_at <= ? ORDER BY next_run_at LIMIT ?", (now, limit))]


def events(database: Database, schedule_id: int, limit: int = 50) -> list[dict]:
    return database.query("SELECT * FROM schedule_events WHERE schedule_id = ? ORDER BY occurrence_at DESC, id DESC"
                          " LIMIT ?", (schedule_id, limit))
