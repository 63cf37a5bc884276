"""meta_sync against the sandbox on 127.0.0.1, run by a real `pipedeck worker` subprocess.

Also: token handling (env var, owner-only credentials file, never leaked) and
the queue-time check for a brand without a Meta ad account.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import stat
import time

import pytest

from pipedeck.errors import InvalidParams, UserError
from pipedeck.sandbox import graph_data
from tests.helpers import run_cli
from tests.meta_support import all_insight_rows, log_text, wait_run



def insight_rows(svc, brand_id):
    return {(r["ad_id"], r["date"]): r for r in svc.database.query(
        "SELECT * FROM meta_insights WHERE brand_id = ?", (brand_id,))}


# -- acceptance: every ad-day row, and a re-run duplicates nothing -------------------------
def test_meta_sync_30_days_of_200_ads_stores_every_ad_day_row_and_rerun_updates_changed(
        svc, brand, sandbox, worker_factory):
    worker_factory(extra_env=sandbox.env())
    run_id = svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 30})
    run = wait_run(svc, run_id)
    assert run["status"] == "succeeded", run["error_message"]
    until = graph_data.today()
    since = until - dt.timedelta(days=29)
    served = all_insight_rows(sandbox, "1001", since.isoformat(), until.isoformat())
    assert len(served) == 200 * 30
    stored = insight_rows(svc, brand["id"])
    assert set(stored) == {(r["ad_id"], r["date_start"]) for r in served}
    sample = next(r for r in served[1000:] if r.get("purchase_roas"))
    row = stored[(sample["ad_id"], sample["date_start"])]
    assert row["spend"] == float(sample["spend"]) and row["impressions"] == int(sample["impressions"])
    assert json.loads(row["actions"]) == sample["actions"]
    assert json.loads(row["purchase_roas"]) == sample["purchase_roas"] and row["ctr"] == float(sample["ctr"])
    assert run["result"]["inserted"] == 6000 and run["result"]["mode"] == "sync"
    assert svc.database.scalar("SELECT count(*) FROM meta_ads WHERE brand_id = ?", (brand["id"],)) == 200
    assert run["progress_current"] == 6000
    fresh = {f["dataset"]: f for f in svc.freshness("Acme")}
    assert fresh["meta_performance"]["state"] == "fresh"
    assert fresh["meta_performance"]["last_success_run_id"] == run_id

    # Meta revises the last days' numbers; a second sync updates them and adds nothing.
    sandbox.set_faults(insights_revision=1)
    before = {k: (v["spend"], v["updated_at"]) for k, v in stored.items()}
    second = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 30}))
    assert second["status"] == "succeeded", second["error_message"]
    assert second["result"]["inserted"] == 0
    after = insight_rows(svc, brand["id"])
    assert len(after) == 6000
    revised = {(r["ad_id"], r["date_start"]): r for r in all_insight_rows(
        sandbox, "1001", since.isoformat(), until.isoformat())}
    changed = {k for k in after if after[k]["spend"] != before[k][0]}
    recent = {k for k in after if (until - dt.date.fromisoformat(k[1])).days < 3}
    assert changed and changed <= recent
    assert all(after[k]["spend"] == float(revised[k]["spend"]) for k in recent)
    assert second["result"]["updated"] == len({k for k in recent if after[k]["updated_at"] != before[k][1]})
    assert all(after[k]["updated_at"] == before[k][1] for k in set(after) - recent)  # untouched rows stay as they were


# -- acceptance: rate limits, expired token, 5xx ----------------------------------------
def test_rate_limits_are_waited_out_and_logged_with_how_long_and_why(svc, brand, sandbox, worker_factory):
    worker_factory(extra_env=sandbox.env())
    sandbox.set_faults(rate_limit=2, insights_rate_limit=1)
    run = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 3}))
    assert run["status"] == "succeeded", run["error_message"]
    assert run["attempts"] == 1
    logs = log_text(svc, run["id"])
    assert "rate limited by Meta" in logs
    assert "code 17" in logs and "code 80000" in logs
    assert "waiting 1.0s before retrying" in logs and "waiting 2.0s before retrying" in logs
    assert sandbox.stats()["graph:rate_limited"] == 3
    assert len(insight_rows(svc, brand["id"])) == 200 * 3


def test_climbing_usage_slows_the_sync_down_before_meta_blocks_it(svc, brand, sandbox, worker_factory):
    worker_factory(extra_env=sandbox.env())
    # +15 points a call, -25 points a second: a client that does not slow down hits 100 % in ~7 calls.
    sandbox.set_faults(usage_climb=15, usage_decay=25)
    run = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 30}))
    assert run["status"] == "succeeded", run["error_message"]
    assert "slowing down: Meta usage at" in log_text(svc, run["id"])
    assert run["result"]["throttle_wait_s"] > 0
    assert sandbox.stats().get("graph:blocked", 0) == 0
    assert run["result"]["api_calls"] >= 14


def test_a_long_block_hands_the_run_back_to_the_queue(svc, brand, sandbox, worker_factory):
    worker_factory(extra_env=sandbox.env())
    sandbox.set_faults(rate_limit=1, regain_minutes=5)
    run_id = svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 1})
    run = wait_run(svc, run_id, ("retrying", "failed", "succeeded"))
    assert run["status"] == "retrying"
    assert run["next_attempt_at"] - time.time() > 250  # Meta's 5 minutes, not the default backoff
    assert run["error_type"] == "MetaRateLimited"
    assert "Meta says access returns in 5 min" in run["error_message"]
    svc.cancel(run_id)


def test_expired_token_fails_after_one_attempt_naming_the_token(svc, brand, sandbox, worker_factory):
    worker_factory(extra_env=sandbox.env())
    sandbox.set_faults(expired_token=True)
    run = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 7}))
    assert run["status"] == "failed"
    assert run["attempts"] == 1 and run["max_attempts"] > 1
    assert run["error_type"] == "MetaTokenRejected"
    assert "access token" in run["error_message"] and "expired" in run["error_message"]
    assert "META_ACCESS_TOKEN" in run["error_message"] and "pipedeck token set" in run["error_message"]
    assert "\n" not in run["error_message"]


def test_a_wrong_token_is_permanent_and_a_missing_one_says_what_to_do(svc, brand, sandbox, worker_factory):
    worker_factory(extra_env={**sandbox.env(), "META_ACCESS_TOKEN": "EAAB-wrong-token"})
    run = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 1}))
    assert (run["status"], run["attempts"], run["error_type"]) == ("failed", 1, "MetaTokenRejected")
    assert "EAAB-wrong-token" not in run["error_message"]

    # No token at all, run directly (same lifecycle, this process).
    rid = svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 1}, direct=True)
    assert svc.execute_direct(rid) == "failed"
    run = svc.runs.get(rid)
    assert run["attempts"] == 1
    assert run["error_message"].startswith("no Meta access token: set META_ACCESS_TOKEN or run `pipedeck token set`")


def test_5xx_burst_is_retried_and_the_run_succeeds(svc, brand, sandbox, worker_factory):
    worker_factory(extra_env=sandbox.env())
    # 6 errors: the client's own 3 retries use 4, the run's second attempt meets the last 2.
    sandbox.set_faults(server_error=6)
    run = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 2}))
    assert run["status"] == "succeeded", run["error_message"]
    assert run["attempts"] == 2
    attempts = svc.runs.attempts(run["id"])
    assert attempts[0]["status"] != "succeeded" and attempts[0]["error_type"] == "MetaServerError"
    logs = log_text(svc, run["id"])
    assert "Meta server error (HTTP 500" in logs and "retrying in 0.5s" in logs
    assert sandbox.stats()["graph:server_error"] == 6
    assert len(insight_rows(svc, brand["id"])) == 200 * 2


# -- long ranges: asynchronous reports -------------------------------------------------
def test_long_range_uses_an_async_report(svc, sandbox, monkeypatch):
    for k, v in sandbox.env().items():
        monkeypatch.setenv(k, v)
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    direct = Service(load_settings(), database=svc.database)
    b = direct.catalog.add_brand("Cedar", meta_ad_account_id="act_1003")
    sandbox.set_faults(report_seconds=0.5)
    rid = direct.queue_one_time_job("Cedar", "meta_sync", {"days_back": 400}, direct=True)
    assert direct.execute_direct(rid) == "succeeded"
    run = direct.runs.get(rid)
    assert run["result"]["mode"] == "async"
    until = graph_data.today()
    served = all_insight_rows(sandbox, "1003", (until - dt.timedelta(days=399)).isoformat(), until.isoformat())
    assert run["result"]["rows"] == len(served) == len(insight_rows(direct, b["id"]))
    stats = sandbox.stats()
    assert stats["graph POST /act_{id}/insights"] == 1 and stats["graph GET /{id}/insights"] >= 1
    assert "report" in log_text(direct, rid) and "ready" in log_text(direct, rid)

    # When Meta says "reduce the amount of data" for a short range, the sync switches to a report too.
    sandbox.set_faults(sync_row_limit=100)
    rid = direct.queue_one_time_job("Cedar", "meta_sync", {"days_back": 10}, direct=True)
    assert direct.execute_direct(rid) == "succeeded"
    assert direct.runs.get(rid)["result"]["mode"] == "async"
    assert "switching to an asynchronous report" in log_text(direct, rid)


def _direct_service(sandbox, svc, monkeypatch):
    for k, v in sandbox.env().items():
        monkeypatch.setenv(k, v)
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    return Service(load_settings(), database=svc.database)


@pytest.mark.parametrize("report_fails", [False, True], ids=["async-report", "split-range"])
def test_reduce_the_amount_of_data_as_code_100_subcode_1487534_still_ends_with_every_row(
        svc, sandbox, monkeypatch, report_fails):
    """Meta's usual answer to a too-big synchronous request is HTTP 400, code 100/1487534 (not code 1).
    The sync asks with an async report instead; when the report fails too, it splits the range."""
    direct = _direct_service(sandbox, svc, monkeypatch)
    b = direct.catalog.add_brand("Cedar", meta_ad_account_id="1003")
    sandbox.set_faults(sync_days_limit=10, report_seconds=0.2, report_fail=report_fails)
    rid = direct.queue_one_time_job("Cedar", "meta_sync", {"days_back": 20}, direct=True)
    assert direct.execute_direct(rid) == "succeeded", direct.runs.get(rid)["error_message"]
    run = direct.runs.get(rid)
    assert run["attempts"] == 1
    stats = sandbox.stats()
    sandbox.set_faults(sync_days_limit=None)  # so the truth below can be read in one synchronous range
    until = graph_data.today()
    served = all_insight_rows(sandbox, "1003", (until - dt.timedelta(days=19)).isoformat(), until.isoformat())
    stored = insight_rows(direct, b["id"])
    assert len(served) == 25 * 20
    assert set(stored) == {(r["ad_id"], r["date_start"]) for r in served}
    assert run["result"]["rows"] == 500 and run["result"]["inserted"] == 500
    logs = log_text(direct, rid)
    assert "switching to an asynchronous report" in logs
    if report_fails:
        assert run["result"]["mode"] == "split"
        assert "splitting" in logs
    else:
        assert run["result"]["mode"] == "async"
        assert stats["graph POST /act_{id}/insights"] == 1


# -- bad input, queue-time checks -------------------------------------------------------
def test_brand_without_ad_account_is_refused_at_queue_time(svc):
    svc.catalog.add_brand("NoAccount")
    before = svc.runs.counts()
    for job in ("meta_sync", "asset_download"):
        with pytest.raises(UserError) as err:
            svc.queue_one_time_job("NoAccount", job, {})
        assert "no Meta ad account id" in str(err.value) and job in str(err.value)
    assert svc.runs.counts() == before
    assert svc.database.scalar("SELECT count(*) FROM runs") == 0


def test_brand_without_ad_account_cli_one_line_error(env, svc):
    svc.catalog.add_brand("NoAccount")
    out = run_cli(env, "queue", "meta_sync", "--brand", "NoAccount")
    assert out.returncode != 0
    assert "no Meta ad account id" in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["0", "1126", "abc"])
def test_days_back_out_of_bounds_is_refused(svc, brand, value):
    with pytest.raises(InvalidParams) as err:
        svc.queue_one_time_job("Acme", "meta_sync", {"days_back": value})
    assert str(err.value).startswith("invalid params for meta_sync: days_back")
    assert svc.database.scalar("SELECT count(*) FROM runs") == 0


# -- token from the owner-only credentials file -------------------------------------------
def test_token_set_writes_owner_only_file_and_the_worker_uses_it(svc, brand, home, env, sandbox, worker_factory):
    out = run_cli(env, "token", "set", input=sandbox.token + "\n")
    assert out.returncode == 0, out.stderr
    assert sandbox.token not in out.stdout + out.stderr
    path = home / "credentials.json"
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, oct(mode)
    assert json.loads(path.read_text())["meta_access_token"] == sandbox.token
    status = run_cli(env, "token")
    assert "credentials file" in status.stdout and sandbox.token not in status.stdout
    graph_env = {k: v for k, v in sandbox.env().items() if k != "META_ACCESS_TOKEN"}
    worker_factory(extra_env=graph_env)  # no META_ACCESS_TOKEN in its environment
    run = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 1}))
    assert run["status"] == "succeeded", run["error_message"]
    assert len(insight_rows(svc, brand["id"])) == 200


# -- acceptance: the token appears nowhere ----------------------------------------------
def test_token_never_reaches_database_logs_or_run_records(svc, brand, home, env, worker_factory, engine):
    from pipedeck.sandbox.server import SandboxServer

    token = "EAAG" + secrets.token_urlsafe(48)
    server = SandboxServer(port=0, token=token).start()
    try:
        # Meta-style next links carrying the token, and failures whose messages get stored.
        server.state.set_faults({"next_with_token": True})
        graph_env = {"PIPEDECK_GRAPH_URL": server.graph_url, "META_ACCESS_TOKEN": token}
        worker = worker_factory("--verbose", extra_env=graph_env)
        ok = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 3}))
        assert ok["status"] == "succeeded", ok["error_message"]
        assets = wait_run(svc, svc.queue_one_time_job("Acme", "asset_download", {"max_images": 3, "max_videos": 1}))
        assert assets["status"] == "succeeded", assets["error_message"]
        server.state.set_faults({"rate_limit": 1, "server_error": 1})
        assert wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 1}))["status"] == "succeeded"
        server.state.set_faults({"expired_token": True})
        failed = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 1}))
        assert failed["status"] == "failed"
        assert server.state.stats["graph GET /act_{id}/insights"] >= 3  # the token was really used
        outputs = [run_cli(env, "runs", "--json").stdout]
        for r in svc.runs.list(limit=None):
            outputs.append(run_cli(env, "runs", "show", str(r["id"]), "--json").stdout)
        worker.stop()
        haystacks = {"cli output": "\n".join(outputs).encode(), "worker stdout": worker.log_path.read_bytes()}
        for path in home.rglob("*"):
            if path.is_file() and "media" not in path.parts:
                haystacks[str(path.relative_to(home))] = path.read_bytes()
        if engine == "sqlite":
            # the database, its WAL (kept while our connection is open), the queue, the logs dir
            assert {"pipedeck.db", "pipedeck.db-wal", "logs/worker.log"} <= set(haystacks), sorted(haystacks)
        else:
            # every table of the server's database, huey's queue included, and the logs dir
            assert "logs/worker.log" in haystacks, sorted(haystacks)
            tables = svc.database.dialect.tables(svc.database.conn)
            assert {"runs", "run_logs", "meta_insights", "huey_task", "huey_kv"} <= set(tables), tables
            for table in tables:
                rows = svc.database.query(f'SELECT * FROM "{table}"')
                haystacks[f"table {table}"] = b"\n".join(
                    bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                    for row in rows for v in row.values())
        needle = token.encode()
        leaks = [name for name, data in haystacks.items() if needle in data or needle.hex().encode() in data]
        assert not leaks, f"token found in {leaks}"
    finally:
        server.stop()
