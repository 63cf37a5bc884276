"""Recurring schedules: the database-driven tick with an injected clock."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from pipedeck.queue.service import Service
from tests.helpers import Clock, run_cli, wait_for

# A simulated day well after the real clock, so the real worker's own tick never sees these due.
T0 = datetime(2036, 3, 2, 0, 0, tzinfo=timezone.utc).timestamp()
MIN = 60.0


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def sim(settings, clock, brand):
    service = Service(settings, clock=clock)
    yield service
    service.close()


def scheduled_runs(svc, schedule_id):
    return svc.database.query("SELECT id, status, created_at FROM runs WHERE schedule_id = ? ORDER BY id",
                              (schedule_id,))


def run_clock(svc, clock, start, end, step=30.0, after_tick=None):
    t = start
    while t <= end + 1e-6:
        clock.t = t
        result = svc.tick(now=t)
        if after_tick:
            after_tick(result)
        t += step


def wait_done(svc):
    def done(result):
        for run_id in result.queued:
            wait_for(lambda: svc.runs.get(run_id)["status"] in ("succeeded", "failed"), 15, message="scheduled run")
    return done


def test_every_5_minutes_for_an_hour_is_12_runs(sim, clock, worker):
    sched = sim.add_schedule("test_echo", "Acme", cron="*/5 * * * *", params={"lines": 1})
    assert sched["next_run_at"] == T0 + 5 * MIN
    run_clock(sim, clock, T0, T0 + 60 * MIN, after_tick=wait_done(sim))
    runs = scheduled_runs(sim, sched["id"])
    assert len(runs) == 12
    assert {r["status"] for r in runs} == {"succeeded"}
    assert [r["created_at"] for r in runs] == [T0 + k * 5 * MIN for k in range(1, 13)]
    events = sim.schedule_history(sched["id"], limit=100)
    assert sorted(e["action"] for e in events) == ["queued"] * 12


def test_two_workers_ticking_at_once_still_12(settings, clock, sim, worker):
    sched = sim.add_schedule("test_echo", "Acme", cron="*/5 * * * *", params={"lines": 1})
    other = Service(settings, clock=clock)  # its own connections, like a second worker process
    barrier = threading.Barrier(2)
    errors = []

    def ticker(svc, t):
        try:
            barrier.wait()
            svc.tick(now=t)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    try:
        t = T0
        while t <= T0 + 60 * MIN:
            clock.t = t
            threads = [threading.Thread(target=ticker, args=(s, t)) for s in (sim, other)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            for r in scheduled_runs(sim, sched["id"]):
                wait_for(lambda: sim.runs.get(r["id"])["status"] == "succeeded", 15)
            t += 30.0
    finally:
        other.close()
    assert not errors
    assert len(scheduled_runs(sim, sched["id"])) == 12


def test_paused_queues_nothing_and_resume_picks_up_at_next_occurrence(sim, clock):
    sched = sim.add_schedule("test_echo", "Acme", cron="*/5 * * * *")
    finish_all = lambda result: [sim.runs.finish(r, 1, "w", "succeeded")  # noqa: E731
                                 for r in result.queued if sim.runs.claim(r, "w")]
    run_clock(sim, clock, T0, T0 + 12 * MIN, after_tick=finish_all)
    assert len(scheduled_runs(sim, sched["id"])) == 2
    clock.t = T0 + 12 * MIN
    paused = sim.pause_schedule(sched["id"])
    assert paused["active"] == 0 and paused["next_run_at"] is None
    run_clock(sim, clock, T0 + 12.5 * MIN, T0 + 40 * MIN, after_tick=finish_all)
    assert len(scheduled_runs(sim, sched["id"])) == 2
    clock.t = T0 + 40.5 * MIN
    resumed = sim.resume_schedule(sched["id"])
    assert resumed["next_run_at"] == T0 + 45 * MIN
    run_clock(sim, clock, T0 + 41 * MIN, T0 + 60 * MIN, after_tick=finish_all)
    runs = scheduled_runs(sim, sched["id"])
    assert [r["created_at"] - T0 for r in runs] == [5 * MIN, 10 * MIN, 45 * MIN, 50 * MIN, 55 * MIN, 60 * MIN]
    assert not [e for e in sim.schedule_history(sched["id"]) if e["action"] == "missed"]


@pytest.mark.parametrize("policy,expected_runs_at_recovery", [("skip", 0), ("run_once", 1)])
def test_missed_run_policy_after_outage_of_three_occurrences(sim, clock, policy, expected_runs_at_recovery):
    sched = sim.add_schedule("test_echo", "Acme", cron="*/5 * * * *", missed_policy=policy)
    finish_all = lambda result: [sim.runs.finish(r, 1, "w", "succeeded")  # noqa: E731
                                 for r in result.queued if sim.runs.claim(r, "w")]
    run_clock(sim, clock, T0, T0 + 10 * MIN, after_tick=finish_all)
    assert len(scheduled_runs(sim, sched["id"])) == 2
    # Outage: nobody ticks through :15, :20 and :25; ticking resumes at :28.
    clock.t = T0 + 28 * MIN
    result = sim.tick(now=clock.t)
    finish_all(result)
    assert len(result.queued) == expected_runs_at_recovery
    events = {e["occurrence_at"] - T0: e for e in sim.schedule_history(sched["id"], limit=100)}
    missed = sorted(k for k, e in events.items() if e["action"] == "missed")
    if policy == "skip":
        assert missed == [15 * MIN, 20 * MIN, 25 * MIN]
        assert "policy: skipped" in events[15 * MIN]["reason"]
    else:
        assert missed == [15 * MIN, 20 * MIN]
        assert events[25 * MIN]["action"] == "queued" and events[25 * MIN]["run_id"] == result.queued[0]
    # Back to normal at the next occurrence.
    run_clock(sim, clock, T0 + 28.5 * MIN, T0 + 30 * MIN, after_tick=finish_all)
    assert len(scheduled_runs(sim, sched["id"])) == 3 + expected_runs_at_recovery


def test_previous_run_still_going_skips_and_says_so(sim, clock):
    sched = sim.add_schedule("test_echo", "Acme", cron="*/5 * * * *")
    run_clock(sim, clock, T0, T0 + 10 * MIN)  # no worker: the first run stays queued
    runs = scheduled_runs(sim, sched["id"])
    assert len(runs) == 1
    skipped = [e for e in sim.schedule_history(sched["id"]) if e["action"] == "skipped"]
    assert len(skipped) == 1 and f"previous run {runs[0]['id']} is still queued" in skipped[0]["reason"]


def test_competitor_schedule_uses_the_competitors_current_url(sim, clock, settings):
    comp = sim.catalog.add_competitor(1, "Rival", "https://www.facebook.com/ads/library/?view_all_page_id=1",
                                      settings.ad_library_url)
    sched = sim.add_schedule("competitor_scrape", "Acme", competitor="Rival", cron="0 * * * *",
                             params={"max_ads": 50})
    assert sched["params"] == {"max_ads": 50}
    sim.catalog.update_competitor(comp["id"], settings.ad_library_url,
                                  ad_library_url="https://www.facebook.com/ads/library/?view_all_page_id=2")
    clock.t = T0 + 60 * MIN
    [run_id] = sim.tick(now=clock.t).queued
    params = sim.runs.get(run_id)["params"]
    assert params["ad_library_url"].endswith("view_all_page_id=2") and params["max_ads"] == 50


def test_worker_restart_loses_nothing(svc, brand, worker_factory):
    """A schedule that came due while no worker ran is queued by the next worker to start."""
    first = worker_factory()
    sched = svc.add_schedule("test_echo", "Acme", cron="0 0 1 1 *")  # far away
    first.stop()
    with svc.database.write() as db:  # it came due while the worker was down
        db.conn.execute("UPDATE schedules SET next_run_at = ? WHERE id = ?", (time.time() - 5, sched["id"]))
    worker_factory()
    wait_for(lambda: [r for r in scheduled_runs(svc, sched["id"]) if r["status"] == "succeeded"], 15,
             message="scheduled run by the restarted worker")
    assert len(scheduled_runs(svc, sched["id"])) == 1


BAD = [
    (["--cron", "61 * * * *"], "invalid cron expression"),
    (["--cron", "* * *"], "invalid cron expression"),
    (["--cron", "0 7 * * *", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    (["--cron", "0 7 * * *", "--tz", "Europe"], "unknown time zone 'Europe'"),
    (["--cron", "0 7 * * *", "--set", "days_back=0"], "days_back"),
    (["--cron", "0 7 * * *", "--set", "colour=blue"], "colour: unknown parameter"),
    (["--cron", "0 7 * * *", "--missed", "sometimes"], "unknown missed-run policy"),
]


@pytest.mark.parametrize("extra,expected", BAD, ids=[e for _, e in BAD])
def test_bad_schedule_is_one_line_and_saves_nothing(env, extra, expected):
    assert run_cli(env, "brands", "add", "Acme", "--meta-ad-account", "1001").returncode == 0
    proc = run_cli(env, "schedules", "add", "meta_sync", "--brand", "Acme", *extra)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert run_cli(env, "schedules", "--json").stdout.strip() == "[]"


def test_schedule_cli_lifecycle(env):
    assert run_cli(env, "brands", "add", "Acme", "--meta-ad-account", "1001").returncode == 0
    sid = run_cli(env, "schedules", "add", "meta_sync", "--brand", "Acme", "--cron", "0 7 * * 1-5",
                  "--tz", "Europe/Berlin", "--set", "days_back=3").stdout.strip()
    import json

    [row] = json.loads(run_cli(env, "schedules", "--json").stdout)
    assert row["id"] == int(sid) and row["explain"] == "At 07:00 on Monday through Friday"
    assert row["params"] == {"days_back": 3} and row["active"] is True
    next_local = datetime.fromisoformat(row["next_run_at"].replace("Z", "+00:00"))
    from zoneinfo import ZoneInfo

    assert next_local.astimezone(ZoneInfo("Europe/Berlin")).hour == 7
    assert run_cli(env, "schedules", "pause", sid).returncode == 0
    assert json.loads(run_cli(env, "schedules", "--json").stdout)[0]["active"] is False
    assert run_cli(env, "schedules", "resume", sid).returncode == 0
    bad = run_cli(env, "schedules", "edit", sid, "--cron", "nope")
    assert bad.returncode != 0 and "invalid cron" in bad.stderr
    assert json.loads(run_cli(env, "schedules", "--json").stdout)[0]["cron"] == "0 7 * * 1-5"
    assert run_cli(env, "schedules", "edit", sid, "--cron", "30 6 * * *").returncode == 0
    assert json.loads(run_cli(env, "schedules", "--json").stdout)[0]["cron"] == "30 6 * * *"
    assert run_cli(env, "schedules", "remove", sid).returncode == 0
    assert json.loads(run_cli(env, "schedules", "--json").stdout) == []


def test_a_removed_schedules_id_is_never_reused(sim, clock):
    """Runs keep pointing at the schedule that queued them, even after it is removed."""
    first = sim.add_schedule("test_echo", "Acme", cron="*/5 * * * *")
    clock.t = T0 + 5 * MIN
    [run_id] = sim.tick(now=clock.t).queued
    sim.remove_schedule(first["id"])
    second = sim.add_schedule("test_echo", "Acme", cron="0 * * * *")
    assert second["id"] != first["id"]
    assert sim.runs.get(run_id)["schedule_id"] == first["id"]


def test_a_six_field_schedule_saved_before_the_check_is_paused_at_its_tick(sim, clock, brand):
    """cronsim reads a sixth field as seconds: a schedule stored with one (before `schedules add`
    refused them) would queue a run at every tick. Its first due tick pauses it, says why in its
    history, and queues nothing."""
    from pipedeck.storage import schedules as store

    schedule_id = store.create(sim.database, job_type="meta_sync", brand_id=brand["id"], competitor_id=None,
                               params={}, cron="* * * * * *", tz="UTC", missed_policy="skip", active=True,
                               next_run_at=T0, now=T0)
    run_clock(sim, clock, T0, T0 + 5 * MIN, step=1.0)
    assert scheduled_runs(sim, schedule_id) == []
    assert not store.get(sim.database, schedule_id)["active"]
    events = store.events(sim.database, schedule_id)
    assert [e["action"] for e in events] == ["error"]
    assert "Wrong number of fields (6)" in events[0]["reason"] and "paused" in events[0]["reason"]
