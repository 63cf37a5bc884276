"""The CLI contract: verbs, --json, and one-line errors that write nothing.

In-process through click's CliRunner (tests/clirunner.py); a real `pipedeck worker`
subprocess where a worker is the point. The entry point as a real process is in
test_cli_process.py, every verb's bad input in test_cli_bad_input.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
from urllib.parse import urlsplit

import psycopg

import pytest

from tests.clirunner import invoke, one_line_error
from tests.helpers import db_digest, wait_for


@pytest.fixture
def seeded(home):
    assert invoke("brands", "add", "Acme", "--meta-ad-account", "act_1001", "--ad-library-page-id", "5001").returncode == 0
    assert invoke("brands", "add", "NoAccount").returncode == 0
    assert invoke("competitors", "add", "Rival", "--brand", "Acme", "--ad-library-url",
                  "https://www.facebook.com/ads/library/?view_all_page_id=77").returncode == 0
    return home


def show(run_id) -> dict:
    result = invoke("runs", "show", str(run_id), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_queue_prints_run_id_and_listings_take_json(seeded):
    result = invoke("queue", "test_echo", "--brand", "acme", "--set", "lines=4")
    assert result.returncode == 0, result.stderr
    run_id = int(result.stdout.strip())
    assert "no worker is running" in result.stderr  # says so, still queued
    runs = json.loads(invoke("runs", "--json").stdout)
    assert runs[0]["id"] == run_id
    for key in ("id", "job_type", "brand", "competitor", "status", "attempts", "created_at", "started_at",
                "finished_at", "error"):
        assert key in runs[0]
    assert runs[0]["status"] == "queued" and runs[0]["brand"] == "Acme"
    assert show(run_id)["params"] == {"lines": 4, "pause": 0.0}
    brands = json.loads(invoke("brands", "list", "--json").stdout)
    assert [b["name"] for b in brands] == ["Acme", "NoAccount"] and brands[0]["meta_ad_account_id"] == "1001"
    assert json.loads(invoke("brands", "--json").stdout) == brands
    comps = json.loads(invoke("competitors", "list", "--brand", "Acme", "--json").stdout)
    assert comps[0]["name"] == "Rival"
    assert json.loads(invoke("competitors", "--brand", "Acme", "--json").stdout) == comps


def test_listings_take_csv_too(seeded):
    invoke("queue", "test_echo", "--brand", "Acme")
    lines = invoke("runs", "--csv").stdout.splitlines()
    assert lines[0].startswith("id,job_type,brand,competitor,status,")
    assert lines[1].startswith("1,test_echo,Acme,,queued,")
    assert invoke("brands", "--csv").stdout.splitlines() == [
        "id,name,meta_ad_account_id,ad_library_page_id", "1,Acme,1001,5001", "2,NoAccount,,"]


def test_competitor_queue_fills_params_from_record(seeded):
    result = invoke("queue", "competitor_scrape", "--brand", "Acme", "--competitor", "Rival")
    assert result.returncode == 0, result.stderr
    shown = show(result.stdout.strip())
    assert shown["competitor"] == "Rival"
    assert shown["params"]["ad_library_url"].endswith("view_all_page_id=77")
    assert shown["params"]["max_ads"] == 500


def test_brands_and_competitors_edit(seeded):
    assert invoke("brands", "edit", "Acme", "--name", "Acme Outdoor", "--meta-ad-account", "act_42").returncode == 0
    assert invoke("competitors", "edit", "Rival", "--brand", "Acme Outdoor", "--name", "Rival Co").returncode == 0
    brands = {b["name"]: b for b in json.loads(invoke("brands", "--json").stdout)}
    assert brands["Acme Outdoor"]["meta_ad_account_id"] == "42"
    assert [c["name"] for c in json.loads(invoke("competitors", "--json").stdout)] == ["Rival Co"]


def test_templates_review_verbs(seeded, svc):
    from pipedeck.storage.adlibrary import upsert_templates

    brand_id = svc.brand("Acme")["id"]
    upsert_templates(svc.database, brand_id, [{"ad_archive_id": str(n), "page_name": "Page", "body": f"ad {n}"}
                                              for n in (1, 2, 3)], search_url="https://www.facebook.com/ads/library/")
    listed = json.loads(invoke("templates", "--json").stdout)
    assert [t["status"] for t in listed] == ["pending"] * 3
    ids = [t["id"] for t in listed]
    assert invoke("templates", "approve", str(ids[0]), str(ids[1])).stdout.strip() == "approved 2 template(s)"
    assert invoke("templates", "reject", str(ids[2])).stdout.strip() == "rejected 1 template(s)"
    assert [t["status"] for t in json.loads(invoke("templates", "list", "--status", "all", "--json").stdout)] == [
        "approved", "approved", "rejected"]
    assert "no pending templates" in invoke("templates").stderr


def test_unwritable_data_dir(home, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = one_line_error(invoke("brands", "list", env={"PIPEDECK_HOME": str(blocker / "home")}))
    assert "not writable" in line and str(blocker) in line


@pytest.mark.engines("sqlite")
def test_corrupt_database(home):
    home.mkdir(mode=0o700, parents=True)
    (home / "pipedeck.db").write_bytes(b"garbage" * 500)
    line = one_line_error(invoke("runs"))
    assert "corrupt" in line
    assert (home / "pipedeck.db").read_bytes() == b"garbage" * 500


def test_newer_schema_database(home):
    assert invoke("brands", "list").returncode == 0
    url = os.environ.get("PIPEDECK_DATABASE_URL")
    if url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE pipedeck_schema SET version = 999")
    else:
        conn = sqlite3.connect(home / "pipedeck.db")
        conn.execute("PRAGMA user_version = 999")
        conn.close()
    line = one_line_error(invoke("queue", "test_echo", "--brand", "Acme"))
    assert "newer" in line and "999" in line


def test_locked_database_gives_one_line(seeded):
    url = os.environ.get("PIPEDECK_DATABASE_URL")
    if url:
        conn = psycopg.connect(url)
        conn.execute("LOCK TABLE runs IN EXCLUSIVE MODE")
    else:
        conn = sqlite3.connect(seeded / "pipedeck.db", isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
    try:
        line = one_line_error(invoke("queue", "test_echo", "--brand", "Acme", env={"PIPEDECK_BUSY_TIMEOUT": "0.5"}))
        assert "locked" in line
    finally:
        conn.rollback() if url else conn.execute("ROLLBACK")
        conn.close()
    assert json.loads(invoke("runs", "--json").stdout) == []


def test_queue_direct_runs_in_foreground(seeded):
    result = invoke("queue", "test_flaky", "--brand", "Acme", "--set", "fail_times=1", "--direct")
    assert result.returncode == 0, result.stderr
    shown = show(result.stdout.strip())
    assert shown["status"] == "succeeded" and shown["attempts"] == 2 and shown["direct"] is True
    failing = invoke("queue", "test_flaky", "--brand", "Acme", "--set", "permanent=true", "--direct")
    assert failing.returncode == 1 and "failed: MetaBadParameter" in failing.stderr


def test_retry_and_cancel_verbs(seeded, worker_factory):
    queued = invoke("queue", "test_sleep", "--brand", "Acme", "--set", "seconds=30").stdout.strip()
    result = invoke("runs", "cancel", queued)
    assert result.returncode == 0 and "cancelled" in result.stdout
    one_line_error(invoke("runs", "cancel", queued))
    new = invoke("runs", "retry", queued, "--set", "seconds=0.1")
    assert new.returncode == 0, new.stderr
    worker_factory()
    wait_for(lambda: show(new.stdout.strip())["status"] == "succeeded", 20, interval=0.2)
    old = show(queued)
    assert old["retried_by"] == int(new.stdout) and old["status"] == "cancelled"
    status = json.loads(invoke("status", "--json").stdout)
    assert status["workers"][0]["alive"] is True


def test_runs_show_follow_streams_until_done(seeded, worker_factory):
    worker_factory()
    run_id = invoke("queue", "test_echo", "--brand", "Acme", "--set", "lines=3", "--set", "pause=0.2").stdout.strip()
    result = invoke("runs", "show", run_id, "--follow")
    assert result.returncode == 0, result.stderr
    assert "echo line 3 of 3" in result.stdout and f"run {run_id} succeeded" in result.stdout


def test_dead_worker_is_reported(seeded, worker_factory):
    w = worker_factory()
    status = json.loads(invoke("status", "--json").stdout)
    assert [x["alive"] for x in status["workers"]] == [True]
    w.kill()  # SIGKILL: it never gets to say it stopped
    status = json.loads(invoke("status", "--json").stdout)
    assert [x["alive"] for x in status["workers"]] == [False]
    assert "NOT RESPONDING" in invoke("status").stdout
    result = invoke("queue", "test_echo", "--brand", "Acme")
    assert result.returncode == 0 and result.stdout.strip().isdigit()
    assert "no worker is running" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_status_names_the_database_with_its_password_masked(seeded):
    url = os.environ.get("PIPEDECK_DATABASE_URL")
    status = json.loads(invoke("status", "--json").stdout)
    text = invoke("status").stdout
    if url:
        password = urlsplit(url).password
        assert status["database"] == url.replace(f":{password}@", ":***@")
        assert password not in text and password not in json.dumps(status)
    else:
        assert status["database"] == f"sqlite:///{str(seeded / 'pipedeck.db').lstrip('/')}"
    assert f"database: {status['database']}" in text.splitlines()


def test_schedules_and_freshness_policy_verbs(seeded):
    added = invoke("schedules", "add", "test_echo", "--brand", "Acme", "--cron", "0 7 * * 1-5", "--tz", "Europe/Berlin")
    assert added.returncode == 0, added.stderr
    schedule_id = added.stdout.strip()
    assert "At 07:00 on Monday through Friday" in added.stderr
    assert invoke("schedules", "pause", schedule_id).stdout.strip() == f"schedule {schedule_id} paused"
    assert "resumed; next" in invoke("schedules", "resume", schedule_id).stdout
    edited = invoke("schedules", "edit", schedule_id, "--cron", "30 6 * * *", "--set", "lines=2")
    assert edited.returncode == 0 and "At 06:30" in edited.stdout
    listed = json.loads(invoke("schedules", "list", "--json").stdout)
    assert listed[0]["cron"] == "30 6 * * *" and listed[0]["params"] == {"lines": 2}
    assert "no history yet" in invoke("schedules", "history", schedule_id).stderr
    assert invoke("schedules", "remove", schedule_id).returncode == 0
    assert json.loads(invoke("schedules", "--json").stdout) == []

    assert invoke("freshness", "policy", "set", "test_data", "--warn", "2h", "--stale", "3h").returncode == 0
    policies = json.loads(invoke("freshness", "policy", "--json").stdout)
    assert {"brand": None, "dataset": "test_data", "warn_after": 7200.0, "stale_after": 10800.0,
            "source": "default policy"} in policies
    assert invoke("freshness", "policy", "clear", "test_data").returncode == 0
    states = {(r["brand"], r["dataset"]): r["state"] for r in json.loads(invoke("freshness", "--json").stdout)}
    assert states[("Acme", "test_data")] == "never"


def test_token_set_stores_it_owner_only_and_status_says_where_from(home):
    assert "not set" in invoke("token").stdout
    result = invoke("token", "set", input="tok_abc123\n")
    assert result.returncode == 0, result.stderr
    path = home / "credentials.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {"meta_access_token": "tok_abc123"}
    assert invoke("token", "status").stdout.strip() == "token: set (credentials file)"
    assert invoke("token", env={"META_ACCESS_TOKEN": "tok_env"}).stdout.strip() == "token: set (META_ACCESS_TOKEN)"
    assert "tok_abc123" not in invoke("token").stdout


def test_db_status_shows_engine_schema_where_and_table_sizes(seeded):
    info = json.loads(invoke("db", "status", "--json").stdout)
    url = os.environ.get("PIPEDECK_DATABASE_URL")
    if url:
        password = urlsplit(url).password
        assert info["engine"] == "postgresql" and info["path"] is None
        assert info["url"] == url.replace(f":{password}@", ":***@")
        assert info["tables"]["runs"]["bytes"] > 0
    else:
        assert info["engine"] == "sqlite" and info["path"] == str(seeded / "pipedeck.db")
        assert info["url"] == f"sqlite:///{str(seeded / 'pipedeck.db').lstrip('/')}"
    assert info["schema_version"] == info["latest_schema_version"] >= 8
    rows = {name: t["rows"] for name, t in info["tables"].items()}
    assert rows["brands"] == 2 and rows["competitors"] == 1 and rows["runs"] == 0
    text = invoke("db").stdout
    assert f"database: {info['url']}" in text and "schema version: " in text
    assert any(line.split()[:2] == ["brands", "2"] for line in text.splitlines())
    if url:
        assert password not in text and password not in json.dumps(info)


def test_job_types_lists_the_registry(home):
    listed = {t["key"]: t for t in json.loads(invoke("job-types", "--json").stdout)}
    assert listed["asset_download"]["defaults"] == {"max_videos": 20, "max_images": 40, "ad_ids": None, "product": None,
                                                   "include_archived": False}
    assert "properties" in listed["meta_sync"]["params_schema"]
    assert "test_echo" in invoke("job-types").stdout  # the plugin of PIPEDECK_PLUGINS


def test_bare_pipedeck_opens_the_app_and_help_lists_the_verbs(home, monkeypatch):
    opened = []
    monkeypatch.setattr("pipedeck.tui.app.run_tui", lambda settings: opened.append(settings.home) or 0)
    assert invoke().returncode == 0 and opened == [home]
    text = invoke("--help").stdout
    for verb in ("brands", "competitors", "queue", "runs", "schedules", "freshness", "templates", "job-types",
                 "status", "worker", "demo", "sandbox", "token", "db", "tui"):
        assert f" {verb} " in text, verb
    runs_help = invoke("runs", "--help", env={"COLUMNS": "120"}).stdout
    for action in ("show", "retry", "cancel"):
        assert f"│ {action} " in runs_help, action


def test_status_shows_each_workers_host_pid_uptime_runs_done_current_run_last_error_and_alert_delivery(
        seeded, worker_factory):
    import socket

    with socket.socket() as s:  # a port nothing listens on: alert delivery fails
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    w = worker_factory(extra_env={"PIPEDECK_ALERT_URLS": f"json://127.0.0.1:{dead_port}/hook",
                                  "PIPEDECK_ALERT_INTERVAL": "0.5"})
    failed = invoke("queue", "test_flaky", "--brand", "Acme", "--set", "fail_times=5", "--set",
                    "permanent=true").stdout.strip()
    done = invoke("queue", "test_echo", "--brand", "Acme", "--set", "lines=1").stdout.strip()
    wait_for(lambda: show(failed)["status"] == "failed" and show(done)["status"] == "succeeded", 20, interval=0.1)
    sleeping = invoke("queue", "test_sleep", "--brand", "Acme", "--set", "seconds=60").stdout.strip()
    wait_for(lambda: show(sleeping)["status"] == "running", 20, interval=0.1)

    def status():
        return json.loads(invoke("status", "--json").stdout)

    wait_for(lambda: status()["alert_delivery_error"] is not None, 30, interval=0.2, message="delivery error")
    (worker,) = status()["workers"]
    assert worker["pid"] == w.pid and worker["host"] == socket.gethostname()
    assert worker["runs_done"] == 2 and worker["uptime"] > 0
    assert [r["id"] for r in worker["current_runs"]] == [int(sleeping)]
    assert worker["current_runs"][0]["job_type"] == "test_sleep"
    assert worker["last_error_run"] == int(failed) and "MetaBadParameter" in worker["last_error"]
    assert str(dead_port) not in status()["alert_delivery_error"]["error"]  # no target URL in it
    text = invoke("status").stdout
    assert f"pid {w.pid}" in text and "2 run(s) done" in text and f"now: run {sleeping} (test_sleep, Acme)" in text
    assert f"last error (run {failed}): MetaBadParameter" in text
    assert "alerts: NOT DELIVERED" in text
    invoke("runs", "cancel", sleeping)
