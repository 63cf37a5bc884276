"""Storage: migrations, refusal of newer, foreign or corrupt databases, WAL, and the run store's
transitions, on both engines (the SQLite file's own concerns on SQLite only)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading

import pytest

from pipedeck.errors import StorageError, UserError
from pipedeck.storage import migrations, schema
from pipedeck.storage.db import Database
from pipedeck.storage.runs import RunStore

sqlite_only = pytest.mark.engines("sqlite")
postgresql_only = pytest.mark.engines("postgresql")


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def with_brand(db: Database) -> RunStore:
    db.conn.execute("INSERT INTO brands (name, created_at, updated_at) VALUES ('A', 0, 0)")
    return RunStore(db)


def test_a_new_database_gets_the_latest_schema(database):
    assert migrations.current_version(database.conn) == migrations.LATEST
    tables = set(database.dialect.tables(database.conn))
    assert {"brands", "competitors", "schedules", "runs", "attempts", "run_logs", "freshness", "workers",
            "meta_insights", "templates", "schedule_events", "run_feed"} <= tables
    assert database.scalar("SELECT rev FROM run_feed") == 0


@sqlite_only
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


@sqlite_only
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


@sqlite_only
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


@sqlite_only
def test_corrupt_file_is_refused_untouched(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not sqlite" * 100)
    before = digest(path)
    with pytest.raises(StorageError) as err:
        Database(path)
    assert "corrupt" in str(err.value) and str(path) in str(err.value)
    assert digest(path) == before


def test_concurrent_claims_only_one_wins(database):
    runs = with_brand(database)
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


def test_retry_not_claimable_before_due_and_cancel_semantics(database):
    clock = [1000.0]
    with_brand(database)
    runs = RunStore(database, clock=lambda: clock[0])
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
@sqlite_only
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


@sqlite_only
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


@sqlite_only
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


@sqlite_only
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


# -- PostgreSQL: the same rules on a server ------------------------------------------------
def snapshot(url) -> list:
    """Everything a PostgreSQL database holds that a migration could change: tables, columns, rows."""
    import psycopg

    with psycopg.connect(url) as conn:
        columns = conn.execute("SELECT table_name, column_name, data_type FROM information_schema.columns"
                               " WHERE table_schema = 'public' ORDER BY 1, 2").fetchall()
        tables = sorted({t for t, _, _ in columns})
        rows = [(t, sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"').fetchall()))) for t in tables]
    return [columns, rows]


@postgresql_only
def test_a_newer_schema_on_the_server_is_refused_untouched(database_url):
    Database(database_url).close()
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE pipedeck_schema SET version = %s", (migrations.LATEST + 1,))
    before = snapshot(database_url)
    with pytest.raises(StorageError) as err:
        Database(database_url)
    text = str(err.value)
    assert "newer" in text and "upgrade pipedeck" in text and "\n" not in text
    assert "***" in text and ":" + database_url.split(":")[2].split("@")[0] + "@" not in text  # masked
    assert snapshot(database_url) == before


@postgresql_only
def test_another_applications_database_is_refused_untouched(database_url):
    import psycopg

    from pipedeck.errors import NotOurDatabase

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (id bigint PRIMARY KEY, pace real)")
        conn.execute("INSERT INTO runs VALUES (1, 4.5)")
    before = snapshot(database_url)
    with pytest.raises(NotOurDatabase) as err:
        Database(database_url)
    assert "not a pipedeck database" in str(err.value) and "runs" in str(err.value)
    assert snapshot(database_url) == before


@postgresql_only
def test_processes_starting_together_migrate_once(database_url, tmp_path):
    """Eight processes open a fresh database at the same moment: one migrates under the advisory
    lock, the others wait and find the work done; none fails."""
    import subprocess
    import sys

    from tests.helpers import REPO, wait_for

    go = tmp_path / "go"
    script = ("import os, sys, time\n"
              "from pipedeck.storage.db import Database\n"
              "import psycopg\n"
              "open(sys.argv[3], 'w').close()\n"
              "while not os.path.exists(sys.argv[2]): time.sleep(0.0005)\n"
              "Database(sys.argv[1]).close()\n")
    ready = [tmp_path / f"ready-{i}" for i in range(8)]
    procs = [subprocess.Popen([sys.executable, "-c", script, database_url, str(go), str(r)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in ready]
    wait_for(lambda: all(r.exists() for r in ready), 60, message="every process ready")
    go.touch()
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [o for o in outputs if o]
    db = Database(database_url)
    try:
        assert db.scalar("SELECT version FROM pipedeck_schema") == migrations.LATEST
        assert db.scalar("SELECT count(*) FROM pipedeck_schema") == 1
    finally:
        db.close()


@postgresql_only
def test_a_row_locked_past_the_busy_timeout_is_database_locked(database_url):
    import psycopg

    from pipedeck.errors import DatabaseLocked

    db = Database(database_url, busy_timeout=0.2)
    try:
        runs = with_brand(db)
        run_id = runs.create_run(job_type="x", brand_id=1, competitor_id=None, params={}, max_attempts=1)
        holder = psycopg.connect(database_url)
        holder.execute("SELECT * FROM runs WHERE id = %s FOR UPDATE", (run_id,))
        try:
            with pytest.raises(DatabaseLocked) as err:
                runs.request_cancel(run_id)
        finally:
            holder.rollback()
            holder.close()
        assert isinstance(err.value.__cause__, psycopg.Error)
        assert "locked" in str(err.value) and "\n" not in str(err.value)
        assert runs.get(run_id)["status"] == "queued"  # nothing was half-written
        assert runs.request_cancel(run_id) == "cancelled"
    finally:
        db.close()


def test_migration_steps_exist_for_both_engines():
    from pipedeck.storage.schema_postgres import STEPS

    assert sorted(STEPS) == [number for number, _, _ in migrations.MIGRATIONS]


@postgresql_only
def test_a_bulk_history_leaves_the_planner_statistics_current(database, engine):
    """After RunStore.insert_history of many runs the runs table is vacuumed and analyzed (a count by
    status reads the index alone, the planner knows the row count) instead of waiting for autovacuum."""
    store = with_brand(database)
    brand_id = database.scalar("SELECT id FROM brands")
    assert database.scalar("SELECT reltuples FROM pg_class WHERE relname = 'runs'") == -1  # never analyzed
    store.insert_history(({"job_type": "meta_sync", "brand_id": brand_id, "status": "succeeded",
                           "created_at": 1_700_000_000.0 + i} for i in range(25)), chunk=10)
    assert database.scalar("SELECT reltuples FROM pg_class WHERE relname = 'runs'") == 25
