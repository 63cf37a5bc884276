"""What answers a search of the runs: SQLite's side trigram table, PostgreSQL's pg_trgm indexes (schema
step 12), or, where the extension cannot be added, a scan that finds the same runs."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest

from pipedeck.concepts.run_query import NEWEST_FIRST, RunFilter
from pipedeck.storage import run_search
from pipedeck.storage.db import Database

postgresql_only = pytest.mark.engines("postgresql")


def _seed(svc) -> dict[str, int]:
    brand = svc.catalog.add_brand("Searchable", "1", "2")
    runs = [{"job_type": "meta_sync", "brand_id": brand["id"], "status": status, "attempts": 1, "max_attempts": 3,
             "created_at": 1_700_000_000.0 + i, "summary": summary, "error_message": error}
            for i, (status, summary, error) in enumerate([
                ("succeeded", "result: rows=4242", None),
                ("failed", None, "HTTP 503 from graph.facebook.com"),
                ("succeeded", "result: rows=17", None),
                ("failed", None, "Token expired (190)")])]
    svc.runs.insert_history(runs)
    return {r["summary"] or r["error_message"]: r["id"] for r in svc.runs.list(limit=10)}


def _found(svc, text: str) -> set[int]:
    window = svc.run_window(RunFilter(text=text), NEWEST_FIRST, 0, 50)
    return {row["id"] for row in window.rows}


def test_db_status_says_what_serves_a_search(svc, home, engine):
    info = svc.database_status()
    assert info["search"]["index"] is not None
    assert ("pg_trgm" if engine == "postgresql" else "runs_text") in info["search"]["index"]
    out = subprocess.run([sys.executable, "-m", "pipedeck", "db", "status"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "search: by " in out.stdout


@postgresql_only
def test_the_trigram_indexes_serve_the_search_condition(database, engine):
    """The planner can answer the very condition a search runs from the step-12 indexes (sequential
    scans priced out, as they are on a long history)."""
    where, args = run_search.condition(database, "503")
    with database.write() as db:
        db.conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in db.conn.execute(
            f"EXPLAIN SELECT r.id FROM runs r WHERE {where}", args).fetchall())
    assert "runs_summary_trgm" in plan and "runs_error_trgm" in plan, plan


@postgresql_only
def test_without_pg_trgm_the_schema_still_upgrades_and_a_search_scans(postgres_server, engine, tmp_path,
                                                                      monkeypatch):
    """A user who may not add extensions (no CREATE on the database): step 12 leaves the indexes out,
    the rest of the schema is made, `db status` says a search scans, and a search finds the same runs."""
    role, password = f"t_plain_{secrets.token_hex(4)}", secrets.token_hex(8)
    admin_db = postgres_server.create_database()
    name = admin_db.rsplit("/", 1)[1]
    with postgres_server._admin() as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    import psycopg

    with psycopg.connect(postgres_server.url_for(name), autocommit=True) as conn:
        conn.execute(f"GRANT CONNECT ON DATABASE \"{name}\" TO {role}")
        conn.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
    url = postgres_server.url_for(name, user=role, password=password)
    try:
        for key in list(__import__("os").environ):
            if key.startswith("PIPEDECK_"):
                monkeypatch.delenv(key)
        monkeypatch.setenv("PIPEDECK_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("PIPEDECK_DATABASE_URL", url)
        from pipedeck.config import load_settings
        from pipedeck.queue.service import Service

        svc = Service(load_settings())
        try:
            assert svc.database_status()["schema_version"] == 12
            assert svc.database_status()["search"]["index"] is None
            ids = _seed(svc)
            assert _found(svc, "503") == {ids["HTTP 503 from graph.facebook.com"]}
            assert _found(svc, "rows=4") == {ids["result: rows=4242"]}
        finally:
            svc.close()
        out = subprocess.run([sys.executable, "-m", "pipedeck", "db", "status"], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert "search: scans the runs (pg_trgm could not be added" in out.stdout
        assert password not in out.stdout + out.stderr
    finally:
        postgres_server.drop_database(admin_db)
        with postgres_server._admin() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_search_finds_the_same_runs_through_the_index(svc, engine):
    ids = _seed(svc)
    svc.sync_run_search(1000)
    assert _found(svc, "503") == {ids["HTTP 503 from graph.facebook.com"]}
    assert _found(svc, "rows=") == {ids["result: rows=4242"], ids["result: rows=17"]}
    assert _found(svc, "token expired") == {ids["Token expired (190)"]}
    assert _found(svc, "nowhere to be found") == set()


def test_an_existing_database_gains_the_step(database, engine):
    """A database at step 11 (before this pipedeck) is brought to 12 on open, its runs kept."""
    from pipedeck.storage import migrations

    with database.write() as db:
        if engine == "postgresql":
            db.conn.execute("DROP INDEX runs_summary_trgm, runs_error_trgm")
        database.dialect.set_schema_version(db.conn, 11)
    again = Database(database.target.url if engine == "postgresql" else database.path)
    try:
        assert migrations.current_version(again.conn) == migrations.LATEST == 12
        assert run_search.describe(again)["index"] is not None
    finally:
        again.close()
