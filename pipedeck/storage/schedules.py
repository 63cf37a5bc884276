"""Recurring schedules and their history (fired, skipped, missed)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator

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
        return db.conn.execute(
            "INSERT INTO schedules (job_type, brand_id, competitor_id, params, cron, tz, active, missed_policy,"
            " next_run_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
            (job_type, brand_id, competitor_id, json.dumps(params, sort_keys=True), cron, tz, int(active),
             missed_policy, next_run_at, now, now)).fetchall()[0][0]


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
    return [_decode(r) for r in database.query(sql + " ORDER BY lower(b.name), s.id", args)]


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


class Tick:
    """The writes of one scheduler tick, in one write transaction (see :func:`tick`).

    Each occurrence is queued once however many workers on however many hosts tick: the
    tick first locks the due schedules it will handle (PostgreSQL: ``FOR UPDATE SKIP
    LOCKED``, so two workers split them instead of queueing one twice or waiting on each
    other; SQLite: writers take turns anyway), re-reads them under that lock, and the
    occurrence is a unique key of the schedule's history.
    """

    def __init__(self, conn) -> None:
        self.conn = conn
        self._current: dict[int, tuple] = {}

    def lock(self, schedule_ids: list[int]) -> None:
        """Lock these schedules for this tick (those another tick holds are left to it)."""
        for chunk in range(0, len(schedule_ids), 500):
            ids = schedule_ids[chunk:chunk + 500]
            rows = self.conn.execute(
                f"SELECT id, active, next_run_at FROM schedules WHERE id IN ({','.join('?' * len(ids))})"
                f" ORDER BY id{self.conn.dialect.skip_locked}", ids).fetchall()
            self._current.update({row[0]: row[1:] for row in rows})

    def still_due(self, schedule: dict, now: float) -> bool:
        """False when the schedule was paused, edited or handled by another worker since it was read."""
        current = self._current.get(schedule["id"])
        return current is not None and bool(current[0]) and current[1] == schedule["next_run_at"] and current[1] <= now

    def record_event(self, schedule_id: int, occurrence: float, now: float, action: str, run_id: int | None = None,
                     reason: str | None = None) -> bool:
        """Record what happened to one occurrence; False if it was already recorded (handled elsewhere)."""
        cur = self.conn.execute(
            "INSERT INTO schedule_events (schedule_id, occurrence_at, ts, action, run_id, reason)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (schedule_id, occurrence_at) DO NOTHING",
            (schedule_id, occurrence, now, action, run_id, reason))
        return cur.rowcount == 1

    def link_run(self, schedule_id: int, occurrence: float, run_id: int) -> None:
        self.conn.execute("UPDATE schedule_events SET run_id = ? WHERE schedule_id = ? AND occurrence_at = ?",
                          (run_id, schedule_id, occurrence))

    def advance(self, schedule_id: int, now: float, **fields) -> None:
        """Move the schedule on: next_run_at, and last_run_id / last_fired_at when it fired."""
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE schedules SET {sets}, updated_at = ? WHERE id = ?",
                          (*fields.values(), now, schedule_id))

    def run_status(self, run_id: int) -> str | None:
        row = self.conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else row[0]


@contextmanager
def tick(database: Database, schedule_ids: list[int]) -> Iterator[Tick]:
    with database.write() as db:
        tx = Tick(db.conn)
        tx.lock(sorted(schedule_ids))
        yield tx
