"""The run store: the durable record of every run, its attempts and log lines.

This module is the only writer of the runs, attempts, run_logs, freshness,
run_feed and workers tables; the queue, the CLI and the TUI all go through it.
The lifecycle of a run is drawn in ``pipedeck.concepts.statuses``.

Concurrent writers: on SQLite writers take turns (``BEGIN IMMEDIATE``); on
PostgreSQL they run side by side, so every read-check-write locks the run's
row first (``dialect.for_update``), then the other rows it writes (attempts,
freshness), and takes the change feed's counter (``run_feed``) last: in that
order in every transaction, so two transactions never wait for each other in
a circle, and the counter, which serialises every change of a run, is held
only for the last statement and the commit. A claim is won by exactly
one worker: the row lock makes the second wait, and it then finds the run no
longer waiting. Revs come from the counter row updated in the same transaction,
so they are handed out in commit order and the live feed never skips a change.

Leases: claiming a run gives the attempt a lease, a fresh token stored on the
run with an expiry judged by the database's clock. Only the holder renews it
(with its heartbeat), and every write of the attempt (log lines, progress,
its data, its end) is a compare-and-set on ``id`` and ``lease``, so once the
run is recovered (the lease cleared, then a new attempt claims a new one) no
write of the old attempt lands, however late it arrives. Another worker may
recover a run only when its lease has expired, or when its worker's process
is known to be gone.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

from pipedeck.concepts.statuses import (ACTIVE, CANCELLED, CANCELLING, FAILED, IN_FLIGHT, QUEUED,  # noqa: F401
                                        RETRYING, RUNNING, STATUSES, SUCCEEDED, TERMINAL, WAITING)
from pipedeck.errors import LeaseLost, NotFound, UserError
from pipedeck.storage.db import Database

# How early a delayed message may arrive and still be honoured (clock jitter).
_EARLY_SLACK = 0.5
# What a worker checks at start before it takes any message off the queue.
RUN_STORE_TABLES = ("brands", "competitors", "schedules", "schedule_events", "runs", "attempts", "freshness",
                    "workers")
# How long a lease lasts without renewal unless the caller says (the worker uses its stale limit).
DEFAULT_LEASE_SECONDS = 15.0

RUN_COLUMNS = """r.id, r.job_type, r.brand_id, b.name AS brand, r.competitor_id, c.name AS competitor,
    r.params, r.status, r.direct, r.attempts, r.failures, r.max_attempts, r.created_at, r.updated_at,
    r.started_at, r.finished_at, r.next_attempt_at, r.worker_id, r.heartbeat_at, r.cancel_requested,
    r.progress_current, r.progress_total, r.progress_message, r.summary, r.error_type, r.error_message,
    r.result, r.schedule_id, r.retry_of, r.retried_by, r.rev"""
RUN_FROM = " FROM runs r JOIN brands b ON b.id = r.brand_id LEFT JOIN competitors c ON c.id = r.competitor_id"

# The fence of every write of an attempt, run first inside the write's own
# transaction. On PostgreSQL it share-locks the row, so the run cannot be
# recovered until the write commits (and a write after the recovery finds no lease).
_HOLDS_LEASE = "SELECT 1 FROM runs WHERE id = ? AND lease = ?"
# Heartbeats and lease expiry by the database's clock: one clock for every host.
_RENEW = "UPDATE runs SET heartbeat_at = {now}, lease_expires_at = {now} + ? WHERE id = ? AND lease = ?"
_TAKE_REVS = "UPDATE run_feed SET rev = rev + ? WHERE id = 1 RETURNING rev"  # the last of ? new revs


def _one_line(text: str | None, limit: int = 500) -> str | None:
    if text is None:
        return None
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decode(row: dict | None) -> dict | None:
    if row is None:
        return None
    for key in ("params", "result"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


class Lease(NamedTuple):
    """An attempt's hold on its run: the run, the attempt number and the token only it knows."""

    run_id: int
    attempt: int
    token: str


@dataclass
class Claim:
    run: dict
    attempt: int
    lease: Lease


@dataclass(frozen=True)
class LogLine:
    ts: float
    level: str
    message: str


