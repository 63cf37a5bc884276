"""Storage: migrations, refusal of newer or corrupt files, WAL, and the run store's transitions."""

from __future__ import annotations

import hashlib
import sqlite3
import threading

import pytest

from pipedeck.errors import StorageError, UserError
from pipedeck.storage import migrations, schema
from pipedeck.storage.db import Database
from pipedeck.storage.runs import RunStore


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_file_gets_latest_schema_with_wal(tmp_path):
    db = Database(tmp_path / "p.db")
    assert migrations.current_version(db.conn) == migrations.LATEST
    assert db.scalar("PRAGMA journal_mode") == "wal"
    assert db.scalar("PRAGMA busy_timeout") == 30000
    tables = {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"brands", "competitors", "schedules", "runs", "attempts", "run_logs", "freshness", "workers"} <= tables
    # The competitor filter is an indexed column, not JSON filtered in Python.
    plan = db.query("EXPLAIN QUERY PLAN SELECT id FROM runs WHERE competitor_id = 3 ORDER BY id DESC")
    assert any("runs_competitor" in r["detail"] for r in plan)


def test_older_file_is_upgraded_in_place_keeping_data(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    with conn:
        schema.v1_core(conn)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO brands (name, created_at, updated_at) VALUES ('Legacy', 0, 0)")
    conn.close()
    db = Database(path)
    assert migrations.current_version(db.conn) == migrations.LATEST
    assert db.query("SELECT name FROM brands") == [{"name": "Legacy"}]
    assert db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'templates'") == 1


def test_newer_file_is_refused_untouched(tmp_path):
    path = tmp_path / "new.db"
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    conn.close()
    before = digest(path)
    with pytest.raises(StorageError) as err:
        Database(path)
    assert "newer" in str(err.value) and "upgrade pipedeck" in str(err.value)
    assert "\n" not in str(err.value)
    assert digest(path) == before


def test_corrupt_file_is_refused_untouched(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not sqlite" * 100)
    before = digest(path)
    with pytest.raises(StorageError) as err:
        Database(path)
    assert "corrupt" in str(err.value) and str(path) in str(err.value)
    assert digest(path) == before


def test_concurrent_claims_only_one_wins(tmp_path):
    db = Database(tmp_path / "p.db")
    db.conn.execute("INSERT INTO brands (name, created_at, updated_at) VALUES ('A', 0, 0)")
    runs = RunStore(db)
    run_id = runs.create_run(job_type="x", brand_id=1, competitor_id=None, params={}, max_attempts=3)
    results = []
    barrier = threading.Barrier(8)

    def claim(i):
        barrier.wait()
        results.append(runs.claim(run_id, f"w{i}"))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert len(runs.attempts(run_id)) == 1


def test_retry_not_claimable_before_due_and_cancel_semantics(tmp_path):
    clock = [1000.0]
    db = Database(tmp_path / "p.db")
    db.conn.execute("INSERT INTO brands (name, created_at, updated_at) VALUES ('A', 0, 0)")
    runs = RunStore(db, clock=lambda: clock[0])
    run_id = runs.create_run(job_type="x", brand_id=1, competitor_id=None, params={}, max_attempts=2)
    claim = runs.claim(run_id, "w1")
    assert runs.finish(run_id, claim.attempt, "w1", "failed", error_type="E", error_message="boom",
                       retry_at=1010.0) == "retrying"
    assert runs.claim(run_id, "w2") is None  # early message: not due yet
    clock[0] = 1010.0
    claim = runs.claim(run_id, "w2")
    assert claim.attempt == 2
    # Last allowed attempt fails: no more retries even with retry_at.
    assert runs.finish(run_id, 2, "w2", "failed", error_type="E", error_message="boom", retry_at=1020.0) == "failed"
    # A stale worker cannot overwrite an attempt it no longer owns.
    assert runs.finish(run_id, 1, "w1", "succeeded") is None
    with pytest.raises(UserError, match="already ended"):
        runs.request_cancel(run_id)
