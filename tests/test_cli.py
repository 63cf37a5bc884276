"""The CLI contract: verbs, --json, and one-line errors that write nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from tests.helpers import run_cli, wait_for


def one_line_error(proc):
    assert proc.returncode != 0, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pipedeck: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def seeded(env):
    assert run_cli(env, "brands", "add", "Acme", "--meta-ad-account", "act_1001",
                   "--ad-library-page-id", "5001").returncode == 0
    assert run_cli(env, "brands", "add", "NoAccount").returncode == 0
    assert run_cli(env, "competitors", "add", "Rival", "--brand", "Acme", "--ad-library-url",
                   "https://www.facebook.com/ads/library/?view_all_page_id=77").returncode == 0
    return env


def db_digest(home):
    """Content of every user table (the file itself may be checkpointed)."""
    conn = sqlite3.connect(home / "pipedeck.db")
    h = hashlib.sha256()
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
        for row in conn.execute(f"SELECT * FROM {name} ORDER BY 1"):
            h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()


def test_queue_prints_run_id_and_listings_take_json(seeded, home):
    proc = run_cli(seeded, "queue", "test_echo", "--brand", "acme", "--set", "lines=4")
    assert proc.returncode == 0, proc.stderr
    run_id = int(proc.stdout.strip())
    assert "no worker is running" in proc.stderr  # says so, still queued
    runs = json.loads(run_cli(seeded, "runs", "--json").stdout)
    assert runs[0]["id"] == run_id
    for key in ("id", "job_type", "brand", "competitor", "status", "attempts", "created_at", "started_at",
                "finished_at", "error"):
        assert key in runs[0]
    assert runs[0]["status"] == "queued" and runs[0]["brand"] == "Acme"
    assert json.loads(run_cli(seeded, "runs", "show", str(run_id), "--json").stdout)["params"] == {"lines": 4, "pause": 0.0}
    brands = json.loads(run_cli(seeded, "brands", "list", "--json").stdout)
    assert [b["name"] for b in brands] == ["Acme", "NoAccount"] and brands[0]["meta_ad_account_id"] == "1001"
    comps = json.loads(run_cli(seeded, "competitors", "list", "--brand", "Acme", "--json").stdout)
    assert comps[0]["name"] == "Rival"


def test_competitor_queue_fills_params_from_record(seeded):
    proc = run_cli(seeded, "queue", "competitor_scrape", "--brand", "Acme", "--competitor", "Rival")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(run_cli(seeded, "runs", "show", proc.stdout.strip(), "--json").stdout)
    assert shown["competitor"] == "Rival"
    assert shown["params"]["ad_library_url"].endswith("view_all_page_id=77")
    assert shown["params"]["max_ads"] == 500


BAD_INPUT = [
    (["queue", "nope", "--brand", "Acme"], "unknown job type 'nope'"),
    (["queue", "test_echo", "--brand", "Ghost"], "unknown brand 'Ghost'"),
    (["queue", "competitor_scrape", "--brand", "Acme", "--competitor", "Ghost"], "unknown competitor 'Ghost'"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "max_images=100000"], "max_images"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "max_videos=many"], "max_videos"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "colour=red"], "colour: unknown parameter"),
    (["queue", "template_scrape", "--brand", "NoAccount"], "search_url: required"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "max_images"], "malformed --set"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "=3"], "malformed --set"),
    (["queue", "competitor_scrape", "--brand", "Acme"], "competitor job"),
    (["queue", "meta_sync", "--brand", "NoAccount"], "Meta ad account id"),
    (["queue", "test_echo", "--brand", "Acme", "--competitor", "Rival"], "takes no competitor"),
    (["runs", "show", "999"], "unknown run 999"),
    (["runs", "--status", "weird"], "unknown status"),
    (["brands", "add", "Acme"], "already exists"),
    (["brands", "add", "X", "--meta-ad-account", "abc"], "must be digits"),
    (["competitors", "add", "Y", "--brand", "Acme", "--ad-library-url", "https://evil.example/ads/library/?q=x"],
     "not on the Ad Library origin"),
    (["queue"], "required"),
]


@pytest.mark.parametrize("args,expected", BAD_INPUT, ids=[" ".join(a[:3]) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_writes_nothing(seeded, home, args, expected):
    before = db_digest(home)
    line = one_line_error(run_cli(seeded, *args))
    assert expected in line
    assert db_digest(home) == before


def test_unwritable_data_dir(env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = one_line_error(run_cli({**env, "PIPEDECK_HOME": str(blocker / "home")}, "brands", "list"))
    assert "not writable" in line and str(blocker) in line


def test_corrupt_database(env, home):
    home.mkdir(parents=True)
    (home / "pipedeck.db").write_bytes(b"garbage" * 500)
    line = one_line_error(run_cli(env, "runs"))
    assert "corrupt" in line
    assert (home / "pipedeck.db").read_bytes() == b"garbage" * 500


def test_newer_schema_database(env, home):
    assert run_cli(env, "brands", "list").returncode == 0
    conn = sqlite3.connect(home / "pipedeck.db")
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    line = one_line_error(run_cli(env, "queue", "test_echo", "--brand", "Acme"))
    assert "newer" in line and "999" in line


def test_locked_database_gives_one_line(seeded, home):
    conn = sqlite3.connect(home / "pipedeck.db", isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        proc = run_cli({**seeded, "PIPEDECK_BUSY_TIMEOUT": "0.5"}, "queue", "test_echo", "--brand", "Acme")
        line = one_line_error(proc)
        assert "locked" in line
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    runs = json.loads(run_cli(seeded, "runs", "--json").stdout)
    assert runs == []


def test_queue_direct_runs_in_foreground(seeded, home):
    proc = run_cli(seeded, "queue", "test_flaky", "--brand", "Acme", "--set", "fail_times=1", "--direct")
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    shown = json.loads(run_cli(seeded, "runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "succeeded" and shown["attempts"] == 2 and shown["direct"] is True
    failing = run_cli(seeded, "queue", "test_flaky", "--brand", "Acme", "--set", "permanent=true", "--direct")
    assert failing.returncode == 1 and "failed: MetaBadParameter" in failing.stderr


def test_retry_and_cancel_verbs(seeded, worker_factory):
    queued = run_cli(seeded, "queue", "test_sleep", "--brand", "Acme", "--set", "seconds=30").stdout.strip()
    proc = run_cli(seeded, "runs", "cancel", queued)
    assert proc.returncode == 0 and "cancelled" in proc.stdout
    one_line_error(run_cli(seeded, "runs", "cancel", queued))
    new = run_cli(seeded, "runs", "retry", queued, "--set", "seconds=0.1")
    assert new.returncode == 0, new.stderr
    worker_factory()
    wait_for(lambda: json.loads(run_cli(seeded, "runs", "show", new.stdout.strip(), "--json").stdout)["status"]
             == "succeeded", 20, interval=0.2)
    old = json.loads(run_cli(seeded, "runs", "show", queued, "--json").stdout)
    assert old["retried_by"] == int(new.stdout) and old["status"] == "cancelled"
    status = json.loads(run_cli(seeded, "status", "--json").stdout)
    assert status["workers"][0]["alive"] is True


def test_runs_show_follow_streams_until_done(seeded, worker_factory):
    worker_factory()
    run_id = run_cli(seeded, "queue", "test_echo", "--brand", "Acme", "--set", "lines=3",
                     "--set", "pause=0.2").stdout.strip()
    proc = run_cli(seeded, "runs", "show", run_id, "--follow", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "echo line 3 of 3" in proc.stdout and f"run {run_id} succeeded" in proc.stdout


def test_dead_worker_is_reported(seeded, worker_factory):
    w = worker_factory()
    status = json.loads(run_cli(seeded, "status", "--json").stdout)
    assert [x["alive"] for x in status["workers"]] == [True]
    w.kill()  # SIGKILL: it never gets to say it stopped
    status = json.loads(run_cli(seeded, "status", "--json").stdout)
    assert [x["alive"] for x in status["workers"]] == [False]
    text = run_cli(seeded, "status").stdout
    assert "NOT RESPONDING" in text
    proc = run_cli(seeded, "queue", "test_echo", "--brand", "Acme")
    assert proc.returncode == 0 and proc.stdout.strip().isdigit()
    assert "no worker is running" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