def check_lease(conn, lease: Lease, *, for_update: bool = False) -> None:
    """Raise LeaseLost unless ``lease`` is still the run's; call inside the write it guards
    (``for_update`` when that write then changes the run's row itself)."""
    dialect = conn.dialect
    lock = dialect.for_update if for_update else dialect.for_share
    if conn.execute(_HOLDS_LEASE + lock, (lease.run_id, lease.token)).fetchone() is None:
        raise LeaseLost(f"run {lease.run_id}: attempt {lease.attempt} no longer holds the run")


class RunStore:
    def __init__(self, database: Database, clock=time.time) -> None:
        self.database = database
        self.clock = clock
        self.dialect = database.dialect
        self._renew_sql = _RENEW.format(now=self.dialect.now)

    # -- helpers -------------------------------------------------------------
    @staticmethod
    def _take_revs(conn, count: int) -> int:
        """The first of ``count`` new change-feed revs; call after the transaction locked the rows it changes."""
        return conn.execute(_TAKE_REVS, (count,)).fetchall()[0][0] - count + 1

    @classmethod
    def _next_rev(cls, conn) -> int:
        return cls._take_revs(conn, 1)

    def _get_for_update(self, conn, run_id: int) -> dict:
        cur = conn.execute("SELECT * FROM runs WHERE id = ?" + self.dialect.for_update, (run_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"unknown run {run_id}")
        return dict(zip([c[0] for c in cur.description], row))

    # -- creating ------------------------------------------------------------
    def create_run(self, *, job_type: str, brand_id: int, competitor_id: int | None, params: dict,
                   max_attempts: int, direct: bool = False, schedule_id: int | None = None,
                   retry_of: int | None = None) -> int:
        now = self.clock()
        with self.database.write() as db:
            conn = db.conn
            if retry_of is not None:
                conn.execute("SELECT 1 FROM runs WHERE id = ?" + self.dialect.for_update, (retry_of,))
            rev = self._next_rev(conn)
            run_id = conn.execute(
                "INSERT INTO runs (job_type, brand_id, competitor_id, params, status, direct, max_attempts,"
                " created_at, updated_at, schedule_id, retry_of, rev) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (job_type, brand_id, competitor_id, json.dumps(params, sort_keys=True, default=str), QUEUED,
                 int(direct), max_attempts, now, now, schedule_id, retry_of, rev)).fetchall()[0][0]
            if retry_of is not None:
                conn.execute("UPDATE runs SET retried_by = ?, updated_at = ?, rev = ? WHERE id = ?",
                             (run_id, now, rev, retry_of))
        return run_id

    HISTORY_FIELDS = ("job_type", "brand_id", "competitor_id", "params", "status", "direct", "attempts",
                      "max_attempts", "created_at", "updated_at", "started_at", "finished_at", "summary",
                      "error_type", "error_message")

    def insert_history(self, runs: Iterable[dict], chunk: int = 50_000) -> int:
        """Insert past runs as they were (any status, times given), each with its own rev; returns how many.

        For seeding a long history (benches, tests, imports): one prepared
        statement over many rows a transaction, not a run at a time.
        Missing fields take the defaults of a queued run."""
        fields = self.HISTORY_FIELDS
        sql = (f"INSERT INTO runs ({', '.join(fields)}, rev) VALUES ({', '.join('?' * (len(fields) + 1))})")
        count = 0
        batch: list[tuple] = []

        def flush() -> None:
            with self.database.write() as db:
                first = self._take_revs(db.conn, len(batch))
                db.conn.executemany(sql, [(*row, first + n) for n, row in enumerate(batch)])
            batch.clear()

        now = self.clock()
        for run in runs:
            created = run.get("created_at", now)
            params = run.get("params", {})
            batch.append((run["job_type"], run["brand_id"], run.get("competitor_id"),
                          params if isinstance(params, str) else json.dumps(params, sort_keys=True, default=str),
                          run.get("status", QUEUED), int(run.get("direct", 0)), run.get("attempts", 0),
                          run.get("max_attempts", 1), created, run.get("updated_at") or run.get("finished_at")
                          or created, run.get("started_at"), run.get("finished_at"), run.get("summary"),
                          run.get("error_type"), run.get("error_message")))
            count += 1
            if len(batch) >= chunk:
                flush()
        if batch:
            flush()
        if count >= chunk:
            self.database.dialect.after_bulk_load(self.database.conn, ("runs",))
        return count

    # -- executing -----------------------------------------------------------
    def claim(self, run_id: int, worker_id: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Claim | None:
        """Atomically move a waiting run to running under a new lease. None if it is not
        claimable (already claimed, cancelled, finished, or its retry is not due yet)."""
        now = self.clock()
        token = os.urandom(16).hex()
        with self.database.write() as db:
            conn = db.conn
            try:
                run = self._get_for_update(conn, run_id)
            except NotFound:
                return None
            if run["status"] not in WAITING or run["cancel_requested"]:
                return None
            if run["next_attempt_at"] is not None and run["next_attempt_at"] > now + _EARLY_SLACK:
                return None
            attempt = run["attempts"] + 1
            clock = self.dialect.now
            conn.execute("INSERT INTO attempts (run_id, number, worker_id, started_at, status) VALUES (?,?,?,?,?)",
                         (run_id, attempt, worker_id, now, RUNNING))
            # The counter last: every other writer of a run waits for it until this commits.
            conn.execute(
                f"UPDATE runs SET status = ?, worker_id = ?, heartbeat_at = {clock}, started_at = coalesce(started_at, ?),"
                " attempts = ?, next_attempt_at = NULL, progress_current = NULL, progress_total = NULL,"
                f" progress_message = NULL, lease = ?, lease_expires_at = {clock} + ?, updated_at = ?, rev = ?"
                " WHERE id = ? AND status = ?",
                (RUNNING, worker_id, now, attempt, token, lease_seconds, now, self._next_rev(conn), run_id,
                 run["status"]))
        run.update(status=RUNNING, worker_id=worker_id, attempts=attempt, heartbeat_at=now, lease=token)
        return Claim(run=_decode(run), attempt=attempt, lease=Lease(run_id, attempt, token))

    def flush(self, run_id: int, attempt: int, logs: Sequence[LogLine] = (),
              progress: tuple[float | None, float | None, str | None] | None = None, *,
              lease: Lease | None = None) -> None:
        """Store buffered log lines and the latest progress of a running attempt.

        With ``lease``, raises LeaseLost (storing nothing) once the attempt no longer holds the run.
        """
        if not logs and progress is None:
            return
        with self.database.write() as db:
            if lease is not None:
                check_lease(db.conn, lease, for_update=True)
            self._flush(db.conn, run_id, attempt, logs, progress)

    def _flush(self, conn, run_id: int, attempt: int, logs: Sequence[LogLine],
               progress: tuple | None) -> None:
        sets, args = [], []
        if logs:
            conn.executemany("INSERT INTO run_logs (run_id, attempt, ts, level, message) VALUES (?,?,?,?,?)",
                             [(run_id, attempt, line.ts, line.level, line.message) for line in logs])
            summary = next((l.message for l in reversed(logs) if l.level != "debug"), None)
            if summary is not None:
                sets.append("summary = ?")
                args.append(_one_line(summary, 300))
        if progress is not None:
            sets += ["progress_current = ?", "progress_total = ?", "progress_message = ?"]
            args += [progress[0], progress[1], _one_line(progress[2], 300)]
        if sets:
            sets += ["updated_at = ?", "rev = ?"]
            args += [self.clock(), self._next_rev(conn)]
            conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", (*args, run_id))

    def renew(self, lease: Lease, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Extend ``lease`` by ``lease_seconds`` from now; False when it is no longer the run's."""
        with self.database.write() as db:
            return db.conn.execute(self._renew_sql, (lease_seconds, lease.run_id, lease.token)).rowcount == 1

    def finish(self, run_id: int, attempt: int, worker_id: str, outcome: str, *,
               error_type: str | None = None, error_message: str | None = None,
               result: dict | None = None, retry_at: float | None = None,
               datasets: Iterable[str] = (), logs: Sequence[LogLine] = (),
               progress: tuple | None = None, lease: Lease | None = None) -> str | None:
        """End an attempt. ``outcome`` is succeeded, failed, cancelled or handed_back.

        A failed attempt becomes ``retrying`` when ``retry_at`` is given and
        attempts remain. Returns the run's new status, or None when this
        attempt no longer holds the run (it was recovered elsewhere meanwhile),
        in which case nothing is written.
        """
        now = self.clock()
        error_message = _one_line(error_message, 2000)
        with self.database.write() as db:
            conn = db.conn
            run = self._get_for_update(conn, run_id)
            if run["worker_id"] != worker_id or run["status"] not in IN_FLIGHT or run["attempts"] != attempt:
                return None
            if lease is not None and run["lease"] != lease.token:
                return None
            failures = run["failures"]
            attempt_status = outcome
            if outcome == SUCCEEDED:
                status = SUCCEEDED
            elif outcome == CANCELLED:
                status = CANCELLED
            elif outcome == "handed_back":
                status = CANCELLED if run["cancel_requested"] else QUEUED
            elif outcome == FAILED:
                failures += 1
                if run["cancel_requested"]:
                    status = CANCELLED
                elif retry_at is not None and failures < run["max_attempts"]:
                    status = RETRYING
                else:
                    status = FAILED
            else:
                raise ValueError(f"unknown outcome {outcome!r}")
            finished = now if status in TERMINAL else None
            conn.execute(
                "UPDATE attempts SET status = ?, finished_at = ?, error_type = ?, error_message = ?"
                " WHERE run_id = ? AND number = ?",
                (attempt_status, now, error_type, error_message, run_id, attempt))
            if status == SUCCEEDED:
                self._mark_fresh(conn, run, datasets, now)
            elif status in (FAILED, RETRYING):
                self._mark_failed(conn, run, datasets, now, error_message)
            # The counter last (in _flush and here): every other writer of a run waits for it until this commits.
            self._flush(conn, run_id, attempt, logs, progress)
            conn.execute(
                "UPDATE runs SET status = ?, failures = ?, finished_at = ?, next_attempt_at = ?,"
                " direct = CASE WHEN ? = 'queued' THEN 0 ELSE direct END,"
                " worker_id = CASE WHEN ? THEN worker_id ELSE NULL END, lease = NULL, lease_expires_at = NULL,"
                " error_type = ?, error_message = ?, result = coalesce(?, result), updated_at = ?, rev = ?"
                f" WHERE id = ? AND {self.dialect.same('lease', '?')}",
                (status, failures, finished, retry_at if status == RETRYING else None, status,
                 status in TERMINAL, error_type if outcome != SUCCEEDED else None,
                 error_message if outcome != SUCCEEDED else None,
                 json.dumps(result, sort_keys=True, default=str) if result is not None else None,
                 now, self._next_rev(conn), run_id, run["lease"]))
        return status

    def _mark_fresh(self, conn, run: dict, datasets: Iterable[str], now: float) -> None:
        for dataset in datasets:
            conn.execute(
                "INSERT INTO freshness (brand_id, competitor_id, dataset, last_success_at, last_success_run_id)"
                " VALUES (?,?,?,?,?) ON CONFLICT (brand_id, competitor_id, dataset) DO UPDATE SET"
                " last_success_at = excluded.last_success_at, last_success_run_id = excluded.last_success_run_id",
                (run["brand_id"], run["competitor_id"] or 0, dataset, now, run["id"]))

    def _mark_failed(self, conn, run: dict, datasets: Iterable[str], now: float, error: str | None) -> None:
        for dataset in datasets:
            conn.execute(
                "INSERT INTO freshness (brand_id, competitor_id, dataset, last_failure_at, last_failure_run_id,"
                " last_error) VALUES (?,?,?,?,?,?) ON CONFLICT (brand_id, competitor_id, dataset) DO UPDATE SET"
                " last_failure_at = excluded.last_failure_at, last_failure_run_id = excluded.last_failure_run_id,"
                " last_error = excluded.last_error",
                (run["brand_id"], run["competitor_id"] or 0, dataset, now, run["id"], error))

    # -- cancelling ----------------------------------------------------------
    def request_cancel(self, run_id: int) -> str:
        """Cancel a waiting run at once; ask a running one to stop. Returns the new status."""
        now = self.clock()
        with self.database.write() as db:
            conn = db.conn
            run = self._get_for_update(conn, run_id)
            status = run["status"]
            if status in TERMINAL:
                raise UserError(f"run {run_id} already ended ({status}); nothing to cancel")
            if status in WAITING:
                new = CANCELLED
                conn.execute(
                    "UPDATE runs SET status = ?, cancel_requested = 1, finished_at = ?, next_attempt_at = NULL,"
                    " updated_at = ?, rev = ? WHERE id = ?", (CANCELLED, now, now, self._next_rev(conn), run_id))
            else:
                new = CANCELLING
                conn.execute("UPDATE runs SET status = ?, cancel_requested = 1, updated_at = ?, rev = ? WHERE id = ?",
                             (CANCELLING, now, self._next_rev(conn), run_id))
        return new

    def cancel_requested(self, run_ids: Sequence[int]) -> set[int]:
        if not run_ids:
            return set()
        marks = ",".join("?" * len(run_ids))
        rows = self.database.query(f"SELECT id FROM runs WHERE id IN ({marks}) AND cancel_requested = 1",
                                   tuple(run_ids))
        return {r["id"] for r in rows}

    def check_integrity(self) -> None:
        """Raise DatabaseCorrupt when a table of the run store is damaged (a quick check of those
        tables, not of the whole file: the data tables can be large)."""
        self.database.quick_check(RUN_STORE_TABLES)

    # -- workers and recovery ---------------------------------------------------
    def register_worker(self, worker_id: str, *, kind: str, host: str, pid: int, proc_start: str | None,
                        threads: int, version: str, queue: str) -> None:
        clock = self.dialect.now
        with self.database.write() as db:
            db.conn.execute(
                "INSERT INTO workers (id, kind, host, pid, proc_start, threads, version, queue,"
                f" started_at, heartbeat_at, status) VALUES (?,?,?,?,?,?,?,?,{clock},{clock},'running')"
                " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, host = excluded.host, pid = excluded.pid,"
                " proc_start = excluded.proc_start, threads = excluded.threads, version = excluded.version,"
                " queue = excluded.queue, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,"
                " stopped_at = NULL, status = excluded.status",
                (worker_id, kind, host, pid, proc_start, threads, version, queue))

    def heartbeat(self, worker_id: str, leases: Sequence[Lease] = (), status: str | None = None, *,
                  lease_seconds: float = DEFAULT_LEASE_SECONDS) -> set[int]:
        """Note the worker alive and renew its attempts' leases. Returns the runs whose lease is gone."""
        lost = set()
        clock = self.dialect.now
        with self.database.write() as db:
            conn = db.conn
            # Leases first, in run order: two heartbeats never wait for each other's rows in a circle.
            for lease in sorted(leases):
                if conn.execute(self._renew_sql, (lease_seconds, lease.run_id, lease.token)).rowcount != 1:
                    lost.add(lease.run_id)
            if status:
                conn.execute(f"UPDATE workers SET heartbeat_at = {clock}, status = ? WHERE id = ?", (status, worker_id))
            else:
                conn.execute(f"UPDATE workers SET heartbeat_at = {clock} WHERE id = ?", (worker_id,))
        return lost

    def stop_worker(self, worker_id: str) -> None:
        clock = self.dialect.now
        with self.database.write() as db:
            db.conn.execute(f"UPDATE workers SET status = 'stopped', stopped_at = {clock}, heartbeat_at = {clock}"
                            " WHERE id = ?", (worker_id,))

    def workers(self, include_stopped: bool = False, kind: str | None = "worker") -> list[dict]:
        """Registered workers, each with ``heartbeat_age``: seconds since its last heartbeat, by the database's clock."""
        sql = f"SELECT *, {self.dialect.now} - heartbeat_at AS heartbeat_age FROM workers WHERE 1=1"
        args: list = []
        if not include_stopped:
            sql += " AND status != 'stopped'"
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        return self.database.query(sql + " ORDER BY started_at DESC", args)

    def worker_activity(self, worker_ids: Sequence[str]) -> dict[str, dict]:
        """Per worker: attempts it ended (``runs_done``), the runs it holds now (``current``: id, job type,
        brand) and its latest attempt that ended in an error (``last_error``, ``last_error_at``, ``last_error_run``)."""
        out: dict[str, dict] = {}
        for worker_id in worker_ids:
            done = self.database.scalar(
                "SELECT count(*) FROM attempts WHERE worker_id = ? AND finished_at IS NOT NULL", (worker_id,))
            current = self.database.query(
                "SELECT r.id, r.job_type, b.name AS brand FROM runs r JOIN brands b ON b.id = r.brand_id"
                " WHERE r.worker_id = ? AND r.status IN ('running', 'cancelling') ORDER BY r.id", (worker_id,))
            error = self.database.query_one(
                "SELECT run_id, finished_at, error_type, error_message FROM attempts"
                " WHERE worker_id = ? AND error_message IS NOT NULL ORDER BY started_at DESC LIMIT 1", (worker_id,))
            out[worker_id] = {
                "runs_done": done or 0, "current": current,
                "last_error": (f"{error['error_type']}: {error['error_message']}" if error and error["error_type"]
                               else error["error_message"] if error else None),
                "last_error_at": error["finished_at"] if error else None,
                "last_error_run": error["run_id"] if error else None}
        return out

    def in_flight(self) -> list[dict]:
        """Running runs with their lease, whether it has expired (by the database's clock), and
        their worker's record (None when the worker is unknown)."""
        now = self.dialect.now
        return self.database.query(
            "SELECT r.id, r.worker_id, r.attempts, r.heartbeat_at, r.lease, r.lease_expires_at,"
            f" (r.lease_expires_at IS NULL OR r.lease_expires_at < {now}) AS lease_expired,"
            f" {now} - coalesce(r.heartbeat_at, 0) AS silent_for,"
            " w.host, w.pid, w.proc_start, w.status AS worker_status, w.heartbeat_at AS worker_heartbeat_at"
            " FROM runs r LEFT JOIN workers w ON w.id = r.worker_id WHERE r.status IN ('running', 'cancelling')")

    def recover(self, run_id: int, lease: str | None, reason: str, *, only_if_expired: bool = True) -> str | None:
        """Take a run from the attempt holding ``lease`` (its worker died or stalled): retry it if
        attempts remain, else fail it as interrupted. None, and nothing written, when that lease is
        no longer the run's or (``only_if_expired``) was renewed meanwhile."""
        now = self.clock()
        with self.database.write() as db:
            conn = db.conn
            run = self._get_for_update(conn, run_id)
            if run["status"] not in IN_FLIGHT or run["lease"] != lease:
                return None
            if only_if_expired and run["lease_expires_at"] is not None and conn.execute(
                    f"SELECT lease_expires_at >= {self.dialect.now} FROM runs WHERE id = ?", (run_id,)).fetchone()[0]:
                return None
            attempt = run["attempts"]
            failures = run["failures"] + 1
            message = _one_line(f"interrupted: {reason} during attempt {attempt} of {run['max_attempts']}")
            if run["cancel_requested"]:
                status = CANCELLED
            elif failures < run["max_attempts"]:
                status = QUEUED
            else:
                status = FAILED
            conn.execute("UPDATE attempts SET status = 'interrupted', finished_at = ?, error_type = 'Interrupted',"
                         " error_message = ? WHERE run_id = ? AND number = ?", (now, message, run_id, attempt))
            conn.execute("INSERT INTO run_logs (run_id, attempt, ts, level, message) VALUES (?,?,?,?,?)",
                         (run_id, attempt, now, "warning", message))
            conn.execute(
                "UPDATE runs SET status = ?, failures = ?, worker_id = NULL, direct = 0, finished_at = ?,"
                " lease = NULL, lease_expires_at = NULL,"
                f" error_type = ?, error_message = ?, updated_at = ?, rev = ? WHERE id = ? AND {self.dialect.same('lease', '?')}",
                (status, failures, now if status in TERMINAL else None, "Interrupted", message, now,
                 self._next_rev(conn), run_id, lease))
        return status

    def mark_workers_dead(self, worker_ids: Sequence[str]) -> None:
        if not worker_ids:
            return
        now = self.clock()
        marks = ",".join("?" * len(worker_ids))
        with self.database.write() as db:
            db.conn.execute(f"UPDATE workers SET status = 'stopped', stopped_at = ? WHERE id IN ({marks})"
                            " AND status != 'stopped'", (now, *worker_ids))

    def orphaned(self, older_than: float, direct_older_than: float = 60.0) -> list[int]:
        """Waiting runs due for longer than ``older_than`` seconds: their message may be lost.

        A direct run is claimed by its own process the moment it is due; one
        still waiting after ``direct_older_than`` lost that process, and is
        handed to the workers (and stops being direct).
        """
        now = self.clock()
        rows = self.database.query(
            "SELECT id FROM runs WHERE status IN ('queued', 'retrying')"
            " AND ((direct = 0 AND updated_at < :q AND coalesce(next_attempt_at, 0) < :q)"
            "   OR (direct = 1 AND updated_at < :d AND coalesce(next_attempt_at, 0) < :d)) ORDER BY id",
            {"q": now - older_than, "d": now - direct_older_than})
        return [r["id"] for r in rows]

    def resent(self, run_ids: Sequence[int]) -> None:
        """Note that these waiting runs were re-sent to the queue (they now belong to the workers)."""
        if not run_ids:
            return
        now = self.clock()
        marks = ",".join("?" * len(run_ids))
        with self.database.write() as db:
            db.conn.execute(f"UPDATE runs SET updated_at = ?, direct = 0 WHERE id IN ({marks})", (now, *run_ids))

    # -- reading -------------------------------------------------------------
    def get(self, run_id: int) -> dict:
        row = _decode(self.database.query_one(f"SELECT {RUN_COLUMNS}{RUN_FROM} WHERE r.id = ?", (run_id,)))
        if row is None:
            raise NotFound(f"unknown run {run_id}")
        return row

    def attempts(self, run_id: int) -> list[dict]:
        return self.database.query("SELECT * FROM attempts WHERE run_id = ? ORDER BY number", (run_id,))

    def logs(self, run_id: int, after_id: int = 0, limit: int | None = None, tail: int | None = None) -> list[dict]:
        if tail is not None:
            rows = self.database.query(
                "SELECT * FROM run_logs WHERE run_id = ? AND id > ? ORDER BY id DESC LIMIT ?", (run_id, after_id, tail))
            return rows[::-1]
        sql = "SELECT * FROM run_logs WHERE run_id = ? AND id > ? ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.database.query(sql, (run_id, after_id))

    def list(self, *, brand_id: int | None = None, job_type: str | None = None,
             competitor_id: int | None = None, statuses: Sequence[str] | None = None,
             text: str | None = None, limit: int | None = 100, before_id: int | None = None) -> list[dict]:
        where, args = [], []
        if brand_id is not None:
            where.append("r.brand_id = ?")
            args.append(brand_id)
        if job_type is not None:
            where.append("r.job_type = ?")
            args.append(job_type)
        if competitor_id is not None:
            where.append("r.competitor_id = ?")
            args.append(competitor_id)
        if statuses:
            where.append(f"r.status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if before_id is not None:
            where.append("r.id < ?")
            args.append(before_id)
        if text:
            pattern = f"%{text}%"
            like = self.dialect.like
            where.append(f"(r.job_type {like} ? OR b.name {like} ? OR c.name {like} ? OR r.summary {like} ?"
                         f" OR r.error_message {like} ? OR CAST(r.id AS TEXT) = ?)")
            args.extend([pattern] * 5 + [text.strip()])
        sql = f"SELECT {RUN_COLUMNS}{RUN_FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_decode(r) for r in self.database.query(sql, args)]

    def changed_since(self, rev: int, limit: int = 1000) -> list[dict]:
        """Runs whose row changed after ``rev`` (for live views that read only what changed)."""
        return [_decode(r) for r in self.database.query(
            f"SELECT {RUN_COLUMNS}{RUN_FROM} WHERE r.rev > ? ORDER BY r.rev LIMIT ?", (rev, limit))]

    def max_rev(self) -> int:
        """The last rev handed out: every change up to it is committed and readable."""
        return self.database.scalar("SELECT rev FROM run_feed WHERE id = 1")

    def counts(self) -> dict[str, int]:
        rows = self.database.query(
            "SELECT status, count(*) AS n FROM runs WHERE status IN ('queued','retrying','running','cancelling')"
            " GROUP BY status")
        counts = {s: 0 for s in ACTIVE}
        counts.update({r["status"]: r["n"] for r in rows})
        return counts

    def freshness(self, brand_id: int | None = None) -> list[dict]:
        """Freshness rows, each with the result of its last successful run (``last_success_result``)."""
        sql = ("SELECT f.*, b.name AS brand, c.name AS competitor, r.result AS last_success_result"
               " FROM freshness f JOIN brands b ON b.id = f.brand_id"
               " LEFT JOIN competitors c ON c.id = f.competitor_id LEFT JOIN runs r ON r.id = f.last_success_run_id")
        if brand_id is not None:
            rows = self.database.query(sql + " WHERE f.brand_id = ? ORDER BY f.dataset", (brand_id,))
        else:
            rows = self.database.query(sql + " ORDER BY b.name, f.dataset")
        for row in rows:
            if isinstance(row["last_success_result"], str):
                row["last_success_result"] = json.loads(row["last_success_result"])
        return rows
