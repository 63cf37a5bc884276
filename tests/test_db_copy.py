"""`pipedeck db copy`: the demo's data, SQLite -> PostgreSQL -> SQLite, every row of every table
round-trips; ids are kept and new rows continue after them; a non-empty target is refused unless
--force; each table's count is printed and verified on the target; the password is never shown."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from pipedeck.config import load_settings
from pipedeck.demo import seed
from pipedeck.queue.alerts import AlertPump
from pipedeck.queue.service import Service
from pipedeck.storage.catalog import Catalog
from pipedeck.storage.copy import tables_of
from pipedeck.storage.db import Database
from pipedeck.storage.runs import RunStore
from tests.clirunner import invoke, one_line_error
from tests.helpers import db_digest

# The source is the data dir's SQLite file; the PostgreSQL end comes from the suite's server.
pytestmark = pytest.mark.engines("sqlite")
T_FUTURE = 2_082_758_400.0  # 2036: every demo schedule is due, and its history gets rows


def dump(target) -> dict[str, list]:
    """Every row of every pipedeck table, in a comparable form."""
    db = Database(target, migrate=False)
    try:
        return {t: sorted(repr(sorted(r.items())) for r in db.query(f'SELECT * FROM "{t}"')) for t in tables_of(db)}
    finally:
        db.close()


@pytest.fixture
def demo_data(home, sandbox, monkeypatch):
    """The demo's brands, competitors and schedules, with its first jobs run for real against the sandbox."""
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    seed(settings)
    svc = Service(settings)
    try:
        for run in svc.list_runs(statuses=["queued"], limit=None):
            svc.execute_direct(run["id"])
        svc.execute_direct(svc.queue_one_time_job("Acme Outdoor", "asset_download",
                                                  {"max_images": 3, "max_videos": 1}, direct=True))
        svc.set_freshness_policy("meta_performance", 3600, 7200, brand="Acme Outdoor")
        svc.review_templates([t["id"] for t in svc.templates("Acme Outdoor", limit=3)], "approved")
        svc.tick(now=T_FUTURE)
        # By then the policy's dataset is stale: one alert recorded (nowhere to send it).
        assert AlertPump(svc, "db-copy-test", clock=lambda: T_FUTURE, targets=[], desktop=False).check() >= 1
    finally:
        svc.close()
    return settings


def test_demo_data_round_trips_sqlite_to_postgresql_to_sqlite(demo_data, postgres_url, tmp_path):
    source = demo_data.db_path
    original = dump(source)
    assert [t for t, rows in original.items() if not rows] == []  # every table has something to copy
    password = urlsplit(postgres_url).password

    there = invoke("db", "copy", "--to", postgres_url)
    assert there.returncode == 0, there.stderr
    assert password not in there.stdout + there.stderr and ":***@" in there.stdout
    lines = {line.split()[0]: line.split()[1:] for line in there.stdout.splitlines() if line.split()}
    for table, rows in original.items():
        assert lines[table] == [f"{len(rows):,}", f"{len(rows):,}"], table  # each count, as verified on the target
    assert "every count verified on the target" in there.stdout
    assert dump(postgres_url) == original
    # A bulk load: the target's planner statistics are brought up to date (never-analyzed is -1).
    db = Database(postgres_url)
    try:
        assert db.scalar("SELECT reltuples FROM pg_class WHERE relname = 'runs'") == len(original["runs"])
    finally:
        db.close()

    back = tmp_path / "back.db"
    again = invoke("db", "copy", "--from", postgres_url, "--to", f"sqlite:///{back}", "--json")
    assert again.returncode == 0, again.stderr
    info = json.loads(again.stdout)
    assert all(t["verified"] for t in info["tables"].values()) and set(info["tables"]) == set(original)
    assert password not in again.stdout
    assert dump(back) == original

    # Ids kept, and what comes next continues after them on the new engine.
    db = Database(postgres_url)
    try:
        top_brand = db.scalar("SELECT max(id) FROM brands")
        top_run = db.scalar("SELECT max(id) FROM runs")
        top_rev = db.scalar("SELECT max(rev) FROM runs")
        assert Catalog(db).add_brand("After the move")["id"] == top_brand + 1
        new_run = RunStore(db).create_run(job_type="meta_sync", brand_id=top_brand + 1, competitor_id=None,
                                          params={}, max_attempts=1)
        assert new_run == top_run + 1 and db.scalar("SELECT rev FROM runs WHERE id = ?", (new_run,)) > top_rev
    finally:
        db.close()


def test_a_non_empty_target_is_refused_unless_forced(demo_data, postgres_url, tmp_path):
    assert invoke("db", "copy", "--to", postgres_url).returncode == 0
    db = Database(postgres_url)
    try:
        Catalog(db).add_brand("Only on the server")
    finally:
        db.close()
    before = dump(postgres_url)
    refused = invoke("db", "copy", "--to", postgres_url)
    line = one_line_error(refused)
    assert "is not empty (brands 4" in line and "--force" in line and urlsplit(postgres_url).password not in line
    assert dump(postgres_url) == before  # untouched
    forced = invoke("db", "copy", "--to", postgres_url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert dump(postgres_url) == dump(demo_data.db_path)


def test_copy_to_itself_and_to_a_foreign_database_are_refused(demo_data, postgres_server):
    line = one_line_error(invoke("db", "copy", "--to", str(demo_data.db_path)))
    assert "the same database" in line
    other = postgres_server.create_database()
    try:
        import psycopg

        with psycopg.connect(other, autocommit=True) as conn:
            conn.execute("CREATE TABLE invoices (id bigint)")
        line = one_line_error(invoke("db", "copy", "--to", other))
        assert "not a pipedeck database" in line
    finally:
        postgres_server.drop_database(other)
    assert db_digest(demo_data.home)  # the source is still readable and whole
