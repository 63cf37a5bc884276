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


# -- pipedeck's own errors, never a raw sqlite3 one ------------------------------------
def test_a_lock_held_past_the_busy_timeout_is_database_locked(tmp_path):
    from pipedeck.errors import DatabaseLocked
    from pipedeck.storage.catalog import Catalog

    db = Database(tmp_path / "p.db", busy_timeout=0.2)
    brand = Catalog(db).add_brand("A")
    holder = sqlite3.connect(tmp_path / "p.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseLocked) as err:
            RunStore(db).create_run(job_type="x", brand_id=brand["id"], competitor_id=None, params={},
                                    max_attempts=1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert isinstance(err.value, StorageError)
    assert isinstance(err.value.__cause__, sqlite3.OperationalError)
    assert "locked" in str(err.value) and str(tmp_path / "p.db") in str(err.value)
    assert RunStore(db).list() == []  # nothing was half-written


def corrupt_table(path, table: str) -> None:
    """Overwrite the root page of ``table`` with garbage: the file opens, but reading the table fails."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xde\xad\xbe\xef" * (page_size // 4))


def test_a_damaged_table_is_database_corrupt_with_what_to_do(tmp_path):
    from pipedeck.errors import DatabaseCorrupt

    path = tmp_path / "p.db"
    db = Database(path)
    db.conn.execute("INSERT INTO brands (name, created_at, updated_at) VALUES ('A', 0, 0)")
    runs = RunStore(db)
    run_id = runs.create_run(job_type="x", brand_id=1, competitor_id=None, params={}, max_attempts=1)
    db.close()
    corrupt_table(path, "runs")
    db = Database(path)  # the header and schema are fine: opening works
    with pytest.raises(DatabaseCorrupt) as err:
        RunStore(db).get(run_id)
    assert isinstance(err.value.__cause__, sqlite3.DatabaseError)
    text = str(err.value)
    assert "\n" not in text and str(path) in text and ".recover" in text
    with pytest.raises(DatabaseCorrupt, match=r"\.recover"):
        RunStore(db).check_integrity()


# -- only our own files ----------------------------------------------------------------
def side_files(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


@pytest.mark.parametrize("make", [
    pytest.param(lambda c: c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"), id="another-app"),
    pytest.param(lambda c: c.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, pace REAL)"), id="clashing-runs"),
    pytest.param(lambda c: (schema.v1_core(c), c.execute("PRAGMA user_version = 1"),
                            c.execute("PRAGMA application_id = 1234")), id="our-tables-another-app-id"),
])
def test_a_foreign_sqlite_file_is_refused_untouched(tmp_path, make):
    from pipedeck.errors import NotOurDatabase

    path = tmp_path / "pipedeck.db"
    conn = sqlite3.connect(path)
    with conn:
        make(conn)
    conn.close()
    before, files = digest(path), side_files(path)
    with pytest.raises(NotOurDatabase) as err:
        Database(path)
    assert "not a pipedeck database" in str(err.value) and str(path) in str(err.value)
    assert digest(path) == before and side_files(path) == files  # no migration, no WAL switch
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_our_files_are_marked_and_an_unmarked_pipedeck_file_still_opens(tmp_path):
    fresh = Database(tmp_path / "new.db")
    assert fresh.scalar("PRAGMA application_id") == migrations.APPLICATION_ID
    fresh.close()
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path)
    with conn:
        for step in (schema.v1_core, schema.v2_meta, schema.v3_ad_library, schema.v4_schedules):
            step(conn)
        conn.execute("PRAGMA user_version = 4")
        conn.execute("INSERT INTO brands (name, created_at, updated_at) VALUES ('Legacy', 0, 0)")
    conn.close()
    db = Database(path)
    assert db.scalar("PRAGMA application_id") == migrations.APPLICATION_ID
    assert migrations.current_version(db.conn) == migrations.LATEST
    assert db.query("SELECT name FROM brands") == [{"name": "Legacy"}]
    db.close()
    Database(path).close()  # and opens again, now by its mark
